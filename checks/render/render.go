// Package render loads pages in the system's headless Chromium, through
// chromedp, for the footer check: pages whose footer only a browser can
// see (drawn by script, in a frame, in a web component's shadow DOM).
//
// One long-lived browser serves a bounded number of tabs; each page gets
// a fresh incognito browser context whose only way out is an in-process
// proxy dialling through the egress policy, so the SSRF guard covers every
// subresource, fetch, frame, websocket and redirect. The browser runs in
// its own process group, killed as a whole on recycle and shutdown, so no
// Chromium process outlives its renderer.
package render

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/beianwatch/beianwatch/checks"
)

//go:embed settle.js
var settleJS string

//go:embed serialize.js
var serializeJS string

// Defaults, for a 2-core server.
const (
	DefaultMaxTabs      = 2
	DefaultTimeout      = 20 * time.Second
	DefaultRecycleAfter = 200
	DefaultMaxBytes     = 16 << 20
	DefaultMaxRequests  = 300
	// maxDOMBytes caps the serialised DOM handed to the footer rules.
	maxDOMBytes = 8 << 20
	// MaxScreenshotBytes caps the PNG kept as evidence.
	MaxScreenshotBytes = 200 << 10
	viewportWidth      = 1280
	viewportHeight     = 800
)

// Settling: a page is read once its network has been quiet, its short
// timers have fired and its DOM has stopped changing (or has been
// changing for longer than domSettleCap, as a carousel does forever).
const (
	DefaultQuiet = 500 * time.Millisecond
	domSettleCap = 5 * time.Second
	pollEvery    = 100 * time.Millisecond
)

// Observer hears what the renderer does, for metrics. Methods must be
// fast and safe for concurrent use.
type Observer interface {
	// Rendered reports one page: result is "ok", "timeout" or "error".
	Rendered(result string, d time.Duration)
	// BrowserRestarted reports a browser started to replace another
	// (recycled, or no longer answering).
	BrowserRestarted()
	// TabsInUse reports how many tabs are rendering now.
	TabsInUse(n int)
}

// Options configure a Renderer. Zero values take the defaults.
type Options struct {
	// ExecPath is the browser binary; empty means FindBrowser.
	ExecPath string
	// MaxTabs bounds the pages rendered at once.
	MaxTabs int
	// Timeout is the hard per-page deadline.
	Timeout time.Duration
	// RecycleAfter restarts the browser after this many pages.
	RecycleAfter int
	// Dial opens every connection the browser makes; it must enforce the
	// egress policy (an egress.Dialer's DialContext). Required.
	Dial DialFunc
	// MaxBytes and MaxRequests cap what one page may move.
	MaxBytes    int64
	MaxRequests int64
	// TempDir is where the browser's user data directories are made;
	// empty means the system's temporary directory.
	TempDir string
	// Quiet is how long the network and the DOM must stay still before
	// the page is read; zero means DefaultQuiet.
	Quiet    time.Duration
	Observer Observer
	Logger   *slog.Logger
	// Clock is injected for tests; nil means time.Now.
	Clock func() time.Time
}

// FindBrowser looks for a Chromium or Chrome binary on PATH.
func FindBrowser() (string, bool) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

// Renderer renders pages in one shared browser. It is safe for
// concurrent use; Close releases the browser.
type Renderer struct {
	opts Options
	tabs chan struct{}

	mu      sync.Mutex
	cur     *browser
	started int // browsers started, to tell a restart from the first start
	closed  bool
	inUse   int
}

