package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

func addExemption(t *testing.T, s *Store, now time.Time, e Exemption) (Exemption, []lifecycle.Transition) {
	t.Helper()
	ex, trs, err := s.AddExemption(context.Background(), now, lifecycle.DefaultConfig(), e)
	if err != nil {
		t.Fatalf("add exemption %+v: %v", e, err)
	}
	return ex, trs
}

func violation(t *testing.T, s *Store, domain, code string) lifecycle.State {
	t.Helper()
	vs, err := s.Violations(context.Background(), ViolationFilter{Domain: domain, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 {
		return lifecycle.State{Domain: domain, Code: code, Status: lifecycle.StatusNone}
	}
	return vs[0]
}

func TestExemptedCodeIsRecordedButOpensNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s, _ := openTest(t, db)
		addExemption(t, s, t0, Exemption{Domain: "a.cn", Code: "footer_link_missing", Until: t0.Add(48 * time.Hour),
			Reason: "signed exception 2026-17", CreatedBy: "li.wei"})
		for i := range 4 {
			rec := record(t, s, t0.Add(time.Duration(i)*time.Hour), fail("a.cn", "footer", "footer_link_missing", "footer_icp_missing"))
			for _, tr := range rec.Transitions {
				if tr.Code == "footer_link_missing" {
					t.Fatalf("run %d: exempted code made a transition %+v", i, tr)
				}
			}
		}
		// Checked and recorded: the runs and the latest result keep the
		// exempted finding.
		if n := count(t, s, `SELECT COUNT(*) FROM runs WHERE findings LIKE '%footer_link_missing%'`); n != 4 {
			t.Errorf("%d runs keep the exempted finding, want 4", n)
		}
		latest, err := s.LatestResults(ctx, "a.cn")
		if err != nil || len(latest) != 1 || len(latest[0].Result.Findings) != 2 {
			t.Errorf("latest result lost the exempted finding: %+v %v", latest, err)
		}
		if v := violation(t, s, "a.cn", "footer_link_missing"); v.Status != lifecycle.StatusNone {
			t.Errorf("exempted code has state %s, want untracked", v.Status)
		}
		// The code the exemption does not name is judged as usual.
		if v := violation(t, s, "a.cn", "footer_icp_missing"); v.Status != lifecycle.StatusOpen {
			t.Errorf("unexempted code is %s, want open", v.Status)
		}
		var payloads []string
		rows, err := s.DB().Query(`SELECT payload FROM notices`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var p string
			rows.Scan(&p)
			payloads = append(payloads, p)
		}
		rows.Close()
		if len(payloads) != 1 || strings.Contains(payloads[0], "footer_link_missing") {
			t.Errorf("notices %q: want one, without the exempted code", payloads)
		}
	})
}

func TestCheckWideExemptionCoversEveryCodeOfTheCheck(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		s, _ := openTest(t, db)
		addExemption(t, s, t0, Exemption{Domain: "a.cn", Check: "contact", Until: t0.Add(48 * time.Hour), Reason: "r", CreatedBy: "op"})
		for i := range 3 {
			record(t, s, t0.Add(time.Duration(i)*time.Hour), fail("a.cn", "contact", "contact_vacant"), fail("a.cn", "footer", "footer_psb_missing"),
				fail("b.cn", "contact", "contact_vacant"))
		}
		if v := violation(t, s, "a.cn", "contact_vacant"); v.Status != lifecycle.StatusNone {
			t.Errorf("a.cn contact_vacant is %s under a check-wide exemption", v.Status)
		}
		if v := violation(t, s, "a.cn", "footer_psb_missing"); v.Status != lifecycle.StatusOpen {
			t.Errorf("a.cn's other check is %s, want open", v.Status)
		}
		if v := violation(t, s, "b.cn", "contact_vacant"); v.Status != lifecycle.StatusOpen {
			t.Errorf("another site is %s, want open: the exemption names one site", v.Status)
		}
	})
}

