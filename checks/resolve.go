package checks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/beianwatch/beianwatch/egress"
)

// The fetcher may resolve site hosts through our Resolver.
var _ egress.HostResolver = (*Resolver)(nil)

// Resolver defaults and bounds.
const (
	DefaultDNSTimeout = 3 * time.Second
	DefaultDNSRetries = 2
	// MaxCNAMEChain bounds how many CNAME hops are followed before a chain
	// is reported as unknown (a loop or a misconfiguration we will not chase).
	MaxCNAMEChain = 8
	// maxAuthServers bounds how many NS hosts of one zone are asked: enough
	// to see a pause on any of them, few enough to keep a check cheap.
	maxAuthServers = 4
	// ednsSize is the DNS flag day 2020 buffer size: large enough for most
	// answers, small enough to avoid IP fragmentation.
	ednsSize = 1232
)

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// Servers are the recursive resolvers to ask, "host:port" with an IP
	// literal host ("223.5.5.5:53", "[2400:3200::1]:53"); a bare address
	// means port 53.
	Servers []string
	// Authoritative also asks the zone's authoritative servers directly
	// (RD=0). During a DNS pause they answer before caches expire.
	Authoritative bool
	// AuthoritativePort is the port the authoritative servers are reached
	// on; 0 means 53. Only tests and labs change it.
	AuthoritativePort int
	// AuthoritativePolicy decides which addresses of the zone's NS hosts
	// may be asked. NS records are written by the domain's owner, who can
	// point them at loopback, our private network or a metadata address;
	// the zero value asks public addresses only (allow_private lifts it).
	AuthoritativePolicy egress.Policy
	// Timeout bounds one query attempt; 0 means DefaultDNSTimeout.
	Timeout time.Duration
	// Retries is how many times a query that timed out, failed on the
	// network or got SERVFAIL is tried again; 0 means DefaultDNSRetries,
	// a negative value means no retry.
	Retries int
	// ZoneCacheTTL bounds how long the authoritative walk's findings (a
	// name's zone, the zone's NS hosts and their addresses) are reused; 0
	// means DefaultZoneCacheTTL, negative turns the cache off. Records
	// with a shorter TTL are kept for their TTL only.
	ZoneCacheTTL time.Duration
	// Now is the cache's clock; nil means time.Now.
	Now func() time.Time
}

// Resolver asks DNS servers questions and keeps apart what they said
// (records, NXDOMAIN, NODATA) from what could not be learned (timeouts,
// SERVFAIL, REFUSED, malformed or lying answers). It caches nothing it
// judges (only the way to a zone's authoritative servers), has no
// package-level state, and is safe for concurrent use.
type Resolver struct {
	servers  []string
	auth     bool
	authPort string
	policy   egress.Policy
	timeout  time.Duration
	retries  int
	udp      *dns.Client
	tcp      *dnsTCP
	zones    *zoneCache
}

// NewResolver validates cfg and builds a Resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("resolver: no DNS server configured")
	}
	r := &Resolver{auth: cfg.Authoritative, timeout: cfg.Timeout, retries: cfg.Retries, policy: cfg.AuthoritativePolicy}
	for _, s := range cfg.Servers {
		addr, err := normalizeServer(s)
		if err != nil {
			return nil, fmt.Errorf("resolver: %w", err)
		}
		if !slices.Contains(r.servers, addr) {
			r.servers = append(r.servers, addr)
		}
	}
	switch {
	case cfg.AuthoritativePort == 0:
		r.authPort = "53"
	case cfg.AuthoritativePort < 0 || cfg.AuthoritativePort > 65535:
		return nil, fmt.Errorf("resolver: authoritative port %d out of range", cfg.AuthoritativePort)
	default:
		r.authPort = strconv.Itoa(cfg.AuthoritativePort)
	}
	if r.timeout < 0 {
		return nil, fmt.Errorf("resolver: negative timeout %v", r.timeout)
	}
	if r.timeout == 0 {
		r.timeout = DefaultDNSTimeout
	}
	switch {
	case r.retries == 0:
		r.retries = DefaultDNSRetries
	case r.retries < 0:
		r.retries = 0
	case r.retries > 10:
		return nil, fmt.Errorf("resolver: %d retries is more than the budget of 10", r.retries)
	}
	r.zones = newZoneCache(cfg.ZoneCacheTTL, cfg.Now)
	r.udp = &dns.Client{Net: "udp", Timeout: r.timeout, UDPSize: ednsSize}
	r.tcp = newDNSTCP(&dns.Client{Net: "tcp", Timeout: r.timeout}, cfg.Now)
	return r, nil
}

