// Package fakedns is the in-process DNS server of the tests: Serve runs any
// handler over UDP and TCP on one loopback port, and Start serves the
// recursive resolver's view of a handful of fixture names that the
// end-to-end tests point beianwatch at. It is for tests only; the fixture
// farm (a development tool) serves its simulated sites' zone itself.
package fakedns

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Lookup says which IPv4 address name (lower case, no trailing dot) has;
// false means the name does not exist.
type Lookup func(name string) (netip.Addr, bool)

// Start serves lookup on 127.0.0.1 until the test ends and returns the
// server's address. A known name answers A queries with its address and
// other types with NODATA; an unknown name is NXDOMAIN. Negative answers
// carry an SOA, as real servers' do.
func Start(t testing.TB, lookup Lookup) string {
	t.Helper()
	soa, err := dns.NewRR("test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 300")
	if err != nil {
		t.Fatal(err)
	}
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		if len(req.Question) != 1 {
			m.Rcode = dns.RcodeFormatError
			w.WriteMsg(m)
			return
		}
		q := req.Question[0]
		addr, ok := lookup(strings.TrimSuffix(strings.ToLower(q.Name), "."))
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
			m.Ns = []dns.RR{soa}
		case q.Qtype == dns.TypeA && addr.Is4():
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   addr.AsSlice(),
			}}
		default:
			m.Ns = []dns.RR{soa} // NODATA
		}
		w.WriteMsg(m)
	})
	return Serve(t, "127.0.0.1", handler)
}

// Serve serves h over UDP and TCP on one free port of the loopback
// address host ("127.0.0.1", "::1") until the test ends, and returns the
// server's address. Every fake DNS server of the tests runs on it; what
// each one answers is its handler's business.
func Serve(t testing.TB, host string, h dns.Handler) string {
	t.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for i := 0; ; i++ {
		var err error
		if pc, err = net.ListenPacket("udp", net.JoinHostPort(host, "0")); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if i > 20 {
			t.Fatalf("fakedns: no port free for both UDP and TCP: %v", err)
		}
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		// miekg/dns refuses to shut down a server that has not marked
		// itself started: wait for it.
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("fakedns: server did not start")
		}
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// Loopback is a Lookup resolving the given domains and their www. names
// to 127.0.0.1.
func Loopback(domains ...string) Lookup {
	known := map[string]bool{}
	for _, d := range domains {
		known[d], known["www."+d] = true, true
	}
	lo := netip.MustParseAddr("127.0.0.1")
	return func(name string) (netip.Addr, bool) { return lo, known[name] }
}
