package checks

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/freeport"

	"github.com/beianwatch/beianwatch/egress"
	"golang.org/x/text/encoding/simplifiedchinese"
)

const fetchFooter = "京ICP备12345678号-1"

// fetchResolver is a fake DNS for the fetcher tests: names map to fixed
// addresses, anything else is NXDOMAIN.
type fetchResolver struct {
	hosts map[string][]netip.Addr
	calls atomic.Int32
}

func (r *fetchResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.calls.Add(1)
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func loopbackResolver(names ...string) *fetchResolver {
	r := &fetchResolver{hosts: map[string][]netip.Addr{}}
	for _, n := range names {
		r.hosts[n] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	return r
}

func fetchFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fetch", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fetchServer serves h and counts the requests it sees.
func fetchServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func testFetcher(cfg FetcherConfig) *Fetcher {
	cfg.Policy.AllowPrivate = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	return NewFetcher(cfg)
}

func asFetchError(t *testing.T, err error) *FetchError {
	t.Helper()
	var fe *FetchError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v (%T) is not a *FetchError", err, err)
	}
	return fe
}

func wantReason(t *testing.T, err error, want FetchReason) *FetchError {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want reason %s", want)
	}
	fe := asFetchError(t, err)
	if fe.Reason != want {
		t.Fatalf("reason %s, want %s (error: %v)", fe.Reason, want, err)
	}
	return fe
}

func TestFetchCharsets(t *testing.T) {
	tests := []struct {
		name        string
		fixture     string
		contentType string // "-" = no Content-Type header at all
		charset     string
		want        []string
		mojibake    bool // the declared charset is wrong, as browsers would show it
	}{
		{"GBK in header only", "gbk_header.html", "text/html; charset=gbk", "gb18030", []string{"联系人：喆堃"}, false},
		{"GBK bytes labelled GB2312 in header", "gbk_header.html", "text/html; charset=GB2312", "gb18030", []string{"喆堃"}, false},
		{"header charset quoted", "gbk_header.html", `text/html; charset="gbk"`, "gb18030", []string{"喆堃"}, false},
		{"GB2312 in meta only, GBK-only characters", "gb2312_meta.html", "text/html", "gb18030", []string{"王喆", "李堃", "朱镕"}, false},
		{"http-equiv GBK with a four-byte GB18030 character", "httpequiv_gbk.html", "text/html", "gb18030", []string{"吉祥物：𠮷"}, false},
		{"UTF-8 BOM beats the header", "bom_utf8.html", "text/html; charset=gbk", "utf-8", []string{"全角：ＩＣＰ"}, false},
		{"UTF-16LE BOM", "bom_utf16le.html", "text/html", "utf-16le", []string{"十六位"}, false},
		{"UTF-8 undeclared", "utf8_undeclared.html", "text/html", "utf-8", []string{"无声明"}, false},
		{"GBK undeclared falls back to GB18030", "gbk_undeclared.html", "text/html", "gb18030", []string{"无声明的国标码页面"}, false},
		{"meta charset after 1024 bytes", "gbk_late_meta.html", "text/html", "gb18030", []string{"靠后的声明"}, false},
		{"unknown header label falls through to meta", "gb2312_meta.html", "text/html; charset=x-bogus", "gb18030", []string{"王喆"}, false},
		{"no Content-Type: sniffed, undeclared UTF-8", "utf8_undeclared.html", "-", "utf-8", []string{"无声明"}, false},
		{"no Content-Type: sniffed, BOM", "bom_utf8.html", "-", "utf-8", []string{"全角"}, false},
		{"header beats meta, as in a browser", "gb2312_meta.html", "text/html; charset=utf-8", "utf-8", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fetchFixture(t, tt.fixture)
			srv, _ := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.contentType == "-" {
					w.Header()["Content-Type"] = nil // suppress the server's own sniffing
				} else {
					w.Header().Set("Content-Type", tt.contentType)
				}
				w.Write(body)
			})
			page, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/")
			if err != nil {
				t.Fatal(err)
			}
			if page.Charset != tt.charset {
				t.Errorf("charset %q, want %q", page.Charset, tt.charset)
			}
			if page.ContentType != "text/html" {
				t.Errorf("content type %q, want text/html", page.ContentType)
			}
			if page.Raw != len(body) {
				t.Errorf("Raw %d, want %d", page.Raw, len(body))
			}
			text := string(page.Body)
			if tt.mojibake {
				if !strings.Contains(text, "\uFFFD") {
					t.Errorf("expected replacement characters when GBK bytes are declared UTF-8")
				}
				return
			}
			for _, w := range append([]string{fetchFooter, "示例科技有限公司"}, tt.want...) {
				if !strings.Contains(text, w) {
					t.Errorf("decoded body lacks %q:\n%s", w, text)
				}
			}
			if strings.Contains(text, "\uFFFD") {
				t.Errorf("decoded body has replacement characters")
			}
			if bytes.HasPrefix(page.Body, utf8BOM) {
				t.Errorf("BOM left in the decoded body")
			}
		})
	}
}

