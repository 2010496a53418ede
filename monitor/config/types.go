package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// scalar is implemented by the configuration types that parse themselves
// from one YAML scalar.
type scalar interface {
	parseScalar(s string) error
}

// Schedule is a cron spec parsed with cron.ParseStandard: five fields
// ("*/10 * * * *"), or a descriptor ("@every 6h", "@daily", "@weekly"),
// optionally prefixed with CRON_TZ=Zone. "off" disables the check.
type Schedule struct {
	Spec string
	// Sched is nil when the schedule is off.
	Sched cron.Schedule
}

// Off reports whether the check is disabled.
func (s Schedule) Off() bool { return s.Sched == nil }

// Next is the next activation after t; the zero time when off.
func (s Schedule) Next(t time.Time) time.Time {
	if s.Sched == nil {
		return time.Time{}
	}
	return s.Sched.Next(t)
}

func (s Schedule) String() string { return s.Spec }

func (s *Schedule) parseScalar(v string) error {
	v = strings.TrimSpace(v)
	if v == "off" {
		*s = Schedule{Spec: v}
		return nil
	}
	if v == "" {
		return fmt.Errorf("empty cron spec (write \"off\" to disable the check)")
	}
	sched, err := cron.ParseStandard(v)
	if err == nil {
		err = checkSteps(v)
	}
	if err != nil {
		return fmt.Errorf("bad cron spec %q: %v", v, err)
	}
	if d, ok := everyDuration(v); ok && d < time.Second {
		// robfig/cron rounds @every down to whole seconds; "@every 500ms"
		// would silently become "@every 1s" (or never).
		return fmt.Errorf("bad cron spec %q: interval %v is shorter than a second", v, d)
	}
	*s = Schedule{Spec: v, Sched: sched}
	return nil
}

var cronFields = []struct {
	name     string
	min, max int
}{{"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12}, {"day-of-week", 0, 6}}

// checkSteps rejects steps wider than their field ("*/61" minutes), which
// the cron parser accepts but which fire only once per hour, day or year:
// always a typo for something else.
func checkSteps(spec string) error {
	fields := strings.Fields(spec)
	if len(fields) > 0 && strings.HasPrefix(fields[0], "CRON_TZ=") || len(fields) > 0 && strings.HasPrefix(fields[0], "TZ=") {
		fields = fields[1:]
	}
	if len(fields) != len(cronFields) {
		return nil // a descriptor: nothing to check
	}
	for i, f := range fields {
		for _, part := range strings.Split(f, ",") {
			_, step, ok := strings.Cut(part, "/")
			if !ok {
				continue
			}
			n, err := strconv.Atoi(step)
			if width := cronFields[i].max - cronFields[i].min; err == nil && n > width {
				return fmt.Errorf("%s field %q: step %d is wider than the field (at most %d)", cronFields[i].name, f, n, width)
			}
		}
	}
	return nil
}

// ByteSize is a size in bytes, written as an integer or with a unit: B, KiB,
// MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

func (b *ByteSize) parseScalar(v string) error {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("bad size %q: want bytes as an integer or with a unit (KiB, MiB, GiB, KB, MB, GB)", v)
	}
	if n > (1<<62)/mult {
		return fmt.Errorf("bad size %q: too large", v)
	}
	*b = ByteSize(n * mult)
	return nil
}

// QuietHours is a daily window "HH:MM-HH:MM" during which notices to owners
// are held; it may wrap past midnight ("22:00-08:00"). "" means none.
type QuietHours struct {
	// Start and End are minutes after midnight; End is excluded.
	Start, End int
	Set        bool
}

func (q QuietHours) String() string {
	if !q.Set {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.Start/60, q.Start%60, q.End/60, q.End%60)
}

// Contains reports whether t, read on the wall clock of loc, is inside the
// window.
func (q QuietHours) Contains(t time.Time, loc *time.Location) bool {
	if !q.Set {
		return false
	}
	if loc != nil {
		t = t.In(loc)
	}
	m := t.Hour()*60 + t.Minute()
	if q.Start < q.End {
		return q.Start <= m && m < q.End
	}
	return m >= q.Start || m < q.End
}

// End of the window containing t (the moment held notices may go), or t
// itself when t is outside the window.
func (q QuietHours) Until(t time.Time, loc *time.Location) time.Time {
	if !q.Contains(t, loc) {
		return t
	}
	if loc != nil {
		t = t.In(loc)
	}
	end := time.Date(t.Year(), t.Month(), t.Day(), q.End/60, q.End%60, 0, 0, t.Location())
	if !end.After(t) {
		end = time.Date(t.Year(), t.Month(), t.Day()+1, q.End/60, q.End%60, 0, 0, t.Location())
	}
	return end
}

func (q *QuietHours) parseScalar(v string) error {
	s := strings.TrimSpace(v)
	if s == "" {
		*q = QuietHours{}
		return nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return fmt.Errorf("bad quiet hours %q: want \"HH:MM-HH:MM\" or \"\" for none", v)
	}
	start, err1 := parseClock(a)
	end, err2 := parseClock(b)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad quiet hours %q: want \"HH:MM-HH:MM\" with 00:00..23:59", v)
	}
	if start == end {
		return fmt.Errorf("bad quiet hours %q: start equals end (write \"\" for none)", v)
	}
	*q = QuietHours{Start: start, End: end, Set: true}
	return nil
}

func parseClock(s string) (int, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("bad clock %q", s)
	}
	hh, err := strconv.Atoi(h)
	if err != nil || hh < 0 || hh > 23 {
		return 0, fmt.Errorf("bad clock %q", s)
	}
	mm, err := strconv.Atoi(m)
	if err != nil || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("bad clock %q", s)
	}
	return hh*60 + mm, nil
}

// everyDuration reads the duration of an "@every D" spec as written;
// robfig/cron itself rounds it up to a second.
func everyDuration(spec string) (time.Duration, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(spec), "@every ")
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(strings.TrimSpace(rest))
	return d, err == nil
}
