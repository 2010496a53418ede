package checks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// PhoneStatus is a number's state as the number-status provider reports it
// (docs/contact.md).
type PhoneStatus string

const (
	PhoneOK          PhoneStatus = "ok"
	PhoneVacant      PhoneStatus = "vacant"      // 空号: the number does not exist
	PhoneSuspended   PhoneStatus = "suspended"   // 停机
	PhonePoweredOff  PhoneStatus = "powered_off" // 关机
	PhoneUnreachable PhoneStatus = "unreachable" // 无法接通
	PhoneUnknown     PhoneStatus = "unknown"     // the provider could not tell
)

// ParsePhoneStatus accepts the contract's status names (case and
// surrounding spaces aside).
func ParsePhoneStatus(s string) (PhoneStatus, bool) {
	switch st := PhoneStatus(strings.ToLower(strings.TrimSpace(s))); st {
	case PhoneOK, PhoneVacant, PhoneSuspended, PhonePoweredOff, PhoneUnreachable, PhoneUnknown:
		return st, true
	}
	return "", false
}

// Bad reports whether the status makes the contact a violation.
func (s PhoneStatus) Bad() bool {
	switch s {
	case PhoneVacant, PhoneSuspended, PhonePoweredOff, PhoneUnreachable:
		return true
	}
	return false
}

// PhoneCache remembers provider answers per E.164 number: one number often
// serves many sites and every lookup costs money. The daemon backs it with
// its store; MemoryPhoneCache serves one-shot runs.
type PhoneCache interface {
	Get(ctx context.Context, e164 string) (status string, ok bool, err error)
	Put(ctx context.Context, e164, status string, ttl time.Duration) error
}

// Default cache lifetimes: a working number rarely dies within a month; a
// bad one is worth asking again the next day, since the owner may have
// fixed it (and a notice should resolve promptly).
const (
	DefaultPhoneOKTTL  = 30 * 24 * time.Hour
	DefaultPhoneBadTTL = 24 * time.Hour
)

const (
	// phoneRequestTimeout bounds one provider call when the caller's
	// context has no deadline.
	phoneRequestTimeout = 10 * time.Second
	// phoneMaxBody caps what we read from the provider.
	phoneMaxBody = 64 << 10
)

var (
	// ErrNoPhoneToken: the client refuses to call the provider without a token.
	ErrNoPhoneToken = errors.New("no number-status provider token configured")
	// ErrNotE164 is returned for a number that is not in E.164 form; only
	// E.164 numbers are ever sent to the provider.
	ErrNotE164 = errors.New("not an E.164 number")
)

var e164Pattern = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

// PhoneStatusClient asks a number-status provider, through the generic
// contract, whether numbers are in service:
//
//	POST <url>   Authorization: Bearer <token>   {"number": "+8613812345678"}
//	200          {"status": "ok|vacant|suspended|powered_off|unreachable|unknown"}
//
// Lookups are cached, rate-limited on our side, and concurrent lookups of
// one number share a single call. The token never appears in logs, errors or
// the client's printed form. Safe for concurrent use.
type PhoneStatusClient struct {
	endpoint  string
	host      string // for logs: the URL may carry a vendor key in its query
	token     string
	hc        *http.Client
	limiter   *rate.Limiter
	cache     PhoneCache
	clock     func() time.Time
	okTTL     time.Duration
	badTTL    time.Duration
	landlines bool
	log       *slog.Logger
	flights   singleflight.Group
}

// PhoneStatusOption adjusts a PhoneStatusClient.
type PhoneStatusOption func(*PhoneStatusClient)

// WithPhoneCacheTTL sets how long ok and bad (vacant, suspended, powered
// off, unreachable) answers are cached. Unknown answers and errors are never
// cached. A zero or negative TTL disables caching of that kind.
func WithPhoneCacheTTL(ok, bad time.Duration) PhoneStatusOption {
	return func(c *PhoneStatusClient) { c.okTTL, c.badTTL = ok, bad }
}

// WithPhoneLogger sends the client's logs (numbers masked) to l.
func WithPhoneLogger(l *slog.Logger) PhoneStatusOption {
	return func(c *PhoneStatusClient) {
		if l != nil {
			c.log = l
		}
	}
}

// WithLandlineLookups also sends landlines to the provider. Off by default:
// the number-status services we know of cover mobiles only, so landline
// lookups would cost money and come back unknown.
func WithLandlineLookups() PhoneStatusOption {
	return func(c *PhoneStatusClient) { c.landlines = true }
}