func TestDetectCharsetUnit(t *testing.T) {
	tests := []struct {
		raw, ct, want string
	}{
		{"<meta charset='big5'>", "", "big5"},
		{`<meta http-equiv="content-type" content="text/html;charset=shift_jis">`, "", "shift_jis"},
		{`<meta content="text/html; charset=gbk">`, "", "utf-8"}, // content without http-equiv does not count
		{`<meta charset="utf-16">`, "", "utf-8"},                 // an ASCII-readable document is not UTF-16
		{`<meta charset="latin1">`, "", "windows-1252"},
		{"plain ascii", "", "utf-8"},
		{"x", "text/html;;charset=gbk", "gb18030"}, // malformed header still read
		{"\xbe\xa9ICP", "", "gb18030"},
		{"\xbe\xa9ICP", "text/html; charset=iso-8859-1", "windows-1252"},
	}
	for _, tt := range tests {
		_, name, _ := detectCharset([]byte(tt.raw), tt.ct)
		if name != tt.want {
			t.Errorf("detectCharset(%q, %q) = %s, want %s", tt.raw, tt.ct, name, tt.want)
		}
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestFetchDecompression(t *testing.T) {
	page := fetchFixture(t, "utf8_undeclared.html")
	var zl, raw bytes.Buffer
	zw := zlib.NewWriter(&zl)
	zw.Write(page)
	zw.Close()
	fw, _ := flate.NewWriter(&raw, flate.DefaultCompression)
	fw.Write(page)
	fw.Close()
	gz := gzipBytes(t, page)
	tests := []struct {
		name     string
		encoding string
		body     []byte
		reason   FetchReason // "" = success
	}{
		{"identity", "", page, ""},
		{"gzip", "gzip", gz, ""},
		{"x-gzip", "x-gzip", gz, ""},
		{"deflate (zlib)", "deflate", zl.Bytes(), ""},
		{"deflate (raw, as some servers send)", "deflate", raw.Bytes(), ""},
		{"gzip twice", "gzip, gzip", gzipBytes(t, gz), ""},
		{"corrupt gzip", "gzip", []byte("this is not gzip at all"), ReasonOther},
		{"truncated gzip", "gzip", gz[:len(gz)/2], ReasonConnect},
		{"unrequested brotli", "br", []byte{0x1b, 0x00}, ReasonOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotAE string
			srv, _ := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
				gotAE = r.Header.Get("Accept-Encoding")
				w.Header().Set("Content-Type", "text/html")
				if tt.encoding != "" {
					w.Header().Set("Content-Encoding", tt.encoding)
				}
				w.Write(tt.body)
			})
			p, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL)
			if gotAE != "gzip, deflate" {
				t.Errorf("Accept-Encoding %q, want %q", gotAE, "gzip, deflate")
			}
			if tt.reason != "" {
				wantReason(t, err, tt.reason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.Body, page) || p.Raw != len(page) {
				t.Errorf("body (%d bytes, Raw %d) differs from the original (%d bytes)", len(p.Body), p.Raw, len(page))
			}
		})
	}
}