// Servers returns the configured resolvers as "host:port".
func (r *Resolver) Servers() []string { return slices.Clone(r.servers) }

// AuthoritativeEnabled reports whether lookups also ask the zone's
// authoritative servers.
func (r *Resolver) AuthoritativeEnabled() bool { return r.auth }

func normalizeServer(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty DNS server address")
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53).String(), nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("DNS server %q: want IP:port or [IPv6]:port: %v", s, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("DNS server %q: host must be an IP address, not a name", s)
	}
	if a.Zone() != "" {
		return "", fmt.Errorf("DNS server %q: zoned IPv6 addresses are not supported", s)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", fmt.Errorf("DNS server %q: bad port %q", s, port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)).String(), nil
}

// AnswerKind says what a server's answer established.
type AnswerKind int

const (
	// KindUnknown: nothing was learned (timeout, SERVFAIL, REFUSED, a
	// malformed or lying answer, a referral where an answer was due).
	KindUnknown AnswerKind = iota
	// KindRecords: the server answered with records for the name.
	KindRecords
	// KindNXDomain: the server says the name does not exist.
	KindNXDomain
	// KindNoData: the name exists but has no record of the asked type.
	KindNoData
)

func (k AnswerKind) String() string {
	switch k {
	case KindRecords:
		return "records"
	case KindNXDomain:
		return "NXDOMAIN"
	case KindNoData:
		return "NODATA"
	default:
		return "unknown"
	}
}

// IsFact reports whether the kind is something a server told us
// (records, NXDOMAIN, NODATA), as opposed to unknown.
func (k AnswerKind) IsFact() bool { return k != KindUnknown }

// Record is one resource record of an answer.
type Record struct {
	Name  string // owner, ASCII, no trailing dot
	Type  string // "A", "AAAA", "CNAME", ...
	Value string // address, target name (no trailing dot) or presentation data
	TTL   uint32
}

func (rec Record) String() string { return rec.Name + " " + rec.Type + " " + rec.Value }

// Answer is what one server said about one name and type.
type Answer struct {
	Name string // the name asked, ASCII, no trailing dot
	Type uint16 // the type asked (dns.TypeA, ...)
	// Server is "ip:port" for a configured resolver, or
	// "ns1.example.cn (ip:port)" for an authoritative server.
	Server        string
	Authoritative bool // asked as the zone's authoritative server (RD=0)
	Rcode         int  // DNS rcode of the answer used; -1 when none arrived
	Kind          AnswerKind
	// Records holds the answer records that belong to the question: those
	// of the name and of the CNAME chain starting at it. Records from a
	// lying server about other names are never here.
	Records []Record
	// Canonical is the end of the CNAME chain (Name when there is none).
	Canonical string
	Err       error // why the kind is unknown
}

// TypeString is the asked type's mnemonic.
func (a Answer) TypeString() string { return dns.TypeToString[a.Type] }

func (a Answer) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s at %s: %s", a.Name, a.TypeString(), a.Server, a.Kind)
	if a.Err != nil {
		fmt.Fprintf(&b, " (%v)", a.Err)
	}
	for i, rec := range a.Records {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(rec.String())
	}
	return b.String()
}

// server is one place to send a question: a configured resolver (one
// address) or an authoritative NS host (its addresses, tried in order until
// one gives a fact).
type server struct {
	label string
	addrs []string
	auth  bool
}

// Lookup asks name/qtype at every configured resolver and, when enabled, at
// the authoritative servers of the name's zone, and returns one Answer per
// server asked. When the authoritative servers cannot be found, one unknown
// Answer with Server "authoritative" says why. The error is only for a name
// that cannot be asked about.
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) ([]Answer, error) {
	return r.LookupTypes(ctx, name, qtype)
}

