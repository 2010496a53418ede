package console

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/monitor/store"
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

type fakeShots struct{}

func (fakeShots) List(_ context.Context, domain string) ([]Screenshot, error) {
	return []Screenshot{{ID: "footer-1", TakenAt: time.Unix(1800000000, 0), Caption: "rendered footer of " + domain}}, nil
}

func (fakeShots) Open(_ context.Context, domain, id string) (io.ReadCloser, string, error) {
	if id != "footer-1" {
		return nil, "", errors.New("no such screenshot")
	}
	return io.NopCloser(strings.NewReader("\x89PNG fake")), "image/png", nil
}

// TestScreenshotsHook: with a screenshot store, the site page shows its
// screenshots and serves them to a signed-in person only.
func TestScreenshotsHook(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "bw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	site := Site{Domain: "shot.example.cn", ICP: "京ICP备2024000001号-1", Status: "filed"}
	c, err := New(Options{Token: "tok", Store: st, Sites: func() []Site { return []Site{site} },
		Site:        func(d string) (Site, bool) { return site, d == site.Domain },
		Screenshots: fakeShots{}, Now: func() time.Time { return time.Unix(1800000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(srv.URL+"/ui/login", url.Values{"token": {"tok"}, "name": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookie := resp.Cookies()[0]
	get := func(path string, withCookie bool) (int, string, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if withCookie {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	code, _, body := get("/ui/sites/shot.example.cn", true)
	if code != http.StatusOK || !strings.Contains(body, `<img src="/ui/sites/shot.example.cn/screenshots/footer-1" alt="rendered footer of shot.example.cn">`) {
		t.Errorf("site page: HTTP %d, no screenshot:\n%s", code, body)
	}
	if code, ctype, body := get("/ui/sites/shot.example.cn/screenshots/footer-1", true); code != http.StatusOK || ctype != "image/png" || body != "\x89PNG fake" {
		t.Errorf("screenshot: HTTP %d %s %q", code, ctype, body)
	}
	if code, _, _ := get("/ui/sites/shot.example.cn/screenshots/nope", true); code != http.StatusNotFound {
		t.Errorf("unknown screenshot: HTTP %d", code)
	}
	if code, _, _ := get("/ui/sites/shot.example.cn/screenshots/footer-1", false); code != http.StatusSeeOther {
		t.Errorf("screenshot without a session: HTTP %d", code)
	}
}