func TestFetchRedirects(t *testing.T) {
	srv, hits := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/r/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
			if n > 0 {
				http.Redirect(w, r, "/r/"+strconv.Itoa(n-1), http.StatusMovedPermanently)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<p>"+fetchFooter+"</p>")
		case r.URL.Path == "/a":
			http.Redirect(w, r, "/b", http.StatusFound)
		case r.URL.Path == "/b":
			http.Redirect(w, r, "/a", http.StatusFound)
		case r.URL.Path == "/gate":
			// An anti-bot gate: set a cookie, send the visitor back.
			if _, err := r.Cookie("passed"); err != nil {
				http.SetCookie(w, &http.Cookie{Name: "passed", Value: "1", Path: "/"})
				http.Redirect(w, r, "/gate", http.StatusFound)
				return
			}
			io.WriteString(w, "<p>welcome</p>")
		case r.URL.Path == "/home":
			// A two-step gate: the cookie is set on the way out, and the
			// check page sends the visitor back without setting one.
			if _, err := r.Cookie("verified"); err != nil {
				http.SetCookie(w, &http.Cookie{Name: "verified", Value: "1", Path: "/"})
				http.Redirect(w, r, "/verify", http.StatusFound)
				return
			}
			io.WriteString(w, "<p>home</p>")
		case r.URL.Path == "/verify":
			http.Redirect(w, r, "/home", http.StatusFound)
		case r.URL.Path == "/ftp":
			http.Redirect(w, r, "ftp://files.example.cn/", http.StatusFound)
		}
	})

	t.Run("three redirects are followed", func(t *testing.T) {
		p, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/r/3")
		if err != nil {
			t.Fatal(err)
		}
		if p.URL != srv.URL+"/r/0" {
			t.Errorf("final URL %s", p.URL)
		}
		want := []string{srv.URL + "/r/3", srv.URL + "/r/2", srv.URL + "/r/1"}
		if fmt.Sprint(p.Redirects) != fmt.Sprint(want) {
			t.Errorf("Redirects %v, want %v", p.Redirects, want)
		}
		if !strings.Contains(string(p.Body), fetchFooter) {
			t.Errorf("body %q", p.Body)
		}
	})
	t.Run("five is the default limit", func(t *testing.T) {
		if _, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/r/5"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("six are too many", func(t *testing.T) {
		_, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/r/6")
		wantReason(t, err, ReasonRedirects)
	})
	t.Run("a loop is caught before the limit", func(t *testing.T) {
		before := hits.Load()
		_, err := testFetcher(FetcherConfig{MaxRedirects: 50}).Get(context.Background(), srv.URL+"/a")
		wantReason(t, err, ReasonRedirects)
		if !strings.Contains(err.Error(), "loop") {
			t.Errorf("error does not say loop: %v", err)
		}
		if n := hits.Load() - before; n > 2 {
			t.Errorf("%d requests for a two-step loop", n)
		}
	})
	t.Run("a cookie gate is not a loop", func(t *testing.T) {
		p, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/gate")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(p.Body), "welcome") {
			t.Errorf("body %q", p.Body)
		}
	})
	t.Run("a cookie set two hops back is not a loop", func(t *testing.T) {
		p, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/home")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(p.Body), "home") {
			t.Errorf("body %q", p.Body)
		}
	})
	t.Run("redirect to another scheme", func(t *testing.T) {
		_, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/ftp")
		wantReason(t, err, ReasonBadURL)
	})
}

