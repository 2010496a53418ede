package checks

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	recursiveZone = "testdata/dns/recursive.zone"
	authZone      = "testdata/dns/authoritative.zone"
)

var misbehaving = map[string]string{
	"servfail.example.test": behaveServfail,
	"refused.example.test":  behaveRefused,
	"silent.example.test":   behaveSilent,
	"big.example.test":      behaveTruncate,
	"lie.example.test":      behaveLieName,
	"lieq.example.test":     behaveLieQ,
	"badid.example.test":    behaveBadID,
	"garbage.example.test":  behaveGarbage,
	"alias.example.test":    behavePartial,
}

// quickResolver keeps unknown answers fast: a silent server costs
// (1+Retries)*Timeout.
func quickResolver(t testing.TB, cfg ResolverConfig) *Resolver {
	t.Helper()
	// The fake authoritative servers listen on loopback.
	cfg.AuthoritativePolicy.AllowPrivate = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 150 * time.Millisecond
	}
	if cfg.Retries == 0 {
		cfg.Retries = 1
	}
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewResolverValidation(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ResolverConfig
		servers []string
		err     string
	}{
		{name: "ipv4", cfg: ResolverConfig{Servers: []string{"223.5.5.5:53"}}, servers: []string{"223.5.5.5:53"}},
		{name: "bare address gets port 53", cfg: ResolverConfig{Servers: []string{"223.5.5.5", "2400:3200::1"}},
			servers: []string{"223.5.5.5:53", "[2400:3200::1]:53"}},
		{name: "ipv6 with port", cfg: ResolverConfig{Servers: []string{"[::1]:5353"}}, servers: []string{"[::1]:5353"}},
		{name: "duplicates dropped", cfg: ResolverConfig{Servers: []string{"10.0.0.1:53", "10.0.0.1"}}, servers: []string{"10.0.0.1:53"}},
		{name: "none", cfg: ResolverConfig{}, err: "no DNS server"},
		{name: "host name", cfg: ResolverConfig{Servers: []string{"dns.example:53"}}, err: "must be an IP address"},
		{name: "bad port", cfg: ResolverConfig{Servers: []string{"10.0.0.1:99999"}}, err: "bad port"},
		{name: "zero port", cfg: ResolverConfig{Servers: []string{"10.0.0.1:0"}}, err: "bad port"},
		{name: "empty", cfg: ResolverConfig{Servers: []string{" "}}, err: "empty"},
		{name: "negative timeout", cfg: ResolverConfig{Servers: []string{"10.0.0.1"}, Timeout: -time.Second}, err: "negative timeout"},
		{name: "retry budget", cfg: ResolverConfig{Servers: []string{"10.0.0.1"}, Retries: 50}, err: "budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewResolver(tt.cfg)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Servers(); !slices.Equal(got, tt.servers) {
				t.Errorf("servers = %v, want %v", got, tt.servers)
			}
		})
	}
}

func recordValues(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Type+" "+r.Value)
	}
	return out
}

