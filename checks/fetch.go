package checks

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/beianwatch/beianwatch/egress"
)

// FetchReason classifies why a fetch failed. Callers decide on it: the shell
// check treats transport failures and 5xx as unreachable, the footer check
// treats every failure as inconclusive.
type FetchReason string

const (
	ReasonDNS        FetchReason = "dns"
	ReasonConnect    FetchReason = "connect"
	ReasonTLS        FetchReason = "tls"
	ReasonTimeout    FetchReason = "timeout"
	ReasonHTTPStatus FetchReason = "http_status"
	ReasonTooLarge   FetchReason = "too_large"
	ReasonNotHTML    FetchReason = "not_html"
	ReasonRedirects  FetchReason = "too_many_redirects"
	ReasonBlocked    FetchReason = "blocked"
	ReasonBadURL     FetchReason = "bad_url"
	ReasonOther      FetchReason = "other"
)

// FetchError is the one error type Fetcher returns.
type FetchError struct {
	Reason FetchReason
	URL    string // the URL being fetched when it failed
	Status int    // HTTP status, when the server answered
	Err    error
	// HTTPSFirst is the failure of the https attempt when Homepage fell
	// back to http and this error is the http attempt's: a fact about
	// port 80 says nothing about a site whose https answer we missed.
	HTTPSFirst *FetchError
}

func (e *FetchError) Error() string {
	var b strings.Builder
	b.WriteString("fetching ")
	b.WriteString(e.URL)
	b.WriteString(": ")
	b.WriteString(string(e.Reason))
	if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *FetchError) Unwrap() error { return e.Err }

// FetcherConfig configures a Fetcher. Zero values take the defaults.
type FetcherConfig struct {
	Timeout      time.Duration // whole fetch, redirects and body included; default 10s
	MaxBody      int64         // cap on the body after decompression; default 4 MiB
	MaxRedirects int           // default 5
	Policy       egress.Policy // which addresses may be connected to; zero = public only
	Resolver     egress.HostResolver
	UserAgent    string
	// Limiter, when set, bounds the connections open at once to each
	// address, so that a provider's shared host is not hammered; nil
	// means no limit.
	Limiter *egress.ConnLimiter
}

// Fetcher defaults, for a Fetcher built without configuration. They equal
// the daemon's built-in configuration (monitor/config/default.yaml); a
// test in monitor keeps them equal.
const (
	DefaultFetchTimeout = 15 * time.Second
	DefaultMaxBody      = 4 << 20
	DefaultMaxRedirects = 5
	DefaultUserAgent    = "beianwatch/1 (ICP filing compliance check)"
)

// Page is a fetched HTML page.
type Page struct {
	URL         string // final URL, after redirects
	Status      int
	Header      http.Header
	ContentType string // media type, without parameters
	Charset     string // name of the encoding the body was decoded from
	Body        []byte // decoded to UTF-8
	Raw         int    // body size in bytes after decompression, before decoding
	RemoteAddr  string // address:port the final response came from
	// Redirects lists the URLs that answered with a redirect, in order,
	// starting with the one asked for; empty when there was none.
	Redirects []string
}

// Fetcher fetches homepages through the egress policy, with every limit a
// crawler of customer sites needs: a deadline, a redirect bound, a body cap
// applied after decompression, and charset decoding. It is safe for
// concurrent use.
type Fetcher struct {
	cfg       FetcherConfig
	transport *http.Transport

	// Ports Homepage uses instead of 443 and 80, so that tests can serve
	// both schemes from loopback listeners. Empty in production.
	httpsPort, httpPort string
}

// NewFetcher returns a Fetcher for cfg, filling in defaults.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultFetchTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	return &Fetcher{cfg: cfg, transport: egress.NewTransportWith(cfg.Policy, cfg.Resolver, egress.TransportOptions{Limiter: cfg.Limiter})}
}

var (
	errTooManyRedirects = errors.New("too many redirects")
	errRedirectLoop     = errors.New("redirect loop")
	errRedirectScheme   = errors.New("redirect to a non-HTTP URL")
)

// fetchTrace records, per fetch, what the transport went through, so that a
// failure can be told apart (TLS handshake vs connect) without parsing
// error strings.
type fetchTrace struct {
	mu         sync.Mutex
	remoteAddr string
	connectErr error
	tlsErr     error
}

