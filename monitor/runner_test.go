package monitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
)

// runnerFake is a check whose verdict and applicability are decided per
// domain, and that measures how many sites it is checking at once.
type runnerFake struct {
	name     string
	delay    time.Duration
	applies  func(*checks.Site) bool
	outcome  func(*checks.Site) checks.Outcome
	panicOn  string
	inFlight atomic.Int32
	peak     atomic.Int32
	calls    atomic.Int32
	// started is closed-over by tests that cancel mid-run.
	onStart func()
}

func (f *runnerFake) Name() string { return f.name }

func (f *runnerFake) Applies(s *checks.Site) (bool, string) {
	if f.applies != nil && !f.applies(s) {
		return false, "not for this site"
	}
	return true, ""
}

func (f *runnerFake) Check(ctx context.Context, s *checks.Site) checks.Result {
	f.calls.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	if f.onStart != nil {
		f.onStart()
	}
	if s.Domain == f.panicOn {
		panic("hostile page")
	}
	select {
	case <-time.After(f.delay):
	case <-ctx.Done():
		return checks.Result{Outcome: checks.Inconclusive, Reason: "interrupted"}
	}
	o := checks.Pass
	if f.outcome != nil {
		o = f.outcome(s)
	}
	r := checks.Result{Outcome: o}
	if o == checks.Fail {
		r.Findings = []checks.Finding{{Code: f.name + "_bad", Severity: checks.Violation, Message: "bad"}}
	}
	return r
}

func runnerSites(n int) []*checks.Site {
	out := make([]*checks.Site, n)
	for i := range out {
		out[i] = &checks.Site{Domain: fmt.Sprintf("s%03d.example.cn", i), Status: checks.StatusFiled}
	}
	return out
}

func TestRunnerChecksEverySiteInOrderWithinConcurrency(t *testing.T) {
	footer := &runnerFake{name: "footer", delay: 5 * time.Millisecond,
		outcome: func(s *checks.Site) checks.Outcome {
			if s.Domain == "s003.example.cn" {
				return checks.Fail
			}
			return checks.Pass
		}}
	dns := &runnerFake{name: "dns", applies: func(s *checks.Site) bool { return s.Status == checks.StatusFirstFilingPending }}
	sites := runnerSites(40)
	sites[7].Status = checks.StatusFirstFilingPending
	sites = append(sites, nil) // skipped, not a crash

	tests := []struct {
		name   string
		keepNA bool
		// wantChecks per domain
		want func(domain string) []string
	}{
		{"applicable only", false, func(d string) []string {
			if d == "s007.example.cn" {
				return []string{"footer", "dns"}
			}
			return []string{"footer"}
		}},
		{"explicit list keeps not applicable", true, func(string) []string { return []string{"footer", "dns"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			footer.peak.Store(0)
			r := NewRunner(map[string]checks.Checker{"footer": footer, "dns": dns},
				RunnerOptions{Concurrency: 4, KeepNotApplicable: tt.keepNA})
			seen := map[string]SiteOutcome{}
			var inEach atomic.Int32
			n, err := r.Run(context.Background(), sites, []string{"footer", "dns"}, func(o SiteOutcome) {
				if inEach.Add(1) != 1 {
					t.Error("each called concurrently")
				}
				defer inEach.Add(-1)
				if _, dup := seen[o.Site.Domain]; dup {
					t.Errorf("%s reported twice", o.Site.Domain)
				}
				seen[o.Site.Domain] = o
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != 40 || len(seen) != 40 {
				t.Fatalf("reported %d (%d distinct), want 40", n, len(seen))
			}
			for d, o := range seen {
				var got []string
				for _, res := range o.Results {
					got = append(got, res.Check)
					wantOutcome := checks.Pass
					switch {
					case res.Check == "dns" && d != "s007.example.cn":
						wantOutcome = checks.NotApplicable
					case res.Check == "footer" && d == "s003.example.cn":
						wantOutcome = checks.Fail
					}
					if res.Outcome != wantOutcome {
						t.Errorf("%s %s: outcome %s, want %s", d, res.Check, res.Outcome, wantOutcome)
					}
				}
				if !slices.Equal(got, tt.want(d)) {
					t.Errorf("%s: checks %v, want %v", d, got, tt.want(d))
				}
				if o.Finished.Before(o.Started) {
					t.Errorf("%s: finished before it started", d)
				}
			}
			if p := footer.peak.Load(); p > 4 {
				t.Errorf("%d sites checked at once, concurrency 4", p)
			} else if p < 2 {
				t.Errorf("peak %d: sites were not checked concurrently", p)
			}
		})
	}
}

func TestRunnerSurvivesAPanickingCheck(t *testing.T) {
	bad := &runnerFake{name: "footer", panicOn: "s002.example.cn"}
	r := NewRunner(map[string]checks.Checker{"footer": bad}, RunnerOptions{Concurrency: 2})
	got := map[string]checks.Result{}
	n, err := r.Run(context.Background(), runnerSites(5), []string{"footer"}, func(o SiteOutcome) {
		got[o.Site.Domain] = o.Results[0]
	})
	if err != nil || n != 5 {
		t.Fatalf("Run = %d, %v; want 5, nil", n, err)
	}
	if res := got["s002.example.cn"]; res.Outcome != checks.Inconclusive || res.Check != "footer" {
		t.Fatalf("panicking check gave %+v, want an inconclusive footer result", res)
	}
	if res := got["s003.example.cn"]; res.Outcome != checks.Pass {
		t.Fatalf("the next site gave %+v, want pass", res)
	}
}

func TestRunnerStopsOnCancelAndReportsOnlyFinishedSites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	var started atomic.Int32
	slow := &runnerFake{name: "footer", delay: 20 * time.Millisecond}
	slow.onStart = func() {
		if started.Add(1) == 10 {
			once.Do(cancel)
		}
	}
	r := NewRunner(map[string]checks.Checker{"footer": slow}, RunnerOptions{Concurrency: 3})
	var reported []SiteOutcome
	n, err := r.Run(ctx, runnerSites(100), []string{"footer"}, func(o SiteOutcome) { reported = append(reported, o) })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
	if n != len(reported) || n >= 10 {
		t.Fatalf("reported %d sites (n=%d); want fewer than the 10 started", len(reported), n)
	}
	for _, o := range reported {
		if o.Results[0].Outcome != checks.Pass {
			t.Errorf("%s reported with %s: an interrupted site leaked into the results", o.Site.Domain, o.Results[0].Outcome)
		}
	}
	if c := slow.calls.Load(); c > 13 {
		t.Errorf("%d sites started after the cancel; the runner kept feeding work", c)
	}
}

func TestRunnerRejectsUnknownCheck(t *testing.T) {
	r := NewRunner(map[string]checks.Checker{"footer": &runnerFake{name: "footer"}}, RunnerOptions{})
	if _, err := r.Run(context.Background(), runnerSites(1), []string{"footer", "fotter"}, nil); err == nil {
		t.Fatal("unknown check name accepted")
	}
}
