// Package freeport finds loopback TCP ports for tests that must name an
// address before anything listens on it (a daemon's config file, a
// connection that must be refused).
package freeport

import (
	"net"
	"testing"
)

// Addr returns 127.0.0.1:PORT for a port that was free a moment ago. A
// test that can hand a listener to the code under test should do that
// instead: the port may be taken in between.
func Addr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("freeport: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Port is the port of Addr, for a URL or a refused connection.
func Port(t testing.TB) string {
	t.Helper()
	_, port, err := net.SplitHostPort(Addr(t))
	if err != nil {
		t.Fatalf("freeport: %v", err)
	}
	return port
}
