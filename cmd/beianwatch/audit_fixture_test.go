package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"

	"github.com/beianwatch/beianwatch/internal/syncbuf"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/internal/fakedns"
)

// fixtureSite is one simulated filed site: what the inventory says, what
// the fixture DNS answers and what its homepage serves.
type fixtureSite struct {
	Domain   string
	ICP, PSB string
	Status   checks.Status
	Contacts string // inventory cell
	// Addr is the A record of the domain and www.; "" means NXDOMAIN.
	Addr string
	// Page is a template in testdata/audit; Code an HTTP status instead.
	Page string
	Code int
	// Hang: the homepage never answers (until the client gives up).
	Hang bool
}

// auditFixture serves a set of sites on loopback: one HTTP server for all
// of them (virtual hosts, as on a provider's shared host) and one DNS
// server answering their names.
type auditFixture struct {
	dir      string
	config   string
	sites    []fixtureSite
	byHost   map[string]*fixtureSite
	httpPort int

	inFlight, peak atomic.Int32
	requests       atomic.Int32
	hung           chan string // receives the domain of a hanging request
	delay          time.Duration
	pages          *template.Template
}

type fixtureOptions struct {
	concurrency, perIP int
	failAfter          int
	delay              time.Duration // added to every homepage answer
}

func newAuditFixture(t testing.TB, sites []fixtureSite, o fixtureOptions) *auditFixture {
	t.Helper()
	f := &auditFixture{dir: t.TempDir(), sites: sites, byHost: map[string]*fixtureSite{},
		hung: make(chan string, 16), delay: o.delay}
	for i := range f.sites {
		f.byHost[f.sites[i].Domain] = &f.sites[i]
	}
	var err error
	f.pages, err = template.ParseGlob(filepath.Join("testdata", "audit", "*.html"))
	if err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(http.HandlerFunc(f.serveHTTP))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { srv.CloseClientConnections() })
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f.httpPort, _ = strconv.Atoi(port)
	dnsAddr := f.startDNS(t)

	// The inventory.
	var inv bytes.Buffer
	w := csv.NewWriter(&inv)
	w.Write([]string{"domain", "icp", "psb", "status", "entity", "url", "ip_ranges", "contacts"})
	for _, s := range f.sites {
		w.Write([]string{s.Domain, s.ICP, s.PSB, string(s.Status), "测试主体 " + s.Domain,
			fmt.Sprintf("http://%s:%d/", s.Domain, f.httpPort), "127.0.0.1", s.Contacts})
	}
	w.Flush()
	if err := os.WriteFile(filepath.Join(f.dir, "sites.csv"), inv.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.concurrency == 0 {
		o.concurrency = 4
	}
	if o.perIP == 0 {
		o.perIP = 8
	}
	if o.failAfter == 0 {
		o.failAfter = 2
	}
	cfg := fmt.Sprintf(`storage: {driver: sqlite, path: data/beianwatch.db}
inventory: {path: sites.csv}
allow_private: true
provider: {name: 测试云, ip_ranges: ["127.0.0.1/32"]}
dns: {resolvers: ["%s"], authoritative: false, timeout: 2s}
http: {timeout: 3s}
checks: {concurrency: %d, per_ip_concurrency: %d}
lifecycle: {failure_threshold: %d}
notices: {quiet_hours: ""}
`, dnsAddr, o.concurrency, o.perIP, o.failAfter)
	f.config = filepath.Join(f.dir, "beianwatch.yaml")
	if err := os.WriteFile(f.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *auditFixture) serveHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for p := f.peak.Load(); n > p && !f.peak.CompareAndSwap(p, n); p = f.peak.Load() {
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	s := f.byHost[strings.TrimPrefix(host, "www.")]
	if s == nil {
		http.NotFound(w, r)
		return
	}
	if s.Hang {
		select {
		case f.hung <- s.Domain:
		default:
		}
		<-r.Context().Done()
		return
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if s.Code != 0 {
		http.Error(w, http.StatusText(s.Code), s.Code)
		return
	}
	psbCode := ""
	if p, err := checks.ParsePSB(s.PSB); err == nil {
		psbCode = p.Code
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := f.pages.ExecuteTemplate(w, s.Page, map[string]string{"ICP": s.ICP, "PSB": s.PSB, "PSBCode": psbCode}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// startDNS answers A queries for the sites (and www.) with their Addr,
// NXDOMAIN for the rest, as a recursive resolver would.
func (f *auditFixture) startDNS(t testing.TB) string {
	return fakedns.Start(t, func(name string) (netip.Addr, bool) {
		s := f.byHost[strings.TrimPrefix(name, "www.")]
		if s == nil || s.Addr == "" {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(s.Addr)
		return a, err == nil
	})
}

// runAuditCLI runs the command in-process.
func runAuditCLI(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb syncbuf.Buffer
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}
