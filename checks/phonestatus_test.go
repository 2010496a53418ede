package checks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/syncbuf"
	"github.com/beianwatch/beianwatch/internal/testclock"

	"golang.org/x/time/rate"
)

const testPhoneToken = "tok-3f9a-secret-value"

// newContactClock is the clock the contact tests move by hand.
func newContactClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
}

// fakePhoneProvider speaks the generic number-status contract. It fails the test
// if a request lacks the token or carries anything but an E.164 number, and
// answers per number with a fixture body, a status code or a delay.
type fakePhoneProvider struct {
	t     testing.TB
	srv   *httptest.Server
	calls atomic.Int64
	// answer returns the HTTP status and body for a number.
	answer func(number string, r *http.Request) (int, string)
	mu     sync.Mutex
	seen   []string
}

func newFakePhoneProvider(t testing.TB, answer func(number string, r *http.Request) (int, string)) *fakePhoneProvider {
	t.Helper()
	fp := &fakePhoneProvider{t: t, answer: answer}
	fp.srv = httptest.NewServer(http.HandlerFunc(fp.serve))
	t.Cleanup(fp.srv.Close)
	return fp
}

func (fp *fakePhoneProvider) serve(w http.ResponseWriter, r *http.Request) {
	fp.calls.Add(1)
	if r.Method != http.MethodPost {
		fp.t.Errorf("provider got method %s, want POST", r.Method)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testPhoneToken {
		fp.t.Errorf("provider got Authorization %q, want the bearer token", got)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		fp.t.Errorf("provider got Content-Type %q", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fp.t.Errorf("provider got a non-JSON body: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	num, _ := body["number"].(string)
	if len(body) != 1 || !e164Pattern.MatchString(num) {
		fp.t.Errorf("provider got %v, want exactly {\"number\": <E.164>}", body)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	fp.mu.Lock()
	fp.seen = append(fp.seen, num)
	fp.mu.Unlock()
	code, resp := fp.answer(num, r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(resp))
}

func contactFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "contact", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newTestStatusClient(t *testing.T, url string, limiter *rate.Limiter, cache PhoneCache, clock func() time.Time, opts ...PhoneStatusOption) *PhoneStatusClient {
	t.Helper()
	if limiter == nil {
		limiter = rate.NewLimiter(rate.Inf, 1)
	}
	c, err := NewPhoneStatusClient(url, testPhoneToken, &http.Client{Timeout: 5 * time.Second}, limiter, cache, clock, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPhoneStatusContract(t *testing.T) {
	// Each mobile number of the 1380000xxxx block gets one behaviour.
	behaviours := map[string]func(r *http.Request) (int, string){
		"+8613800000001": func(*http.Request) (int, string) { return 200, contactFixture(t, "status_ok.json") },
		"+8613800000002": func(*http.Request) (int, string) { return 200, `{"status":"vacant"}` },
		"+8613800000003": func(*http.Request) (int, string) { return 200, `{"status":"suspended"}` },
		"+8613800000004": func(*http.Request) (int, string) { return 200, `{"status":"powered_off"}` },
		"+8613800000005": func(*http.Request) (int, string) { return 200, `{"status":"unreachable"}` },
		"+8613800000006": func(*http.Request) (int, string) { return 200, `{"status":"unknown"}` },
		"+8613800000007": func(*http.Request) (int, string) { return 200, ` {"status": "Powered_Off", "carrier": "CMCC"} ` },
		"+8613800000010": func(*http.Request) (int, string) { return 401, `{"error":"bad token"}` },
		"+8613800000011": func(*http.Request) (int, string) { return 500, "internal error" },
		"+8613800000012": func(*http.Request) (int, string) { return 429, "" },
		"+8613800000013": func(*http.Request) (int, string) { return 200, contactFixture(t, "status_malformed.txt") },
		"+8613800000014": func(*http.Request) (int, string) { return 200, `{"status": 3}` },
		"+8613800000015": func(*http.Request) (int, string) { return 200, `{"state": "ok"}` },
		"+8613800000016": func(*http.Request) (int, string) { return 200, `{"status": "alive"}` },
		"+8613800000017": func(*http.Request) (int, string) { return 200, `` },
		"+8613800000018": func(*http.Request) (int, string) { return 200, `{"status":"ok"}{"status":"vacant"}` },
		"+8613800000019": func(*http.Request) (int, string) { return 302, `` },
		"+8613800000020": func(*http.Request) (int, string) { return 404, `no such route` },
		"+8613800000021": func(r *http.Request) (int, string) {
			select { // slow: answer only after the client gave up
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			return 200, `{"status":"vacant"}`
		},
	}
	fp := newFakePhoneProvider(t, func(n string, r *http.Request) (int, string) {
		if b, ok := behaviours[n]; ok {
			return b(r)
		}
		t.Errorf("unexpected number %s", MaskPhone(n))
		return 500, ""
	})
	cases := []struct {
		number    string
		want      PhoneStatus
		errSubstr string
	}{
		{"+8613800000001", PhoneOK, ""},
		{"+8613800000002", PhoneVacant, ""},
		{"+8613800000003", PhoneSuspended, ""},
		{"+8613800000004", PhonePoweredOff, ""},
		{"+8613800000005", PhoneUnreachable, ""},
		{"+8613800000006", PhoneUnknown, ""},
		{"+8613800000007", PhonePoweredOff, ""},
		{"+8613800000010", "", "provider rejected the token (HTTP 401)"},
		{"+8613800000011", "", "provider error (HTTP 500)"},
		{"+8613800000012", "", "rate limiting us (HTTP 429)"},
		{"+8613800000013", "", "malformed provider answer: not JSON"},
		{"+8613800000014", "", `malformed provider answer: field "status" is a number`},
		{"+8613800000015", "", `malformed provider answer: no "status" field`},
		{"+8613800000016", "", `malformed provider answer: unknown status "alive"`},
		{"+8613800000017", "", "malformed provider answer: empty or truncated body"},
		{"+8613800000018", "", "malformed provider answer: data after the JSON object"},
		{"+8613800000019", "", "redirect (HTTP 302), which is not followed"},
		{"+8613800000020", "", "unexpected provider answer (HTTP 404)"},
		{"+8613800000021", "", "timed out"},
	}
	var logs syncbuf.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newTestStatusClient(t, fp.srv.URL, nil, nil, nil, WithPhoneLogger(logger))
	for _, tc := range cases {
		t.Run(tc.number[len(tc.number)-2:], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			got, err := c.Lookup(ctx, tc.number)
			if tc.errSubstr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("Lookup = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Lookup = %q, want an error containing %q", got, tc.errSubstr)
			}
			if !strings.Contains(err.Error(), tc.errSubstr) {
				t.Errorf("error %q does not contain %q", err, tc.errSubstr)
			}
			if tc.errSubstr == "timed out" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("timeout error %v does not wrap context.DeadlineExceeded", err)
			}
			if strings.Contains(err.Error(), testPhoneToken) || strings.Contains(err.Error(), tc.number[3:]) {
				t.Errorf("error leaks the token or the number: %q", err)
			}
		})
	}
	for _, s := range []string{logs.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, testPhoneToken) {
			t.Errorf("token leaked: %s", s)
		}
		if strings.Contains(s, "13800000") {
			t.Errorf("number leaked: %s", s)
		}
	}
}

func TestPhoneStatusRefusesWithoutTokenOrE164(t *testing.T) {
	fp := newFakePhoneProvider(t, func(string, *http.Request) (int, string) { return 200, `{"status":"ok"}` })
	if _, err := NewPhoneStatusClient(fp.srv.URL, "  ", http.DefaultClient, nil, nil, nil); !errors.Is(err, ErrNoPhoneToken) {
		t.Errorf("constructor without token: %v, want ErrNoPhoneToken", err)
	}
	// A zero client (no token) must refuse before touching anything.
	if _, err := new(PhoneStatusClient).Lookup(context.Background(), "+8613812345678"); !errors.Is(err, ErrNoPhoneToken) {
		t.Errorf("zero client: %v, want ErrNoPhoneToken", err)
	}
	c := newTestStatusClient(t, fp.srv.URL, nil, nil, nil)
	for _, n := range []string{"13812345678", "8613812345678", "+86 138 1234 5678", "", "+86138123456789999", "tel:+8613812345678"} {
		_, err := c.Lookup(context.Background(), n)
		if !errors.Is(err, ErrNotE164) {
			t.Errorf("Lookup(%q) = %v, want ErrNotE164", n, err)
		}
		if err != nil && n != "" && strings.Contains(err.Error(), "12345678") {
			t.Errorf("error leaks the number: %v", err)
		}
	}
	if n := fp.calls.Load(); n != 0 {
		t.Errorf("provider called %d times, want 0", n)
	}
}

func TestNewPhoneStatusClientValidation(t *testing.T) {
	hc := http.DefaultClient
	cases := []struct {
		url       string
		hc        *http.Client
		errSubstr string
	}{
		{"https://phone.example.cn/v1/status", hc, ""},
		{"http://127.0.0.1:8080/status", hc, ""},
		{"http://localhost/status", hc, ""},
		{"http://phone.example.cn/v1/status", hc, "must use https"},
		{"ftp://phone.example.cn/", hc, "absolute http(s) URL"},
		{"/status", hc, "absolute http(s) URL"},
		{"https://user:pw@phone.example.cn/", hc, "must not carry credentials"},
		{"https://phone.example.cn/", nil, "HTTP client is required"},
	}
	for _, tc := range cases {
		_, err := NewPhoneStatusClient(tc.url, testPhoneToken, tc.hc, nil, nil, nil)
		if tc.errSubstr == "" && err != nil {
			t.Errorf("%s: %v", tc.url, err)
		}
		if tc.errSubstr != "" && (err == nil || !strings.Contains(err.Error(), tc.errSubstr)) {
			t.Errorf("%s: error %v, want %q", tc.url, err, tc.errSubstr)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("error leaks URL credentials: %v", err)
		}
	}
}

func TestPhoneStatusCacheTTL(t *testing.T) {
	status := map[string]string{"+8613812345678": "ok", "+8613912345678": "vacant", "+8615012345678": "unknown"}
	fp := newFakePhoneProvider(t, func(n string, _ *http.Request) (int, string) {
		if n == "+8618612345678" {
			return 503, ""
		}
		return 200, `{"status":"` + status[n] + `"}`
	})
	clock := newContactClock()
	cache := NewMemoryPhoneCache(clock.Now)
	c := newTestStatusClient(t, fp.srv.URL, nil, cache, clock.Now)
	ctx := context.Background()
	lookup := func(n string) {
		t.Helper()
		if _, err := c.Lookup(ctx, n); err != nil && n != "+8618612345678" {
			t.Fatal(err)
		}
	}
	steps := []struct {
		advance time.Duration
		number  string
		calls   int64 // provider calls so far
	}{
		{0, "+8613812345678", 1},                   // ok: asked
		{0, "+8613812345678", 1},                   // cached
		{29 * 24 * time.Hour, "+8613812345678", 1}, // still fresh at 29 days
		{2 * 24 * time.Hour, "+8613812345678", 2},  // expired after 30 days
		{0, "+8613912345678", 3},                   // vacant: asked
		{23 * time.Hour, "+8613912345678", 3},      // cached for a day
		{2 * time.Hour, "+8613912345678", 4},       // asked again the next day
		{0, "+8615012345678", 5},                   // unknown: asked
		{0, "+8615012345678", 6},                   // never cached
		{0, "+8618612345678", 7},                   // provider error
		{0, "+8618612345678", 8},                   // errors are never cached
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		lookup(s.number)
		if got := fp.calls.Load(); got != s.calls {
			t.Fatalf("step %d (%s): provider calls = %d, want %d", i, MaskPhone(s.number), got, s.calls)
		}
	}
}

func TestPhoneStatusRateLimit(t *testing.T) {
	fp := newFakePhoneProvider(t, func(string, *http.Request) (int, string) { return 200, `{"status":"ok"}` })
	// One lookup now, the next in an hour.
	c := newTestStatusClient(t, fp.srv.URL, rate.NewLimiter(rate.Every(time.Hour), 1), nil, nil)
	if _, err := c.Lookup(context.Background(), "+8613812345678"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Lookup(ctx, "+8613912345678")
	if err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Fatalf("second lookup: %v, want a rate-limit error", err)
	}
	// A cached number needs no token from the limiter.
	if st, err := c.Lookup(context.Background(), "+8613812345678"); err != nil || st != PhoneOK {
		t.Fatalf("cached lookup under rate limit: %q, %v", st, err)
	}
	if n := fp.calls.Load(); n != 1 {
		t.Errorf("provider calls = %d, want 1", n)
	}
}

// countingPhoneCache misses always and counts reads, so that only the shared
// in-flight call can save provider calls.
type countingPhoneCache struct{ gets atomic.Int64 }

func (c *countingPhoneCache) Get(context.Context, string) (string, bool, error) {
	c.gets.Add(1)
	return "", false, nil
}
func (c *countingPhoneCache) Put(context.Context, string, string, time.Duration) error { return nil }

func TestPhoneStatusConcurrentLookupsShareOneCall(t *testing.T) {
	release := make(chan struct{})
	fp := newFakePhoneProvider(t, func(string, *http.Request) (int, string) {
		<-release
		return 200, `{"status":"suspended"}`
	})
	cache := &countingPhoneCache{}
	c := newTestStatusClient(t, fp.srv.URL, nil, cache, nil)
	const n = 200
	var wg sync.WaitGroup
	results := make(chan PhoneStatus, n)
	for range n {
		wg.Go(func() {
			st, err := c.Lookup(context.Background(), "+8613812345678")
			if err != nil {
				t.Error(err)
			}
			results <- st
		})
	}
	// Every lookup reads the cache once before joining the flight (the
	// leader once more inside it); give the last ones a moment to join.
	for cache.gets.Load() < n+1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(results)
	for st := range results {
		if st != PhoneSuspended {
			t.Fatalf("a lookup got %q, want suspended", st)
		}
	}
	if got := fp.calls.Load(); got != 1 {
		t.Errorf("provider calls = %d, want 1", got)
	}
}

// A caller that gives up does not cancel the call others share.
func TestPhoneStatusCallerCancelDoesNotCancelSharedCall(t *testing.T) {
	release := make(chan struct{})
	fp := newFakePhoneProvider(t, func(string, *http.Request) (int, string) {
		<-release
		return 200, `{"status":"ok"}`
	})
	c := newTestStatusClient(t, fp.srv.URL, nil, nil, nil)
	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := c.Lookup(ctx1, "+8613812345678"); first <- err }()
	for fp.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan PhoneStatus, 1)
	go func() { st, _ := c.Lookup(context.Background(), "+8613812345678"); second <- st }()
	time.Sleep(20 * time.Millisecond)
	cancel1()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	close(release)
	if st := <-second; st != PhoneOK {
		t.Errorf("second caller got %q, want ok", st)
	}
	if n := fp.calls.Load(); n != 1 {
		t.Errorf("provider calls = %d, want 1", n)
	}
}

func TestMemoryPhoneCache(t *testing.T) {
	clock := newContactClock()
	m := NewMemoryPhoneCache(clock.Now)
	ctx := context.Background()
	if _, ok, _ := m.Get(ctx, "+8613812345678"); ok {
		t.Fatal("empty cache hit")
	}
	_ = m.Put(ctx, "+8613812345678", "ok", time.Hour)
	if s, ok, _ := m.Get(ctx, "+8613812345678"); !ok || s != "ok" {
		t.Fatalf("Get = %q, %v", s, ok)
	}
	clock.Advance(time.Hour)
	if _, ok, _ := m.Get(ctx, "+8613812345678"); ok {
		t.Fatal("entry alive at its expiry")
	}
	if m.Len() != 0 {
		t.Errorf("expired entry kept: Len = %d", m.Len())
	}
	// Sweeping keeps a cache of expired one-offs from growing forever.
	for i := range 3000 {
		_ = m.Put(ctx, fmt.Sprintf("+86138%08d", i), "ok", time.Minute)
		clock.Advance(time.Second)
	}
	if m.Len() > 2048 {
		t.Errorf("Len = %d after sweeping, want expired entries dropped", m.Len())
	}
	_ = m.Put(ctx, "+8613812345678", "ok", 0)
	if _, ok, _ := m.Get(ctx, "+8613812345678"); ok {
		t.Error("zero TTL stored an entry")
	}
}