// LookupTypes is Lookup for several types at once, sharing one walk to the
// authoritative servers. Answers are ordered by server, then by type in the
// order given.
func (r *Resolver) LookupTypes(ctx context.Context, name string, qtypes ...uint16) ([]Answer, error) {
	ascii, err := normalizeName(name)
	if err != nil {
		return nil, err
	}
	if len(qtypes) == 0 {
		return nil, errors.New("lookup: no record type asked")
	}
	fq := dns.Fqdn(ascii)
	servers := r.configured()
	var answers []Answer
	if r.auth {
		zone, err := r.Authoritative(ctx, ascii)
		if err != nil {
			for _, qt := range qtypes {
				answers = append(answers, Answer{Name: ascii, Type: qt, Server: "authoritative",
					Authoritative: true, Rcode: -1, Canonical: ascii, Err: err})
			}
		} else {
			for _, ns := range zone.Servers {
				s := server{label: ns.Host, auth: true}
				for _, a := range ns.Addrs {
					s.addrs = append(s.addrs, net.JoinHostPort(a.String(), r.authPort))
				}
				servers = append(servers, s)
			}
		}
	}
	out := make([]Answer, len(servers)*len(qtypes))
	var wg sync.WaitGroup
	for i, s := range servers {
		for j, qt := range qtypes {
			wg.Go(func() { out[i*len(qtypes)+j] = r.askServer(ctx, s, fq, qt) })
		}
	}
	wg.Wait()
	return append(out, answers...), nil
}

func (r *Resolver) configured() []server {
	s := make([]server, len(r.servers))
	for i, a := range r.servers {
		s[i] = server{label: a, addrs: []string{a}}
	}
	return s
}

// askServer asks one server, trying an NS host's addresses in order until
// one of them gives a fact: what matters is what that host says, not which
// of its address families we happen to reach.
func (r *Resolver) askServer(ctx context.Context, s server, fq string, qtype uint16) Answer {
	var a Answer
	for _, addr := range s.addrs {
		a = r.ask(ctx, addr, fq, qtype, !s.auth)
		if s.auth {
			a.Server = fmt.Sprintf("%s (%s)", s.label, addr)
		}
		if a.Kind.IsFact() || ctx.Err() != nil {
			break
		}
	}
	a.Authoritative = s.auth
	return a
}

// ask sends one question to one address and classifies the answer.
func (r *Resolver) ask(ctx context.Context, addr, fq string, qtype uint16, rd bool) Answer {
	resp, err := r.exchange(ctx, addr, fq, qtype, rd)
	a := classify(resp, err, fq, qtype, !rd)
	a.Server = addr
	return a
}

// exchange sends a question with the retry budget: a timeout, a network
// error, a malformed answer or SERVFAIL is tried again; a UDP answer with TC
// set is asked again over TCP. Each attempt has its own deadline, cut short
// by ctx.
func (r *Resolver) exchange(ctx context.Context, addr, fq string, qtype uint16, rd bool) (*dns.Msg, error) {
	var lastErr error
	var last *dns.Msg
	for attempt := 0; attempt <= r.retries; attempt++ {
		if err := ctx.Err(); err != nil {
			if lastErr == nil && last == nil {
				lastErr = err
			}
			break
		}
		m := new(dns.Msg)
		m.SetQuestion(fq, qtype)
		m.RecursionDesired = rd
		m.SetEdns0(ednsSize, false)
		actx, cancel := context.WithTimeout(ctx, r.timeout)
		var resp *dns.Msg
		var err error
		if r.tcp.preferred(addr) {
			// The server rate-limits us over UDP (see dnstcp.go).
			resp, err = r.tcp.exchange(actx, m, addr)
			if _, dial := errors.AsType[*tcpDialError](err); dial {
				r.tcp.forget(addr)
			}
		} else {
			resp, err = exchangeUDP(actx, r.udp, r.tcp, m, addr)
			if errors.Is(err, errSwitchedToTCP) {
				// Not an attempt lost: the answer was dropped by a rate
				// limit that TCP does not have.
				resp, err = r.tcp.exchange(actx, m, addr)
			} else if err == nil && resp.Truncated {
				slip := slipTruncated(resp)
				resp, err = r.tcp.exchange(actx, m, addr)
				if err != nil {
					err = fmt.Errorf("truncated over UDP, then over TCP: %w", err)
				} else if slip && resp.Len() <= ednsSize {
					// The answer would have fitted: the truncation was
					// a rate limiter's slip, not the answer's size.
					r.tcp.markSlipped(addr)
				}
			}
		}
		cancel()
		if err != nil {
			lastErr, last = describeNetErr(err), nil
			continue
		}
		last, lastErr = resp, nil
		if resp.Rcode != dns.RcodeServerFailure {
			break
		}
	}
	if last != nil {
		return last, nil
	}
	return nil, lastErr
}

func describeNetErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timeout: %w", err)
	}
	return err
}

