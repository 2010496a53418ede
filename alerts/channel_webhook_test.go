package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// webhookReceiver is the receiver from docs/webhooks.md, written with the
// standard library only, as an owner would write it.
type webhookReceiver struct {
	secret    []byte
	now       func() time.Time
	tolerance time.Duration

	mu   sync.Mutex
	seen map[string]int // notice id -> deliveries
	last []byte
}

func (h *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	ts := r.Header.Get("X-Beianwatch-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		http.Error(w, "bad timestamp", http.StatusUnauthorized)
		return
	}
	if d := h.now().Sub(time.Unix(sec, 0)); d > h.tolerance || d < -h.tolerance {
		http.Error(w, "stale timestamp", http.StatusUnauthorized)
		return
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Beianwatch-Signature"))) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.ID == "" || n.ID != r.Header.Get("X-Beianwatch-Notice-Id") {
		http.Error(w, "bad notice", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.seen[n.ID]++
	h.last = body
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func TestWebhookSignedAndVerified(t *testing.T) {
	const secret = "owner-shared-secret-9f3k"
	recv := &webhookReceiver{secret: []byte(secret), now: fixedClock(vendorNow), tolerance: 5 * time.Minute, seen: map[string]int{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	r := testRendered(t)

	c := mustChannel(t, ChannelWebhook, srv.URL+"/beian", secret, fixedClock(vendorNow))
	a, err := c.Send(context.Background(), r)
	if err != nil || a.Result != Delivered || a.StatusCode != http.StatusNoContent {
		t.Fatalf("first send: %+v, %v", a, err)
	}
	first := append([]byte(nil), recv.last...)

	// A retry a minute later: same id, same body, fresh signature.
	c2 := mustChannel(t, ChannelWebhook, srv.URL+"/beian", secret, fixedClock(vendorNow.Add(time.Minute)))
	if a, err := c2.Send(context.Background(), r); err != nil || a.Result != Delivered {
		t.Fatalf("retry: %+v, %v", a, err)
	}
	if got := recv.seen[r.Notice.ID]; got != 2 {
		t.Errorf("receiver saw id %s %d times, want 2 (a retry resends the same id)", r.Notice.ID, got)
	}
	if string(first) != string(recv.last) {
		t.Errorf("retry body differs from the first:\n%s\n%s", first, recv.last)
	}

	// The body holds what docs/webhooks.md promises.
	var body struct {
		ID   string `json:"id"`
		Site struct {
			Domain, ICP, Entity string
		} `json:"site"`
		Violations []struct {
			Code       string `json:"code"`
			Transition string `json:"transition"`
			Title      string `json:"title"`
			Evidence   string `json:"evidence"`
			Fix        string `json:"fix"`
			OpenedAt   string `json:"opened_at"`
			Deadline   string `json:"deadline"`
		} `json:"violations"`
		Language string `json:"language"`
		SentAt   string `json:"sent_at"`
	}
	if err := json.Unmarshal(first, &body); err != nil {
		t.Fatal(err)
	}
	v := body.Violations
	if body.ID != r.Notice.ID || body.Site.Domain != "example.cn" || body.Site.ICP != testSite.ICP || body.Site.Entity != testSite.Entity ||
		len(v) != 1 || v[0].Code != "footer_link_obsolete" || v[0].Transition != "opened" ||
		!strings.Contains(v[0].Fix, "https://beian.miit.gov.cn/") || v[0].Title == "" ||
		!strings.Contains(v[0].Evidence, "miitbeian.gov.cn") ||
		v[0].OpenedAt != "2026-03-01T01:30:00Z" || v[0].Deadline != "2026-03-12T01:30:00Z" ||
		body.Language != "zh" || body.SentAt != "2026-03-02T01:30:00Z" {
		t.Errorf("webhook body does not match docs/webhooks.md:\n%s", first)
	}
}

func TestWebhookRefusedSignatures(t *testing.T) {
	const secret = "owner-shared-secret-9f3k"
	recv := &webhookReceiver{secret: []byte(secret), now: fixedClock(vendorNow), tolerance: 5 * time.Minute, seen: map[string]int{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	for _, tc := range []struct {
		name, secret string
		clock        time.Time
	}{
		{"wrong secret", "another-secret-value", vendorNow},
		{"stale timestamp", secret, vendorNow.Add(-10 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustChannel(t, ChannelWebhook, srv.URL, tc.secret, fixedClock(tc.clock))
			a, err := c.Send(context.Background(), testRendered(t))
			if err == nil || a.Result != Permanent || a.StatusCode != http.StatusUnauthorized {
				t.Errorf("got %+v, %v; want a permanent 401", a, err)
			}
			assertNoSecrets(t, a, err, tc.secret)
		})
	}
	if len(recv.seen) != 0 {
		t.Errorf("receiver accepted forged notices: %v", recv.seen)
	}
}

// TestWebhookConfig: the channel's own rules, as configuration validation
// applies them at load; every refusal names the part at fault and never
// echoes the URL's credential.
func TestWebhookConfig(t *testing.T) {
	cases := []struct {
		name, url   string
		signed      bool
		field, want string // field "" means valid
	}{
		{"signed", "https://hooks.example.cn/beian", true, "", ""},
		{"unsigned", "https://hooks.example.cn/beian", false, "secret", "signing secret is required"},
		{"credentials in the URL", "https://user:SECRETPASS99@hooks.example.cn/", true, "url", "carries credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkChannelConfig(t, ChannelWebhook, tc.url, tc.signed, tc.field, tc.want)
		})
	}
}
