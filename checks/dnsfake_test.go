package checks

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/beianwatch/beianwatch/internal/fakedns"

	"github.com/miekg/dns"
)

// Misbehaviours the fake server can be told to show for a query name.
const (
	behaveServfail = "servfail"
	behaveRefused  = "refused"
	behaveSilent   = "silent"   // never answers
	behaveTruncate = "truncate" // TC over UDP, full answer over TCP
	behaveLieName  = "lie-name" // answers with records of another name
	behaveLieQ     = "lie-q"    // question section names another name
	behaveBadID    = "bad-id"   // answer carries the wrong message id
	behaveGarbage  = "garbage"  // bytes that are not a DNS message
	behavePartial  = "partial"  // answers a CNAME without following it
)

// fakeDNS is an in-process DNS server over zone data from testdata: a
// "recursive resolver" (RA set, follows CNAMEs in its data) or an
// authoritative server (AA set).
type fakeDNS struct {
	rrs     map[string][]dns.RR // lower-case owner FQDN
	apexes  map[string]*dns.SOA
	auth    bool
	behave  map[string]string // lower-case FQDN -> behaviour
	queries atomic.Int64
	tcp     atomic.Int64
	addr    string
	// rrlAfter, when positive, makes the server rate-limit UDP as NSD's
	// RRL does past its rate: after that many UDP answers, every other
	// one is dropped and the rest "slip" (truncated, empty). TCP is
	// never limited.
	rrlAfter   atomic.Int64
	udpAnswers atomic.Int64
	udpAfterRL atomic.Int64 // UDP questions that came after limiting began
}

func loadZone(t testing.TB, file string) map[string][]dns.RR {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zp := dns.NewZoneParser(f, ".", file)
	out := map[string][]dns.RR{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		n := strings.ToLower(rr.Header().Name)
		out[n] = append(out[n], rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("parsing %s: %v", file, err)
	}
	return out
}

// startFakeDNS serves zone file data on 127.0.0.1, UDP and TCP on the same
// free port, until the test ends.
func startFakeDNS(t testing.TB, zoneFile string, auth bool, behave map[string]string) *fakeDNS {
	t.Helper()
	return startFakeDNSAt(t, "127.0.0.1", zoneFile, auth, behave)
}

// startFakeDNSAt is startFakeDNS on another loopback address ("::1").
func startFakeDNSAt(t testing.TB, host, zoneFile string, auth bool, behave map[string]string) *fakeDNS {
	t.Helper()
	f := &fakeDNS{rrs: loadZone(t, zoneFile), apexes: map[string]*dns.SOA{}, auth: auth, behave: map[string]string{}}
	for n, rrs := range f.rrs {
		for _, rr := range rrs {
			if soa, ok := rr.(*dns.SOA); ok {
				f.apexes[n] = soa
			}
		}
	}
	for n, b := range behave {
		f.behave[strings.ToLower(dns.Fqdn(n))] = b
	}
	f.addr = fakedns.Serve(t, host, f)
	return f
}

func (f *fakeDNS) port() int {
	_, p, _ := net.SplitHostPort(f.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func (f *fakeDNS) exists(name string) bool {
	if len(f.rrs[name]) > 0 {
		return true
	}
	for n := range f.rrs {
		if strings.HasSuffix(n, "."+name) {
			return true // empty non-terminal
		}
	}
	return false
}

func (f *fakeDNS) enclosingSOA(name string) *dns.SOA {
	for cand := name; ; {
		if soa, ok := f.apexes[cand]; ok {
			return soa
		}
		i, end := dns.NextLabel(cand, 0)
		if end {
			return nil
		}
		cand = cand[i:]
	}
}

func (f *fakeDNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	f.queries.Add(1)
	_, overTCP := w.RemoteAddr().(*net.TCPAddr)
	if overTCP {
		f.tcp.Add(1)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = f.auth
	m.RecursionAvailable = !f.auth
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	if limit := f.rrlAfter.Load(); !overTCP && limit > 0 {
		if n := f.udpAnswers.Add(1); n > limit {
			f.udpAfterRL.Add(1)
			if n%2 == 0 {
				return // dropped
			}
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	switch f.behave[name] {
	case behaveSilent:
		return
	case behaveServfail:
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	case behaveRefused:
		m.Rcode = dns.RcodeRefused
		m.Authoritative = false
		_ = w.WriteMsg(m)
		return
	case behaveGarbage:
		_, _ = w.Write([]byte{0xde, 0xad, 0xbe, 0xef})
		return
	case behaveLieName:
		rr, _ := dns.NewRR("other.example.test. 300 IN A 192.0.2.66")
		m.Answer = []dns.RR{rr}
		_ = w.WriteMsg(m)
		return
	case behaveLieQ:
		m.Question[0].Name = "other.example.test."
		rr, _ := dns.NewRR("other.example.test. 300 IN A 192.0.2.66")
		m.Answer = []dns.RR{rr}
		_ = w.WriteMsg(m)
		return
	case behaveBadID:
		m.Id = req.Id + 1
		rr, _ := dns.NewRR(q.Name + " 300 IN A 192.0.2.66")
		m.Answer = []dns.RR{rr}
		_ = w.WriteMsg(m)
		return
	case behaveTruncate:
		if !overTCP {
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
	}
	// Follow CNAMEs in our own data, as both kinds of server do, but stop
	// after a few hops: a looping chain is sent as it is.
	cur := name
	for hop := 0; hop < 10; hop++ {
		var next string
		for _, rr := range f.rrs[cur] {
			t := rr.Header().Rrtype
			if t == q.Qtype {
				m.Answer = append(m.Answer, rr)
			} else if t == dns.TypeCNAME && q.Qtype != dns.TypeCNAME {
				m.Answer = append(m.Answer, rr)
				next = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		if next == "" || f.behave[name] == behavePartial || (f.auth && f.enclosingSOA(next) == nil) {
			break
		}
		cur = next
	}
	if len(m.Answer) == 0 || cur != name && !f.exists(cur) {
		if !f.exists(cur) {
			m.Rcode = dns.RcodeNameError
		}
		if soa := f.enclosingSOA(cur); soa != nil {
			m.Ns = append(m.Ns, soa)
		} else if f.auth {
			m.Rcode = dns.RcodeRefused
			m.Authoritative = false
		}
	}
	_ = w.WriteMsg(m)
}
