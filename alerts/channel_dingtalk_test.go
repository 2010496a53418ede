package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

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

// TestDingTalkConfig: the channel's own rules, as configuration validation
// applies them at load; every refusal names the part at fault and never
// echoes the URL's credential.
func TestDingTalkConfig(t *testing.T) {
	cases := []struct {
		name, url   string
		signed      bool
		field, want string // field "" means valid
	}{
		{"robot address", "https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN123", false, "", ""},
		{"signed robot", "https://oapi.dingtalk.com/robot/send?access_token=SECRETTOKEN123", true, "", ""},
		{"no access_token", "https://oapi.dingtalk.com/robot/send", false, "url", "has no access_token"},
		{"empty access_token", "https://oapi.dingtalk.com/robot/send?access_token=", false, "url", "has no access_token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkChannelConfig(t, ChannelDingTalk, tc.url, tc.signed, tc.field, tc.want)
		})
	}
}
