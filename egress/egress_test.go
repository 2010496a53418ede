package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		addr    string
		blocked bool
		reason  string // substring of the reason when blocked
	}{
		// Public addresses pass.
		{"8.8.8.8", false, ""},
		{"223.5.5.5", false, ""},
		{"1.1.1.1", false, ""},
		{"203.0.113.10", false, ""}, // documentation range: not routable, but not an SSRF target either
		{"100.63.255.255", false, ""},
		{"100.128.0.0", false, ""},
		{"172.32.0.1", false, ""},
		{"198.20.0.1", false, ""},
		{"2400:3200::1", false, ""},
		{"2001:4860:4860::8888", false, ""},
		{"::ffff:8.8.8.8", false, ""},
		{"64:ff9b::808:808", false, ""},
		{"2002:808:808::1", false, ""},

		// IPv4 special ranges.
		{"0.0.0.0", true, "unspecified"},
		{"0.1.2.3", true, "this network"},
		{"10.0.0.1", true, "private"},
		{"10.255.255.255", true, "private"},
		{"100.64.0.1", true, "carrier-grade NAT"},
		{"100.127.255.254", true, "carrier-grade NAT"},
		{"127.0.0.1", true, "loopback"},
		{"127.8.9.10", true, "loopback"},
		{"169.254.1.1", true, "link-local"},
		{"169.254.169.254", true, "metadata"},
		{"100.100.100.200", true, "Alibaba"},
		{"172.16.0.1", true, "private"},
		{"172.31.255.255", true, "private"},
		{"192.0.0.8", true, "IETF"},
		{"192.168.1.1", true, "private"},
		{"198.18.0.1", true, "benchmarking"},
		{"198.19.255.255", true, "benchmarking"},
		{"224.0.0.1", true, "multicast"},
		{"239.255.255.250", true, "multicast"},
		{"240.0.0.1", true, "reserved"},
		{"255.255.255.255", true, "broadcast"},

		// IPv6 special ranges.
		{"::", true, "unspecified"},
		{"::1", true, "loopback"},
		{"fc00::1", true, "unique local"},
		{"fd12:3456::1", true, "unique local"},
		{"fd00:ec2::254", true, "metadata"},
		{"fe80::1", true, "link-local"},
		{"fe80::1%eth0", true, "zoned"},
		{"fec0::1", true, "site-local"},
		{"ff02::1", true, "multicast"},
		{"100::1", true, "discard"},
		{"::7f00:1", true, "IPv4-compatible"},

		// IPv4 targets hidden in IPv6 forms.
		{"::ffff:127.0.0.1", true, "IPv4-mapped loopback"},
		{"::ffff:169.254.169.254", true, "metadata"},
		{"::ffff:10.1.2.3", true, "private"},
		{"::ffff:100.64.0.1", true, "carrier-grade NAT"},
		{"64:ff9b::7f00:1", true, "NAT64 form of loopback"},
		{"64:ff9b::a9fe:a9fe", true, "NAT64 form of cloud metadata"},
		{"64:ff9b:1::a00:1", true, "local-use NAT64"},
		{"2002:7f00:1::1", true, "6to4 form of loopback"},
		{"2002:a00:1::1", true, "6to4 form of private"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", true, "Teredo form of loopback"}, // client 127.0.0.1 inverted
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			ip := netip.MustParseAddr(tt.addr)
			err := Policy{}.Check(ip)
			if !tt.blocked {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", ip, err)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("Check(%s) = %v, want *BlockedError", ip, err)
			}
			if be.Addr != ip {
				t.Errorf("BlockedError.Addr = %s, want %s", be.Addr, ip)
			}
			if !strings.Contains(be.Reason, tt.reason) {
				t.Errorf("reason %q does not mention %q", be.Reason, tt.reason)
			}
			if !strings.Contains(err.Error(), ip.String()) {
				t.Errorf("message %q does not name the address", err)
			}
			if err := (Policy{AllowPrivate: true}).Check(ip); err != nil {
				t.Errorf("AllowPrivate: Check(%s) = %v, want allowed", ip, err)
			}
		})
	}
	if err := (Policy{}).Check(netip.Addr{}); err == nil {
		t.Error("the zero Addr was allowed")
	}
}

