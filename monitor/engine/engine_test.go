package engine

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/testclock"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

type inventory map[string][]string

func (i inventory) Domains(check string) []string { return i[check] }

// fakeRunner fails the footer check with footer_link_missing on the
// domains in failing; everything else passes.
type fakeRunner struct {
	mu      sync.Mutex
	failing map[string]bool
	outcome beian.Outcome // overrides everything when set
	calls   int
	sites   int
}

func (r *fakeRunner) Run(ctx context.Context, check string, domains []string) []store.SiteResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.sites += len(domains)
	out := make([]store.SiteResult, 0, len(domains))
	for _, d := range domains {
		res := beian.Result{Check: check, Outcome: beian.Pass, Findings: []beian.Finding{}}
		switch {
		case r.outcome != "":
			res.Outcome = r.outcome
		case r.failing[d]:
			res.Outcome = beian.Fail
			res.Findings = []beian.Finding{{Code: check + "_link_missing", Severity: beian.Violation, Message: "not linked", Evidence: "京ICP备12345678号-1"}}
		}
		out = append(out, store.SiteResult{Domain: d, Result: res})
	}
	return out
}

func (r *fakeRunner) set(failing ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = map[string]bool{}
	for _, d := range failing {
		r.failing[d] = true
	}
}

type fakeNotifier struct {
	mu        sync.Mutex
	got       []store.Notice
	failFirst int   // fail this many deliveries first
	err       error // the error to fail with
}

func (n *fakeNotifier) Deliver(ctx context.Context, no store.Notice) (Delivery, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, no)
	if n.failFirst > 0 {
		n.failFirst--
		return Delivery{Channel: "webhook", StatusCode: 503, BodyExcerpt: "busy"}, n.err
	}
	return Delivery{Channel: "webhook", StatusCode: 200}, nil
}

func (n *fakeNotifier) notices() []store.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]store.Notice(nil), n.got...)
}

type harness struct {
	st       *store.Store
	path     string
	clock    *testclock.Clock
	runner   *fakeRunner
	notifier *fakeNotifier
	inv      inventory
	cfg      Config
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{
		path:     filepath.Join(t.TempDir(), "beianwatch.db"),
		clock:    testclock.New(t0),
		runner:   &fakeRunner{},
		notifier: &fakeNotifier{},
		inv:      inventory{},
	}
	h.cfg = Config{
		Lifecycle: lifecycle.DefaultConfig(),
		// The default storm guard without its settle time: these tests
		// want notices sent at once (storm_settle_test.go tests it).
		Storm:             lifecycle.StormConfig{Window: 30 * time.Minute, Share: 0.5, MinSites: 20},
		Schedules:         map[string]string{"footer": "@every 6h"},
		FetchPollInterval: 100 * time.Millisecond,
		NotifyBackoff:     func(int) time.Duration { return 10 * time.Millisecond },
		Now:               h.clock.Now,
	}
	h.reopen(t)
	return h
}

func (h *harness) reopen(t testing.TB) {
	t.Helper()
	if h.st != nil {
		h.st.Close()
	}
	st, err := store.Open(context.Background(), h.path)
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	t.Cleanup(func() { st.Close() })
}

func (h *harness) engine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(h.cfg, Deps{Store: h.st, Runner: h.runner, Notifier: h.notifier, Inventory: h.inv})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (h *harness) count(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.st.DB().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestNewRejectsBadConfig(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Schedules = map[string]string{"footer": "whenever", "weather": "@daily"}
	cfg.Lifecycle.FailureThreshold = 0
	_, err := New(cfg, Deps{Store: h.st})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"whenever", `"weather"`, "failure_threshold", "no check runner", "no notifier", "no inventory"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

// TestRecordEnqueuesOneNotifyJob: the violation opens on the second
// failing run and exactly one notify job, for that site's one notice,
// appears in the job table in the same transaction.
func TestRecordEnqueuesOneNotifyJob(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	e := h.engine(t)
	results := []store.SiteResult{
		{Domain: "a.cn", Result: beian.Result{Check: "footer", Outcome: beian.Fail, Findings: []beian.Finding{
			{Code: "footer_link_missing", Severity: beian.Violation}, {Code: "footer_psb_missing", Severity: beian.Violation}}}},
		{Domain: "b.cn", Result: beian.Result{Check: "footer", Outcome: beian.Pass}},
	}
	if _, err := e.Record(ctx, results); err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify'`); n != 0 {
		t.Fatalf("%d notify jobs after one failing run, want 0", n)
	}
	h.clock.Set(t0.Add(6 * time.Hour))
	rec, err := e.Record(ctx, results)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify'`); n != 1 {
		t.Fatalf("%d notify jobs, want exactly 1", n)
	}
	var args string
	if err := h.st.DB().QueryRow(`SELECT json(args) FROM river_job WHERE kind = 'notify'`).Scan(&args); err != nil {
		t.Fatal(err)
	}
	var na NotifyArgs
	if err := json.Unmarshal([]byte(args), &na); err != nil || na.NoticeID != rec.QueuedIDs()[0] {
		t.Fatalf("notify job args %s, want notice %v", args, rec.QueuedIDs())
	}
	var queue string
	h.st.DB().QueryRow(`SELECT queue FROM river_job WHERE kind = 'notify'`).Scan(&queue)
	if queue != QueueNotices {
		t.Errorf("notify job on queue %q", queue)
	}
}

