package alerts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Channel kinds (the inventory's owner_channel, the configuration's provider.ops_channel.kind).
const (
	ChannelWebhook  = "webhook"
	ChannelDingTalk = "dingtalk"
	ChannelWeCom    = "wecom"
	ChannelFeishu   = "feishu"
	ChannelSlack    = "slack"
)

// ChannelKinds lists the channel kinds NewChannel accepts.
func ChannelKinds() []string {
	return []string{ChannelWebhook, ChannelDingTalk, ChannelWeCom, ChannelFeishu, ChannelSlack}
}

// Channel delivers a rendered notice to one destination. Implementations
// are small, one per file, and safe for concurrent use.
type Channel interface {
	// Kind is one of ChannelKinds.
	Kind() string
	// Send makes one delivery attempt. The Attempt is always filled in,
	// whatever happened; the error is nil exactly when the notice was
	// delivered, and then wraps what went wrong, without secrets. The
	// deadline travels in ctx (DefaultSendTimeout applies when ctx has
	// none).
	Send(ctx context.Context, r *Rendered) (Attempt, error)
}

// Result classifies an attempt for the daemon's retry policy.
type Result string

const (
	// Delivered: the receiver accepted the notice.
	Delivered Result = "delivered"
	// Retryable: a network error, a 5xx, a 429 or a vendor rate limit; try
	// again later (after RetryAfter when set).
	Retryable Result = "retryable"
	// Permanent: the receiver refused the notice (4xx, a vendor error code,
	// a bad signature); retrying the same request will not help.
	Permanent Result = "permanent"
)

// Attempt is what the audit trail keeps of one delivery attempt. Nothing
// in it carries a secret: the target is redacted and the response excerpt
// has the URL's tokens and the signing secret removed, and mobile numbers
// masked.
type Attempt struct {
	Channel    string        `json:"channel"`
	Target     string        `json:"target"` // RedactURL of the destination
	NoticeID   string        `json:"notice_id"`
	StartedAt  time.Time     `json:"started_at"`
	Duration   time.Duration `json:"duration_ns"`
	StatusCode int           `json:"status_code,omitempty"` // 0 when no response
	Result     Result        `json:"result"`
	// RetryAfter is how long the receiver asked us to wait (Retry-After,
	// or the vendor's documented rate-limit window); 0 when unknown.
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
	// VendorCode is the errcode/code of a DingTalk, WeCom or Feishu reply
	// when it is not 0.
	VendorCode string `json:"vendor_code,omitempty"`
	Response   string `json:"response,omitempty"` // body excerpt, secrets removed
	Error      string `json:"error,omitempty"`
	// Headers are the signed headers sent (webhook: notice id, timestamp,
	// signature); the signature proves the body without revealing the
	// secret.
	Headers map[string]string `json:"headers,omitempty"`
}

// DefaultSendTimeout bounds an attempt whose ctx has no deadline.
const DefaultSendTimeout = 15 * time.Second

const (
	maxResponseRead    = 64 << 10 // read at most this much of a reply
	maxResponseExcerpt = 512      // keep at most this much in the audit trail
)

// NewChannel builds a channel from configuration. url is the destination
// (for DingTalk, WeCom, Feishu and Slack the robot's webhook address, which
// itself carries a credential); secret is the signing secret already
// resolved from its environment variable: required for webhook, optional
// for dingtalk ("加签") and feishu (签名校验), and refused for wecom and
// slack, which have no signing. hc is the HTTP client to send with (the
// daemon passes its SSRF-safe egress client); clock gives signature
// timestamps (nil means time.Now).
func NewChannel(kind, rawURL, secret string, hc *http.Client, clock func() time.Time) (Channel, error) {
	if hc == nil {
		return nil, errors.New("new channel: an HTTP client is required")
	}
	if clock == nil {
		clock = time.Now
	}
	u, spec, err := checkChannel(kind, rawURL, secret != "")
	if err != nil {
		if ce := (*ChannelConfigError)(nil); errors.As(err, &ce) && ce.Field == "kind" {
			return nil, fmt.Errorf("new channel: %w", err)
		}
		return nil, fmt.Errorf("new %s channel: %w", kind, err)
	}
	base := sender{kind: kind, u: u, secret: secret, hc: noRedirects(hc), clock: clock}
	base.secrets = secretsOf(u, secret)
	base.target = RedactURL(rawURL)
	return spec.build(base), nil
}