// New returns a Renderer; the browser starts with the first page.
func New(opts Options) (*Renderer, error) {
	if opts.Dial == nil {
		return nil, errors.New("render: no dialer: the browser's connections must go through the egress policy")
	}
	if opts.ExecPath == "" {
		p, ok := FindBrowser()
		if !ok {
			return nil, checks.ErrNoBrowser
		}
		opts.ExecPath = p
	}
	if opts.MaxTabs <= 0 {
		opts.MaxTabs = DefaultMaxTabs
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RecycleAfter <= 0 {
		opts.RecycleAfter = DefaultRecycleAfter
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Quiet <= 0 {
		opts.Quiet = DefaultQuiet
	}
	return &Renderer{opts: opts, tabs: make(chan struct{}, opts.MaxTabs)}, nil
}

var _ checks.PageRenderer = (*Renderer)(nil)

// browser is one Chromium process tree.
type browser struct {
	allocCancel context.CancelFunc
	ctx         context.Context // the browser's chromedp context
	cancel      context.CancelFunc
	cmd         *exec.Cmd
	dataDir     string
	served      int
	active      int
	retired     bool
	done        chan struct{} // closed once the tree is gone
	killOnce    sync.Once
}

// pgid is the browser's process group (its own pid: it leads the group).
func (b *browser) pgid() int {
	if b.cmd == nil || b.cmd.Process == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

func (r *Renderer) startBrowser() (*browser, error) {
	dataDir, err := os.MkdirTemp(r.opts.TempDir, "beianwatch-chromium-")
	if err != nil {
		return nil, fmt.Errorf("making the browser's profile directory: %w", err)
	}
	b := &browser{dataDir: dataDir, done: make(chan struct{})}
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(r.opts.ExecPath),
		chromedp.UserDataDir(dataDir),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints,AutofillServerCommunication,InterestFeedContentSuggestions,DialMediaRouteProvider,NetworkTimeServiceQuerying"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-hang-monitor", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("block-new-web-contents", true),
		chromedp.Flag("window-size", fmt.Sprintf("%d,%d", viewportWidth, viewportHeight)),
		// No name is resolved by the browser: every host goes to the
		// page's proxy, which resolves and checks it. The default
		// context's proxy is a closed port: nothing leaves outside a
		// page's own context. "<-loopback>" removes the implicit bypass
		// of localhost and loopback addresses, which otherwise go direct.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("proxy-server", "http://127.0.0.1:9"),
		chromedp.Flag("proxy-bypass-list", "<-loopback>"),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Its own process group, so the whole tree (zygote, renderers,
			// utilities) is killed at once; and killed with us if we die.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			b.cmd = cmd
		}),
	}
	if os.Geteuid() == 0 {
		// Chromium refuses to start its sandbox as root.
		flags = append(flags, chromedp.NoSandbox)
	}
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), flags...)
	logf := func(format string, args ...any) { r.opts.Logger.Debug("chromedp: " + fmt.Sprintf(format, args...)) }
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(logf), chromedp.WithLogf(logf))
	b.allocCancel, b.ctx, b.cancel = allocCancel, ctx, cancel
	// The first Run starts the browser, which lives as long as ctx; a
	// browser that does not answer in time is killed.
	timer := time.AfterFunc(30*time.Second, cancel)
	err = chromedp.Do(ctx, chromedp.Func(func(context.Context, *chromedp.Target) error { return nil }))
	if !timer.Stop() && err == nil {
		err = errors.New("the browser did not start within 30s")
	}
	if err != nil {
		r.kill(b)
		return nil, fmt.Errorf("starting %s: %w", r.opts.ExecPath, err)
	}
	r.opts.Logger.Debug("browser started", "pid", b.pgid())
	return b, nil
}

// kill ends a browser tree: a graceful close first, then SIGKILL to its
// whole process group, then its profile directory.
func (r *Renderer) kill(b *browser) {
	b.killOnce.Do(func() { r.killNow(b) })
	<-b.done
}

func (r *Renderer) killNow(b *browser) {
	if b.ctx != nil {
		cctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
		_ = chromedp.Cancel(cctx)
		cancel()
		b.cancel()
	}
	if pg := b.pgid(); pg > 0 {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
	if b.allocCancel != nil {
		b.allocCancel()
	}
	if pg := b.pgid(); pg > 0 {
		waitGroupGone(pg, 5*time.Second)
	}
	_ = os.RemoveAll(b.dataDir)
	close(b.done)
}

// acquire returns the browser for the next page, starting or replacing
// it as needed.
func (r *Renderer) acquire() (*browser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("render: renderer closed")
	}
	if r.cur != nil && r.cur.served >= r.opts.RecycleAfter {
		r.retireLocked(r.cur)
	}
	if r.cur == nil {
		b, err := r.startBrowser()
		if err != nil {
			return nil, err
		}
		if r.started > 0 && r.opts.Observer != nil {
			r.opts.Observer.BrowserRestarted()
		}
		r.started++
		r.cur = b
	}
	r.cur.served++
	r.cur.active++
	return r.cur, nil
}

// retireLocked takes b out of service; it is killed once its last page
// is done.
func (r *Renderer) retireLocked(b *browser) {
	if b.retired {
		return
	}
	b.retired = true
	if r.cur == b {
		r.cur = nil
	}
	if b.active == 0 {
		go r.kill(b)
	}
}

func (r *Renderer) release(b *browser, broken bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b.active--
	if broken {
		r.retireLocked(b)
		return
	}
	if b.retired && b.active == 0 {
		go r.kill(b)
	}
}

// Close kills the browser and waits for its tree to be gone. Pages being
// rendered fail.
func (r *Renderer) Close() error {
	r.mu.Lock()
	r.closed = true
	b := r.cur
	r.cur = nil
	r.mu.Unlock()
	if b != nil {
		r.mu.Lock()
		b.retired = true
		r.mu.Unlock()
		r.kill(b)
	}
	return nil
}

func (r *Renderer) tabsDelta(d int) {
	r.mu.Lock()
	r.inUse += d
	n := r.inUse
	r.mu.Unlock()
	if r.opts.Observer != nil {
		r.opts.Observer.TabsInUse(n)
	}
}

