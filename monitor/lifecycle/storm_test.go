package lifecycle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestStormGuard(t *testing.T) {
	cfg := StormConfig{Window: 30 * time.Minute, Share: 0.5, MinSites: 20}
	type obs struct {
		at              time.Duration
		check           string
		checked, failed int
		storming        bool
		started, ended  bool
		// sites names the failing sites ("" = new ones per observation).
		sites string
	}
	m := time.Minute
	tests := []struct {
		name string
		obs  []obs
	}{
		{"a normal day is calm", []obs{
			{0, "footer", 50, 3, false, false, false, ""},
			{5 * m, "footer", 50, 2, false, false, false, ""},
		}},
		{"high share but too few sites is calm", []obs{
			{0, "dns", 10, 10, false, false, false, ""},
			{1 * m, "dns", 5, 5, false, false, false, ""}, // 15 failing < 20
		}},
		{"many failures but low share is calm", []obs{
			{0, "shell", 200, 40, false, false, false, ""},
		}},
		{"share and count reached: storm starts once", []obs{
			{0, "shell", 50, 10, false, false, false, ""},
			{1 * m, "shell", 50, 45, true, true, false, ""}, // 55/100
			{2 * m, "shell", 50, 45, true, false, false, ""},
		}},
		{"storm ends when failures leave the window", []obs{
			{0, "shell", 50, 50, true, true, false, ""},
			{10 * m, "shell", 50, 0, true, false, false, ""}, // 50/100 still
			{31 * m, "shell", 50, 0, false, false, true, ""}, // first batch aged out
			{32 * m, "shell", 50, 0, false, false, false, ""},
		}},
		{"checks are counted separately", []obs{
			{0, "footer", 50, 50, true, true, false, ""},
			{0, "shell", 50, 0, false, false, false, ""},
		}},
		{"the same sites failing run after run are few sites", []obs{
			{0, "dns", 10, 10, false, false, false, "farm"},
			{1 * m, "dns", 10, 10, false, false, false, "farm"},
			{2 * m, "dns", 10, 10, false, false, false, "farm"}, // 30 runs, 10 sites
			{3 * m, "dns", 10, 10, true, true, false, "more"},   // 20 sites
		}},
		{"bad counts are clamped, not trusted", []obs{
			{0, "footer", -5, 30, false, false, false, ""},
			{0, "footer", 10, 500, false, false, false, ""}, // failed clamped to 10
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := NewStormGuard(cfg)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range tt.obs {
				tag := o.sites
				if tag == "" {
					tag = fmt.Sprint(o.check, i)
				}
				st := g.Observe(t0.Add(o.at), o.check, o.checked, siteNames(tag, o.failed))
				if st.Storming != o.storming || st.Started != o.started || st.Ended != o.ended {
					t.Fatalf("observation %d: got %+v (share %.2f), want storming=%v started=%v ended=%v",
						i, st, st.Share(), o.storming, o.started, o.ended)
				}
			}
		})
	}
}

func TestStormGuardStatusDoesNotCount(t *testing.T) {
	g, err := NewStormGuard(StormConfig{Window: time.Hour, Share: 0.9, MinSites: 1})
	if err != nil {
		t.Fatal(err)
	}
	g.Observe(t0, "dns", 4, siteNames("s", 4))
	st := g.Status(t0.Add(time.Minute), "dns")
	if !st.Storming || st.Checked != 4 || st.Failed != 4 {
		t.Fatalf("status %+v, want 4/4 storming", st)
	}
	if st := g.Status(t0.Add(2*time.Hour), "dns"); st.Storming || st.Checked != 0 || !st.Ended {
		t.Fatalf("status after the window %+v, want calm, empty, ended", st)
	}
}

func TestStormGuardConcurrent(t *testing.T) {
	g, err := NewStormGuard(DefaultStormConfig())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				g.Observe(t0, "footer", 1, siteNames("s", 1))
			}
		})
	}
	wg.Wait()
	if st := g.Status(t0, "footer"); st.Checked != 800 || st.Failed != 800 {
		t.Fatalf("lost counts under concurrency: %+v", st)
	}
}

