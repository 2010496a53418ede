package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/testclock"

	"github.com/beianwatch/beianwatch/internal/fakedns"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// This file is the test harness for the daemon: fixture sites served by
// httptest and selected by Host, an in-process DNS server that resolves
// them to loopback, webhook receivers for owners and ops, a controllable
// clock, and a daemon running in-process on all of it.

const (
	testICP    = "京ICP备2024000001号-1"
	testToken  = "test-api-token"
	goodFooter = `<footer><a href="https://beian.miit.gov.cn/">%s</a></footer>`
	oldFooter  = `<footer><a href="http://www.miitbeian.gov.cn/">%s</a></footer>`
)

// fixtureSite is one site of the fixture inventory.
type fixtureSite struct {
	Domain string
	ICP    string // default testICP
	Status string // default filed
	Footer string // format with the ICP number; default goodFooter
	Tags   string // the inventory's tags cell, "customer=acme;region=bj"
}

// received is one notice a webhook receiver got.
type received struct {
	Path string
	ID   string
	Body map[string]any
}

type sitePage struct {
	status int
	body   string
}

type harness struct {
	t     *testing.T
	dir   string
	clock *testclock.Clock // the daemon's clock
	env   map[string]string

	mu       sync.Mutex
	onHook   func(w http.ResponseWriter, r *http.Request) bool // answers a webhook instead, when it returns true
	pages    map[string]sitePage                               // by host
	resolves map[string]bool
	notices  []received
	// hookDown[path]: the receiver answers 503 there.
	hookDown map[string]bool

	web, hook *httptest.Server
	dnsAddr   string
	cfgPath   string

	storeOptions []store.Option // for the daemon's store

	d      *Daemon
	cancel context.CancelFunc
	done   chan error
	addr   string
}

func newHarness(t *testing.T, sites []fixtureSite) *harness {
	t.Helper()
	h := &harness{
		t: t, dir: t.TempDir(),
		clock:    testclock.New(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)),
		env:      map[string]string{"API_TOKEN": testToken, "OWNER_SECRET": "owner-secret", "OPS_SECRET": "ops-secret"},
		pages:    map[string]sitePage{},
		resolves: map[string]bool{},
		hookDown: map[string]bool{},
	}
	h.web = httptest.NewServer(http.HandlerFunc(h.serveSite))
	t.Cleanup(h.web.Close)
	h.hook = httptest.NewServer(http.HandlerFunc(h.serveHook))
	t.Cleanup(h.hook.Close)
	h.startDNS()

	_, port, _ := net.SplitHostPort(h.web.Listener.Addr().String())
	var csv strings.Builder
	csv.WriteString("domain,icp,status,entity,url,owner_channel,owner_url,owner_secret_env,tags\n")
	for _, s := range sites {
		if s.ICP == "" {
			s.ICP = testICP
		}
		if s.Status == "" {
			s.Status = "filed"
		}
		if s.Footer == "" {
			s.Footer = goodFooter
		}
		h.resolves[s.Domain] = true
		h.resolves["www."+s.Domain] = true
		h.setFooter(s.Domain, fmt.Sprintf(s.Footer, s.ICP))
		fmt.Fprintf(&csv, "%s,%s,%s,测试公司,http://%s:%s/,webhook,%s/owner/%s,OWNER_SECRET,%s\n",
			s.Domain, s.ICP, s.Status, s.Domain, port, h.hook.URL, s.Domain, s.Tags)
	}
	writeFile(t, filepath.Join(h.dir, "sites.csv"), csv.String())
	h.cfgPath = filepath.Join(h.dir, "beianwatch.yaml")
	writeFile(t, h.cfgPath, fmt.Sprintf(`listen: 127.0.0.1:1
storage: {driver: sqlite, path: %s}
inventory: {path: %s}
allow_private: true
provider:
  name: TestCloud
  ip_ranges: [127.0.0.0/8]
  ops_channel: {kind: webhook, url: %s/ops, secret_env: OPS_SECRET}
dns: {resolvers: ["%s"], authoritative: false, timeout: 1s}
http: {timeout: 3s}
schedules: {footer: "@every 1h", shell: "@every 1h", dns: "@every 1h", contact: "off"}
lifecycle: {failure_threshold: 2, success_threshold: 2, rectification_period: 240h, remind_every: 72h, storm: {settle: 0s}}
notices: {language: zh, quiet_hours: "", timezone: Asia/Shanghai}
api: {token_env: API_TOKEN}
`, filepath.Join(h.dir, "bw.db"), filepath.Join(h.dir, "sites.csv"), h.hook.URL, h.dnsAddr))
	return h
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setFooter serves a compliant-looking page with the given footer.
func (h *harness) setFooter(domain, footer string) {
	body := "<!DOCTYPE html><html><head><meta charset='utf-8'><title>测试</title></head><body><main><p>" +
		strings.Repeat("本公司提供软件开发与信息技术咨询服务，欢迎垂询。", 10) + "</p></main>" + footer + "</body></html>"
	h.setPage(domain, http.StatusOK, body)
}

