package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

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

// TestFeishuConfig: the channel's own rules, as configuration validation
// applies them at load; every refusal names the part at fault and never
// echoes the URL's credential.
func TestFeishuConfig(t *testing.T) {
	cases := []struct {
		name, url   string
		signed      bool
		field, want string // field "" means valid
	}{
		{"feishu bot", "https://open.feishu.cn/open-apis/bot/v2/hook/SECRETTOKEN123", false, "", ""},
		{"signed lark bot", "https://open.larksuite.com/open-apis/bot/v2/hook/SECRETTOKEN123", true, "", ""},
		{"no token", "https://open.feishu.cn/open-apis/bot/v2/hook/", false, "url", "not a custom bot address"},
		{"another address", "https://open.feishu.cn/open-apis/im/v1/messages?token=SECRETTOKEN123", false, "url", "not a custom bot address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkChannelConfig(t, ChannelFeishu, tc.url, tc.signed, tc.field, tc.want)
		})
	}
}