// fakeResolver maps names to fixed addresses, like a hostile or rebinding
// authoritative server could.
type fakeResolver struct {
	hosts map[string][]netip.Addr
	calls atomic.Int32
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.calls.Add(1)
	addrs, ok := f.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

// countingServer is a target that must never be reached under the strict
// policy.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "secret")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func serverAddrPort(t *testing.T, srv *httptest.Server) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func TestDialRefusesBeforeConnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	res := &fakeResolver{hosts: map[string][]netip.Addr{
		"rebind.test":  {netip.MustParseAddr("127.0.0.1")},
		"mapped.test":  {netip.MustParseAddr("::ffff:127.0.0.1")},
		"mixed.test":   {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")},
		"meta.test":    {netip.MustParseAddr("169.254.169.254")},
		"cgnat.test":   {netip.MustParseAddr("100.64.1.2")},
		"loop6.test":   {netip.MustParseAddr("::1")},
		"localhost":    {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		"ula.test":     {netip.MustParseAddr("fd00::5")},
		"private.test": {netip.MustParseAddr("192.168.0.10")},
	}}
	targets := []string{
		"127.0.0.1:" + port,
		"[::1]:" + port,
		"10.1.2.3:80",
		"169.254.169.254:80",
		"100.64.0.1:80",
		"[::ffff:127.0.0.1]:" + port,
		"rebind.test:" + port,
		"mapped.test:" + port,
		"mixed.test:" + port,
		"meta.test:80",
		"cgnat.test:80",
		"loop6.test:" + port,
		"localhost:" + port,
		"ula.test:80",
		"private.test:80",
	}
	d := NewDialer(Policy{}, res, 2*time.Second)
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			conn, err := d.DialContext(context.Background(), "tcp", target)
			if err == nil {
				conn.Close()
				t.Fatalf("dial %s succeeded under the strict policy", target)
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("dial %s: %v, want *BlockedError", target, err)
			}
		})
	}
	// Give a wrongly accepted connection time to be counted.
	time.Sleep(20 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Fatalf("the loopback listener accepted %d connection(s)", n)
	}

	// The same targets that have a listener connect when private targets are
	// allowed.
	open := NewDialer(Policy{AllowPrivate: true}, res, 2*time.Second)
	for _, target := range []string{"127.0.0.1:" + port, "rebind.test:" + port, "mapped.test:" + port} {
		conn, err := open.DialContext(context.Background(), "tcp", target)
		if err != nil {
			t.Fatalf("AllowPrivate: dial %s: %v", target, err)
		}
		conn.Close()
	}
}

func TestControlChecksConnectedAddress(t *testing.T) {
	d := NewDialer(Policy{}, nil, time.Second)
	tests := []struct {
		address string
		blocked bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:443", true},
		{"[::ffff:169.254.169.254]:80", true},
		{"[fe80::1%lo]:80", true},
		{"10.0.0.1:8080", true},
		{"8.8.8.8:53", false},
		{"[2400:3200::1]:443", false},
		{"not-an-address", true},
	}
	for _, tt := range tests {
		err := d.control(context.Background(), "tcp", tt.address, nil)
		if tt.blocked && err == nil {
			t.Errorf("control(%s) allowed it", tt.address)
		}
		if !tt.blocked && err != nil {
			t.Errorf("control(%s) = %v, want allowed", tt.address, err)
		}
	}
}

func TestDialErrors(t *testing.T) {
	res := &fakeResolver{hosts: map[string][]netip.Addr{
		"v6only.test": {netip.MustParseAddr("2400:3200::1")},
	}}
	d := NewDialer(Policy{}, res, time.Second)
	ctx := context.Background()

	_, err := d.DialContext(ctx, "tcp", "nxdomain.test:80")
	var re *ResolveError
	var dnsErr *net.DNSError
	if !errors.As(err, &re) || !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("unknown name: %v, want *ResolveError wrapping a not-found *net.DNSError", err)
	}
	if _, err := d.DialContext(ctx, "tcp4", "v6only.test:80"); !errors.As(err, &re) {
		t.Errorf("tcp4 to an IPv6-only name: %v, want *ResolveError", err)
	}
	if _, err := d.DialContext(ctx, "unix", "/tmp/sock"); err == nil || !strings.Contains(err.Error(), "unsupported network") {
		t.Errorf("unix network: %v, want unsupported network", err)
	}
	if _, err := d.DialContext(ctx, "tcp", "no-port"); err == nil {
		t.Error("address without port was accepted")
	}
	if _, err := d.DialContext(ctx, "tcp", ":80"); err == nil {
		t.Error("empty host was accepted")
	}
	if n := res.calls.Load(); n != 2 {
		t.Errorf("resolver called %d times, want 2 (bad input must not reach it)", n)
	}
}