func TestStormConfigValidate(t *testing.T) {
	for _, c := range []StormConfig{
		{Window: 0, Share: 0.5, MinSites: 1},
		{Window: time.Minute, Share: 0, MinSites: 1},
		{Window: time.Minute, Share: 1.5, MinSites: 1},
		{Window: time.Minute, Share: 0.5, MinSites: 0},
	} {
		if _, err := NewStormGuard(c); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
}

// TestStormPeekConsumesNoEdge: a display poll between the observation
// that starts a storm and the engine's next look must not take the
// Started edge (the alarm) or, later, the Ended edge (the settling).
func TestStormPeekConsumesNoEdge(t *testing.T) {
	g, err := NewStormGuard(StormConfig{Window: time.Hour, Share: 0.5, MinSites: 2})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// Passing runs first; when they leave the window, the failures that
	// follow make a storm without any new observation.
	g.Observe(now, "shell", 10, siteNames("s", 0))
	g.Observe(now.Add(40*time.Minute), "shell", 3, siteNames("s", 3))
	later := now.Add(70 * time.Minute)
	if p := g.Peek(later, "shell"); !p.Storming || p.Started {
		t.Fatalf("peek: %+v, want storming without an edge", p)
	}
	if st := g.Status(later, "shell"); !st.Started {
		t.Fatalf("the engine's look after a peek: %+v, want Started", st)
	}
	end := later.Add(2 * time.Hour)
	if p := g.Peek(end, "shell"); p.Storming || p.Ended {
		t.Fatalf("peek after the window: %+v", p)
	}
	if st := g.Status(end, "shell"); !st.Ended {
		t.Fatalf("the engine's look after a peek: %+v, want Ended", st)
	}
}

// TestStormRearm: an edge whose transaction rolled back is reported again.
func TestStormRearm(t *testing.T) {
	g, err := NewStormGuard(StormConfig{Window: time.Hour, Share: 0.5, MinSites: 2})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	st := g.Observe(now, "dns", 4, siteNames("s", 4))
	if !st.Started {
		t.Fatalf("%+v", st)
	}
	g.Rearm(st)
	if again := g.Observe(now, "dns", 0, siteNames("s", 0)); !again.Started || !again.Storming {
		t.Fatalf("after rearm: %+v, want Started again", again)
	}
	end := g.Status(now.Add(2*time.Hour), "dns")
	if !end.Ended {
		t.Fatalf("%+v", end)
	}
	g.Rearm(end)
	if again := g.Status(now.Add(2*time.Hour), "dns"); !again.Ended {
		t.Fatalf("after rearm: %+v, want Ended again", again)
	}
}

// A batch whose transaction failed is taken back, so its retry is counted
// once; counts that have already left the window are not touched.
func TestStormUnobserve(t *testing.T) {
	g, err := NewStormGuard(StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10})
	if err != nil {
		t.Fatal(err)
	}
	m := time.Minute // buckets are 2 minutes wide
	g.Observe(t0, "shell", 40, siteNames("s", 5))
	g.Observe(t0.Add(10*m), "shell", 40, siteNames("s", 30)) // the failed transaction
	g.Unobserve(t0.Add(10*m), "shell", 40, 30)
	if st := g.Peek(t0.Add(11*m), "shell"); st.Checked != 40 || st.Failed != 5 {
		t.Fatalf("after taking back: %d of %d failing, want 5 of 40", st.Failed, st.Checked)
	}
	// Taking back more than a bucket holds empties it, never below zero.
	g.Observe(t0.Add(20*m), "shell", 10, siteNames("s", 10))
	g.Unobserve(t0.Add(20*m), "shell", 100, 100)
	// A bucket reused since (three hours ago maps to t0's slot) is not
	// touched.
	g.Unobserve(t0.Add(-3*time.Hour), "shell", 40, 5)
	if st := g.Peek(t0.Add(21*m), "shell"); st.Checked != 40 || st.Failed != 5 {
		t.Fatalf("after odd takes: %d of %d failing, want 5 of 40", st.Failed, st.Checked)
	}
}

// What one guard counted, kept by bucket start, restores into another: the
// same window, and a storm carried over without a second Started edge.
func TestStormRestore(t *testing.T) {
	cfg := StormConfig{Window: time.Hour, Share: 0.5, MinSites: 10}
	a, _ := NewStormGuard(cfg)
	var kept []StormCount
	observe := func(at time.Time, checked, failed int) StormStatus {
		kept = append(kept, StormCount{Check: "dns", At: a.BucketStart(at).Truncate(time.Microsecond), Checked: checked, Failed: failed})
		return a.Observe(at, "dns", checked, siteNames(fmt.Sprint(at), failed))
	}
	observe(t0, 20, 4)
	if st := observe(t0.Add(10*time.Minute), 20, 16); !st.Started {
		t.Fatalf("first guard: %+v, want a storm started", st)
	}
	// An old count from before the window is ignored.
	kept = append(kept, StormCount{Check: "dns", At: t0.Add(-3 * time.Hour), Checked: 100, Failed: 0})

	now := t0.Add(20 * time.Minute)
	b, _ := NewStormGuard(cfg)
	var sites []StormSite
	for _, d := range siteNames(fmt.Sprint(t0.Add(10*time.Minute)), 16) {
		sites = append(sites, StormSite{Check: "dns", Domain: d, At: t0.Add(10 * time.Minute)})
	}
	b.Restore(now, kept, sites, []string{"dns"})
	st := b.Observe(now, "dns", 0, siteNames("s", 0))
	if st.Checked != 40 || st.Failed != 20 || !st.Storming || st.Started {
		t.Fatalf("restored guard: %+v, want 20 of 40 failing, storming, not started again", st)
	}
	// The window calms down later: the carried storm ends.
	if st := b.Observe(t0.Add(2*time.Hour), "dns", 50, siteNames("s", 0)); !st.Ended {
		t.Fatalf("after the window: %+v, want the carried storm ended", st)
	}
	// Two-minute buckets (a 1 h window in 30): 08:01:01 lies in 08:00's.
	if got := a.BucketStart(t0.Add(61 * time.Second)); !got.Equal(t0) {
		t.Errorf("bucket start %v, want %v", got, t0)
	}
}

// siteNames is n distinct site names starting with tag.
func siteNames(tag string, n int) []string {
	out := make([]string, 0, max(n, 0))
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%d.example.cn", tag, i))
	}
	return out
}
