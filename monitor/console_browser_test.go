package monitor

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/console"
	"github.com/beianwatch/beianwatch/monitor/dossier"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// browser starts headless Chromium for a test, or skips (fails under
// BEIANWATCH_REQUIRE_INTEGRATION) when there is none.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := dossier.Browser(os.Getenv)
	if path == "" {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") != "" {
			t.Fatal("Chromium not found and BEIANWATCH_REQUIRE_INTEGRATION is set")
		}
		t.Skip("Chromium not installed (Debian package chromium); set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.DisableGPU,
		chromedp.WindowSize(1280, 960), chromedp.Flag("lang", "zh-CN"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// text is what a person reads in the element sel.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func mustSee(t *testing.T, ctx context.Context, sel string, wants ...string) {
	t.Helper()
	got := text(t, ctx, sel)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s shows %q; want it to contain %q", sel, got, w)
		}
	}
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// shot saves a full-page screenshot under the test's temp dir, and a copy
// under $BEIANWATCH_SCREENSHOT_DIR when it is set (to look at by hand).
func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if extra := os.Getenv("BEIANWATCH_SCREENSHOT_DIR"); extra != "" {
		os.MkdirAll(extra, 0o755)
		os.WriteFile(filepath.Join(extra, name), png, 0o644)
	}
	t.Logf("screenshot %s: %d bytes", filepath.Join(dir, name), len(png))
}

