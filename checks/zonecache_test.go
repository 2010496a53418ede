package checks

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The authoritative walk is remembered, within the records' TTL and the
// configured bound; the answers the checks judge are always asked afresh.
func TestAuthoritativeWalkCache(t *testing.T) {
	rec := startFakeDNS(t, recursiveZone, false, nil)
	auth := startFakeDNS(t, authZone, true, nil)
	var clock atomic.Int64 // seconds past t0
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	now := func() time.Time { return t0.Add(time.Duration(clock.Load()) * time.Second) }
	newResolver := func(ttl time.Duration) *Resolver {
		return quickResolver(t, ResolverConfig{Servers: []string{rec.addr}, Authoritative: true,
			AuthoritativePort: auth.port(), ZoneCacheTTL: ttl, Now: now})
	}
	ctx := context.Background()
	// lookup asks www.shop.example.test (a zone cut run by its own NS
	// host) and returns how many queries the resolver and the
	// authoritative server got.
	lookup := func(t *testing.T, r *Resolver) (resolver, authoritative int64) {
		t.Helper()
		r0, a0 := rec.queries.Load(), auth.queries.Load()
		answers, err := r.LookupTypes(ctx, "www.shop.example.test", dns.TypeA, dns.TypeAAAA)
		if err != nil {
			t.Fatal(err)
		}
		last := answers[len(answers)-1]
		if !last.Authoritative || last.Kind != KindRecords && last.Kind != KindNoData {
			t.Fatalf("authoritative answer %v", last)
		}
		return rec.queries.Load() - r0, auth.queries.Load() - a0
	}
	// A first walk asks the resolver A and AAAA for the name, then SOA,
	// NS and the NS host's A and AAAA; a cached one only A and AAAA.
	const fullWalk, noWalk = 2 + 4, 2

	t.Run("reused within the TTL", func(t *testing.T) {
		clock.Store(0)
		r := newResolver(10 * time.Minute)
		if res, au := lookup(t, r); res != fullWalk || au != 2 {
			t.Fatalf("first lookup: %d resolver and %d authoritative queries, want %d and 2", res, au, fullWalk)
		}
		clock.Store(299) // the records' TTL is 300 s
		if res, au := lookup(t, r); res != noWalk || au != 2 {
			t.Fatalf("cached lookup: %d resolver and %d authoritative queries, want %d and 2 (answers are never cached)", res, au, noWalk)
		}
		clock.Store(300)
		if res, _ := lookup(t, r); res != fullWalk {
			t.Fatalf("after the records' TTL: %d resolver queries, want a new walk (%d)", res, fullWalk)
		}
	})
	t.Run("bounded by the configured TTL", func(t *testing.T) {
		clock.Store(0)
		r := newResolver(time.Minute)
		lookup(t, r)
		clock.Store(59)
		if res, _ := lookup(t, r); res != noWalk {
			t.Fatalf("within a minute: %d resolver queries, want %d", res, noWalk)
		}
		clock.Store(60)
		if res, _ := lookup(t, r); res != fullWalk {
			t.Fatalf("after a minute: %d resolver queries, want %d", res, fullWalk)
		}
	})
	t.Run("off", func(t *testing.T) {
		clock.Store(0)
		r := newResolver(-1)
		lookup(t, r)
		if res, _ := lookup(t, r); res != fullWalk {
			t.Fatalf("cache off: %d resolver queries, want %d", res, fullWalk)
		}
	})
}

// A failed walk is not remembered: the next lookup walks again and can
// succeed.
func TestAuthoritativeWalkFailureNotCached(t *testing.T) {
	rec := startFakeDNS(t, recursiveZone, false, map[string]string{"shop.example.test": behaveServfail})
	auth := startFakeDNS(t, authZone, true, nil)
	r := quickResolver(t, ResolverConfig{Servers: []string{rec.addr}, Authoritative: true,
		AuthoritativePort: auth.port(), Retries: -1})
	for i := range 2 {
		before := rec.queries.Load()
		if _, err := r.Authoritative(context.Background(), "shop.example.test"); err == nil {
			t.Fatalf("walk %d: no error from a SERVFAILing zone", i)
		}
		if rec.queries.Load() == before {
			t.Fatalf("walk %d asked nothing: a failure was cached", i)
		}
	}
}

