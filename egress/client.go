package egress

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// MaxRedirects is how many redirects NewClient follows.
const MaxRedirects = 5

// ErrTooManyRedirects is returned (wrapped in *url.Error) by a NewClient
// client when a chain of redirects exceeds MaxRedirects.
var ErrTooManyRedirects = errors.New("too many redirects")

// NewTransport returns an HTTP transport whose every connection, redirect
// targets included, goes through a Dialer enforcing p. It ignores proxy
// settings from the environment (a proxy would dial on our behalf, out of the
// policy's sight) and leaves compression to the caller, who must cap the
// decompressed size itself.
func NewTransport(p Policy, r HostResolver) *http.Transport {
	return NewTransportWith(p, r, TransportOptions{})
}

// TransportOptions adjust NewTransportWith.
type TransportOptions struct {
	// Limiter, when set, bounds the connections open at once to each
	// address (see ConnLimiter). Keep-alive is then off: every request
	// closes its connection, so no idle connection sits on a slot.
	Limiter *ConnLimiter
}

// NewTransportWith is NewTransport with options.
func NewTransportWith(p Policy, r HostResolver, o TransportOptions) *http.Transport {
	d := NewDialer(p, r, DefaultDialTimeout).WithConnLimiter(o.Limiter)
	return &http.Transport{
		DisableKeepAlives:      o.Limiter != nil,
		Proxy:                  nil,
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		ExpectContinueTimeout:  1 * time.Second,
		MaxResponseHeaderBytes: 1 << 20,
		DisableCompression:     true,
	}
}

// NewClient returns a client for webhooks and vendor APIs: the transport of
// NewTransport, an overall timeout per request (zero means none beyond the
// caller's context) and at most MaxRedirects redirects.
func NewClient(p Policy, r HostResolver, timeout time.Duration) *http.Client {
	return NewClientRedirects(p, r, timeout, MaxRedirects)
}

// NewClientRedirects is NewClient following at most maxRedirects redirects
// (the operator's http.max_redirects; 0 follows none).
func NewClientRedirects(p Policy, r HostResolver, timeout time.Duration, maxRedirects int) *http.Client {
	return &http.Client{
		Transport: NewTransport(p, r),
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				// No URL here: webhook URLs often carry tokens, and the
				// caller's *url.Error already names the request.
				return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, maxRedirects)
			}
			return nil
		},
	}
}
