package freeport

import (
	"net"
	"testing"
	"time"
)

// The port is free: nothing answers on it, and it can be listened on.
func TestAddrIsFree(t *testing.T) {
	addr := Addr(t)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something answers on %s", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot listen on %s: %v", addr, err)
	}
	ln.Close()
	if p := Port(t); p == "" || p == "0" {
		t.Errorf("Port = %q", p)
	}
}
