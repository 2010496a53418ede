package monitor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/beianwatch/beianwatch/checks"
)

// SiteOutcome is what the checks said about one site in one pass.
type SiteOutcome struct {
	Site *checks.Site
	// Results are in the order the checks were asked for.
	Results []checks.Result
	// Started and Finished bracket the site's checks.
	Started, Finished time.Time
}

// RunnerOptions configure a Runner.
type RunnerOptions struct {
	// Concurrency is how many sites are checked at once (at least 1). The
	// per-address politeness limit lives in the fetcher's dialer, so a
	// high concurrency still never hammers one shared host.
	Concurrency int
	// KeepNotApplicable reports a check that does not apply to a site as a
	// not_applicable result instead of leaving it out (for an explicit
	// --only list).
	KeepNotApplicable bool
	// Clock stamps Started and Finished; nil means time.Now.
	Clock func() time.Time
	// PerHost bounds the sites of one shared host (checks.per_ip_concurrency)
	// in progress at once, across every Run of the Runner; 0 means no
	// bound. A site's host is the single address it is filed at. The
	// dialer's limit still holds the connections; this keeps the
	// Runner's workers from all waiting on one busy host's slots while
	// sites of other hosts are ready (see Run).
	PerHost int
}

// Runner runs checks over many sites at a bounded concurrency. It is the
// one loop behind `beianwatch audit` and the daemon's check batches, so
// both judge a site the same way. It is safe for concurrent use.
type Runner struct {
	checks map[string]checks.Checker
	opts   RunnerOptions
	hosts  *hostSlots
}

// NewRunner runs the checks in byName (by check name, as
// Checkers.ByName).
func NewRunner(byName map[string]checks.Checker, opts RunnerOptions) *Runner {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	m := make(map[string]checks.Checker, len(byName))
	for k, v := range byName {
		m[k] = v
	}
	return &Runner{checks: m, opts: opts, hosts: newHostSlots(opts.PerHost)}
}

// Run checks every site with the named checks, in that order, and calls
// each once per site whose checks all finished. Calls to each come from
// one goroutine at a time, in completion order, so each needs no lock;
// a slow each slows the run down but loses nothing.
//
// When ctx ends, no new site is started and the sites in progress are not
// reported: their results would describe the interruption (timeouts,
// cancelled fetches), not the site. Run then returns ctx's error with the
// number of sites reported so far; the caller can tell a partial pass
// from a whole one. Unknown check names are an error before anything runs;
// nil sites are skipped.
func (r *Runner) Run(ctx context.Context, sites []*checks.Site, names []string, each func(SiteOutcome)) (int, error) {
	cs := make([]checks.Checker, 0, len(names))
	for _, n := range names {
		c, ok := r.checks[n]
		if !ok || c == nil {
			return 0, fmt.Errorf("run checks: unknown check %q", n)
		}
		cs = append(cs, c)
	}
	if each == nil {
		each = func(SiteOutcome) {}
	}

	type job struct {
		site *checks.Site
		host string
	}
	workers := min(r.opts.Concurrency, max(len(sites), 1))
	work := make(chan job, workers)
	// A site is picked only when a worker is free to take it, so that
	// the pick sees which hosts have room at that moment.
	idle := make(chan struct{}, workers)
	out := make(chan SiteOutcome, r.opts.Concurrency)
	var wg sync.WaitGroup
	for range workers {
		idle <- struct{}{}
		wg.Go(func() {
			for j := range work {
				o := r.checkSite(ctx, j.site, cs)
				r.hosts.release(j.host)
				idle <- struct{}{}
				if ctx.Err() != nil {
					continue // interrupted: see Run
				}
				out <- o
			}
		})
	}
	go func() {
		defer close(work)
		q := newHostQueues(sites)
		for {
			select {
			case <-idle:
			case <-ctx.Done():
				return
			}
			s, host := q.next(r.hosts)
			if s == nil {
				return // every site handed out
			}
			work <- job{s, host}
		}
	}()
	go func() {
		wg.Wait()
		close(out)
	}()

	done := 0
	for o := range out {
		each(o)
		done++
	}
	return done, ctx.Err()
}

func (r *Runner) checkSite(ctx context.Context, s *checks.Site, cs []checks.Checker) SiteOutcome {
	// The footer and shell checks both need the homepage: fetch it once,
	// so a site costs its host one request and both judge the same answer.
	ctx = checks.WithHomepageMemo(ctx)
	o := SiteOutcome{Site: s, Started: r.opts.Clock(), Results: make([]checks.Result, 0, len(cs))}
	for _, c := range cs {
		if !r.opts.KeepNotApplicable {
			if ok, _ := c.Applies(s); !ok {
				continue
			}
		}
		o.Results = append(o.Results, runGuarded(ctx, c, s))
	}
	o.Finished = r.opts.Clock()
	return o
}

// runGuarded runs one check, turning a panic (a parser tripping over a
// hostile page) into an inconclusive result for this site, so one bad
// page never stops a pass over the whole inventory.
func runGuarded(ctx context.Context, c checks.Checker, s *checks.Site) (res checks.Result) {
	defer func() {
		if p := recover(); p != nil {
			res = checks.Result{
				Check:    c.Name(),
				Outcome:  checks.Inconclusive,
				Reason:   fmt.Sprintf("internal error in the %s check: %v", c.Name(), p),
				Findings: []checks.Finding{},
			}
		}
	}()
	return checks.Run(ctx, c, s)
}
