package lifecycle

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// StormConfig says when many sites failing one check at once is more
// likely our fault (resolver down, network cut, a bad deploy) than theirs.
type StormConfig struct {
	// Window is how far back runs are counted.
	Window time.Duration
	// Share of the conclusive runs in the window that failed, at or above
	// which the check is storming (0 < Share <= 1).
	Share float64
	// MinSites distinct failing sites are needed as well, so that a
	// handful of sites failing out of a handful checked is not a storm.
	// Sites, not runs: a check scheduled every few minutes on a small
	// farm must not reach it by counting the same sites again.
	MinSites int
	// Settle is how long a new violation's owner notice waits before it
	// may be sent, so that a storm declared meanwhile holds it like the
	// rest: with a failure threshold of 1, the first wave of a storm
	// opens violations before the guard has seen enough to engage.
	// Zero sends at once.
	Settle time.Duration
}

// DefaultStormConfig holds owner notices when at least half of the runs of
// a check in the last 15 minutes failed, on at least 20 distinct sites,
// and lets a new violation's notice settle for 2 minutes first: the
// daemon's built-in lifecycle.storm (a test in monitor keeps them equal).
func DefaultStormConfig() StormConfig {
	return StormConfig{Window: 15 * time.Minute, Share: 0.5, MinSites: 20, Settle: 2 * time.Minute}
}

// Validate reports every problem of c at once.
func (c StormConfig) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("storm guard: window must be positive, got %s", c.Window))
	}
	if !(c.Share > 0 && c.Share <= 1) {
		errs = append(errs, fmt.Errorf("storm guard: share must be in (0, 1], got %v", c.Share))
	}
	if c.MinSites < 1 {
		errs = append(errs, fmt.Errorf("storm guard: min_sites must be at least 1, got %d", c.MinSites))
	}
	if c.Settle < 0 {
		errs = append(errs, fmt.Errorf("storm guard: settle must not be negative, got %s", c.Settle))
	}
	return errors.Join(errs...)
}

// stormBuckets is how finely the window is cut. Counts live in buckets so
// memory stays constant whatever the inventory size; a run leaves the
// window at most Window/stormBuckets late.
const stormBuckets = 30

// StormGuard counts, per check, the conclusive runs and the failing runs
// of a sliding window. It does no I/O and reads no clock: time comes in
// with every call. It is safe for concurrent use (check workers run in
// parallel). Its counts live in memory; the engine keeps them in the store
// (StormCount) and Restores them after a restart.
type StormGuard struct {
	cfg    StormConfig
	width  time.Duration
	mu     sync.Mutex
	checks map[string]*stormWindow
}

type stormWindow struct {
	// buckets[i] counts runs in the bucket numbered slot[i] (absolute
	// bucket number, time/width); stale slots are reset lazily.
	slot    [stormBuckets]int64
	checked [stormBuckets]int
	failed  [stormBuckets]int
	// sites maps each site that failed within the window to the bucket of
	// its latest failure, for MinSites. It holds at most the sites that
	// failed within one window, and is pruned as they leave it.
	sites    map[string]int64
	storming bool
}

// StormStatus is what the guard knows about one check right now.
type StormStatus struct {
	Check    string
	Checked  int // conclusive runs in the window
	Failed   int // failing runs in the window
	Sites    int // distinct sites that failed in the window
	Storming bool
	// Started is true only on the observation that turned the storm on,
	// and Ended only on the one that turned it off, so callers raise the
	// alarm (and clear it) exactly once per episode.
	Started bool
	Ended   bool
}

// Share is Failed/Checked (0 when nothing was checked).
func (s StormStatus) Share() float64 {
	if s.Checked == 0 {
		return 0
	}
	return float64(s.Failed) / float64(s.Checked)
}

// NewStormGuard validates cfg and returns an empty guard.
func NewStormGuard(cfg StormConfig) (*StormGuard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	width := cfg.Window / stormBuckets
	if width <= 0 {
		width = 1
	}
	return &StormGuard{cfg: cfg, width: width, checks: map[string]*stormWindow{}}, nil
}

// Observe counts a batch of runs of check finished at now: checked
// conclusive (pass or fail) runs, of which those of the failing sites
// failed (one entry per failing run). Inconclusive and not_applicable runs
// are not counted at all: they never notify, and counting them would
// dilute the share. (The engine's second guard, for inconclusive storms,
// counts all runs and the inconclusive ones as failing.) It returns the
// status after the batch.
func (g *StormGuard) Observe(now time.Time, check string, checked int, failing []string) StormStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.window(check)
	b := g.bucket(now)
	failing = failing[:min(len(failing), max(checked, 0))]
	w.add(b, checked, len(failing))
	for _, d := range failing {
		if w.sites[d] < b {
			w.sites[d] = b
		}
	}
	return g.status(now, check, w)
}

// StormSite is a site's latest failure of a check, as kept in the run
// history, for Restore.
type StormSite struct {
	Check  string
	Domain string
	At     time.Time
}

