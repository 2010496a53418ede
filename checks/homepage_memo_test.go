package checks

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/egress"
)

func TestHomepageMemoSharesOneFetchPerSite(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(20 * time.Millisecond) // long enough for callers to overlap
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html><body>"+r.URL.Path+"</body></html>")
	}))
	defer srv.Close()
	f := NewFetcher(FetcherConfig{Policy: egress.Policy{AllowPrivate: true}})

	tests := []struct {
		name     string
		memo     bool
		urls     []string
		parallel bool
		want     int32
	}{
		{"no memo: every call fetches", false, []string{"/a", "/a"}, false, 2},
		{"memo: one fetch for the same page", true, []string{"/a", "/a", "/a"}, false, 1},
		{"memo: concurrent callers wait for the first", true, []string{"/a", "/a", "/a", "/a", "/a"}, true, 1},
		{"memo: other pages are fetched", true, []string{"/a", "/b", "/a"}, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			ctx := context.Background()
			if tt.memo {
				ctx = WithHomepageMemo(ctx)
			}
			bodies := make([]string, len(tt.urls))
			var wg sync.WaitGroup
			for i, u := range tt.urls {
				get := func() {
					p, err := f.Homepage(ctx, "example.cn", srv.URL+u)
					if err != nil {
						t.Error(err)
						return
					}
					bodies[i] = string(p.Body)
				}
				if tt.parallel {
					wg.Go(get)
				} else {
					get()
				}
			}
			wg.Wait()
			if got := hits.Load(); got != tt.want {
				t.Errorf("%d fetches, want %d", got, tt.want)
			}
			for i, u := range tt.urls {
				if want := "<html><body>" + u + "</body></html>"; bodies[i] != want {
					t.Errorf("call %d got %q, want the page of %s", i, bodies[i], u)
				}
			}
		})
	}
}

func TestHomepageMemoSharesErrorsToo(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	f := NewFetcher(FetcherConfig{Policy: egress.Policy{AllowPrivate: true}})
	ctx := WithHomepageMemo(context.Background())
	for range 2 {
		if _, err := f.Homepage(ctx, "example.cn", srv.URL); err == nil {
			t.Fatal("a 503 homepage gave no error")
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d fetches of a failing page, want 1", n)
	}
}

// TestLookupMemoAsksOncePerSite: under a site's memo the shell check's
// lookup of the domain also serves the fetch's dial; without one, every
// lookup asks again.
func TestLookupMemoAsksOncePerSite(t *testing.T) {
	srv := startFakeDNS(t, recursiveZone, false, nil)
	r := quickResolver(t, ResolverConfig{Servers: []string{srv.addr}})
	ctx := WithHomepageMemo(context.Background())
	first, err := r.LookupAddrs(ctx, "a.example.test")
	if err != nil || first.Kind != KindRecords {
		t.Fatalf("lookup: %+v %v", first, err)
	}
	asked := srv.queries.Load()
	if _, err := r.LookupNetIP(ctx, "ip", "a.example.test"); err != nil {
		t.Fatal(err)
	}
	if again, _ := r.LookupAddrs(ctx, "A.Example.Test."); len(again.Addrs) != 1 {
		t.Fatalf("memoised lookup: %+v", again)
	}
	if n := srv.queries.Load(); n != asked {
		t.Errorf("%d more queries under the memo, want none", n-asked)
	}
	if _, err := r.LookupAddrs(context.Background(), "a.example.test"); err != nil {
		t.Fatal(err)
	}
	if n := srv.queries.Load(); n == asked {
		t.Error("a lookup without a memo was served from one")
	}
}

// shareCall runs a call once for concurrent callers; a call that panics
// leaves the waiters its "unfinished" value, never a zero that would read
// as an answer.
func TestShareCall(t *testing.T) {
	var mu sync.Mutex
	entries := map[string]*memoEntry[string]{}
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	got := make([]string, 5)
	for i := range got {
		wg.Go(func() {
			got[i] = shareCall(&mu, entries, "k", "unfinished", func() string {
				calls.Add(1)
				<-release
				return "answer"
			})
		})
	}
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	if calls.Load() != 1 || slices.ContainsFunc(got, func(s string) bool { return s != "answer" }) {
		t.Fatalf("%d calls, results %v", calls.Load(), got)
	}

	started := make(chan struct{})
	waiter := make(chan string)
	go func() {
		defer func() { recover() }()
		shareCall(&mu, entries, "p", "unfinished", func() string { close(started); time.Sleep(20 * time.Millisecond); panic("boom") })
	}()
	<-started
	go func() { waiter <- shareCall(&mu, entries, "p", "unfinished", func() string { return "second call" }) }()
	if v := <-waiter; v != "unfinished" {
		t.Fatalf("a waiter on a panicked call got %q", v)
	}
}