// TestDispatchAcrossRestarts dispatches minute by minute over a whole
// interval, reopening the database and rebuilding the engine in the
// middle: every site is enqueued exactly once, in batches.
func TestDispatchAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.cfg.BatchSize = 50
	sites := domains(3000)
	h.inv["footer"] = sites
	e := h.engine(t)

	start, end := mustSchedule(t, "@every 6h").IntervalAt(t0)
	reps, err := e.Dispatch(ctx, start)
	if err != nil || len(reps) != 1 || !reps[0].First || reps[0].Jobs != 0 {
		t.Fatalf("first dispatch %+v %v: want nothing enqueued", reps, err)
	}
	// Dispatching the same instant again (a duplicate periodic job)
	// enqueues nothing.
	if reps, _ := e.Dispatch(ctx, start); reps[0].Jobs != 0 {
		t.Fatalf("repeat dispatch enqueued %d jobs", reps[0].Jobs)
	}
	for now := start.Add(time.Minute); !now.After(end); now = now.Add(time.Minute) {
		if now.Sub(start) == 3*time.Hour {
			h.reopen(t)
			e = h.engine(t)
		}
		if _, err := e.Dispatch(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	// The clock going back must not re-dispatch.
	if reps, _ := e.Dispatch(ctx, start.Add(time.Hour)); reps[0].Jobs != 0 {
		t.Fatalf("dispatch with an earlier clock enqueued %d jobs", reps[0].Jobs)
	}

	rows, err := h.st.DB().Query(`SELECT json(args), queue FROM river_job WHERE kind = 'check_batch'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]int{}
	jobs := 0
	for rows.Next() {
		var args, queue string
		if err := rows.Scan(&args, &queue); err != nil {
			t.Fatal(err)
		}
		var a CheckBatchArgs
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			t.Fatal(err)
		}
		if queue != QueueChecks || a.Check != "footer" || a.Trigger != TriggerSchedule || len(a.Domains) == 0 || len(a.Domains) > 50 {
			t.Fatalf("bad job: queue %s args %+v", queue, a)
		}
		for _, d := range a.Domains {
			seen[d]++
		}
		jobs++
	}
	if len(seen) != len(sites) {
		t.Fatalf("%d of %d sites dispatched in one interval", len(seen), len(sites))
	}
	for d, n := range seen {
		if n != 1 {
			t.Fatalf("%s dispatched %d times", d, n)
		}
	}
	// ~8 sites a minute in batches of up to 50: one job per minute, not 60 per hour of waves.
	if jobs < 300 || jobs > 361 {
		t.Errorf("%d jobs for 3000 sites over 360 minutes", jobs)
	}
}

func mustSchedule(t testing.TB, spec string) Schedule {
	t.Helper()
	s, err := ParseSchedule(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestEndToEnd runs a real River client: check batches go through the
// fake runner, the second failing run opens the violation, the notify job
// delivers the notice (after one transient failure), and fixing the site
// resolves it with a second notice.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.cfg.BatchSize = 2
	h.notifier.failFirst = 1
	h.notifier.err = errors.New("503 from receiver")
	sites := []string{"a.cn", "b.cn", "c.cn", "d.cn", "e.cn"}
	h.inv["footer"] = sites
	h.runner.set("b.cn", "d.cn")
	e := h.engine(t)
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(stopCtx)
	})

	checked := func(n int) func() bool {
		return func() bool { return h.count(t, `SELECT COUNT(*) FROM runs`) >= n }
	}
	if n, err := e.Trigger(ctx, "footer", sites); err != nil || n != 3 {
		t.Fatalf("trigger: %d jobs, %v; want 3 batches", n, err)
	}
	waitFor(t, "first round of checks", checked(5))
	if h.count(t, `SELECT COUNT(*) FROM violations WHERE status = 'pending'`) != 2 {
		t.Fatal("want two pending violations after one failing round")
	}

	h.clock.Set(t0.Add(6 * time.Hour))
	if _, err := e.Trigger(ctx, "footer", sites); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second round of checks", checked(10))
	waitFor(t, "two delivered notices", func() bool {
		return h.count(t, `SELECT COUNT(*) FROM notices WHERE state = 'delivered'`) == 2
	})
	open, err := h.st.Violations(ctx, store.ViolationFilter{Statuses: []lifecycle.Status{lifecycle.StatusOpen}})
	if err != nil || len(open) != 2 || open[0].Domain != "b.cn" || open[1].Domain != "d.cn" {
		t.Fatalf("open violations %+v %v", open, err)
	}
	// One transient failure: three attempts in all, two of them 200.
	if n := h.count(t, `SELECT COUNT(*) FROM notice_attempts`); n != 3 {
		t.Errorf("%d attempts recorded, want 3", n)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM notice_attempts WHERE status_code = 503 AND error LIKE '%503 from receiver%'`); n != 1 {
		t.Errorf("failed attempt not recorded with its error")
	}
	// Completed check jobs: JobCompleteTx committed with the results.
	waitFor(t, "check jobs completed", func() bool {
		return h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'check_batch' AND state = 'completed'`) == 6
	})

	// Fixed: two passing rounds resolve both, one notice per site.
	h.runner.set()
	for round, at := range []time.Duration{12 * time.Hour, 18 * time.Hour} {
		h.clock.Set(t0.Add(at))
		if _, err := e.Trigger(ctx, "footer", sites); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "passing round", checked(15+5*round))
	}
	waitFor(t, "resolution notices delivered", func() bool {
		return h.count(t, `SELECT COUNT(*) FROM notices WHERE state = 'delivered'`) == 4
	})
	var kinds []string
	for _, n := range h.notifier.notices() {
		for _, tr := range n.Payload.Transitions {
			kinds = append(kinds, string(tr.Kind)+":"+tr.Domain)
		}
	}
	sort.Strings(kinds)
	want := []string{"opened:b.cn", "opened:b.cn", "opened:d.cn", "resolved:b.cn", "resolved:d.cn"} // b.cn's first try failed
	if len(kinds) != len(want) {
		t.Fatalf("notifier saw %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] && !(kinds[i] == "opened:d.cn" && want[i] == "opened:b.cn") {
			t.Fatalf("notifier saw %v, want %v (modulo which site's first try failed)", kinds, want)
		}
	}
}

func TestNotifyPermanentErrorGoesDeadAtOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.cfg.Lifecycle.FailureThreshold = 1
	h.notifier.failFirst = 100
	h.notifier.err = Permanent(errors.New("404: no such hook"))
	h.inv["footer"] = []string{"a.cn"}
	h.runner.set("a.cn")
	e := h.engine(t)
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Stop(stopCtx)
	})
	if _, err := e.Trigger(ctx, "footer", []string{"a.cn"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "dead notice", func() bool { return h.count(t, `SELECT COUNT(*) FROM notices WHERE state = 'dead'`) == 1 })
	waitFor(t, "cancelled job", func() bool {
		return h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify' AND state = 'cancelled'`) == 1
	})
	if got := len(h.notifier.notices()); got != 1 {
		t.Errorf("permanent failure retried: %d deliveries", got)
	}
}

