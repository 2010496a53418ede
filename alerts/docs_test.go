package alerts

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWebhookGuideReceiver builds the Go receiver printed in
// docs/webhooks.md and replays to it a request made by WebhookChannel: the
// documented code must accept a real notice once, acknowledge the retry
// without processing it again, and refuse a tampered or stale one.
func TestWebhookGuideReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a separate program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatalf("read the receiver guide: %v", err)
	}
	code := goBlock(string(doc))
	if !strings.Contains(code, "func verify(") {
		t.Fatal("docs/webhooks.md has no Go receiver with func verify")
	}

	const secret = "guide-secret-4821"
	var body []byte
	var header http.Header
	capture := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		header = r.Header.Clone()
	}))
	defer capture.Close()
	c := mustChannel(t, ChannelWebhook, capture.URL, secret, fixedClock(vendorNow))
	if _, err := c.Send(context.Background(), testRendered(t)); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module guidereceiver\n\ngo 1.22\n")
	write("main.go", code)
	q := strconv.Quote
	write("main_test.go", `package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReplay(t *testing.T) {
	body := `+q(string(body))+`
	now := time.Unix(`+strconv.FormatInt(vendorNow.Unix(), 10)+`, 0)
	handled := 0
	h := &receiver{secret: []byte(`+q(secret)+`), now: func() time.Time { return now }, seen: map[string]bool{},
		handle: func(n Notice) error {
			handled++
			if n.ID != `+q(header.Get(HeaderNoticeID))+` || n.Site.Domain != "example.cn" || len(n.Violations) != 1 {
				t.Errorf("decoded notice: %+v", n)
			}
			return nil
		}}
	send := func(b string) int {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(b))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Beianwatch-Notice-Id", `+q(header.Get(HeaderNoticeID))+`)
		r.Header.Set("X-Beianwatch-Timestamp", `+q(header.Get(HeaderTimestamp))+`)
		r.Header.Set("X-Beianwatch-Signature", `+q(header.Get(HeaderSignature))+`)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if got := send(body); got != 200 {
		t.Fatalf("genuine notice: %d", got)
	}
	if got := send(body); got != 200 || handled != 1 {
		t.Fatalf("retry: %d, handled %d times", got, handled)
	}
	if got := send(strings.Replace(body, "example.cn", "example.com", 1)); got != 401 {
		t.Errorf("tampered body: %d", got)
	}
	now = now.Add(10 * time.Minute)
	if got := send(body); got != 401 {
		t.Errorf("stale timestamp: %d", got)
	}
}
`)
	cmd := exec.Command(goTool, "test", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the guide's receiver fails on a real notice: %v\n%s", err, out)
	}
}

// goBlock returns the first ```go fenced block of a markdown document.
func goBlock(md string) string {
	const open = "```go\n"
	i := strings.Index(md, open)
	if i < 0 {
		return ""
	}
	rest := md[i+len(open):]
	j := strings.Index(rest, "\n```")
	if j < 0 {
		return ""
	}
	return rest[:j+1]
}
