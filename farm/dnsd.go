package farm

import (
	"net"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// dnsTTL is short so a resolver in front of the farm would follow a site
// changing state between runs.
const dnsTTL = 60

// dnsHandler answers for every name under the farm's zone with the
// authority of its only server, and with recursion available, so that
// beianwatch can use it as a configured resolver: records for resolving
// sites, NXDOMAIN for paused and unresolvable ones, NODATA for other types.
// Names outside the zone are REFUSED: the farm is no open resolver.
type dnsHandler struct {
	farm    *Farm
	zone    string // lower case, no trailing dot
	queries atomic.Int64
	// failing: every query gets SERVFAIL, as when the resolver the
	// daemon uses is broken (a fault trial).
	failing atomic.Bool
}

func (h *dnsHandler) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	h.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	defer w.WriteMsg(m)
	if h.failing.Load() {
		m.Authoritative = false
		m.Rcode = dns.RcodeServerFailure
		return
	}
	if r.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeNotImplemented
		return
	}
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return
	}
	q := r.Question[0]
	name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
	if q.Qclass != dns.ClassINET || (name != h.zone && !strings.HasSuffix(name, "."+h.zone)) {
		m.Authoritative = false
		m.Rcode = dns.RcodeRefused
		return
	}
	soa := &dns.SOA{
		Hdr:    dns.RR_Header{Name: dns.Fqdn(h.zone), Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: dnsTTL},
		Ns:     "ns." + dns.Fqdn(h.zone),
		Mbox:   "hostmaster." + dns.Fqdn(h.zone),
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: dnsTTL,
	}
	if name == h.zone {
		if q.Qtype == dns.TypeSOA {
			m.Answer = append(m.Answer, soa)
		} else {
			m.Ns = append(m.Ns, soa)
		}
		return
	}
	s := h.farm.Lookup(name)
	if s == nil || !s.Resolves() || (name != s.Domain && name != "www."+s.Domain) {
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, soa)
		return
	}
	if q.Qtype != dns.TypeA && q.Qtype != dns.TypeANY {
		m.Ns = append(m.Ns, soa)
		return
	}
	m.Answer = append(m.Answer, &dns.A{
		Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: dnsTTL},
		A:   net.ParseIP(s.Addr()).To4(),
	})
}
