package checks

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNS servers rate-limit answers over UDP. NSD does it by default
// (rrl-ratelimit 200 a second per /24 of clients), and BIND and Knot when
// configured: past the rate they drop answers, or "slip" a truncated empty
// one so that a real client retries over TCP, where no rate limit applies.
// An audit sends two AAAA questions per site whose negative answers (no
// IPv6) all fall into one bucket of the zone, so at about 100 sites a second
// half its answers vanished and each lost one cost a whole DNS timeout:
// throughput fell as concurrency rose. Once a server has slipped us a
// truncated answer and answered the same question over TCP, its questions
// go over TCP for a while, on connections kept open and reused (RFC 7766)
// so that thousands of questions a second do not exhaust local ports.

const (
	// tcpPreferFor is how long a server that slipped us a truncated
	// answer is asked over TCP. After it, UDP is tried again: a few
	// answers are lost if the server still limits, and the next slip
	// brings TCP back.
	tcpPreferFor = 10 * time.Minute
	// tcpIdleMax is how long an idle connection is kept. Servers close
	// idle clients (Unbound after 30s, NSD after 120s); reusing one they
	// have just closed costs a retry, so stay well under.
	tcpIdleMax = 5 * time.Second
	// tcpOpenPerServer bounds the connections open at once to one server:
	// NSD serves 100 TCP clients by default, and a check run must leave
	// room for everyone else.
	tcpOpenPerServer = 32
	// tcpIdlePerServer bounds the idle connections kept for one server:
	// as many as may be open, so that a busy run reuses every one
	// instead of closing and dialling again (at concurrency 64, keeping
	// half cost a connection per question and a quarter more CPU).
	tcpIdlePerServer = tcpOpenPerServer
)

// dnsTCP is the Resolver's TCP side: the servers preferring it, and a pool
// of open connections per server. It is safe for concurrent use.
type dnsTCP struct {
	client *dns.Client
	now    func() time.Time

	mu     sync.Mutex
	prefer map[string]time.Time // server address -> TCP until
	// udpEpoch[addr] ends when addr is found rate-limiting: UDP
	// questions still waiting for it give up their wait (a dropped
	// answer never comes) and are asked again over TCP.
	udpEpoch map[string]udpEpoch
	idle     map[string][]idleConn
	slots    map[string]chan struct{}
	slipped  int // servers found rate-limiting over UDP (for tests)
}

type udpEpoch struct {
	ctx    context.Context
	cancel context.CancelFunc
}

type idleConn struct {
	c     *dns.Conn
	since time.Time
}

func newDNSTCP(client *dns.Client, now func() time.Time) *dnsTCP {
	if now == nil {
		now = time.Now
	}
	return &dnsTCP{client: client, now: now, prefer: map[string]time.Time{},
		idle: map[string][]idleConn{}, slots: map[string]chan struct{}{}, udpEpoch: map[string]udpEpoch{}}
}

// preferred says whether addr is to be asked over TCP now.
func (t *dnsTCP) preferred(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	until, ok := t.prefer[addr]
	if ok && !t.now().Before(until) {
		delete(t.prefer, addr)
		return false
	}
	return ok
}

// markSlipped records that addr truncated over UDP, without an answer, a
// question whose answer over TCP would have fitted: the sign of a rate
// limiter's slip, not of a large answer.
func (t *dnsTCP) markSlipped(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.prefer[addr]; !ok {
		t.slipped++
	}
	t.prefer[addr] = t.now().Add(tcpPreferFor)
	if e, ok := t.udpEpoch[addr]; ok {
		e.cancel()
		delete(t.udpEpoch, addr)
	}
}

// udpEpochOf is a context that ends when addr is next found rate-limiting.
func (t *dnsTCP) udpEpochOf(addr string) context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.udpEpoch[addr]
	if !ok {
		e.ctx, e.cancel = context.WithCancel(context.Background())
		t.udpEpoch[addr] = e
	}
	return e.ctx
}