// NS hosts are remembered per host, so zones of one DNS provider share
// them; a host whose lookup failed is not remembered, and is asked again.
func TestAuthoritativeWalkSharesNSHosts(t *testing.T) {
	const (
		recZone  = "testdata/dns/zonecache-recursive.zone"
		authZone = "testdata/dns/zonecache-authoritative.zone"
	)
	ctx := context.Background()
	walk := func(t *testing.T, r *Resolver, rec *fakeDNS, name string, wantServers int) int64 {
		t.Helper()
		before := rec.queries.Load()
		z, err := r.Authoritative(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(z.Servers) != wantServers {
			t.Fatalf("%s: %d servers %+v, want %d", name, len(z.Servers), z.Servers, wantServers)
		}
		return rec.queries.Load() - before
	}
	t.Run("healthy", func(t *testing.T) {
		rec := startFakeDNS(t, recZone, false, nil)
		auth := startFakeDNS(t, authZone, true, nil)
		r := quickResolver(t, ResolverConfig{Servers: []string{rec.addr}, Authoritative: true, AuthoritativePort: auth.port(), Retries: -1})
		// SOA, NS, and A and AAAA of both hosts.
		if n := walk(t, r, rec, "two.test", 2); n != 6 {
			t.Fatalf("first zone: %d queries, want 6", n)
		}
		// Another zone on the same hosts: SOA and NS only.
		if n := walk(t, r, rec, "other.test", 2); n != 2 {
			t.Fatalf("second zone on the same NS hosts: %d queries, want 2", n)
		}
	})
	t.Run("one host fails", func(t *testing.T) {
		rec := startFakeDNS(t, recZone, false, map[string]string{"ns2.hosting.test": behaveServfail})
		auth := startFakeDNS(t, authZone, true, nil)
		r := quickResolver(t, ResolverConfig{Servers: []string{rec.addr}, Authoritative: true, AuthoritativePort: auth.port(), Retries: -1})
		if n := walk(t, r, rec, "two.test", 1); n != 6 {
			t.Fatalf("first zone: %d queries, want 6", n)
		}
		// ns1 is remembered; ns2 failed at our resolver and is asked again.
		if n := walk(t, r, rec, "other.test", 1); n != 4 {
			t.Fatalf("second zone: %d queries, want 4 (SOA, NS, and ns2 asked again)", n)
		}
		if n := walk(t, r, rec, "two.test", 1); n != 2 {
			t.Fatalf("first zone again: %d queries, want 2 (ns2 asked again, the rest remembered)", n)
		}
	})
}

func TestZoneCacheBounded(t *testing.T) {
	now := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	c := newZoneCache(time.Hour, func() time.Time { return now })
	for i := range maxZoneCacheEntries + 10 {
		c.putCut(fmt.Sprintf("n%d.test.", i), "test.", 3600)
	}
	if n := len(c.cuts); n > maxZoneCacheEntries {
		t.Fatalf("%d entries, bound %d", n, maxZoneCacheEntries)
	}
	// A full map of live entries is cleared, not scanned again at the next
	// insert: the one after that finds room at once.
	if n := len(c.cuts); n > maxZoneCacheEntries*9/10 {
		t.Fatalf("%d entries after filling up, want the map started afresh", n)
	}
	c.putZoneHosts("z.", []string{"ns.z"}, 0)
	if _, ok := c.zoneHosts("z."); ok {
		t.Error("NS hosts learned from TTL-0 records were cached")
	}
}
