package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/pgtest"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// BenchmarkDispatchFullInterval dispatches one whole 6h interval for
// 100,000 sites in one-minute windows (360 dispatches, about 2,000 batch
// jobs inserted): the work a day-one daemon does every six hours.
func BenchmarkDispatchFullInterval(b *testing.B) {
	ctx := context.Background()
	sites := domains(100000)
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b)
		h.inv["footer"] = sites
		e := h.engine(b)
		start, end := mustSchedule(b, "@every 6h").IntervalAt(t0)
		if _, err := e.Dispatch(ctx, start); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for now := start.Add(time.Minute); !now.After(end); now = now.Add(time.Minute) {
			if _, err := e.Dispatch(ctx, now); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if n := h.count(b, `SELECT COUNT(*) FROM river_job WHERE kind = 'check_batch'`); n < 2000 {
			b.Fatalf("only %d jobs", n)
		}
		h.st.Close()
		b.StartTimer()
	}
}

// BenchmarkDueOneMinute is the pure scheduling part of one dispatch: which
// of 100,000 sites are due in a one-minute window.
func BenchmarkDueOneMinute(b *testing.B) {
	sites := domains(100000)
	s := mustSchedule(b, "@every 6h")
	for b.Loop() {
		s.Due("footer", sites, t0, t0.Add(time.Minute))
	}
}

// BenchmarkRecordBatch50 records a batch of 50 results (10 failing, so
// violations open and notices with notify jobs are created every other
// batch) in one transaction, as a check worker does.
func BenchmarkRecordBatch50(b *testing.B) {
	ctx := context.Background()
	h := newHarness(b)
	e := h.engine(b)
	i := 0
	for b.Loop() {
		batch := make([]store.SiteResult, 50)
		for j := range batch {
			d := fmt.Sprintf("site%06d.example.cn", (i*50+j)%20000)
			r := beian.Result{Check: "footer", Outcome: beian.Pass, Findings: []beian.Finding{}}
			if j%5 == 0 {
				r.Outcome = beian.Fail
				r.Findings = []beian.Finding{{Code: "footer_link_missing", Severity: beian.Violation, Message: "not linked", Evidence: "京ICP备12345678号-1"}}
			}
			batch[j] = store.SiteResult{Domain: d, Result: r}
		}
		h.clock.Set(t0.Add(time.Duration(i) * time.Minute))
		if _, err := e.Record(ctx, batch); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRiverJobs measures the job queue on each driver: check_batch
// jobs of one site each (a fake runner that passes at once), from insert
// through River's fetch, the worker's recording transaction and
// completion. It reports jobs/s; the checks themselves cost nothing here.
func BenchmarkRiverJobs(b *testing.B) {
	for _, drv := range []store.Dialect{store.SQLite, store.Postgres} {
		b.Run(string(drv), func(b *testing.B) {
			if drv == store.Postgres {
				pgtest.Skip(b)
			}
			ctx := context.Background()
			const jobs = 500
			var done int
			for b.Loop() {
				b.StopTimer()
				h := newHarnessOn(b, drv)
				h.cfg.BatchSize = 1
				h.cfg.CheckWorkers = 16
				h.cfg.FetchPollInterval = 100 * time.Millisecond
				e := h.engine(b)
				sites := domains(jobs)
				if _, err := e.Trigger(ctx, "footer", sites); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := e.Start(ctx); err != nil {
					b.Fatal(err)
				}
				for h.count(b, `SELECT COUNT(*) FROM runs`) < jobs {
					time.Sleep(20 * time.Millisecond)
				}
				b.StopTimer()
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				e.Stop(sctx)
				cancel()
				done += jobs
				b.StartTimer()
			}
			b.ReportMetric(float64(done)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}