// classify turns a response into an Answer. authMode demands the AA bit for
// negative answers: a non-authoritative empty answer from a server asked
// with RD=0 is a referral or a lame server, not a fact.
func classify(resp *dns.Msg, err error, fq string, qtype uint16, authMode bool) Answer {
	a := Answer{Name: strings.TrimSuffix(fq, "."), Type: qtype, Rcode: -1, Canonical: strings.TrimSuffix(fq, ".")}
	if err != nil {
		a.Err = err
		return a
	}
	a.Rcode = resp.Rcode
	if !resp.Response {
		a.Err = errors.New("malformed answer: QR bit not set")
		return a
	}
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, fq) ||
		resp.Question[0].Qtype != qtype || resp.Question[0].Qclass != dns.ClassINET {
		a.Err = fmt.Errorf("answer is for another question (%s)", questionString(resp))
		return a
	}
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	default:
		a.Err = fmt.Errorf("server answered %s", rcodeName(resp.Rcode))
		return a
	}
	recs, canonical, chainErr := chain(resp.Answer, fq, qtype)
	if chainErr != nil {
		a.Err = chainErr
		return a
	}
	a.Canonical = strings.TrimSuffix(canonical, ".")
	if len(recs) > 0 {
		// Per RFC 6604 the rcode of an answer with a CNAME chain describes
		// the chain's end: the name asked exists either way.
		a.Kind, a.Records = KindRecords, recs
		return a
	}
	if hasOtherRecords(resp.Answer) {
		a.Err = errors.New("answer section holds records for other names only")
		return a
	}
	if !resp.Authoritative && (authMode || !resp.RecursionAvailable) {
		a.Err = fmt.Errorf("%s without the authoritative flag (a referral or a lame server)", negName(resp.Rcode))
		return a
	}
	if resp.Rcode == dns.RcodeNameError {
		a.Kind = KindNXDomain
	} else {
		a.Kind = KindNoData
	}
	return a
}

func negName(rcode int) string {
	if rcode == dns.RcodeNameError {
		return "NXDOMAIN"
	}
	return "empty answer"
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return "rcode " + strconv.Itoa(rc)
}

func questionString(m *dns.Msg) string {
	if len(m.Question) == 0 {
		return "no question"
	}
	q := m.Question[0]
	return strings.TrimSuffix(q.Name, ".") + " " + dns.TypeToString[q.Qtype]
}

func hasOtherRecords(rrs []dns.RR) bool {
	for _, rr := range rrs {
		switch rr.Header().Rrtype {
		case dns.TypeRRSIG, dns.TypeOPT:
		default:
			return true
		}
	}
	return false
}

// chain picks from an answer section the records that answer the question:
// those of the name and of the CNAME chain starting at it. Records of other
// names are dropped (a server may add them; a lying one may only have
// them). A loop or an over-long chain is an error.
func chain(rrs []dns.RR, fq string, qtype uint16) ([]Record, string, error) {
	cur := fq
	seen := map[string]bool{strings.ToLower(fq): true}
	var out []Record
	for hop := 0; ; hop++ {
		var next string
		for _, rr := range rrs {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, cur) {
				continue
			}
			switch {
			case h.Rrtype == dns.TypeCNAME && qtype != dns.TypeCNAME:
				if next == "" {
					next = rr.(*dns.CNAME).Target
					out = append(out, toRecord(rr))
				}
			case h.Rrtype == qtype:
				out = append(out, toRecord(rr))
			}
		}
		if next == "" {
			return out, cur, nil
		}
		if seen[strings.ToLower(next)] {
			return nil, cur, fmt.Errorf("CNAME loop at %s", strings.TrimSuffix(next, "."))
		}
		if hop+1 >= MaxCNAMEChain {
			return nil, cur, fmt.Errorf("CNAME chain longer than %d", MaxCNAMEChain)
		}
		seen[strings.ToLower(next)] = true
		cur = next
	}
}

func toRecord(rr dns.RR) Record {
	h := rr.Header()
	rec := Record{Name: strings.ToLower(strings.TrimSuffix(h.Name, ".")), Type: dns.TypeToString[h.Rrtype], TTL: h.Ttl}
	switch v := rr.(type) {
	case *dns.A:
		rec.Value = v.A.String()
	case *dns.AAAA:
		rec.Value = v.AAAA.String()
	case *dns.CNAME:
		rec.Value = strings.ToLower(strings.TrimSuffix(v.Target, "."))
	case *dns.NS:
		rec.Value = strings.ToLower(strings.TrimSuffix(v.Ns, "."))
	default:
		rec.Value = strings.TrimSpace(strings.TrimPrefix(rr.String(), h.String()))
	}
	return rec
}

