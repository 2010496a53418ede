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

// FeishuChannel posts to a Feishu/Lark custom bot (自定义机器人) as a text
// message, signed when the bot uses 签名校验.
//
// Request format followed: Feishu open platform, "自定义机器人使用指南"
// (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot; Lark:
// open.larksuite.com): POST JSON {"msg_type":"text","content":{"text":…}}
// to …/open-apis/bot/v2/hook/<token>; with 签名校验, add "timestamp" (Unix
// seconds, as a string) and "sign" to the body, where sign is
// base64(HmacSHA256(key = timestamp+"\n"+secret, message = empty)). Feishu
// rejects a timestamp more than an hour from its clock (code 19021). The
// body may be at most 20 KB; the limit is 100 messages a minute, 5 a
// second, per bot (code 11232 when exceeded). The reply is
// {"code":0,"msg":"success"} (older deployments: {"StatusCode":0});
// any other code is a refusal, in a 200.
type FeishuChannel struct{ s sender }

var _ Channel = (*FeishuChannel)(nil)

// feishuSpec: a custom bot address, …/open-apis/bot/v2/hook/<token>;
// 签名校验 is optional.
func feishuSpec() channelSpec {
	return channelSpec{
		checkURL: func(u *url.URL, target string) error {
			if hookToken(u) == "" {
				return fmt.Errorf("URL %s is not a custom bot address (…/open-apis/bot/v2/hook/<token>)", target)
			}
			return nil
		},
		secret: secretOptional,
		build:  func(s sender) Channel { return &FeishuChannel{s: s} },
	}
}

// Kind implements Channel.
func (c *FeishuChannel) Kind() string { return ChannelFeishu }

// feishuMaxText keeps the whole request under Feishu's 20 KB body limit.
const feishuMaxText = 18000

// FeishuSign computes the 签名校验 signature for a timestamp in seconds.
// Note the unusual construction: the string is the HMAC key, and the
// message is empty.
func FeishuSign(secret string, timestamp int64) string {
	m := hmac.New(sha256.New, []byte(strconv.FormatInt(timestamp, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

type feishuMessage struct {
	Timestamp string `json:"timestamp,omitempty"`
	Sign      string `json:"sign,omitempty"`
	MsgType   string `json:"msg_type"`
	Content   struct {
		Text string `json:"text"`
	} `json:"content"`
}

// feishuRetryable: 11232 is "frequency limited".
var feishuRetryable = map[int]time.Duration{
	11232: time.Minute,
}

// Send implements Channel.
func (c *FeishuChannel) Send(ctx context.Context, r *Rendered) (Attempt, error) {
	s := c.s
	a := Attempt{NoticeID: r.Notice.ID}
	var m feishuMessage
	m.MsgType = "text"
	m.Content.Text = truncateBytes(r.Text, feishuMaxText, "\n\n…")
	if s.secret != "" {
		ts := s.clock().Unix()
		m.Timestamp = strconv.FormatInt(ts, 10)
		m.Sign = FeishuSign(s.secret, ts)
		s.secrets = appendSigned(s.secrets, m.Sign)
	}
	body, err := marshalJSON(m)
	if err != nil {
		a.Channel, a.Target = s.kind, s.target
		return finish(&a, fmt.Errorf("feishu: encode notice %s: %w", r.Notice.ID, err))
	}
	rp, err := s.post(ctx, &a, s.u, body, nil)
	if err != nil {
		return s.transportFailure(&a, err)
	}
	if decided, err := s.classifyHTTP(&a, rp); decided {
		return finish(&a, err)
	}
	var res struct {
		Code       *int   `json:"code"`
		Msg        string `json:"msg"`
		StatusCode *int   `json:"StatusCode"`
		StatusMsg  string `json:"StatusMessage"`
	}
	if err := json.Unmarshal(rp.body, &res); err != nil || (res.Code == nil && res.StatusCode == nil) {
		a.Result = Retryable
		return finish(&a, fmt.Errorf("feishu: HTTP %d without a code; cannot confirm delivery", rp.status))
	}
	code, msg := 0, res.Msg
	if res.Code != nil {
		code = *res.Code
	} else {
		code, msg = *res.StatusCode, res.StatusMsg
	}
	return finish(&a, vendorCode(&a, "feishu", code, s.scrub(msg), feishuRetryable))
}
