package egress

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConnLimiterSlots(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	l := NewConnLimiter(2)
	ctx := context.Background()

	r1, err := l.Acquire(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := l.Acquire(ctx, netip.MustParseAddr("::ffff:192.0.2.1")) // the same host, mapped
	if err != nil {
		t.Fatal(err)
	}
	if n := l.InUse(a); n != 2 {
		t.Fatalf("InUse = %d, want 2", n)
	}
	// Another address is not held up by a's slots.
	rb, err := l.Acquire(ctx, b)
	if err != nil {
		t.Fatalf("another address waited: %v", err)
	}
	rb()

	// A third connection to a waits until ctx ends...
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := l.Acquire(short, a); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Acquire = %v, want a deadline error", err)
	}
	// ...or until a slot is released.
	got := make(chan error, 1)
	go func() {
		r3, err := l.Acquire(ctx, a)
		if err == nil {
			r3()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("Acquire returned before a release: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	r1()
	r1() // twice is harmless and must not free a second slot
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Acquire still waiting after a release")
	}
	if n := l.InUse(a); n != 1 {
		t.Fatalf("InUse after double release = %d, want 1", n)
	}
	r2()
	l.mu.Lock()
	left := len(l.addrs)
	l.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d address entries left after every slot was released", left)
	}
}

// TestTransportHonoursConnLimiter sends many requests at once to one
// address through a limited transport; the server must never serve more
// than the limit at once, and every slot must come back.
func TestTransportHonoursConnLimiter(t *testing.T) {
	const limit = 3
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(15 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	port := strconv.Itoa(int(serverAddrPort(t, srv).Port()))
	// Several names on one shared host, as on a provider's virtual host.
	res := &fakeResolver{hosts: map[string][]netip.Addr{}}
	for _, n := range []string{"a.test", "b.test", "c.test", "d.test"} {
		res.hosts[n] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	l := NewConnLimiter(limit)
	client := &http.Client{Transport: NewTransportWith(Policy{AllowPrivate: true}, res, TransportOptions{Limiter: l})}

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		host := []string{"a.test", "b.test", "c.test", "d.test"}[i%4]
		wg.Go(func() {
			resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/")
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if p := peak.Load(); p > limit {
		t.Fatalf("the server saw %d requests at once, limit %d", p, limit)
	} else if p < 2 {
		t.Fatalf("peak concurrency %d: the test did not exercise the limit", p)
	}
	// Closing happens just after the body is read; give it a moment.
	deadline := time.Now().Add(2 * time.Second)
	for l.InUse(netip.MustParseAddr("127.0.0.1")) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d slots still held after every response was read", l.InUse(netip.MustParseAddr("127.0.0.1")))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDialWaitDoesNotEatDialTimeout: a dial that waited for a slot longer
// than its own timeout still connects; the wait is our politeness.
func TestDialWaitDoesNotEatDialTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	l := NewConnLimiter(1)
	d := NewDialer(Policy{AllowPrivate: true}, nil, 100*time.Millisecond).WithConnLimiter(l)
	first, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		first.Close()
	}()
	start := time.Now()
	second, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial after waiting for a slot: %v", err)
	}
	defer second.Close()
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("second dial took %v; it should have waited for the first to close", waited)
	}

	// With the slot still held, the caller's context bounds the wait.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if c, err := d.DialContext(ctx, "tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("a third dial got a connection while the only slot was held")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third dial: %v, want a deadline error", err)
	}
}