// ValidateChannel checks a channel's configuration without building it, so
// that a configuration is refused when it loads rather than at its first
// notice: kind is one of ChannelKinds, rawURL the destination, and signed
// whether a signing secret is configured (its value may not be known yet).
// The error is a *ChannelConfigError naming the part at fault; it never
// echoes the URL's credentials.
func ValidateChannel(kind, rawURL string, signed bool) error {
	_, _, err := checkChannel(kind, rawURL, signed)
	return err
}

// ChannelConfigError is what is wrong with a channel's configuration.
type ChannelConfigError struct {
	// Field is the part at fault: "kind", "url" or "secret".
	Field string
	Err   error
}

func (e *ChannelConfigError) Error() string { return e.Err.Error() }
func (e *ChannelConfigError) Unwrap() error { return e.Err }

// channelSpec is one channel kind's own rules, defined next to the channel
// in its file: what its destination must look like, whether it is signed,
// and how it is built. NewChannel and ValidateChannel both go through it,
// so a configuration that validates is one that builds.
type channelSpec struct {
	// checkURL reports what is wrong with a destination that parsed as an
	// http(s) URL; target is the URL redacted for messages.
	checkURL func(u *url.URL, target string) error
	// secret says whether the kind signs: required, optional or refused,
	// and refusal says why.
	secret  secretRule
	refusal string
	build   func(s sender) Channel
}

type secretRule int

const (
	secretOptional secretRule = iota
	secretRequired
	secretRefused
)

// specOf is the spec of a channel kind.
func specOf(kind string) (*channelSpec, bool) {
	var s channelSpec
	switch kind {
	case ChannelWebhook:
		s = webhookSpec()
	case ChannelDingTalk:
		s = dingTalkSpec()
	case ChannelWeCom:
		s = weComSpec()
	case ChannelFeishu:
		s = feishuSpec()
	case ChannelSlack:
		s = slackSpec()
	default:
		return nil, false
	}
	return &s, true
}

// checkChannel parses and checks a channel's configuration: the URL's
// shape first, then the kind, then the kind's own rules.
func checkChannel(kind, rawURL string, signed bool) (*url.URL, *channelSpec, error) {
	spec, known := specOf(kind)
	u, err := parseTarget(rawURL)
	if err != nil {
		return nil, spec, &ChannelConfigError{Field: "url", Err: err}
	}
	if !known {
		return nil, nil, &ChannelConfigError{Field: "kind", Err: fmt.Errorf("unknown kind %q (want one of %s)", kind, strings.Join(ChannelKinds(), ", "))}
	}
	if spec.checkURL != nil {
		if err := spec.checkURL(u, RedactURL(rawURL)); err != nil {
			return nil, spec, &ChannelConfigError{Field: "url", Err: err}
		}
	}
	switch {
	case spec.secret == secretRequired && !signed, spec.secret == secretRefused && signed:
		return nil, spec, &ChannelConfigError{Field: "secret", Err: errors.New(spec.refusal)}
	}
	return u, spec, nil
}

func parseTarget(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse echoes the input; the input may hold a token.
		return nil, fmt.Errorf("URL %s does not parse", RedactURL(raw))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("URL %s must be http or https", RedactURL(raw))
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("URL %s has no host", RedactURL(raw))
	}
	if u.User != nil {
		return nil, fmt.Errorf("URL %s carries credentials; use the secret instead", RedactURL(raw))
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("URL %s has a fragment, which is never sent", RedactURL(raw))
	}
	return u, nil
}