// redirector answers every request with a redirect to the "to" query
// parameter, standing in for a public site that points us somewhere else.
func redirector(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "public")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestClientRefusesRedirectToPrivate(t *testing.T) {
	target, hits := countingServer(t)
	tport := strconv.Itoa(int(serverAddrPort(t, target).Port()))
	pub := redirector(t)
	pubAP := serverAddrPort(t, pub)
	res := &fakeResolver{hosts: map[string][]netip.Addr{
		"public.test": {pubAP.Addr()},
		"rebind.test": {netip.MustParseAddr("127.0.0.1")},
	}}
	// Under the strict policy, only the stand-in public server is reachable.
	strict := Policy{testAllowed: pubAP}
	pubURL := "http://public.test:" + strconv.Itoa(int(pubAP.Port())) + "/"

	client := NewClient(strict, res, 5*time.Second)
	resp, err := client.Get(pubURL)
	if err != nil {
		t.Fatalf("the allowed public server was refused: %v", err)
	}
	resp.Body.Close()

	targets := []string{
		"http://127.0.0.1:" + tport + "/",
		"http://[::1]:" + tport + "/",
		"http://10.0.0.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://100.64.0.1/",
		"http://rebind.test:" + tport + "/",
		"https://rebind.test:" + tport + "/",
	}
	for _, to := range targets {
		t.Run(to, func(t *testing.T) {
			resp, err := client.Get(pubURL + "?to=" + url.QueryEscape(to))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("redirect to %s was followed (status %d)", to, resp.StatusCode)
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("redirect to %s: %v, want *BlockedError", to, err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the private target saw %d request(s)", n)
	}

	// AllowPrivate lets the same redirect through.
	open := NewClient(Policy{AllowPrivate: true}, res, 5*time.Second)
	resp, err = open.Get(pubURL + "?to=" + url.QueryEscape("http://rebind.test:"+tport+"/"))
	if err != nil {
		t.Fatalf("AllowPrivate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "secret" || hits.Load() != 1 {
		t.Fatalf("AllowPrivate: body %q, target hits %d; want the target reached once", body, hits.Load())
	}
}

func TestClientRedirectLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if n > 0 {
			http.Redirect(w, r, "/"+strconv.Itoa(n-1), http.StatusFound)
			return
		}
		io.WriteString(w, "done")
	}))
	defer srv.Close()
	client := NewClient(Policy{AllowPrivate: true}, nil, 5*time.Second)
	tests := []struct {
		redirects int
		ok        bool
	}{{0, true}, {3, true}, {MaxRedirects, true}, {MaxRedirects + 1, false}, {50, false}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.redirects), func(t *testing.T) {
			resp, err := client.Get(srv.URL + "/" + strconv.Itoa(tt.redirects))
			if tt.ok {
				if err != nil {
					t.Fatalf("%d redirects: %v", tt.redirects, err)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, ErrTooManyRedirects) {
				t.Fatalf("%d redirects: %v, want ErrTooManyRedirects", tt.redirects, err)
			}
		})
	}
}

// The operator's http.max_redirects bounds the webhook and API client: 0
// follows none, 2 follows two.
func TestClientRedirectsConfigured(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if n > 0 {
			http.Redirect(w, r, "/"+strconv.Itoa(n-1), http.StatusFound)
			return
		}
		io.WriteString(w, "done")
	}))
	defer srv.Close()
	for _, tt := range []struct {
		max, redirects int
		ok             bool
	}{
		{0, 0, true}, {0, 1, false}, {2, 2, true}, {2, 3, false}, {8, 8, true}, {8, 9, false},
	} {
		client := NewClientRedirects(Policy{AllowPrivate: true}, nil, 5*time.Second, tt.max)
		resp, err := client.Get(srv.URL + "/" + strconv.Itoa(tt.redirects))
		if err == nil {
			resp.Body.Close()
		}
		if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrTooManyRedirects) {
			t.Errorf("max %d, %d redirects: err %v, want ok=%v", tt.max, tt.redirects, err, tt.ok)
		}
	}
}

func TestTransportSettings(t *testing.T) {
	tr := NewTransport(Policy{}, nil)
	if tr.Proxy != nil {
		t.Error("transport takes a proxy from the environment; a proxy would dial outside the policy")
	}
	if !tr.DisableCompression {
		t.Error("transport decompresses by itself; callers could not cap the decompressed size")
	}
	if !tr.ForceAttemptHTTP2 || tr.TLSHandshakeTimeout == 0 || tr.MaxIdleConnsPerHost == 0 || tr.MaxIdleConnsPerHost > 8 {
		t.Errorf("unexpected transport settings: http2=%v tls timeout=%v idle/host=%d",
			tr.ForceAttemptHTTP2, tr.TLSHandshakeTimeout, tr.MaxIdleConnsPerHost)
	}
	// The transport's dialer enforces the policy.
	req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
	_, err := tr.RoundTrip(req)
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Errorf("transport dial to loopback: %v, want *BlockedError", err)
	}
}

