package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/store"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// enqueued counts, per domain, the check_batch jobs enqueued so far, and
// forgets them (so the next call counts what came after).
func enqueued(t *testing.T, h *harness) map[string]int {
	t.Helper()
	rows, err := h.st.DB().Query(`SELECT json(args) FROM river_job WHERE kind = 'check_batch'`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for rows.Next() {
		var args string
		if err := rows.Scan(&args); err != nil {
			t.Fatal(err)
		}
		var a CheckBatchArgs
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			t.Fatal(err)
		}
		for _, d := range a.Domains {
			seen[d]++
		}
	}
	rows.Close()
	if _, err := h.st.DB().Exec(`DELETE FROM river_job WHERE kind = 'check_batch'`); err != nil {
		t.Fatal(err)
	}
	return seen
}

// TestFirstRunsWithinWindow: on a database that has checked some sites
// and never the others, the never-checked ones all get their first run
// within first_run_within of the first dispatch, spread over it, once;
// those checked before keep their usual place in the six-hour interval.
// A site added later gets its first run within the window after it
// appears, and a restarted engine does not bring checked sites forward.
func TestFirstRunsWithinWindow(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	const within = 5 * time.Minute
	h.cfg.FirstRunWithin = within
	h.cfg.BatchSize = 50
	var logs lockedBuffer
	h.cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	sites := domains(2000)
	old, fresh := sites[:1000], sites[1000:]
	h.inv["footer"] = sites
	e := h.engine(t)

	// The old sites were checked before (by an earlier daemon).
	var results []store.SiteResult
	for _, d := range old {
		results = append(results, store.SiteResult{Domain: d, Result: checks.Result{Check: "footer", Outcome: checks.Pass}})
	}
	if _, err := e.Record(ctx, results); err != nil {
		t.Fatal(err)
	}

	start := t0.Add(17 * time.Minute) // not at an interval boundary
	reps, err := e.Dispatch(ctx, start)
	if err != nil || !reps[0].First || reps[0].New != len(fresh) {
		t.Fatalf("first dispatch %+v %v: want %d new sites seen", reps, err, len(fresh))
	}
	const step = 15 * time.Second
	perPass := map[time.Time]int{}
	got := map[string]int{}
	for now := start.Add(step); !now.After(start.Add(within)); now = now.Add(step) {
		if _, err := e.Dispatch(ctx, now); err != nil {
			t.Fatal(err)
		}
		for d, n := range enqueued(t, h) {
			got[d] += n
			perPass[now] += n
		}
	}
	for _, d := range fresh {
		if got[d] != 1 {
			t.Fatalf("never-checked %s enqueued %d times within %v, want once", d, got[d], within)
		}
	}
	oldEarly := 0
	for _, d := range old {
		oldEarly += got[d]
	}
	// Old sites come at their usual offsets: about 5/360 of them.
	if oldEarly > 40 {
		t.Errorf("%d of %d already-checked sites brought forward", oldEarly, len(old))
	}
	// Spread: 1000 first runs over 20 passes is 50 a pass; none takes
	// a large share.
	for at, n := range perPass {
		if n > 120 {
			t.Errorf("dispatch at %v enqueued %d sites: not spread", at.Sub(start), n)
		}
	}
	if n := strings.Count(logs.String(), "new sites never checked"); n != 1 {
		t.Errorf("%d log lines about new sites, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "footer=1000") || !strings.Contains(logs.String(), "within=5m0s") {
		t.Errorf("the log line does not say how many and within what:\n%s", logs.String())
	}

	// After the window, no first runs: the rest of the interval only
	// holds usual offsets, once per site at most.
	now := start.Add(within)
	for ; now.Before(start.Add(time.Hour)); now = now.Add(time.Minute) {
		if _, err := e.Dispatch(ctx, now); err != nil {
			t.Fatal(err)
		}
		if reps, _ := e.Dispatch(ctx, now); reps[0].FirstRuns != 0 {
			t.Fatalf("first runs after the window: %+v", reps[0])
		}
	}
	enqueued(t, h)

	// A site added to the inventory: its first run within the window,
	// announced by one new line.
	h.inv["footer"] = append(sites, "added.example.cn")
	addedAt := now
	var addedRun time.Time
	for ; now.Before(addedAt.Add(within + time.Minute)); now = now.Add(step) {
		if _, err := e.Dispatch(ctx, now); err != nil {
			t.Fatal(err)
		}
		if enqueued(t, h)["added.example.cn"] > 0 && addedRun.IsZero() {
			addedRun = now
		}
	}
	if addedRun.IsZero() || addedRun.Sub(addedAt) > within {
		t.Errorf("added site first run at +%v, want within %v", addedRun.Sub(addedAt), within)
	}
	if n := strings.Count(logs.String(), "new sites never checked"); n != 2 {
		t.Errorf("%d log lines about new sites, want 2 (one per wave)", n)
	}

	// A restarted engine (same database) knows the checked sites: only
	// those never checked are brought forward. Record results for the
	// fresh sites, as their jobs would have.
	results = results[:0]
	for _, d := range fresh {
		results = append(results, store.SiteResult{Domain: d, Result: checks.Result{Check: "footer", Outcome: checks.Pass}})
	}
	if _, err := e.Record(ctx, results); err != nil {
		t.Fatal(err)
	}
	e2 := h.engine(t)
	reps, err = e2.Dispatch(ctx, now.Add(step))
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].New != 1 { // added.example.cn has no result yet
		t.Errorf("restarted engine sees %d new sites, want 1", reps[0].New)
	}
}

// TestFirstRunsNotSoonerThanInterval: when a check's interval is shorter
// than first_run_within, the usual schedule already comes sooner; nothing
// is added to it.
func TestFirstRunsNotSoonerThanInterval(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.cfg.FirstRunWithin = 5 * time.Minute
	h.cfg.Schedules = map[string]string{"footer": "@every 2m"}
	h.inv["footer"] = domains(500)
	e := h.engine(t)
	if _, err := e.Dispatch(ctx, t0); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for now := t0.Add(10 * time.Second); !now.After(t0.Add(2 * time.Minute)); now = now.Add(10 * time.Second) {
		reps, err := e.Dispatch(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if reps[0].FirstRuns != 0 {
			t.Fatalf("first runs added to a 2m schedule: %+v", reps[0])
		}
		for d, n := range enqueued(t, h) {
			got[d] += n
		}
	}
	for _, d := range h.inv["footer"] {
		if got[d] != 1 {
			t.Fatalf("%s enqueued %d times in one 2m interval", d, got[d])
		}
	}
}

// TestFirstRunsOff: with FirstRunWithin 0 the dispatcher behaves as
// before: nothing is brought forward.
func TestFirstRunsOff(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.inv["footer"] = domains(1000)
	e := h.engine(t)
	e.Dispatch(ctx, t0)
	for now := t0.Add(time.Minute); !now.After(t0.Add(5 * time.Minute)); now = now.Add(time.Minute) {
		reps, err := e.Dispatch(ctx, now)
		if err != nil || reps[0].FirstRuns != 0 || reps[0].New != 0 {
			t.Fatalf("%+v %v", reps, err)
		}
	}
	if n := len(enqueued(t, h)); n > 40 {
		t.Errorf("%d of 1000 sites in the first 5 minutes with first runs off", n)
	}
}