func (ft *fetchTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			ft.mu.Lock()
			defer ft.mu.Unlock()
			if err != nil && ft.connectErr == nil {
				ft.connectErr = err
			}
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			ft.mu.Lock()
			defer ft.mu.Unlock()
			if err != nil {
				ft.tlsErr = err
			}
		},
		GotConn: func(info httptrace.GotConnInfo) {
			ft.mu.Lock()
			defer ft.mu.Unlock()
			if info.Conn != nil {
				ft.remoteAddr = info.Conn.RemoteAddr().String()
			}
		},
	}
}

// Get fetches one URL. Redirects are followed up to MaxRedirects; the whole
// fetch, body included, ends at the earlier of ctx's deadline and Timeout.
//
// Errors are always *FetchError. When the server answered but the answer is
// not a usable page, the *Page is returned too, so callers can tell "answered"
// from "unreachable": with ReasonHTTPStatus (final status >= 400; Body holds
// the HTML body if any), ReasonNotHTML and ReasonTooLarge (Status and Header
// only, no Body).
func (f *Fetcher) Get(ctx context.Context, rawURL string) (*Page, error) {
	u, err := parseFetchURL(rawURL)
	if err != nil {
		return nil, &FetchError{Reason: ReasonBadURL, URL: rawURL, Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Timeout)
	defer cancel()

	ft := &fetchTrace{}
	ctx = httptrace.WithClientTrace(ctx, ft.clientTrace())

	// A fresh jar per fetch: sites that set a cookie and redirect to
	// themselves (anti-bot gates) need it, and nothing may leak between
	// customers' sites.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, &FetchError{Reason: ReasonOther, URL: rawURL, Err: err}
	}
	var chain []string
	client := &http.Client{
		Transport: f.transport,
		Jar:       jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			chain = chain[:0]
			for _, v := range via {
				chain = append(chain, v.URL.String())
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: %q", errRedirectScheme, req.URL.Scheme)
			}
			if len(via) > f.cfg.MaxRedirects {
				return fmt.Errorf("%w: more than %d", errTooManyRedirects, f.cfg.MaxRedirects)
			}
			// Coming back to a URL already visited is a loop, unless a
			// response since that visit set a cookie: then the second
			// visit differs ("/" sets a cookie and sends to "/check",
			// which sends back to "/").
			target := req.URL.String()
			for i, v := range via {
				if v.URL.String() != target {
					continue
				}
				cookie := req.Response != nil && len(req.Response.Header.Values("Set-Cookie")) > 0
				for _, later := range via[i+1:] {
					cookie = cookie || later.Response != nil && len(later.Response.Header.Values("Set-Cookie")) > 0
				}
				if !cookie {
					return fmt.Errorf("%w: back to %s", errRedirectLoop, target)
				}
			}
			return nil
		},
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &FetchError{Reason: ReasonBadURL, URL: rawURL, Err: err}
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
	req.Header.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")
	req.Header.Set("Accept-Encoding", "gzip, deflate")

	resp, err := client.Do(req)
	if err != nil {
		failedURL := rawURL
		var ue *url.Error
		if errors.As(err, &ue) {
			failedURL = ue.URL
			err = ue.Err
		}
		return nil, &FetchError{Reason: classifyFetchError(err, ft), URL: failedURL, Err: err}
	}
	defer resp.Body.Close()

	ft.mu.Lock()
	remote := ft.remoteAddr
	ft.mu.Unlock()
	page := &Page{
		URL:        resp.Request.URL.String(),
		Status:     resp.StatusCode,
		Header:     resp.Header,
		RemoteAddr: remote,
	}
	if len(chain) > 0 {
		page.Redirects = append([]string(nil), chain...)
	}
	fail := func(reason FetchReason, err error) (*Page, error) {
		fe := &FetchError{Reason: reason, URL: page.URL, Err: err}
		if page.Status >= 400 {
			// The status is what callers act on; a body problem on an
			// error page is secondary.
			fe.Reason, fe.Status = ReasonHTTPStatus, page.Status
			fe.Err = fmt.Errorf("HTTP %d; body not read: %v", page.Status, err)
		}
		return page, fe
	}

	ctype, declared := mediaType(resp.Header.Get("Content-Type"))
	page.ContentType = ctype
	if declared && !isHTMLType(ctype) {
		return fail(ReasonNotHTML, fmt.Errorf("content type %q is not HTML", ctype))
	}

	raw, err := f.readBody(resp)
	if err != nil {
		var fe *FetchError
		if errors.As(err, &fe) {
			return fail(fe.Reason, fe.Err)
		}
		return fail(classifyFetchError(err, ft), err)
	}
	if !declared {
		// No usable Content-Type: sniff as a browser would. A UTF-8 BOM
		// would make the sniffer say text/plain, so look past it.
		sniffed, _ := mediaType(http.DetectContentType(trimUTF8BOM(raw)))
		page.ContentType = sniffed
		if !isHTMLType(sniffed) {
			return fail(ReasonNotHTML, fmt.Errorf("no content type and the body sniffs as %q", sniffed))
		}
	}
	page.Raw = len(raw)
	page.Body, page.Charset = decodeHTML(raw, resp.Header.Get("Content-Type"))

	if page.Status >= 400 {
		return page, &FetchError{Reason: ReasonHTTPStatus, URL: page.URL, Status: page.Status,
			Err: fmt.Errorf("server answered %s", resp.Status)}
	}
	return page, nil
}

