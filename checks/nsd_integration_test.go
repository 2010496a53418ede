package checks

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/freeport"

	"github.com/beianwatch/beianwatch/egress"
	"github.com/miekg/dns"
)

// The resolver and the dns and shell checks against a real authoritative
// server: NSD from the Debian package, started on loopback with the zones in
// testdata/dns. Skipped only when NSD is missing and
// BEIANWATCH_REQUIRE_INTEGRATION is unset; CI sets it, so there a missing
// NSD fails the run.

type nsdServer struct {
	addr string // 127.0.0.1:port
	port int
}

func findNSD() string {
	if p, err := exec.LookPath("nsd"); err == nil {
		return p
	}
	// Debian installs it outside an unprivileged user's PATH.
	if _, err := os.Stat("/usr/sbin/nsd"); err == nil {
		return "/usr/sbin/nsd"
	}
	return ""
}

// loopbackPortFreeForDNS finds a port free for both UDP and TCP.
func loopbackPortFreeForDNS(t testing.TB) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return 0
}

func startNSD(t *testing.T) *nsdServer {
	t.Helper()
	bin := findNSD()
	if bin == "" {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") == "" {
			t.Skip("NSD is not installed (Debian package nsd); set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure")
		}
		t.Fatal("BEIANWATCH_REQUIRE_INTEGRATION is set but NSD (Debian package nsd) is not installed")
	}
	dir := t.TempDir()
	for _, z := range []string{"example.test.zone", "shop.example.test.zone"} {
		b, err := os.ReadFile(filepath.Join("testdata", "dns", z))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, z), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port := loopbackPortFreeForDNS(t)
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1
	port: %d
	zonesdir: "%[2]s"
	pidfile: "%[2]s/nsd.pid"
	xfrdfile: "%[2]s/xfrd.state"
	xfrdir: "%[2]s"
	zonelistfile: "%[2]s/zone.list"
	database: ""
	logfile: "%[2]s/nsd.log"
	username: ""
	chroot: ""
	server-count: 1
	verbosity: 1
	hide-version: yes
remote-control:
	control-enable: no
zone:
	name: example.test
	zonefile: example.test.zone
zone:
	name: shop.example.test
	zonefile: shop.example.test.zone
