package checks

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/freeport"

	"github.com/beianwatch/beianwatch/egress"
)

func mustRange(t testing.TB, s string) IPRange {
	t.Helper()
	r, err := ParseIPRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func shellFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "placeholder", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestShellCheckApplies(t *testing.T) {
	c := NewShellCheck(nil, nil, nil)
	for _, st := range Statuses {
		ok, why := c.Applies(&Site{Domain: "ok.test", Status: st})
		if ok != (st == StatusFiled) {
			t.Errorf("%s: applies = %v", st, ok)
		}
		if !ok && !strings.Contains(why, "filed") {
			t.Errorf("%s: reason %q", st, why)
		}
	}
}

func TestShellCheck(t *testing.T) {
	dnsSrv := startFakeDNS(t, "testdata/dns/shell.zone", false, map[string]string{
		"dnsfail.test": behaveServfail, "www.dnsfail.test": behaveServfail,
		"www.flaky.test": behaveServfail,
	})
	r := quickResolver(t, ResolverConfig{Servers: []string{dnsSrv.addr}})

	pages := map[string]struct {
		status int
		body   []byte
	}{
		"ok.test":          {200, shellFixture(t, "noodle-shop.html")},
		"www.wwwonly.test": {200, shellFixture(t, "noodle-shop.html")},
		"moved.test":       {200, shellFixture(t, "noodle-shop.html")},
		"mixed.test":       {200, shellFixture(t, "noodle-shop.html")},
		"flaky.test":       {200, shellFixture(t, "noodle-shop.html")},
		"placeholder.test": {200, shellFixture(t, "nginx-debian.html")},
		"spa.test":         {200, shellFixture(t, "spa-shell.html")},
		"error500.test":    {502, []byte("<html><body><h1>502 Bad Gateway</h1></body></html>")},
		"forbidden.test":   {403, []byte("<html><body><h1>403 Forbidden</h1></body></html>")},
		"suspended.test":   {403, shellFixture(t, "suspended-cpanel.html")},
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host, _, _ := net.SplitHostPort(req.Host)
		if req.URL.Path == "/real" {
			host = "ok.test"
		}
		if host == "slow.test" {
			select {
			case <-req.Context().Done():
			case <-time.After(3 * time.Second):
			}
			return
		}
		p, ok := pages[host]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(p.status)
		w.Write(p.body)
	}))
	t.Cleanup(web.Close)
	tlsWeb := httptest.NewUnstartedServer(web.Config.Handler)
	tlsWeb.Config.ErrorLog = log.New(io.Discard, "", 0) // our refusals of its certificate are expected
	tlsWeb.StartTLS()
	t.Cleanup(tlsWeb.Close)
	_, webPort, _ := net.SplitHostPort(web.Listener.Addr().String())
	_, tlsPort, _ := net.SplitHostPort(tlsWeb.Listener.Addr().String())

	// https is refused everywhere and http answers: the usual small site.
	newFetcher := func(httpsPort, httpPort string) *Fetcher {
		f := NewFetcher(FetcherConfig{Timeout: 500 * time.Millisecond, Policy: egress.Policy{AllowPrivate: true}, Resolver: r})
		f.httpsPort, f.httpPort = httpsPort, httpPort
		return f
	}
	normal := newFetcher(freeport.Port(t), webPort)
	// A TLS handshake on a loaded 2-core CI machine can take longer than
	// half a second, which would read as a timeout: the TLS case waits
	// longer (it never waits out its timeout when all is well).
	patient := NewFetcher(FetcherConfig{Timeout: 3 * time.Second, Policy: egress.Policy{AllowPrivate: true}, Resolver: r})
	dead := newFetcher(freeport.Port(t), freeport.Port(t))
	// https accepts and never answers (a timeout, which may be ours), and
	// port 80 is closed: an https-only site we could not reach in time.
	blackHole, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blackHole.Close() })
	go func() {
		for {
			c, err := blackHole.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	_, blackHolePort, _ := net.SplitHostPort(blackHole.Addr().String())
	httpsTimesOut := newFetcher(blackHolePort, freeport.Port(t))
	httpsTimesOutHTTP502 := newFetcher(blackHolePort, webPort)

	loopback := []IPRange{mustRange(t, "127.0.0.0/8"), mustRange(t, "::1")}
	provider := []IPRange{mustRange(t, "198.51.100.0/24")}

	tests := []struct {
		name      string
		site      Site
		fetcher   *Fetcher
		provider  []IPRange
		outcome   Outcome
		codes     []string // finding codes, in order
		evidence  string   // substring of the first finding's evidence
		reasonHas string
		unjudged  string // codes the run could not judge, comma-separated
	}{
		{name: "a real site", site: Site{Domain: "ok.test", IPRanges: loopback}, outcome: Pass},
		{name: "inside the provider's ranges only", site: Site{Domain: "ok.test"}, provider: loopback, outcome: Pass},
		{name: "www only", site: Site{Domain: "wwwonly.test", IPRanges: loopback}, outcome: Pass},
		{name: "default nginx page", site: Site{Domain: "placeholder.test", IPRanges: loopback}, outcome: Fail,
			codes: []string{CodeShellPlaceholder}, evidence: "welcome to nginx!"},
		{name: "script-built page cannot be judged", site: Site{Domain: "spa.test", IPRanges: loopback},
			outcome: Inconclusive, reasonHas: "needs_rendering"},
		{name: "NODATA for the domain, NXDOMAIN for www", site: Site{Domain: "gone.test", IPRanges: loopback}, outcome: Fail,
			codes: []string{CodeShellUnresolvable}, evidence: "gone.test: NODATA; www.gone.test: NXDOMAIN"},
		{name: "NXDOMAIN for both", site: Site{Domain: "vanished.test", IPRanges: loopback}, outcome: Fail,
			codes: []string{CodeShellUnresolvable}},
		{name: "still unresolvable with a homepage URL", site: Site{Domain: "vanished.test", URL: web.URL + "/real"}, outcome: Fail,
			codes: []string{CodeShellUnresolvable}},
		{name: "resolver failing is not a violation", site: Site{Domain: "dnsfail.test", IPRanges: loopback},
			outcome: Inconclusive, reasonHas: "SERVFAIL"},
		{name: "every address outside the ranges", site: Site{Domain: "moved.test", IPRanges: []IPRange{mustRange(t, "203.0.113.10-203.0.113.20")}},
			provider: provider, outcome: Fail, codes: []string{CodeShellOffProvider}, evidence: "127.0.0.1 (moved.test), ::1 (moved.test) outside filed ranges [203.0.113.10-203.0.113.20], provider ranges [198.51.100.0-198.51.100.255]"},
		{name: "some addresses outside is a warning", site: Site{Domain: "mixed.test", IPRanges: []IPRange{mustRange(t, "127.0.0.1")}},
			outcome: Pass, codes: []string{CodeShellPartlyOffProvider}, evidence: "127.0.0.2 (www.mixed.test)"},
		{name: "outside, but a lookup failed", site: Site{Domain: "flaky.test", IPRanges: []IPRange{mustRange(t, "203.0.113.1")}},
			outcome: Inconclusive, reasonHas: "some lookups failed"},
		{name: "no ranges known", site: Site{Domain: "ok.test"}, outcome: Pass},
		{name: "5xx", site: Site{Domain: "error500.test", IPRanges: loopback}, outcome: Fail,
			codes: []string{CodeShellUnreachable}, evidence: "HTTP 502", unjudged: CodeShellPlaceholder},
		{name: "off-provider while the homepage timed out leaves reachability unjudged",
			site: Site{Domain: "slow.test", IPRanges: []IPRange{mustRange(t, "203.0.113.1")}}, outcome: Fail,
			codes: []string{CodeShellOffProvider}, unjudged: CodeShellUnreachable + "," + CodeShellPlaceholder},
		{name: "off-provider with no fetcher's verdict on a 403 page", site: Site{Domain: "forbidden.test", IPRanges: []IPRange{mustRange(t, "203.0.113.1")}},
			outcome: Fail, codes: []string{CodeShellOffProvider, CodeShellHomepageError}, unjudged: CodeShellPlaceholder},
		{name: "403 is a warning", site: Site{Domain: "forbidden.test", IPRanges: loopback}, outcome: Pass,
			codes: []string{CodeShellHomepageError}},
		{name: "403 with a suspended page", site: Site{Domain: "suspended.test", IPRanges: loopback}, outcome: Fail,
			codes: []string{CodeShellHomepageError, CodeShellPlaceholder}},
		{name: "connection refused on https and http", site: Site{Domain: "refused.test", IPRanges: loopback}, fetcher: dead,
			outcome: Fail, codes: []string{CodeShellUnreachable}, evidence: "refused", unjudged: CodeShellPlaceholder},
		{name: "timeout may be ours", site: Site{Domain: "slow.test", IPRanges: loopback}, outcome: Inconclusive, reasonHas: "timeout"},
		{name: "https timed out and http refused is not a fact", site: Site{Domain: "refused.test", IPRanges: loopback}, fetcher: httpsTimesOut,
			outcome: Inconclusive, reasonHas: "timeout"},
		// Port 80 of an https site may have no upstream at all; its 502
		// says nothing about the https site we could not reach in time.
		{name: "https timed out and http answered 5xx", site: Site{Domain: "error500.test", IPRanges: loopback}, fetcher: httpsTimesOutHTTP502,
			outcome: Inconclusive, reasonHas: "https, which people reach first, failed"},
		{name: "certificate that does not verify", site: Site{Domain: "badcert.test", IPRanges: loopback,
			URL: "https://badcert.test:" + tlsPort + "/"}, fetcher: patient, outcome: Fail, codes: []string{CodeShellUnreachable}, evidence: "tls",
			unjudged: CodeShellPlaceholder},
		{name: "homepage URL is fetched instead of the domain", site: Site{Domain: "placeholder.test", IPRanges: loopback,
			URL: "http://ok.test:" + webPort + "/real"}, outcome: Pass},
		{name: "bad domain", site: Site{Domain: "-x.test"}, outcome: Inconclusive, reasonHas: "hyphen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fetcher
			if f == nil {
				f = normal
			}
			site := tt.site
			site.Status = StatusFiled
			res := Run(context.Background(), NewShellCheck(r, f, tt.provider), &site)
			var codes []string
			for _, f := range res.Findings {
				codes = append(codes, f.Code)
			}
			if res.Outcome != tt.outcome || strings.Join(codes, ",") != strings.Join(tt.codes, ",") {
				t.Fatalf("outcome %v with %v, want %v with %v\n%+v", res.Outcome, codes, tt.outcome, tt.codes, res)
			}
			if tt.evidence != "" && !strings.Contains(res.Findings[0].Evidence, tt.evidence) {
				t.Errorf("evidence %q lacks %q", res.Findings[0].Evidence, tt.evidence)
			}
			if tt.reasonHas != "" && !strings.Contains(res.Reason, tt.reasonHas) {
				t.Errorf("reason %q lacks %q", res.Reason, tt.reasonHas)
			}
			if got := strings.Join(res.Unjudged, ","); got != tt.unjudged {
				t.Errorf("unjudged %q, want %q", got, tt.unjudged)
			}
		})
	}
}