// AddrResult is the addresses of a name after following CNAMEs, as the
// configured resolvers see them.
type AddrResult struct {
	Name string // ASCII, no trailing dot
	// Kind is KindRecords when at least one address was found;
	// KindNXDomain or KindNoData when every resolver said, for A and AAAA,
	// that there is none (NXDOMAIN only when all said NXDOMAIN; a CNAME to
	// nowhere counts as NODATA); KindUnknown otherwise.
	Kind  AnswerKind
	Addrs []netip.Addr // sorted, without duplicates
	// Answers holds, per resolver and type, the outcome after following the
	// chain; its Records include the CNAMEs passed. Here an Answer's Kind is
	// KindRecords only when it reached addresses.
	Answers []Answer
	Err     error // why the kind is unknown
}

// LookupAddrs resolves name to its A and AAAA addresses at every configured
// resolver, following CNAME chains (MaxCNAMEChain hops) when a resolver
// returns a partial chain. It does not ask authoritative servers: an
// authoritative answer stops at the zone edge, and what visitors reach is
// what recursive resolvers return. Addresses from any resolver count
// (GeoDNS and CDNs answer differently per resolver). The error is only for a
// name that cannot be asked about.
func (r *Resolver) LookupAddrs(ctx context.Context, name string) (AddrResult, error) {
	ascii, err := normalizeName(name)
	if err != nil {
		return AddrResult{}, err
	}
	return memoizedAddrs(ctx, r, ascii, func() AddrResult { return r.lookupAddrs(ctx, ascii) }), nil
}

func (r *Resolver) lookupAddrs(ctx context.Context, ascii string) AddrResult {
	res := AddrResult{Name: ascii}
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	res.Answers = make([]Answer, len(r.servers)*len(types))
	var wg sync.WaitGroup
	for i, s := range r.servers {
		for j, qt := range types {
			wg.Go(func() { res.Answers[i*len(types)+j] = r.follow(ctx, s, ascii, qt) })
		}
	}
	wg.Wait()

	seen := map[netip.Addr]bool{}
	allNX, facts := true, true
	var errs []string
	for _, a := range res.Answers {
		for _, rec := range a.Records {
			if rec.Type != "A" && rec.Type != "AAAA" {
				continue
			}
			if ip, err := netip.ParseAddr(rec.Value); err == nil && !seen[ip.Unmap()] {
				seen[ip.Unmap()] = true
				res.Addrs = append(res.Addrs, ip.Unmap())
			}
		}
		if !a.Kind.IsFact() {
			facts = false
			errs = append(errs, fmt.Sprintf("%s %s at %s: %v", a.Name, a.TypeString(), a.Server, a.Err))
		}
		if a.Kind != KindNXDomain || len(a.Records) > 0 {
			allNX = false
		}
	}
	slices.SortFunc(res.Addrs, netip.Addr.Compare)
	switch {
	case len(res.Addrs) > 0:
		res.Kind = KindRecords
	case !facts:
		res.Kind = KindUnknown
		res.Err = errors.New(strings.Join(errs, "; "))
	case allNX:
		res.Kind = KindNXDomain
	default:
		res.Kind = KindNoData
	}
	return res
}

// follow asks one resolver for name/qtype and, when it returns a chain that
// stops at a CNAME, asks again for the chain's end.
func (r *Resolver) follow(ctx context.Context, addr, name string, qtype uint16) Answer {
	cur := dns.Fqdn(name)
	seen := map[string]bool{strings.ToLower(cur): true}
	var recs []Record
	var a Answer
	for hop := 0; ; hop++ {
		a = r.ask(ctx, addr, cur, qtype, true)
		if !a.Kind.IsFact() {
			break
		}
		recs = append(recs, a.Records...)
		if a.Kind != KindRecords || hasType(a.Records, qtype) {
			break
		}
		next := dns.Fqdn(a.Canonical)
		if seen[strings.ToLower(next)] {
			a = Answer{Kind: KindUnknown, Rcode: a.Rcode, Err: fmt.Errorf("CNAME loop at %s", a.Canonical)}
			break
		}
		if len(seen) >= MaxCNAMEChain {
			a = Answer{Kind: KindUnknown, Rcode: a.Rcode, Err: fmt.Errorf("CNAME chain longer than %d", MaxCNAMEChain)}
			break
		}
		seen[strings.ToLower(next)] = true
		cur = next
	}
	a.Name, a.Type, a.Server = name, qtype, addr
	if a.Kind.IsFact() {
		a.Records = recs
		if a.Kind == KindRecords && !hasType(recs, qtype) {
			// Records were only CNAMEs and the end said nothing more.
			a.Kind = KindNoData
		}
	}
	if a.Canonical == "" {
		a.Canonical = name
	}
	return a
}

