package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
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

// ---- generic webhook -------------------------------------------------

// webhookReceiver is the receiver from docs/webhooks.md, written with the
// standard library only, as an owner would write it.
type webhookReceiver struct {
	secret    []byte
	now       func() time.Time
	tolerance time.Duration

	mu   sync.Mutex
	seen map[string]int // notice id -> deliveries
	last []byte
}

func (h *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	ts := r.Header.Get("X-Beianwatch-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		http.Error(w, "bad timestamp", http.StatusUnauthorized)
		return
	}
	if d := h.now().Sub(time.Unix(sec, 0)); d > h.tolerance || d < -h.tolerance {
		http.Error(w, "stale timestamp", http.StatusUnauthorized)
		return
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Beianwatch-Signature"))) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.ID == "" || n.ID != r.Header.Get("X-Beianwatch-Notice-Id") {
		http.Error(w, "bad notice", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.seen[n.ID]++
	h.last = body
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func TestWebhookSignedAndVerified(t *testing.T) {
	const secret = "owner-shared-secret-9f3k"
	recv := &webhookReceiver{secret: []byte(secret), now: fixedClock(vendorNow), tolerance: 5 * time.Minute, seen: map[string]int{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r := testRendered(t)

	c := mustChannel(t, ChannelWebhook, srv.URL+"/beian", secret, fixedClock(vendorNow))
	a, err := c.Send(context.Background(), r)
	if err != nil || a.Result != Delivered || a.StatusCode != http.StatusNoContent {
		t.Fatalf("first send: %+v, %v", a, err)
	}
	first := append([]byte(nil), recv.last...)

	// A retry a minute later: same id, same body, fresh signature.
	c2 := mustChannel(t, ChannelWebhook, srv.URL+"/beian", secret, fixedClock(vendorNow.Add(time.Minute)))
	if a, err := c2.Send(context.Background(), r); err != nil || a.Result != Delivered {
		t.Fatalf("retry: %+v, %v", a, err)
	}
	if got := recv.seen[r.Notice.ID]; got != 2 {
		t.Errorf("receiver saw id %s %d times, want 2 (a retry resends the same id)", r.Notice.ID, got)
	}
	if string(first) != string(recv.last) {
		t.Errorf("retry body differs from the first:\n%s\n%s", first, recv.last)
	}

	// The body holds what docs/webhooks.md promises.
	var body struct {
		ID   string `json:"id"`
		Site struct {
			Domain, ICP, Entity string
		} `json:"site"`
		Violations []struct {
			Code       string `json:"code"`
			Transition string `json:"transition"`
			Title      string `json:"title"`
			Evidence   string `json:"evidence"`
			Fix        string `json:"fix"`
			OpenedAt   string `json:"opened_at"`
			Deadline   string `json:"deadline"`
		} `json:"violations"`
		Language string `json:"language"`
		SentAt   string `json:"sent_at"`
	}
	if err := json.Unmarshal(first, &body); err != nil {
		t.Fatal(err)
	}
	v := body.Violations
	if body.ID != r.Notice.ID || body.Site.Domain != "example.cn" || body.Site.ICP != testSite.ICP || body.Site.Entity != testSite.Entity ||
		len(v) != 1 || v[0].Code != "footer_link_obsolete" || v[0].Transition != "opened" ||
		!strings.Contains(v[0].Fix, "https://beian.miit.gov.cn/") || v[0].Title == "" ||
		!strings.Contains(v[0].Evidence, "miitbeian.gov.cn") ||
		v[0].OpenedAt != "2026-03-01T01:30:00Z" || v[0].Deadline != "2026-03-12T01:30:00Z" ||
		body.Language != "zh" || body.SentAt != "2026-03-02T01:30:00Z" {
		t.Errorf("webhook body does not match docs/webhooks.md:\n%s", first)
	}
}

func TestWebhookRefusedSignatures(t *testing.T) {
	const secret = "owner-shared-secret-9f3k"
	recv := &webhookReceiver{secret: []byte(secret), now: fixedClock(vendorNow), tolerance: 5 * time.Minute, seen: map[string]int{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	for _, tc := range []struct {
		name, secret string
		clock        time.Time
	}{
		{"wrong secret", "another-secret-value", vendorNow},
		{"stale timestamp", secret, vendorNow.Add(-10 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustChannel(t, ChannelWebhook, srv.URL, tc.secret, fixedClock(tc.clock))
			a, err := c.Send(context.Background(), testRendered(t))
			if err == nil || a.Result != Permanent || a.StatusCode != http.StatusUnauthorized {
				t.Errorf("got %+v, %v; want a permanent 401", a, err)
			}
			assertNoSecrets(t, a, err, tc.secret)
		})
	}
	if len(recv.seen) != 0 {
		t.Errorf("receiver accepted forged notices: %v", recv.seen)
	}
}

// ---- DingTalk --------------------------------------------------------

// dingTalkRobot checks a request as DingTalk's robot endpoint does: the
// access token, the 加签 timestamp within an hour and the recomputed sign,
// and a markdown message.
func dingTalkRobot(t *testing.T, token, secret string, got *[]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, msg string) {
			_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
		}
		q := r.URL.Query()
		if r.URL.Path != "/robot/send" || q.Get("access_token") != token {
			reply(300001, "token is not exist")
			return
		}
		if secret != "" {
			ms, err := strconv.ParseInt(q.Get("timestamp"), 10, 64)
			if err != nil {
				reply(310000, "invalid timestamp")
				return
			}
			if d := vendorNow.Sub(time.UnixMilli(ms)); d > time.Hour || d < -time.Hour {
				reply(310000, "invalid timestamp")
				return
			}
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(q.Get("timestamp") + "\n" + secret))
			if !hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(q.Get("sign"))) {
				reply(310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]")
				return
			}
		}
		var m struct {
			MsgType  string `json:"msgtype"`
			Markdown struct{ Title, Text string }
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.MsgType != "markdown" || m.Markdown.Title == "" || m.Markdown.Text == "" {
			reply(40035, "缺少参数 json")
			return
		}
		*got = append(*got, m.Markdown.Text)
		reply(0, "ok")
	}
}

func TestDingTalk(t *testing.T) {
	const token, secret = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "SEC0123456789abcdef0123456789abcdef+/=="
	var got []string
	srv := httptest.NewServer(dingTalkRobot(t, token, secret, &got))
	defer srv.Close()
	url := srv.URL + "/robot/send?access_token=" + token

	t.Run("signed markdown delivered", func(t *testing.T) {
		a, err := mustChannel(t, ChannelDingTalk, url, secret, fixedClock(vendorNow.Add(-30*time.Second))).Send(context.Background(), testRendered(t))
		if err != nil || a.Result != Delivered {
			t.Fatalf("%+v, %v", a, err)
		}
		if len(got) != 1 || !strings.Contains(got[0], "### 备案整改通知") || !strings.Contains(got[0], "ICP compliance notice") {
			t.Errorf("markdown not bilingual: %q", got)
		}
		assertNoSecrets(t, a, err, token, secret)
	})
	t.Run("stale timestamp refused", func(t *testing.T) {
		a, err := mustChannel(t, ChannelDingTalk, url, secret, fixedClock(vendorNow.Add(-2*time.Hour))).Send(context.Background(), testRendered(t))
		if err == nil || a.Result != Permanent || a.VendorCode != "310000" || a.StatusCode != 200 {
			t.Errorf("%+v, %v; want permanent with vendor code 310000", a, err)
		}
		assertNoSecrets(t, a, err, token, secret)
	})
	t.Run("wrong secret refused", func(t *testing.T) {
		a, err := mustChannel(t, ChannelDingTalk, url, "SECwrong0000000000", fixedClock(vendorNow)).Send(context.Background(), testRendered(t))
		if err == nil || a.Result != Permanent || a.VendorCode != "310000" {
			t.Errorf("%+v, %v", a, err)
		}
	})
	t.Run("unsigned robot", func(t *testing.T) {
		var got2 []string
		srv2 := httptest.NewServer(dingTalkRobot(t, token, "", &got2))
		defer srv2.Close()
		c := mustChannel(t, ChannelDingTalk, srv2.URL+"/robot/send?access_token="+token, "", nil)
		if a, err := c.Send(context.Background(), testRendered(t)); err != nil || a.Result != Delivered || len(got2) != 1 {
			t.Errorf("%+v, %v", a, err)
		}
	})
}

// TestDingTalkConcurrent runs sends in parallel (go test -race): the
// per-attempt signature must not be shared between goroutines.
func TestDingTalkConcurrent(t *testing.T) {
	const token, secret = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "SECconcurrent0123456789"
	var mu sync.Mutex
	var got []string
	h := dingTalkRobot(t, token, secret, &got)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		h(w, r)
	}))
	defer srv.Close()
	var n int64
	var nmu sync.Mutex
	clock := func() time.Time { // distinct timestamps, so distinct signs
		nmu.Lock()
		defer nmu.Unlock()
		n++
		return vendorNow.Add(time.Duration(n) * time.Millisecond)
	}
	c := mustChannel(t, ChannelDingTalk, srv.URL+"/robot/send?access_token="+token, secret, clock)
	r := testRendered(t)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a, err := c.Send(context.Background(), r); err != nil || a.Result != Delivered {
				t.Errorf("%+v, %v", a, err)
			}
		}()
	}
	wg.Wait()
	if len(got) != 16 {
		t.Errorf("robot got %d messages, want 16", len(got))
	}
}

