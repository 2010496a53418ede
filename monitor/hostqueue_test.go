package monitor

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
)

// gatedCheck holds the sites of one host until every other site has been
// checked: with workers handed sites in inventory order, a batch led by
// that host's sites would never finish.
type gatedCheck struct {
	busyHost   string
	others     int
	othersDone atomic.Int32
	gate       chan struct{}
	once       sync.Once
	othersIn   atomic.Int32 // other sites started
	inFlight   atomic.Int32
	// peak is the most busy-host sites in progress at once while other
	// sites were still waiting for a worker: while more of them had not
	// started than there are workers (the last few may be handed out and
	// not yet started when the busy host's sites take the idle workers).
	peak    atomic.Int32
	workers int
}

func (g *gatedCheck) Name() string                        { return "footer" }
func (g *gatedCheck) Applies(*checks.Site) (bool, string) { return true, "" }

func (g *gatedCheck) Check(ctx context.Context, s *checks.Site) checks.Result {
	if hostOf(s) != g.busyHost {
		g.othersIn.Add(1)
		if int(g.othersDone.Add(1)) == g.others {
			g.once.Do(func() { close(g.gate) })
		}
		return checks.Result{Outcome: checks.Pass}
	}
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for p := g.peak.Load(); n > p && int(g.othersIn.Load()) < g.others-g.workers && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	select {
	case <-g.gate:
		return checks.Result{Outcome: checks.Pass}
	case <-ctx.Done():
		return checks.Result{Outcome: checks.Inconclusive, Reason: "interrupted"}
	}
}

func hostedSites(prefix, addr string, n int) []*checks.Site {
	out := make([]*checks.Site, n)
	for i := range out {
		ip := netip.MustParseAddr(addr)
		out[i] = &checks.Site{Domain: fmt.Sprintf("%s%03d.example.cn", prefix, i), Status: checks.StatusFiled,
			IPRanges: []checks.IPRange{{From: ip, To: ip}}}
	}
	return out
}

func TestRunnerBusyHostDoesNotStarveOthers(t *testing.T) {
	busy := hostedSites("busy", "192.0.2.1", 30)
	var others []*checks.Site
	// Few other hosts with several sites each: going round the hosts
	// alone would give the busy host a worker every round.
	for i := range 3 {
		others = append(others, hostedSites(fmt.Sprintf("h%d-", i), fmt.Sprintf("198.51.100.%d", i+1), 6)...)
	}
	// A site filed at a range has no known host: never held back.
	unkeyed := &checks.Site{Domain: "range.example.cn", Status: checks.StatusFiled,
		IPRanges: []checks.IPRange{{From: netip.MustParseAddr("203.0.113.0"), To: netip.MustParseAddr("203.0.113.255")}}}
	others = append(others, unkeyed)

	tests := []struct {
		name    string
		batches [][]*checks.Site // run at once, on one Runner
		// bounded: the busy host stays within its bound while others
		// wait. A batch with nothing but the busy host's sites left
		// uses its idle workers on them anyway.
		bounded bool
	}{
		{"busy host first in one batch", [][]*checks.Site{append(slices.Clone(busy), others...)}, true},
		{"a batch all one host beside another batch", [][]*checks.Site{busy, others}, false},
		{"two batches of the busy host", [][]*checks.Site{busy[:15], append(slices.Clone(busy[15:]), others...)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &gatedCheck{busyHost: "192.0.2.1", others: len(others), gate: make(chan struct{}), workers: 8}
			r := NewRunner(map[string]checks.Checker{"footer": g}, RunnerOptions{Concurrency: 8, PerHost: 2})
			// Without fairness every worker waits on the gate and the
			// run only ends here.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			var reported atomic.Int32
			for _, b := range tt.batches {
				wg.Go(func() {
					n, err := r.Run(ctx, b, []string{"footer"}, nil)
					if err != nil {
						t.Errorf("run: %v", err)
					}
					reported.Add(int32(n))
				})
			}
			wg.Wait()
			if got, want := int(reported.Load()), len(busy)+len(others); got != want {
				t.Fatalf("%d sites reported of %d: the busy host's sites starved the others", got, want)
			}
			if p := g.peak.Load(); tt.bounded && p > 2 {
				t.Errorf("%d sites of one host checked at once while other hosts' sites waited, per_ip_concurrency 2", p)
			}
		})
	}
}

func TestInterleaveByHost(t *testing.T) {
	host := func(d string) string { return d[:1] }
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"a1", "a2", "a3"}, []string{"a1", "a2", "a3"}},
		{[]string{"a1", "a2", "a3", "b1", "c1", "c2"}, []string{"a1", "b1", "c1", "a2", "c2", "a3"}},
		{[]string{"b1", "a1", "b2"}, []string{"b1", "a1", "b2"}},
	}
	for _, tt := range tests {
		if got := interleaveByHost(tt.in, host); !slices.Equal(got, tt.want) {
			t.Errorf("interleaveByHost(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
