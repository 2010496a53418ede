package engine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a check's schedule, written as a cron spec ("*/10 * * * *",
// "@daily", "CRON_TZ=Asia/Shanghai 0 3 * * *") or "@every 6h".
//
// A schedule does not say when every site is checked; it cuts time into
// intervals (between consecutive fire times; for "@every d", consecutive
// multiples of d since the Unix epoch) and each site is checked once per
// interval, at a stable offset within it derived from a hash of its domain
// and the check. So "@every 6h" over 100,000 sites checks about 280 sites
// a minute, and "0 3 * * *" means "once a day, spread over the day from
// 03:00", not "everything at 03:00".
type Schedule struct {
	spec  string
	every time.Duration // set for "@every" schedules
	cron  cron.Schedule // set otherwise
}

// minInterval is the shortest interval accepted: the dispatcher runs about
// as often as the fastest schedule needs (a quarter of its interval, at
// least every second); sub-minute schedules are for labs, demos and tests.
const minInterval = time.Second

// ParseSchedule parses a cron spec (robfig/cron standard syntax, with
// descriptors such as @hourly, @daily, @weekly and @every).
func ParseSchedule(spec string) (Schedule, error) {
	if spec == "" {
		return Schedule{}, errors.New("empty schedule")
	}
	sch, err := cron.ParseStandard(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", spec, err)
	}
	if cd, ok := sch.(cron.ConstantDelaySchedule); ok {
		// robfig/cron rounds "@every 500ms" up to a second; judge what was written.
		if rest, ok := strings.CutPrefix(spec, "@every "); ok {
			if d, err := time.ParseDuration(strings.TrimSpace(rest)); err == nil && d < cd.Delay {
				cd.Delay = d
			}
		}
		if cd.Delay < minInterval {
			return Schedule{}, fmt.Errorf("schedule %q: interval %s is shorter than %s", spec, cd.Delay, minInterval)
		}
		return Schedule{spec: spec, every: cd.Delay}, nil
	}
	// A spec that never fires (e.g. 30 February) makes Next return zero.
	ref := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if n := sch.Next(ref); n.IsZero() {
		return Schedule{}, fmt.Errorf("schedule %q never fires", spec)
	} else if sch.Next(n).IsZero() {
		return Schedule{}, fmt.Errorf("schedule %q fires only once", spec)
	}
	return Schedule{spec: spec, cron: sch}, nil
}

// String is the spec as written.
func (s Schedule) String() string { return s.spec }

// IntervalAt is the interval [start, end) that contains t.
func (s Schedule) IntervalAt(t time.Time) (start, end time.Time) {
	if s.every > 0 {
		n := t.UnixNano()
		d := int64(s.every)
		k := n / d
		if n%d < 0 {
			k--
		}
		start = time.Unix(0, k*d).In(t.Location())
		return start, start.Add(s.every)
	}
	// robfig/cron has no "previous fire time": step back until a fire
	// time at or before t is found, doubling the step, then walk forward
	// to the last one.
	next := s.cron.Next(t)
	step := s.cron.Next(next).Sub(next)
	if step < minInterval {
		step = minInterval
	}
	for range 40 {
		f := s.cron.Next(t.Add(-step))
		if !f.IsZero() && !f.After(t) {
			for {
				n := s.cron.Next(f)
				if n.IsZero() || n.After(t) {
					return f, n
				}
				f = n
			}
		}
		step *= 2
	}
	// Unreachable for a schedule that fires at least twice in five years
	// (checked by ParseSchedule); fall back to a sane interval.
	return t.Add(-step), next
}

// Offset is the site's stable position within an interval of the given
// length: FNV-1a of domain and check, modulo the length. Different checks
// of one site land at different offsets, so one site is not hit by every
// check at once.
func Offset(domain, check string, length time.Duration) time.Duration {
	if length <= 0 {
		return 0
	}
	return time.Duration(siteHash(domain, check) % uint64(length))
}

func siteHash(domain, check string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(check))
	return h.Sum64()
}

// maxWindowIntervals bounds the intervals examined per dispatch: beyond
// two, the window covers a whole interval and every site is due anyway.
const maxWindowIntervals = 2