// NewPhoneStatusClient builds a client for the provider at rawURL.
//
//   - token: the provider's bearer token (read from the environment by the
//     caller); required, the client never calls without one.
//   - hc: the HTTP client, normally the egress package's SSRF-safe client;
//     required. Redirects are not followed, so numbers and the token go only
//     to the configured host.
//   - limiter: client-side rate limit; nil means 5 lookups a second.
//   - cache: nil means a fresh MemoryPhoneCache.
//   - clock: nil means time.Now.
//
// The URL must be https, except on a loopback host (tests, a local adapter).
func NewPhoneStatusClient(rawURL, token string, hc *http.Client, limiter *rate.Limiter, cache PhoneCache, clock func() time.Time, opts ...PhoneStatusOption) (*PhoneStatusClient, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil {
		return nil, fmt.Errorf("number-status provider URL: %w", err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("number-status provider URL must be an absolute http(s) URL")
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("number-status provider URL must use https (the token and numbers would travel in clear to %s)", u.Hostname())
	}
	if u.User != nil {
		return nil, errors.New("number-status provider URL must not carry credentials; pass the token separately")
	}
	if strings.TrimSpace(token) == "" {
		return nil, ErrNoPhoneToken
	}
	if hc == nil {
		return nil, errors.New("number-status provider: an HTTP client is required")
	}
	// A copy so that our redirect policy does not change the caller's client.
	noRedirect := *hc
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if limiter == nil {
		limiter = rate.NewLimiter(5, 1)
	}
	if clock == nil {
		clock = time.Now
	}
	if cache == nil {
		cache = NewMemoryPhoneCache(clock)
	}
	c := &PhoneStatusClient{
		endpoint: u.String(),
		host:     u.Host,
		token:    strings.TrimSpace(token),
		hc:       &noRedirect,
		limiter:  limiter,
		cache:    cache,
		clock:    clock,
		okTTL:    DefaultPhoneOKTTL,
		badTTL:   DefaultPhoneBadTTL,
		log:      slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// String describes the client without its token.
func (c *PhoneStatusClient) String() string {
	if c == nil {
		return "PhoneStatusClient(nil)"
	}
	return "PhoneStatusClient(" + c.host + ")"
}

// GoString keeps %#v from printing the token.
func (c *PhoneStatusClient) GoString() string { return c.String() }

// Covers reports whether the client looks up numbers of this kind.
func (c *PhoneStatusClient) Covers(p Phone) bool {
	return p.Kind == PhoneMobile || c.landlines
}

// Lookup returns the provider's status for an E.164 number, from the cache
// when it is fresh. PhoneUnknown with a nil error means the provider
// answered but could not tell; an error means we could not find out (no
// token, rate limit, timeout, HTTP error, malformed answer). Either way the
// caller cannot tell, which is inconclusive, never a violation. Errors and
// logs carry the masked number only.
func (c *PhoneStatusClient) Lookup(ctx context.Context, e164 string) (PhoneStatus, error) {
	masked := MaskPhone(e164)
	if !e164Pattern.MatchString(e164) {
		return "", fmt.Errorf("number-status lookup of %s: %w", masked, ErrNotE164)
	}
	if c.token == "" {
		return "", ErrNoPhoneToken
	}
	if st, ok := c.cached(ctx, e164, masked); ok {
		return st, nil
	}
	ch := c.flights.DoChan(e164, func() (any, error) {
		// The call is shared with every concurrent lookup of this number,
		// so it must not die with the first caller's cancellation; it
		// keeps that caller's deadline (or a default) as its bound.
		fctx := context.WithoutCancel(ctx)
		var cancel context.CancelFunc
		if dl, ok := ctx.Deadline(); ok {
			fctx, cancel = context.WithDeadline(fctx, dl)
		} else {
			fctx, cancel = context.WithTimeout(fctx, phoneRequestTimeout)
		}
		defer cancel()
		// Another flight may have filled the cache since we looked.
		if st, ok := c.cached(fctx, e164, masked); ok {
			return st, nil
		}
		return c.fetch(fctx, e164, masked)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return "", r.Err
		}
		return r.Val.(PhoneStatus), nil
	case <-ctx.Done():
		return "", fmt.Errorf("number-status lookup of %s: %w", masked, describeCallError(ctx, ctx.Err()))
	}
}

func (c *PhoneStatusClient) cached(ctx context.Context, e164, masked string) (PhoneStatus, bool) {
	s, ok, err := c.cache.Get(ctx, e164)
	if err != nil {
		// A broken cache costs money, not correctness: ask the provider.
		c.log.WarnContext(ctx, "number-status cache read failed", "number", masked, "err", maskNumbersIn(err.Error()))
		return "", false
	}
	if !ok {
		return "", false
	}
	st, valid := ParsePhoneStatus(s)
	if !valid || st == PhoneUnknown {
		return "", false
	}
	c.log.DebugContext(ctx, "number status", "number", masked, "status", string(st), "source", "cache")
	return st, true
}

func (c *PhoneStatusClient) fetch(ctx context.Context, e164, masked string) (PhoneStatus, error) {
	if err := c.limiter.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("number-status lookup of %s: waiting for the client-side rate limit: %w", masked, ctx.Err())
		} else {
			err = fmt.Errorf("number-status lookup of %s: the client-side rate limit leaves no time before the deadline", masked)
		}
		c.log.WarnContext(ctx, "number-status lookup skipped", "number", masked, "err", err.Error())
		return "", err
	}
	st, err := c.call(ctx, e164)
	if err != nil {
		err = fmt.Errorf("number-status lookup of %s: %w", masked, err)
		c.log.WarnContext(ctx, "number-status lookup failed", "provider", c.host, "number", masked, "err", err.Error())
		return "", err
	}
	c.log.DebugContext(ctx, "number status", "number", masked, "status", string(st), "source", "provider")
	ttl := time.Duration(0)
	switch {
	case st == PhoneOK:
		ttl = c.okTTL
	case st.Bad():
		ttl = c.badTTL
	}
	if ttl > 0 {
		if err := c.cache.Put(ctx, e164, string(st), ttl); err != nil {
			c.log.WarnContext(ctx, "number-status cache write failed", "number", masked, "err", maskNumbersIn(err.Error()))
		}
	}
	return st, nil
}

// call performs one provider request. Its errors never include the token,
// the URL's query, the number or the provider's body.
func (c *PhoneStatusClient) call(ctx context.Context, e164 string) (PhoneStatus, error) {
	body, err := json.Marshal(struct {
		Number string `json:"number"`
	}{e164})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", errors.New("building the request failed")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "beianwatch")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", describeCallError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, phoneMaxBody+1))
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", describeCallError(ctx, err))
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", fmt.Errorf("provider rejected the token (HTTP %d)", resp.StatusCode)
	case resp.StatusCode == http.StatusTooManyRequests:
		return "", errors.New("provider is rate limiting us (HTTP 429)")
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return "", fmt.Errorf("provider answered a redirect (HTTP %d), which is not followed", resp.StatusCode)
	case resp.StatusCode >= 500:
		return "", fmt.Errorf("provider error (HTTP %d)", resp.StatusCode)
	default:
		return "", fmt.Errorf("unexpected provider answer (HTTP %d)", resp.StatusCode)
	}
	if len(data) > phoneMaxBody {
		return "", fmt.Errorf("malformed provider answer: larger than %d bytes", phoneMaxBody)
	}
	var ans struct {
		Status *string `json:"status"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&ans); err != nil {
		return "", fmt.Errorf("malformed provider answer: %s", jsonProblem(err))
	}
	if dec.More() {
		return "", errors.New("malformed provider answer: data after the JSON object")
	}
	if ans.Status == nil {
		return "", errors.New(`malformed provider answer: no "status" field`)
	}
	st, ok := ParsePhoneStatus(*ans.Status)
	if !ok {
		// A misbehaving adapter may echo the request, Authorization
		// header included, into the field we quote.
		v := maskNumbersIn(strings.ReplaceAll(*ans.Status, c.token, "REDACTED"))
		if r := []rune(v); len(r) > 40 {
			v = string(r[:40]) + "…"
		}
		return "", fmt.Errorf("malformed provider answer: unknown status %q", v)
	}
	return st, nil
}

// describeCallError turns a transport error into a short reason without the
// request URL (whose query may hold a vendor key).
func describeCallError(ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("provider timed out: %w", context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("lookup cancelled: %w", context.Canceled)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("provider timed out: %w", err)
	}
	return fmt.Errorf("provider unreachable: %s", maskNumbersIn(err.Error()))
}

// jsonProblem describes a decoding error without quoting the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q is a %s, not a string", te.Field, te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated body"
	}
	return "not a JSON object"
}

// MemoryPhoneCache is an in-process PhoneCache for one-shot runs
// (beianwatch check, audit). Expired entries are dropped as they are met and
// swept when the map grows.
type MemoryPhoneCache struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]memoryPhoneEntry
	sweepAt int
}

type memoryPhoneEntry struct {
	status  string
	expires time.Time
}

var _ PhoneCache = (*MemoryPhoneCache)(nil)

// NewMemoryPhoneCache returns an empty cache reading time from clock (nil
// means time.Now).
func NewMemoryPhoneCache(clock func() time.Time) *MemoryPhoneCache {
	if clock == nil {
		clock = time.Now
	}
	return &MemoryPhoneCache{now: clock, entries: map[string]memoryPhoneEntry{}, sweepAt: 1024}
}

// Get returns the cached status while it is fresh.
func (m *MemoryPhoneCache) Get(_ context.Context, e164 string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[e164]
	if !ok {
		return "", false, nil
	}
	if !m.now().Before(e.expires) {
		delete(m.entries, e164)
		return "", false, nil
	}
	return e.status, true, nil
}

// Put stores status for ttl; a non-positive ttl removes the entry.
func (m *MemoryPhoneCache) Put(_ context.Context, e164, status string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl <= 0 {
		delete(m.entries, e164)
		return nil
	}
	now := m.now()
	m.entries[e164] = memoryPhoneEntry{status: status, expires: now.Add(ttl)}
	if len(m.entries) >= m.sweepAt {
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
		m.sweepAt = max(1024, 2*len(m.entries))
	}
	return nil
}

// Len is the number of entries held, expired ones included until swept.
func (m *MemoryPhoneCache) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
