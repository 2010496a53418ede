package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// WeComChannel posts to a WeCom (企业微信) group robot (群机器人) as a
// markdown message.
//
// Request format followed: WeCom developer docs, "群机器人配置说明"
// (https://developer.work.weixin.qq.com/document/path/91770): POST JSON
// {"msgtype":"markdown","markdown":{"content":…}} to
// https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…; content is UTF-8
// and at most 4096 bytes (longer is refused with errcode 40058); at most 20
// messages a minute per robot. The reply is HTTP 200
// {"errcode":0,"errmsg":"ok"}; any other errcode is a refusal, in a 200.
// Group robots have no signing: the key in the URL is the credential.
type WeComChannel struct{ s sender }

var _ Channel = (*WeComChannel)(nil)

// weComSpec: the robot's address carries its key, the only credential;
// group robots have no signing.
func weComSpec() channelSpec {
	return channelSpec{
		checkURL: func(u *url.URL, target string) error {
			if u.Query().Get("key") == "" {
				return fmt.Errorf("URL %s has no key (copy the robot's whole webhook address)", target)
			}
			return nil
		},
		secret:  secretRefused,
		refusal: "WeCom group robots have no signing secret; leave it empty",
		build:   func(s sender) Channel { return &WeComChannel{s: s} },
	}
}

// Kind implements Channel.
func (c *WeComChannel) Kind() string { return ChannelWeCom }

// weComMaxContent is the documented markdown.content limit in bytes.
const weComMaxContent = 4096

type weComMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

// weComRetryable: -1 is "system busy"; 45009 is "api freq out of limit"
// (20 messages a minute per robot).
var weComRetryable = map[int]time.Duration{
	-1:    0,
	45009: time.Minute,
}

// Send implements Channel. A notice longer than WeCom allows is cut on a
// rune boundary; the primary language comes first, so it is the other
// language that is cut.
func (c *WeComChannel) Send(ctx context.Context, r *Rendered) (Attempt, error) {
	s := c.s
	a := Attempt{NoticeID: r.Notice.ID}
	var m weComMessage
	m.MsgType = "markdown"
	m.Markdown.Content = truncateBytes(r.Markdown, weComMaxContent, "\n\n…")
	body, err := marshalJSON(m)
	if err != nil {
		a.Channel, a.Target = s.kind, s.target
		return finish(&a, fmt.Errorf("wecom: encode notice %s: %w", r.Notice.ID, err))
	}
	rp, err := s.post(ctx, &a, s.u, body, nil)
	if err != nil {
		return s.transportFailure(&a, err)
	}
	if decided, err := s.classifyHTTP(&a, rp); decided {
		return finish(&a, err)
	}
	var res struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(rp.body, &res); err != nil || res.ErrCode == nil {
		a.Result = Retryable
		return finish(&a, fmt.Errorf("wecom: HTTP %d without an errcode; cannot confirm delivery", rp.status))
	}
	return finish(&a, vendorCode(&a, "wecom", *res.ErrCode, s.scrub(res.ErrMsg), weComRetryable))
}