func TestExemptingAnOpenViolationClosesItWithoutTellingTheOwner(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		s, _ := openTest(t, db)
		record(t, s, t0, fail("a.cn", "footer", "footer_link_missing"))
		rec := record(t, s, t0.Add(time.Hour), fail("a.cn", "footer", "footer_link_missing"))
		if len(rec.Notices) != 1 {
			t.Fatalf("opening made %d notices", len(rec.Notices))
		}
		noticesBefore := count(t, s, `SELECT COUNT(*) FROM notices`)
		_, trs := addExemption(t, s, t0.Add(2*time.Hour), Exemption{Domain: "a.cn", Code: "footer_link_missing",
			Until: t0.Add(30 * 24 * time.Hour), Reason: "owner rebuilding the site", CreatedBy: "zhang.san"})
		if len(trs) != 1 || trs[0].Kind != lifecycle.KindExempted || trs[0].To != lifecycle.StatusExempted || trs[0].From != lifecycle.StatusOpen {
			t.Fatalf("transitions %+v, want one open -> exempted", trs)
		}
		if !strings.Contains(trs[0].Reason, "zhang.san") || !strings.Contains(trs[0].Reason, "owner rebuilding the site") {
			t.Errorf("transition reason %q does not say who and why", trs[0].Reason)
		}
		v := violation(t, s, "a.cn", "footer_link_missing")
		if v.Status != lifecycle.StatusExempted || v.OpenedAt.IsZero() {
			t.Errorf("state %+v, want exempted with its opening date kept", v)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM notices`); n != noticesBefore {
			t.Errorf("exempting created %d notices", n-noticesBefore)
		}
		// The opening notice had not been attempted yet: it must not go out.
		if st := count(t, s, `SELECT COUNT(*) FROM notices WHERE state = 'dropped' AND last_error LIKE '%exempted%'`); st != 1 {
			t.Errorf("the unsent opening notice was not dropped")
		}
		if n := count(t, s, `SELECT COUNT(*) FROM transitions WHERE kind = 'exempted' AND notice_id IS NULL`); n != 1 {
			t.Errorf("exempted transition not recorded without a notice")
		}
		// Nothing is reminded or escalated while exempted.
		err := s.InTx(context.Background(), func(tx *sql.Tx) error {
			rec, err := s.TickDue(context.Background(), tx, t0.Add(40*24*time.Hour), lifecycle.DefaultConfig(), 0)
			if err == nil && len(rec.Transitions) > 0 {
				t.Errorf("tick on an exempted violation: %+v", rec.Transitions)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestExpiredExemptionIsJudgedNormallyAndLogged(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s, _ := openTest(t, db)
		record(t, s, t0, fail("a.cn", "footer", "footer_link_missing"))
		record(t, s, t0.Add(time.Hour), fail("a.cn", "footer", "footer_link_missing"))
		until := t0.Add(10 * time.Hour)
		addExemption(t, s, t0.Add(2*time.Hour), Exemption{Domain: "a.cn", Code: "footer_link_missing", Until: until, Reason: "r", CreatedBy: "op"})
		record(t, s, until.Add(-time.Minute), fail("a.cn", "footer", "footer_link_missing"))
		if v := violation(t, s, "a.cn", "footer_link_missing"); v.Status != lifecycle.StatusExempted {
			t.Fatalf("before the end: %s", v.Status)
		}
		// After the end, the failure threshold (2) counts again from zero.
		record(t, s, until.Add(time.Hour), fail("a.cn", "footer", "footer_link_missing"))
		if v := violation(t, s, "a.cn", "footer_link_missing"); v.Status != lifecycle.StatusPending {
			t.Errorf("first failure after the end: %s, want pending", v.Status)
		}
		rec := record(t, s, until.Add(2*time.Hour), fail("a.cn", "footer", "footer_link_missing"))
		if len(rec.Transitions) != 1 || rec.Transitions[0].Kind != lifecycle.KindOpened || len(rec.Notices) != 1 {
			t.Errorf("second failure after the end: %+v, want opened with a notice", rec)
		}
		n, err := s.LogExpiredExemptions(ctx, until.Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("logged %d expiries, %v", n, err)
		}
		if n, _ := s.LogExpiredExemptions(ctx, until.Add(2*time.Hour)); n != 0 {
			t.Errorf("expiry logged twice")
		}
		trail, err := s.AuditTrail(ctx, "a.cn", 0)
		if err != nil || len(trail) != 2 {
			t.Fatalf("audit trail %+v %v", trail, err)
		}
		if trail[0].Action != AuditExemptionAdded || trail[0].Actor != "op" || !trail[0].At.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("added entry %+v", trail[0])
		}
		if trail[1].Action != AuditExemptionExpired || !trail[1].At.Equal(until) || trail[1].Actor != "system" {
			t.Errorf("expiry entry %+v", trail[1])
		}
	})
}

func TestRemoveExemptionIsAuditedAndEndsIt(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s, _ := openTest(t, db)
		ex, _ := addExemption(t, s, t0, Exemption{Domain: "a.cn", Code: "footer_link_missing", Until: t0.Add(48 * time.Hour), Reason: "r", CreatedBy: "op"})
		if _, err := s.RemoveExemption(ctx, t0.Add(time.Hour), ex.ID, "", "x"); !errors.Is(err, ErrInvalid) {
			t.Errorf("removal without who: %v", err)
		}
		got, err := s.RemoveExemption(ctx, t0.Add(time.Hour), ex.ID, "wang.wu", "owner fixed it")
		if err != nil || got.RemovedBy != "wang.wu" {
			t.Fatalf("remove: %+v %v", got, err)
		}
		if _, err := s.RemoveExemption(ctx, t0.Add(2*time.Hour), ex.ID, "wang.wu", "again"); !errors.Is(err, ErrInvalid) {
			t.Errorf("second removal: %v", err)
		}
		if _, err := s.RemoveExemption(ctx, t0.Add(2*time.Hour), 999, "wang.wu", "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown id: %v", err)
		}
		record(t, s, t0.Add(2*time.Hour), fail("a.cn", "footer", "footer_link_missing"))
		record(t, s, t0.Add(3*time.Hour), fail("a.cn", "footer", "footer_link_missing"))
		if v := violation(t, s, "a.cn", "footer_link_missing"); v.Status != lifecycle.StatusOpen {
			t.Errorf("after removal: %s, want open", v.Status)
		}
		trail, _ := s.AuditTrail(ctx, "a.cn", 0)
		if len(trail) != 2 || trail[1].Action != AuditExemptionRemoved || trail[1].Actor != "wang.wu" || trail[1].Reason != "owner fixed it" {
			t.Errorf("trail %+v", trail)
		}
		if active, _ := s.Exemptions(ctx, ExemptionFilter{Active: t0.Add(2 * time.Hour)}); len(active) != 0 {
			t.Errorf("removed exemption still active: %+v", active)
		}
		if counts, _ := s.ExemptionCounts(ctx, t0.Add(2*time.Hour)); counts["footer"] != 0 {
			t.Errorf("counts %v", counts)
		}
	})
}

func TestAddExemptionRejectsBadRequests(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		s, _ := openTest(t, db)
		good := Exemption{Domain: "a.cn", Code: "footer_link_missing", Until: t0.Add(time.Hour), Reason: "r", CreatedBy: "op"}
		for name, mut := range map[string]func(*Exemption){
			"no site":         func(e *Exemption) { e.Domain = "" },
			"no scope":        func(e *Exemption) { e.Code = "" },
			"code not check":  func(e *Exemption) { e.Check = "dns" },
			"unknown check":   func(e *Exemption) { e.Code = "bogus_code" },
			"past end":        func(e *Exemption) { e.Until = t0.Add(-time.Second) },
			"no reason":       func(e *Exemption) { e.Reason = " " },
			"no grantor":      func(e *Exemption) { e.CreatedBy = "" },
			"malformed code":  func(e *Exemption) { e.Code = "footer" },
			"unknown check 2": func(e *Exemption) { e.Code, e.Check = "", "whois" },
		} {
			e := good
			mut(&e)
			if _, _, err := s.AddExemption(context.Background(), t0, lifecycle.DefaultConfig(), e); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if n := count(t, s, `SELECT COUNT(*) FROM exemptions`); n != 0 {
			t.Errorf("%d rejected exemptions stored", n)
		}
	})
}

func TestMigrationAddedLaterIsApplied(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A branch merged after this database was created brings a lower
	// version than the highest applied: it must still be applied.
	first := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE m_a (x INTEGER);")},
		"migrations/0003_c.sql": {Data: []byte("CREATE TABLE m_c (x INTEGER);")},
	}
	ms, err := loadMigrations(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().Exec(`DELETE FROM schema_migrations`); err != nil {
		t.Fatal(err)
	}
	if err := s.InTx(ctx, func(tx *sql.Tx) error { _, err := s.applyMigrations(ctx, tx, ms); return err }); err != nil {
		t.Fatal(err)
	}
	first["migrations/0002_b.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE m_b (x INTEGER);")}
	ms, _ = loadMigrations(first)
	if err := s.InTx(ctx, func(tx *sql.Tx) error { _, err := s.applyMigrations(ctx, tx, ms); return err }); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM sqlite_master WHERE name IN ('m_a', 'm_b', 'm_c')`); n != 3 {
		t.Errorf("%d of 3 tables exist", n)
	}
}

