package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/beianwatch/beianwatch/alerts"
)

// endpointRate is how fast one endpoint may be sent to: one message every
// `every`, with bursts of up to `burst`. The robots' limits are per robot
// and counted over sliding windows, so a burst plus a minute's refill must
// stay within the published limit.
type endpointRate struct {
	every time.Duration
	burst int
}

// defaultEndpointRates per channel kind:
//   - DingTalk custom robot: 20 messages a minute, and a robot that goes
//     over is throttled for 10 minutes (errcode 130101): 19/min, burst 1,
//     so that no 60-second window holds more than 20.
//   - WeCom group robot: 20 messages a minute: the same.
//   - Feishu/Lark custom bot: 100 a minute and 5 a second: 95/min, burst 3.
//   - Slack incoming webhook: about 1 message a second per channel.
//   - Generic webhook: no published limit; a customer's receiver gets at
//     most 5 a second from us, whatever the number of sites behind it.
func defaultEndpointRates() map[string]endpointRate {
	return map[string]endpointRate{
		alerts.ChannelDingTalk: {every: time.Minute / 19, burst: 1},
		alerts.ChannelWeCom:    {every: time.Minute / 19, burst: 1},
		alerts.ChannelFeishu:   {every: time.Minute / 95, burst: 3},
		alerts.ChannelSlack:    {every: time.Second, burst: 1},
		alerts.ChannelWebhook:  {every: time.Second / 5, burst: 5},
	}
}

// endpointKey names the endpoint whose budget a delivery spends. Robot
// limits are per robot, and robots share a host (every DingTalk robot is
// oapi.dingtalk.com), so their key is the whole URL, hashed so that the
// token it carries is not kept in the clear. A generic webhook's key is its
// host: one receiver often serves many sites under different paths.
func endpointKey(kind, rawURL string) string {
	if kind == alerts.ChannelWebhook {
		if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
			return kind + " " + strings.ToLower(u.Host)
		}
	}
	sum := sha256.Sum256([]byte(rawURL))
	return kind + " " + hex.EncodeToString(sum[:8])
}

// endpointLimits paces deliveries per endpoint with token buckets. A
// reservation that must wait longer than `inline` becomes a ticket: the
// caller puts the job back until the ticket's time, and the slot stays
// reserved for that notice, so that a backlog for one robot drains at the
// robot's rate without the jobs waking up together. It uses the real
// clock: it paces the network, not the daemon's notion of time.
type endpointLimits struct {
	now    func() time.Time
	rates  map[string]endpointRate
	inline time.Duration

	mu        sync.Mutex
	eps       map[string]*endpoint
	tickets   map[string]ticket // by notice id
	lastSweep time.Time
}

type endpoint struct {
	lim          *rate.Limiter
	blockedUntil time.Time // the receiver asked us to wait until then
	lastUsed     time.Time
}

type ticket struct {
	key string
	at  time.Time
}

func newEndpointLimits(now func() time.Time, rates map[string]endpointRate) *endpointLimits {
	if now == nil {
		now = time.Now
	}
	if rates == nil {
		rates = defaultEndpointRates()
	}
	return &endpointLimits{now: now, rates: rates, inline: 2 * time.Second,
		eps: map[string]*endpoint{}, tickets: map[string]ticket{}}
}

func (l *endpointLimits) endpoint(kind, key string, now time.Time) *endpoint {
	ep := l.eps[key]
	if ep == nil {
		r, ok := l.rates[kind]
		if !ok {
			r = l.rates[alerts.ChannelWebhook]
		}
		lim := rate.NewLimiter(rate.Inf, 1)
		if r.every > 0 {
			lim = rate.NewLimiter(rate.Every(r.every), max(r.burst, 1))
		}
		ep = &endpoint{lim: lim}
		l.eps[key] = ep
	}
	ep.lastUsed = now
	return ep
}

// reserve takes a slot for notice id at the endpoint and returns how long
// from now it is.
func (l *endpointLimits) reserve(id, kind, key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now)
	ep := l.endpoint(kind, key, now)
	if t, ok := l.tickets[id]; ok {
		// A ticket taken before the receiver asked us to back off is void.
		if t.key == key && !t.at.Before(ep.blockedUntil) {
			rem := t.at.Sub(now)
			if rem <= l.inline {
				delete(l.tickets, id)
			}
			return max(rem, 0)
		}
		delete(l.tickets, id)
	}
	from := now
	if ep.blockedUntil.After(from) {
		from = ep.blockedUntil
	}
	r := ep.lim.ReserveN(from, 1)
	at := from.Add(r.DelayFrom(from))
	wait := at.Sub(now)
	if wait > l.inline {
		l.tickets[id] = ticket{key: key, at: at}
	}
	return wait
}

// block keeps the endpoint quiet until `until` (a 429's Retry-After, a
// robot's throttling window): no other notice is sent there before.
func (l *endpointLimits) block(kind, key string, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ep := l.endpoint(kind, key, l.now())
	if until.After(ep.blockedUntil) {
		ep.blockedUntil = until
	}
}

// sweep forgets tickets whose notices never came back (delivered through
// another job, dropped) and endpoints idle for an hour, so that memory
// follows the endpoints in use, not every endpoint ever seen.
func (l *endpointLimits) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < 10*time.Minute {
		return
	}
	l.lastSweep = now
	for id, t := range l.tickets {
		if now.Sub(t.at) > time.Hour {
			delete(l.tickets, id)
		}
	}
	for key, ep := range l.eps {
		if now.Sub(ep.lastUsed) > time.Hour && now.After(ep.blockedUntil) {
			delete(l.eps, key)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
