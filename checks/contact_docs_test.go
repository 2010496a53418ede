package checks

import (
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// aliyunMapping is the mapping table of docs/contact.md's Alibaba Cloud
// adapter: Alibaba's Data.Status (or "Code = X") to what the adapter
// answers, a contract status or "HTTP 429". The doc's table must say exactly
// this, and the doc's code must do it.
func aliyunMapping() map[string]string {
	return map[string]string{
		"NORMAL":                       "ok",
		"BUSY":                         "ok",
		"NOT_EXIST":                    "vacant",
		"SHUTDOWN":                     "suspended",
		"POWER_OFF":                    "powered_off",
		"SUSPECTED_POWER_OFF":          "unknown",
		"DEFECT":                       "unknown",
		"UNKNOWN":                      "unknown",
		"Code = OperatorLimit":         "unknown",
		"Code = RequestFrequencyLimit": "HTTP 429",
	}
}

// TestContactDocsAliyunAdapter builds the SDK-free half of the Alibaba
// Cloud adapter printed in docs/contact.md and sends it requests made by
// the real PhoneStatusClient, with a fake upstream answering every row of
// the doc's mapping table. Operators copy that code to run next to the
// daemon; a wrong mapping there would turn into false violations.
func TestContactDocsAliyunAdapter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a separate program")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") == "" {
			t.Skip("go tool not on PATH; set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure")
		}
		t.Fatal("BEIANWATCH_REQUIRE_INTEGRATION is set but the go tool is not on PATH")
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "contact.md"))
	if err != nil {
		t.Fatalf("read the contact guide: %v", err)
	}
	section := markdownSection(string(doc), "## Example adapter")
	if section == "" {
		t.Fatal(`docs/contact.md has no "## Example adapter" section`)
	}

	if got, want := markdownTable(section), aliyunMapping(); !maps.Equal(got, want) {
		t.Errorf("the adapter's mapping table in docs/contact.md says\n%v\nwant\n%v", got, want)
	}

	blocks := goBlocks(section)
	if len(blocks) != 2 {
		t.Fatalf("the adapter example has %d Go blocks, want 2 (the handler, then the SDK glue)", len(blocks))
	}
	handler, glue := blocks[0], blocks[1]
	if !strings.Contains(handler, "func statusHandler(") || !strings.Contains(handler, "func aliyunStatus(") {
		t.Fatal("the adapter's first Go block has no func statusHandler and func aliyunStatus")
	}
	if strings.Contains(handler, "alibabacloud-go") {
		t.Fatal("the adapter's first Go block imports the Alibaba SDK; it must stay standard library only so that it builds here")
	}
	// The glue cannot be built without the SDK; parsing it at least catches
	// broken syntax and a rename of the handler it wires up.
	if _, err := parser.ParseFile(token.NewFileSet(), "main.go", glue, parser.SkipObjectResolution); err != nil {
		t.Errorf("the adapter's SDK glue does not parse: %v", err)
	}
	if !strings.Contains(glue, "statusHandler(") {
		t.Error("the adapter's SDK glue does not call statusHandler")
	}

	const mobile, national, foreign = "+8613812345678", "13812345678", "+85221234567"
	sent := captureStatusRequests(t, mobile, foreign)

	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module aliyunadapter\n\ngo 1.22\n")
	write("handler.go", handler)
	write("main_test.go", adapterTestSource(sent[mobile], sent[foreign], national))

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "test", "-count=1", ".")
	cmd.Dir = dir
	// Standard library only: nothing to download, and nothing may be.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "GOPROXY=off", "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the adapter in docs/contact.md fails against a fake upstream: %v\n%s", err, out)
	}
}

// capturedRequest is what the real client sent for one number.
type capturedRequest struct {
	auth, body string
}

// captureStatusRequests looks the numbers up with the real client and
// returns the requests it made, so that the adapter is tested on what
// beianwatch sends rather than on what the test assumes it sends.
func captureStatusRequests(t *testing.T, numbers ...string) map[string]capturedRequest {
	t.Helper()
	var mu sync.Mutex
	got := map[string]capturedRequest{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var req struct{ Number string }
		if err != nil || json.Unmarshal(b, &req) != nil {
			t.Errorf("the client sent an unreadable request %q (%v)", b, err)
		}
		mu.Lock()
		got[req.Number] = capturedRequest{auth: r.Header.Get("Authorization"), body: string(b)}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status": "ok"}`)
	}))
	c := newTestStatusClient(t, srv.URL, nil, nil, nil)
	for _, n := range numbers {
		if _, err := c.Lookup(t.Context(), n); err != nil {
			srv.Close()
			t.Fatalf("lookup of %s through the capture server: %v", MaskPhone(n), err)
		}
	}
	srv.Close() // waits for the handlers, so got is complete and ours
	for _, n := range numbers {
		if _, ok := got[n]; !ok {
			t.Fatalf("the client sent no request for %s", MaskPhone(n))
		}
	}
	return got
}