func hasType(recs []Record, qtype uint16) bool {
	t := dns.TypeToString[qtype]
	for _, rec := range recs {
		if rec.Type == t {
			return true
		}
	}
	return false
}

// LookupNetIP resolves host like net.Resolver.LookupNetIP ("ip", "ip4" or
// "ip6"), so the Resolver can stand in as an HTTP client's host resolver. A
// name that does not resolve gives a *net.DNSError with IsNotFound; a
// lookup that could not tell gives one with IsTemporary.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var want func(netip.Addr) bool
	switch network {
	case "ip", "":
		want = func(netip.Addr) bool { return true }
	case "ip4":
		want = netip.Addr.Is4
	case "ip6":
		want = netip.Addr.Is6
	default:
		return nil, fmt.Errorf("lookup %s: unsupported network %q", host, network)
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if ip = ip.Unmap(); want(ip) {
			return []netip.Addr{ip}, nil
		}
		return nil, &net.DNSError{Err: "address of the wrong family", Name: host, IsNotFound: true}
	}
	res, err := r.LookupAddrs(ctx, host)
	if err != nil {
		return nil, &net.DNSError{Err: err.Error(), Name: host}
	}
	var out []netip.Addr
	for _, a := range res.Addrs {
		if want(a) {
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	switch res.Kind {
	case KindUnknown:
		return nil, &net.DNSError{Err: res.Err.Error(), Name: host, IsTemporary: true,
			IsTimeout: strings.Contains(res.Err.Error(), "timeout")}
	default:
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

// NameServer is one authoritative server host of a zone.
type NameServer struct {
	Host  string       // ASCII, no trailing dot
	Addrs []netip.Addr // IPv4 first
}

// Zone is a DNS zone and its authoritative servers.
type Zone struct {
	Name    string // ASCII, no trailing dot
	Servers []NameServer
}

// Authoritative finds the zone that holds name (the closest zone cut at or
// above it, which may lie below the registrable domain) and the addresses of
// its NS hosts, asking the configured resolvers.
func (r *Resolver) Authoritative(ctx context.Context, name string) (Zone, error) {
	ascii, err := normalizeName(name)
	if err != nil {
		return Zone{}, err
	}
	fq := dns.Fqdn(ascii)
	zone, ok := r.zones.cut(fq)
	if !ok {
		var ttl uint32
		if zone, ttl, err = r.findZone(ctx, fq); err != nil {
			return Zone{}, fmt.Errorf("finding the zone of %s: %w", ascii, err)
		}
		r.zones.putCut(fq, zone, ttl)
	}
	z := Zone{Name: strings.TrimSuffix(zone, ".")}
	hosts, ok := r.zones.zoneHosts(zone)
	if !ok {
		resp, err := r.askConfigured(ctx, zone, dns.TypeNS)
		if err != nil {
			return z, fmt.Errorf("asking NS of zone %s: %w", z.Name, err)
		}
		ttl := uint32(math.MaxUint32)
		for _, rr := range resp.Answer {
			if ns, ok := rr.(*dns.NS); ok && strings.EqualFold(ns.Hdr.Name, zone) {
				ttl = min(ttl, ns.Hdr.Ttl)
				h := strings.ToLower(strings.TrimSuffix(ns.Ns, "."))
				if !slices.Contains(hosts, h) {
					hosts = append(hosts, h)
				}
			}
		}
		if len(hosts) == 0 {
			return z, fmt.Errorf("zone %s: no NS records in the answer", z.Name)
		}
		slices.Sort(hosts)
		if len(hosts) > maxAuthServers {
			hosts = hosts[:maxAuthServers]
		}
		r.zones.putZoneHosts(zone, hosts, ttl)
	}
	z.Servers = make([]NameServer, len(hosts))
	refused := make([][]string, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			z.Servers[i].Host = h
			addrs, ok := r.zones.hostAddrs(h)
			if !ok {
				res, err := r.LookupAddrs(ctx, h)
				if err != nil {
					return
				}
				// A copy: the lookup's result may be shared through a memo.
				addrs = slices.Clone(res.Addrs)
				if ttl, facts := addrsTTL(res); facts {
					r.zones.putHostAddrs(h, addrs, ttl)
				}
			}
			addrs = slices.DeleteFunc(addrs, func(a netip.Addr) bool {
				if err := r.policy.Check(a); err != nil {
					refused[i] = append(refused[i], a.String())
					return true
				}
				return false
			})
			// IPv4 first: it is the family most likely to work from here.
			slices.SortStableFunc(addrs, func(a, b netip.Addr) int {
				switch {
				case a.Is4() == b.Is4():
					return 0
				case a.Is4():
					return -1
				}
				return 1
			})
			z.Servers[i].Addrs = addrs
		})
	}
	wg.Wait()
	z.Servers = slices.DeleteFunc(z.Servers, func(ns NameServer) bool { return len(ns.Addrs) == 0 })
	if len(z.Servers) == 0 {
		var blocked []string
		for i, addrs := range refused {
			if len(addrs) > 0 {
				blocked = append(blocked, fmt.Sprintf("%s: %s", hosts[i], strings.Join(addrs, ", ")))
			}
		}
		if len(blocked) > 0 {
			return z, fmt.Errorf("zone %s: none of its NS hosts (%s) resolves to an address we may ask; refused non-public %s",
				z.Name, strings.Join(hosts, ", "), strings.Join(blocked, "; "))
		}
		return z, fmt.Errorf("zone %s: none of its NS hosts (%s) resolves", z.Name, strings.Join(hosts, ", "))
	}
	return z, nil
}

// addrsTTL is how long an NS host's addresses may be reused: the shortest
// TTL among the records that led to them. facts is false when any resolver
// could not answer, or none gave an address: such a lookup is asked again.
func addrsTTL(res AddrResult) (ttl uint32, facts bool) {
	if res.Kind != KindRecords {
		return 0, false
	}
	ttl = math.MaxUint32
	for _, a := range res.Answers {
		if !a.Kind.IsFact() {
			return 0, false
		}
		for _, rec := range a.Records {
			ttl = min(ttl, rec.TTL)
		}
	}
	return ttl, true
}

// findZone walks up from fq: a name that owns an SOA is its zone's apex;
// otherwise the SOA in the authority section of a negative answer names the
// enclosing zone; failing both, try the parent name.
//
// The TTL returned is the SOA record's, as the resolver gave it: how long
// the answer may be reused.
func (r *Resolver) findZone(ctx context.Context, fq string) (string, uint32, error) {
	cand := fq
	for cand != "." {
		resp, err := r.askConfigured(ctx, cand, dns.TypeSOA)
		if err != nil {
			return "", 0, err
		}
		var cname bool
		for _, rr := range resp.Answer {
			if !strings.EqualFold(rr.Header().Name, cand) {
				continue
			}
			switch rr.Header().Rrtype {
			case dns.TypeSOA:
				return strings.ToLower(cand), rr.Header().Ttl, nil
			case dns.TypeCNAME:
				cname = true
			}
		}
		if !cname {
			for _, rr := range resp.Ns {
				if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, cand) {
					return strings.ToLower(soa.Hdr.Name), soa.Hdr.Ttl, nil
				}
			}
		}
		i, end := dns.NextLabel(cand, 0)
		if end {
			break
		}
		cand = cand[i:]
	}
	return "", 0, errors.New("no zone apex found up to the root")
}

// askConfigured asks the configured resolvers in turn and returns the first
// usable answer (NOERROR or NXDOMAIN to the question asked).
func (r *Resolver) askConfigured(ctx context.Context, fq string, qtype uint16) (*dns.Msg, error) {
	var errs []string
	for _, addr := range r.servers {
		resp, err := r.exchange(ctx, addr, fq, qtype, true)
		if err == nil {
			a := classify(resp, nil, fq, qtype, false)
			if a.Kind.IsFact() {
				return resp, nil
			}
			err = a.Err
		}
		errs = append(errs, addr+": "+err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%s %s: %s", strings.TrimSuffix(fq, "."), dns.TypeToString[qtype], strings.Join(errs, "; "))
}