func TestLookupKinds(t *testing.T) {
	srv := startFakeDNS(t, recursiveZone, false, misbehaving)
	tests := []struct {
		name   string
		qtype  uint16
		kind   AnswerKind
		values []string
		errHas string
	}{
		{name: "a.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"A 203.0.113.10"}},
		{name: "v6.example.test", qtype: dns.TypeAAAA, kind: KindRecords, values: []string{"AAAA 2001:db8::10"}},
		{name: "v6.example.test", qtype: dns.TypeA, kind: KindNoData},
		{name: "nodata.example.test", qtype: dns.TypeA, kind: KindNoData},
		{name: "missing.example.test", qtype: dns.TypeA, kind: KindNXDomain},
		{name: "alias2.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"CNAME a.example.test", "A 203.0.113.10"}},
		{name: "alias2.example.test", qtype: dns.TypeCNAME, kind: KindRecords, values: []string{"CNAME a.example.test"}},
		{name: "a.example.test", qtype: dns.TypeCNAME, kind: KindNoData},
		// A CNAME to a name that does not exist is still a CNAME answer.
		{name: "dangling.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"CNAME nowhere.example.test"}},
		{name: "loop1.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "CNAME loop"},
		{name: "www.wwwonly.example.test", qtype: dns.TypeA, kind: KindRecords, values: []string{"A 203.0.113.20"}},
		{name: "wwwonly.example.test", qtype: dns.TypeA, kind: KindNoData},
		{name: "big.example.test", qtype: dns.TypeA, kind: KindRecords,
			values: []string{"A 203.0.113.100", "A 203.0.113.101", "A 203.0.113.102"}},
		{name: "servfail.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "SERVFAIL"},
		{name: "refused.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "REFUSED"},
		{name: "silent.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "timeout"},
		{name: "lie.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "other names"},
		{name: "lieq.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "another question"},
		{name: "badid.example.test", qtype: dns.TypeA, kind: KindUnknown, errHas: "timeout"},
		{name: "garbage.example.test", qtype: dns.TypeA, kind: KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+dns.TypeToString[tt.qtype], func(t *testing.T) {
			// A resolver each: a truncated small answer (big.example.test
			// here) moves a server to TCP, and the misbehaviours after it
			// are about UDP.
			r := quickResolver(t, ResolverConfig{Servers: []string{srv.addr}})
			start := time.Now()
			answers, err := r.Lookup(context.Background(), tt.name, tt.qtype)
			if err != nil {
				t.Fatal(err)
			}
			if len(answers) != 1 {
				t.Fatalf("got %d answers, want 1 (one per server): %v", len(answers), answers)
			}
			a := answers[0]
			if a.Kind != tt.kind {
				t.Fatalf("kind = %v, want %v (%v)", a.Kind, tt.kind, a)
			}
			if a.Kind.IsFact() != (a.Err == nil) {
				t.Errorf("a fact must carry no error and an unknown must say why: %v", a)
			}
			if got := recordValues(a.Records); !slices.Equal(got, tt.values) {
				t.Errorf("records = %q, want %q", got, tt.values)
			}
			if tt.errHas != "" && (a.Err == nil || !strings.Contains(a.Err.Error(), tt.errHas)) {
				t.Errorf("err = %v, want it to contain %q", a.Err, tt.errHas)
			}
			if a.Server != srv.addr || a.Name != tt.name {
				t.Errorf("answer names server %q, name %q", a.Server, a.Name)
			}
			// Two attempts of 150ms at most, plus slack for a busy machine.
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v; unknown answers must come quickly", d)
			}
		})
	}
	if srv.tcp.Load() == 0 {
		t.Error("the truncated answer was never asked again over TCP")
	}
}

func TestLookupMultipleServers(t *testing.T) {
	good := startFakeDNS(t, recursiveZone, false, nil)
	bad := startFakeDNS(t, recursiveZone, false, map[string]string{"a.example.test": behaveSilent})
	r := quickResolver(t, ResolverConfig{Servers: []string{bad.addr, good.addr}})
	answers, err := r.Lookup(context.Background(), "a.example.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 {
		t.Fatalf("want one answer per server, got %v", answers)
	}
	if answers[0].Server != bad.addr || answers[0].Kind != KindUnknown {
		t.Errorf("silent server: %v", answers[0])
	}
	if answers[1].Server != good.addr || answers[1].Kind != KindRecords {
		t.Errorf("good server: %v", answers[1])
	}
}

func TestLookupIPv6Server(t *testing.T) {
	if ln, err := net.ListenPacket("udp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	srv := startFakeDNSAt(t, "::1", recursiveZone, false, nil)
	r := quickResolver(t, ResolverConfig{Servers: []string{srv.addr}})
	if !strings.HasPrefix(srv.addr, "[::1]:") {
		t.Fatalf("server address %q", srv.addr)
	}
	answers, err := r.Lookup(context.Background(), "a.example.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if answers[0].Kind != KindRecords {
		t.Fatalf("over IPv6: %v", answers[0])
	}
}

func TestLookupAddrs(t *testing.T) {
	srv := startFakeDNS(t, recursiveZone, false, misbehaving)
	r := quickResolver(t, ResolverConfig{Servers: []string{srv.addr}})
	tests := []struct {
		name   string
		kind   AnswerKind
		addrs  []string
		errHas string
	}{
		{name: "both.example.test", kind: KindRecords, addrs: []string{"203.0.113.11", "2001:db8::11"}},
		{name: "v6.example.test", kind: KindRecords, addrs: []string{"2001:db8::10"}},
		// The resolver returns only the first CNAME: the chain is followed.
		{name: "alias.example.test", kind: KindRecords, addrs: []string{"203.0.113.10"}},
		{name: "Alias.Example.Test.", kind: KindRecords, addrs: []string{"203.0.113.10"}},
		{name: "nodata.example.test", kind: KindNoData},
		{name: "wwwonly.example.test", kind: KindNoData},
		{name: "www.wwwonly.example.test", kind: KindRecords, addrs: []string{"203.0.113.20"}},
		{name: "missing.example.test", kind: KindNXDomain},
		{name: "dangling.example.test", kind: KindNoData},
		{name: "loop1.example.test", kind: KindUnknown, errHas: "CNAME loop"},
		{name: "servfail.example.test", kind: KindUnknown, errHas: "SERVFAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.LookupAddrs(context.Background(), tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if res.Kind != tt.kind {
				t.Fatalf("kind = %v, want %v (%v)", res.Kind, tt.kind, res.Err)
			}
			var got []string
			for _, a := range res.Addrs {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tt.addrs) {
				t.Errorf("addrs = %v, want %v", got, tt.addrs)
			}
			if tt.errHas != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.errHas)) {
				t.Errorf("err = %v, want it to contain %q", res.Err, tt.errHas)
			}
		})
	}
	if _, err := r.LookupAddrs(context.Background(), "bad..name"); err == nil {
		t.Error("an invalid name must be an error, not an answer")
	}
}

func TestLookupNetIP(t *testing.T) {
	srv := startFakeDNS(t, recursiveZone, false, misbehaving)
	r := quickResolver(t, ResolverConfig{Servers: []string{srv.addr}})
	ctx := context.Background()

	got, err := r.LookupNetIP(ctx, "ip4", "both.example.test")
	if err != nil || !slices.Equal(got, []netip.Addr{netip.MustParseAddr("203.0.113.11")}) {
		t.Errorf("ip4: %v, %v", got, err)
	}
	got, err = r.LookupNetIP(ctx, "ip6", "both.example.test")
	if err != nil || !slices.Equal(got, []netip.Addr{netip.MustParseAddr("2001:db8::11")}) {
		t.Errorf("ip6: %v, %v", got, err)
	}
	got, err = r.LookupNetIP(ctx, "ip", "192.0.2.9")
	if err != nil || !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.9")}) {
		t.Errorf("literal: %v, %v", got, err)
	}
	var de *net.DNSError
	if _, err = r.LookupNetIP(ctx, "ip", "missing.example.test"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("NXDOMAIN: want a not-found DNSError, got %v", err)
	}
	if _, err = r.LookupNetIP(ctx, "ip", "servfail.example.test"); !errors.As(err, &de) || !de.IsTemporary || de.IsNotFound {
		t.Errorf("SERVFAIL: want a temporary DNSError, got %v", err)
	}
	if _, err = r.LookupNetIP(ctx, "tcp", "a.example.test"); err == nil {
		t.Error("unsupported network accepted")
	}
}

func TestAuthoritativeWalk(t *testing.T) {
	rec := startFakeDNS(t, recursiveZone, false, nil)
	auth := startFakeDNS(t, authZone, true, nil)
	r := quickResolver(t, ResolverConfig{Servers: []string{rec.addr}, Authoritative: true, AuthoritativePort: auth.port()})
	ctx := context.Background()
	tests := []struct {
		name, zone, ns string
	}{
		{name: "a.example.test", zone: "example.test", ns: "ns1.example.test"},
		{name: "example.test", zone: "example.test", ns: "ns1.example.test"},
		{name: "missing.deep.example.test", zone: "example.test", ns: "ns1.example.test"},
		// A zone cut below the registrable domain, run by another provider.
		{name: "www.shop.example.test", zone: "shop.example.test", ns: "ns.shop-dns.test"},
		{name: "shop.example.test", zone: "shop.example.test", ns: "ns.shop-dns.test"},
	}
	for _, tt := range tests {
		z, err := r.Authoritative(ctx, tt.name)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if z.Name != tt.zone || len(z.Servers) != 1 || z.Servers[0].Host != tt.ns ||
			!slices.Equal(z.Servers[0].Addrs, []netip.Addr{netip.MustParseAddr("127.0.0.1")}) {
			t.Errorf("%s: zone %+v, want %s served by %s", tt.name, z, tt.zone, tt.ns)
		}
	}

	// The cache and the authoritative server disagree: both are reported,
	// each under its own server.
	answers, err := r.Lookup(ctx, "www.shop.example.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 2 {
		t.Fatalf("want the resolver's and the authoritative answer, got %v", answers)
	}
	if a := answers[0]; a.Authoritative || !slices.Equal(recordValues(a.Records), []string{"A 203.0.113.30"}) {
		t.Errorf("resolver answer: %v", a)
	}
	if a := answers[1]; !a.Authoritative || !strings.HasPrefix(a.Server, "ns.shop-dns.test (127.0.0.1:") ||
		!slices.Equal(recordValues(a.Records), []string{"A 203.0.113.31"}) {
		t.Errorf("authoritative answer: %v", a)
	}

	// Without a zone at the resolvers, the walk fails and says so as an
	// unknown answer rather than as a fact.
	answers, err = r.Lookup(ctx, "nothing.invalid", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	last := answers[len(answers)-1]
	if last.Server != "authoritative" || last.Kind != KindUnknown || last.Err == nil {
		t.Errorf("failed walk: %v", last)
	}
}

// A server that is not authoritative and does not recurse (a referral) has
// told us nothing, even if the rcode looks negative.
func TestReferralIsUnknown(t *testing.T) {
	resp := new(dns.Msg)
	resp.SetQuestion("www.example.test.", dns.TypeA)
	resp.Response = true
	ns, _ := dns.NewRR("www.example.test. 300 IN NS ns.elsewhere.test.")
	resp.Ns = []dns.RR{ns}
	if a := classify(resp, nil, "www.example.test.", dns.TypeA, true); a.Kind != KindUnknown {
		t.Errorf("referral classified as %v", a.Kind)
	}
	resp.Authoritative = true
	if a := classify(resp, nil, "www.example.test.", dns.TypeA, true); a.Kind != KindNoData {
		t.Errorf("authoritative empty answer classified as %v", a.Kind)
	}
	// A recursive resolver's empty answer counts when it offers recursion.
	resp.Authoritative, resp.RecursionAvailable = false, true
	if a := classify(resp, nil, "www.example.test.", dns.TypeA, false); a.Kind != KindNoData {
		t.Errorf("recursive empty answer classified as %v", a.Kind)
	}
}

func BenchmarkLookup(b *testing.B) {
	srv := startFakeDNS(b, recursiveZone, false, nil)
	r, err := NewResolver(ResolverConfig{Servers: []string{srv.addr}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		answers, err := r.Lookup(ctx, "alias2.example.test", dns.TypeA)
		if err != nil || answers[0].Kind != KindRecords {
			b.Fatalf("%v %v", answers, err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}

func BenchmarkLookupAddrsParallel(b *testing.B) {
	srv := startFakeDNS(b, recursiveZone, false, nil)
	r, err := NewResolver(ResolverConfig{Servers: []string{srv.addr}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := r.LookupAddrs(ctx, "both.example.test")
			if err != nil || len(res.Addrs) != 2 {
				b.Errorf("%v %v", res, err)
				return
			}
		}
	})
	// Each LookupAddrs asks A and AAAA.
	b.ReportMetric(2*float64(b.N)/time.Since(start).Seconds(), "queries/s")
}

// NS records are written by the zone's owner, who may point them at our
// own network: the authoritative walk must not send queries to loopback,
// private or metadata addresses unless private targets are allowed.
func TestAuthoritativeServersMustBePublic(t *testing.T) {
	rec := startFakeDNS(t, recursiveZone, false, nil)
	auth := startFakeDNS(t, authZone, true, nil)
	r, err := NewResolver(ResolverConfig{Servers: []string{rec.addr}, Authoritative: true, AuthoritativePort: auth.port(),
		Timeout: 150 * time.Millisecond, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.Authoritative(ctx, "a.example.test"); err == nil || !strings.Contains(err.Error(), "non-public") {
		t.Errorf("Authoritative: %v, want a refusal of the loopback NS addresses", err)
	}
	answers, err := r.LookupTypes(ctx, "a.example.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		if a.Authoritative && a.Kind != KindUnknown {
			t.Errorf("authoritative answer %v, want unknown", a)
		}
	}
	if n := auth.queries.Load(); n != 0 {
		t.Errorf("the loopback authoritative server got %d queries, want none", n)
	}
	res := Run(ctx, NewDNSCheck(r), &Site{Domain: "example.test", Status: StatusFirstFilingPending})
	if res.Outcome == Pass {
		t.Errorf("dns check passed without asking the authoritative servers: %+v", res)
	}
}

// A server that rate-limits UDP (NSD's default RRL past 200 answers a
// second) drops half its answers and slips the rest truncated. Once it
// has slipped, questions go over TCP, and the questions whose UDP answer
// was dropped are asked again over TCP instead of waiting out a timeout
// that here is longer than the test's whole deadline.
func TestLookupRateLimitedServerMovesToTCP(t *testing.T) {
	srv := startFakeDNS(t, recursiveZone, false, nil)
	srv.rrlAfter.Store(10)
	r := quickResolver(t, ResolverConfig{Servers: []string{srv.addr}, Timeout: time.Minute, Retries: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const lookups = 200
	results := make([]AddrResult, lookups)
	var wg sync.WaitGroup
	for i := range lookups {
		wg.Go(func() {
			res, err := r.LookupAddrs(ctx, "a.example.test")
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	for i, res := range results {
		if res.Kind != KindRecords || len(res.Addrs) != 1 || res.Addrs[0].String() != "203.0.113.10" {
			t.Fatalf("lookup %d: %v %v (%v): an answer lost to the rate limit must be asked again over TCP", i, res.Kind, res.Addrs, res.Err)
		}
	}
	if r.tcp.slipped != 1 {
		t.Errorf("%d servers marked as rate-limiting, want 1", r.tcp.slipped)
	}
	// Every question the limit swallowed or slipped was asked again over
	// TCP.
	if after, tcp := srv.udpAfterRL.Load(), srv.tcp.Load(); after == 0 || tcp < after {
		t.Errorf("%d questions over TCP for %d limited over UDP", tcp, after)
	}

	// Later questions go straight to TCP.
	before := srv.udpAnswers.Load()
	if res, _ := r.LookupAddrs(ctx, "a.example.test"); res.Kind != KindRecords {
		t.Fatalf("after the switch: %v (%v)", res.Kind, res.Err)
	}
	if srv.udpAnswers.Load() != before {
		t.Error("a server found rate-limiting was asked over UDP again at once")
	}
}
