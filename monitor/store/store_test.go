package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "dir", "beianwatch.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func count(t testing.TB, s *Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestOpenMigratesOnceAndReopens(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)
	v, verr := s.SchemaVersion(ctx)
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if verr != nil || v != ms[len(ms)-1].version {
		t.Fatalf("schema version %d, %v; want %d", v, verr, ms[len(ms)-1].version)
	}
	for _, table := range []string{"results", "runs", "violations", "transitions", "notices", "notice_attempts",
		"dispatch_state", "phone_cache", "storm_counts", "storm_state", "store_health", "exemptions", "audit_log", "screenshots", "river_job", "river_migration"} {
		if n := count(t, s, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, table); n != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	var mode string
	if err := s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", mode, err)
	}
	var fk int
	if err := s.DB().QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys %d, %v; want 1", fk, err)
	}
	riverVersions := count(t, s, `SELECT COUNT(*) FROM river_migration`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		s2, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if n := count(t, s2, `SELECT COUNT(*) FROM schema_migrations`); n != len(ms) {
			t.Errorf("schema_migrations has %d rows after reopening, want %d", n, len(ms))
		}
		if n := count(t, s2, `SELECT COUNT(*) FROM river_migration`); n != riverVersions {
			t.Errorf("river migrations %d after reopening, want %d", n, riverVersions)
		}
		s2.Close()
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)
	if _, err := s.DB().Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("want refusal of a newer schema, got %v", err)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
		if s, err := Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) accepted", p)
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(migrationFS)
	if err != nil || len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("embedded migrations: %v %v", ms, err)
	}
	for name, files := range map[string][]string{
		"duplicate": {"0001_a.sql", "0001_b.sql"},
		"bad name":  {"0001_a.sql", "2_b.sql"},
		"zero":      {"0000_a.sql"},
	} {
		fsys := fstest.MapFS{}
		for _, f := range files {
			fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
		}
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: accepted %v", name, files)
		}
	}
	ok := fstest.MapFS{
		"migrations/0002_b.sql": &fstest.MapFile{Data: []byte("B")},
		"migrations/0001_a.sql": &fstest.MapFile{Data: []byte("A")},
	}
	ms, err = loadMigrations(ok)
	if err != nil || len(ms) != 2 || ms[0].sql != "A" || ms[1].name != "b" {
		t.Errorf("ordered load: %+v %v", ms, err)
	}
}

func fail(domain, check string, codes ...string) SiteResult {
	r := SiteResult{Domain: domain, Result: beian.Result{Check: check, Outcome: beian.Fail}}
	for _, c := range codes {
		r.Result.Findings = append(r.Result.Findings, beian.Finding{Code: c, Severity: beian.Violation, Message: c, Evidence: "ev:" + c})
	}
	return r
}

func pass(domain, check string) SiteResult {
	return SiteResult{Domain: domain, Result: beian.Result{Check: check, Outcome: beian.Pass, Findings: []beian.Finding{}}}
}

func record(t testing.TB, s *Store, now time.Time, results ...SiteResult) Recorded {
	t.Helper()
	var rec Recorded
	err := s.InTx(context.Background(), func(tx *sql.Tx) error {
		var err error
		rec, err = s.RecordResults(context.Background(), tx, Batch{Now: now, Lifecycle: lifecycle.DefaultConfig(), Results: results})
		return err
	})
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	return rec
}

