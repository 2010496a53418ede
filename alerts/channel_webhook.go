package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Headers of the generic webhook (docs/webhooks.md; receiver guide in
// docs/webhooks.md).
const (
	HeaderNoticeID  = "X-Beianwatch-Notice-Id"
	HeaderTimestamp = "X-Beianwatch-Timestamp"
	HeaderSignature = "X-Beianwatch-Signature"
)

// WebhookChannel posts the notice as signed JSON to the owner's endpoint.
type WebhookChannel struct{ s sender }

var _ Channel = (*WebhookChannel)(nil)

// webhookSpec: any http(s) destination; always signed, because receivers
// verify X-Beianwatch-Signature.
func webhookSpec() channelSpec {
	return channelSpec{
		secret:  secretRequired,
		refusal: "a signing secret is required (receivers verify X-Beianwatch-Signature)",
		build:   func(s sender) Channel { return &WebhookChannel{s: s} },
	}
}

// Kind implements Channel.
func (c *WebhookChannel) Kind() string { return ChannelWebhook }

// WebhookPayload is the JSON body of the generic webhook (docs/webhooks.md, with
// more fields). Times are RFC 3339 in UTC.
type WebhookPayload struct {
	ID         string             `json:"id"`
	Kind       string             `json:"kind"` // owner | ops
	Type       string             `json:"type"` // rectification | escalation | storm
	Site       *SiteRef           `json:"site,omitempty"`
	Provider   string             `json:"provider,omitempty"`
	Violations []WebhookViolation `json:"violations"`
	Storm      *WebhookStorm      `json:"storm,omitempty"`
	Language   string             `json:"language"`
	SentAt     string             `json:"sent_at"`
	Title      string             `json:"title"`
	Text       string             `json:"text"` // the whole notice, both languages, plain text
}

// WebhookViolation is one violation change in a WebhookPayload, with its
// title and fix in the notice's primary language.
type WebhookViolation struct {
	Code       string `json:"code"`
	Transition string `json:"transition"`
	Severity   string `json:"severity,omitempty"`
	Title      string `json:"title"`
	Evidence   string `json:"evidence"`
	Fix        string `json:"fix"`
	OpenedAt   string `json:"opened_at"`
	Deadline   string `json:"deadline,omitempty"`
	ResolvedAt string `json:"resolved_at,omitempty"`
}

// WebhookStorm describes a storm-guard event in a WebhookPayload.
type WebhookStorm struct {
	Check   string  `json:"check"`
	Failing int     `json:"failing"`
	Total   int     `json:"total"`
	Share   float64 `json:"share"`
	Held    int     `json:"held"`
	Since   string  `json:"since,omitempty"`
	// Inconclusive: most checks were inconclusive (the checker's own
	// resolver or network failing); Failing counts those checks.
	Inconclusive bool `json:"inconclusive,omitempty"`
	// Ended is when such a storm ended, on the notice that says so.
	Ended string `json:"ended,omitempty"`
}

func utc(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// NewWebhookPayload builds the webhook body of a rendered notice.
func NewWebhookPayload(r *Rendered) WebhookPayload {
	n := r.Notice
	p := WebhookPayload{
		ID: n.ID, Kind: n.Kind, Type: n.Type, Provider: n.Provider,
		Violations: []WebhookViolation{},
		Language:   r.Language, SentAt: utc(n.SentAt),
		Title: r.Title, Text: r.Text,
	}
	if n.Site != (SiteRef{}) {
		site := n.Site
		p.Site = &site
	}
	for _, v := range r.Violations {
		wv := WebhookViolation{
			Code: v.Code, Transition: v.Transition, Severity: v.Severity,
			Title: v.Title, Evidence: maskPhones(v.Evidence), Fix: v.Fix,
			OpenedAt: utc(v.OpenedAt), Deadline: utc(v.Deadline),
		}
		if v.ResolvedAt != nil {
			wv.ResolvedAt = utc(*v.ResolvedAt)
		}
		p.Violations = append(p.Violations, wv)
	}
	if s := n.Storm; s != nil {
		p.Storm = &WebhookStorm{Check: s.Check, Failing: s.Failing, Total: s.Total,
			Share: s.Share(), Held: s.Held, Since: utc(s.Since), Inconclusive: s.Inconclusive, Ended: utc(s.Ended)}
	}
	return p
}

// SignWebhook computes the X-Beianwatch-Signature value: "sha256=" and the
// hex HMAC-SHA256, keyed by secret, of "<timestamp>.<body>".
func SignWebhook(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// marshalJSON encodes without HTML escaping: evidence is HTML, and
// receivers read it more easily as written. Both forms are valid JSON.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Send implements Channel. The body is the same on every attempt (the
// notice's sent_at, not the attempt's time, is in it); the timestamp and
// signature headers are fresh each time.
func (c *WebhookChannel) Send(ctx context.Context, r *Rendered) (Attempt, error) {
	a := Attempt{NoticeID: r.Notice.ID}
	body, err := marshalJSON(NewWebhookPayload(r))
	if err != nil {
		a.Channel, a.Target, a.Result = c.s.kind, c.s.target, Permanent
		return finish(&a, fmt.Errorf("webhook: encode notice %s: %w", r.Notice.ID, err))
	}
	ts := c.s.clock().Unix()
	h := http.Header{}
	h.Set(HeaderNoticeID, r.Notice.ID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, SignWebhook(c.s.secret, ts, body))
	a.Headers = map[string]string{
		HeaderNoticeID: h.Get(HeaderNoticeID), HeaderTimestamp: h.Get(HeaderTimestamp), HeaderSignature: h.Get(HeaderSignature),
	}
	rp, err := c.s.post(ctx, &a, c.s.u, body, h)
	if err != nil {
		return c.s.transportFailure(&a, err)
	}
	if decided, err := c.s.classifyHTTP(&a, rp); decided {
		return finish(&a, err)
	}
	return finish(&a, nil)
}
