package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

// HostResolver turns a host name into addresses. *net.Resolver satisfies it;
// tests inject a fake so that names can point anywhere without real DNS.
type HostResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ResolveError reports that the host name of a dial could not be resolved,
// whatever resolver was injected, so callers can tell a DNS failure from a
// refused connection.
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("resolving %s: %v", e.Host, e.Err)
}

func (e *ResolveError) Unwrap() error { return e.Err }

// errNoAddresses is returned inside a ResolveError when a lookup succeeded
// but gave nothing usable for the requested network.
var errNoAddresses = errors.New("no addresses for this network")

// DefaultDialTimeout bounds a whole dial (resolution and every address tried)
// when NewDialer is given no timeout.
const DefaultDialTimeout = 10 * time.Second

// maxAddrsTried bounds how many resolved addresses one dial tries, so that an
// answer with hundreds of records cannot stretch a dial indefinitely.
const maxAddrsTried = 8

// Dialer opens connections only to addresses its Policy allows.
type Dialer struct {
	policy   Policy
	resolver HostResolver
	timeout  time.Duration
	limiter  *ConnLimiter // nil: no per-address limit
	// connect replaces the system's connect in tests that need an address
	// to fail in a given way; nil in use.
	connect func(ctx context.Context, network, address string) (net.Conn, error)
}

// NewDialer returns a Dialer enforcing p. r resolves host names (nil means
// net.DefaultResolver); timeout bounds each dial, resolution included (zero
// or negative means DefaultDialTimeout).
func NewDialer(p Policy, r HostResolver, timeout time.Duration) *Dialer {
	if r == nil {
		r = net.DefaultResolver
	}
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	return &Dialer{policy: p, resolver: r, timeout: timeout}
}

// WithConnLimiter makes every connection d opens hold a slot of l for its
// address until it is closed; nil removes the limit. Time spent waiting
// for a slot does not count against the dial timeout: the wait is our
// politeness, not the site's slowness, and only the caller's context
// bounds it. It returns d.
func (d *Dialer) WithConnLimiter(l *ConnLimiter) *Dialer {
	d.limiter = l
	return d
}

// DialContext resolves addr's host with the injected resolver, then tries the
// addresses in order, refusing those the policy forbids. The policy is checked
// twice: before dialling, for a clear error without touching the network, and
// in the socket's Control hook on the exact address being connected to, so
// nothing that reaches connect(2) escapes it.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var lookupNet string
	switch network {
	case "tcp", "udp":
		lookupNet = "ip"
	case "tcp4", "udp4":
		lookupNet = "ip4"
	case "tcp6", "udp6":
		lookupNet = "ip6"
	default:
		return nil, fmt.Errorf("dialing %s: unsupported network %q", addr, network)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %q: %w", addr, err)
	}
	if host == "" {
		return nil, fmt.Errorf("dialing %q: empty host", addr)
	}
	port, err := net.LookupPort(network, portStr)
	if err != nil {
		return nil, fmt.Errorf("dialing %q: bad port: %w", addr, err)
	}

	// The dial's budget: resolution and connecting, but not waiting for a
	// slot of the limiter (see dialAddr).
	deadline := time.Now().Add(d.timeout)
	rctx, cancel := context.WithDeadline(ctx, deadline)
	addrs, err := d.resolve(rctx, lookupNet, host)
	cancel()
	if err != nil {
		return nil, err
	}

	var (
		firstBlocked error
		firstErr     error
		blocked      int
	)
	for i, ip := range addrs {
		ap := netip.AddrPortFrom(ip, uint16(port))
		if err := d.policy.checkAddrPort(ap); err != nil {
			blocked++
			if firstBlocked == nil {
				firstBlocked = err
			}
			continue
		}
		conn, err := d.dialAddr(ctx, &deadline, network, ap, len(addrs)-i)
		if err == nil {
			return conn, nil
		}
		// A refusal is a fact about the site only when every address
		// refused: an address that timed out may be our network's fault,
		// so its error is the one to report.
		if firstErr == nil || errors.Is(firstErr, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ECONNREFUSED) {
			firstErr = err
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			if i < len(addrs)-1 && errors.Is(firstErr, syscall.ECONNREFUSED) {
				// Addresses left untried may have answered: out of time is
				// ours to own, not a refusal by the site.
				firstErr = &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf(
					"%w: %d of %d address(es) of %s untried (the ones tried refused: %v)",
					os.ErrDeadlineExceeded, len(addrs)-1-i, len(addrs), host, firstErr)}
			}
			break
		}
	}
	switch {
	case firstErr != nil && blocked > 0:
		// The public addresses are what decides reachability; the refused
		// ones are worth a mention but must not mask a real connect error.
		return nil, fmt.Errorf("%w (also refused %d non-public address(es) of %s)", firstErr, blocked, host)
	case firstErr != nil:
		return nil, firstErr
	case firstBlocked != nil:
		return nil, firstBlocked
	default:
		return nil, &ResolveError{Host: host, Err: errNoAddresses}
	}
}

