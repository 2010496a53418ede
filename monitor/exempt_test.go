package monitor

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/store"
)

func (h *harness) apiBody(method, path, body string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(method, "http://"+h.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// TestExemptionThroughTheAPI: an exemption added through the API closes
// the open violation as exempted without a notice, shows in the site's
// view and the metric, keeps the code checked and recorded, ends when
// removed, and a bad request is refused with the reason.
func TestExemptionThroughTheAPI(t *testing.T) {
	const site = "broken.example.cn"
	h := newHarness(t, []fixtureSite{{Domain: site, Footer: oldFooter}})
	h.start()
	h.runCheck(checks.CheckFooter, site)
	h.runCheck(checks.CheckFooter, site)
	h.waitFor("the opened notice", func() bool { return len(h.received("/owner/"+site)) == 1 })

	for _, bad := range []string{
		`{"site": "broken.example.cn", "code": "footer_link_obsolete", "until": "2027-01-31", "by": "op"}`,               // no reason
		`{"site": "other.example.cn", "code": "footer_link_obsolete", "until": "2027-01-31", "reason": "r", "by": "op"}`, // not watched
		`{"site": "broken.example.cn", "code": "footer_link_obsolete", "until": "31/01/2027", "reason": "r", "by": "op"}`,
		`{"site": "broken.example.cn", "code": "footer_link_obsolete", "until": "2020-01-31", "reason": "r", "by": "op"}`,
		`{"site": "broken.example.cn", "code": "footer_link_obsolete", "check": "dns", "until": "2027-01-31", "reason": "r", "by": "op"}`,
		`{"site": "broken.example.cn", "code": "footer_link_obsolete", "until": "2027-01-31", "reason": "r", "by": "op", "extra": 1}`,
	} {
		if code, m := h.apiBody("POST", "/api/v1/exemptions", bad); code != http.StatusBadRequest || m["error"] == "" {
			t.Errorf("%s: HTTP %d %v, want 400 with the reason", bad, code, m)
		}
	}
	if got := h.metric(`beianwatch_exemptions{check="footer"}`); got != "0" {
		t.Errorf("metric before: %q", got)
	}

	code, m := h.apiBody("POST", "/api/v1/exemptions",
		`{"site": "broken.example.cn", "code": "footer_link_obsolete", "until": "2027-01-31", "reason": "customer's signed exception", "by": "zhang.san"}`)
	if code != http.StatusCreated {
		t.Fatalf("add: HTTP %d %v", code, m)
	}
	ex := m["exemption"].(map[string]any)
	if ex["until"] != "2027-01-31T16:00:00Z" || ex["created_by"] != "zhang.san" {
		t.Errorf("exemption %v: a date means through that day in Asia/Shanghai", ex)
	}
	closed := m["closed"].([]any)
	if len(closed) != 1 || closed[0].(map[string]any)["kind"] != "exempted" {
		t.Errorf("closed %v", closed)
	}
	if got := h.metric(`beianwatch_exemptions{check="footer"}`); got != "1" {
		t.Errorf("metric after: %q", got)
	}
	if got := h.metric(`beianwatch_violations{code="footer_link_obsolete",state="open"}`); got != "0" {
		t.Errorf("the exempted violation still counts as open: %q", got)
	}

	// Still checked and recorded, shown as exempt, no notice.
	h.runCheck(checks.CheckFooter, site)
	var view struct {
		Latest []struct {
			Result checks.Result `json:"result"`
			Exempt []string      `json:"exempt"`
		} `json:"latest"`
		Violations []struct {
			Code   string `json:"code"`
			Status string `json:"status"`
		} `json:"violations"`
		Exemptions []store.Exemption `json:"exemptions"`
	}
	h.apiJSON("/api/v1/sites/"+site, &view)
	if len(view.Latest) != 1 || view.Latest[0].Result.Outcome != checks.Fail || len(view.Latest[0].Exempt) != 1 || view.Latest[0].Exempt[0] != "footer_link_obsolete" {
		t.Errorf("latest %+v: want the failing result, marked exempt", view.Latest)
	}
	if len(view.Violations) != 1 || view.Violations[0].Status != "exempted" {
		t.Errorf("violations %+v", view.Violations)
	}
	if len(view.Exemptions) != 1 || view.Exemptions[0].Reason != "customer's signed exception" {
		t.Errorf("exemptions %+v", view.Exemptions)
	}
	var list page[store.Exemption]
	h.apiJSON("/api/v1/exemptions?site="+site, &list)
	if list.Total != 1 {
		t.Errorf("list %+v", list)
	}
	var exempted page[map[string]any]
	h.apiJSON("/api/v1/violations?state=exempted", &exempted)
	if exempted.Total != 1 {
		t.Errorf("violations?state=exempted: %+v", exempted)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(h.received("/owner/" + site)); n != 1 {
		t.Errorf("owner got %d notices; the exemption must not tell them", n)
	}

	// Removed: judged normally again (threshold 2).
	id := int(ex["id"].(float64))
	path := "/api/v1/exemptions/" + strconv.Itoa(id)
	if code, _ := h.apiBody("DELETE", path, `{"by": "li.si"}`); code != http.StatusBadRequest {
		t.Errorf("removal without a reason: HTTP %d", code)
	}
	if code, m := h.apiBody("DELETE", path, `{"by": "li.si", "reason": "exception withdrawn"}`); code != http.StatusOK {
		t.Fatalf("remove: HTTP %d %v", code, m)
	}
	if code, _ := h.apiBody("DELETE", "/api/v1/exemptions/999", `{"by": "li.si", "reason": "x"}`); code != http.StatusNotFound {
		t.Errorf("unknown id: HTTP %d", code)
	}
	h.runCheck(checks.CheckFooter, site)
	h.runCheck(checks.CheckFooter, site)
	h.waitFor("the reopened notice", func() bool { return len(h.received("/owner/"+site)) == 2 })
	trail, _ := h.d.store.AuditTrail(t.Context(), site, 0)
	if len(trail) != 2 || trail[0].Actor != "zhang.san" || trail[1].Actor != "li.si" || trail[1].Reason != "exception withdrawn" {
		t.Errorf("audit trail %+v", trail)
	}
	// Without the token the API refuses.
	req, _ := http.NewRequest("POST", "http://"+h.addr+"/api/v1/exemptions", bytes.NewReader([]byte(`{}`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: HTTP %d", resp.StatusCode)
	}
}

func TestParseUntil(t *testing.T) {
	for in, want := range map[string]string{
		"2027-01-31":                "2027-01-31T16:00:00Z",
		"2027-01-31T18:00:00+08:00": "2027-01-31T10:00:00Z",
		" 2027-01-31T10:00:00Z ":    "2027-01-31T10:00:00Z",
	} {
		got, err := ParseUntil(in, nil)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("ParseUntil(%q) = %s, %v; want %s", in, got.Format(time.RFC3339), err, want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "2027-13-01", "31.01.2027"} {
		if _, err := ParseUntil(bad, nil); err == nil {
			t.Errorf("ParseUntil(%q) accepted", bad)
		}
	}
}
