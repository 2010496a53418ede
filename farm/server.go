package farm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ServeConfig says where the farm listens. Zero ports are picked by the
// system; secrets left empty are generated.
type ServeConfig struct {
	HTTPPort, DNSPort, PhonePort, ReceiverPort int
	// PhoneToken is the bearer token of the number-status provider.
	PhoneToken string
	// OwnerSecrets[g] signs the notices of owner group g; OpsSecret the
	// provider's.
	OwnerSecrets []string
	OpsSecret    string
	// Notices is where the receiver prints; nil discards.
	Notices io.Writer
	// Clock for the receiver's replay window; nil means time.Now.
	Clock func() time.Time
}

// Server is a running farm.
type Server struct {
	Farm *Farm
	// HTTPPort serves the sites on ProviderAddr and OffProviderAddr.
	HTTPPort int
	DNSAddr  string // ProviderAddr:port, UDP and TCP
	// PhoneURL is the number-status provider's endpoint.
	PhoneURL   string
	PhoneToken string
	// ReceiverURL is the base of the webhook receiver: owners post to
	// ReceiverURL+"/hook/<group>", the provider to ReceiverURL+"/ops".
	ReceiverURL  string
	OwnerSecrets []string
	OpsSecret    string
	Receiver     *Receiver

	stop  chan struct{}
	https []*http.Server
	dnss  []*dns.Server
	// dnsConns are the DNS sockets, closed on Close whatever state the
	// servers are in.
	dnsConns []io.Closer
	web      *httpHandler
	dnsh     *dnsHandler
	phone    *phoneAPI
	wg       sync.WaitGroup
	errMu    sync.Mutex
	err      error
}

// Start serves f on loopback until Close.
func Start(f *Farm, cfg ServeConfig) (srv *Server, err error) {
	s := &Server{Farm: f, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.PhoneToken = cfg.PhoneToken; s.PhoneToken == "" {
		s.PhoneToken = randomSecret()
	}
	s.OwnerSecrets = append([]string(nil), cfg.OwnerSecrets...)
	for len(s.OwnerSecrets) < OwnerGroups {
		s.OwnerSecrets = append(s.OwnerSecrets, randomSecret())
	}
	if s.OpsSecret = cfg.OpsSecret; s.OpsSecret == "" {
		s.OpsSecret = randomSecret()
	}

	// Sites: the same port on both addresses, so that one URL per site
	// works whichever address the farm DNS gives.
	s.web = &httpHandler{farm: f, stop: s.stop}
	lns, err := listenAll(cfg.HTTPPort, append([]string{ProviderAddr, OffProviderAddr}, f.ExtraHosts()...))
	if err != nil {
		return nil, err
	}
	s.HTTPPort = lns[0].Addr().(*net.TCPAddr).Port
	for _, ln := range lns {
		s.serveHTTP(ln, s.web)
	}

	// DNS over UDP and TCP on one port.
	s.dnsh = &dnsHandler{farm: f, zone: f.Opts.Zone}
	pc, tl, err := listenDNS(cfg.DNSPort)
	if err != nil {
		return nil, err
	}
	s.DNSAddr = tl.Addr().String()
	s.dnsConns = []io.Closer{pc, tl}
	for _, ds := range []*dns.Server{{PacketConn: pc, Handler: s.dnsh}, {Listener: tl, Handler: s.dnsh}} {
		// miekg/dns refuses to shut down a server that has not marked
		// itself started, and would then serve forever: wait for it.
		started := make(chan struct{})
		ds.NotifyStartedFunc = func() { close(started) }
		served := make(chan error, 1)
		s.dnss = append(s.dnss, ds)
		s.wg.Go(func() {
			err := ds.ActivateAndServe()
			if err != nil {
				s.fail(fmt.Errorf("farm DNS: %w", err))
			}
			served <- err
		})
		select {
		case <-started:
		case err := <-served:
			return nil, fmt.Errorf("farm DNS did not start: %w", err)
		case <-time.After(10 * time.Second):
			return nil, errors.New("farm DNS did not start within 10s")
		}
	}

	s.phone = &phoneAPI{farm: f, token: s.PhoneToken}
	mux := http.NewServeMux()
	mux.Handle("/phone", s.phone)
	ln, err := net.Listen("tcp", net.JoinHostPort(ProviderAddr, strconv.Itoa(cfg.PhonePort)))
	if err != nil {
		return nil, fmt.Errorf("farm number-status provider: %w", err)
	}
	s.PhoneURL = "http://" + ln.Addr().String() + "/phone"
	s.serveHTTP(ln, mux)

	secrets := map[string]string{"/ops": s.OpsSecret}
	for g, sec := range s.OwnerSecrets {
		secrets[fmt.Sprintf("/hook/%d", g)] = sec
	}
	out := cfg.Notices
	if out == nil {
		out = io.Discard
	}
	s.Receiver = NewReceiver(secrets, out, cfg.Clock)
	ln, err = net.Listen("tcp", net.JoinHostPort(ProviderAddr, strconv.Itoa(cfg.ReceiverPort)))
	if err != nil {
		return nil, fmt.Errorf("farm webhook receiver: %w", err)
	}
	s.ReceiverURL = "http://" + ln.Addr().String()
	s.serveHTTP(ln, s.Receiver)
	return s, nil
}

func (s *Server) serveHTTP(ln net.Listener, h http.Handler) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.https = append(s.https, hs)
	s.wg.Go(func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("farm HTTP %s: %w", ln.Addr(), err))
		}
	})
}

