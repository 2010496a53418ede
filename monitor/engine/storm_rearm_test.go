package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// refusal is the error the test triggers raise; asserting on it makes sure
// a transaction failed where the test meant it to, not somewhere else.
const refusal = "storm alarm refused by test"

// refuseOpsNotices makes every insert of an ops notice fail while on, so
// that the transaction which acts on a storm's Started edge rolls back
// after the guard has already reported the edge.
func refuseOpsNotices(t *testing.T, h *harness, on bool) {
	t.Helper()
	q := `DROP TRIGGER IF EXISTS refuse_ops_notice`
	if on {
		q = `CREATE TRIGGER IF NOT EXISTS refuse_ops_notice BEFORE INSERT ON notices
			WHEN NEW.kind = 'ops'
			BEGIN SELECT RAISE(ABORT, '` + refusal + `'); END`
	}
	if h.dialect == store.Postgres {
		q = `DROP TRIGGER IF EXISTS refuse_ops_notice ON notices`
		if on {
			q = `CREATE OR REPLACE FUNCTION refuse_ops_notice() RETURNS trigger LANGUAGE plpgsql AS $f$
				BEGIN RAISE EXCEPTION '` + refusal + `'; END $f$;
				CREATE OR REPLACE TRIGGER refuse_ops_notice BEFORE INSERT ON notices
				FOR EACH ROW WHEN (NEW.kind = 'ops') EXECUTE FUNCTION refuse_ops_notice()`
		}
	}
	if _, err := h.st.DB().Exec(q); err != nil {
		t.Fatalf("switch ops notice refusal to %v: %v", on, err)
	}
}

// stormSnapshot is what the storm guard's work leaves in the store.
type stormSnapshot struct {
	Alarms     int // ops notices announcing a storm
	OtherOps   int // ops notices that are not storm alarms
	OwnerHeld  int
	OwnerOther int // owner notices not held: queued or further
	NotifyJobs int
	Runs       int
}