// ---- WeCom -----------------------------------------------------------

// weComRobot checks a request as WeCom's group robot does: key, markdown,
// content at most 4096 bytes of UTF-8.
func weComRobot(key string, got *[]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, msg string) {
			_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
		}
		if r.URL.Path != "/cgi-bin/webhook/send" || r.URL.Query().Get("key") != key {
			reply(93000, "invalid webhook url, hint: [1714538355214402498975046], from ip: 203.0.113.9")
			return
		}
		var m struct {
			MsgType  string `json:"msgtype"`
			Markdown struct {
				Content string `json:"content"`
			} `json:"markdown"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.MsgType != "markdown" {
			reply(40008, "invalid message type")
			return
		}
		if len(m.Markdown.Content) > 4096 {
			reply(40058, "markdown.content exceed max length 4096. invalid Request Parameter")
			return
		}
		if !utf8.ValidString(m.Markdown.Content) {
			reply(40033, "invalid charset. please check your request, if include \\uxxxx will create fail!")
			return
		}
		*got = append(*got, m.Markdown.Content)
		reply(0, "ok")
	}
}

func TestWeCom(t *testing.T) {
	const key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
	var got []string
	srv := httptest.NewServer(weComRobot(key, &got))
	defer srv.Close()
	c := mustChannel(t, ChannelWeCom, srv.URL+"/cgi-bin/webhook/send?key="+key, "", nil)

	// Every code at once: far beyond 4096 bytes, mostly Chinese.
	big := testRendered(t, Codes()...)
	if len(big.Markdown) <= 4096 {
		t.Fatalf("fixture too small to test truncation: %d bytes", len(big.Markdown))
	}
	a, err := c.Send(context.Background(), big)
	if err != nil || a.Result != Delivered {
		t.Fatalf("%+v, %v", a, err)
	}
	if len(got) != 1 || len(got[0]) > 4096 || !utf8.ValidString(got[0]) || !strings.HasPrefix(got[0], "### 备案整改通知") {
		t.Errorf("content not cut safely: %d bytes, valid %v", len(got[0]), utf8.ValidString(got[0]))
	}
	assertNoSecrets(t, a, err, key)

	bad := mustChannel(t, ChannelWeCom, srv.URL+"/cgi-bin/webhook/send?key=wrong-key-000000", "", nil)
	a, err = bad.Send(context.Background(), testRendered(t))
	if err == nil || a.Result != Permanent || a.VendorCode != "93000" {
		t.Errorf("wrong key: %+v, %v", a, err)
	}
	assertNoSecrets(t, a, err, "wrong-key-000000")
}

// ---- Feishu ----------------------------------------------------------

// feishuBot checks a request as Feishu's custom bot does: the hook token,
// the timestamp within an hour and the recomputed sign, a text message,
// a body of at most 20 KB.
func feishuBot(token, secret string, oldReply bool, got *[]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, msg string) {
			if oldReply {
				_ = json.NewEncoder(w).Encode(map[string]any{"StatusCode": code, "StatusMessage": msg})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "msg": msg, "data": map[string]any{}})
		}
		if r.URL.Path != "/open-apis/bot/v2/hook/"+token {
			reply(19001, "param invalid: incoming webhook access token invalid")
			return
		}
		body, _ := io.ReadAll(r.Body)
		if len(body) > 20<<10 {
			reply(9499, "request body too large")
			return
		}
		var m struct {
			Timestamp string `json:"timestamp"`
			Sign      string `json:"sign"`
			MsgType   string `json:"msg_type"`
			Content   struct {
				Text string `json:"text"`
			} `json:"content"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.MsgType != "text" || m.Content.Text == "" {
			reply(9499, "Bad Request")
			return
		}
		if secret != "" {
			sec, err := strconv.ParseInt(m.Timestamp, 10, 64)
			mac := hmac.New(sha256.New, []byte(m.Timestamp+"\n"+secret))
			if err != nil || vendorNow.Sub(time.Unix(sec, 0)).Abs() > time.Hour ||
				!hmac.Equal([]byte(base64.StdEncoding.EncodeToString(mac.Sum(nil))), []byte(m.Sign)) {
				reply(19021, "sign match fail or timestamp is not within one hour from current time")
				return
			}
		}
		*got = append(*got, m.Content.Text)
		reply(0, "success")
	}
}