`, port, dir)
	confPath := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", confPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting NSD: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	s := &nsdServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), port: port}

	// Ready when it answers the SOA authoritatively.
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for {
		m := new(dns.Msg)
		m.SetQuestion("example.test.", dns.TypeSOA)
		if r, _, err := c.Exchange(m, s.addr); err == nil && r.Rcode == dns.RcodeSuccess && r.Authoritative {
			return s
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
			t.Fatalf("NSD exited: %v\n%s\n%s", err, out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "nsd.log"))
			t.Fatalf("NSD did not answer within 15s\n%s\n%s", out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestNSDIntegration(t *testing.T) {
	nsd := startNSD(t)
	ctx := context.Background()
	// NSD stands in for both the configured resolver and the zone's
	// authoritative servers (ns1.example.test is 127.0.0.1).
	r := quickResolver(t, ResolverConfig{Servers: []string{nsd.addr}, Authoritative: true, AuthoritativePort: nsd.port,
		Timeout: 500 * time.Millisecond})
	plain := quickResolver(t, ResolverConfig{Servers: []string{nsd.addr}, Timeout: 500 * time.Millisecond})

	t.Run("lookups", func(t *testing.T) {
		tests := []struct {
			name   string
			qtype  uint16
			kind   AnswerKind
			values []string
			errHas string
		}{
			{name: "a.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"A 203.0.113.10"}},
			{name: "v6.example.test", qtype: dns.TypeAAAA, kind: KindRecords, values: []string{"AAAA 2001:db8::10"}},
			{name: "a.example.test", qtype: dns.TypeAAAA, kind: KindNoData},
			{name: "missing.example.test", qtype: dns.TypeA, kind: KindNXDomain},
			{name: "alias.example.test", qtype: dns.TypeA, kind: KindRecords,
				values: []string{"CNAME alias2.example.test", "CNAME a.example.test", "A 203.0.113.10"}},
			{name: "loop1.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "CNAME loop"},
			{name: "例子.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"A 203.0.113.12"}},
			{name: "www.wwwonly.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"A 203.0.113.20"}},
			{name: "wwwonly.example.test", qtype: dns.TypeA, kind: KindNoData},
			{name: "www.shop.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"A 203.0.113.30"}},
			{name: "not-served.invalid", qtype: dns.TypeA, kind: KindUnknown, errHas: "REFUSED"},
		}
		for _, tt := range tests {
			answers, err := plain.Lookup(ctx, tt.name, tt.qtype)
			if err != nil {
				t.Fatal(err)
			}
			a := answers[0]
			if a.Kind != tt.kind || !slices.Equal(recordValues(a.Records), tt.values) {
				t.Errorf("%s %s: %v, want %v %q", tt.name, dns.TypeToString[tt.qtype], a, tt.kind, tt.values)
			}
			if tt.errHas != "" && (a.Err == nil || !strings.Contains(a.Err.Error(), tt.errHas)) {
				t.Errorf("%s: err %v, want %q", tt.name, a.Err, tt.errHas)
			}
		}
	})

	t.Run("truncation falls back to TCP", func(t *testing.T) {
		answers, err := plain.Lookup(ctx, "big.example.test", dns.TypeA)
		if err != nil {
			t.Fatal(err)
		}
		if answers[0].Kind != KindRecords || len(answers[0].Records) != 100 {
			t.Fatalf("want all 100 addresses, got %d: %v", len(answers[0].Records), answers[0].Err)
		}
		// The same question over UDP alone really is truncated.
		m := new(dns.Msg)
		m.SetQuestion("big.example.test.", dns.TypeA)
		m.SetEdns0(ednsSize, false)
		resp, _, err := (&dns.Client{Timeout: time.Second}).Exchange(m, nsd.addr)
		if err != nil || !resp.Truncated {
			t.Fatalf("expected a truncated UDP answer: %v", err)
		}
	})

	t.Run("zone cut below the registrable domain", func(t *testing.T) {
		z, err := r.Authoritative(ctx, "www.shop.example.test")
		if err != nil {
			t.Fatal(err)
		}
		if z.Name != "shop.example.test" || len(z.Servers) != 1 || z.Servers[0].Host != "ns.shop.example.test" {
			t.Fatalf("zone %+v", z)
		}
		z, err = r.Authoritative(ctx, "paused.example.test")
		if err != nil || z.Name != "example.test" || z.Servers[0].Host != "ns1.example.test" {
			t.Fatalf("zone %+v, %v", z, err)
		}
	})

	t.Run("dns check", func(t *testing.T) {
		tests := []struct {
			domain   string
			outcome  Outcome
			evidence string
		}{
			{"paused.example.test", Pass, ""},
			{"exists-nodata.example.test", Pass, ""},
			{"resolving.example.test", Fail, "resolving.example.test A 203.0.113.5 at ns1.example.test (" + nsd.addr + ")"},
			{"cname-only.example.test", Fail, "www.cname-only.example.test CNAME site.cdn.example.net"},
			{"shop.example.test", Fail, "www.shop.example.test A 203.0.113.30 at ns.shop.example.test"},
			{"not-served.invalid", Inconclusive, ""},
		}
		for _, tt := range tests {
			res := Run(ctx, NewDNSCheck(r), &Site{Domain: tt.domain, Status: StatusFirstFilingPending})
			if res.Outcome != tt.outcome {
				t.Errorf("%s: %v, want %v: %+v", tt.domain, res.Outcome, tt.outcome, res)
				continue
			}
			if tt.evidence != "" && (len(res.Findings) == 0 || !strings.Contains(res.Findings[0].Evidence, tt.evidence)) {
				t.Errorf("%s: evidence %+v lacks %q", tt.domain, res.Findings, tt.evidence)
			}
		}
	})

	t.Run("shell check", func(t *testing.T) {
		nginx := shellFixture(t, "nginx-debian.html")
		web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write(nginx)
		}))
		t.Cleanup(web.Close)
		_, webPort, _ := net.SplitHostPort(web.Listener.Addr().String())
		f := NewFetcher(FetcherConfig{Timeout: time.Second, Policy: egress.Policy{AllowPrivate: true}, Resolver: plain})
		f.httpsPort, f.httpPort = freeport.Port(t), webPort
		filed := []IPRange{mustRange(t, "127.0.0.1")}
		tests := []struct {
			domain  string
			outcome Outcome
			codes   []string
		}{
			{"web.example.test", Fail, []string{CodeShellPlaceholder}},
			{"paused.example.test", Fail, []string{CodeShellUnresolvable}},
			{"exists-nodata.example.test", Fail, []string{CodeShellUnresolvable}},
			// 127.0.0.2 is outside the filed range, and nothing listens there.
			{"moved.example.test", Fail, []string{CodeShellOffProvider, CodeShellUnreachable}},
			{"not-served.invalid", Inconclusive, nil},
		}
		for _, tt := range tests {
			res := Run(ctx, NewShellCheck(plain, f, nil), &Site{Domain: tt.domain, Status: StatusFiled, IPRanges: filed})
			var codes []string
			for _, fd := range res.Findings {
				codes = append(codes, fd.Code)
			}
			if res.Outcome != tt.outcome || !slices.Equal(codes, tt.codes) {
				t.Errorf("%s: %v %v, want %v %v: %+v", tt.domain, res.Outcome, codes, tt.outcome, tt.codes, res)
			}
		}
	})
}
