package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newTest(t *testing.T, token string) *Console {
	t.Helper()
	c, err := New(Options{Token: token, Sites: func() []Site { return nil },
		Site: func(string) (Site, bool) { return Site{}, false }, Now: func() time.Time { return time.Unix(1800000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConsoleIsOffWithoutTheToken(t *testing.T) {
	srv := httptest.NewServer(newTest(t, "").Handler())
	defer srv.Close()
	for _, path := range []string{"/ui/", "/ui/login", "/ui/static/console.css"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(b), "console is off") {
			t.Errorf("%s without a token: HTTP %d %q", path, resp.StatusCode, b)
		}
	}
	resp, err := http.PostForm(srv.URL+"/ui/login", url.Values{"token": {""}, "name": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("sign-in with the console off: HTTP %d", resp.StatusCode)
	}
}

func TestSessionCookieIsSecureOverTLS(t *testing.T) {
	srv := httptest.NewTLSServer(newTest(t, "s3cret").Handler())
	defer srv.Close()
	client := srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.PostForm(srv.URL+"/ui/login", url.Values{"token": {"s3cret"}, "name": {"审计员"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName {
			c = ck
		}
	}
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" ||
		c.MaxAge != int((12*time.Hour).Seconds()) || c.Expires.IsZero() {
		t.Fatalf("cookie %+v: want Secure, HttpOnly, SameSite=Strict, path /ui/, 12h", c)
	}
	if h := resp.Header.Get("Content-Security-Policy"); !strings.Contains(h, "default-src 'none'") {
		t.Errorf("CSP %q", h)
	}
}
