package alerts

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// vendorNow is the receiving vendor's clock in these tests; our injected
// clock agrees with it unless a test skews it.
var vendorNow = time.Date(2026, 3, 2, 1, 30, 5, 0, time.UTC)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

func testRendered(t testing.TB, codes ...string) *Rendered {
	t.Helper()
	if len(codes) == 0 {
		codes = []string{"footer_link_obsolete"}
	}
	var vs []ViolationChange
	for _, c := range codes {
		vs = append(vs, opened(c))
	}
	r, err := newTestRenderer(t).Render(NewOwnerNotice(testSite, "batch-7", vs, LangZH, fixedAt))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustChannel(t *testing.T, kind, url, secret string, clock func() time.Time) Channel {
	t.Helper()
	c, err := NewChannel(kind, url, secret, http.DefaultClient, clock)
	if err != nil {
		t.Fatalf("NewChannel(%s): %v", kind, err)
	}
	return c
}

// assertNoSecrets fails when any secret shows in what the audit trail or
// the logs would keep.
func assertNoSecrets(t *testing.T, a Attempt, err error, secrets ...string) {
	t.Helper()
	kept := a.Target + "\n" + a.Response + "\n" + a.Error
	if err != nil {
		kept += "\n" + err.Error()
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(kept, s) {
			t.Errorf("secret %q leaked into the attempt or error:\n%s", s, kept)
		}
	}
}

// ---- error paths common to all channels ------------------------------

type channelCase struct {
	kind, path, secret string
}

var allChannels = []channelCase{
	{ChannelWebhook, "/hook", "owner-secret-123456"},
	{ChannelDingTalk, "/robot/send?access_token=tok0123456789abcdef", "SECabcdef0123456789"},
	{ChannelWeCom, "/cgi-bin/webhook/send?key=key0123456789abcdef", ""},
	{ChannelFeishu, "/open-apis/bot/v2/hook/tok0123456789abcdef", "feishu-secret-123"},
	{ChannelSlack, "/services/T0/B0/slacksecret0123456789ab", ""},
}

func TestHTTPErrorClassification(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		want       Result
		retryAfter time.Duration
	}{
		{"429 with seconds", 429, map[string]string{"Retry-After": "120"}, "rate_limited", Retryable, 2 * time.Minute},
		{"429 with date", 429, map[string]string{"Retry-After": vendorNow.Add(90 * time.Second).Format(http.TimeFormat)}, "", Retryable, 90 * time.Second},
		{"429 without advice", 429, nil, "", Retryable, 0},
		{"500", 500, nil, "rollup_error", Retryable, 0},
		{"503 with retry-after", 503, map[string]string{"Retry-After": "30"}, "", Retryable, 30 * time.Second},
		{"400", 400, nil, "invalid_payload", Permanent, 0},
		{"404", 404, nil, "channel_not_found", Permanent, 0},
		{"410", 410, nil, "channel_is_archived", Permanent, 0},
	}
	for _, ch := range allChannels {
		for _, tc := range cases {
			t.Run(ch.kind+"/"+tc.name, func(t *testing.T) {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				}))
				defer srv.Close()
				c := mustChannel(t, ch.kind, srv.URL+ch.path, ch.secret, fixedClock(vendorNow))
				a, err := c.Send(context.Background(), testRendered(t))
				if err == nil || a.Result != tc.want || a.RetryAfter != tc.retryAfter || a.StatusCode != tc.status {
					t.Errorf("got result %s retry %s status %d err %v; want %s retry %s", a.Result, a.RetryAfter, a.StatusCode, err, tc.want, tc.retryAfter)
				}
				if a.Error == "" || a.Channel != ch.kind || a.NoticeID == "" || a.Duration <= 0 {
					t.Errorf("attempt incomplete: %+v", a)
				}
				assertNoSecrets(t, a, err, "tok0123456789abcdef", "key0123456789abcdef", "slacksecret0123456789ab", ch.secret)
			})
		}
	}
}