func TestRecordResultsLifecycleAndNotices(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)

	rec := record(t, s, t0, fail("a.cn", "footer", "footer_link_missing", "footer_psb_missing"), pass("b.cn", "footer"))
	if len(rec.Transitions) != 0 || len(rec.Notices) != 0 {
		t.Fatalf("first failing run: %+v, want nothing opened", rec)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM violations WHERE status = 'pending'`); n != 2 {
		t.Fatalf("pending violations %d, want 2", n)
	}

	rec = record(t, s, t0.Add(6*time.Hour), fail("a.cn", "footer", "footer_link_missing", "footer_psb_missing"), pass("b.cn", "footer"))
	if len(rec.Transitions) != 2 {
		t.Fatalf("second failing run: %d transitions, want 2", len(rec.Transitions))
	}
	if ids := rec.QueuedIDs(); len(ids) != 1 {
		t.Fatalf("want ONE notice for the site holding both violations, got %v", ids)
	}
	n, err := s.Notice(ctx, rec.QueuedIDs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if n.Domain != "a.cn" || n.Kind != NoticeOwner || n.State != NoticeQueued || len(n.Payload.Transitions) != 2 {
		t.Fatalf("notice %+v", n)
	}
	if n.Payload.Transitions[0].Deadline.IsZero() || n.Payload.Transitions[0].Evidence == "" {
		t.Errorf("notice payload lacks deadline or evidence: %+v", n.Payload.Transitions[0])
	}
	if c := count(t, s, `SELECT COUNT(*) FROM transitions WHERE notice_id = ?`, n.ID); c != 2 {
		t.Errorf("%d transitions point at the notice, want 2", c)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM runs`); c != 4 {
		t.Errorf("history has %d runs, want 4", c)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM results`); c != 2 {
		t.Errorf("latest results has %d rows, want 2", c)
	}

	// An inconclusive run changes nothing; then the site is fixed.
	inc := SiteResult{Domain: "a.cn", Result: beian.Result{Check: "footer", Outcome: beian.Inconclusive, Reason: "needs_rendering"}}
	if rec := record(t, s, t0.Add(12*time.Hour), inc); len(rec.Transitions) != 0 {
		t.Fatalf("inconclusive run made transitions: %+v", rec.Transitions)
	}
	latest, err := s.LatestResults(ctx, "a.cn")
	if err != nil || len(latest) != 1 || latest[0].Result.Outcome != beian.Inconclusive || latest[0].Result.Reason != "needs_rendering" {
		t.Fatalf("latest result %+v, %v", latest, err)
	}

	// Restart: state survives a close and reopen.
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	open, err := s.Violations(ctx, ViolationFilter{Statuses: []lifecycle.Status{lifecycle.StatusOpen}})
	if err != nil || len(open) != 2 {
		t.Fatalf("after restart: %d open violations (%v), want 2", len(open), err)
	}
	if !open[0].OpenedAt.Equal(t0.Add(6*time.Hour)) || !open[0].Deadline.Equal(t0.Add(6*time.Hour+240*time.Hour)) {
		t.Errorf("times not kept across restart: %+v", open[0])
	}

	// The opening notice goes out before the fix.
	if _, err := s.BeginAttempt(ctx, n.ID, t0.Add(7*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishAttempt(ctx, Attempt{NoticeID: n.ID, At: t0.Add(7 * time.Hour), Channel: "webhook", StatusCode: 204}, NoticeDelivered, time.Time{}); err != nil {
		t.Fatal(err)
	}
	record(t, s, t0.Add(18*time.Hour), pass("a.cn", "footer"))
	rec = record(t, s, t0.Add(24*time.Hour), pass("a.cn", "footer"))
	if len(rec.Transitions) != 2 || rec.Transitions[0].Kind != lifecycle.KindResolved || len(rec.QueuedIDs()) != 1 {
		t.Fatalf("want both resolved in one notice, got %+v", rec)
	}
	trs, err := s.Transitions(ctx, "a.cn", 0)
	if err != nil || len(trs) != 4 {
		t.Fatalf("history: %d transitions (%v), want 4", len(trs), err)
	}
	if trs[0].Kind != lifecycle.KindResolved || trs[len(trs)-1].Kind != lifecycle.KindOpened {
		t.Errorf("history not newest first: %v ... %v", trs[0].Kind, trs[len(trs)-1].Kind)
	}
}

func TestRecordResultsRejectsBadResultsButKeepsTheRest(t *testing.T) {
	s, _ := openTest(t)
	bad := []SiteResult{
		{Domain: "", Result: beian.Result{Check: "footer", Outcome: beian.Pass}},
		{Domain: "x.cn", Result: beian.Result{Check: "", Outcome: beian.Pass}},
		{Domain: "x.cn", Result: beian.Result{Check: "footer", Outcome: "maybe"}},
	}
	rec := record(t, s, t0, append(bad, pass("ok.cn", "footer"))...)
	if len(rec.Rejected) != 3 {
		t.Fatalf("rejected %v, want 3", rec.Rejected)
	}
	if !strings.Contains(rec.Rejected[2], `unknown outcome "maybe"`) {
		t.Errorf("rejection not specific: %q", rec.Rejected[2])
	}
	if c := count(t, s, `SELECT COUNT(*) FROM results WHERE domain = 'ok.cn'`); c != 1 {
		t.Errorf("good result not recorded")
	}
}

func TestRecordResultsOlderResultDoesNotReplaceLatest(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	newer := pass("a.cn", "shell")
	newer.At = t0.Add(time.Hour)
	older := fail("a.cn", "shell", "shell_unreachable")
	older.At = t0
	record(t, s, t0.Add(2*time.Hour), newer)
	record(t, s, t0.Add(2*time.Hour), older)
	latest, err := s.LatestResults(ctx, "a.cn")
	if err != nil || len(latest) != 1 || latest[0].Result.Outcome != beian.Pass {
		t.Fatalf("latest %+v (%v): an older result replaced a newer one", latest, err)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM runs`); c != 2 {
		t.Errorf("history has %d runs, want both", c)
	}
}

