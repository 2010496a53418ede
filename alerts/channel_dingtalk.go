package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// DingTalkChannel posts to a DingTalk custom robot (自定义机器人) as a
// markdown message, signed when the robot uses 加签.
//
// Request format followed: DingTalk open platform, "自定义机器人发送群消息"
// and "自定义机器人安全设置" (https://open.dingtalk.com/document/robots/custom-robot-access,
// https://open.dingtalk.com/document/robots/customize-robot-security-settings):
// POST JSON {"msgtype":"markdown","markdown":{"title","text"}} to
// https://oapi.dingtalk.com/robot/send?access_token=…; with 加签, append
// &timestamp=<ms>&sign=<urlencode(base64(HmacSHA256(key=secret,
// msg=timestamp+"\n"+secret)))>. DingTalk rejects a timestamp more than an
// hour from its clock. The reply is HTTP 200 {"errcode":0,"errmsg":"ok"};
// any other errcode is a refusal, in a 200.
type DingTalkChannel struct{ s sender }

var _ Channel = (*DingTalkChannel)(nil)

// dingTalkSpec: the robot's address carries its access_token; 加签 is
// optional.
func dingTalkSpec() channelSpec {
	return channelSpec{
		checkURL: func(u *url.URL, target string) error {
			if u.Query().Get("access_token") == "" {
				return fmt.Errorf("URL %s has no access_token (copy the robot's whole webhook address)", target)
			}
			return nil
		},
		secret: secretOptional,
		build:  func(s sender) Channel { return &DingTalkChannel{s: s} },
	}
}

// Kind implements Channel.
func (c *DingTalkChannel) Kind() string { return ChannelDingTalk }

// DingTalk publishes no byte limit for markdown text that we could find;
// we stay under the 20 KB request limit its peers document.
const dingTalkMaxText = 18000

// DingTalkSign computes the 加签 signature (before URL encoding) for a
// millisecond timestamp.
func DingTalkSign(secret string, timestampMS int64) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestampMS, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type dingTalkMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
}

// Send implements Channel.
func (c *DingTalkChannel) Send(ctx context.Context, r *Rendered) (Attempt, error) {
	s := c.s // a copy: the signed URL adds a per-attempt secret to scrub
	a := Attempt{NoticeID: r.Notice.ID}
	var m dingTalkMessage
	m.MsgType = "markdown"
	m.Markdown.Title = r.Title
	m.Markdown.Text = truncateBytes(r.Markdown, dingTalkMaxText, "\n\n…")
	body, err := marshalJSON(m)
	if err != nil {
		a.Channel, a.Target = s.kind, s.target
		return finish(&a, fmt.Errorf("dingtalk: encode notice %s: %w", r.Notice.ID, err))
	}
	u := *s.u
	if s.secret != "" {
		ts := s.clock().UnixMilli()
		q := u.Query()
		q.Set("timestamp", strconv.FormatInt(ts, 10))
		q.Set("sign", DingTalkSign(s.secret, ts))
		u.RawQuery = q.Encode()
		// The signed URL is a credential of its own for an hour.
		s.secrets = appendSigned(s.secrets, q.Get("sign"))
	}
	rp, err := s.post(ctx, &a, &u, body, nil)
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
		return finish(&a, fmt.Errorf("dingtalk: HTTP %d without an errcode; cannot confirm delivery", rp.status))
	}
	return finish(&a, vendorCode(&a, "dingtalk", *res.ErrCode, s.scrub(res.ErrMsg), dingTalkRetryable))
}

// dingTalkRetryable: -1 is "系统繁忙"; 130101 is "send too fast, exceed 20
// times per minute", after which DingTalk throttles the robot for 10
// minutes.
var dingTalkRetryable = map[int]time.Duration{
	-1:     0,
	130101: 10 * time.Minute,
}

// vendorCode classifies a vendor reply code delivered in an HTTP 2xx.
func vendorCode(a *Attempt, vendor string, code int, msg string, retryable map[int]time.Duration) error {
	if code == 0 {
		return nil
	}
	a.VendorCode = strconv.Itoa(code)
	if wait, ok := retryable[code]; ok {
		a.Result = Retryable
		a.RetryAfter = wait
		return fmt.Errorf("%s: busy or rate limited (code %d: %s)", vendor, code, msg)
	}
	a.Result = Permanent
	return fmt.Errorf("%s: refused (code %d: %s)", vendor, code, msg)
}

// appendSigned adds a per-request secret to a copy of the scrub list, so
// that concurrent Sends never share the slice's backing array.
func appendSigned(secrets []string, sig string) []string {
	out := make([]string, 0, len(secrets)+2)
	out = append(out, secrets...)
	if sig != "" {
		out = append(out, sig, url.QueryEscape(sig))
	}
	return out
}
