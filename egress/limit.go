package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ConnLimiter bounds how many connections are open at once to each remote
// address. Providers put hundreds of filed sites on one shared host; a scan
// of the whole inventory must not open hundreds of connections to it at
// once, whatever the overall concurrency. The limit is per IP address, not
// per name or port: it is the machine that must not be hammered.
//
// A slot is taken by the dial and held for the connection's whole life,
// until Close. A transport using a limiter must therefore not keep idle
// connections (NewTransportWith turns keep-alive off): an idle connection
// to one site would hold a slot that another site on the same host needs.
//
// It is safe for concurrent use; the zero value is not usable.
type ConnLimiter struct {
	per int

	mu    sync.Mutex
	addrs map[netip.Addr]*addrSlots
}

type addrSlots struct {
	sem   chan struct{}
	users int // holders and waiters; the entry goes when it reaches 0
}

// NewConnLimiter allows perAddr connections at once to each address
// (at least 1).
func NewConnLimiter(perAddr int) *ConnLimiter {
	return &ConnLimiter{per: max(perAddr, 1), addrs: map[netip.Addr]*addrSlots{}}
}

// PerAddr is the number of connections allowed at once to one address.
func (l *ConnLimiter) PerAddr() int { return l.per }

// Acquire waits for a slot for addr, or until ctx ends. release gives the
// slot back; calling it more than once is harmless.
func (l *ConnLimiter) Acquire(ctx context.Context, addr netip.Addr) (release func(), err error) {
	addr = addr.Unmap()
	l.mu.Lock()
	s := l.addrs[addr]
	if s == nil {
		s = &addrSlots{sem: make(chan struct{}, l.per)}
		l.addrs[addr] = s
	}
	s.users++
	l.mu.Unlock()

	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		l.leave(addr, s)
		return nil, fmt.Errorf("waiting for a connection slot to %s (at most %d at once): %w", addr, l.per, ctx.Err())
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-s.sem
			l.leave(addr, s)
		})
	}, nil
}

func (l *ConnLimiter) leave(addr netip.Addr, s *addrSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.users--
	if s.users == 0 {
		delete(l.addrs, addr)
	}
}

// InUse is how many slots of addr are held now (for tests and metrics).
func (l *ConnLimiter) InUse(addr netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.addrs[addr.Unmap()]; s != nil {
		return len(s.sem)
	}
	return 0
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
