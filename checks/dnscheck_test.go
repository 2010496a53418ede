package checks

import (
	"context"
	"strings"
	"testing"
)

func TestDNSCheckApplies(t *testing.T) {
	c := NewDNSCheck(nil)
	tests := []struct {
		status Status
		want   bool
	}{
		{StatusFirstFilingPending, true},
		{StatusFiled, false},
		{StatusChangePending, false},
		{StatusAccessPending, false},
		{StatusCancelled, false},
		{"", false},
	}
	for _, tt := range tests {
		ok, why := c.Applies(&Site{Domain: "example.test", Status: tt.status})
		if ok != tt.want {
			t.Errorf("%q: applies = %v, want %v", tt.status, ok, tt.want)
		}
		if !ok && !strings.Contains(why, "first_filing_pending") {
			t.Errorf("%q: reason %q does not say which status it applies to", tt.status, why)
		}
	}
	if r := Run(context.Background(), c, &Site{Domain: "example.test", Status: StatusFiled}); r.Outcome != NotApplicable {
		t.Errorf("filed site: outcome %v", r.Outcome)
	}
}

func TestDNSCheck(t *testing.T) {
	// The authoritative server does not answer for slow.test.
	auth := startFakeDNS(t, authZone, true, map[string]string{"slow.test": behaveSilent, "www.slow.test": behaveSilent})
	rec := startFakeDNS(t, recursiveZone, false, nil)
	// A second resolver that fails in its own ways.
	flaky := startFakeDNS(t, recursiveZone, false, map[string]string{
		"www.cached.test": behaveSilent, "paused.test": behaveServfail,
	})
	tests := []struct {
		name      string
		domain    string
		servers   []*fakeDNS
		auth      bool
		outcome   Outcome
		evidence  []string // substrings of the finding's evidence
		reasonHas string
	}{
		{name: "paused everywhere", domain: "paused.test", servers: []*fakeDNS{rec}, auth: true, outcome: Pass},
		{name: "paused, name in upper case with a trailing dot", domain: "PAUSED.test.", servers: []*fakeDNS{rec}, auth: true, outcome: Pass},
		// Paused at its own servers; a resolver's cache still holds the old
		// address until its TTL runs out. The owner has done what the
		// notice would ask.
		{name: "paused at the zone, a cache still answers", domain: "cached.test", servers: []*fakeDNS{rec}, auth: true,
			outcome: Inconclusive, reasonHas: "caches still hold records for up to 300 s"},
		// Without the zone's word, a cache's records are all we know.
		{name: "a cache answers and the walk is off", domain: "cached.test", servers: []*fakeDNS{rec}, auth: false, outcome: Fail,
			evidence: []string{"www.cached.test A 198.51.100.7 at " + rec.addr}},
		{name: "records are a fact although another resolver timed out", domain: "cached.test",
			servers: []*fakeDNS{flaky, rec}, auth: false, outcome: Fail,
			evidence: []string{"www.cached.test A 198.51.100.7 at " + rec.addr}},
		{name: "only the authoritative server sees the switch-on", domain: "fresh.test", servers: []*fakeDNS{rec}, auth: true,
			outcome: Fail, evidence: []string{"www.fresh.test CNAME fresh-site.cdn.example.test at ns1.paused.test (127.0.0.1:"}},
		{name: "without the authoritative walk the cached negative answer passes", domain: "fresh.test",
			servers: []*fakeDNS{rec}, auth: false, outcome: Pass},
		{name: "authoritative server silent", domain: "slow.test", servers: []*fakeDNS{rec}, auth: true,
			outcome: Inconclusive, reasonHas: "timeout"},
		{name: "SERVFAIL at one resolver, no records anywhere", domain: "paused.test", servers: []*fakeDNS{rec, flaky},
			auth: false, outcome: Inconclusive, reasonHas: "SERVFAIL"},
		{name: "zone unknown to the resolvers", domain: "nowhere.invalid", servers: []*fakeDNS{rec}, auth: true,
			outcome: Inconclusive, reasonHas: "authoritative"},
		{name: "bad domain", domain: "bad..test", servers: []*fakeDNS{rec}, outcome: Inconclusive, reasonHas: "empty label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addrs []string
			for _, s := range tt.servers {
				addrs = append(addrs, s.addr)
			}
			r := quickResolver(t, ResolverConfig{Servers: addrs, Authoritative: tt.auth, AuthoritativePort: auth.port()})
			res := Run(context.Background(), NewDNSCheck(r), &Site{Domain: tt.domain, Status: StatusFirstFilingPending})
			if res.Outcome != tt.outcome {
				t.Fatalf("outcome %v, want %v: %+v", res.Outcome, tt.outcome, res)
			}
			if res.Check != CheckDNS {
				t.Errorf("check name %q", res.Check)
			}
			switch tt.outcome {
			case Fail:
				if len(res.Findings) != 1 || res.Findings[0].Code != CodeDNSResolvingWhilePending || res.Findings[0].Severity != Violation {
					t.Fatalf("findings %+v", res.Findings)
				}
				for _, e := range tt.evidence {
					if !strings.Contains(res.Findings[0].Evidence, e) {
						t.Errorf("evidence %q lacks %q", res.Findings[0].Evidence, e)
					}
				}
			default:
				if len(res.Findings) != 0 {
					t.Errorf("a %v result carries findings: %+v", res.Outcome, res.Findings)
				}
			}
			if tt.reasonHas != "" && !strings.Contains(res.Reason, tt.reasonHas) {
				t.Errorf("reason %q lacks %q", res.Reason, tt.reasonHas)
			}
		})
	}
}

func TestDNSCheckWithoutResolver(t *testing.T) {
	res := Run(context.Background(), NewDNSCheck(nil), &Site{Domain: "example.test", Status: StatusFirstFilingPending})
	if res.Outcome != Inconclusive {
		t.Errorf("no resolver: %v", res.Outcome)
	}
}