// TestConsoleInChromium signs in, reads the overview, a site page and a
// notice, exempts the open violation and sees it closed as exempted, signs
// out; then a request without the cookie, with a forged CSRF token and
// with an expired session is refused.
func TestConsoleInChromium(t *testing.T) {
	ctx := browser(t)
	const bad, good = "broken.example.cn", "fine.example.cn"
	h := newHarness(t, []fixtureSite{{Domain: bad, Footer: oldFooter}, {Domain: good}})
	h.start()
	base := "http://" + h.addr
	h.runCheck(checks.CheckFooter, good)
	h.runCheck(checks.CheckFooter, bad)
	h.runCheck(checks.CheckFooter, bad)
	h.waitFor("the opened notice delivered", func() bool { return len(h.received("/owner/"+bad)) == 1 })
	h.waitFor("the delivery recorded", func() bool {
		ns, _ := h.d.store.Notices(context.Background(), store.NoticeFilter{Domain: bad})
		return len(ns) == 1 && ns[0].State == store.NoticeDelivered
	})
	noticeID := h.received("/owner/" + bad)[0].ID
	shots := t.TempDir()

	// Not signed in: the console sends a person to the sign-in form.
	do(t, ctx, "open the console", chromedp.Navigate(base+"/ui/?lang=zh"), chromedp.WaitVisible(chromedp.ID("login")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/ui/login") {
		t.Errorf("unsigned visit landed on %s, want the sign-in page", loc)
	}
	// A wrong token is refused, with the reason.
	do(t, ctx, "sign in with a wrong token",
		chromedp.SendKeys(chromedp.ID("token"), "not-the-token"),
		chromedp.SendKeys(chromedp.ID("name"), "李审计"),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("error")))
	mustSee(t, ctx, "#error", "令牌不正确")

	// Sign in.
	do(t, ctx, "sign in",
		chromedp.SendKeys(chromedp.ID("token"), testToken),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("violations")))
	mustSee(t, ctx, "#actor", "李审计")

	// Overview: counts by check, by code, the open violation with its
	// deadline (2026-11-12 18:00 in Shanghai), the notice queue.
	mustSee(t, ctx, "#by-check", "footer")
	mustSee(t, ctx, "#by-code", "footer_link_obsolete")
	mustSee(t, ctx, "#violations", bad, "footer_link_obsolete", "未整改", "2026-11-12 18:00:00")
	if strings.Contains(text(t, ctx, "#violations"), good) {
		t.Errorf("the compliant site is listed among the violations")
	}
	mustSee(t, ctx, "#queue", "已送达")
	mustSee(t, ctx, "#oldest-queued", "没有排队中的通知")
	shot(t, ctx, shots, "overview.png")

	// Filters: a code with no open violation empties the list.
	do(t, ctx, "filter by code", chromedp.Navigate(base+"/ui/?code=footer_icp_missing"), chromedp.WaitVisible(chromedp.ID("no-violations")))

	// The site page: filing, the latest result with the finding and its
	// evidence, the timeline with the opening and the notice.
	do(t, ctx, "open the site page", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("violations")),
		chromedp.Click(chromedp.CSS(`#violations a[href="/ui/sites/`+bad+`"]`)), chromedp.WaitVisible(chromedp.ID("site-title")))
	mustSee(t, ctx, "#site-title", bad)
	mustSee(t, ctx, "#filing", testICP, "测试公司", "webhook")
	mustSee(t, ctx, "#result-footer", "fail", "footer_link_obsolete", "miitbeian.gov.cn")
	mustSee(t, ctx, "#site-violations", "footer_link_obsolete", "未整改")
	mustSee(t, ctx, "#timeline", "opened footer_link_obsolete", noticeID, "HTTP 204")
	shot(t, ctx, shots, "site.png")

	// Follow the notice: the text sent, the signed headers, the attempt.
	do(t, ctx, "follow the notice", chromedp.Click(chromedp.CSS(`#timeline a[href="/ui/notices/`+noticeID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("notice-id")))
	mustSee(t, ctx, "#notice-id", noticeID)
	mustSee(t, ctx, "#notice-state", "delivered")
	mustSee(t, ctx, "#attempts", "webhook", "204", "X-Beianwatch-Signature: sha256=", "X-Beianwatch-Notice-Id: "+noticeID)
	mustSee(t, ctx, "#notice-text", bad, "整改")
	if strings.Contains(text(t, ctx, "main"), "owner-secret") {
		t.Errorf("the notice page shows the signing secret")
	}
	shot(t, ctx, shots, "notice.png")

	// Exempt the open violation: it closes as exempted, the owner is not
	// told, the audit trail says who and why.
	do(t, ctx, "add an exemption",
		chromedp.Navigate(base+"/ui/sites/"+bad), chromedp.WaitVisible(chromedp.ID("exemption-form")),
		chromedp.SendKeys(chromedp.ID("ex-code"), "footer_link_obsolete"),
		chromedp.SetValue(chromedp.ID("ex-until"), "2027-01-31"),
		chromedp.SendKeys(chromedp.ID("ex-reason"), "客户书面承诺1月底前改版"),
		chromedp.Click(chromedp.ID("ex-submit")),
		chromedp.WaitVisible(chromedp.ID("flash")))
	mustSee(t, ctx, "#flash", "豁免已添加", "未通知")
	mustSee(t, ctx, "#site-violations", "footer_link_obsolete", "已豁免")
	mustSee(t, ctx, "#exemptions", "footer_link_obsolete", "2027-02-01 00:00:00", "李审计", "客户书面承诺1月底前改版", "生效中")
	mustSee(t, ctx, "#result-footer", "豁免中")
	mustSee(t, ctx, "#timeline", "exempted footer_link_obsolete", "exemption_added · 李审计")
	shot(t, ctx, shots, "site-exempted.png")
	v, err := h.d.store.Violations(context.Background(), store.ViolationFilter{Domain: bad})
	if err != nil || len(v) != 1 || v[0].Status != lifecycle.StatusExempted {
		t.Errorf("store: %+v %v; want the violation exempted", v, err)
	}
	do(t, ctx, "back to the overview", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.ID("no-violations")))
	mustSee(t, ctx, "#by-code", "footer_link_obsolete")

	// The English console says the same.
	do(t, ctx, "switch to English", chromedp.Navigate(base+"/ui/sites/"+bad+"?lang=en"), chromedp.WaitVisible(chromedp.ID("site-violations")))
	mustSee(t, ctx, "#site-violations", "Exempted")

	// Check now: queued and audited.
	do(t, ctx, "check now", chromedp.Click(chromedp.ID("check-now")), chromedp.WaitVisible(chromedp.ID("flash")))
	mustSee(t, ctx, "#flash", "Checks queued")
	trail, _ := h.d.store.AuditTrail(context.Background(), bad, 0)
	if len(trail) != 2 || trail[0].Action != store.AuditExemptionAdded || trail[1].Action != store.AuditCheckRequested || trail[1].Actor != "李审计" {
		t.Errorf("audit trail %+v", trail)
	}

	// Sign out: back to the sign-in form, and the console is closed.
	do(t, ctx, "sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("login")))
	do(t, ctx, "reopen after signing out", chromedp.Navigate(base+"/ui/sites/"+bad), chromedp.WaitVisible(chromedp.ID("login")))

	// No owner notice went out about the exemption.
	time.Sleep(300 * time.Millisecond)
	if n := len(h.received("/owner/" + bad)); n != 1 {
		t.Errorf("the owner got %d notices; the exemption must not tell them", n)
	}

	// Refusals, as a client without a browser sees them.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, cookie *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	post := func(path string, form url.Values, cookie *http.Cookie) (*http.Response, string) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "en")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, _ := get("/ui/sites/"+bad, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Errorf("no cookie: HTTP %d to %q, want a redirect to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, body := post("/ui/sites/"+bad+"/check", url.Values{"csrf": {"x"}}, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Please sign in first") {
		t.Errorf("POST without a cookie: HTTP %d %q", resp.StatusCode, body)
	}
	resp, _ := post("/ui/login", url.Values{"token": {testToken}, "name": {"王五"}}, nil)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure || session.MaxAge <= 0 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, an expiry, and not Secure over plain HTTP", session)
	}
	if resp, body := post("/ui/sites/"+bad+"/check", url.Values{"csrf": {"forged-token"}}, session); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Refused") {
		t.Errorf("forged CSRF token: HTTP %d %q", resp.StatusCode, body)
	}
	if resp, body := post("/ui/sites/"+bad+"/exemptions", url.Values{"code": {"footer_link_obsolete"}, "until": {"2027-01-31"}, "reason": {"x"}}, session); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Refused") {
		t.Errorf("missing CSRF token: HTTP %d %q", resp.StatusCode, body)
	}
	if trail, _ := h.d.store.AuditTrail(context.Background(), bad, 0); len(trail) != 2 {
		t.Errorf("a refused action reached the audit trail: %+v", trail)
	}
	if resp, body := get("/ui/", session); resp.StatusCode != http.StatusOK || !strings.Contains(body, "王五") {
		t.Fatalf("fresh session: HTTP %d", resp.StatusCode)
	}
	h.clock.Advance(12*time.Hour + time.Second)
	if resp, _ := get("/ui/", session); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Errorf("expired session: HTTP %d to %q, want the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Everything but the actions is read-only.
	if resp, _ := get("/ui/sites/"+bad+"/check", nil); resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET on an action: HTTP %d", resp.StatusCode)
	}
}
