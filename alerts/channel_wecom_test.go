package alerts

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

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

// TestWeComConfig: the channel's own rules, as configuration validation
// applies them at load; every refusal names the part at fault and never
// echoes the URL's credential.
func TestWeComConfig(t *testing.T) {
	cases := []struct {
		name, url   string
		signed      bool
		field, want string // field "" means valid
	}{
		{"robot address", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETTOKEN123", false, "", ""},
		{"no key", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send", false, "url", "has no key"},
		{"key under another name", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?access_token=SECRETTOKEN123", false, "url", "has no key"},
		{"a secret", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRETTOKEN123", true, "secret", "no signing secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkChannelConfig(t, ChannelWeCom, tc.url, tc.signed, tc.field, tc.want)
		})
	}
}