func (s *Server) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// Err is the first error a listener stopped with, nil while all serve.
func (s *Server) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Counters of a running farm.
type Counters struct {
	HTTPRequests, DNSQueries, PhoneLookups, PhoneDenied int64
}

// Counters reads the request counters.
func (s *Server) Counters() Counters {
	return Counters{
		HTTPRequests: s.web.requests.Load(),
		DNSQueries:   s.dnsh.queries.Load(),
		PhoneLookups: s.phone.lookups.Load(),
		PhoneDenied:  s.phone.denied.Load(),
	}
}

// SetDNSFailing makes the farm's DNS answer SERVFAIL to everything (true)
// or serve again (false): the daemon's resolver failing.
func (s *Server) SetDNSFailing(failing bool) { s.dnsh.failing.Store(failing) }

// SiteURL is the homepage URL the inventory gives s.
func (s *Server) SiteURL(site *Site) string {
	return "http://" + net.JoinHostPort(site.Domain, strconv.Itoa(s.HTTPPort)) + "/"
}

// Close stops every listener. Slow and hanging responses are released
// first so that shutdown is prompt.
func (s *Server) Close() error {
	select {
	case <-s.stop:
		return nil
	default:
		close(s.stop)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, hs := range s.https {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
		}
	}
	for _, ds := range s.dnss {
		ds.ShutdownContext(ctx)
	}
	for _, c := range s.dnsConns {
		c.Close()
	}
	s.wg.Wait()
	return nil
}

// listenAll listens on the same TCP port on every one of addrs.
func listenAll(port int, addrs []string) ([]net.Listener, error) {
	for attempt := 0; ; attempt++ {
		a, err := net.Listen("tcp", net.JoinHostPort(addrs[0], strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("farm HTTP on %s: %w", addrs[0], err)
		}
		p := a.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{a}
		for _, addr := range addrs[1:] {
			b, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
			if err != nil {
				for _, ln := range lns {
					ln.Close()
				}
				if port != 0 || attempt >= 10 {
					return nil, fmt.Errorf("farm HTTP on %s:%d: %w", addr, p, err)
				}
				lns = nil
				break
			}
			lns = append(lns, b)
		}
		if lns != nil {
			return lns, nil
		}
	}
}

// listenDNS listens on the same port over UDP and TCP.
func listenDNS(port int) (net.PacketConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		tl, err := net.Listen("tcp", net.JoinHostPort(ProviderAddr, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, fmt.Errorf("farm DNS over TCP: %w", err)
		}
		p := tl.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ProviderAddr, strconv.Itoa(p)))
		if err == nil {
			return pc, tl, nil
		}
		tl.Close()
		if port != 0 || attempt >= 10 {
			return nil, nil, fmt.Errorf("farm DNS over UDP on port %d: %w", p, err)
		}
	}
}

func randomSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}