// noRedirects copies the client so that a 3xx is returned, not followed:
// following a 301/302 turns the POST into a GET and drops the notice. The
// copy keeps the caller's transport (and its egress checks).
func noRedirects(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// sender holds what every channel shares: the destination, the secret and
// the machinery of one POST and its classification.
type sender struct {
	kind    string
	u       *url.URL
	target  string // redacted
	secret  string
	secrets []string // strings that must never reach the audit trail
	hc      *http.Client
	clock   func() time.Time
}

// reply is a response read back for classification.
type reply struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to u and fills in the attempt's transport facts. It
// returns the reply, or an error (already redacted) when there was none.
func (s *sender) post(ctx context.Context, a *Attempt, u *url.URL, body []byte, header http.Header) (*reply, error) {
	a.Channel, a.Target = s.kind, s.target
	a.StartedAt = s.clock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSendTimeout)
		defer cancel()
	}
	start := time.Now()
	defer func() { a.Duration = time.Since(start) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, s.redactErr(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "beianwatch-notifier")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, s.redactErr(err)
	}
	defer resp.Body.Close()
	// A body cut short by a network error is classified on what arrived:
	// the status line is already in, and vendor replies that fail to parse
	// are never taken for success.
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	a.StatusCode = resp.StatusCode
	a.Response = s.excerpt(b)
	return &reply{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// classifyHTTP applies the status-code rules shared by every channel and
// reports whether the status alone decided the attempt.
func (s *sender) classifyHTTP(a *Attempt, rp *reply) (decided bool, err error) {
	switch {
	case rp.status == http.StatusTooManyRequests:
		a.Result = Retryable
		a.RetryAfter = parseRetryAfter(rp.header.Get("Retry-After"), s.clock())
		return true, fmt.Errorf("%s: rate limited (HTTP 429), retry after %s", s.kind, a.RetryAfter)
	case rp.status == http.StatusRequestTimeout:
		a.Result = Retryable
		return true, fmt.Errorf("%s: HTTP 408 request timeout", s.kind)
	case rp.status >= 500:
		a.Result = Retryable
		a.RetryAfter = parseRetryAfter(rp.header.Get("Retry-After"), s.clock())
		return true, fmt.Errorf("%s: server error HTTP %d", s.kind, rp.status)
	case rp.status >= 300 && rp.status < 400:
		a.Result = Permanent
		return true, fmt.Errorf("%s: HTTP %d redirect not followed (a redirected POST loses its body); fix the URL", s.kind, rp.status)
	case rp.status >= 400:
		a.Result = Permanent
		return true, fmt.Errorf("%s: refused with HTTP %d", s.kind, rp.status)
	case rp.status < 200:
		a.Result = Retryable
		return true, fmt.Errorf("%s: unexpected HTTP %d", s.kind, rp.status)
	}
	return false, nil
}

// transportFailure records an attempt that got no response.
func (s *sender) transportFailure(a *Attempt, err error) (Attempt, error) {
	a.Result = Retryable
	if isPermanentErr(err) {
		a.Result = Permanent
	}
	err = fmt.Errorf("%s: send: %w", s.kind, err)
	a.Error = err.Error()
	return *a, err
}

// finish records the outcome of an attempt that got a response.
func finish(a *Attempt, err error) (Attempt, error) {
	if err != nil {
		a.Error = err.Error()
		if a.Result == "" {
			a.Result = Permanent
		}
		return *a, err
	}
	a.Result = Delivered
	return *a, nil
}

// isPermanentErr lets the egress layer mark its refusals (a destination
// that resolves to a private address, say) as not worth retrying: any
// error in the chain with a Permanent() bool method returning true.
func isPermanentErr(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// parseRetryAfter reads delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
// Unparseable or past values give 0: "no advice", not "now".
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		const maxSeconds = 7 * 24 * 60 * 60 // a week: beyond that it is nonsense
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// excerpt keeps the start of a response for the audit trail, valid UTF-8,
// with every secret replaced.
func (s *sender) excerpt(b []byte) string {
	str := strings.ToValidUTF8(string(b), "\uFFFD")
	str = s.scrub(str)
	if len(str) > maxResponseExcerpt {
		cut := maxResponseExcerpt
		for cut > 0 && !utf8.RuneStart(str[cut]) {
			cut--
		}
		str = str[:cut] + "…"
	}
	return str
}

// scrub removes the secrets, and masks mobile numbers: receivers echo
// what we sent them (the notice names the entity, which may hold a
// number), and what we keep of their reply reaches logs and the API.
func (s *sender) scrub(str string) string {
	for _, sec := range s.secrets {
		str = strings.ReplaceAll(str, sec, "REDACTED")
	}
	return maskPhones(str)
}

// redactErr removes the URL (which carries tokens and signatures) from
// net/http errors, and any secret from the text of others.
func (s *sender) redactErr(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		c := *ue
		c.URL = s.target
		err = &c
	}
	msg := err.Error()
	if clean := s.scrub(msg); clean != msg {
		return &redactedError{msg: clean, err: err}
	}
	return err
}

// redactedError keeps the wrapped error for errors.Is/As but prints the
// scrubbed text.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// secretsOf lists what must be scrubbed from anything we keep: the signing
// secret, every query value and the token path segment of the URL.
func secretsOf(u *url.URL, secret string) []string {
	var out []string
	add := func(s string) {
		// Very short values (a "1" in ?v=1) would shred the excerpt and
		// cannot be credentials worth hiding.
		if len(s) >= 6 {
			out = append(out, s)
			if esc := url.QueryEscape(s); esc != s {
				out = append(out, esc)
			}
		}
	}
	add(secret)
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v)
		}
	}
	segs := strings.Split(u.Path, "/")
	for i, seg := range segs {
		if secretSegment(u, segs, i) {
			add(seg)
		}
	}
	return out
}