func TestHoldCreatesHeldNotices(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	cfg := lifecycle.DefaultConfig()
	cfg.FailureThreshold = 1
	var rec Recorded
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = s.RecordResults(ctx, tx, Batch{Now: t0, Lifecycle: cfg,
			Results: []SiteResult{fail("a.cn", "dns", "dns_resolving_while_pending"), fail("b.cn", "footer", "footer_icp_missing")},
			Hold:    func(check string) bool { return check == "dns" }})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ids := rec.QueuedIDs(); len(ids) != 1 {
		t.Fatalf("queued %v, want only b.cn's", ids)
	}
	held, err := s.Notices(ctx, NoticeFilter{States: []NoticeState{NoticeHeld}})
	if err != nil || len(held) != 1 || held[0].Domain != "a.cn" {
		t.Fatalf("held %+v (%v), want a.cn's", held, err)
	}
	// Violations open anyway: holding delays the message, not the record.
	if c := count(t, s, `SELECT COUNT(*) FROM violations WHERE status = 'open'`); c != 2 {
		t.Errorf("%d open violations, want 2", c)
	}

	var released []string
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		released, err = s.ReleaseHeldTx(ctx, tx, t0.Add(time.Hour), "a.cn")
		return err
	})
	if err != nil || len(released) != 1 || released[0] != held[0].ID {
		t.Fatalf("released %v (%v)", released, err)
	}
	if n, err := s.DropHeld(ctx, ""); err != nil || n != 0 {
		t.Errorf("dropped %d (%v), want 0 after release", n, err)
	}
}

