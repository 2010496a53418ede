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
	fetches map[[2]string]*memoEntry[fetched]
	addrs   map[addrsKey]*memoEntry[AddrResult]
}

type addrsKey struct {
	r    *Resolver
	name string
}

type fetched struct {
	page *Page
	err  error
}

// memoEntry is one shared call: done closes when v is final.
type memoEntry[V any] struct {
	done chan struct{}
	v    V
}

// shareCall runs f once per key of entries, under mu; concurrent callers
// wait for the first one's result. Should f panic, waiters get unfinished
// rather than a zero value that would read as an answer.
func shareCall[K comparable, V any](mu *sync.Mutex, entries map[K]*memoEntry[V], key K, unfinished V, f func() V) V {
	mu.Lock()
	e, ok := entries[key]
	if !ok {
		e = &memoEntry[V]{done: make(chan struct{}), v: unfinished}
		entries[key] = e
	}
	mu.Unlock()
	if ok {
		<-e.done // the first caller's call ends at its deadline
		return e.v
	}
	defer close(e.done)
	e.v = f()
	return e.v
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
		fetches: map[[2]string]*memoEntry[fetched]{}, addrs: map[addrsKey]*memoEntry[AddrResult]{},
	})
}

// memoizedAddrs runs lookup once per resolver and name under a memo in
// ctx, or directly when there is none.
func memoizedAddrs(ctx context.Context, r *Resolver, name string, lookup func() AddrResult) AddrResult {
	m, _ := ctx.Value(homepageMemoKey{}).(*homepageMemo)
	if m == nil {
		return lookup()
	}
	unfinished := AddrResult{Name: name, Kind: KindUnknown, Err: errors.New("the shared address lookup did not finish")}
	return shareCall(&m.mu, m.addrs, addrsKey{r, name}, unfinished, lookup)
}

// memoized runs fetch once per key under a memo in ctx, or directly when
// there is none. The returned Page is shared: callers only read it.
func memoized(ctx context.Context, domain, override string, fetch func() (*Page, error)) (*Page, error) {
	m, _ := ctx.Value(homepageMemoKey{}).(*homepageMemo)
	if m == nil {
		return fetch()
	}
	unfinished := fetched{err: &FetchError{Reason: ReasonOther, URL: domain, Err: errors.New("the shared homepage fetch did not finish")}}
	f := shareCall(&m.mu, m.fetches, [2]string{domain, override}, unfinished, func() fetched {
		p, err := fetch()
		return fetched{p, err}
	})
	return f.page, f.err
}
