package render

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRender renders a script-drawn footer page with two tabs of one
// browser, as the daemon does on a 2-core server, and reports renders per
// second and the peak resident memory of the browser tree.
//
//	go test ./checks/render -run '^$' -bench Render -benchtime 100x
func BenchmarkRender(b *testing.B) {
	r := newTestRenderer(b, Options{MaxTabs: 2, RecycleAfter: DefaultRecycleAfter, Timeout: 20 * time.Second})
	srv := serveSite(b, "delayed_inline")
	ctx := context.Background()
	// The first page starts the browser; its start is not a render.
	if _, err := r.Render(ctx, srv.URL+"/", nil); err != nil {
		b.Fatal(err)
	}
	var peak, peakPSS atomic.Int64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			st := r.Stats()
			if st.RSS > peak.Load() {
				peak.Store(st.RSS)
			}
			if st.PSS > peakPSS.Load() {
				peakPSS.Store(st.PSS)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := r.Render(ctx, srv.URL+"/", nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	close(stop)
	sampler.Wait()
	b.ReportMetric(float64(b.N)/el.Seconds(), "renders/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak_rss_MiB")
	b.ReportMetric(float64(peakPSS.Load())/(1<<20), "peak_pss_MiB")
}