func (h *harness) setPage(domain string, status int, body string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pages[domain] = sitePage{status: status, body: body}
}

func (h *harness) serveSite(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	h.mu.Lock()
	p, ok := h.pages[strings.TrimPrefix(host, "www.")]
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(p.status)
	io.WriteString(w, p.body)
}

func (h *harness) serveHook(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	on := h.onHook
	h.mu.Unlock()
	if on != nil && on(w, r) {
		return
	}
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	json.Unmarshal(body, &m)
	h.mu.Lock()
	if h.hookDown[r.URL.Path] {
		h.mu.Unlock()
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	h.notices = append(h.notices, received{Path: r.URL.Path, ID: r.Header.Get("X-Beianwatch-Notice-Id"), Body: m})
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// received returns the notices delivered so far to paths with prefix.
func (h *harness) received(prefix string) []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []received
	for _, n := range h.notices {
		if strings.HasPrefix(n.Path, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func (h *harness) startDNS() {
	lo := netip.MustParseAddr("127.0.0.1")
	h.dnsAddr = fakedns.Start(h.t, func(name string) (netip.Addr, bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return lo, h.resolves[name]
	})
}

// start runs the daemon in-process until the test ends or stop is called.
func (h *harness) start() {
	h.t.Helper()
	cfg, err := config.Load(h.cfgPath)
	if err != nil {
		h.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := New(ctx, cfg, Options{
		Logger: logger, Getenv: func(k string) string { return h.env[k] }, Now: h.clock.Now,
		Listener: ln, PollInterval: 100 * time.Millisecond, GracePeriod: 5 * time.Second,
		StoreOptions:     h.storeOptions,
		SuspendedRecheck: 500 * time.Millisecond,
	})
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	h.d, h.cancel, h.done = d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.waitFor("daemon ready", func() bool { return d.ready.Load() })
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("daemon stopped with %v", err)
	}
	h.cancel = nil
}

func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runCheck triggers check on domain through the API and waits until its
// result is recorded.
func (h *harness) runCheck(check, domain string) store.SiteResult {
	h.t.Helper()
	ctx := context.Background()
	before, err := h.d.store.Runs(ctx, domain, check, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	resp := h.api("POST", "/api/v1/sites/"+domain+"/check?only="+check)
	if resp.StatusCode != http.StatusAccepted {
		h.t.Fatalf("trigger %s %s: HTTP %d", check, domain, resp.StatusCode)
	}
	var runs []store.SiteResult
	h.waitFor(check+" result for "+domain, func() bool {
		runs, err = h.d.store.Runs(ctx, domain, check, 1000)
		return err == nil && len(runs) > len(before)
	})
	// Runs are newest first.
	return runs[0]
}

// runCheckNoWait triggers check on domain through the API.
func (h *harness) runCheckNoWait(check, domain string) {
	h.t.Helper()
	resp := h.api("POST", "/api/v1/sites/"+domain+"/check?only="+check)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		h.t.Fatalf("trigger %s %s: HTTP %d", check, domain, resp.StatusCode)
	}
}

// storeErrors is the sum of beianwatch_store_errors_total.
func (h *harness) storeErrors() float64 {
	mfs, err := h.d.registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "beianwatch_store_errors_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func (h *harness) api(method, path string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (h *harness) apiJSON(path string, v any) {
	h.t.Helper()
	resp := h.api("GET", path)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("GET %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
}