func TestVendorCodesIn200(t *testing.T) {
	cases := []struct {
		kind, path, body string
		want             Result
		code             string
		retryAfter       time.Duration
	}{
		{ChannelDingTalk, "/robot/send?access_token=tok0123456789abcdef", `{"errcode":310000,"errmsg":"keywords not in content"}`, Permanent, "310000", 0},
		{ChannelDingTalk, "/robot/send?access_token=tok0123456789abcdef", `{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}`, Retryable, "130101", 10 * time.Minute},
		{ChannelDingTalk, "/robot/send?access_token=tok0123456789abcdef", `{"errcode":-1,"errmsg":"系统繁忙"}`, Retryable, "-1", 0},
		{ChannelDingTalk, "/robot/send?access_token=tok0123456789abcdef", `<html>portal</html>`, Retryable, "", 0},
		{ChannelWeCom, "/cgi-bin/webhook/send?key=key0123456789abcdef", `{"errcode":45009,"errmsg":"api freq out of limit"}`, Retryable, "45009", time.Minute},
		{ChannelWeCom, "/cgi-bin/webhook/send?key=key0123456789abcdef", `{"errcode":40058,"errmsg":"markdown.content exceed max length 4096"}`, Permanent, "40058", 0},
		{ChannelFeishu, "/open-apis/bot/v2/hook/tok0123456789abcdef", `{"code":19024,"msg":"Key Words Not Found"}`, Permanent, "19024", 0},
		{ChannelFeishu, "/open-apis/bot/v2/hook/tok0123456789abcdef", `{"code":11232,"msg":"frequency limited"}`, Retryable, "11232", time.Minute},
		{ChannelFeishu, "/open-apis/bot/v2/hook/tok0123456789abcdef", `{"StatusCode":0,"StatusMessage":"success"}`, Delivered, "", 0},
		{ChannelFeishu, "/open-apis/bot/v2/hook/tok0123456789abcdef", `{}`, Retryable, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.kind+"/"+tc.body, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			a, err := mustChannel(t, tc.kind, srv.URL+tc.path, "", nil).Send(context.Background(), testRendered(t))
			if a.Result != tc.want || a.VendorCode != tc.code || a.RetryAfter != tc.retryAfter || (err == nil) != (tc.want == Delivered) {
				t.Errorf("got %s code %q retry %s err %v; want %s code %q retry %s", a.Result, a.VendorCode, a.RetryAfter, err, tc.want, tc.code, tc.retryAfter)
			}
		})
	}
}

// TestRepliesMaskPhones: receivers echo what they got, and the notice
// names the entity, which may hold a mobile number; what we keep of the
// reply goes to logs, the store and the API, where numbers are masked.
func TestRepliesMaskPhones(t *testing.T) {
	const number = "13812345678"
	cases := []struct {
		name, kind, path string
		status           int
		body             string
	}{
		{"webhook 500 echo", ChannelWebhook, "/hook", 500, `{"echo":{"site":{"entity":"张三 ` + number + `"}}}`},
		{"webhook 400 text", ChannelWebhook, "/hook", 400, "bad request: 主体：李四(" + number + ")"},
		{"dingtalk errmsg", ChannelDingTalk, "/robot/send?access_token=tok0123456789abcdef", 200, `{"errcode":310000,"errmsg":"keywords not in content: 主体：李四(` + number + `)"}`},
		{"wecom errmsg", ChannelWeCom, "/cgi-bin/webhook/send?key=key0123456789abcdef", 200, `{"errcode":40058,"errmsg":"invalid content near +86` + number + `"}`},
		{"feishu msg", ChannelFeishu, "/open-apis/bot/v2/hook/tok0123456789abcdef", 200, `{"code":19024,"msg":"Key Words Not Found in 张三 ` + number + `"}`},
		{"slack 404", ChannelSlack, "/services/T0/B0/slacksecret0123456789ab", 404, "channel_not_found " + number},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			secret := map[string]string{ChannelWebhook: "owner-secret-123456"}[tc.kind]
			a, err := mustChannel(t, tc.kind, srv.URL+tc.path, secret, fixedClock(vendorNow)).Send(context.Background(), testRendered(t))
			if err == nil || a.Response == "" {
				t.Fatalf("refusal not recorded: %+v, %v", a, err)
			}
			assertNoSecrets(t, a, err, number)
			if !strings.Contains(a.Response, "138****5678") {
				t.Errorf("response excerpt lost the masked number: %q", a.Response)
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var gets int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gets++ }))
	defer target.Close()
	srv := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer srv.Close()
	a, err := mustChannel(t, ChannelWebhook, srv.URL, "owner-secret-123456", nil).Send(context.Background(), testRendered(t))
	if err == nil || a.Result != Permanent || a.StatusCode != http.StatusFound || gets != 0 {
		t.Errorf("got %+v, %v, %d requests to the redirect target", a, err, gets)
	}
}

func TestNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close() // nothing listens there now

	for _, ch := range allChannels {
		a, err := mustChannel(t, ch.kind, url+ch.path, ch.secret, nil).Send(context.Background(), testRendered(t))
		if err == nil || a.Result != Retryable || a.StatusCode != 0 {
			t.Errorf("%s refused connection: %+v, %v", ch.kind, a, err)
		}
		assertNoSecrets(t, a, err, "tok0123456789abcdef", "key0123456789abcdef", "slacksecret0123456789ab", ch.secret)
	}

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a, err := mustChannel(t, ChannelWebhook, slow.URL, "owner-secret-123456", nil).Send(ctx, testRendered(t))
	if err == nil || a.Result != Retryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %+v, %v", a, err)
	}
}

