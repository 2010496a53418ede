package engine

import (
	"fmt"
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC) // a Monday

func domains(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("site%06d.example.cn", i)
	}
	return out
}

func TestParseSchedule(t *testing.T) {
	for _, spec := range []string{"@every 6h", "*/10 * * * *", "@weekly", "@daily", "CRON_TZ=Asia/Shanghai 0 3 * * *", "0 9 * * 1-5"} {
		if _, err := ParseSchedule(spec); err != nil {
			t.Errorf("%q: %v", spec, err)
		}
	}
	for _, spec := range []string{"", "@every 500ms", "every 6h", "61 * * * *", "0 0 30 2 *", "* * * *"} {
		if _, err := ParseSchedule(spec); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

func TestIntervalAt(t *testing.T) {
	mustParse := func(spec string) Schedule {
		s, err := ParseSchedule(spec)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		spec       string
		at         time.Time
		start, end time.Time
	}{
		{"@every 6h", t0.Add(time.Hour), t0.Add(-2 * time.Hour), t0.Add(4 * time.Hour)}, // epoch-aligned: 06:00-12:00
		{"@every 6h", t0.Add(-2 * time.Hour), t0.Add(-2 * time.Hour), t0.Add(4 * time.Hour)},
		{"*/10 * * * *", t0.Add(25 * time.Minute), t0.Add(20 * time.Minute), t0.Add(30 * time.Minute)},
		{"*/10 * * * *", t0, t0, t0.Add(10 * time.Minute)},
		{"@daily", t0, t0.Add(-8 * time.Hour), t0.Add(16 * time.Hour)},
		// Weekdays at 09:00: Monday 08:00 lies in Friday 09:00 - Monday 09:00.
		{"0 9 * * 1-5", t0, t0.Add(-71 * time.Hour), t0.Add(time.Hour)},
		{"0 9 * * 1-5", t0.Add(2 * time.Hour), t0.Add(time.Hour), t0.Add(25 * time.Hour)},
	}
	for _, tt := range tests {
		start, end := mustParse(tt.spec).IntervalAt(tt.at)
		if !start.Equal(tt.start) || !end.Equal(tt.end) {
			t.Errorf("%s at %s: [%s, %s), want [%s, %s)", tt.spec, tt.at, start, end, tt.start, tt.end)
		}
	}
}

// TestDueSpreadsEvenly dispatches 10,000 sites minute by minute over one
// 6h interval: every site must come due exactly once, and the per-minute
// counts must be flat (no wave).
func TestDueSpreadsEvenly(t *testing.T) {
	for _, spec := range []string{"@every 6h", "0 */6 * * *"} {
		t.Run(spec, func(t *testing.T) {
			s, err := ParseSchedule(spec)
			if err != nil {
				t.Fatal(err)
			}
			sites := domains(10000)
			start, end := s.IntervalAt(t0)
			seen := map[string]int{}
			var perMinute []int
			for last := start; last.Before(end); last = last.Add(time.Minute) {
				due := s.Due("footer", sites, last, last.Add(time.Minute))
				perMinute = append(perMinute, len(due))
				for _, d := range due {
					seen[d]++
				}
			}
			if len(seen) != len(sites) {
				t.Fatalf("%d of %d sites came due in one interval", len(seen), len(sites))
			}
			for d, n := range seen {
				if n != 1 {
					t.Fatalf("%s came due %d times", d, n)
				}
			}
			mean := float64(len(sites)) / float64(len(perMinute)) // ~27.8
			maxC, sum2 := 0, 0.0
			for _, c := range perMinute {
				maxC = max(maxC, c)
				sum2 += (float64(c) - mean) * (float64(c) - mean)
			}
			sd := math.Sqrt(sum2 / float64(len(perMinute)))
			// A uniform spread is Poisson-like per minute: sd ~ sqrt(mean) ~ 5.3.
			if float64(maxC) > 3*mean || sd > 2*math.Sqrt(mean) {
				t.Fatalf("uneven spread: max %d per minute, sd %.1f, mean %.1f", maxC, sd, mean)
			}
			// Coarser: each hour of the six carries about a sixth.
			for h := range 6 {
				c := 0
				for _, x := range perMinute[h*60 : (h+1)*60] {
					c += x
				}
				if c < 1500 || c > 1833 {
					t.Errorf("hour %d has %d sites, want about 1667", h, c)
				}
			}
		})
	}
}

func TestDueWindows(t *testing.T) {
	s, err := ParseSchedule("@every 6h")
	if err != nil {
		t.Fatal(err)
	}
	sites := domains(2000)
	start, _ := s.IntervalAt(t0)

	// Irregular windows (as a dispatcher delayed by load would produce)
	// across three intervals still hit each site once per interval.
	seen := map[string]int{}
	last := start
	for _, step := range []time.Duration{7 * time.Minute, 3 * time.Hour, time.Second, 5*time.Hour + 13*time.Minute, 5 * time.Hour, 4*time.Hour + 39*time.Minute + 59*time.Second} {
		for _, d := range s.Due("shell", sites, last, last.Add(step)) {
			seen[d]++
		}
		last = last.Add(step)
	}
	if total := last.Sub(start); total != 18*time.Hour {
		t.Fatalf("test arithmetic: %s", total)
	}
	for _, d := range sites {
		if n := seen[d]; n != 3 {
			t.Fatalf("%s due %d times over three intervals", d, n)
		}
	}

	// A window longer than an interval but covering none whole still
	// enqueues a site at most once.
	dup := map[string]int{}
	for _, d := range s.Due("shell", sites, start.Add(2*time.Hour), start.Add(11*time.Hour)) {
		dup[d]++
	}
	for d, n := range dup {
		if n != 1 {
			t.Fatalf("%s enqueued %d times in one dispatch", d, n)
		}
	}
	if len(dup) < len(sites)/2 {
		t.Errorf("9h window found only %d of %d sites", len(dup), len(sites))
	}

	if due := s.Due("shell", sites, t0, t0); len(due) != 0 {
		t.Errorf("empty window yielded %d sites", len(due))
	}
	if due := s.Due("shell", sites, t0, t0.Add(-time.Hour)); len(due) != 0 {
		t.Errorf("backward window yielded %d sites", len(due))
	}
	// Down for three days: every site once, not twelve times.
	due := s.Due("shell", sites, t0, t0.Add(72*time.Hour))
	if len(due) != len(sites) {
		t.Errorf("after a long outage %d sites due, want each once (%d)", len(due), len(sites))
	}
}

func TestOffsetIsStableAndPerCheck(t *testing.T) {
	const iv = 6 * time.Hour
	a := Offset("example.cn", "footer", iv)
	if b := Offset("example.cn", "footer", iv); a != b {
		t.Fatal("offset not stable")
	}
	if a < 0 || a >= iv {
		t.Fatalf("offset %s outside the interval", a)
	}
	if Offset("example.cn", "shell", iv) == a {
		t.Error("footer and shell of one site share an offset")
	}
	if Offset("x", "y", 0) != 0 {
		t.Error("zero interval")
	}
}