func TestFeishu(t *testing.T) {
	const token, secret = "5e3d587e-d78e-4a07-bd07-265f269f86fd", "nIMtb7r3N9pkXyXdtAbx6e"
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("oldReply=%v", old), func(t *testing.T) {
			var got []string
			srv := httptest.NewServer(feishuBot(token, secret, old, &got))
			defer srv.Close()
			url := srv.URL + "/open-apis/bot/v2/hook/" + token
			a, err := mustChannel(t, ChannelFeishu, url, secret, fixedClock(vendorNow)).Send(context.Background(), testRendered(t, Codes()...))
			if err != nil || a.Result != Delivered {
				t.Fatalf("%+v, %v", a, err)
			}
			if len(got) != 1 || !strings.HasPrefix(got[0], "备案整改通知") {
				t.Errorf("text: %q", got)
			}
			assertNoSecrets(t, a, err, token, secret)

			a, err = mustChannel(t, ChannelFeishu, url, secret, fixedClock(vendorNow.Add(-90*time.Minute))).Send(context.Background(), testRendered(t))
			if err == nil || a.Result != Permanent || a.VendorCode != "19021" {
				t.Errorf("stale: %+v, %v", a, err)
			}
			assertNoSecrets(t, a, err, token, secret)
		})
	}
}