// adapterTestSource is the generated module's test: it drives the doc's
// statusHandler with a fake upstream.
func adapterTestSource(mobile, foreign capturedRequest, national string) string {
	q := strconv.Quote
	mapping := aliyunMapping()
	var cases strings.Builder
	for _, row := range slices.Sorted(maps.Keys(mapping)) {
		code, status := "OK", row
		if c, ok := strings.CutPrefix(row, "Code = "); ok {
			// A Data.Status that would map to ok proves the Code is
			// looked at first.
			code, status = c, "NORMAL"
		}
		wantHTTP, want := "200", mapping[row]
		if want == "HTTP 429" {
			wantHTTP, want = "429", ""
		}
		cases.WriteString("\t\t{" + q(row) + ", " + q(code) + ", " + q(status) + ", false, " + wantHTTP + ", " + q(want) + "},\n")
	}
	return `package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	auth     = ` + q(mobile.auth) + `
	body     = ` + q(mobile.body) + `
	foreign  = ` + q(foreign.body) + `
	national = ` + q(national) + `
)

func TestAdapter(t *testing.T) {
	var logs bytes.Buffer
	log.SetOutput(&logs) // slog's default handler writes here too
	var asked []string
	var code, status string
	var upErr error
	lookup := func(_ context.Context, n string) (string, string, error) {
		asked = append(asked, n)
		return code, status, upErr
	}
	token := strings.TrimPrefix(auth, "Bearer ")
	send := func(h http.Handler, authz, b string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/status", strings.NewReader(b))
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	h := statusHandler(token, lookup)

	answers := []struct {
		name, code, status string
		fail               bool
		wantHTTP           int
		want               string
	}{
` + cases.String() + `		{"no Data", "OK", "", false, 200, "unknown"},
		{"a status Alibaba adds later", "OK", "SOMETHING_NEW", false, 200, "unknown"},
		{"another Code", "InvalidParameter", "NORMAL", false, 200, "unknown"},
		{"upstream error", "", "", true, 502, ""},
	}
	for _, c := range answers {
		t.Run(c.name, func(t *testing.T) {
			asked, code, status, upErr = nil, c.code, c.status, nil
			if c.fail {
				upErr = errors.New("upstream refused " + national)
			}
			w := send(h, auth, body)
			if w.Code != c.wantHTTP {
				t.Fatalf("HTTP %d, want %d (body %q)", w.Code, c.wantHTTP, w.Body.String())
			}
			if len(asked) != 1 || asked[0] != national {
				t.Errorf("upstream was asked %q, want [%q]", asked, national)
			}
			if strings.Contains(w.Body.String(), national) {
				t.Errorf("the answer quotes the number: %q", w.Body.String())
			}
			if c.wantHTTP != 200 {
				return
			}
			var got map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got["status"] != c.want {
				t.Errorf("answered %q (%v), want status %q", w.Body.String(), err, c.want)
			}
		})
	}

	refusals := []struct {
		name     string
		h        http.Handler
		authz, b string
		wantHTTP int
	}{
		{"wrong token", h, "Bearer not-the-token", body, 401},
		{"no Authorization", h, "", body, 401},
		{"token without Bearer", h, token, body, 401},
		{"empty token configured", statusHandler("", lookup), "Bearer ", body, 401},
		{"not a +86 number", h, auth, foreign, 400},
		{"not JSON", h, auth, "number=" + national, 400},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			asked, code, status, upErr = nil, "OK", "NORMAL", nil
			if w := send(c.h, c.authz, c.b); w.Code != c.wantHTTP {
				t.Errorf("HTTP %d, want %d (body %q)", w.Code, c.wantHTTP, w.Body.String())
			}
			if len(asked) != 0 {
				t.Errorf("a refused request reached upstream with %q", asked)
			}
		})
	}

	if strings.Contains(logs.String(), national) {
		t.Errorf("the adapter logged the number: %q", logs.String())
	}
}
`
}

// markdownSection returns md from the line starting with heading up to the
// next heading of the same level, or "" when there is no such heading.
func markdownSection(md, heading string) string {
	i := strings.Index(md, "\n"+heading)
	if i < 0 {
		return ""
	}
	rest := md[i+1:]
	level := heading[:strings.IndexByte(heading, ' ')+1]
	if j := strings.Index(rest[len(heading):], "\n"+level); j >= 0 {
		rest = rest[:len(heading)+j+1]
	}
	return rest
}

// goBlocks returns the ```go fenced blocks of a markdown text, in order.
func goBlocks(md string) []string {
	const open = "```go\n"
	var blocks []string
	for {
		i := strings.Index(md, open)
		if i < 0 {
			return blocks
		}
		md = md[i+len(open):]
		j := strings.Index(md, "\n```")
		if j < 0 {
			return blocks
		}
		blocks = append(blocks, md[:j+1])
		md = md[j+len("\n```"):]
	}
}

// markdownTable maps the first cell of each body row of the first table in
// md to its third cell, code spans unwrapped.
func markdownTable(md string) map[string]string {
	rows := map[string]string{}
	seen := 0
	for line := range strings.Lines(md) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if seen > 0 {
				break
			}
			continue
		}
		seen++
		if seen <= 2 { // header and separator
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			continue
		}
		cell := func(i int) string { return strings.Trim(strings.TrimSpace(cells[i]), "`") }
		rows[cell(0)] = cell(2)
	}
	return rows
}
