package engine

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
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