// ---- Slack -----------------------------------------------------------

// slackHook checks a request as Slack's incoming webhook does.
func slackHook(path string, got *[]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.Error(w, "no_service", http.StatusNotFound)
			return
		}
		var m struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type string `json:"type"`
				Text struct{ Type, Text string }
			} `json:"blocks"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Text == "" || len(m.Blocks) == 0 || len(m.Blocks) > 50 {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		for i, b := range m.Blocks {
			switch {
			case i == 0 && (b.Type != "header" || b.Text.Type != "plain_text" || utf8.RuneCountInString(b.Text.Text) > 150):
				http.Error(w, "invalid_blocks", http.StatusBadRequest)
				return
			case i > 0 && (b.Type != "section" || b.Text.Type != "mrkdwn" || utf8.RuneCountInString(b.Text.Text) > 3000 || strings.ContainsAny(b.Text.Text, "<>")):
				http.Error(w, "invalid_blocks", http.StatusBadRequest)
				return
			}
			*got = append(*got, b.Text.Text)
		}
		_, _ = io.WriteString(w, "ok")
	}
}

func TestSlack(t *testing.T) {
	const path = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
	var got []string
	srv := httptest.NewServer(slackHook(path, &got))
	defer srv.Close()
	a, err := mustChannel(t, ChannelSlack, srv.URL+path, "", nil).Send(context.Background(), testRendered(t, Codes()...))
	if err != nil || a.Result != Delivered || a.Response != "ok" {
		t.Fatalf("%+v, %v", a, err)
	}
	all := strings.Join(got, "\n")
	if !strings.Contains(all, "&lt;a href=") || !strings.Contains(all, "ICP compliance notice") {
		t.Errorf("evidence not escaped or English missing")
	}
	a, err = mustChannel(t, ChannelSlack, srv.URL+"/services/T0/B0/gone", "", nil).Send(context.Background(), testRendered(t))
	if err == nil || a.Result != Permanent || a.StatusCode != 404 || !strings.Contains(a.Response, "no_service") {
		t.Errorf("gone hook: %+v, %v", a, err)
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
