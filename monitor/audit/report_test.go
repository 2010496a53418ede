package audit

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func finding(code string, sev checks.Severity, msg, ev string) checks.Finding {
	return checks.Finding{Code: code, Severity: sev, Message: msg, Evidence: ev}
}

func result(check string, o checks.Outcome, fs ...checks.Finding) checks.Result {
	return checks.Result{Check: check, Outcome: o, Findings: fs}
}

// fixtureSites is an audit in known states: one site per interesting
// shape, including hostile page text and an unmasked phone number.
func fixtureSites() []SiteReport {
	return []SiteReport{
		{Domain: "ok.example.cn", ICP: "京ICP备12345678号-1", Status: checks.StatusFiled, Results: []checks.Result{
			result("footer", checks.Pass), result("shell", checks.Pass)}},
		{Domain: "obsolete.example.cn", ICP: "京ICP备12345678号-2", Status: checks.StatusFiled, Entity: "示例科技有限公司",
			Tags: map[string]string{"customer": "acme", "region": "bj"}, OwnerChannel: "dingtalk", Results: []checks.Result{
				result("footer", checks.Fail, finding("footer_link_obsolete", checks.Violation, "linked to a dead host",
					`<a href="http://www.miitbeian.gov.cn">京ICP备12345678号-2</a><script>alert(1)</script>`)),
				result("shell", checks.Pass)}},
		{Domain: "hostile.example.cn", ICP: "沪ICP备87654321号-1", Status: checks.StatusFiled, Results: []checks.Result{
			result("footer", checks.Fail,
				finding("footer_link_obsolete", checks.Violation, "linked to a dead host", "=HYPERLINK(\"http://evil\",\"x\")"),
				finding("footer_link_obsolete", checks.Violation, "again, mobile copy", "-1"),
				finding("footer_icp_format", checks.Warning, "non-standard form", "沪ICP备87654321-1号")),
			result("shell", checks.Pass)}},
		{Domain: "warn.example.cn", ICP: "粤ICP备2020123456号-1", Status: checks.StatusFiled, Entity: "张三 13700001111 个人工作室", Results: []checks.Result{
			result("footer", checks.Pass, finding("footer_not_at_bottom", checks.Warning, "near the top", "客服 13812345678"))}},
		{Domain: "slow.example.cn", ICP: "京ICP备11111111号-1", Status: checks.StatusFiled, Entity: "示例科技有限公司",
			Tags: map[string]string{"customer": "acme"}, OwnerChannel: "webhook", Results: []checks.Result{
				{Check: "footer", Outcome: checks.Inconclusive, Reason: "fetch timed out; call 13987654321"},
				result("shell", checks.Pass)}},
		{Domain: "pending.example.cn", ICP: "京ICP备22222222号-1", Status: checks.StatusFirstFilingPending, Tags: map[string]string{"customer": "globex"}, Results: []checks.Result{
			result("dns", checks.Fail, finding("dns_resolving_while_pending", checks.Violation, "resolves", "A 203.0.113.5"))}},
		{Domain: "render.example.cn", ICP: "京ICP备33333333号-1", Status: checks.StatusFiled, Results: []checks.Result{
			{Check: "footer", Outcome: checks.Inconclusive, Reason: "needs_rendering"}}},
		{Domain: "gone.example.cn", ICP: "京ICP备44444444号-1", Status: checks.StatusCancelled, Results: []checks.Result{
			{Check: "footer", Outcome: checks.NotApplicable}}},
	}
}

func build(t *testing.T, partial bool) *Report {
	t.Helper()
	return buildFrom(t, 10, []string{"footer", "shell", "dns"}, fixtureSites(), t0.Add(1500*time.Millisecond), partial)
}