func TestFetchBodyCap(t *testing.T) {
	const max = 1024
	big := "<html><body>" + strings.Repeat("备案", 2000) + "</body></html>"
	srv, _ := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			io.WriteString(w, big)
		case "/chunked":
			for i := 0; i < len(big); i += 100 {
				io.WriteString(w, big[i:min(i+100, len(big))])
				w.(http.Flusher).Flush()
			}
		case "/exact":
			io.WriteString(w, big[:max])
		case "/gzip":
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzipBytes(t, []byte(big)))
		}
	})
	f := testFetcher(FetcherConfig{MaxBody: max})
	for _, path := range []string{"/length", "/chunked", "/gzip"} {
		t.Run(path, func(t *testing.T) {
			p, err := f.Get(context.Background(), srv.URL+path)
			wantReason(t, err, ReasonTooLarge)
			if p == nil || p.Status != 200 || p.Body != nil {
				t.Errorf("want the page's status without a body, got %+v", p)
			}
		})
	}
	t.Run("exactly the cap", func(t *testing.T) {
		p, err := f.Get(context.Background(), srv.URL+"/exact")
		if err != nil {
			t.Fatal(err)
		}
		if p.Raw != max {
			t.Errorf("Raw %d, want %d", p.Raw, max)
		}
	})
}

// TestFetchGzipBomb serves 10 GiB of zeros as a chain of gzip members made
// on the fly (10 MiB on the wire). The fetch must stop at the cap, quickly
// and within bounded memory.
func TestFetchGzipBomb(t *testing.T) {
	const member = 16 << 20
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(make([]byte, member))
	zw.Close()
	chunk := buf.Bytes()
	const members = (10 << 30) / member

	srv, _ := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Encoding", "gzip")
		for i := 0; i < members; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	f := testFetcher(FetcherConfig{Timeout: 20 * time.Second})

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := f.Get(context.Background(), srv.URL)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)

	wantReason(t, err, ReasonTooLarge)
	if elapsed > 5*time.Second {
		t.Errorf("the bomb took %v to reject", elapsed)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("allocated %d MiB rejecting the bomb; the cap is %d MiB", alloc>>20, DefaultMaxBody>>20)
	}
}

func TestFetchNotHTML(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")
	tests := []struct {
		name, ct string // ct "-" = no header
		body     []byte
		ok       bool
	}{
		{"png", "image/png", png, false},
		{"json", "application/json", []byte(`{"icp":"` + fetchFooter + `"}`), false},
		{"octet-stream", "application/octet-stream", []byte("<html></html>"), false},
		{"plain text", "text/plain; charset=utf-8", []byte(fetchFooter), false},
		{"sniffed image", "-", png, false},
		{"sniffed html", "-", []byte("<!DOCTYPE html><html><body>" + fetchFooter + "</body></html>"), true},
		{"xhtml", "application/xhtml+xml", []byte("<html><body>" + fetchFooter + "</body></html>"), true},
		{"upper-case html", "TEXT/HTML; Charset=UTF-8", []byte("<p>" + fetchFooter + "</p>"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.ct == "-" {
					w.Header()["Content-Type"] = nil
				} else {
					w.Header().Set("Content-Type", tt.ct)
				}
				w.Write(tt.body)
			})
			p, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(p.Body), fetchFooter) {
					t.Errorf("body %q", p.Body)
				}
				return
			}
			wantReason(t, err, ReasonNotHTML)
			if p == nil || p.Status != 200 || p.Body != nil {
				t.Errorf("want status and headers without body, got %+v", p)
			}
		})
	}
}

