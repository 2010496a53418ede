package checks

import (
	"context"
	"errors"
	"sync"
)

// homepageMemo shares homepage fetches, and the address lookups behind
// them, between the checks of one site.
type homepageMemo struct {
	mu      sync.Mutex
	fetches map[[2]string]*memoFetch
	addrs   map[addrsKey]*memoAddrs
}

type addrsKey struct {
	r    *Resolver
	name string
}

type memoAddrs struct {
	done chan struct{}
	res  AddrResult
}

type memoFetch struct {
	done chan struct{}
	page *Page
	err  error
}

type homepageMemoKey struct{}

// WithHomepageMemo returns a context under which Fetcher.Homepage fetches
// each homepage once: later calls for the same domain and override, even
// concurrent ones, get the first call's page and error. The footer and
// shell checks of one site then cost one fetch instead of two, and judge
// the same answer. Resolver.LookupAddrs likewise asks once per name, so
// the shell check's lookup of the domain also serves the fetch's dial.
// Give each site (each pass) its own memo: a memo never forgets, so one
// shared across passes would serve stale pages and addresses.
func WithHomepageMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, homepageMemoKey{}, &homepageMemo{
		fetches: map[[2]string]*memoFetch{}, addrs: map[addrsKey]*memoAddrs{},
	})
}

// memoizedAddrs runs lookup once per resolver and name under a memo in
// ctx, or directly when there is none.
func memoizedAddrs(ctx context.Context, r *Resolver, name string, lookup func() AddrResult) AddrResult {
	m, _ := ctx.Value(homepageMemoKey{}).(*homepageMemo)
	if m == nil {
		return lookup()
	}
	key := addrsKey{r, name}
	m.mu.Lock()
	a, ok := m.addrs[key]
	if !ok {
		a = &memoAddrs{done: make(chan struct{})}
		m.addrs[key] = a
	}
	m.mu.Unlock()
	if ok {
		<-a.done
		return a.res
	}
	// Should lookup panic, waiters learn nothing rather than a zero result.
	a.res = AddrResult{Name: name, Kind: KindUnknown, Err: errors.New("the shared address lookup did not finish")}
	defer close(a.done)
	a.res = lookup()
	return a.res
}

// memoized runs fetch once per key under a memo in ctx, or directly when
// there is none. The returned Page is shared: callers only read it.
func memoized(ctx context.Context, domain, override string, fetch func() (*Page, error)) (*Page, error) {
	m, _ := ctx.Value(homepageMemoKey{}).(*homepageMemo)
	if m == nil {
		return fetch()
	}
	key := [2]string{domain, override}
	m.mu.Lock()
	f, ok := m.fetches[key]
	if !ok {
		f = &memoFetch{done: make(chan struct{})}
		m.fetches[key] = f
	}
	m.mu.Unlock()
	if ok {
		<-f.done // the first caller's fetch ends at its deadline
		return f.page, f.err
	}
	defer func() {
		if f.page == nil && f.err == nil { // fetch panicked: waiters must not get (nil, nil)
			f.err = &FetchError{Reason: ReasonOther, URL: domain, Err: errors.New("the shared homepage fetch did not finish")}
		}
		close(f.done)
	}()
	f.page, f.err = fetch()
	return f.page, f.err
}