// Due returns the domains due in the window (last, now]: those whose due
// time, start + Offset within some interval, falls in the window. Each due
// time belongs to exactly one window, so consecutive windows never repeat
// or skip a site. A window covering a whole interval (the daemon was down)
// makes every site due once, not once per missed interval.
func (s Schedule) Due(check string, domains []string, last, now time.Time) []string {
	if !now.After(last) {
		return nil
	}
	type interval struct {
		start time.Time
		len   time.Duration
	}
	var ivs []interval
	a, b := s.IntervalAt(last)
	for !a.After(now) {
		if (a.After(last) && !b.After(now.Add(time.Nanosecond))) || len(ivs) == maxWindowIntervals {
			// [a, b) lies inside (last, now]: everyone is due.
			return append([]string(nil), domains...)
		}
		ivs = append(ivs, interval{a, b.Sub(a)})
		a, b = s.IntervalAt(b)
	}
	var due []string
	for _, d := range domains {
		h := siteHash(d, check)
		for _, iv := range ivs {
			at := iv.start.Add(time.Duration(h % uint64(iv.len)))
			if at.After(last) && !at.After(now) {
				due = append(due, d)
				break
			}
		}
	}
	return due
}

// firstRuns brings sites the store has never checked forward: a new
// database, or a site just added to the inventory, would otherwise wait
// for its offset within the check's interval, up to six hours for
// "@every 6h", and an operator who has just added sites wants to see them
// judged today. A site never checked gets its first run within `within`
// (or within the check's interval, when that is shorter, since the usual
// schedule then comes sooner anyway), at its hash offset within that
// window, so that a fresh database of 100,000 sites still ramps up evenly
// rather than at once. After its first dispatch the site keeps its usual
// place in the interval.
//
// known holds, per check, a hash of every site that needs no first run:
// those with a result in the store (loaded once, at the check's first
// dispatch) and those dispatched since. A site dispatched but not yet
// checked is therefore not dispatched again by this path; if its job is
// lost, the usual schedule still reaches it. Hashes (8 bytes a site)
// rather than domains keep the set small beside the inventory; a
// collision could only cost one site its early run, never a check.
type firstRuns struct {
	within time.Duration // 0: off

	mu      sync.Mutex
	known   map[string]map[uint64]struct{}
	waiting map[string]int // never-checked sites the last dispatch saw, per check
}

func newFirstRuns(within time.Duration) *firstRuns {
	return &firstRuns{within: within, known: map[string]map[uint64]struct{}{}, waiting: map[string]int{}}
}

// loaded reports whether check's known set has been loaded.
func (f *firstRuns) loaded(check string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.known[check]
	return ok
}

// load sets check's known set from the domains the store has results for.
func (f *firstRuns) load(check string, checked []string) {
	set := make(map[uint64]struct{}, len(checked))
	for _, d := range checked {
		set[siteHash(d, check)] = struct{}{}
	}
	f.mu.Lock()
	f.known[check] = set
	f.mu.Unlock()
}

// fresh lists the domains check has never run on nor dispatched.
func (f *firstRuns) fresh(check string, domains []string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	known := f.known[check]
	var out []string
	for _, d := range domains {
		if _, ok := known[siteHash(d, check)]; !ok {
			out = append(out, d)
		}
	}
	return out
}

// window is how long a new site waits at most for its first run under s at
// now, and whether that is sooner than the usual schedule gives.
func (f *firstRuns) window(s Schedule, now time.Time) (time.Duration, bool) {
	if f.within <= 0 {
		return 0, false
	}
	start, end := s.IntervalAt(now)
	if iv := end.Sub(start); f.within < iv {
		return f.within, true
	}
	return 0, false
}

// Due returns those of the fresh domains whose first run falls in the
// window (last, now]: their offset within consecutive spans of the first-
// run window, measured like an "@every" schedule's.
func (f *firstRuns) Due(check string, s Schedule, fresh []string, last, now time.Time) []string {
	w, sooner := f.window(s, now)
	if !sooner || len(fresh) == 0 {
		return nil
	}
	return Schedule{spec: "first run", every: w}.Due(check, fresh, last, now)
}

// dispatched notes, once their jobs are committed, that domains need no
// first run, and records how many never-checked sites are still waiting.
// It returns the number waiting before, so the caller can tell the start
// of a wave of new sites.
func (f *firstRuns) dispatched(check string, domains []string, waiting int) (before int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.known[check]
	if set == nil {
		set = map[uint64]struct{}{}
		f.known[check] = set
	}
	for _, d := range domains {
		set[siteHash(d, check)] = struct{}{}
	}
	before = f.waiting[check]
	f.waiting[check] = waiting
	return before
}

// union is a followed by the elements of b not in a.
func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	seen := make(map[string]struct{}, len(a))
	for _, d := range a {
		seen[d] = struct{}{}
	}
	for _, d := range b {
		if _, ok := seen[d]; !ok {
			a = append(a, d)
			seen[d] = struct{}{}
		}
	}
	return a
}
