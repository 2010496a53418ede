// Package egress is the one way beianwatch opens outbound connections: site
// fetches, webhooks and vendor APIs all dial through it. The addresses a
// customer's domain resolves to are not under our control, so without this
// layer a filed domain pointing at 127.0.0.1 or 169.254.169.254 would make the
// daemon probe its own host or the cloud metadata service (SSRF). The check is
// made after DNS resolution, on the address actually connected to, so it also
// covers redirects and DNS rebinding.
package egress

import (
	"fmt"
	"net/netip"
)

// Policy decides which addresses may be connected to. The zero value is the
// strict production policy: public unicast addresses only.
type Policy struct {
	// AllowPrivate lets loopback, private, link-local, CGNAT, metadata and
	// other non-public addresses through. Only for tests and labs; it is an
	// explicit operator choice (allow_private, --allow-private).
	AllowPrivate bool

	// testAllowed lets one exact address:port through under the strict
	// policy, so that this package's tests can stand up a "public" server on
	// loopback and check that redirects from it are still refused. It is
	// unexported and never set outside this package's tests: production code
	// cannot reach it.
	testAllowed netip.AddrPort
}

// BlockedError reports a connection refused by the Policy.
type BlockedError struct {
	Addr   netip.Addr
	Reason string // why the address is not public, e.g. "loopback address"
}

func (e *BlockedError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "non-public address"
	}
	return fmt.Sprintf("refusing to connect to %s: %s (only public addresses are allowed unless private targets are explicitly allowed)", e.Addr, reason)
}

// Permanent marks the refusal as not worth retrying: the same policy
// refuses the same destination next time, so a webhook delivery gives up
// at once with this reason instead of retrying for hours.
func (e *BlockedError) Permanent() bool { return true }

type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// Exact addresses get their own message because "link-local" hides what an
// operator most needs to know: something tried to reach the metadata service.
var metadataAddrs = map[netip.Addr]string{
	netip.MustParseAddr("169.254.169.254"): "cloud metadata endpoint",
	netip.MustParseAddr("fd00:ec2::254"):   "cloud metadata endpoint (AWS IPv6)",
	netip.MustParseAddr("100.100.100.200"): "cloud metadata endpoint (Alibaba Cloud)",
}

// These tables are read-only after package initialisation.
var blockedV4 = []blockedRange{
	{netip.MustParsePrefix("0.0.0.0/32"), "unspecified address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" address (0.0.0.0/8)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT address (100.64.0.0/10)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local address"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment (192.0.0.0/24)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private address (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking address (198.18.0.0/15)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast address"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved address (240.0.0.0/4)"},
}

var blockedV6 = []blockedRange{
	{netip.MustParsePrefix("::/128"), "unspecified address"},
	{netip.MustParsePrefix("::1/128"), "loopback address"},
	// IPv4-compatible addresses are deprecated (RFC 4291) and never public.
	{netip.MustParsePrefix("::/96"), "deprecated IPv4-compatible address"},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), "IPv4-translated address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "discard-only address"},
	{netip.MustParsePrefix("fc00::/7"), "unique local address (fc00::/7)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "multicast address"},
}

// Prefixes that embed an IPv4 address which is what the packets finally
// reach: the embedded address must pass the IPv4 rules.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	teredo         = netip.MustParsePrefix("2001::/32")
)

// Check returns a *BlockedError when ip may not be connected to under p, and
// nil when it may.
func (p Policy) Check(ip netip.Addr) error {
	if p.AllowPrivate {
		return nil
	}
	reason := blockReason(ip)
	if reason == "" {
		return nil
	}
	return &BlockedError{Addr: ip, Reason: reason}
}

// checkAddrPort is what the dialer calls: Check plus the test-only exception.
func (p Policy) checkAddrPort(ap netip.AddrPort) error {
	if p.testAllowed.IsValid() && ap == p.testAllowed {
		return nil
	}
	return p.Check(ap.Addr())
}

// blockReason returns why ip is not a public unicast address, or "".
func blockReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	// netip prefixes never match zoned addresses, and a zone only makes
	// sense for link-scoped targets: refuse rather than reason about it.
	if ip.Zone() != "" {
		return "scoped (zoned) IPv6 address"
	}
	if r, ok := metadataAddrs[ip]; ok {
		return r
	}
	if ip.Is4In6() {
		if r := blockReason(ip.Unmap()); r != "" {
			return "IPv4-mapped " + r
		}
		return ""
	}
	if ip.Is4() {
		for _, b := range blockedV4 {
			if b.prefix.Contains(ip) {
				return b.reason
			}
		}
		return ""
	}
	for _, b := range blockedV6 {
		if b.prefix.Contains(ip) {
			return b.reason
		}
	}
	a := ip.As16()
	switch {
	case nat64WellKnown.Contains(ip):
		if r := blockReason(netip.AddrFrom4([4]byte{a[12], a[13], a[14], a[15]})); r != "" {
			return "NAT64 form of " + r
		}
	case sixToFour.Contains(ip):
		if r := blockReason(netip.AddrFrom4([4]byte{a[2], a[3], a[4], a[5]})); r != "" {
			return "6to4 form of " + r
		}
	case teredo.Contains(ip):
		// The Teredo client address is stored inverted in the last 32 bits.
		if r := blockReason(netip.AddrFrom4([4]byte{^a[12], ^a[13], ^a[14], ^a[15]})); r != "" {
			return "Teredo form of " + r
		}
	}
	return ""
}