// forget stops preferring TCP for addr: its TCP side failed to connect,
// so UDP is the better bet.
func (t *dnsTCP) forget(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.prefer, addr)
}

// slipTruncated says whether a truncated UDP answer carries nothing: a
// rate limiter's slip, or an answer that did not fit at all (told apart
// by the size of the answer over TCP).
func slipTruncated(m *dns.Msg) bool {
	return m != nil && m.Truncated && len(m.Answer) == 0
}

// exchange asks m over TCP on a pooled connection. A reused connection
// the server has meanwhile closed is replaced once, without counting as
// an attempt: the question never reached the server.
func (t *dnsTCP) exchange(ctx context.Context, m *dns.Msg, addr string) (*dns.Msg, error) {
	release, err := t.acquire(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer release()
	if c := t.get(addr); c != nil {
		resp, _, err := t.client.ExchangeWithConnContext(ctx, m, c)
		if err == nil {
			t.put(addr, c)
			return resp, nil
		}
		c.Close()
		if ctx.Err() != nil {
			return nil, err
		}
	}
	c, err := t.client.DialContext(ctx, addr)
	if err != nil {
		return nil, &tcpDialError{err}
	}
	resp, _, err := t.client.ExchangeWithConnContext(ctx, m, c)
	if err != nil {
		c.Close()
		return nil, err
	}
	t.put(addr, c)
	return resp, nil
}

// acquire waits for one of addr's connection slots.
func (t *dnsTCP) acquire(ctx context.Context, addr string) (func(), error) {
	t.mu.Lock()
	s := t.slots[addr]
	if s == nil {
		s = make(chan struct{}, tcpOpenPerServer)
		t.slots[addr] = s
	}
	t.mu.Unlock()
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, errors.Join(errors.New("waiting for a TCP connection to the DNS server"), ctx.Err())
	}
}

// get takes a recent idle connection to addr, or nil; stale ones are
// closed on the way.
func (t *dnsTCP) get(addr string) *dns.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	list := t.idle[addr]
	for len(list) > 0 {
		ic := list[len(list)-1]
		list = list[:len(list)-1]
		if now.Sub(ic.since) < tcpIdleMax {
			t.idle[addr] = list
			return ic.c
		}
		ic.c.Close()
	}
	delete(t.idle, addr)
	return nil
}

// put keeps c for the next question to addr, or closes it when enough
// are kept.
func (t *dnsTCP) put(addr string, c *dns.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.idle[addr]) >= tcpIdlePerServer {
		c.Close()
		return
	}
	t.idle[addr] = append(t.idle[addr], idleConn{c: c, since: t.now()})
}

// errSwitchedToTCP ends a UDP wait when its server was found
// rate-limiting meanwhile.
var errSwitchedToTCP = errors.New("the server rate-limits UDP; asking over TCP")

// exchangeUDP asks m over UDP, giving up the wait with errSwitchedToTCP
// as soon as addr is found rate-limiting.
func exchangeUDP(ctx context.Context, client *dns.Client, t *dnsTCP, m *dns.Msg, addr string) (*dns.Msg, error) {
	epoch := t.udpEpochOf(addr)
	co, err := client.DialContext(ctx, addr)
	if err != nil {
		return nil, err
	}
	defer co.Close()
	stop := context.AfterFunc(epoch, func() { co.SetReadDeadline(time.Unix(1, 0)) })
	resp, _, err := client.ExchangeWithConnContext(ctx, m, co)
	if !stop() && err != nil {
		return nil, errSwitchedToTCP
	}
	return resp, err
}

// tcpDialError is a failure to connect over TCP: the server may take UDP
// only.
type tcpDialError struct{ err error }

func (e *tcpDialError) Error() string { return "connecting over TCP: " + e.err.Error() }
func (e *tcpDialError) Unwrap() error { return e.err }
