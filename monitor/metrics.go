package monitor

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/engine"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/metrics"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// daemonMetrics connects the daemon to its metrics, registered on the
// registry the daemon owns.
type daemonMetrics struct {
	d *Daemon
	m *metrics.Metrics
}

func newDaemonMetrics(d *Daemon) *daemonMetrics {
	d.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(d.registry, metrics.BuildInfo{Version: d.opts.Version, GoVersion: runtime.Version()})
	dm := &daemonMetrics{d: d, m: m}
	m.SetSnapshot(dm.snapshot)
	return dm
}

func (dm *daemonMetrics) observeCheck(r checks.Result) {
	var codes []string
	for _, f := range r.Findings {
		codes = append(codes, f.Code)
	}
	dm.m.ObserveCheck(r.Check, string(r.Outcome), time.Duration(r.DurationMS)*time.Millisecond, codes)
}

func (dm *daemonMetrics) observeNotice(channel, kind, result string, d time.Duration) {
	dm.m.ObserveNotice(channel, kind, result, d)
}

func (dm *daemonMetrics) observeDispatch(reports []engine.DispatchReport) {
	for _, r := range reports {
		dm.m.ObserveDispatch(r.Check, r.Jobs, r.Through)
	}
}

func (dm *daemonMetrics) setInventory(ok bool, rejected int) { dm.m.SetInventory(ok, rejected) }

// updateStorm publishes the storm guard's state; the guard lives in the
// engine's memory, so it is polled, with Peek: Status would consume the
// storm's start and end, which the engine needs to raise and settle it.
func (dm *daemonMetrics) updateStorm(now time.Time) {
	for _, c := range checks.AllChecks {
		dm.m.SetStorm(c, dm.d.engine.Storm().Peek(now, c).Storming)
	}
}

// snapshot is read at scrape time: sites by status from the inventory,
// active violations and the notice queue from the store.
func (dm *daemonMetrics) snapshot() metrics.SnapshotData {
	d := dm.d
	out := metrics.SnapshotData{SitesByStatus: map[string]int{}}
	for _, st := range checks.Statuses {
		out.SitesByStatus[string(st)] = 0
	}
	for _, s := range d.watcher.Current().Sites {
		out.SitesByStatus[string(s.Status)]++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	vs, err := d.store.Violations(ctx, store.ViolationFilter{
		Statuses: []lifecycle.Status{lifecycle.StatusOpen, lifecycle.StatusEscalated}, Limit: 1 << 30,
	})
	if err != nil {
		out.Err = err
		return out
	}
	for _, v := range vs {
		out.Violations = append(out.Violations, metrics.Violation{
			Site: v.Domain, Code: v.Code, State: string(v.Status), OpenedAt: v.OpenedAt, Deadline: v.Deadline,
		})
	}
	counts, err := d.store.NoticeCounts(ctx)
	if err != nil {
		out.Err = err
		return out
	}
	out.NoticeQueueDepth = counts[store.NoticeQueued] + counts[store.NoticeSending] + counts[store.NoticeHeld]
	if out.Exemptions, err = d.store.ExemptionCounts(ctx, d.now()); err != nil {
		out.Err = err
	}
	return out
}

// renderMetrics feeds the renderer's events to the daemon's metrics,
// which are built after the checks.
type renderMetrics struct{ d *Daemon }

func (r renderMetrics) Rendered(result string, d time.Duration) {
	if r.d.metrics != nil {
		r.d.metrics.m.Rendered(result, d)
	}
}

func (r renderMetrics) BrowserRestarted() {
	if r.d.metrics != nil {
		r.d.metrics.m.BrowserRestarted()
	}
}

func (r renderMetrics) TabsInUse(n int) {
	if r.d.metrics != nil {
		r.d.metrics.m.TabsInUse(n)
	}
}
