package fakedns

import (
	"testing"

	"github.com/miekg/dns"
)

func TestStart(t *testing.T) {
	addr := Start(t, Loopback("a.example.cn"))
	for _, tc := range []struct {
		name, net string
		qtype     uint16
		rcode     int
		answers   int
	}{
		{"www.a.example.cn.", "udp", dns.TypeA, dns.RcodeSuccess, 1},
		{"a.example.cn.", "tcp", dns.TypeA, dns.RcodeSuccess, 1},
		{"a.example.cn.", "udp", dns.TypeAAAA, dns.RcodeSuccess, 0},
		{"b.example.cn.", "udp", dns.TypeA, dns.RcodeNameError, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, tc.qtype)
		resp, _, err := (&dns.Client{Net: tc.net}).Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.name, tc.net, err)
		}
		if resp.Rcode != tc.rcode || len(resp.Answer) != tc.answers {
			t.Errorf("%s %s %d: rcode %d, %d answers; want %d, %d", tc.name, tc.net, tc.qtype, resp.Rcode, len(resp.Answer), tc.rcode, tc.answers)
		}
		if tc.answers == 1 && resp.Answer[0].(*dns.A).A.String() != "127.0.0.1" {
			t.Errorf("%s: %v", tc.name, resp.Answer[0])
		}
	}
}
