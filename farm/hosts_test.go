package farm

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestHostsPlacement(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		bigSites  int
		perExtra  map[string]int
		providers []string
	}{
		{"one shared host", Options{Sites: 20, Seed: 1}, 20, map[string]int{}, []string{"127.0.0.1/32"}},
		{"provider mix", Options{Sites: 40, Seed: 1, Hosts: 5, BigHostShare: 0.5}, 20,
			map[string]int{"127.1.0.1": 5, "127.1.0.2": 5, "127.1.0.3": 5, "127.1.0.4": 5},
			[]string{"127.0.0.1/32", ExtraHostsPrefix}},
		{"no big host", Options{Sites: 6, Seed: 1, Hosts: 3}, 0, map[string]int{"127.1.0.1": 3, "127.1.0.2": 3},
			[]string{"127.0.0.1/32", ExtraHostsPrefix}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Generate(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			big, extra := 0, map[string]int{}
			for i, s := range f.Sites {
				if s.Host == ProviderAddr {
					big++
					if i >= tt.bigSites {
						t.Errorf("site %d on the big host; the big host's sites come first", i)
					}
				} else {
					extra[s.Host]++
				}
				if s.Resolves() && s.State != OffProvider && s.Addr() != s.Host {
					t.Errorf("%s resolves to %s, lives on %s", s.Domain, s.Addr(), s.Host)
				}
			}
			if big != tt.bigSites || len(extra) != len(tt.perExtra) {
				t.Errorf("%d sites on the big host, %v on the others; want %d and %v", big, extra, tt.bigSites, tt.perExtra)
			}
			for h, n := range tt.perExtra {
				if extra[h] != n {
					t.Errorf("%s carries %d sites, want %d", h, extra[h], n)
				}
			}
			if got := f.ProviderRanges(); len(got) != len(tt.providers) || got[len(got)-1] != tt.providers[len(tt.providers)-1] {
				t.Errorf("provider ranges %v, want %v", got, tt.providers)
			}
		})
	}
	for _, o := range []Options{{Sites: 10, Hosts: -1}, {Sites: 10, Hosts: 2, BigHostShare: 1.5}} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v): no error", o)
		}
	}
}

// Every host of a provider mix serves its sites.
func TestHostsServe(t *testing.T) {
	srv, _, _ := startFarm(t, Options{Sites: 30, Seed: 1, Hosts: 4, BigHostShare: 0.2}, ConfigParams{})
	served := map[string]bool{}
	for _, s := range srv.Farm.Sites {
		if !s.Served() || s.State == OffProvider || served[s.Host] {
			continue
		}
		served[s.Host] = true
		req, _ := http.NewRequest(http.MethodGet, "http://"+net.JoinHostPort(s.Host, strconv.Itoa(srv.HTTPPort))+"/", nil)
		req.Host = s.Domain
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s on %s: %v", s.Domain, s.Host, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("%s on %s: HTTP %d, %d bytes", s.Domain, s.Host, resp.StatusCode, len(body))
		}
	}
	if len(served) != 4 {
		t.Errorf("pages fetched from %d hosts, want 4", len(served))
	}
}

// The zone served by a real NSD answers as the farm's own server does.
// Skipped only when NSD is missing and BEIANWATCH_REQUIRE_INTEGRATION is
// unset.
func TestNSDServesTheFarmZone(t *testing.T) {
	bin := FindNSD()
	if bin == "" {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") == "" {
			t.Skip("NSD is not installed (Debian package nsd)")
		}
		t.Fatal("BEIANWATCH_REQUIRE_INTEGRATION is set but NSD (Debian package nsd) is not installed")
	}
	srv, _, _ := startFarm(t, Options{Sites: 60, Seed: 3, Hosts: 3, BigHostShare: 0.5}, ConfigParams{})
	nsd, err := StartNSD(bin, srv.Farm, filepath.Join(t.TempDir(), "nsd"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsd.Close() })
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, s := range srv.Farm.Sample(2) {
		for _, name := range []string{s.Domain, "www." + s.Domain} {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
				var got [2]string
				for i, addr := range []string{srv.DNSAddr, nsd.Addr} {
					m := new(dns.Msg)
					m.SetQuestion(dns.Fqdn(name), qt)
					resp, _, err := c.Exchange(m, addr)
					if err != nil {
						t.Fatalf("%s %s at %s: %v", name, dns.TypeToString[qt], addr, err)
					}
					got[i] = dns.RcodeToString[resp.Rcode]
					for _, rr := range resp.Answer {
						got[i] += " " + rr.(*dns.A).A.String()
					}
				}
				if got[0] != got[1] {
					t.Errorf("%s %s (%s): farm says %q, NSD %q", name, dns.TypeToString[qt], s.State, got[0], got[1])
				}
			}
		}
	}
}