// readBody decompresses and reads the body, failing with ReasonTooLarge as
// soon as more than MaxBody decompressed bytes arrive, so a compression bomb
// costs at most MaxBody of memory and the time to inflate it.
func (f *Fetcher) readBody(resp *http.Response) ([]byte, error) {
	limit := f.cfg.MaxBody
	encodings := contentEncodings(resp.Header)
	if len(encodings) == 0 && resp.ContentLength > limit {
		return nil, &FetchError{Reason: ReasonTooLarge,
			Err: fmt.Errorf("Content-Length %d exceeds the %d-byte cap", resp.ContentLength, limit)}
	}
	body, err := decompress(resp.Body, encodings)
	if err != nil {
		return nil, err
	}
	var buf []byte
	if len(encodings) == 0 && resp.ContentLength > 0 {
		buf = make([]byte, 0, resp.ContentLength+1)
	}
	buf, err = readAllLimited(buf, body, limit+1)
	if int64(len(buf)) > limit {
		return nil, &FetchError{Reason: ReasonTooLarge,
			Err: fmt.Errorf("body exceeds the %d-byte cap after decompression", limit)}
	}
	if err != nil {
		return nil, fmt.Errorf("reading body: %w", err)
	}
	return buf, nil
}

// readAllLimited appends at most n bytes of r to buf.
func readAllLimited(buf []byte, r io.Reader, n int64) ([]byte, error) {
	lr := &io.LimitedReader{R: r, N: n}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func contentEncodings(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Content-Encoding") {
		for _, e := range strings.Split(v, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			if e != "" && e != "identity" {
				out = append(out, e)
			}
		}
	}
	return out
}

// maxEncodingLayers bounds stacked Content-Encodings; real servers use one.
const maxEncodingLayers = 3

// decompress undoes the content codings, last applied first.
func decompress(r io.Reader, encodings []string) (io.Reader, error) {
	if len(encodings) > maxEncodingLayers {
		return nil, &FetchError{Reason: ReasonOther,
			Err: fmt.Errorf("%d stacked content encodings", len(encodings))}
	}
	for i := len(encodings) - 1; i >= 0; i-- {
		switch encodings[i] {
		case "gzip", "x-gzip":
			zr, err := gzip.NewReader(r)
			if err != nil {
				return nil, &FetchError{Reason: ReasonOther, Err: fmt.Errorf("starting gzip decompression: %w", err)}
			}
			r = zr
		case "deflate":
			// HTTP's "deflate" is zlib-wrapped, but enough servers send a
			// raw deflate stream that browsers accept both.
			br := bufio.NewReader(r)
			hdr, _ := br.Peek(2)
			if len(hdr) == 2 && hdr[0]&0x0f == 8 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
				zr, err := zlib.NewReader(br)
				if err != nil {
					return nil, &FetchError{Reason: ReasonOther, Err: fmt.Errorf("starting deflate decompression: %w", err)}
				}
				r = zr
			} else {
				r = flate.NewReader(br)
			}
		default:
			return nil, &FetchError{Reason: ReasonOther,
				Err: fmt.Errorf("unsupported content encoding %q (we asked for gzip or deflate)", encodings[i])}
		}
	}
	return r, nil
}