// dialAddr connects to one address within the dial's deadline, after
// taking a slot of the limiter if there is one. The wait for the slot is
// bounded by ctx alone and moves the deadline on by as long as it took.
func (d *Dialer) dialAddr(ctx context.Context, deadline *time.Time, network string, ap netip.AddrPort, remaining int) (net.Conn, error) {
	var release func()
	if d.limiter != nil {
		start := time.Now()
		r, err := d.limiter.Acquire(ctx, ap.Addr())
		if err != nil {
			return nil, err
		}
		release = r
		*deadline = deadline.Add(time.Since(start))
	}
	dctx, cancel := context.WithDeadline(ctx, *deadline)
	defer cancel()
	nd := net.Dialer{ControlContext: d.control}
	if dl, ok := partialDeadline(dctx, remaining); ok {
		nd.Deadline = dl
	}
	connect := nd.DialContext
	if d.connect != nil {
		connect = d.connect
	}
	conn, err := connect(dctx, network, ap.String())
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	if release != nil {
		return &limitedConn{Conn: conn, release: release}, nil
	}
	return conn, nil
}

// resolve returns the unique addresses for host, unmapped, in resolver order.
func (d *Dialer) resolve(ctx context.Context, lookupNet, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if !familyMatches(lookupNet, ip.Unmap()) {
			return nil, &ResolveError{Host: host, Err: errNoAddresses}
		}
		return []netip.Addr{ip.Unmap()}, nil
	}
	if isLocalhost(host) {
		// RFC 6761: localhost is loopback, whatever a DNS server says. A
		// lying resolver must not turn a config's http://localhost into a
		// remote host that receives a token in clear.
		var addrs []netip.Addr
		for _, ip := range []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()} {
			if familyMatches(lookupNet, ip) {
				addrs = append(addrs, ip)
			}
		}
		return addrs, nil
	}
	found, err := d.resolver.LookupNetIP(ctx, lookupNet, host)
	if err != nil {
		return nil, &ResolveError{Host: host, Err: err}
	}
	seen := make(map[netip.Addr]bool, len(found))
	addrs := make([]netip.Addr, 0, len(found))
	for _, ip := range found {
		// Resolvers may hand back IPv4 answers in mapped form; dial and
		// judge them as the IPv4 addresses they are.
		ip = ip.Unmap()
		if !ip.IsValid() || seen[ip] || !familyMatches(lookupNet, ip) {
			continue
		}
		seen[ip] = true
		addrs = append(addrs, ip)
		if len(addrs) == maxAddrsTried {
			break
		}
	}
	if len(addrs) == 0 {
		return nil, &ResolveError{Host: host, Err: errNoAddresses}
	}
	return addrs, nil
}

func familyMatches(lookupNet string, ip netip.Addr) bool {
	switch lookupNet {
	case "ip4":
		return ip.Is4()
	case "ip6":
		return ip.Is6()
	}
	return true
}

// control runs on the socket just before connect(2), with the literal
// address being connected to.
func (d *Dialer) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to unparseable address %q: %w", address, err)
	}
	return d.policy.checkAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// partialDeadline gives one of the remaining addresses its share of the time
// left, as net.Dialer does, so that one black-holed address does not eat the
// whole budget. No share is shorter than two seconds unless the overall
// deadline is.
func partialDeadline(ctx context.Context, remaining int) (time.Time, bool) {
	dl, ok := ctx.Deadline()
	if !ok || remaining <= 1 {
		return time.Time{}, false
	}
	left := time.Until(dl)
	share := left / time.Duration(remaining)
	const minShare = 2 * time.Second
	if share < minShare {
		share = min(minShare, left)
	}
	return time.Now().Add(share), true
}

// isLocalhost reports whether host is localhost or a name under it.
func isLocalhost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
