package ledger

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/testclock"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// newLedger is a ledger on a fresh store whose deliveries are only noted.
func newLedger(t *testing.T, storm lifecycle.StormConfig) (*Ledger, *store.Store, *testclock.Clock, *[]string) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := testclock.New(t0)
	var enqueued []string
	lc := lifecycle.DefaultConfig()
	lc.FailureThreshold = 1
	l, err := New(Config{Lifecycle: lc, Storm: storm, Now: c.Now}, Deps{Store: st,
		Enqueue: func(_ context.Context, _ *sql.Tx, ids []string) error {
			enqueued = append(enqueued, ids...)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return l, st, c, &enqueued
}

func failing(check, code string, domains ...string) []store.SiteResult {
	var out []store.SiteResult
	for _, d := range domains {
		out = append(out, store.SiteResult{Domain: d, Result: beian.Result{Check: check, Outcome: beian.Fail,
			Findings: []beian.Finding{{Code: code, Severity: beian.Violation, Message: "m"}}}})
	}
	return out
}

func ownerNotice(t *testing.T, st *store.Store, domain string) store.Notice {
	t.Helper()
	ns, err := st.Notices(context.Background(), store.NoticeFilter{Domain: domain})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.Kind == store.NoticeOwner {
			return n
		}
	}
	t.Fatalf("no owner notice for %s", domain)
	return store.Notice{}
}

// Settle: a new violation's notice waits out the settle time; one whose
// check is storming when it would go is held instead.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	l, st, c, _ := newLedger(t, lifecycle.StormConfig{Window: 15 * time.Minute, Share: 0.5, MinSites: 3, Settle: 2 * time.Minute})
	if _, err := l.Record(ctx, failing("footer", "footer_link_missing", "a.cn")); err != nil {
		t.Fatal(err)
	}
	n := ownerNotice(t, st, "a.cn")
	tests := []struct {
		after    time.Duration
		wait     time.Duration
		held     bool
		storming bool
	}{
		{0, 2 * time.Minute, false, false},
		{90 * time.Second, 30 * time.Second, false, false},
		{2 * time.Minute, 0, false, false},
		{3 * time.Minute, 0, true, true},
	}
	for _, tt := range tests {
		c.Set(t0.Add(tt.after))
		if tt.storming {
			if _, err := l.Record(ctx, failing("footer", "footer_link_missing", "b.cn", "c.cn", "d.cn")); err != nil {
				t.Fatal(err)
			}
		}
		wait, held, err := l.Settle(ctx, n, c.Now())
		if err != nil || wait != tt.wait || held != tt.held {
			t.Fatalf("at +%s: wait %s held %v (%v), want wait %s held %v", tt.after, wait, held, err, tt.wait, tt.held)
		}
	}
	if got := ownerNotice(t, st, "a.cn").State; got != store.NoticeHeld {
		t.Fatalf("notice is %s, want held", got)
	}
}

// MinSites counts distinct sites: one site failing in batch after batch is
// not a storm, however many runs it makes.
func TestStormCountsSitesNotRuns(t *testing.T) {
	ctx := context.Background()
	l, _, c, _ := newLedger(t, lifecycle.StormConfig{Window: 15 * time.Minute, Share: 0.5, MinSites: 3})
	for i := range 10 {
		c.Set(t0.Add(time.Duration(i) * time.Second))
		if _, err := l.Record(ctx, failing("dns", "dns_resolving_while_pending", "a.cn", "b.cn")); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Storm().Peek(c.Now(), "dns"); st.Storming || st.Failed != 20 || st.Sites != 2 {
		t.Fatalf("%+v: want 20 failing runs on 2 sites, no storm", st)
	}
	if _, err := l.Record(ctx, failing("dns", "dns_resolving_while_pending", "c.cn")); err != nil {
		t.Fatal(err)
	}
	if st := l.Storm().Peek(c.Now(), "dns"); !st.Storming || st.Sites != 3 {
		t.Fatalf("%+v: want a storm on the third site", st)
	}
}
