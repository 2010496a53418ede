package render

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DialFunc opens a connection; in use it is an egress.Dialer's
// DialContext, so the SSRF policy decides every address the browser
// reaches.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// pageProxy is the browser's only way out for one page: an HTTP proxy
// (plain requests and CONNECT tunnels, which carry https and websockets)
// that dials through the egress policy and counts what the page moves.
// Chromium resolves no names itself (--host-resolver-rules), so every
// host name reaches the proxy and is resolved and checked there.
type pageProxy struct {
	ln       net.Listener
	dial     DialFunc
	maxBytes int64
	maxReqs  int64
	ctx      context.Context
	cancel   context.CancelFunc

	requests atomic.Int64
	bytes    atomic.Int64
	limited  atomic.Bool
	lastIO   atomic.Int64 // unix nanos of the last byte moved or request started
	mu       sync.Mutex
	failed   []string
	conns    sync.WaitGroup
	open     map[net.Conn]struct{}
	clock    func() time.Time
}

const maxFailedListed = 10

func newPageProxy(dial DialFunc, maxBytes, maxReqs int64, clock func() time.Time) (*pageProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the page proxy: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &pageProxy{ln: ln, dial: dial, maxBytes: maxBytes, maxReqs: maxReqs, ctx: ctx, cancel: cancel,
		open: map[net.Conn]struct{}{}, clock: clock}
	p.touch()
	go p.serve()
	return p, nil
}

func (p *pageProxy) addr() string { return p.ln.Addr().String() }

func (p *pageProxy) touch() { p.lastIO.Store(p.clock().UnixNano()) }

// quietFor is how long no byte has moved through the proxy.
func (p *pageProxy) quietFor() time.Duration {
	return p.clock().Sub(time.Unix(0, p.lastIO.Load()))
}

func (p *pageProxy) fail(what string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failed) < maxFailedListed {
		p.failed = append(p.failed, what)
	}
}

func (p *pageProxy) failures() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.failed...)
}

// close stops the listener and every connection still open, and waits
// for their goroutines.
func (p *pageProxy) close() {
	p.cancel()
	p.ln.Close()
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.conns.Wait()
}

func (p *pageProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *pageProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	c.Close()
}

func (p *pageProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.conns.Add(1)
		go func() {
			defer p.conns.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

// admit counts a request and says whether it is within the page's cap.
func (p *pageProxy) admit(what string) bool {
	p.touch()
	if p.requests.Add(1) > p.maxReqs {
		if !p.limited.Swap(true) {
			p.fail("request cap reached at " + what)
		}
		return false
	}
	return true
}

// handle serves the requests of one browser connection.
func (p *pageProxy) handle(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Method == http.MethodConnect {
			p.tunnel(c, br, req)
			return
		}
		if !p.forward(c, req) {
			return
		}
	}
}

func refuse(c net.Conn, status int, why string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(why), why)
}

// tunnel serves a CONNECT (https, wss): dial the target through the
// policy, then copy bytes both ways, counted against the page's cap.
func (p *pageProxy) tunnel(c net.Conn, br *bufio.Reader, req *http.Request) {
	if !p.admit("CONNECT " + req.Host) {
		refuse(c, http.StatusTooManyRequests, "request cap reached")
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	up, err := p.dial(ctx, "tcp", req.Host)
	cancel()
	if err != nil {
		p.fail("CONNECT " + req.Host + ": " + err.Error())
		refuse(c, http.StatusBadGateway, "refused")
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() { p.copyCounted(up, br); up.Close(); done <- struct{}{} }()
	go func() { p.copyCounted(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
}

// copyCounted copies src to dst, stopping the page at its byte cap.
func (p *pageProxy) copyCounted(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.touch()
			if p.bytes.Add(int64(n)) > p.maxBytes {
				if !p.limited.Swap(true) {
					p.fail("byte cap reached")
				}
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// forward serves one plain-HTTP proxy request (absolute URI) without
// following redirects: the browser follows them, through the proxy
// again. It reports whether the connection may serve another request.
func (p *pageProxy) forward(c net.Conn, req *http.Request) bool {
	if req.URL.Scheme != "http" || req.URL.Host == "" {
		refuse(c, http.StatusBadRequest, "only absolute http URLs are proxied")
		return false
	}
	what := req.Method + " " + req.URL.Scheme + "://" + req.URL.Host + req.URL.Path
	if !p.admit(what) {
		refuse(c, http.StatusTooManyRequests, "request cap reached")
		return false
	}
	ctx, cancel := context.WithTimeout(p.ctx, 15*time.Second)
	defer cancel()
	up, err := p.dial(ctx, "tcp", hostPort(req.URL.Host, "80"))
	if err != nil {
		p.fail(what + ": " + err.Error())
		refuse(c, http.StatusBadGateway, "refused")
		return false
	}
	if !p.track(up) {
		up.Close()
		return false
	}
	defer p.untrack(up)
	up.SetDeadline(time.Now().Add(15 * time.Second))
	req.Header.Del("Proxy-Connection")
	req.Header.Del("Proxy-Authorization")
	req.Header.Set("Connection", "close")
	req.Close = true
	req.RequestURI = ""
	if err := req.Write(up); err != nil {
		p.fail(what + ": " + err.Error())
		refuse(c, http.StatusBadGateway, "upstream write failed")
		return false
	}
	// The response goes back as the upstream sent it; the connection to the
	// browser closes after it, which keeps the framing simple.
	p.copyCounted(c, up)
	return false
}

func hostPort(host, port string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, port)
}
