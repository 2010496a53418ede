package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/beianwatch/beianwatch/checks"
)

// stormSites is n sites with good footers.
func stormSites(n int) ([]fixtureSite, []string) {
	var sites []fixtureSite
	var names []string
	for i := range n {
		d := fmt.Sprintf("st%02d.example.cn", i)
		sites = append(sites, fixtureSite{Domain: d})
		names = append(names, d)
	}
	return sites, names
}

// rewriteConfig applies replacements to the harness's configuration file.
func rewriteConfig(t *testing.T, h *harness, pairs ...string) {
	t.Helper()
	b, err := os.ReadFile(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(conf, pairs[i]) {
			t.Fatalf("config has no %q", pairs[i])
		}
		conf = strings.Replace(conf, pairs[i], pairs[i+1], 1)
	}
	writeFile(t, h.cfgPath, conf)
}

func (h *harness) countRuns(check string) int {
	var n int
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM runs WHERE check_name = ?`, check).Scan(&n)
	return n
}

// All sites refuse connections at once (our egress broke, say) with a
// failure threshold of 1, checked in small batches: the first batches open
// violations before the storm guard has seen min_sites, and their owner
// notices must not go out. Ops hears once; no owner hears anything.
func TestStormAllRefusedFirstWaveHeld(t *testing.T) {
	sites, names := stormSites(25)
	h := newHarness(t, sites)
	rewriteConfig(t, h,
		"failure_threshold: 2", "failure_threshold: 1",
		"storm: {settle: 0s}", "storm: {settle: 2m, min_sites: 20, share: 0.5, window: 15m}",
		"api: {token_env: API_TOKEN}", "api: {token_env: API_TOKEN}\nchecks: {batch_size: 5}")
	h.start()
	h.web.Close() // every site now refuses connections
	if _, err := h.d.engine.Trigger(context.Background(), checks.CheckShell, names); err != nil {
		t.Fatal(err)
	}
	h.waitFor("25 shell runs", func() bool { return h.countRuns(checks.CheckShell) >= 25 })
	h.waitFor("the storm summary", func() bool { return len(h.received("/ops")) >= 1 })
	time.Sleep(time.Second) // room for a wrongly sent notice to arrive
	if got := len(h.received("/owner/")); got != 0 {
		t.Fatalf("%d owner notices sent, want 0", got)
	}
	if ops := h.received("/ops"); len(ops) != 1 || ops[0].Body["type"] != "storm" {
		t.Fatalf("ops got %d notices (%v), want the one storm summary", len(ops), ops)
	}
	var held, opened int
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM notices WHERE kind = 'owner' AND state = 'held'`).Scan(&held)
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM violations WHERE code = ?`, checks.CodeShellUnreachable).Scan(&opened)
	if opened != 25 || held != 25 {
		t.Fatalf("%d violations opened and %d owner notices held; want 25 and 25 (the first wave held too)", opened, held)
	}
}

// flakyDNS answers A queries with 127.0.0.1, or SERVFAIL while down.
func flakyDNS(t *testing.T, down *atomic.Bool) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		switch {
		case down.Load():
			m.Rcode = dns.RcodeServerFailure
		case len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(127, 0, 0, 1)}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// Our resolver fails: every check is inconclusive. No owner hears anything
// (inconclusive never opens a violation), and ops hears once when it
// starts and once when checks are conclusive again.
func TestStormInconclusiveTellsOpsStartAndEnd(t *testing.T) {
	sites, names := stormSites(25)
	h := newHarness(t, sites)
	var down atomic.Bool
	down.Store(true)
	rewriteConfig(t, h,
		h.dnsAddr, flakyDNS(t, &down),
		"storm: {settle: 0s}", "storm: {settle: 0s, min_sites: 20, share: 0.5, window: 15m}")
	h.start()
	ctx := context.Background()
	round := func(want int) {
		t.Helper()
		if _, err := h.d.engine.Trigger(ctx, checks.CheckFooter, names); err != nil {
			t.Fatal(err)
		}
		h.waitFor(fmt.Sprintf("%d footer runs", want), func() bool { return h.countRuns(checks.CheckFooter) >= want })
	}
	round(25)
	var inconclusive int
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM runs WHERE outcome = 'inconclusive'`).Scan(&inconclusive)
	if inconclusive != 25 {
		t.Fatalf("%d of 25 runs inconclusive with the resolver failing", inconclusive)
	}
	h.waitFor("the ops notice that checks are inconclusive", func() bool { return len(h.received("/ops")) >= 1 })
	round(50) // still failing: no second notice
	time.Sleep(500 * time.Millisecond)
	if ops := h.received("/ops"); len(ops) != 1 {
		t.Fatalf("ops got %d notices while the resolver fails, want 1", len(ops))
	}

	down.Store(false)
	h.clock.Advance(16 * time.Minute) // the inconclusive runs leave the window
	round(75)
	h.waitFor("the ops notice that checks are conclusive again", func() bool { return len(h.received("/ops")) >= 2 })
	time.Sleep(500 * time.Millisecond)
	ops := h.received("/ops")
	if len(ops) != 2 {
		t.Fatalf("ops got %d notices, want 2 (start and end)", len(ops))
	}
	for i, wantEnded := range []bool{false, true} {
		s, _ := ops[i].Body["storm"].(map[string]any)
		if s == nil || s["inconclusive"] != true {
			t.Fatalf("ops notice %d: storm %v, want an inconclusive storm", i, ops[i].Body["storm"])
		}
		if _, ended := s["ended"]; ended != wantEnded {
			t.Errorf("ops notice %d: ended present = %v, want %v", i, ended, wantEnded)
		}
	}
	if got := len(h.received("/owner/")); got != 0 {
		t.Fatalf("%d owner notices, want 0", got)
	}
}

// While the store cannot write (here another process holds its write lock,
// as a full disk would fail every commit), /readyz says 503 with the
// reason and store_errors_total counts it; once it can write, 200.
func TestReadyzReportsStoreThatCannotWrite(t *testing.T) {
	h := newHarness(t, []fixtureSite{{Domain: "a.example.cn"}})
	h.start()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + h.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d %q before the fault, want 200", code, body)
	}
	other, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "bw.db")+"?_pragma=busy_timeout(100)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store cannot write") {
		t.Errorf("/readyz %d %q while the store cannot write, want 503 with the reason", code, body)
	}
	if _, metrics := get("/metrics"); !strings.Contains(metrics, `beianwatch_store_errors_total{op="probe"} 1`) {
		t.Errorf("store_errors_total{op=\"probe\"} not 1:\n%s", grepLines(metrics, "store_errors"))
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d %q after the fault, want 200", code, body)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