// localhost is loopback whatever the resolver says (RFC 6761): a resolver
// that answers it with a public address must not send an allowed-private
// client, such as the one for a local number-status adapter, elsewhere.
func TestLocalhostNeverAsksTheResolver(t *testing.T) {
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
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	lying := &fakeResolver{hosts: map[string][]netip.Addr{
		"localhost":     {netip.MustParseAddr("203.0.113.9")},
		"api.localhost": {netip.MustParseAddr("203.0.113.9")},
	}}
	open := NewDialer(Policy{AllowPrivate: true}, lying, 2*time.Second)
	for _, host := range []string{"localhost", "LOCALHOST.", "api.localhost"} {
		conn, err := open.DialContext(context.Background(), "tcp4", net.JoinHostPort(host, port))
		if err != nil {
			t.Fatalf("dial %s: %v", host, err)
		}
		if got := conn.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.1" {
			t.Errorf("dial %s reached %s, want 127.0.0.1", host, got)
		}
		conn.Close()
	}
	// Under the strict policy it is refused as loopback, not as whatever
	// the resolver claimed.
	strict := NewDialer(Policy{}, lying, 2*time.Second)
	_, err = strict.DialContext(context.Background(), "tcp", net.JoinHostPort("localhost", port))
	var be *BlockedError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "127.0.0.1") && !strings.Contains(err.Error(), "::1") {
		t.Fatalf("strict dial of localhost: %v, want a loopback refusal", err)
	}
}

// A refusal reaches the caller of an http.Client marked permanent, so a
// webhook delivery to a refused address is given up at once rather than
// retried for hours against the same policy.
func TestRefusalIsPermanentThroughHTTPClient(t *testing.T) {
	res := &fakeResolver{hosts: map[string][]netip.Addr{"rebind.test": {netip.MustParseAddr("10.1.2.3")}}}
	client := NewClient(Policy{}, res, 2*time.Second)
	for _, u := range []string{"http://127.0.0.1:9/hook", "http://rebind.test/hook", "http://[::1]:9/hook"} {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("POST %s succeeded under the strict policy", u)
		}
		var p interface{ Permanent() bool }
		if !errors.As(err, &p) || !p.Permanent() {
			t.Errorf("POST %s: %v is not marked permanent", u, err)
		}
	}
}

// A refusal decides only when every address refused: when another address
// timed out, which may be our network, the timeout is what is reported.
func TestDialPrefersErrorsThatMayBeOurs(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name        string
		byAddr      map[string]error
		wantRefused bool
	}{
		{"all refuse", map[string]error{"203.0.113.1:80": refused, "203.0.113.2:80": refused}, true},
		{"refused, then timed out", map[string]error{"203.0.113.1:80": refused, "203.0.113.2:80": timeout}, false},
		{"timed out, then refused", map[string]error{"203.0.113.1:80": timeout, "203.0.113.2:80": refused}, false},
	}
	res := &fakeResolver{hosts: map[string][]netip.Addr{
		"two.test": {netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDialer(Policy{AllowPrivate: true}, res, 2*time.Second)
			d.connect = func(_ context.Context, _, address string) (net.Conn, error) { return nil, tt.byAddr[address] }
			_, err := d.DialContext(context.Background(), "tcp", "two.test:80")
			if err == nil {
				t.Fatal("dial succeeded")
			}
			if got := errors.Is(err, syscall.ECONNREFUSED); got != tt.wantRefused {
				t.Errorf("error %v: refused %v, want %v", err, got, tt.wantRefused)
			}
		})
	}

	// The first address refuses only after the dial's time is up: the
	// second was never tried, so this is no refusal by the site.
	t.Run("refused, then out of time", func(t *testing.T) {
		d := NewDialer(Policy{AllowPrivate: true}, res, 100*time.Millisecond)
		d.connect = func(ctx context.Context, _, _ string) (net.Conn, error) {
			<-ctx.Done()
			return nil, refused
		}
		_, err := d.DialContext(context.Background(), "tcp", "two.test:80")
		if err == nil || errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("error %v, want a deadline error that is not a refusal", err)
		}
		if !strings.Contains(err.Error(), "1 of 2 address(es) of two.test untried") {
			t.Errorf("error %v does not say what was left untried", err)
		}
	})
}
