package monitor

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

type violationsPage struct {
	Items []lifecycle.State `json:"items"`
	Total int               `json:"total"`
}

func (h *harness) violations(query string) violationsPage {
	var p violationsPage
	h.apiJSON("/api/v1/violations"+query, &p)
	return p
}

func (h *harness) transitions(domain string) []store.StoredTransition {
	trs, err := h.d.store.Transitions(context.Background(), domain, 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	return trs
}

// TestDaemonLifecycle drives one site through the whole violation
// lifecycle of docs/operations.md in a running daemon: it breaks, the violation
// opens after the threshold, an inconclusive run changes nothing,
// reminders and escalation fire on the clock, and fixing it resolves it.
func TestDaemonLifecycle(t *testing.T) {
	h := newHarness(t, []fixtureSite{
		{Domain: "good.example.cn"},
		{Domain: "broken.example.cn", Footer: oldFooter},
	})
	h.start()

	// First failing run: pending, nobody told.
	r := h.runCheck(checks.CheckFooter, "broken.example.cn")
	if r.Result.Outcome != checks.Fail {
		t.Fatalf("first run: %+v", r.Result)
	}
	if v := h.violations(""); v.Total != 0 {
		t.Fatalf("a violation opened after one failing run: %+v", v.Items)
	}
	if r := h.runCheck(checks.CheckFooter, "good.example.cn"); r.Result.Outcome != checks.Pass {
		t.Fatalf("compliant site: %+v", r.Result)
	}

	// Second failing run: opened, with the deadline.
	opened := h.clock.Now()
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	v := h.violations("?state=open")
	if v.Total != 1 || v.Items[0].Code != checks.CodeFooterLinkObsolete || v.Items[0].Domain != "broken.example.cn" {
		t.Fatalf("open violations after two failing runs: %+v", v.Items)
	}
	if want := opened.Add(240 * time.Hour); !v.Items[0].Deadline.Equal(want) {
		t.Errorf("deadline %v, want %v", v.Items[0].Deadline, want)
	}
	h.waitFor("the opened notice", func() bool { return len(h.received("/owner/broken.example.cn")) == 1 })

	// An inconclusive run (the site answers 503 to the footer check) neither
	// counts for nor against.
	before := v.Items[0]
	h.setPage("broken.example.cn", http.StatusServiceUnavailable, "<html>busy</html>")
	if r := h.runCheck(checks.CheckFooter, "broken.example.cn"); r.Result.Outcome != checks.Inconclusive {
		t.Fatalf("503 page: %+v", r.Result)
	}
	after := h.violations("?state=open").Items[0]
	if after.Fails != before.Fails || after.Passes != before.Passes || after.Status != lifecycle.StatusOpen {
		t.Errorf("an inconclusive run changed the violation: before %+v after %+v", before, after)
	}

	// A reminder after remind_every, then escalation past the deadline.
	h.setFooter("broken.example.cn", "<footer><a href='http://www.miitbeian.gov.cn/'>"+testICP+"</a></footer>")
	h.clock.Advance(73 * time.Hour)
	if _, err := h.d.engine.Tick(context.Background(), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the reminder", func() bool { return len(h.received("/owner/broken.example.cn")) == 2 })
	h.clock.Advance(170 * time.Hour)
	if _, err := h.d.engine.Tick(context.Background(), h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if v := h.violations("?state=escalated"); v.Total != 1 {
		t.Fatalf("escalated violations: %+v", v.Items)
	}
	h.waitFor("the escalation to ops", func() bool { return len(h.received("/ops")) == 1 })

	// Fixed: resolves after two passing runs.
	h.setFooter("broken.example.cn", "<footer><a href='https://beian.miit.gov.cn/'>"+testICP+"</a></footer>")
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	if v := h.violations("?state=escalated"); v.Total != 1 {
		t.Fatalf("resolved after one passing run: %+v", v.Items)
	}
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	if v := h.violations(""); v.Total != 0 {
		t.Fatalf("still active after two passing runs: %+v", v.Items)
	}

	var kinds []lifecycle.Kind
	trs := h.transitions("broken.example.cn")
	for i := len(trs) - 1; i >= 0; i-- {
		kinds = append(kinds, trs[i].Kind)
	}
	want := []lifecycle.Kind{lifecycle.KindOpened, lifecycle.KindReminder, lifecycle.KindEscalated, lifecycle.KindResolved}
	if len(kinds) != len(want) {
		t.Fatalf("transitions %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("transitions %v, want %v", kinds, want)
		}
	}
	// One owner notice per transition: opened, reminder, escalated, resolved.
	h.waitFor("four owner notices", func() bool { return len(h.received("/owner/broken.example.cn")) == 4 })
	for _, n := range h.received("/owner/") {
		if n.ID == "" || n.Body["id"] != n.ID {
			t.Errorf("notice without a consistent id: header %q body %v", n.ID, n.Body["id"])
		}
	}
	if got := len(h.received("/owner/good.example.cn")); got != 0 {
		t.Errorf("the compliant site's owner got %d notices", got)
	}
}

// TestDaemonRestart stops the daemon and starts another on the same
// files: open violations survive and nothing is notified twice.
func TestDaemonRestart(t *testing.T) {
	h := newHarness(t, []fixtureSite{{Domain: "broken.example.cn", Footer: oldFooter}})
	h.start()
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	h.waitFor("the opened notice", func() bool { return len(h.received("/owner/")) == 1 })
	h.stop()

	h.start()
	if v := h.violations("?state=open"); v.Total != 1 {
		t.Fatalf("open violations after restart: %+v", v.Items)
	}
	// Still failing: no new transition, no new notice.
	h.runCheck(checks.CheckFooter, "broken.example.cn")
	time.Sleep(300 * time.Millisecond) // let any (wrong) notify job run
	if got := h.received("/owner/"); len(got) != 1 {
		t.Fatalf("%d owner notices after restart, want still 1", len(got))
	}
	if trs := h.transitions("broken.example.cn"); len(trs) != 1 {
		t.Fatalf("%d transitions after restart, want 1", len(trs))
	}
}

func TestAPIAuthAndPrivacy(t *testing.T) {
	h := newHarness(t, []fixtureSite{{Domain: "good.example.cn"}})
	h.start()
	for _, tc := range []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", http.StatusOK},
		{"/readyz", "", http.StatusOK},
		{"/metrics", "", http.StatusOK},
		{"/api/v1/sites", "", http.StatusUnauthorized},
		{"/api/v1/sites", "Bearer wrong", http.StatusUnauthorized},
		{"/api/v1/sites", "Bearer " + testToken, http.StatusOK},
		{"/api/v1/sites/nosuch.example.cn", "Bearer " + testToken, http.StatusNotFound},
		{"/api/v1/violations?state=bogus", "Bearer " + testToken, http.StatusBadRequest},
		{"/api/v1/sites?limit=0", "Bearer " + testToken, http.StatusBadRequest},
	} {
		req, _ := http.NewRequest("GET", "http://"+h.addr+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with %q: HTTP %d, want %d", tc.path, tc.auth, resp.StatusCode, tc.want)
		}
	}
	var sites struct {
		Items []apiSite `json:"items"`
	}
	h.apiJSON("/api/v1/sites", &sites)
	if len(sites.Items) != 1 || sites.Items[0].OwnerURL == "" {
		t.Fatalf("sites: %+v", sites.Items)
	}
	if got := sites.Items[0].OwnerURL; got == h.hook.URL+"/owner/good.example.cn" {
		t.Errorf("owner webhook URL returned whole: %s", got)
	}
}

func TestAPIPaging(t *testing.T) {
	var sites []fixtureSite
	for _, d := range []string{"a.example.cn", "b.example.cn", "c.example.cn"} {
		sites = append(sites, fixtureSite{Domain: d, Footer: oldFooter})
	}
	h := newHarness(t, sites)
	h.start()
	for _, s := range sites {
		h.runCheck(checks.CheckFooter, s.Domain)
		h.runCheck(checks.CheckFooter, s.Domain)
	}
	var seen []string
	for offset := 0; offset < 3; offset += 2 {
		v := h.violations("?limit=2&offset=" + strconv.Itoa(offset))
		if v.Total != 3 {
			t.Fatalf("total %d, want 3", v.Total)
		}
		for _, it := range v.Items {
			seen = append(seen, it.Domain)
		}
	}
	if strings.Join(seen, ",") != "a.example.cn,b.example.cn,c.example.cn" {
		t.Errorf("pages held %v", seen)
	}
	if v := h.violations("?code=footer_link_obsolete&site=b.example.cn"); v.Total != 1 || v.Items[0].Domain != "b.example.cn" {
		t.Errorf("filtered: %+v", v)
	}
	if resp := h.api("GET", "/api/v1/notices?state=bogus"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad notice state: HTTP %d", resp.StatusCode)
	}
}