// TestStormHoldsOwnerNotices: when most sites fail one check at once the
// owner notices are held and ops hears about the storm, once.
func TestStormHoldsOwnerNotices(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.cfg.Lifecycle.FailureThreshold = 1
	h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10}
	e := h.engine(t)
	var results []store.SiteResult
	for _, d := range domains(40) {
		results = append(results, store.SiteResult{Domain: d, Result: beian.Result{Check: "shell", Outcome: beian.Fail,
			Findings: []beian.Finding{{Code: "shell_unresolvable", Severity: beian.Violation}}}})
	}
	for i := 0; i < 40; i += 20 {
		if _, err := e.Record(ctx, results[i:i+20]); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.count(t, `SELECT COUNT(*) FROM notices WHERE kind = 'owner' AND state = 'held'`); n != 40 {
		t.Errorf("%d owner notices held, want 40", n)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM notices WHERE kind = 'ops' AND state = 'queued' AND payload LIKE '%"storm"%'`); n != 1 {
		t.Errorf("%d storm alarms for ops, want exactly 1", n)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify'`); n != 1 {
		t.Errorf("%d notify jobs, want only the storm alarm's", n)
	}
	released, err := e.ReleaseHeld(ctx, "")
	if err != nil || released != 40 {
		t.Fatalf("released %d, %v", released, err)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify'`); n != 41 {
		t.Errorf("%d notify jobs after release, want 41", n)
	}
}

