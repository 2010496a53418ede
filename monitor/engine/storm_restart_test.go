package engine

import (
	"context"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// The storm guard's window and state survive a restart: a storm that goes
// on is not announced a second time, and failures counted before the
// restart still count after it.
func TestStormSurvivesRestart(t *testing.T) {
	eachDriver(t, func(t *testing.T, drv store.Dialect) {
		ctx := context.Background()
		sites := domains(120)

		t.Run("a storm going on is not announced again", func(t *testing.T) {
			h := newHarnessOn(t, drv)
			h.cfg.Lifecycle.FailureThreshold = 1
			h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10}
			if _, err := h.engine(t).Record(ctx, stormBatch("shell", sites[:40], 30)); err != nil {
				t.Fatal(err)
			}
			if got, _ := snapshotStorm(t, h); got.Alarms != 1 || got.OwnerHeld != 30 {
				t.Fatalf("before the restart: %+v, want 1 alarm and 30 held", got)
			}
			h.clock.Set(h.clock.Now().Add(time.Minute))
			e := startEngine(t, h, h.notifier) // the restart
			if _, err := e.Record(ctx, stormBatch("shell", sites[40:80], 30)); err != nil {
				t.Fatal(err)
			}
			got, alarms := snapshotStorm(t, h)
			if got.Alarms != 1 || got.OwnerHeld != 60 || got.OwnerOther != 0 {
				t.Fatalf("after the restart: %+v, want still 1 alarm and 60 held", got)
			}
			checkAlarm(t, h, alarms[0], "shell", 30, 40)
		})

		t.Run("failures before the restart still count", func(t *testing.T) {
			h := newHarnessOn(t, drv)
			h.cfg.Lifecycle.FailureThreshold = 1
			// With a settle time, the notices of the first 20 wait for it
			// rather than go out when the restarted engine's workers start.
			h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 30, Settle: 2 * time.Minute}
			// 20 of 40 failing: half, but fewer than 30 sites.
			if _, err := h.engine(t).Record(ctx, stormBatch("shell", sites[:40], 20)); err != nil {
				t.Fatal(err)
			}
			if got, _ := snapshotStorm(t, h); got.Alarms != 0 {
				t.Fatalf("before the restart: %+v, want no storm", got)
			}
			h.clock.Set(h.clock.Now().Add(time.Minute))
			e := startEngine(t, h, h.notifier)
			// 15 of 20 more: 35 of 60 in the window, a storm; alone, 15 of 20
			// would be too few sites.
			if _, err := e.Record(ctx, stormBatch("shell", sites[40:60], 15)); err != nil {
				t.Fatal(err)
			}
			got, alarms := snapshotStorm(t, h)
			// The 20 owner notices from before the restart were still
			// settling: they are the storm's first wave and are held with the
			// 15 new ones.
			if got.Alarms != 1 || got.OwnerHeld != 35 {
				t.Fatalf("after the restart: %+v, want the storm raised with all 35 unsent owner notices held", got)
			}
			if s := alarms[0].Payload.Storm; s.Check != "shell" || s.Failed != 35 || s.Checked != 60 {
				t.Errorf("storm alarm says %+v, want 35 of 60 shell runs failing", *s)
			}
		})

		t.Run("counts older than the window are forgotten", func(t *testing.T) {
			h := newHarnessOn(t, drv)
			h.cfg.Lifecycle.FailureThreshold = 1
			h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 30}
			if _, err := h.engine(t).Record(ctx, stormBatch("shell", sites[:40], 20)); err != nil {
				t.Fatal(err)
			}
			first := h.clock.Now()
			h.clock.Set(h.clock.Now().Add(3 * time.Hour))
			e := startEngine(t, h, h.notifier)
			if _, err := e.Record(ctx, stormBatch("shell", sites[40:60], 15)); err != nil {
				t.Fatal(err)
			}
			if got, _ := snapshotStorm(t, h); got.Alarms != 0 {
				t.Fatalf("%+v: counts from two hours ago made a storm", got)
			}
			if n := h.count(t, `SELECT COUNT(*) FROM storm_counts WHERE at <= ?`, first.UnixMicro()); n != 0 {
				t.Errorf("%d storm count rows from three hours ago kept (twice the window is two)", n)
			}
		})
	})
}