// egressRefusal is how an SSRF-safe dialer can mark a refusal as final.
type egressRefusal struct{}

func (egressRefusal) Error() string   { return "destination 10.0.0.8 is a private address" }
func (egressRefusal) Permanent() bool { return true }

type refusingTransport struct{}

func (refusingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, egressRefusal{}
}

func TestPermanentTransportError(t *testing.T) {
	c, err := NewChannel(ChannelWeCom, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=key0123456789abcdef", "",
		&http.Client{Transport: refusingTransport{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.Send(context.Background(), testRendered(t))
	if a.Result != Permanent || !errors.As(err, new(egressRefusal)) {
		t.Errorf("got %+v, %v", a, err)
	}
	assertNoSecrets(t, a, err, "key0123456789abcdef")
}

func TestNewChannelValidation(t *testing.T) {
	hc := http.DefaultClient
	cases := []struct {
		name, kind, url, secret string
		hc                      *http.Client
		want                    string
	}{
		{"unknown kind", "email", "https://x.example/", "", hc, `unknown kind "email"`},
		{"empty url", ChannelSlack, " ", "", hc, "empty"},
		{"bad scheme", ChannelDingTalk, "ftp://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN123", "", hc, "http or https"},
		{"no host", ChannelWebhook, "https:///path", "s3cret-value", hc, "no host"},
		{"credentials", ChannelWebhook, "https://user:SECRETPASS99@hooks.example.cn/", "s3cret-value", hc, "credentials"},
		{"unparseable", ChannelWebhook, "https://hooks.example.cn/%zz?token=SECRETTOKEN123", "s3cret-value", hc, "does not parse"},
		{"webhook without secret", ChannelWebhook, "https://hooks.example.cn/beian", "", hc, "signing secret is required"},
		{"dingtalk without token", ChannelDingTalk, "https://oapi.dingtalk.com/robot/send", "", hc, "access_token"},
		{"wecom without key", ChannelWeCom, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "", hc, "no key"},
		{"wecom with secret", ChannelWeCom, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc", "x", hc, "no signing secret"},
		{"slack with secret", ChannelSlack, "https://hooks.slack.com/services/T/B/X", "x", hc, "no signing secret"},
		{"feishu not a hook", ChannelFeishu, "https://open.feishu.cn/open-apis/bot/v2/", "", hc, "custom bot address"},
		{"nil client", ChannelSlack, "https://hooks.slack.com/services/T/B/X", "", nil, "HTTP client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewChannel(tc.kind, tc.url, tc.secret, tc.hc, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			for _, leak := range []string{"SECRETTOKEN123", "SECRETPASS99"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error echoes a secret: %v", err)
				}
			}
		})
	}
	for _, k := range ChannelKinds() {
		ok := map[string]string{
			ChannelWebhook:  "https://hooks.example.cn/beian",
			ChannelDingTalk: "https://oapi.dingtalk.com/robot/send?access_token=abc",
			ChannelWeCom:    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc",
			ChannelFeishu:   "https://open.larksuite.com/open-apis/bot/v2/hook/abc",
			ChannelSlack:    "https://hooks.slack.com/services/T/B/X",
		}[k]
		secret := map[string]string{ChannelWebhook: "s"}[k]
		c, err := NewChannel(k, ok, secret, hc, nil)
		if err != nil || c.Kind() != k {
			t.Errorf("NewChannel(%s, %s): %v", k, ok, err)
		}
	}
}

// checkChannelConfig asserts what ValidateChannel says of one channel
// configuration, and that NewChannel agrees with it.
func checkChannelConfig(t *testing.T, kind, url string, signed bool, field, want string) {
	t.Helper()
	err := ValidateChannel(kind, url, signed)
	secret := map[bool]string{true: "a-secret"}[signed]
	_, buildErr := NewChannel(kind, url, secret, http.DefaultClient, nil)
	if field == "" {
		if err != nil || buildErr != nil {
			t.Fatalf("ValidateChannel: %v; NewChannel: %v; want both to accept", err, buildErr)
		}
		return
	}
	var ce *ChannelConfigError
	if !errors.As(err, &ce) || ce.Field != field || !strings.Contains(err.Error(), want) {
		t.Fatalf("ValidateChannel = %v, want a %s error containing %q", err, field, want)
	}
	if buildErr == nil || !strings.Contains(buildErr.Error(), err.Error()) {
		t.Errorf("NewChannel = %v, want it to refuse with %q", buildErr, err)
	}
	if strings.Contains(err.Error(), "SECRETTOKEN123") || strings.Contains(err.Error(), "SECRETPASS99") {
		t.Errorf("error echoes a credential: %v", err)
	}
}