// mediaType returns the lower-case media type of a Content-Type value and
// whether it declared a usable one.
func mediaType(ct string) (string, bool) {
	if strings.TrimSpace(ct) == "" {
		return "", false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		// Salvage "text/html;;charset=gbk" and the like.
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
		if !strings.Contains(mt, "/") {
			return "", false
		}
	}
	return mt, mt != ""
}

func isHTMLType(mt string) bool {
	return mt == "text/html" || mt == "application/xhtml+xml"
}

func parseFetchURL(rawURL string) (*url.URL, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, errors.New("empty URL")
	}
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port %q", p)
		}
	}
	return u, nil
}

// classifyFetchError maps a transport error to a reason. Order matters: a
// refused address is "blocked" whatever else went wrong, and a DNS timeout is
// a DNS problem rather than the site's.
func classifyFetchError(err error, ft *fetchTrace) FetchReason {
	ft.mu.Lock()
	tlsErr, connectErr := ft.tlsErr, ft.connectErr
	ft.mu.Unlock()

	var (
		blocked   *egress.BlockedError
		resolve   *egress.ResolveError
		dnsErr    *net.DNSError
		certErr   *tls.CertificateVerificationError
		recordErr tls.RecordHeaderError
		alertErr  tls.AlertError
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		netErr    net.Error
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &blocked):
		return ReasonBlocked
	case errors.Is(err, errTooManyRedirects), errors.Is(err, errRedirectLoop):
		return ReasonRedirects
	case errors.Is(err, errRedirectScheme):
		return ReasonBadURL
	case errors.As(err, &resolve), errors.As(err, &dnsErr):
		return ReasonDNS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return ReasonTimeout
	case tlsErr != nil, errors.As(err, &certErr), errors.As(err, &recordErr), errors.As(err, &alertErr),
		errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalid):
		return ReasonTLS
	case connectErr != nil, errors.As(err, &opErr) && opErr.Op == "dial",
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ReasonConnect
	}
	return ReasonOther
}

// Homepage fetches a site's homepage. With an override (the filing's url)
// only that URL is fetched. Otherwise https://DOMAIN/ is tried first and, if
// it fails at the transport level (DNS, connect, TLS, timeout), http://DOMAIN/:
// many filed sites still serve plain HTTP or a broken certificate. Any HTTP
// answer on https, even an error status, is kept. Under WithHomepageMemo
// the fetch is shared with the site's other checks.
func (f *Fetcher) Homepage(ctx context.Context, domain, override string) (*Page, error) {
	return memoized(ctx, domain, override, func() (*Page, error) { return f.homepage(ctx, domain, override) })
}

func (f *Fetcher) homepage(ctx context.Context, domain, override string) (*Page, error) {
	if override != "" {
		return f.Get(ctx, override)
	}
	domain = strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if domain == "" || strings.ContainsAny(domain, "/?#@: \t") {
		return nil, &FetchError{Reason: ReasonBadURL, URL: domain, Err: fmt.Errorf("bad domain %q", domain)}
	}
	page, err := f.Get(ctx, homepageURL("https", domain, f.httpsPort))
	if err == nil || !fallBackToHTTP(err) || ctx.Err() != nil {
		return page, err
	}
	page2, err2 := f.Get(ctx, homepageURL("http", domain, f.httpPort))
	var fe *FetchError
	if err2 != nil && errors.As(err2, &fe) {
		// Keep the http failure (it decides) but say what https did.
		fe.Err = fmt.Errorf("%w (https first: %v)", fe.Err, err)
		errors.As(err, &fe.HTTPSFirst)
	}
	return page2, err2
}

func fallBackToHTTP(err error) bool {
	var fe *FetchError
	if !errors.As(err, &fe) {
		return false
	}
	switch fe.Reason {
	case ReasonConnect, ReasonTLS, ReasonDNS, ReasonTimeout:
		return true
	}
	return false
}

func homepageURL(scheme, domain, port string) string {
	host := domain
	if port != "" {
		host = net.JoinHostPort(domain, port)
	}
	return (&url.URL{Scheme: scheme, Host: host, Path: "/"}).String()
}