// snapshotStorm reads the snapshot, and the storm alarms themselves.
func snapshotStorm(t *testing.T, h *harness) (stormSnapshot, []store.Notice) {
	t.Helper()
	ns, err := h.st.Notices(context.Background(), store.NoticeFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var s stormSnapshot
	var alarms []store.Notice
	for _, n := range ns {
		switch {
		case n.Kind == store.NoticeOps && n.Payload.Storm != nil:
			s.Alarms++
			alarms = append(alarms, n)
		case n.Kind == store.NoticeOps:
			s.OtherOps++
		case n.State == store.NoticeHeld:
			s.OwnerHeld++
		default:
			s.OwnerOther++
		}
	}
	s.NotifyJobs = h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'notify'`)
	s.Runs = h.count(t, `SELECT COUNT(*) FROM runs`)
	return s, alarms
}

// stormBatch is one result of check per domain, the first failing ones
// failing with a violation and the rest passing.
func stormBatch(check string, domains []string, failing int) []store.SiteResult {
	out := make([]store.SiteResult, 0, len(domains))
	for i, d := range domains {
		res := beian.Result{Check: check, Outcome: beian.Pass, Findings: []beian.Finding{}}
		if i < failing {
			res.Outcome = beian.Fail
			res.Findings = []beian.Finding{{Code: check + "_unresolvable", Severity: beian.Violation}}
		}
		out = append(out, store.SiteResult{Domain: d, Result: res})
	}
	return out
}

// TestStormRearmRecord: when the transaction that raises a storm's alarm
// rolls back, the guard has already moved to "storming"; unless the engine
// rearms the Started edge, ops never hears of that storm while owner
// notices are silently held. The alarm must come with the next batch, once,
// and the owner notices stay held throughout.
func TestStormRearmRecord(t *testing.T) {
	eachDriver(t, func(t *testing.T, drv store.Dialect) {
		ctx := context.Background()
		h := newHarnessOn(t, drv)
		h.cfg.Lifecycle.FailureThreshold = 1
		h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10}
		e := h.engine(t)
		sites := domains(80)
		first := stormBatch("shell", sites[:40], 30)
		second := stormBatch("shell", sites[40:], 30)

		steps := []struct {
			name    string
			refuse  bool
			batch   []store.SiteResult
			wantErr bool
			want    stormSnapshot
		}{
			{
				name: "alarm refused: the whole batch rolls back", refuse: true, batch: first, wantErr: true,
				want: stormSnapshot{},
			},
			{
				name: "batch retried: the lost alarm is raised", batch: first,
				want: stormSnapshot{Alarms: 1, OwnerHeld: 30, NotifyJobs: 1, Runs: 40},
			},
			{
				name: "storm goes on: no second alarm", batch: second,
				want: stormSnapshot{Alarms: 1, OwnerHeld: 60, NotifyJobs: 1, Runs: 80},
			},
		}
		for _, step := range steps {
			refuseOpsNotices(t, h, step.refuse)
			_, err := e.Record(ctx, step.batch)
			switch {
			case step.wantErr && (err == nil || !strings.Contains(err.Error(), refusal)):
				t.Fatalf("%s: Record returned %v, want the refused alarm's error", step.name, err)
			case !step.wantErr && err != nil:
				t.Fatalf("%s: Record: %v", step.name, err)
			}
			got, alarms := snapshotStorm(t, h)
			if got != step.want {
				t.Fatalf("%s: store holds %+v, want %+v", step.name, got, step.want)
			}
			if len(alarms) == 1 {
				checkAlarm(t, h, alarms[0], "shell", 30, 40)
			}
		}
	})
}

// checkAlarm asserts that alarm announces a storm of check with the given
// counts (a batch whose transaction failed must not be counted again when
// it is retried) and is queued for delivery by the only notify job.
func checkAlarm(t *testing.T, h *harness, alarm store.Notice, check string, failed, checked int) {
	t.Helper()
	if s := alarm.Payload.Storm; s.Check != check || s.Failed != failed || s.Checked != checked {
		t.Errorf("storm alarm says %+v, want a storm of %s with %d of %d failing", *s, check, failed, checked)
	}
	if alarm.State != store.NoticeQueued && alarm.State != store.NoticeSending && alarm.State != store.NoticeDelivered {
		t.Errorf("storm alarm is %s, want it on its way to ops", alarm.State)
	}
	var args string
	if err := h.st.DB().QueryRow(`SELECT ` + h.jsonText("args") + ` FROM river_job WHERE kind = 'notify'`).Scan(&args); err != nil {
		t.Fatal(err)
	}
	var na NotifyArgs
	if err := json.Unmarshal([]byte(args), &na); err != nil || na.NoticeID != alarm.ID {
		t.Errorf("notify job args %s, want the storm alarm %s", args, alarm.ID)
	}
}

// TestStormRearmCheckBatch drives the same loss through a real check job:
// the first attempt's transaction fails on the alarm, River retries the
// job, and the retry must raise the alarm the first attempt lost.
func TestStormRearmCheckBatch(t *testing.T) {
	eachDriver(t, func(t *testing.T, drv store.Dialect) {
		ctx := context.Background()
		h := newHarnessOn(t, drv)
		h.cfg.Lifecycle.FailureThreshold = 1
		h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10}
		sites := domains(40)
		h.inv["footer"] = sites
		h.runner.set(sites[:30]...)
		// Refused only during the job's first attempt (River counts the
		// attempt when it fetches the job, in its own transaction), so the
		// retry gets through without the test racing River to drop a trigger.
		trigger := `CREATE TRIGGER refuse_first_attempt_alarm BEFORE INSERT ON notices
			WHEN NEW.kind = 'ops' AND (SELECT MAX(attempt) FROM river_job WHERE kind = 'check_batch') = 1
			BEGIN SELECT RAISE(ABORT, '` + refusal + `'); END`
		if h.dialect == store.Postgres {
			trigger = `CREATE FUNCTION refuse_first_attempt_alarm() RETURNS trigger LANGUAGE plpgsql AS $f$
				BEGIN
					IF (SELECT MAX(attempt) FROM river_job WHERE kind = 'check_batch') = 1 THEN
						RAISE EXCEPTION '` + refusal + `';
					END IF;
					RETURN NEW;
				END $f$;
				CREATE TRIGGER refuse_first_attempt_alarm BEFORE INSERT ON notices
				FOR EACH ROW WHEN (NEW.kind = 'ops') EXECUTE FUNCTION refuse_first_attempt_alarm()`
		}
		if _, err := h.st.DB().Exec(trigger); err != nil {
			t.Fatal(err)
		}
		e := h.engine(t)
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			e.Stop(stopCtx)
		})
		if n, err := e.Trigger(ctx, "footer", sites); err != nil || n != 1 {
			t.Fatalf("trigger: %d jobs, %v; want 1 batch", n, err)
		}
		waitFor(t, "check batch completed", func() bool {
			return h.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'check_batch' AND state = 'completed'`) == 1
		})
		// The first attempt must really have failed on the alarm; otherwise
		// this test proves nothing about rearming.
		var attempt int
		var errs string
		if err := h.st.DB().QueryRow(`SELECT attempt, `+h.jsonText("errors")+` FROM river_job WHERE kind = 'check_batch'`).Scan(&attempt, &errs); err != nil {
			t.Fatal(err)
		}
		if attempt != 2 || !strings.Contains(errs, refusal) {
			t.Fatalf("check batch completed on attempt %d with errors %s; want the second, after the refused alarm", attempt, errs)
		}
		got, alarms := snapshotStorm(t, h)
		want := stormSnapshot{Alarms: 1, OwnerHeld: 30, NotifyJobs: 1, Runs: 40}
		if got != want {
			t.Fatalf("store holds %+v, want %+v", got, want)
		}
		checkAlarm(t, h, alarms[0], "footer", 30, 40)
		waitFor(t, "storm alarm delivered to ops", func() bool {
			for _, n := range h.notifier.notices() {
				if n.ID == alarms[0].ID {
					return true
				}
			}
			return false
		})
	})
}