func buildFrom(t *testing.T, total int, checkNames []string, sites []SiteReport, finished time.Time, partial bool) *Report {
	t.Helper()
	b, err := NewBuilder(t0, total, checkNames, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sites {
		if err := b.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	r, err := b.Finish(finished, partial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// allSites reads a report's sites back from its spool.
func allSites(t *testing.T, r *Report) []SiteReport {
	t.Helper()
	var out []SiteReport
	for s, err := range r.Sites() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestSummary(t *testing.T) {
	r := build(t, false)
	s := r.Summary
	if s.SitesChecked != 8 || s.SitesTotal != 10 || s.DurationMS != 1500 || s.Partial {
		t.Fatalf("summary head = %+v", s)
	}
	wantSites := map[checks.Outcome]int{checks.Pass: 2, checks.Fail: 3, checks.Inconclusive: 2, checks.NotApplicable: 1}
	for o, n := range wantSites {
		if s.Sites[o] != n {
			t.Errorf("sites %s = %d, want %d", o, s.Sites[o], n)
		}
	}
	if s.BlockedFilings != 1 || strings.Join(s.TagKeys, ",") != "customer,region" {
		t.Errorf("blocked filings %d, tag keys %v", s.BlockedFilings, s.TagKeys)
	}
	if got := s.Results["footer"]; got[checks.Pass] != 2 || got[checks.Fail] != 2 || got[checks.Inconclusive] != 2 {
		t.Errorf("footer results = %v", got)
	}
	want := []CodeCount{
		{Code: "footer_link_obsolete", Check: "footer", Severity: checks.Violation, Sites: 2, Findings: 3},
		{Code: "dns_resolving_while_pending", Check: "dns", Severity: checks.Violation, Sites: 1, Findings: 1},
		{Code: "footer_icp_format", Check: "footer", Severity: checks.Warning, Sites: 1, Findings: 1},
		{Code: "footer_not_at_bottom", Check: "footer", Severity: checks.Warning, Sites: 1, Findings: 1},
	}
	if len(s.Findings) != len(want) {
		t.Fatalf("findings summary = %+v, want %+v", s.Findings, want)
	}
	for i := range want {
		if s.Findings[i] != want[i] {
			t.Errorf("findings[%d] = %+v, want %+v", i, s.Findings[i], want[i])
		}
	}
	// Sorted by domain whatever the order they came in, and read back
	// from the spool whole.
	sites := allSites(t, r)
	if len(sites) != 8 {
		t.Fatalf("%d sites read back, want 8", len(sites))
	}
	for i := 1; i < len(sites); i++ {
		if sites[i-1].Domain > sites[i].Domain {
			t.Fatalf("sites not sorted: %s before %s", sites[i-1].Domain, sites[i].Domain)
		}
	}
	for _, site := range sites {
		if site.Domain == "hostile.example.cn" {
			if f := site.Results[0].Findings; len(f) != 3 || f[0].Evidence != "=HYPERLINK(\"http://evil\",\"x\")" {
				t.Errorf("hostile site read back as %+v", site.Results)
			}
		}
	}
}

func TestExitStatus(t *testing.T) {
	pass := SiteReport{Domain: "a.cn", Results: []checks.Result{result("footer", checks.Pass)}}
	fail := SiteReport{Domain: "b.cn", Results: []checks.Result{result("footer", checks.Fail)}}
	inc := SiteReport{Domain: "c.cn", Results: []checks.Result{{Check: "footer", Outcome: checks.Inconclusive}}}
	tests := []struct {
		name    string
		sites   []SiteReport
		partial bool
		want    int
	}{
		{"all pass", []SiteReport{pass}, false, 0},
		{"nothing checked", nil, false, 0},
		{"a violation", []SiteReport{pass, fail, inc}, false, 1},
		{"inconclusive", []SiteReport{pass, inc}, false, 3},
		{"partial without violation", []SiteReport{pass}, true, 3},
		{"partial with violation", []SiteReport{pass, fail}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := buildFrom(t, len(tt.sites)+1, []string{"footer"}, tt.sites, t0, tt.partial)
			if got := r.ExitStatus(); got != tt.want {
				t.Fatalf("ExitStatus = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestMaskMobiles(t *testing.T) {
	tests := []struct{ in, want string }{
		{"客服 13812345678", "客服 138****5678"},
		{"+8613812345678", "+86138****5678"},
		{"13812345678,13987654321", "138****5678,139****4321"},
		{"京公网安备11010802012345号", "京公网安备11010802012345号"}, // 14 digits: a PSB code
		{"京ICP备2020123456号-1", "京ICP备2020123456号-1"},
		{"12345678901", "12345678901"}, // not a mobile segment
		{"A 203.0.113.5", "A 203.0.113.5"},
		{"010-62345678", "010-62345678"}, // landlines come masked from the contact check
	}
	for _, tt := range tests {
		if got := MaskMobiles(tt.in); got != tt.want {
			t.Errorf("MaskMobiles(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	r := build(t, false)
	js := jsonOf(t, r)
	for _, leak := range []string{"13812345678", "13987654321", "13700001111"} {
		if strings.Contains(js, leak) {
			t.Errorf("the report leaks %s", leak)
		}
	}
}

func jsonOf(t *testing.T, r *Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestWriteJSON(t *testing.T) {
	r := build(t, true)
	var got struct {
		Summary struct {
			Partial      bool           `json:"partial"`
			SitesChecked int            `json:"sites_checked"`
			Sites        map[string]int `json:"sites"`
			Started      time.Time      `json:"started"`
			Findings     []CodeCount    `json:"findings"`
		} `json:"summary"`
		Sites []struct {
			Domain       string            `json:"domain"`
			ICP          string            `json:"icp"`
			Status       string            `json:"status"`
			Entity       string            `json:"entity"`
			Tags         map[string]string `json:"tags"`
			OwnerChannel string            `json:"owner_channel"`
			Results      []checks.Result   `json:"results"`
		} `json:"sites"`
	}
	js := jsonOf(t, r)
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	if !got.Summary.Partial || got.Summary.SitesChecked != 8 || got.Summary.Sites["fail"] != 3 || got.Summary.Sites["not_applicable"] != 1 || !got.Summary.Started.Equal(t0) {
		t.Fatalf("summary = %+v", got.Summary)
	}
	if len(got.Sites) != 8 || got.Sites[1].Domain != "hostile.example.cn" || len(got.Sites[1].Results[0].Findings) != 3 {
		t.Fatalf("sites = %+v", got.Sites)
	}
	// For whom: entity, tags and the owner's channel kind.
	for _, st := range got.Sites {
		if st.Domain == "obsolete.example.cn" && (st.Entity != "示例科技有限公司" || st.Tags["customer"] != "acme" || st.Tags["region"] != "bj" || st.OwnerChannel != "dingtalk") {
			t.Errorf("obsolete.example.cn does not say for whom: %+v", st)
		}
	}
	// Page text stays readable, not \u003c-escaped.
	if !strings.Contains(js, `<a href=\"http://www.miitbeian.gov.cn\">`) {
		t.Errorf("evidence was HTML-escaped in JSON")
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	fixes := fakeFixes{"footer_link_obsolete/en": {"Filing number linked to a dead address", "Link it to https://beian.miit.gov.cn/"}}
	if err := WriteCSV(&b, build(t, false), CSVOptions{Fixes: fixes, Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	if !bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		t.Fatal("no UTF-8 BOM")
	}
	recs, err := csv.NewReader(bytes.NewReader(raw[3:])).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v", err)
	}
	// The first eight columns are as before; new ones come after.
	if strings.Join(recs[0], ",") != "domain,icp,check,outcome,code,severity,message,evidence,reason,entity,tags,owner_channel,fix" {
		t.Fatalf("header = %v", recs[0])
	}
	if n := len(recs) - 1; n != 8 {
		t.Fatalf("%d rows, want one per finding (6) and one per inconclusive check (2)", n)
	}
	byEvidence := map[string][]string{}
	inconclusive := map[string][]string{}
	for _, r := range recs[1:] {
		byEvidence[r[7]] = r
		if r[3] == "inconclusive" {
			inconclusive[r[0]] = r
		}
	}
	if r := byEvidence[`'=HYPERLINK("http://evil","x")`]; r == nil {
		t.Errorf("formula not defused; evidence cells: %v", keys(byEvidence))
	}
	if r := byEvidence["'-1"]; r == nil || r[0] != "hostile.example.cn" || r[1] != "沪ICP备87654321号-1" || r[4] != "footer_link_obsolete" {
		t.Errorf("row for the second obsolete link = %v", r)
	}
	if byEvidence["客服 138****5678"] == nil {
		t.Errorf("phone in evidence not masked: %v", keys(byEvidence))
	}
	// For whom, and how to fix it.
	ob := byEvidence[`<a href="http://www.miitbeian.gov.cn">京ICP备12345678号-2</a><script>alert(1)</script>`]
	if ob == nil || ob[9] != "示例科技有限公司" || ob[10] != "customer=acme;region=bj" || ob[11] != "dingtalk" || ob[12] != "Link it to https://beian.miit.gov.cn/" {
		t.Errorf("obsolete row = %v", ob)
	}
	// Every inconclusive check has a row, with its reason and no code:
	// the list of sites a person must look at.
	slow := inconclusive["slow.example.cn"]
	if slow == nil || slow[2] != "footer" || slow[4] != "" || slow[5] != "" || slow[8] != "fetch timed out; call 139****4321" || slow[11] != "webhook" {
		t.Errorf("inconclusive row for slow.example.cn = %v", slow)
	}
	if r := inconclusive["render.example.cn"]; r == nil || r[8] != "needs_rendering" || r[4] != "" {
		t.Errorf("inconclusive row for render.example.cn = %v", r)
	}
	if strings.Contains(b.String(), "13987654321") {
		t.Error("unmasked phone number in the CSV")
	}
}

func keys(m map[string][]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

type fakeFixes map[string][2]string

func (f fakeFixes) Fix(code, lang string) (string, string, error) {
	if v, ok := f[code+"/"+lang]; ok {
		return v[0], v[1], nil
	}
	return "", "", errors.New("unknown code")
}

func TestWriteHTML(t *testing.T) {
	fixes := fakeFixes{
		"footer_link_obsolete/zh": {"备案号链接指向已停用的旧地址", "把链接地址改为 https://beian.miit.gov.cn/ 示例：<a href=\"https://beian.miit.gov.cn/\">"},
		"footer_link_obsolete/en": {"Filing number linked to a dead address", "Link it to https://beian.miit.gov.cn/"},
	}
	tests := []struct {
		lang    string
		partial bool
		want    []string
	}{
		{"", true, []string{`lang="zh-CN"`, "备案合规核查报告", "核查未完成", "备案号链接指向已停用的旧地址", "把链接地址改为", `id="sites-fail">3<`, `id="sites-pass">2<`, `id="sites-inconclusive">2<`}},
		{"en", false, []string{`lang="en"`, "ICP filing compliance audit", "Link it to https://beian.miit.gov.cn/", "Findings by code",
			// For whom, in words; grouping by entity and by every tag key.
			"Entity: 示例科技有限公司", `<span class="badge tag">customer=acme</span>`, "Notified via: DingTalk",
			"Notified via: none (notices go to the ops channel)",
			`<option value="entity">By entity</option>`, `<option value="tag:customer">By tag customer</option>`, `<option value="tag:region">By tag region</option>`,
			`data-entity="示例科技有限公司"`, `data-tags="customer=acme;region=bj"`,
			// The not-applicable site is counted; labels are words.
			`id="sites-not_applicable">1<`, "needs a browser to render the page", "first filing pending",
			`id="blocked-filings">1<`}},
	}
	for _, tt := range tests {
		t.Run("lang="+tt.lang, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteHTML(&b, build(t, tt.partial), HTMLOptions{Lang: tt.lang, Fixes: fixes, Provider: "ExampleCloud"}); err != nil {
				t.Fatal(err)
			}
			page := b.String()
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if !tt.partial && strings.Contains(page, `id="partial"`) {
				t.Error("a whole audit says it is partial")
			}
			// Hostile page text is shown as text, never as markup.
			for _, bad := range []string{"<script>alert(1)", `<a href="http://www.miitbeian.gov.cn">`, `<a href="https://beian.miit.gov.cn/">`} {
				if strings.Contains(page, bad) {
					t.Errorf("page contains unescaped %q", bad)
				}
			}
			if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Error("hostile evidence missing or escaped the wrong way")
			}
			// Self-contained: nothing is loaded from elsewhere.
			for _, ext := range []string{"src=", "<link", `href="http`, "@import", "url("} {
				if strings.Contains(page, ext) {
					t.Errorf("page refers to an external asset (%q)", ext)
				}
			}
			if strings.Contains(page, "13812345678") {
				t.Error("unmasked phone number in the page")
			}
		})
	}
	if err := WriteHTML(&bytes.Buffer{}, build(t, false), HTMLOptions{Lang: "fr"}); err == nil {
		t.Error("unknown language accepted")
	}
}

// The spool holds every site on disk, in domain order on the way out, and
// leaves no file behind.
func TestSpool(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBuilder(t0, 2000, []string{"footer"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, 0, 2000)
	for i := range 2000 {
		d := fmt.Sprintf("s%04d.example.cn", (i*7919)%2000) // every domain once, shuffled
		want = append(want, d)
		if err := b.Add(SiteReport{Domain: d, Results: []checks.Result{result("footer", checks.Fail,
			finding("footer_icp_missing", checks.Violation, "none shown", strings.Repeat("页", i%300)))}}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := b.Finish(t0, false)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	got := allSites(t, r)
	if len(got) != len(want) {
		t.Fatalf("%d sites back, want %d", len(got), len(want))
	}
	for i, s := range got {
		if s.Domain != want[i] {
			t.Fatalf("site %d is %s, want %s", i, s.Domain, want[i])
		}
		if f := s.Results[0].Findings; len(f) != 1 || f[0].Code != "footer_icp_missing" {
			t.Fatalf("%s read back with findings %+v", s.Domain, f)
		}
	}
	if r.Summary.SitesChecked != 2000 || r.Summary.Sites[checks.Fail] != 2000 {
		t.Errorf("summary %+v", r.Summary)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool visible in %s while the report is open: %v", dir, ents)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool left behind: %v", ents)
	}
}

func TestNewBuilderBadDir(t *testing.T) {
	_, err := NewBuilder(t0, 1, nil, filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.Contains(err.Error(), "audit spool") {
		t.Fatalf("err = %v, want a spool error", err)
	}
}

// BenchmarkReport10k is the report side of a 10,000-site audit: spool
// every site, then write the JSON report.
func BenchmarkReport10k(b *testing.B) {
	sites := fixtureSites()
	for b.Loop() {
		bld, err := NewBuilder(t0, 10000, []string{"footer", "shell", "dns"}, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		for i := range 10000 {
			s := sites[i%len(sites)]
			s.Domain = fmt.Sprintf("s%05d.%s", i, s.Domain)
			if err := bld.Add(s); err != nil {
				b.Fatal(err)
			}
		}
		r, err := bld.Finish(t0, false)
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// An audit stopped before its report (a failed run) leaves no spool; a
// spool that lost bytes is an error, not a short record.
func TestSpoolAbortAndShortRead(t *testing.T) {
	dir := t.TempDir()
	b, err := NewBuilder(t0, 1, []string{"footer"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(fixtureSites()[0]); err != nil {
		t.Fatal(err)
	}
	b.Abort()
	b.Abort() // twice is harmless
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("spool left behind: %v", ents)
	}

	r := build(t, false)
	if err := r.sites.f.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(io.Discard, r); err == nil || !strings.Contains(err.Error(), "audit spool") {
		t.Fatalf("WriteJSON over a truncated spool: %v, want a spool error", err)
	}
}

// TestExemptFindingsAreMarked: a finding an exemption covers is still
// reported, marked exempt in the JSON and the HTML.
func TestExemptFindingsAreMarked(t *testing.T) {
	sites := fixtureSites()
	sites[1].Exempt = []string{"footer_link_obsolete"}
	r := buildFrom(t, len(sites), []string{"footer", "shell", "dns"}, sites, t0.Add(time.Second), false)
	js := jsonOf(t, r)
	if !regexp.MustCompile(`"exempt": \[\s*"footer_link_obsolete"\s*\]`).MatchString(js) || !strings.Contains(js, "linked to a dead host") {
		t.Errorf("JSON does not mark the exempted finding: %s", js)
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, r, HTMLOptions{Lang: "zh"}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), `<span class="badge exempt">已豁免</span>`); n != 1 {
		t.Errorf("HTML marks %d findings exempt, want 1 (obsolete.example.cn only)", n)
	}
}

// TestHTMLLinksScreenshots: a failing rendered footer's screenshot, kept
// next to the report, is linked (not loaded: the page stays
// self-contained); a detail that is not a relative file name is not.
func TestHTMLLinksScreenshots(t *testing.T) {
	for _, tc := range []struct {
		detail, want string
	}{
		{"report-screenshots/a.cn-footer.png", `<a class="screenshot" href="report-screenshots/a.cn-footer.png">`},
		{"javascript:alert(1)", ""},
		{"/etc/passwd", ""},
		{"https://evil.example/x.png", ""},
	} {
		b, err := NewBuilder(time.Now(), 1, []string{checks.CheckFooter}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r := checks.Result{Check: checks.CheckFooter, Outcome: checks.Fail,
			Findings: []checks.Finding{{Code: checks.CodeFooterLinkMissing, Severity: checks.Violation, Message: "m", Evidence: "e"}},
			Details:  map[string]string{DetailScreenshot: tc.detail}}
		if err := b.Add(SiteReport{Domain: "a.cn", Status: checks.StatusFiled, Results: []checks.Result{r}}); err != nil {
			t.Fatal(err)
		}
		rep, err := b.Finish(time.Now(), false)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := WriteHTML(&out, rep, HTMLOptions{Lang: "en"}); err != nil {
			t.Fatal(err)
		}
		rep.Close()
		page := out.String()
		has := strings.Contains(page, `class="screenshot"`)
		if tc.want != "" && !strings.Contains(page, tc.want) || tc.want == "" && has {
			t.Errorf("detail %q: screenshot link present=%v, want %q", tc.detail, has, tc.want)
		}
		if strings.Contains(page, "src=") {
			t.Errorf("detail %q: the page loads an asset", tc.detail)
		}
	}
}

// TestHTMLBlockedFilingsFirst: a site whose first filing is held up by its
// DNS leads the sites table, before other failing sites, with or without
// the page's script (the rows are written in that order).
func TestHTMLBlockedFilingsFirst(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, build(t, false), HTMLOptions{Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	rows := regexp.MustCompile(`<tr data-verdict="[^"]*" [^>]*data-domain="([^"]+)"[^>]*data-verdict-rank="(-?\d)"`).FindAllStringSubmatch(page, -1)
	if len(rows) != 8 {
		t.Fatalf("%d site rows, want 8", len(rows))
	}
	if rows[0][1] != "pending.example.cn" || rows[0][2] != "-1" {
		t.Errorf("first row %v, want the blocked first filing with the lowest rank", rows[0][1:])
	}
	for _, r := range rows[1:] {
		if r[2] == "-1" {
			t.Errorf("%s ranked as a blocked filing", r[1])
		}
	}
}

// TestEmptyShellEntitiesInReport: the audit judges entities from its own
// run: both sites of 甲 are shells (one cancelled site aside); 乙 has a
// live site; 丙 has a site the run could not judge, so it is not judged.
func TestEmptyShellEntitiesInReport(t *testing.T) {
	shell := func(code string) []checks.Result {
		return []checks.Result{result("shell", checks.Fail, finding(code, checks.Violation, "shell", ""))}
	}
	sites := []SiteReport{
		{Domain: "a1.example.cn", ICP: "京ICP备11111111号-1", Entity: "甲公司", Status: checks.StatusFiled, Results: shell("shell_unresolvable")},
		{Domain: "a2.example.cn", ICP: "京ICP备11111111号-2", Entity: "甲公司", Status: checks.StatusFiled, Results: shell("shell_placeholder")},
		{Domain: "a3.example.cn", ICP: "京ICP备11111111号-3", Entity: "甲公司", Status: checks.StatusCancelled},
		{Domain: "b1.example.cn", ICP: "京ICP备22222222号-1", Entity: "乙公司", Status: checks.StatusFiled, Results: shell("shell_unreachable")},
		{Domain: "b2.example.cn", ICP: "京ICP备22222222号-2", Entity: "乙公司", Status: checks.StatusFiled, Results: []checks.Result{result("shell", checks.Pass)}},
		{Domain: "c1.example.cn", ICP: "京ICP备33333333号-1", Entity: "丙公司", Status: checks.StatusFiled, Results: shell("shell_off_provider")},
		{Domain: "c2.example.cn", ICP: "京ICP备33333333号-2", Entity: "丙公司", Status: checks.StatusFiled, Results: []checks.Result{{Check: "shell", Outcome: checks.Inconclusive, Reason: "dns: timeout"}}},
	}
	r := buildFrom(t, len(sites), []string{"shell"}, sites, t0, false)
	got := r.Summary.EmptyShellEntities
	if len(got) != 1 || got[0].Key != "京ICP备11111111号" || got[0].Name != "甲公司" ||
		strings.Join(got[0].Shells, ",") != "a1.example.cn,a2.example.cn" || strings.Join(got[0].Cancelled, ",") != "a3.example.cn" {
		t.Fatalf("empty-shell entities %+v, want 甲公司 only", got)
	}
	if r.Summary.EntitiesUndetermined != 1 {
		t.Errorf("undetermined %d, want 1 (丙公司)", r.Summary.EntitiesUndetermined)
	}
	if js := jsonOf(t, r); !strings.Contains(js, `"empty_shell_entities": [`) || !strings.Contains(js, `"key": "京ICP备11111111号"`) {
		t.Errorf("JSON summary lacks the entities:\n%s", js[:min(len(js), 2000)])
	}
	var b bytes.Buffer
	if err := WriteHTML(&b, r, HTMLOptions{Lang: "en"}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, w := range []string{`<h2 id="entities">Empty-shell entities</h2>`, `<tr data-entity="京ICP备11111111号">`, "a2.example.cn</span>",
		"1 more entities were not judged"} {
		if !strings.Contains(page, w) {
			t.Errorf("HTML lacks %q", w)
		}
	}
	if strings.Contains(page, `data-entity="京ICP备22222222号">`) || strings.Contains(page, `<tr data-entity="京ICP备33333333号">`) {
		t.Error("a live or unjudged entity is listed as an empty shell")
	}
	// Without the shell check nothing is judged, and the page says nothing.
	r2 := buildFrom(t, len(sites), []string{"footer"}, sites, t0, false)
	if len(r2.Summary.EmptyShellEntities) != 0 {
		t.Errorf("entities judged without the shell check: %+v", r2.Summary.EmptyShellEntities)
	}
}