func TestFetchStall(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv, _ := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body><p>half a page")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	f := testFetcher(FetcherConfig{Timeout: 300 * time.Millisecond})
	for _, path := range []string{"/body", "/headers"} {
		t.Run(path, func(t *testing.T) {
			start := time.Now()
			_, err := f.Get(context.Background(), srv.URL+path)
			wantReason(t, err, ReasonTimeout)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("stalled server held the fetch for %v with a 300ms timeout", d)
			}
		})
	}
	t.Run("caller deadline shorter than Timeout", func(t *testing.T) {
		slow := testFetcher(FetcherConfig{Timeout: time.Minute})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := slow.Get(ctx, srv.URL+"/body")
		wantReason(t, err, ReasonTimeout)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("caller's deadline ignored: %v", d)
		}
	})
}

func TestFetchHTTPStatus(t *testing.T) {
	srv, _ := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if strings.HasSuffix(r.URL.Path, ".json") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"down"}`)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, "<h1>%d 页面错误</h1>", code)
	})
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/404", 404, "404 页面错误"},
		{"/503", 503, "503 页面错误"},
		{"/x.json", 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+tt.path)
			fe := wantReason(t, err, ReasonHTTPStatus)
			if fe.Status != tt.status {
				t.Errorf("FetchError.Status %d, want %d", fe.Status, tt.status)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tt.status)) {
				t.Errorf("message lacks the status: %v", err)
			}
			if p == nil {
				t.Fatal("no page with the status error")
			}
			if p.Status != tt.status || !strings.Contains(string(p.Body), tt.body) {
				t.Errorf("page status %d body %q", p.Status, p.Body)
			}
		})
	}
	t.Run("below 400 is a page", func(t *testing.T) {
		p, err := testFetcher(FetcherConfig{}).Get(context.Background(), srv.URL+"/203")
		if err != nil || p.Status != 203 {
			t.Fatalf("page %+v err %v", p, err)
		}
	})
}

func TestFetchBadURL(t *testing.T) {
	res := loopbackResolver()
	f := NewFetcher(FetcherConfig{Resolver: res})
	for _, u := range []string{"", "   ", "ftp://example.cn/", "example.cn", "http://", "http://:80/", "javascript:alert(1)", "http://example.cn:99999/", "http://exa mple.cn/", "%zz"} {
		_, err := f.Get(context.Background(), u)
		wantReason(t, err, ReasonBadURL)
	}
	if _, err := f.Homepage(context.Background(), "bad/domain", ""); err == nil {
		t.Error("a domain with a slash was fetched")
	} else {
		wantReason(t, err, ReasonBadURL)
	}
	if n := res.calls.Load(); n != 0 {
		t.Errorf("bad input reached the resolver %d times", n)
	}
}

// silentPort accepts connections and never says anything.
func silentPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func portOf(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func htmlHandler(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, body)
	}
}

func TestFetchTransportReasons(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(htmlHandler("<p>tls</p>"))
	defer tlsSrv.Close()
	res := loopbackResolver("site.test")
	// Generous: a TLS handshake on a loaded CI machine can take longer than
	// a few hundred milliseconds, and then reads as a timeout. Only the
	// silent case waits for the whole deadline.
	f := testFetcher(FetcherConfig{Resolver: res, Timeout: 3 * time.Second})
	tests := []struct {
		name, url string
		reason    FetchReason
	}{
		{"refused", "http://site.test:" + freeport.Port(t) + "/", ReasonConnect},
		{"untrusted certificate", "https://site.test:" + portOf(t, tlsSrv) + "/", ReasonTLS},
		{"plain HTTP on a TLS port", "http://site.test:" + portOf(t, tlsSrv) + "/", ReasonHTTPStatus},
		{"silent", "https://site.test:" + silentPort(t) + "/", ReasonTimeout},
		{"nxdomain", "http://nowhere.test/", ReasonDNS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.Get(context.Background(), tt.url)
			fe := wantReason(t, err, tt.reason)
			if !strings.Contains(fe.Error(), tt.url) || !strings.Contains(fe.Error(), string(tt.reason)) {
				t.Errorf("message lacks the URL or reason: %v", fe)
			}
		})
	}
}

func TestFetchRemoteAddr(t *testing.T) {
	srv, _ := fetchServer(t, htmlHandler("<p>x</p>"))
	f := testFetcher(FetcherConfig{Resolver: loopbackResolver("site.test")})
	p, err := f.Get(context.Background(), "http://site.test:"+portOf(t, srv)+"/")
	if err != nil {
		t.Fatal(err)
	}
	if p.RemoteAddr != srv.Listener.Addr().String() {
		t.Errorf("RemoteAddr %q, want %q", p.RemoteAddr, srv.Listener.Addr())
	}
}

// TestFetchRefusesPrivate runs the strict production policy against a
// loopback server: it must never see a request, whichever way it is reached.
func TestFetchRefusesPrivate(t *testing.T) {
	srv, hits := fetchServer(t, htmlHandler("<p>"+fetchFooter+"</p>"))
	port := portOf(t, srv)
	res := loopbackResolver("site.test", "localhost")
	strict := NewFetcher(FetcherConfig{Resolver: res, Timeout: 2 * time.Second})
	strict.httpsPort, strict.httpPort = port, port
	ctx := context.Background()

	for _, u := range []string{srv.URL, "http://site.test:" + port + "/", "http://localhost:" + port + "/", "http://[::1]:" + port + "/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://100.64.0.1/"} {
		t.Run(u, func(t *testing.T) {
			p, err := strict.Get(ctx, u)
			wantReason(t, err, ReasonBlocked)
			if p != nil {
				t.Errorf("a page came back from a refused fetch")
			}
		})
	}
	_, err := strict.Homepage(ctx, "site.test", "")
	fe := wantReason(t, err, ReasonBlocked)
	if strings.HasPrefix(fe.URL, "http:") {
		t.Errorf("a blocked https fetch fell back to http: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback server saw %d request(s) under the strict policy", n)
	}

	// The same fetch with private targets allowed reaches it: the refusal
	// above is the policy's doing, not a broken test server.
	open := testFetcher(FetcherConfig{Resolver: res})
	if _, err := open.Get(ctx, "http://site.test:"+port+"/"); err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 1 {
		t.Fatalf("hits %d, want 1", hits.Load())
	}
}

func trustServer(f *Fetcher, srv *httptest.Server) {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	// The test certificate names example.com; the fake resolver sends
	// every name to loopback.
	f.transport.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "example.com"}
}

func TestHomepage(t *testing.T) {
	plain, plainHits := fetchServer(t, htmlHandler("<p>plain "+fetchFooter+"</p>"))
	var tlsHits atomic.Int32
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsHits.Add(1)
		if r.URL.Path == "/" && r.Host != "" && strings.HasPrefix(r.Host, "missing.") {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "<p>not here</p>")
			return
		}
		htmlHandler("<p>secure "+fetchFooter+"</p>")(w, r)
	}))
	defer secure.Close()
	res := loopbackResolver("site.test", "missing.site.test")

	tests := []struct {
		name      string
		domain    string
		override  string
		httpsPort string
		trust     bool
		wantBody  string // "" = want an error
		wantURL   string // scheme prefix of the final URL
		reason    FetchReason
		plainHits int32
	}{
		{name: "https answers", domain: "site.test", httpsPort: portOf(t, secure), trust: true, wantBody: "secure", wantURL: "https://", plainHits: 0},
		{name: "https 404 is kept", domain: "missing.site.test", httpsPort: portOf(t, secure), trust: true, wantURL: "https://", reason: ReasonHTTPStatus, plainHits: 0},
		{name: "https refused, http used", domain: "site.test", httpsPort: freeport.Port(t), wantBody: "plain", wantURL: "http://", plainHits: 1},
		{name: "https untrusted certificate, http used", domain: "site.test", httpsPort: portOf(t, secure), wantBody: "plain", wantURL: "http://", plainHits: 1},
		{name: "https silent, http used", domain: "site.test", httpsPort: silentPort(t), wantBody: "plain", wantURL: "http://", plainHits: 1},
		{name: "override only", domain: "site.test", override: plain.URL + "/", httpsPort: portOf(t, secure), trust: true, wantBody: "plain", wantURL: "http://", plainHits: 1},
		{name: "override failing is not retried", domain: "site.test", override: "http://site.test:" + freeport.Port(t) + "/", httpsPort: portOf(t, secure), trust: true, reason: ReasonConnect, plainHits: 0},
		{name: "unknown domain", domain: "nowhere.test", httpsPort: portOf(t, secure), reason: ReasonDNS, plainHits: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testFetcher(FetcherConfig{Resolver: res, Timeout: 2 * time.Second})
			f.httpsPort, f.httpPort = tt.httpsPort, portOf(t, plain)
			if tt.trust {
				trustServer(f, secure)
			}
			plainBefore, tlsBefore := plainHits.Load(), tlsHits.Load()
			p, err := f.Homepage(context.Background(), tt.domain, tt.override)
			if got := plainHits.Load() - plainBefore; got != tt.plainHits {
				t.Errorf("plain server hits %d, want %d", got, tt.plainHits)
			}
			if tt.override != "" && tlsHits.Load() != tlsBefore {
				t.Errorf("the https homepage was fetched despite an override")
			}
			if tt.wantBody == "" {
				wantReason(t, err, tt.reason)
				if tt.reason == ReasonHTTPStatus && (p == nil || !strings.HasPrefix(p.URL, tt.wantURL)) {
					t.Errorf("want the https error page, got %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(p.Body), tt.wantBody) || !strings.HasPrefix(p.URL, tt.wantURL) {
				t.Errorf("got %s %q", p.URL, p.Body)
			}
		})
	}

	t.Run("both schemes fail", func(t *testing.T) {
		f := testFetcher(FetcherConfig{Resolver: res, Timeout: 400 * time.Millisecond})
		f.httpsPort, f.httpPort = freeport.Port(t), freeport.Port(t)
		_, err := f.Homepage(context.Background(), "site.test", "")
		fe := wantReason(t, err, ReasonConnect)
		if !strings.HasPrefix(fe.URL, "http://") || !strings.Contains(err.Error(), "https first") {
			t.Errorf("error should be the http attempt's and mention https: %v", err)
		}
	})
}

func TestFetcherConcurrent(t *testing.T) {
	srv, hits := fetchServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=gbk")
		w.Write(fetchFixture(t, "gbk_header.html"))
	})
	f := testFetcher(FetcherConfig{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := f.Get(context.Background(), srv.URL)
			if err == nil && !strings.Contains(string(p.Body), fetchFooter) {
				err = fmt.Errorf("body %q", p.Body)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if hits.Load() != 16 {
		t.Errorf("hits %d", hits.Load())
	}
}

// gbkPage builds an undeclared-in-body GBK page of about size bytes.
func gbkPage(tb testing.TB, size int) []byte {
	para := "<p>我们是一家专注于云计算、网站建设与数据服务的科技公司，致力于为客户提供稳定可靠的基础设施。</p>\n"
	var sb strings.Builder
	sb.WriteString("<!DOCTYPE html><html><head><title>示例科技</title></head><body>\n")
	for sb.Len() < size*3/2 {
		sb.WriteString(para)
	}
	sb.WriteString("<div class=footer>" + fetchFooter + "</div></body></html>")
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(sb.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkDecodeGBK100KB(b *testing.B) {
	for _, bc := range []struct{ name, ct string }{
		{"header", "text/html; charset=gbk"},
		{"undeclared", "text/html"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := gbkPage(b, 100<<10)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				body, name := decodeHTML(raw, bc.ct)
				if name != charsetGB18030 || len(body) == 0 {
					b.Fatalf("decoded as %s", name)
				}
			}
		})
	}
}

var _ egress.HostResolver = (*fetchResolver)(nil)
