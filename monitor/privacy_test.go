package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/inventory"
)

// TestAPIAndNoticesMaskPersonalData puts mobile numbers where an
// inventory or a crawled page can put them (the entity, a tag, the
// homepage address, a link on the page) and a password in the homepage
// address, lets a violation open and its notice reach the provider's ops
// channel, and reads everything back through the API. Whole numbers and
// the password must show nowhere.
func TestAPIAndNoticesMaskPersonalData(t *testing.T) {
	const (
		domain   = "privacy.example.cn"
		entity   = "张三 13812345678 工作室"
		tagPhone = "13912345678"
		urlPhone = "15912345678"
		pagePhon = "13712345678"
		password = "PASSWORD99"
	)
	leaks := []string{"13812345678", tagPhone, urlPhone, pagePhon, password}

	h := newHarness(t, []fixtureSite{{Domain: domain}})
	_, port, _ := net.SplitHostPort(h.web.Listener.Addr().String())
	// No owner channel: the owner's notice goes to the provider's ops
	// channel, which must not learn the numbers either.
	writeFile(t, filepath.Join(h.dir, "sites.csv"), fmt.Sprintf(
		"domain,icp,status,entity,url,tags\n%s,%s,filed,%s,http://viewer:%s@%s:%s/?tel=%s,owner=%s;customer=acme\n",
		domain, testICP, entity, password, domain, port, urlPhone, tagPhone))
	h.setFooter(domain, fmt.Sprintf(`<footer><a href="https://beian.miit.gov.cn.example.net/?tel=%s">%s</a></footer>`, pagePhon, testICP))
	h.start()

	for range 2 { // failure_threshold
		if r := h.runCheck(checks.CheckFooter, domain); r.Result.Outcome != checks.Fail {
			t.Fatalf("footer: %+v", r.Result)
		}
	}
	h.waitFor("the notice at the ops channel", func() bool { return len(h.received("/ops")) == 1 })
	got, err := json.Marshal(h.received("/ops")[0].Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range leaks {
		if strings.Contains(string(got), leak) {
			t.Errorf("the ops notice shows %q:\n%s", leak, got)
		}
	}
	if !strings.Contains(string(got), "138****5678") {
		t.Errorf("the ops notice lost the (masked) entity:\n%s", got)
	}

	var notices struct {
		Items []struct{ ID string } `json:"items"`
	}
	h.apiJSON("/api/v1/notices", &notices)
	if len(notices.Items) != 1 {
		t.Fatalf("notices: %+v", notices)
	}
	tests := []struct {
		path string
		want []string // masked forms that show the field is still there
	}{
		{"/api/v1/sites", []string{"138****5678", "139****5678", "viewer:xxxxx@"}},
		{"/api/v1/sites/" + domain, []string{"138****5678", "137****5678"}},
		{"/api/v1/violations", []string{"137****5678"}},
		{"/api/v1/notices", []string{"137****5678"}},
		{"/api/v1/notices/" + notices.Items[0].ID, []string{"137****5678"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := h.api("GET", tt.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
			}
			for _, leak := range leaks {
				if bytes.Contains(body, []byte(leak)) {
					t.Errorf("shows %q:\n%s", leak, body)
				}
			}
			for _, w := range tt.want {
				if !bytes.Contains(body, []byte(w)) {
					t.Errorf("does not show %q:\n%s", w, body)
				}
			}
		})
	}
}

// TestAPITokenLengthNotLeaked: a wrong token one byte short of the real
// one must take as long to refuse as a wrong token of the right length;
// comparing the raw strings returns at once on a length mismatch, which
// lets a caller find the token's length by timing.
func TestAPITokenLengthNotLeaked(t *testing.T) {
	const n = 4 << 20 // long enough that comparing it dwarfs the noise
	d := &Daemon{apiToken: strings.Repeat("a", n)}
	h := d.authorize(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	refuse := func(token string) time.Duration {
		best := time.Duration(1<<63 - 1)
		for range 5 {
			req := httptest.NewRequest("GET", "/api/v1/sites", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(w, req)
			best = min(best, time.Since(start))
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("a wrong token got HTTP %d", w.Code)
			}
		}
		return best
	}
	tests := []struct {
		name  string
		token string
	}{
		{"one byte short", strings.Repeat("b", n-1)},
		{"one byte long", strings.Repeat("b", n+1)},
	}
	same := refuse(strings.Repeat("b", n))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refuse(tt.token); got*3 < same {
				t.Errorf("refused in %v, a wrong token of the right length in %v: the timing tells the length", got, same)
			}
		})
	}

	// And the right token still opens the API.
	req := httptest.NewRequest("GET", "/api/v1/sites", nil)
	req.Header.Set("Authorization", "Bearer "+d.apiToken)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("the right token got HTTP %d", w.Code)
	}
}

// TestInventoryLintLogMasksPhones: a rejected record's reason quotes the
// bad cell, and a phone number typed into the wrong column is still
// personal data in the log. The lint comes from the inventory, as in the
// daemon, so the test holds wherever the masking is done.
func TestInventoryLintLogMasksPhones(t *testing.T) {
	tests := []struct{ field, row string }{
		{field: "tags", row: "a.example.cn,京ICP备2023012345号-1,filed,13812345678"},
		{field: "status", row: "a.example.cn,京ICP备2023012345号-1,bogus13812345678,"},
		{field: "icp", row: "a.example.cn,13812345678,filed,"},
		{field: "domain", row: "13812345678,京ICP备2023012345号-1,filed,"},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, lint, err := inventory.Parse("sites.csv", []byte("domain,icp,status,tags\n"+tt.row+"\n"))
			if err != nil || len(lint) == 0 {
				t.Fatalf("inventory took the record: lint %v, err %v", lint, err)
			}
			var buf bytes.Buffer
			d := &Daemon{log: slog.New(slog.NewTextHandler(&buf, nil))}
			d.logLint(lint)
			if strings.Contains(buf.String(), "13812345678") {
				t.Errorf("log shows the number: %s", buf.String())
			}
			if !strings.Contains(buf.String(), "138****5678") || !strings.Contains(buf.String(), "field="+tt.field) {
				t.Errorf("log lost what was rejected: %s", buf.String())
			}
		})
	}
}