// add counts into bucket b, taking over a slot an older bucket held.
func (w *stormWindow) add(b int64, checked, failed int) {
	i := int(mod(b, stormBuckets))
	if w.slot[i] != b {
		w.slot[i], w.checked[i], w.failed[i] = b, 0, 0
	}
	checked = max(checked, 0)
	w.checked[i] += checked
	w.failed[i] += min(max(failed, 0), checked)
}

// StormCount is what a batch, or a whole window bucket, counted for one
// check: conclusive runs, and of them failing ones, in the bucket that
// starts At. The engine keeps them in the store so that a restart does not
// empty the guard's window.
type StormCount struct {
	Check           string
	At              time.Time
	Checked, Failed int
}

// BucketStart is the start of the window bucket holding now.
func (g *StormGuard) BucketStart(now time.Time) time.Time {
	return time.Unix(0, g.bucket(now)*int64(g.width)).UTC()
}

// Restore loads what an earlier process counted and which checks it left
// storming. Counts whose bucket has left the window of now are ignored. A
// storm carried over is not started again (no second alarm); if its
// window has calmed down meanwhile, the next look reports it ended.
//
// sites are the sites' latest failures, from the run history: the
// distinct-site count of MinSites is not in the counts.
func (g *StormGuard) Restore(now time.Time, counts []StormCount, sites []StormSite, storming []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cur := g.bucket(now)
	for _, c := range counts {
		// The middle of the stored bucket: the store keeps microseconds,
		// and a window changed in the configuration since re-buckets.
		b := g.bucket(c.At.Add(g.width / 2))
		if age := cur - b; age < 0 || age >= stormBuckets {
			continue
		}
		g.window(c.Check).add(b, c.Checked, c.Failed)
	}
	for _, s := range sites {
		b := g.bucket(s.At)
		if age := cur - b; age < 0 || age >= stormBuckets {
			continue
		}
		w := g.window(s.Check)
		if w.sites[s.Domain] < b {
			w.sites[s.Domain] = b
		}
	}
	for _, check := range storming {
		g.window(check).storming = true
	}
}

// Storming lists the checks the guard considers storming, sorted.
func (g *StormGuard) Storming() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for check, w := range g.checks {
		if w.storming {
			out = append(out, check)
		}
	}
	slices.Sort(out)
	return out
}

// Unobserve takes back counts that Observe added at now, for a caller
// whose transaction recording them did not commit: the batch is retried
// and would otherwise be counted twice, inflating the share of failures.
// Counts whose bucket has already left the window are gone anyway. The
// failing sites are left: the retried batch names the same sites, and a
// site counts once however often it failed.
func (g *StormGuard) Unobserve(now time.Time, check string, checked, failed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.window(check)
	b := g.bucket(now)
	i := int(mod(b, stormBuckets))
	if w.slot[i] != b {
		return
	}
	checked = max(checked, 0)
	failed = min(max(failed, 0), checked)
	w.checked[i] = max(w.checked[i]-checked, 0)
	w.failed[i] = max(w.failed[i]-failed, 0)
}

// Status is the current status of check without counting anything (Started
// and Ended report a change since the last call, as with Observe).
func (g *StormGuard) Status(now time.Time, check string) StormStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status(now, check, g.window(check))
}

// Rearm undoes the edge (Started or Ended) that st reported, for a caller
// whose transaction acting on it did not commit: the next look reports the
// edge again, so the storm alarm or the settling is not lost with the
// rolled-back transaction.
func (g *StormGuard) Rearm(st StormStatus) {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.window(st.Check)
	switch {
	case st.Started:
		w.storming = false
	case st.Ended:
		w.storming = true
	}
}

// Peek is the current status of check for display (metrics): it counts
// nothing and, unlike Status, consumes no Started or Ended edge, which
// belong to the engine that raises and settles the alarm.
func (g *StormGuard) Peek(now time.Time, check string) StormStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	w := g.window(check)
	saved := w.storming
	st := g.status(now, check, w)
	w.storming = saved
	st.Started, st.Ended = false, false
	return st
}

func (g *StormGuard) window(check string) *stormWindow {
	w := g.checks[check]
	if w == nil {
		w = &stormWindow{sites: map[string]int64{}}
		for i := range w.slot {
			w.slot[i] = -1 << 62
		}
		g.checks[check] = w
	}
	return w
}

func (g *StormGuard) bucket(t time.Time) int64 { return t.UnixNano() / int64(g.width) }

func (g *StormGuard) status(now time.Time, check string, w *stormWindow) StormStatus {
	cur := g.bucket(now)
	st := StormStatus{Check: check}
	for i := range w.slot {
		if age := cur - w.slot[i]; age >= 0 && age < stormBuckets {
			st.Checked += w.checked[i]
			st.Failed += w.failed[i]
		}
	}
	for d, b := range w.sites {
		if age := cur - b; age >= 0 && age < stormBuckets {
			st.Sites++
		} else if age >= stormBuckets {
			delete(w.sites, d)
		}
	}
	st.Storming = st.Sites >= g.cfg.MinSites && st.Share() >= g.cfg.Share
	st.Started = st.Storming && !w.storming
	st.Ended = !st.Storming && w.storming
	w.storming = st.Storming
	return st
}

func mod(a, n int64) int64 {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}