func TestShellCheckWithoutFetcher(t *testing.T) {
	dnsSrv := startFakeDNS(t, "testdata/dns/shell.zone", false, nil)
	r := quickResolver(t, ResolverConfig{Servers: []string{dnsSrv.addr}})
	res := Run(context.Background(), NewShellCheck(r, nil, nil), &Site{Domain: "ok.test", Status: StatusFiled})
	if res.Outcome != Inconclusive || !strings.Contains(res.Reason, "no fetcher") {
		t.Errorf("%+v", res)
	}
	// An unresolvable site is a fact even without a fetcher.
	res = Run(context.Background(), NewShellCheck(r, nil, nil), &Site{Domain: "gone.test", Status: StatusFiled})
	if res.Outcome != Fail {
		t.Errorf("%+v", res)
	}
}

// chainlessTLSCert is a certificate for chain.test issued by a CA the
// server does not send, as a site that forgot its intermediate serves it.
func chainlessTLSCert(t testing.TB) tls.Certificate {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Test Intermediate CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "chain.test"},
		DNSNames:              []string{"chain.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IssuingCertificateURL: []string{"http://ca.test/intermediate.crt"},
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestShellCheckLegitimateSites runs through the whole check the sites a
// hosting provider must not send a shell notice to, next to true shells
// that must still fail. Placeholder pages alone are judged in
// TestPlaceholderFixtures.
func TestShellCheckLegitimateSites(t *testing.T) {
	dnsSrv := startFakeDNS(t, "testdata/placeholder/shell-hunt.zone", false, nil)
	r := quickResolver(t, ResolverConfig{Servers: []string{dnsSrv.addr}})

	type answer struct {
		status int
		ctype  string
		header map[string]string
		body   []byte
	}
	html := "text/html; charset=utf-8"
	pages := map[string]answer{
		"apexdefault.test":     {200, html, nil, shellFixture(t, "nginx-debian.html")},
		"www.apexdefault.test": {200, html, nil, shellFixture(t, "noodle-shop.html")},
		"www.apexrefused.test": {200, html, nil, shellFixture(t, "noodle-shop.html")},
		"bothdefault.test":     {200, html, nil, shellFixture(t, "nginx-debian.html")},
		"www.bothdefault.test": {200, html, nil, shellFixture(t, "nginx-debian.html")},
		"apexonlydefault.test": {200, html, nil, shellFixture(t, "nginx-debian.html")},
		"wwwslow.test":         {200, html, nil, shellFixture(t, "nginx-debian.html")},
		"jsl521.test":          {521, html, nil, shellFixture(t, "challenge-jsl-521.html")},
		"cfchallenge.test":     {503, html, nil, shellFixture(t, "challenge-cloudflare.html")},
		"wpmaintenance.test":   {503, html, map[string]string{"Retry-After": "600"}, shellFixture(t, "wordpress-maintenance-503.html")},
		"maintenance503.test":  {503, html, nil, shellFixture(t, "maintenance-503-zh.html")},
		"bad502.test":          {502, html, nil, shellFixture(t, "nginx-502.html")},
		"limitreq503.test":     {503, html, nil, []byte("<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>")},
		"analytics500.test": {500, html, nil, []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>500 Internal Server Error</title>` +
			`<script>var _hmt=_hmt||[];document.cookie="analytics_consent=1; path=/; max-age=31536000";(function(){var hm=document.createElement("script");hm.src="https://hm.example.com/hm.js";document.head.appendChild(hm);})();</script>` +
			`</head><body><h1>500 Internal Server Error</h1><p>服务器内部错误，请稍后再试。</p></body></html>`)},
		"gbk.test":             {200, "text/html", nil, shellFixture(t, "gbk-hardware.html")},
		"gbkconstruction.test": {200, "text/html", nil, shellFixture(t, "gb2312-construction.html")},
		"notfound.test":        {404, html, nil, shellFixture(t, "live-site-404.html")},
		"login.test":           {200, html, nil, shellFixture(t, "oa-login.html")},
		"maintenance.test":     {200, html, nil, shellFixture(t, "maintenance-short.html")},
		"cdn.test":             {200, html, nil, shellFixture(t, "noodle-shop.html")},
		"chain.test":           {200, html, nil, shellFixture(t, "noodle-shop.html")},
	}
	// Generous: a TLS handshake on a loaded 2-core CI machine can take
	// longer than half a second, and a timeout would flip a verdict.
	const fetchTimeout = 3 * time.Second
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host, _, _ := net.SplitHostPort(req.Host)
		switch {
		case host == "www.wwwslow.test":
			// Answer only after the fetcher has given up, and let go as
			// soon as it hangs up, so that the case costs one fetch timeout.
			select {
			case <-req.Context().Done():
			case <-time.After(4 * fetchTimeout):
			}
			return
		case host == "loop.test" && req.URL.Path == "/":
			http.Redirect(w, req, "/index.php", http.StatusFound)
			return
		case host == "loop.test":
			http.Redirect(w, req, "/", http.StatusFound)
			return
		}
		p, ok := pages[host]
		if !ok || p.status == 0 {
			http.NotFound(w, req)
			return
		}
		for k, v := range p.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", p.ctype)
		w.WriteHeader(p.status)
		w.Write(p.body)
	})
	web := httptest.NewServer(handler)
	t.Cleanup(web.Close)
	chainWeb := httptest.NewUnstartedServer(handler)
	chainWeb.TLS = &tls.Config{Certificates: []tls.Certificate{chainlessTLSCert(t)}}
	chainWeb.Config.ErrorLog = log.New(io.Discard, "", 0)
	chainWeb.StartTLS()
	t.Cleanup(chainWeb.Close)
	_, webPort, _ := net.SplitHostPort(web.Listener.Addr().String())
	_, chainPort, _ := net.SplitHostPort(chainWeb.Listener.Addr().String())

	f := NewFetcher(FetcherConfig{Timeout: fetchTimeout, Policy: egress.Policy{AllowPrivate: true}, Resolver: r})
	f.httpsPort, f.httpPort = freeport.Port(t), webPort
	loopback := []IPRange{mustRange(t, "127.0.0.1-127.0.0.2")}

	tests := []struct {
		name      string
		site      Site
		outcome   Outcome
		codes     []string // finding codes, in order
		reasonHas string
		detailHas [2]string // a details key and a substring of its value
	}{
		// The apex is a leftover (the default vhost, a dead address) while
		// www. serves the site: the site is online.
		{name: "default page on the apex, the site on www", site: Site{Domain: "apexdefault.test"}, outcome: Pass,
			detailHas: [2]string{"apex_homepage", "default page"}},
		{name: "apex refuses, the site on www", site: Site{Domain: "apexrefused.test"}, outcome: Pass,
			detailHas: [2]string{"apex_homepage", "refused"}},
		{name: "default page on the apex, www timed out", site: Site{Domain: "wwwslow.test"}, outcome: Inconclusive,
			reasonHas: "timeout"},
		{name: "default page on both", site: Site{Domain: "bothdefault.test"}, outcome: Fail, codes: []string{CodeShellPlaceholder}},
		{name: "default page, no www", site: Site{Domain: "apexonlydefault.test"}, outcome: Fail, codes: []string{CodeShellPlaceholder}},
		// A 5xx that a browser gets past, or that says it is brief.
		{name: "anti-bot cookie challenge with HTTP 521", site: Site{Domain: "jsl521.test"}, outcome: Inconclusive, reasonHas: "521"},
		{name: "Cloudflare challenge with HTTP 503", site: Site{Domain: "cfchallenge.test"}, outcome: Inconclusive, reasonHas: "challenge"},
		{name: "503 with Retry-After", site: Site{Domain: "wpmaintenance.test"}, outcome: Inconclusive, reasonHas: "Retry-After"},
		{name: "503 maintenance notice", site: Site{Domain: "maintenance503.test"}, outcome: Inconclusive, reasonHas: "maintenance"},
		{name: "plain 502 is still unreachable", site: Site{Domain: "bad502.test"}, outcome: Fail, codes: []string{CodeShellUnreachable}},
		// A script that sets a cookie (analytics, cookie consent) is on
		// many pages; it does not make a broken site's 500 a challenge.
		{name: "500 with an analytics script setting a cookie is still unreachable", site: Site{Domain: "analytics500.test"}, outcome: Fail,
			codes: []string{CodeShellUnreachable}},
		{name: "nginx limit_req 503 is temporary", site: Site{Domain: "limitreq503.test"}, outcome: Inconclusive, reasonHas: "limit_req"},
		// Pages judged after decoding.
		{name: "GBK page declared in a meta tag", site: Site{Domain: "gbk.test"}, outcome: Pass},
		{name: "GB2312 under-construction page", site: Site{Domain: "gbkconstruction.test"}, outcome: Fail, codes: []string{CodeShellPlaceholder}},
		{name: "404 page of a live site", site: Site{Domain: "notfound.test"}, outcome: Pass, codes: []string{CodeShellHomepageError}},
		{name: "login page of an internal system", site: Site{Domain: "login.test"}, outcome: Inconclusive, reasonHas: "form"},
		{name: "maintenance page of a live site", site: Site{Domain: "maintenance.test"}, outcome: Inconclusive, reasonHas: "maintenance"},
		{name: "redirect loop is unreachable", site: Site{Domain: "loop.test"}, outcome: Fail, codes: []string{CodeShellUnreachable}},
		{name: "www behind a CDN outside the ranges", site: Site{Domain: "cdn.test"}, outcome: Pass, codes: []string{CodeShellPartlyOffProvider}},
		// A certificate whose issuer we do not know may lack only the
		// intermediate browsers fetch by themselves.
		{name: "certificate without its intermediate", site: Site{Domain: "chain.test", URL: "https://chain.test:" + chainPort + "/"},
			outcome: Inconclusive, reasonHas: "tls"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			site := tt.site
			site.Status, site.IPRanges = StatusFiled, loopback
			res := Run(context.Background(), NewShellCheck(r, f, nil), &site)
			var codes []string
			for _, f := range res.Findings {
				codes = append(codes, f.Code)
			}
			if res.Outcome != tt.outcome || strings.Join(codes, ",") != strings.Join(tt.codes, ",") {
				t.Fatalf("outcome %v with %v, want %v with %v\n%+v", res.Outcome, codes, tt.outcome, tt.codes, res)
			}
			if tt.reasonHas != "" && !strings.Contains(res.Reason, tt.reasonHas) {
				t.Errorf("reason %q lacks %q", res.Reason, tt.reasonHas)
			}
			if k := tt.detailHas[0]; k != "" && !strings.Contains(res.Details[k], tt.detailHas[1]) {
				t.Errorf("details[%s] = %q, want it to mention %q", k, res.Details[k], tt.detailHas[1])
			}
		})
	}
}
