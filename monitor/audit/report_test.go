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

	"github.com/beianwatch/beianwatch/beian"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func finding(code string, sev beian.Severity, msg, ev string) beian.Finding {
	return beian.Finding{Code: code, Severity: sev, Message: msg, Evidence: ev}
}

func result(check string, o beian.Outcome, fs ...beian.Finding) beian.Result {
	return beian.Result{Check: check, Outcome: o, Findings: fs}
}

// fixtureSites is an audit in known states: one site per interesting
// shape, including hostile page text and an unmasked phone number.
func fixtureSites() []SiteReport {
	return []SiteReport{
		{Domain: "ok.example.cn", ICP: "京ICP备12345678号-1", Status: beian.StatusFiled, Results: []beian.Result{
			result("footer", beian.Pass), result("shell", beian.Pass)}},
		{Domain: "obsolete.example.cn", ICP: "京ICP备12345678号-2", Status: beian.StatusFiled, Results: []beian.Result{
			result("footer", beian.Fail, finding("footer_link_obsolete", beian.Violation, "linked to a dead host",
				`<a href="http://www.miitbeian.gov.cn">京ICP备12345678号-2</a><script>alert(1)</script>`)),
			result("shell", beian.Pass)}},
		{Domain: "hostile.example.cn", ICP: "沪ICP备87654321号-1", Status: beian.StatusFiled, Results: []beian.Result{
			result("footer", beian.Fail,
				finding("footer_link_obsolete", beian.Violation, "linked to a dead host", "=HYPERLINK(\"http://evil\",\"x\")"),
				finding("footer_link_obsolete", beian.Violation, "again, mobile copy", "-1"),
				finding("footer_icp_format", beian.Warning, "non-standard form", "沪ICP备87654321-1号")),
			result("shell", beian.Pass)}},
		{Domain: "warn.example.cn", ICP: "粤ICP备2020123456号-1", Status: beian.StatusFiled, Entity: "张三 13700001111 个人工作室", Results: []beian.Result{
			result("footer", beian.Pass, finding("footer_not_at_bottom", beian.Warning, "near the top", "客服 13812345678"))}},
		{Domain: "slow.example.cn", ICP: "京ICP备11111111号-1", Status: beian.StatusFiled, Results: []beian.Result{
			{Check: "footer", Outcome: beian.Inconclusive, Reason: "fetch timed out; call 13987654321"},
			result("shell", beian.Pass)}},
		{Domain: "pending.example.cn", ICP: "京ICP备22222222号-1", Status: beian.StatusFirstFilingPending, Results: []beian.Result{
			result("dns", beian.Fail, finding("dns_resolving_while_pending", beian.Violation, "resolves", "A 203.0.113.5"))}},
	}
}

func build(t *testing.T, partial bool) *Report {
	t.Helper()
	return buildFrom(t, 8, []string{"footer", "shell", "dns"}, fixtureSites(), t0.Add(1500*time.Millisecond), partial)
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
	if s.SitesChecked != 6 || s.SitesTotal != 8 || s.DurationMS != 1500 || s.Partial {
		t.Fatalf("summary head = %+v", s)
	}
	wantSites := map[beian.Outcome]int{beian.Pass: 2, beian.Fail: 3, beian.Inconclusive: 1}
	for o, n := range wantSites {
		if s.Sites[o] != n {
			t.Errorf("sites %s = %d, want %d", o, s.Sites[o], n)
		}
	}
	if got := s.Results["footer"]; got[beian.Pass] != 2 || got[beian.Fail] != 2 || got[beian.Inconclusive] != 1 {
		t.Errorf("footer results = %v", got)
	}
	want := []CodeCount{
		{Code: "footer_link_obsolete", Check: "footer", Severity: beian.Violation, Sites: 2, Findings: 3},
		{Code: "dns_resolving_while_pending", Check: "dns", Severity: beian.Violation, Sites: 1, Findings: 1},
		{Code: "footer_icp_format", Check: "footer", Severity: beian.Warning, Sites: 1, Findings: 1},
		{Code: "footer_not_at_bottom", Check: "footer", Severity: beian.Warning, Sites: 1, Findings: 1},
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
	if len(sites) != 6 {
		t.Fatalf("%d sites read back, want 6", len(sites))
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
	pass := SiteReport{Domain: "a.cn", Results: []beian.Result{result("footer", beian.Pass)}}
	fail := SiteReport{Domain: "b.cn", Results: []beian.Result{result("footer", beian.Fail)}}
	inc := SiteReport{Domain: "c.cn", Results: []beian.Result{{Check: "footer", Outcome: beian.Inconclusive}}}
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
			Domain  string         `json:"domain"`
			ICP     string         `json:"icp"`
			Status  string         `json:"status"`
			Results []beian.Result `json:"results"`
		} `json:"sites"`
	}
	js := jsonOf(t, r)
	if err := json.Unmarshal([]byte(js), &got); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	if !got.Summary.Partial || got.Summary.SitesChecked != 6 || got.Summary.Sites["fail"] != 3 || !got.Summary.Started.Equal(t0) {
		t.Fatalf("summary = %+v", got.Summary)
	}
	if len(got.Sites) != 6 || got.Sites[0].Domain != "hostile.example.cn" || len(got.Sites[0].Results[0].Findings) != 3 {
		t.Fatalf("sites = %+v", got.Sites)
	}
	// Page text stays readable, not \u003c-escaped.
	if !strings.Contains(js, `<a href=\"http://www.miitbeian.gov.cn\">`) {
		t.Errorf("evidence was HTML-escaped in JSON")
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, build(t, false)); err != nil {
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
	if strings.Join(recs[0], ",") != "domain,icp,check,outcome,code,severity,message,evidence" {
		t.Fatalf("header = %v", recs[0])
	}
	if n := len(recs) - 1; n != 6 {
		t.Fatalf("%d rows, want one per finding (6)", n)
	}
	byEvidence := map[string][]string{}
	for _, r := range recs[1:] {
		byEvidence[r[7]] = r
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
		{"", true, []string{`lang="zh-CN"`, "备案合规核查报告", "核查未完成", "备案号链接指向已停用的旧地址", "把链接地址改为", `id="sites-fail">3<`, `id="sites-pass">2<`, `id="sites-inconclusive">1<`}},
		{"en", false, []string{`lang="en"`, "ICP filing compliance audit", "Link it to https://beian.miit.gov.cn/", "Findings by code"}},
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
		if err := b.Add(SiteReport{Domain: d, Results: []beian.Result{result("footer", beian.Fail,
			finding("footer_icp_missing", beian.Violation, "none shown", strings.Repeat("页", i%300)))}}); err != nil {
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
	if r.Summary.SitesChecked != 2000 || r.Summary.Sites[beian.Fail] != 2000 {
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
		b, err := NewBuilder(time.Now(), 1, []string{beian.CheckFooter}, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r := beian.Result{Check: beian.CheckFooter, Outcome: beian.Fail,
			Findings: []beian.Finding{{Code: beian.CodeFooterLinkMissing, Severity: beian.Violation, Message: "m", Evidence: "e"}},
			Details:  map[string]string{DetailScreenshot: tc.detail}}
		if err := b.Add(SiteReport{Domain: "a.cn", Status: beian.StatusFiled, Results: []beian.Result{r}}); err != nil {
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
