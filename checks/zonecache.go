package checks

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// DefaultZoneCacheTTL bounds how long what the authoritative walk learned
// is reused. Shorter than the 10-minute default dns schedule, so that a
// domain that moves to another DNS host is asked at its new servers by the
// next check.
const DefaultZoneCacheTTL = 5 * time.Minute

// maxZoneCacheEntries bounds each of the cache's maps.
const maxZoneCacheEntries = 50_000

// zoneCache remembers the way to a zone's authoritative servers: which
// zone holds a name, which NS hosts serve a zone, and where an NS host is.
// Without it every dns check walked twice (the domain and www.) from
// scratch: an SOA, an NS, and A/AAAA for up to four NS hosts at every
// resolver, about ten queries a walk. The NS hosts are mostly the same few
// of the big DNS providers, so their addresses are kept per host and serve
// every zone they host.
//
// Only facts are kept, for no longer than the records' TTL as the resolver
// gave it nor than the configured bound; an NS host whose lookup failed at
// any resolver is asked again next time. The answers the check judges are
// never cached.
type zoneCache struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cuts  map[string]cacheEntry[string]       // fq name -> fq zone apex
	zones map[string]cacheEntry[[]string]     // fq zone apex -> its NS hosts
	hosts map[string]cacheEntry[[]netip.Addr] // NS host -> its addresses
}

type cacheEntry[V any] struct {
	v       V
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
	return &zoneCache{ttl: ttl, now: now, cuts: map[string]cacheEntry[string]{},
		zones: map[string]cacheEntry[[]string]{}, hosts: map[string]cacheEntry[[]netip.Addr]{}}
}

func (c *zoneCache) cut(fq string) (string, bool) {
	if c == nil {
		return "", false
	}
	return get(c, c.cuts, fq)
}

func (c *zoneCache) putCut(fq, zone string, ttl uint32) {
	if c != nil {
		put(c, c.cuts, fq, zone, ttl)
	}
}

// zoneHosts returns a copy: callers may trim what they get.
func (c *zoneCache) zoneHosts(zone string) ([]string, bool) {
	if c == nil {
		return nil, false
	}
	h, ok := get(c, c.zones, zone)
	return slices.Clone(h), ok
}

func (c *zoneCache) putZoneHosts(zone string, hosts []string, ttl uint32) {
	if c != nil {
		put(c, c.zones, zone, slices.Clone(hosts), ttl)
	}
}

func (c *zoneCache) hostAddrs(host string) ([]netip.Addr, bool) {
	if c == nil {
		return nil, false
	}
	a, ok := get(c, c.hosts, host)
	return slices.Clone(a), ok
}

func (c *zoneCache) putHostAddrs(host string, addrs []netip.Addr, ttl uint32) {
	if c != nil {
		put(c, c.hosts, host, slices.Clone(addrs), ttl)
	}
}

func get[V any](c *zoneCache, m map[string]cacheEntry[V], key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := m[key]
	if !ok || !c.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v for the records' TTL, at most the cache's bound; a TTL of 0
// means "do not cache".
func put[V any](c *zoneCache, m map[string]cacheEntry[V], key string, v V, ttl uint32) {
	life := min(c.ttl, time.Duration(ttl)*time.Second)
	if life <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(m) >= maxZoneCacheEntries {
		for k, e := range m {
			if !now.Before(e.expires) {
				delete(m, k)
			}
		}
		// Still nearly full: start afresh rather than scan the whole map
		// again at the next insert. A miss costs a walk, never a wrong
		// answer.
		if len(m) >= maxZoneCacheEntries*9/10 {
			clear(m)
		}
	}
	m[key] = cacheEntry[V]{v: v, expires: now.Add(life)}
}