// Render loads url in a fresh incognito context and returns its DOM.
func (r *Renderer) Render(ctx context.Context, url string, judge func(dom []byte) bool) (*checks.Rendering, error) {
	start := r.opts.Clock()
	select {
	case r.tabs <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a browser tab: %w", ctx.Err())
	}
	defer func() { <-r.tabs }()
	r.tabsDelta(1)
	defer r.tabsDelta(-1)

	res, err := r.render(ctx, url, judge)
	result := "ok"
	switch {
	case errors.Is(err, checks.ErrRenderTimeout):
		result = "timeout"
	case err != nil:
		result = "error"
	}
	if r.opts.Observer != nil {
		r.opts.Observer.Rendered(result, r.opts.Clock().Sub(start))
	}
	return res, err
}

type serialized struct {
	HTML      string `json:"html"`
	Visible   string `json:"visible"`
	Truncated bool   `json:"truncated"`
	URL       string `json:"url"`
}

type pageState struct {
	Ready     string  `json:"ready"`
	Timers    int     `json:"timers"`
	SinceMut  float64 `json:"sinceMut"`
	Installed bool    `json:"installed"`
}

func (r *Renderer) render(ctx context.Context, url string, judge func(dom []byte) bool) (*checks.Rendering, error) {
	b, err := r.acquire()
	if err != nil {
		return nil, err
	}
	broken := false
	defer func() { r.release(b, broken) }()

	proxy, err := newPageProxy(r.opts.Dial, r.opts.MaxBytes, r.opts.MaxRequests, r.opts.Clock)
	if err != nil {
		return nil, err
	}
	defer proxy.close()

	tctx, tcancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(func(p *target.CreateBrowserContextParams) {
		p.ProxyServer = "http://" + proxy.addr()
		p.ProxyBypassList = "<-loopback>"
	}))
	defer tcancel()
	stop := context.AfterFunc(ctx, tcancel)
	defer stop()
	dctx, dcancel := context.WithTimeout(tctx, r.opts.Timeout)
	defer dcancel()

	began := r.opts.Clock()
	timedOut := func(err error) error {
		if dctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return fmt.Errorf("rendering %s: %w (after %s)", url, checks.ErrRenderTimeout, r.opts.Timeout)
		}
		return fmt.Errorf("rendering %s: %w", url, err)
	}
	err = chromedp.Do(dctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: settleJS})
			return err
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
				Width: viewportWidth, Height: viewportHeight, DeviceScaleFactor: 1})
			return err
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			res, err := cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: url})
			if err == nil && res.ErrorText != "" {
				err = errors.New(res.ErrorText)
			}
			return err
		}),
	)
	if err != nil {
		if dctx.Err() == nil && ctx.Err() == nil {
			// The tab did not open or navigate while time remained: the
			// browser may have stopped answering.
			broken = !r.healthy(b)
		}
		return nil, timedOut(err)
	}
	if err := r.settle(dctx, proxy, began); err != nil {
		// A stuck page is closed with its tab; a browser that no longer
		// answers at all is replaced.
		broken = ctx.Err() == nil && !r.healthy(b)
		return nil, timedOut(err)
	}
	s, err := chromedp.Run(dctx, chromedp.Evaluate[serialized]("("+serializeJS+")("+fmt.Sprint(maxDOMBytes)+")"))
	if err != nil {
		broken = ctx.Err() == nil && !r.healthy(b)
		return nil, timedOut(err)
	}
	if s.Truncated {
		return nil, fmt.Errorf("rendering %s: the rendered document is larger than %d bytes", url, maxDOMBytes)
	}
	out := &checks.Rendering{
		URL:        s.URL,
		DOM:        []byte(s.HTML),
		VisibleDOM: []byte(s.Visible),
		Duration:   r.opts.Clock().Sub(began),
		Requests:   int(min(proxy.requests.Load(), r.opts.MaxRequests)),
		Failed:     proxy.failures(),
		Limited:    proxy.limited.Load(),
	}
	if judge != nil && judge(out.DOM) {
		shot, err := screenshotFooter(dctx)
		if err != nil {
			r.opts.Logger.Debug("footer screenshot not taken", "url", url, "err", err)
		}
		out.Screenshot = shot
	}
	return out, nil
}

// settle waits until the page has finished drawing (see the constants).
func (r *Renderer) settle(ctx context.Context, proxy *pageProxy, began time.Time) error {
	const probe = `(() => { const s = window.__beianwatch; return {ready: document.readyState, installed: !!s,
	  timers: s ? s.timers : 0, sinceMut: s ? Date.now() - s.lastMutation : 1e9}; })()`
	var loaded time.Time
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](probe))
		if err != nil {
			return err
		}
		now := r.opts.Clock()
		if st.Ready == "complete" && loaded.IsZero() {
			loaded = now
		}
		if !loaded.IsZero() && now.Sub(began) >= 2*pollEvery &&
			proxy.quietFor() >= r.opts.Quiet && st.Timers <= 0 &&
			(time.Duration(st.SinceMut)*time.Millisecond >= r.opts.Quiet || now.Sub(loaded) >= domSettleCap) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// healthy asks the browser for its version, briefly.
func (r *Renderer) healthy(b *browser) bool {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	_, err := chromedp.Targets(ctx)
	return err == nil
}