func TestPruneKeepsTheRunsOfTheRecord(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		s, _ := openTest(t, db)
		old := t0.Add(-2 * 365 * 24 * time.Hour)
		// Two years ago: a pass, a first failure (pending), the opening
		// failure, a failure while open, a pass, the resolving pass.
		seq := []SiteResult{pass("a.cn", "footer"), fail("a.cn", "footer", "footer_link_missing"),
			fail("a.cn", "footer", "footer_link_missing"), fail("a.cn", "footer", "footer_link_missing"),
			pass("a.cn", "footer"), pass("a.cn", "footer")}
		for i, r := range seq {
			r.At = old.Add(time.Duration(i) * time.Hour)
			record(t, s, r.At, r)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM runs WHERE record = 1`); n != 3 {
			t.Fatalf("%d runs marked as record, want 3 (pending, opened, resolved)", n)
		}
		n, err := s.PruneRuns(ctx, t0.Add(-30*24*time.Hour), t0.Add(-3*365*24*time.Hour), 2)
		if err != nil || n != 3 {
			t.Fatalf("pruned %d, %v; want the 3 plain runs", n, err)
		}
		runs, _ := s.Runs(ctx, "a.cn", "footer", 0)
		if len(runs) != 3 || runs[0].At != old.Add(5*time.Hour) || runs[1].At != old.Add(2*time.Hour) || runs[2].At != old.Add(time.Hour) {
			t.Errorf("runs left %+v", runs)
		}
		// Past the record retention they go too.
		if n, err := s.PruneRuns(ctx, t0, t0, 0); err != nil || n != 3 {
			t.Errorf("record prune: %d %v", n, err)
		}
		if n := count(t, s, `SELECT COUNT(*) FROM transitions`); n != 2 {
			t.Errorf("%d transitions; pruning must never touch them", n)
		}
	})
}
