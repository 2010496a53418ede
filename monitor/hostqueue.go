package monitor

import (
	"sync"

	"github.com/beianwatch/beianwatch/checks"
)

// Politeness without starvation. checks.per_ip_concurrency lets a few
// connections at a time reach one shared host. Handing sites to workers in
// inventory order, a batch that is all one host would put every worker in
// the dialer's queue for that host's slots while sites of other hosts wait
// behind them: the scan would crawl at the pace of the busiest host. The
// Runner instead hands out sites in turn across hosts, and while sites of
// other hosts are ready, never more sites of one host at once than it has
// slots, so a busy host costs its own sites time and nobody else's. When
// only a busy host's sites are left, they go to the idle workers anyway:
// a site spends much of its time on DNS and parsing, not holding a
// connection, so more of them than slots keep the slots busy (the dialer
// still holds the connections to the limit).

// hostSlots counts the sites of each host in progress, across every Run
// of a Runner. It is safe for concurrent use.
type hostSlots struct {
	per int // 0: no bound

	mu   sync.Mutex
	busy map[string]int
}

func newHostSlots(per int) *hostSlots {
	return &hostSlots{per: max(per, 0), busy: map[string]int{}}
}

// take claims a slot of host; "" (no known host) always has room. With
// force, the slot is taken even past the bound.
func (h *hostSlots) take(host string, force bool) bool {
	if host == "" || h.per == 0 {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[host] >= h.per && !force {
		return false
	}
	h.busy[host]++
	return true
}

// release gives back a slot taken for host.
func (h *hostSlots) release(host string) {
	if host == "" || h.per == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.busy[host]--; h.busy[host] <= 0 {
		delete(h.busy, host)
	}
}

// hostQueues holds one Run's sites not yet handed out, one queue per host
// in order of first appearance, served in turn.
type hostQueues struct {
	keys   []string
	queues map[string][]*checks.Site
	turn   int
	left   int
}

func newHostQueues(sites []*checks.Site) *hostQueues {
	q := &hostQueues{queues: map[string][]*checks.Site{}}
	for _, s := range sites {
		if s == nil {
			continue
		}
		k := hostOf(s)
		if _, ok := q.queues[k]; !ok {
			q.keys = append(q.keys, k)
		}
		q.queues[k] = append(q.queues[k], s)
		q.left++
	}
	return q
}

// next takes the next site whose host has a slot in h, going round the
// hosts from where it last stopped; when every host with sites left is at
// its bound, it takes the next site anyway (see above). It returns nil
// when no site is left.
func (q *hostQueues) next(h *hostSlots) (*checks.Site, string) {
	if q.left == 0 {
		return nil, ""
	}
	for _, force := range []bool{false, true} {
		for range len(q.keys) {
			if q.turn >= len(q.keys) {
				q.turn = 0
			}
			k := q.keys[q.turn]
			q.turn++
			list := q.queues[k]
			if len(list) == 0 || !h.take(k, force) {
				continue
			}
			q.queues[k] = list[1:]
			if q.left--; len(list) == 1 {
				// Drop the emptied host from the round.
				q.turn--
				q.keys = append(q.keys[:q.turn], q.keys[q.turn+1:]...)
				delete(q.queues, k)
			}
			return list[0], k
		}
	}
	return nil, "" // unreachable: a forced take always succeeds
}

// hostOf is the host a site is served from as far as the inventory
// knows: the single address it is filed at, or "" when its filing gives a
// range or none (such sites are not grouped; the dialer's limit alone
// guards them).
func hostOf(s *checks.Site) string {
	if len(s.IPRanges) == 1 && s.IPRanges[0].From == s.IPRanges[0].To && s.IPRanges[0].From.IsValid() {
		return s.IPRanges[0].From.Unmap().String()
	}
	return ""
}

// interleaveByHost orders domains in turn across their hosts (as hostOf
// says), keeping each host's own order: the engine cuts the due sites into
// batches in this order, so a batch mixes hosts instead of being all one
// shared host whose politeness limit would hold a check worker for
// nothing while other hosts' batches queue.
func interleaveByHost(domains []string, host func(string) string) []string {
	var keys []string
	groups := map[string][]string{}
	for _, d := range domains {
		k := host(d)
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], d)
	}
	if len(keys) <= 1 {
		return domains
	}
	out := make([]string, 0, len(domains))
	for len(out) < len(domains) {
		for _, k := range keys {
			if g := groups[k]; len(g) > 0 {
				out = append(out, g[0])
				groups[k] = g[1:]
			}
		}
	}
	return out
}