// TestTickEscalatesOnce drives the periodic tick through an engine: a
// reminder after RemindEvery, an escalation with an ops notice at the
// deadline, nothing more afterwards.
func TestTickEscalatesOnce(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.cfg.Lifecycle.FailureThreshold = 1
	e := h.engine(t)
	fail := []store.SiteResult{{Domain: "a.cn", Result: beian.Result{Check: "dns", Outcome: beian.Fail,
		Findings: []beian.Finding{{Code: "dns_resolving_while_pending", Severity: beian.Violation}}}}}
	if _, err := e.Record(ctx, fail); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at   time.Duration
		want int
	}{{71 * time.Hour, 0}, {72 * time.Hour, 1}, {100 * time.Hour, 0}, {240 * time.Hour, 1}, {1000 * time.Hour, 0}} {
		n, err := e.Tick(ctx, t0.Add(step.at))
		if err != nil || n != step.want {
			t.Fatalf("tick at +%s: %d transitions (%v), want %d", step.at, n, err, step.want)
		}
	}
	if n := h.count(t, `SELECT COUNT(*) FROM notices WHERE kind = 'ops'`); n != 1 {
		t.Errorf("%d ops notices, want 1 (the escalation)", n)
	}
	// Nothing was delivered here (the engine is not started), so the
	// owner's unsent opening notice absorbed the reminder and the
	// escalation (an owner first hears "opened"); ops hears the escalation.
	if n := h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify'`); n != 2 {
		t.Errorf("%d notify jobs, want 2 (the owner's unsent notice, the ops escalation)", n)
	}
	if n := h.count(t, `SELECT COUNT(*) FROM notices WHERE kind = 'owner' AND payload LIKE '%"kind":"opened"%' AND payload NOT LIKE '%"kind":"escalated"%'`); n != 1 {
		t.Errorf("%d owner notices saying opened, want 1", n)
	}
}

// TestRescueOrphans: a notice whose notify job River discarded (or
// lost) gets a new job; one with a live job is left alone.
func TestRescueOrphans(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	h.cfg.Lifecycle.FailureThreshold = 1
	e := h.engine(t)
	fail := func(d string) store.SiteResult {
		return store.SiteResult{Domain: d, Result: beian.Result{Check: "dns", Outcome: beian.Fail,
			Findings: []beian.Finding{{Code: "dns_resolving_while_pending", Severity: beian.Violation}}}}
	}
	if _, err := e.Record(ctx, []store.SiteResult{fail("a.cn"), fail("b.cn")}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.RescueOrphans(ctx); err != nil || n != 0 {
		t.Fatalf("rescued %d (%v) while every notice has its job", n, err)
	}
	// River gives up on a.cn's job.
	if _, err := h.st.DB().Exec(`UPDATE river_job SET state = 'discarded', finalized_at = datetime('now')
		WHERE kind = 'notify' AND json_extract(args, '$.notice_id') = (SELECT id FROM notices WHERE domain = 'a.cn')`); err != nil {
		t.Fatal(err)
	}
	if n, err := e.RescueOrphans(ctx); err != nil || n != 1 {
		t.Fatalf("rescued %d (%v), want a.cn's notice", n, err)
	}
	if c := h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify' AND state = 'available'`); c != 2 {
		t.Errorf("%d live notify jobs, want 2", c)
	}
	if n, _ := e.RescueOrphans(ctx); n != 0 {
		t.Errorf("rescued %d again", n)
	}
}
