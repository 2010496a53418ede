package checks

import (
	"slices"
	"sync"
	"time"
)

// DefaultZoneCacheTTL bounds how long a zone cut and its NS hosts'
// addresses are reused between authoritative walks. Shorter than the
// 10-minute default dns schedule, so that a domain that moves to another
// DNS host is asked at its new servers by the next check.
const DefaultZoneCacheTTL = 5 * time.Minute

// maxZoneCacheEntries bounds the cache's memory: about 200 bytes an entry.
const maxZoneCacheEntries = 50_000

// zoneCache remembers, for the authoritative walk, which zone holds a name
// and where that zone's NS hosts are. Without it every dns check walked
// twice (the domain and www.) from scratch: an SOA, an NS and A/AAAA for
// up to four NS hosts at every resolver, about ten queries a walk, mostly
// for the same few NS hosts of the big DNS providers. Only the walk is
// cached, never the answers the check judges: those are always asked
// fresh. An entry lives no longer than the records it came from (their
// TTL as the resolver returned it) nor than the configured bound, and
// failures are not cached.
type zoneCache struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cuts  map[string]cutEntry  // fq name -> fq zone apex
	zones map[string]zoneEntry // fq zone apex -> its servers
}

type cutEntry struct {
	zone    string
	expires time.Time
}

type zoneEntry struct {
	zone    Zone
	expires time.Time
}

// newZoneCache returns nil (no caching) when ttl is negative.
func newZoneCache(ttl time.Duration, now func() time.Time) *zoneCache {
	if ttl < 0 {
		return nil
	}
	if ttl == 0 {
		ttl = DefaultZoneCacheTTL
	}
	if now == nil {
		now = time.Now
	}
	return &zoneCache{ttl: ttl, now: now, cuts: map[string]cutEntry{}, zones: map[string]zoneEntry{}}
}

// life is how long something learned from records of the given TTL may be
// kept.
func (c *zoneCache) life(ttl uint32) time.Duration {
	return min(c.ttl, time.Duration(ttl)*time.Second)
}

func (c *zoneCache) cut(fq string) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cuts[fq]
	if !ok || !c.now().Before(e.expires) {
		return "", false
	}
	return e.zone, true
}

func (c *zoneCache) putCut(fq, zone string, ttl uint32) {
	if c == nil || c.life(ttl) <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	makeRoom(c.cuts, now, func(e cutEntry) time.Time { return e.expires })
	c.cuts[fq] = cutEntry{zone: zone, expires: now.Add(c.life(ttl))}
}

// zone returns a copy: callers may reorder or trim what they get.
func (c *zoneCache) zone(fq string) (Zone, bool) {
	if c == nil {
		return Zone{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.zones[fq]
	if !ok || !c.now().Before(e.expires) {
		return Zone{}, false
	}
	return e.zone.clone(), true
}

func (c *zoneCache) putZone(fq string, z Zone, ttl uint32) {
	if c == nil || c.life(ttl) <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	makeRoom(c.zones, now, func(e zoneEntry) time.Time { return e.expires })
	c.zones[fq] = zoneEntry{zone: z.clone(), expires: now.Add(c.life(ttl))}
}

// makeRoom drops expired entries from a full map, and everything when that
// is not enough: a cache miss costs a walk, never a wrong answer.
func makeRoom[E any](m map[string]E, now time.Time, expires func(E) time.Time) {
	if len(m) < maxZoneCacheEntries {
		return
	}
	for k, e := range m {
		if !now.Before(expires(e)) {
			delete(m, k)
		}
	}
	if len(m) >= maxZoneCacheEntries {
		clear(m)
	}
}

func (z Zone) clone() Zone {
	out := Zone{Name: z.Name, Servers: make([]NameServer, len(z.Servers))}
	for i, ns := range z.Servers {
		out.Servers[i] = NameServer{Host: ns.Host, Addrs: slices.Clone(ns.Addrs)}
	}
	return out
}
