package render

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/egress"
)

// browserPath finds Chromium, skipping the test without one unless
// BEIANWATCH_REQUIRE_INTEGRATION is set (CI), where a missing browser is a
// failure.
func browserPath(t testing.TB) string {
	t.Helper()
	p, ok := FindBrowser()
	if !ok {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") == "" {
			t.Skip("no Chromium on PATH; set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure")
		}
		t.Fatal("BEIANWATCH_REQUIRE_INTEGRATION is set but no Chromium is on PATH")
	}
	return p
}

// labDial allows every address: the fixture sites live on loopback.
func labDial() DialFunc {
	return egress.NewDialer(egress.Policy{AllowPrivate: true}, nil, 5*time.Second).DialContext
}

func newTestRenderer(t testing.TB, o Options) *Renderer {
	t.Helper()
	o.ExecPath = browserPath(t)
	if o.Dial == nil {
		o.Dial = labDial()
	}
	if o.TempDir == "" {
		o.TempDir = t.TempDir()
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// serveSite serves testdata/sites/NAME at the root of its own server.
func serveSite(t testing.TB, name string) *httptest.Server {
	t.Helper()
	dir := filepath.Join("testdata", "sites", name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv
}

func testSite(t testing.TB, psb bool) *checks.Site {
	n, err := checks.ParseICP("京ICP备12345678号-1")
	if err != nil {
		t.Fatal(err)
	}
	s := &checks.Site{Domain: "example.cn", ICP: &n, Status: checks.StatusFiled}
	if psb {
		p, err := checks.ParsePSB("京公网安备11010802012345号")
		if err != nil {
			t.Fatal(err)
		}
		s.PSB = &p
	}
	return s
}

func footerCheck(r checks.PageRenderer, mode checks.RenderMode) *checks.FooterCheck {
	f := checks.NewFetcher(checks.FetcherConfig{Timeout: 5 * time.Second, Policy: egress.Policy{AllowPrivate: true}})
	c := checks.NewFooterCheck(f, checks.FooterOptions{})
	c.Render, c.RenderMode = r, mode
	return c
}

func violations(r checks.Result) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Severity == checks.Violation {
			out = append(out, f.Code)
		}
	}
	return out
}

// TestRenderedFooters judges script-drawn footers through the real
// browser: each page is needs_rendering statically, and rendered it is
// what a person sees.
func TestRenderedFooters(t *testing.T) {
	// The deadline is generous: on a loaded machine a page may take
	// seconds; the verdicts, not the speed, are under test here.
	r := newTestRenderer(t, Options{Timeout: 40 * time.Second})
	cases := []struct {
		site       string
		psb        bool
		outcome    checks.Outcome
		reason     string
		violations []string
		hidden     bool
	}{
		{site: "delayed_inline", outcome: checks.Pass},
		{site: "external_script", outcome: checks.Pass},
		{site: "fetch_json", outcome: checks.Pass},
		{site: "spa", outcome: checks.Pass},
		{site: "document_write", outcome: checks.Pass},
		{site: "iframe", outcome: checks.Pass},
		{site: "shadow", outcome: checks.Pass},
		{site: "exturl", outcome: checks.Pass},
		{site: "hidden", outcome: checks.Pass, hidden: true},
		{site: "violation_obsolete", outcome: checks.Fail, violations: []string{checks.CodeFooterLinkObsolete}},
		{site: "violation_unlinked", outcome: checks.Fail, violations: []string{checks.CodeFooterLinkMissing}},
		{site: "violation_missing", outcome: checks.Fail, violations: []string{checks.CodeFooterICPMissing}},
		{site: "violation_other", outcome: checks.Fail, violations: []string{checks.CodeFooterICPMismatch}},
		{site: "violation_psb_unlinked", psb: true, outcome: checks.Fail, violations: []string{checks.CodeFooterPSBLinkMiss}},
		{site: "image_only", outcome: checks.Inconclusive, reason: checks.ReasonNumberInImage},
	}
	static := footerCheck(nil, checks.RenderNever)
	rendered := footerCheck(r, checks.RenderAuto)
	for _, tc := range cases {
		t.Run(tc.site, func(t *testing.T) {
			srv := serveSite(t, tc.site)
			s := testSite(t, tc.psb)
			s.URL = srv.URL + "/"
			ctx := context.Background()
			st := checks.Run(ctx, static, s)
			if st.Outcome != checks.Inconclusive || st.Reason != checks.ReasonNeedsRendering {
				t.Fatalf("static reading %s (%s), want inconclusive (needs_rendering): %+v", st.Outcome, st.Reason, st)
			}
			res := checks.Run(ctx, rendered, s)
			if res.Outcome != tc.outcome || res.Reason != tc.reason {
				t.Fatalf("rendered %s (%s), want %s (%s); details %v findings %+v", res.Outcome, res.Reason, tc.outcome, tc.reason, res.Details, res.Findings)
			}
			if got := violations(res); !slices.Equal(got, tc.violations) {
				t.Errorf("violations %v, want %v", got, tc.violations)
			}
			if res.Details["rendered"] != "true" || res.Details["render_ms"] == "" {
				t.Errorf("details do not say the page was rendered: %v", res.Details)
			}
			if (res.Details["hidden"] != "") != tc.hidden {
				t.Errorf("hidden detail %q, want present=%v", res.Details["hidden"], tc.hidden)
			}
			if tc.outcome == checks.Fail {
				if len(res.Screenshot) < 100 || !strings.HasPrefix(string(res.Screenshot), "\x89PNG") || len(res.Screenshot) > MaxScreenshotBytes {
					t.Errorf("failing rendered page kept no PNG footer screenshot (%d bytes)", len(res.Screenshot))
				}
			} else if res.Screenshot != nil {
				t.Errorf("a %s page kept a screenshot", res.Outcome)
			}
		})
	}
}

// TestStaticVerdictsAreNotRendered: auto renders only needs_rendering
// pages; a page that passes or fails statically never reaches the browser.
func TestStaticVerdictsAreNotRendered(t *testing.T) {
	fake := &countingRenderer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<html><body><p>Plenty of text about the company and what it does for people.</p><footer>京ICP备12345678号-1</footer></body></html>`))
	}))
	defer srv.Close()
	s := testSite(t, false)
	s.URL = srv.URL + "/"
	res := checks.Run(context.Background(), footerCheck(fake, checks.RenderAuto), s)
	if res.Outcome != checks.Fail || fake.n.Load() != 0 {
		t.Fatalf("static fail rendered %d times (outcome %s)", fake.n.Load(), res.Outcome)
	}
	res = checks.Run(context.Background(), footerCheck(fake, checks.RenderAlways), s)
	if fake.n.Load() != 1 || res.Details["rendered"] != "true" {
		t.Fatalf("always mode rendered %d times, details %v", fake.n.Load(), res.Details)
	}
}

// TestNoBrowserKeepsInconclusive: without a browser the static verdict
// stays, saying why.
func TestNoBrowserKeepsInconclusive(t *testing.T) {
	srv := serveSite(t, "external_script")
	s := testSite(t, false)
	s.URL = srv.URL + "/"
	res := checks.Run(context.Background(), footerCheck(nil, checks.RenderAuto), s)
	if res.Outcome != checks.Inconclusive || res.Reason != checks.ReasonNeedsRendering || res.Details["render"] != checks.DetailNoBrowser {
		t.Fatalf("got %s (%s) %v", res.Outcome, res.Reason, res.Details)
	}
}

type countingRenderer struct{ n atomic.Int32 }

func (c *countingRenderer) Render(_ context.Context, url string, judge func([]byte) bool) (*checks.Rendering, error) {
	c.n.Add(1)
	dom := []byte(`<html><body><footer><a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a></footer></body></html>`)
	judge(dom)
	return &checks.Rendering{URL: url, DOM: dom, Duration: time.Millisecond}, nil
}

// TestNeverEndingScriptThenNormalPage: a page whose script never ends is
// closed at the deadline as render_timeout, and the same browser renders
// the next page.
func TestNeverEndingScriptThenNormalPage(t *testing.T) {
	const deadline = 8 * time.Second
	r := newTestRenderer(t, Options{Timeout: deadline, MaxTabs: 1})
	c := footerCheck(r, checks.RenderAuto)
	normal := serveSite(t, "simple")
	// Start the browser first: its start is not part of a page's deadline.
	if _, err := r.Render(context.Background(), normal.URL+"/", nil); err != nil {
		t.Fatal(err)
	}
	forever := serveSite(t, "forever")
	s := testSite(t, false)
	s.URL = forever.URL + "/"
	start := time.Now()
	res := checks.Run(context.Background(), c, s)
	if res.Outcome != checks.Inconclusive || res.Reason != checks.ReasonRenderTimeout {
		t.Fatalf("never-ending page: %s (%s) %v", res.Outcome, res.Reason, res.Details)
	}
	// The static fetch and closing the stuck tab come on top of the
	// deadline; a page must not hold its tab for long beyond it.
	if el := time.Since(start); el > deadline+15*time.Second {
		t.Errorf("the deadline of %s took %s to hold", deadline, el)
	}
	pg := r.Stats()
	s.URL = normal.URL + "/"
	res = checks.Run(context.Background(), c, s)
	if res.Outcome != checks.Pass || res.Details["rendered"] != "true" {
		t.Fatalf("normal page after the stuck one: %s (%s) %v", res.Outcome, res.Reason, res.Details)
	}
	if after := r.Stats(); after.Browsers != 1 || pg.Browsers != 1 {
		t.Errorf("browsers before/after: %d/%d, want the same single browser", pg.Browsers, after.Browsers)
	}
}

// TestBrowserCannotReachPrivateAddresses: a page on an address the policy
// treats as public fetches, frames and redirects to a loopback server;
// that server hears nothing.
func TestBrowserCannotReachPrivateAddresses(t *testing.T) {
	var secretHits atomic.Int32
	secret := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secretHits.Add(1)
		w.Write([]byte("secret"))
	}))
	defer secret.Close()
	_, secretPort, _ := net.SplitHostPort(secret.Listener.Addr().String())
	targets := []string{
		secret.URL + "/fetch",
		"http://localhost:" + secretPort + "/by-name",
		"http://[::1]:" + secretPort + "/v6",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.1/",
	}
	page := `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><p>public page</p><footer id="footer"></footer>
<script>
const targets = ` + "`" + strings.Join(targets, " ") + "`" + `.split(' ');
for (const u of targets) { fetch(u).catch(() => {}); const i = new Image(); i.src = u + '?img'; }
const f = document.createElement('iframe'); f.src = targets[0] + '?frame'; document.body.appendChild(f);
try { const ws = new WebSocket(targets[0].replace('http', 'ws') + '?ws'); ws.onerror = () => {}; } catch (e) {}
document.getElementById('footer').innerHTML = '<a href="https://beian.miit.gov.cn/">京ICP备12345678号-1</a>';
setTimeout(() => { location.href = '/redirect'; }, 200);
</script></body></html>`
	pub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, secret.URL+"/redirected", http.StatusFound)
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(page))
		}
	}))
	defer pub.Close()
	pubAddr := pub.Listener.Addr().String()
	strict := egress.NewDialer(egress.Policy{}, nil, 3*time.Second)
	var refused atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == pubAddr {
			// The test policy treats the page's server as public.
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		c, err := strict.DialContext(ctx, network, addr)
		if err != nil {
			refused.Add(1)
		}
		return c, err
	}
	r := newTestRenderer(t, Options{Timeout: 8 * time.Second, Dial: dial})
	ren, err := r.Render(context.Background(), pub.URL+"/", nil)
	if err != nil && !strings.Contains(err.Error(), "render") {
		t.Fatal(err)
	}
	// Give stray requests time to arrive, if any got out.
	time.Sleep(500 * time.Millisecond)
	if n := secretHits.Load(); n != 0 {
		t.Fatalf("the loopback secret server received %d requests from the browser", n)
	}
	if refused.Load() == 0 {
		t.Errorf("the policy refused nothing: the page's requests did not go through the proxy")
	}
	if ren != nil && len(ren.Failed) == 0 {
		t.Errorf("the rendering lists no refused request")
	}
}

// browserProcesses lists the live processes whose command line names dir
// (every Chromium process carries its --user-data-dir), with their
// process groups.
func browserProcesses(dir string) map[int]int {
	out := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmtSscan(e.Name(), &pid); err != nil {
			continue
		}
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil || !strings.Contains(string(cmd), dir) {
			continue
		}
		if g, ok := procPgid(pid); ok {
			out[pid] = g
		}
	}
	return out
}

// TestProcessHygiene renders 300 pages with a small recycle_after: one
// browser tree is alive at the end, its memory stays bounded, and after
// Close no process of it is left, nor its profile directory.
func TestProcessHygiene(t *testing.T) {
	if testing.Short() {
		t.Skip("300 renders")
	}
	dir := t.TempDir()
	restarts := &countingObserver{}
	r := newTestRenderer(t, Options{TempDir: dir, MaxTabs: 2, RecycleAfter: 40, Quiet: 50 * time.Millisecond, Timeout: 20 * time.Second, Observer: restarts})
	srv := serveSite(t, "simple")
	const pages = 300
	var peak, peakPSS int64
	jobs := make(chan int)
	errs := make(chan error, pages)
	for w := 0; w < 2; w++ {
		go func() {
			for range jobs {
				ren, err := r.Render(context.Background(), srv.URL+"/", nil)
				if err == nil && !strings.Contains(string(ren.DOM), "beian.miit.gov.cn") {
					err = errorf("rendered DOM lacks the drawn footer")
				}
				errs <- err
			}
		}()
	}
	go func() {
		for i := 0; i < pages; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	failed, timedOut := 0, 0
	for i := 0; i < pages; i++ {
		if err := <-errs; errors.Is(err, checks.ErrRenderTimeout) {
			// On a loaded machine a page may miss its deadline: that is
			// the deadline doing its job, and it must not leak a process.
			timedOut++
		} else if err != nil {
			failed++
			if failed < 5 {
				t.Errorf("render %d: %v", i, err)
			}
		}
		if i%20 == 0 {
			st := r.Stats()
			peak, peakPSS = max(peak, st.RSS), max(peakPSS, st.PSS)
		}
	}
	if failed > 0 || timedOut > pages/10 {
		t.Fatalf("%d of %d renders failed, %d timed out", failed, pages, timedOut)
	}
	// Retired browsers are killed in the background once idle.
	deadline := time.Now().Add(10 * time.Second)
	var groups map[int]bool
	for {
		groups = map[int]bool{}
		for _, g := range browserProcesses(dir) {
			groups[g] = true
		}
		if len(groups) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(groups) != 1 {
		t.Fatalf("after %d renders %d browser process groups are alive, want exactly 1", pages, len(groups))
	}
	if got := restarts.restarts.Load(); got < pages/40-1 {
		t.Errorf("browser restarted %d times over %d pages with recycle_after 40", got, pages)
	}
	const rssBound = 1536 << 20
	t.Logf("peak memory of the browser tree: RSS %d MiB, PSS %d MiB; restarts: %d", peak>>20, peakPSS>>20, restarts.restarts.Load())
	if peak == 0 || peak > rssBound {
		t.Errorf("peak RSS of the browser tree %d MiB, want (0, %d MiB]", peak>>20, rssBound>>20)
	}
	r.Close()
	if left := browserProcesses(dir); len(left) != 0 {
		t.Fatalf("after Close %d browser processes are alive: %v", len(left), left)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("profile directories left behind: %d", len(ents))
	}
}

type countingObserver struct {
	restarts atomic.Int32
	rendered atomic.Int32
	maxTabs  atomic.Int32
}

func (o *countingObserver) Rendered(string, time.Duration) { o.rendered.Add(1) }
func (o *countingObserver) BrowserRestarted()              { o.restarts.Add(1) }
func (o *countingObserver) TabsInUse(n int) {
	for {
		m := o.maxTabs.Load()
		if int32(n) <= m || o.maxTabs.CompareAndSwap(m, int32(n)) {
			return
		}
	}
}