// A storm seen by another process recording into the same store (an audit
// --record beside the daemon) holds notices the daemon must not release on
// that storm's own failing results: it waits while the storm is on, and
// after the hand-over only its own later checks decide.
func TestStormOfAnotherProcess(t *testing.T) {
	eachDriver(t, func(t *testing.T, drv store.Dialect) {
		ctx := context.Background()
		sites := domains(40)
		h := newHarnessOn(t, drv)
		h.cfg.Lifecycle.FailureThreshold = 1
		h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10}
		h.inv["shell"] = sites
		daemon := startEngine(t, h, h.notifier) // its guard never sees the audit's results
		h.clock.Set(h.clock.Now().Add(time.Minute))
		audit := h.engine(t)
		if err := audit.LoadStorm(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.Record(ctx, stormBatch("shell", sites, 30)); err != nil {
			t.Fatal(err)
		}
		if got, _ := snapshotStorm(t, h); got.Alarms != 1 || got.OwnerHeld != 30 {
			t.Fatalf("after the audit's storm: %+v, want 1 alarm and 30 held", got)
		}

		h.clock.Set(h.clock.Now().Add(time.Minute))
		rep, err := daemon.SettleHeld(ctx, h.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if rep.Released != 0 || rep.Dropped != 0 {
			t.Fatalf("while the audit's storm is on: %+v, want every held notice waiting", rep)
		}

		// The audit stops: its failing results are from the storm, and do not
		// decide anything.
		h.clock.Set(h.clock.Now().Add(time.Minute))
		if err := audit.HandOverStorms(ctx); err != nil {
			t.Fatal(err)
		}
		h.clock.Set(h.clock.Now().Add(time.Minute))
		if rep, err = daemon.SettleHeld(ctx, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if rep.Released != 0 || rep.Dropped != 0 {
			t.Fatalf("after the hand-over, before any new check: %+v, want every held notice waiting", rep)
		}

		// The daemon's own checks: 10 sites pass now, and their notices are
		// dropped; the other 20 still wait.
		var fixed []store.SiteResult
		for _, d := range sites[:10] {
			fixed = append(fixed, passing(d, "shell"))
		}
		if _, err := daemon.Record(ctx, fixed); err != nil {
			t.Fatal(err)
		}
		h.clock.Set(h.clock.Now().Add(time.Minute))
		if rep, err = daemon.SettleHeld(ctx, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if rep.Released != 0 || rep.Dropped != 10 {
			t.Fatalf("after the daemon's own checks: %+v, want 10 dropped and none released", rep)
		}
	})
}

// A storm that ends is recorded as ended, so the next start does not carry
// it over.
func TestStormEndRecorded(t *testing.T) {
	eachDriver(t, func(t *testing.T, drv store.Dialect) {
		ctx := context.Background()
		h := newHarnessOn(t, drv)
		h.cfg.Lifecycle.FailureThreshold = 1
		h.cfg.Storm = lifecycle.StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10}
		e := h.engine(t)
		if _, err := e.Record(ctx, stormBatch("shell", domains(40), 30)); err != nil {
			t.Fatal(err)
		}
		if n := h.count(t, `SELECT COUNT(*) FROM storm_state WHERE check_name = 'shell' AND storming <> 0`); n != 1 {
			t.Fatalf("storm not recorded as on")
		}
		h.clock.Set(h.clock.Now().Add(2 * time.Hour)) // the window slides empty
		if _, err := e.SettleHeld(ctx, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if n := h.count(t, `SELECT COUNT(*) FROM storm_state WHERE check_name = 'shell' AND storming = 0`); n != 1 {
			t.Fatalf("storm end not recorded")
		}
		next := h.engine(t)
		if err := next.LoadStorm(ctx); err != nil {
			t.Fatal(err)
		}
		if got := next.Storm().Storming(); len(got) != 0 {
			t.Errorf("an ended storm was carried over: %v", got)
		}
	})
}