func TestTickDueRemindsAndEscalatesWithOpsNotice(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	cfg := lifecycle.DefaultConfig()
	record(t, s, t0, fail("a.cn", "shell", "shell_unresolvable"))
	opened := record(t, s, t0, fail("a.cn", "shell", "shell_unresolvable"))
	// Each notice is delivered before the next transition, as in life.
	deliver := func(rec Recorded) {
		t.Helper()
		for _, id := range rec.QueuedIDs() {
			if _, err := s.BeginAttempt(ctx, id, t0); err != nil {
				t.Fatal(err)
			}
			if err := s.FinishAttempt(ctx, Attempt{NoticeID: id, At: t0, Channel: "webhook", StatusCode: 204}, NoticeDelivered, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver(opened)

	tick := func(at time.Duration) Recorded {
		t.Helper()
		var rec Recorded
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			rec, err = s.TickDue(ctx, tx, t0.Add(at), cfg, 10)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	if rec := tick(71 * time.Hour); len(rec.Transitions) != 0 {
		t.Fatalf("reminded early: %+v", rec.Transitions)
	}
	rec := tick(72 * time.Hour)
	if len(rec.Transitions) != 1 || rec.Transitions[0].Kind != lifecycle.KindReminder || len(rec.Notices) != 1 {
		t.Fatalf("want one reminder notice, got %+v", rec)
	}
	deliver(rec)
	if rec := tick(73 * time.Hour); len(rec.Transitions) != 0 {
		t.Fatalf("reminded twice: %+v", rec.Transitions)
	}
	rec = tick(240 * time.Hour)
	if len(rec.Transitions) != 1 || rec.Transitions[0].Kind != lifecycle.KindEscalated {
		t.Fatalf("want escalation, got %+v", rec.Transitions)
	}
	kinds := map[NoticeKind]int{}
	for _, n := range rec.Notices {
		kinds[n.Kind]++
	}
	if kinds[NoticeOwner] != 1 || kinds[NoticeOps] != 1 || len(rec.QueuedIDs()) != 2 {
		t.Fatalf("escalation notices %v, want one owner and one ops", kinds)
	}
	if err := s.RecomputeDue(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if rec := tick(2000 * time.Hour); len(rec.Transitions) != 0 {
		t.Fatalf("escalated violation ticked again: %+v", rec.Transitions)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM violations WHERE next_due IS NOT NULL`); c != 0 {
		t.Errorf("escalated violation still has a next_due")
	}
}

func TestRecomputeDueAppliesANewRemindEvery(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	record(t, s, t0, fail("a.cn", "footer", "footer_icp_missing"))
	record(t, s, t0, fail("a.cn", "footer", "footer_icp_missing"))
	cfg := lifecycle.DefaultConfig()
	cfg.RemindEvery = 24 * time.Hour // was 72h when the violation opened
	tick := func() int {
		var n int
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			rec, err := s.TickDue(ctx, tx, t0.Add(25*time.Hour), cfg, 10)
			n = len(rec.Transitions)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := tick(); n != 0 {
		t.Fatalf("stale next_due should hide the violation until recomputed, got %d", n)
	}
	if err := s.RecomputeDue(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if n := tick(); n != 1 {
		t.Fatalf("after recomputing, %d reminders at +25h, want 1", n)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM violations WHERE next_due = ?`, t0.Add(49*time.Hour).UnixMicro()); c != 1 {
		t.Errorf("next_due after the reminder is not +49h")
	}
}

func TestTickDueLimitKeepsTransactionsShort(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	cfg := lifecycle.DefaultConfig()
	cfg.FailureThreshold = 1
	var results []SiteResult
	for _, d := range []string{"a.cn", "b.cn", "c.cn", "d.cn", "e.cn"} {
		results = append(results, fail(d, "footer", "footer_icp_missing"))
	}
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		_, err := s.RecordResults(ctx, tx, Batch{Now: t0, Lifecycle: cfg, Results: results})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for round := 0; ; round++ {
		var n int
		err := s.InTx(ctx, func(tx *sql.Tx) error {
			rec, err := s.TickDue(ctx, tx, t0.Add(100*time.Hour), cfg, 2)
			n = len(rec.Transitions)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Fatalf("round %d handled %d violations, limit 2", round, n)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 5 {
		t.Fatalf("reminded %d, want 5", total)
	}
}

func TestNoticeDeliveryStates(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	cfg := lifecycle.DefaultConfig()
	cfg.FailureThreshold = 1
	var id string
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		rec, err := s.RecordResults(ctx, tx, Batch{Now: t0, Lifecycle: cfg, Results: []SiteResult{fail("a.cn", "footer", "footer_icp_missing")}})
		if err == nil {
			id = rec.QueuedIDs()[0]
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	n, err := s.BeginAttempt(ctx, id, t0)
	if err != nil || n.State != NoticeSending || n.Attempts != 1 {
		t.Fatalf("begin: %+v %v", n, err)
	}
	long := strings.Repeat("错", 1000)
	if err := s.FinishAttempt(ctx, Attempt{NoticeID: id, At: t0, Channel: "webhook", StatusCode: 503, Duration: 120 * time.Millisecond,
		BodyExcerpt: long, Error: "503 Service Unavailable"}, NoticeQueued, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A crash mid-send leaves "sending"; the retry may begin again.
	if _, err := s.BeginAttempt(ctx, id, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.BeginAttempt(ctx, id, t0.Add(time.Minute)); err != nil || n.Attempts != 3 {
		t.Fatalf("re-begin after crash: %+v %v", n, err)
	}
	if err := s.FinishAttempt(ctx, Attempt{NoticeID: id, At: t0.Add(2 * time.Minute), Channel: "webhook", StatusCode: 200}, NoticeDelivered, time.Time{}); err != nil {
		t.Fatal(err)
	}
	n, err = s.Notice(ctx, id)
	if err != nil || n.State != NoticeDelivered || !n.DeliveredAt.Equal(t0.Add(2*time.Minute)) || n.LastError != "" {
		t.Fatalf("delivered notice %+v %v", n, err)
	}
	if _, err := s.BeginAttempt(ctx, id, t0); !errors.Is(err, ErrNotDeliverable) {
		t.Fatalf("begin on a delivered notice: %v, want ErrNotDeliverable", err)
	}
	atts, err := s.Attempts(ctx, id)
	if err != nil || len(atts) != 2 {
		t.Fatalf("attempts %+v %v", atts, err)
	}
	if atts[0].StatusCode != 503 || atts[0].Duration != 120*time.Millisecond || len(atts[0].BodyExcerpt) > maxExcerpt+len("…") {
		t.Errorf("first attempt %+v", atts[0])
	}
	if err := s.FinishAttempt(ctx, Attempt{NoticeID: id}, NoticeHeld, time.Time{}); err == nil {
		t.Error("finishing into held accepted")
	}
	if _, err := s.Notice(ctx, "ntc_missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing notice: %v", err)
	}
	counts, err := s.NoticeCounts(ctx)
	if err != nil || counts[NoticeDelivered] != 1 {
		t.Errorf("counts %v %v", counts, err)
	}
}

func TestWithdrawRecordsWithoutNotice(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	record(t, s, t0, fail("a.cn", "dns", "dns_resolving_while_pending"))
	record(t, s, t0, fail("a.cn", "dns", "dns_resolving_while_pending"))
	before := count(t, s, `SELECT COUNT(*) FROM notices`)
	var trs []lifecycle.Transition
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		trs, err = s.WithdrawTx(ctx, tx, t0.Add(time.Hour), lifecycle.DefaultConfig(), "a.cn", "dns", "filing granted")
		return err
	})
	if err != nil || len(trs) != 1 {
		t.Fatalf("withdraw: %+v %v", trs, err)
	}
	if after := count(t, s, `SELECT COUNT(*) FROM notices`); after != before {
		t.Errorf("withdrawal created %d notices", after-before)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM transitions WHERE kind = 'withdrawn' AND notice_id IS NULL`); c != 1 {
		t.Errorf("withdrawn transition not recorded")
	}
}

func TestPruneRuns(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	for i := range 25 {
		r := pass("a.cn", "footer")
		r.At = t0.Add(time.Duration(i) * time.Hour)
		record(t, s, r.At, r)
	}
	n, err := s.PruneRuns(ctx, t0.Add(10*time.Hour), t0.Add(10*time.Hour), 3) // small chunks: exercises the loop
	if err != nil || n != 10 {
		t.Fatalf("pruned %d (%v), want 10", n, err)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM runs`); c != 15 {
		t.Errorf("%d runs left, want 15", c)
	}
	runs, err := s.Runs(ctx, "a.cn", "footer", 5)
	if err != nil || len(runs) != 5 || !runs[0].At.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("runs %+v %v", runs, err)
	}
}

func TestPhoneCache(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	const num = "+8613812345678"
	if _, ok, err := s.PhoneStatus(ctx, num, t0); ok || err != nil {
		t.Fatalf("empty cache hit: %v %v", ok, err)
	}
	if err := s.PutPhoneStatus(ctx, num, "vacant", t0, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, ok, err := s.PhoneStatus(ctx, num, t0.Add(23*time.Hour)); !ok || st != "vacant" || err != nil {
		t.Fatalf("cache miss before expiry: %q %v %v", st, ok, err)
	}
	if _, ok, _ := s.PhoneStatus(ctx, num, t0.Add(24*time.Hour)); ok {
		t.Fatal("expired entry served")
	}
	err := s.PutPhoneStatus(ctx, num, "ok", t0, 0)
	if err == nil || strings.Contains(err.Error(), "13812345678") || !strings.Contains(err.Error(), "138****5678") {
		t.Fatalf("error must carry the masked number only: %v", err)
	}
	if n, err := s.PrunePhoneCache(ctx, t0.Add(25*time.Hour)); n != 1 || err != nil {
		t.Errorf("pruned %d %v", n, err)
	}
}

// TestPhoneCacheErrorsAreMasked: a store error about a cached number
// never carries the whole number.
func TestPhoneCacheErrorsAreMasked(t *testing.T) {
	s, _ := openTest(t)
	err := s.PutPhoneStatus(context.Background(), "+8613812345678", "ok", t0, 0)
	if err == nil || strings.Contains(err.Error(), "13812345678") || !strings.Contains(err.Error(), "138****5678") {
		t.Fatalf("error %v, want the number masked", err)
	}
}

// TestKilledProcessLosesNoCommit commits in a child process that then
// kills itself with SIGKILL without closing the database; every committed
// batch must be there after reopening (WAL replay).
func TestKilledProcessLosesNoCommit(t *testing.T) {
	if path := os.Getenv("BEIANWATCH_STORE_KILL_CHILD"); path != "" {
		s, err := Open(context.Background(), path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		for i := range 20 {
			record(t, s, t0.Add(time.Duration(i)*time.Minute), fail(fmt.Sprintf("s%02d.cn", i), "footer", "footer_icp_missing"))
		}
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	path := filepath.Join(t.TempDir(), "killed.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledProcessLosesNoCommit$")
	cmd.Env = append(os.Environ(), "BEIANWATCH_STORE_KILL_CHILD="+path)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c := count(t, s, `SELECT COUNT(*) FROM runs`); c != 20 {
		t.Fatalf("%d of 20 committed runs survived the kill", c)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM violations WHERE status = 'pending'`); c != 20 {
		t.Fatalf("%d of 20 committed violation states survived the kill", c)
	}
}

// TestUnsentNoticeCollectsLaterTransitions: checks run in separate jobs,
// so a site failing two checks changes in two batches; while its notice
// has not been tried, the second batch joins it instead of making a
// second notice. Something opened and resolved before anyone was told
// is never sent.
func TestUnsentNoticeCollectsLaterTransitions(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	record(t, s, t0, fail("a.cn", "footer", "footer_link_missing"), fail("a.cn", "shell", "shell_placeholder"))
	first := record(t, s, t0.Add(time.Minute), fail("a.cn", "footer", "footer_link_missing"))
	if len(first.QueuedIDs()) != 1 {
		t.Fatalf("footer opening: %+v", first)
	}
	second := record(t, s, t0.Add(2*time.Minute), fail("a.cn", "shell", "shell_placeholder"))
	if len(second.Transitions) != 1 || len(second.QueuedIDs()) != 0 {
		t.Fatalf("shell opening made a second notice: %+v", second)
	}
	n, err := s.Notice(ctx, first.QueuedIDs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Payload.Transitions) != 2 || n.State != NoticeQueued {
		t.Fatalf("notice should hold both openings: %+v", n)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM transitions WHERE notice_id = ?`, n.ID); c != 2 {
		t.Errorf("%d transitions point at the notice, want 2", c)
	}

	// Both fixed before the notice was ever tried: nothing to tell.
	record(t, s, t0.Add(3*time.Minute), pass("a.cn", "footer"), pass("a.cn", "shell"))
	rec := record(t, s, t0.Add(4*time.Minute), pass("a.cn", "footer"), pass("a.cn", "shell"))
	if len(rec.Transitions) != 2 || len(rec.QueuedIDs()) != 0 {
		t.Fatalf("resolutions: %+v", rec)
	}
	if n, _ = s.Notice(ctx, n.ID); n.State != NoticeDropped || n.LastError == "" {
		t.Fatalf("notice with nothing left to say: %+v", n)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM notices`); c != 1 {
		t.Errorf("%d notices, want 1", c)
	}
}

// TestReviseQueuedKeepsTransitionsMergedSinceRead: the notify worker reads
// a notice, decides which of its changes to leave out, then revises it in
// a later transaction. A check batch may merge a new change into the
// notice in between; the revision must remove only what the worker
// decided on, never overwrite the notice with its stale copy (which lost
// the new change: the owner was never told of a violation recorded as
// announced by that notice).
func TestReviseQueuedKeepsTransitionsMergedSinceRead(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	record(t, s, t0, fail("a.cn", "shell", "shell_placeholder"))
	first := record(t, s, t0.Add(time.Minute), fail("a.cn", "shell", "shell_placeholder"))
	if len(first.QueuedIDs()) != 1 {
		t.Fatalf("shell opening: %+v", first)
	}
	id := first.QueuedIDs()[0]
	read, err := s.Notice(ctx, id) // what the worker decided on
	if err != nil {
		t.Fatal(err)
	}

	// A footer batch commits between the worker's read and its revision.
	record(t, s, t0.Add(2*time.Minute), fail("a.cn", "footer", "footer_link_missing"))
	if rec := record(t, s, t0.Add(3*time.Minute), fail("a.cn", "footer", "footer_link_missing")); len(rec.Transitions) != 1 || len(rec.QueuedIDs()) != 0 {
		t.Fatalf("footer opening should join the unsent notice: %+v", rec)
	}

	ok, err := s.ReviseQueued(ctx, id, read.Payload.Transitions, "shell_placeholder: never announced")
	if err != nil || !ok {
		t.Fatalf("revise: %v, %v", ok, err)
	}
	n, err := s.Notice(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n.State != NoticeQueued || len(n.Payload.Transitions) != 1 || n.Payload.Transitions[0].Code != "footer_link_missing" {
		t.Fatalf("revision lost the change merged after the read: state %s, transitions %+v", n.State, n.Payload.Transitions)
	}

	// Removing the last change drops the notice, with the reason.
	if ok, err := s.ReviseQueued(ctx, id, n.Payload.Transitions, "footer: never announced"); err != nil || !ok {
		t.Fatalf("revise: %v, %v", ok, err)
	}
	if n, _ = s.Notice(ctx, id); n.State != NoticeDropped || !strings.Contains(n.LastError, "footer: never announced") {
		t.Fatalf("notice with nothing left: %+v", n)
	}
}

// TestScreenshots: a failing rendered run's PNG is stored with the run,
// the latest one per site and check is served, and it is pruned with the
// run history.
func TestScreenshots(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	if _, ok, err := s.LatestScreenshot(ctx, "a.cn", "footer"); ok || err != nil {
		t.Fatalf("screenshot before any run: %v %v", ok, err)
	}
	png := func(b byte) []byte { return []byte{0x89, 'P', 'N', 'G', b} }
	for i := range 3 {
		r := fail("a.cn", "footer", beian.CodeFooterLinkMissing)
		r.Result.Screenshot = png(byte(i))
		r.At = t0.Add(time.Duration(i) * time.Hour)
		record(t, s, r.At, r)
	}
	// A run without a screenshot (a static failure) keeps the last one.
	r := fail("a.cn", "footer", beian.CodeFooterLinkMissing)
	r.At = t0.Add(5 * time.Hour)
	record(t, s, r.At, r)
	got, ok, err := s.LatestScreenshot(ctx, "a.cn", "footer")
	if err != nil || !ok || !bytes.Equal(got.PNG, png(2)) || !got.TakenAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("latest screenshot %+v %v %v, want the third", got, ok, err)
	}
	if _, ok, _ := s.LatestScreenshot(ctx, "b.cn", "footer"); ok {
		t.Errorf("another site's screenshot served")
	}
	// Runs that changed the violation are records, kept (with their
	// screenshots) past the history retention; the others go, and their
	// screenshots with them.
	if _, err := s.PruneRuns(ctx, t0.Add(90*time.Minute), t0, 0); err != nil {
		t.Fatal(err)
	}
	kept := count(t, s, `SELECT COUNT(*) FROM runs WHERE checked_at <= ?`, t0.Add(2*time.Hour).UnixMicro())
	if c := count(t, s, `SELECT COUNT(*) FROM screenshots`); c != kept {
		t.Errorf("%d screenshots after pruning, for %d runs kept that had one", c, kept)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM screenshots WHERE run_id NOT IN (SELECT id FROM runs)`); c != 0 {
		t.Errorf("%d screenshots outlived their run", c)
	}
	if _, err := s.PruneRuns(ctx, t0.Add(90*time.Minute), t0.Add(90*time.Minute), 0); err != nil {
		t.Fatal(err)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM screenshots`); c != 1 {
		t.Errorf("%d screenshots after pruning the first two runs and their records, want 1", c)
	}
	if _, err := s.PruneRuns(ctx, t0.Add(10*time.Hour), t0.Add(10*time.Hour), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.LatestScreenshot(ctx, "a.cn", "footer"); ok {
		t.Errorf("screenshot kept after its run was pruned")
	}
}
