package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// knownStates is the fixture inventory: one site per state worth telling
// apart, on one shared loopback host.
func knownStates() []fixtureSite {
	filed := checks.StatusFiled
	return []fixtureSite{
		{Domain: "ok.example.cn", ICP: "京ICP备12345678号-1", PSB: "京公网安备11010802012345号", Status: filed, Addr: "127.0.0.1", Page: "compliant.html"},
		{Domain: "obsolete.example.cn", ICP: "京ICP备12345678号-2", Status: filed, Addr: "127.0.0.1", Page: "obsolete.html"},
		{Domain: "missing.example.cn", ICP: "沪ICP备20230001号-1", Status: filed, Addr: "127.0.0.1", Page: "missing.html"},
		{Domain: "unlinked.example.cn", ICP: "浙ICP备20230002号-1", Status: filed, Addr: "127.0.0.1", Page: "unlinked.html"},
		{Domain: "hostile.example.cn", ICP: "京ICP备20230005号-1", Status: filed, Addr: "127.0.0.1", Page: "hostile.html"},
		{Domain: "parked.example.cn", ICP: "京ICP备20230003号-1", Status: filed, Addr: "127.0.0.1", Page: "nginx.html"},
		{Domain: "gone.example.cn", ICP: "京ICP备20230004号-1", Status: filed, Addr: ""},
		{Domain: "broken.example.cn", ICP: "京ICP备20230006号-1", Status: filed, Addr: "127.0.0.1", Code: 502},
		{Domain: "pending.example.cn", ICP: "京ICP备20230007号-1", Status: checks.StatusFirstFilingPending, Addr: "127.0.0.1", Page: "compliant.html"},
		{Domain: "paused.example.cn", ICP: "京ICP备20230008号-1", Status: checks.StatusFirstFilingPending, Addr: ""},
		{Domain: "contact.example.cn", ICP: "京ICP备20230009号-1", Status: filed, Addr: "127.0.0.1", Page: "compliant.html",
			Contacts: "site_head:12012345678"},
	}
}

// expectedFindings is what docs/checks.md says about knownStates: per site, per
// check, the outcome and the finding codes.
var expectedFindings = map[string]map[string]string{
	"ok.example.cn":       {"footer": "pass", "shell": "pass"},
	"obsolete.example.cn": {"footer": "fail footer_link_obsolete", "shell": "pass"},
	"missing.example.cn":  {"footer": "fail footer_icp_missing", "shell": "pass"},
	"unlinked.example.cn": {"footer": "fail footer_link_missing", "shell": "pass"},
	"hostile.example.cn":  {"footer": "fail footer_link_wrong", "shell": "pass"},
	"parked.example.cn":   {"footer": "fail footer_icp_missing", "shell": "fail shell_placeholder"},
	"gone.example.cn":     {"footer": "inconclusive", "shell": "fail shell_unresolvable"},
	"broken.example.cn":   {"footer": "inconclusive", "shell": "fail shell_unreachable"},
	"pending.example.cn":  {"dns": "fail dns_resolving_while_pending"},
	"paused.example.cn":   {"dns": "pass"},
	"contact.example.cn":  {"footer": "pass", "shell": "pass", "contact": "fail contact_invalid_format"},
}

type jsonReport struct {
	Summary struct {
		Partial      bool           `json:"partial"`
		SitesTotal   int            `json:"sites_total"`
		SitesChecked int            `json:"sites_checked"`
		Sites        map[string]int `json:"sites"`
		Started      time.Time      `json:"started"`
		Finished     time.Time      `json:"finished"`
		Findings     []struct {
			Code  string `json:"code"`
			Sites int    `json:"sites"`
		} `json:"findings"`
	} `json:"summary"`
	Sites []checkReport `json:"sites"`
}

func readJSONReport(t *testing.T, path string) jsonReport {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep jsonReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("the JSON report does not parse: %v\n%s", err, data)
	}
	return rep
}

// verdicts renders results as "outcome code code" per check.
func verdicts(rs []checks.Result) map[string]string {
	out := map[string]string{}
	for _, r := range rs {
		v := string(r.Outcome)
		var codes []string
		for _, f := range r.Findings {
			if f.Severity == checks.Violation {
				codes = append(codes, f.Code)
			}
		}
		sort.Strings(codes)
		codes = slices.Compact(codes)
		if len(codes) > 0 {
			v += " " + strings.Join(codes, " ")
		}
		out[r.Check] = v
	}
	return out
}

func TestAuditFindsWhatTheFixtureHolds(t *testing.T) {
	f := newAuditFixture(t, knownStates(), fixtureOptions{})
	path := filepath.Join(f.dir, "audit.json")
	code, stdout, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--report", path, "--quiet")
	if code != exitViolation {
		t.Fatalf("exit %d, want %d (violations found)\nstderr:\n%s", code, exitViolation, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout is not clean with --report: %q", stdout)
	}
	rep := readJSONReport(t, path)
	if rep.Summary.Partial || rep.Summary.SitesChecked != len(expectedFindings) || rep.Summary.SitesTotal != len(expectedFindings) {
		t.Fatalf("summary = %+v", rep.Summary)
	}
	got := map[string]map[string]string{}
	for _, s := range rep.Sites {
		got[s.Domain] = verdicts(s.Results)
	}
	for domain, want := range expectedFindings {
		for check, w := range want {
			if g := got[domain][check]; g != w {
				t.Errorf("%s %s: %q, want %q", domain, check, g, w)
			}
		}
		for check, g := range got[domain] {
			if _, ok := want[check]; !ok {
				t.Errorf("%s: unexpected %s result %q", domain, check, g)
			}
		}
	}
	if s := rep.Summary.Sites; s["fail"] != 9 || s["inconclusive"] != 0 || s["pass"] != 2 {
		t.Errorf("sites by verdict = %v, want 9 fail, 2 pass", s)
	}
	if !rep.Summary.Finished.After(rep.Summary.Started) {
		t.Errorf("finished %v is not after started %v", rep.Summary.Finished, rep.Summary.Started)
	}
	if raw, _ := os.ReadFile(path); bytes.Contains(raw, []byte("12012345678")) {
		t.Error("the report leaks a contact number")
	}
	if !strings.Contains(stderr, "audit complete: 11 of 11 sites") {
		t.Errorf("stderr lacks the closing summary:\n%s", stderr)
	}
}

func TestAuditCSV(t *testing.T) {
	f := newAuditFixture(t, knownStates(), fixtureOptions{})
	jsonPath, csvPath := filepath.Join(f.dir, "a.json"), filepath.Join(f.dir, "a.csv")
	if code, _, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--report", jsonPath, "--quiet"); code != exitViolation {
		t.Fatalf("json run: exit %d\n%s", code, stderr)
	}
	if code, _, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--report", csvPath, "--quiet"); code != exitViolation {
		t.Fatalf("csv run: exit %d\n%s", code, stderr)
	}
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		t.Error("the CSV has no UTF-8 BOM")
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	if got := strings.Join(recs[0], ","); got != "domain,icp,check,outcome,code,severity,message,evidence" {
		t.Fatalf("header %q", got)
	}
	// One row per finding of the JSON report of the same fixture.
	want := map[string]int{}
	for _, s := range readJSONReport(t, jsonPath).Sites {
		for _, r := range s.Results {
			for _, fd := range r.Findings {
				want[s.Domain+" "+r.Check+" "+fd.Code]++
			}
		}
	}
	got := map[string]int{}
	for _, r := range recs[1:] {
		got[r[0]+" "+r[2]+" "+r[4]]++
		if r[0] == "contact.example.cn" && strings.Contains(strings.Join(r, ","), "12012345678") {
			t.Errorf("unmasked contact number in %v", r)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CSV rows %v\nwant one per finding %v", got, want)
	}
}

// chromium returns the headless browser's path, or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") != "" {
		t.Fatal("chromium not found and BEIANWATCH_REQUIRE_INTEGRATION is set")
	}
	t.Skip("chromium not found")
	return ""
}

// renderedDOM opens a file in headless Chromium and returns the DOM after
// its scripts ran.
func renderedDOM(t *testing.T, file string) *goquery.Document {
	t.Helper()
	bin := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+file)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, errb.String())
	}
	doc, err := goquery.NewDocumentFromReader(&out)
	if err != nil {
		t.Fatalf("parsing chromium's DOM: %v", err)
	}
	return doc
}

func TestAuditHTMLRendersInABrowser(t *testing.T) {
	f := newAuditFixture(t, knownStates(), fixtureOptions{})
	path := filepath.Join(f.dir, "audit.html")
	code, _, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--report", path, "--quiet")
	if code != exitViolation {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>alert(1)", "12012345678"} {
		if bytes.Contains(raw, []byte(bad)) {
			t.Errorf("the page contains %q", bad)
		}
	}
	doc := renderedDOM(t, path)
	if doc.Find("html").AttrOr("data-ready", "") != "1" {
		t.Fatal("the page's script did not run to the end")
	}
	num := func(sel string) int {
		s := strings.TrimSpace(doc.Find(sel).First().Text())
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %q is not a number", sel, s)
		}
		return n
	}
	// The summary cards and what the script counted from the rows.
	for sel, want := range map[string]int{
		"#sites-checked": 11, "#sites-total": 11, "#sites-fail": 9, "#sites-pass": 2, "#sites-inconclusive": 0,
		"#shown": 11, "#rows": 11,
	} {
		if got := num(sel); got != want {
			t.Errorf("%s = %d, want %d", sel, got, want)
		}
	}
	for verdict, want := range map[string]string{"fail": "9", "pass": "2", "inconclusive": "0"} {
		if got := doc.Find(`#fverdict option[value="`+verdict+`"]`).AttrOr("data-count", ""); got != want {
			t.Errorf("script's count of %s rows = %q, want %s", verdict, got, want)
		}
	}
	// Summary by code: sites per code, with the notices' fix text.
	for code, want := range map[string]int{
		"footer_icp_missing": 2, "footer_link_obsolete": 1, "footer_link_missing": 1, "footer_link_wrong": 1,
		"shell_placeholder": 1, "shell_unresolvable": 1, "shell_unreachable": 1, "dns_resolving_while_pending": 1,
		"contact_invalid_format": 1,
	} {
		row := doc.Find(`#codes tr[data-code="` + code + `"]`)
		if row.Length() != 1 {
			t.Errorf("no summary row for %s", code)
			continue
		}
		if got := strings.TrimSpace(row.Find("td.count-sites").Text()); got != strconv.Itoa(want) {
			t.Errorf("%s: %s sites, want %d", code, got, want)
		}
		if fix := strings.TrimSpace(row.Find("td.fixtext").Text()); len([]rune(fix)) < 10 {
			t.Errorf("%s: no fix text (%q)", code, fix)
		}
	}
	if fix := doc.Find(`#codes tr[data-code="footer_link_obsolete"] td.fixtext`).Text(); !strings.Contains(fix, "https://beian.miit.gov.cn/") {
		t.Errorf("the fix text is not the notice's (Chinese) text: %q", fix)
	}
	// The script sorted the table worst first.
	if got := doc.Find("#site-table").AttrOr("data-sorted", ""); got != "verdict-rank:asc" {
		t.Errorf("table sorted %q, want by verdict", got)
	}
	var order []string
	doc.Find("#sites-body tr").Each(func(_ int, s *goquery.Selection) { order = append(order, s.AttrOr("data-verdict", "")) })
	if len(order) != 11 || order[0] != "fail" || order[8] != "fail" || order[9] != "pass" {
		t.Errorf("row verdicts in order %v, want fails first", order)
	}
	// Hostile page text was displayed as text.
	if doc.Find("script").Length() != 1 {
		t.Errorf("%d script elements in the rendered page, want only the report's own", doc.Find("script").Length())
	}
}

func TestAuditInterruptedWritesPartialReport(t *testing.T) {
	sites := []fixtureSite{
		{Domain: "a.example.cn", ICP: "京ICP备12345678号-1", Status: checks.StatusFiled, Addr: "127.0.0.1", Page: "compliant.html"},
		{Domain: "b.example.cn", ICP: "京ICP备12345678号-2", Status: checks.StatusFiled, Addr: "127.0.0.1", Page: "compliant.html"},
		{Domain: "hang.example.cn", ICP: "京ICP备12345678号-3", Status: checks.StatusFiled, Addr: "127.0.0.1", Hang: true},
		{Domain: "d.example.cn", ICP: "京ICP备12345678号-4", Status: checks.StatusFiled, Addr: "127.0.0.1", Page: "obsolete.html"},
		{Domain: "e.example.cn", ICP: "京ICP备12345678号-5", Status: checks.StatusFiled, Addr: "127.0.0.1", Page: "compliant.html"},
	}
	for _, format := range []string{"json", "html"} {
		t.Run(format, func(t *testing.T) {
			f := newAuditFixture(t, sites, fixtureOptions{concurrency: 1})
			path := filepath.Join(f.dir, "audit."+format)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-f.hung: // Ctrl-C while the third site hangs
					cancel()
				case <-time.After(20 * time.Second):
				}
			}()
			start := time.Now()
			code, _, stderr := runAuditCLI(ctx, "audit", "--config", f.config, "--report", path, "--quiet")
			if took := time.Since(start); took > 2500*time.Millisecond {
				t.Errorf("the audit took %v to stop; it should stop at once, not wait out the fetch timeout", took)
			}
			if code != exitInconclusive {
				t.Fatalf("exit %d, want %d (partial, nothing violated)\n%s", code, exitInconclusive, stderr)
			}
			if !strings.Contains(stderr, "PARTIAL") {
				t.Errorf("stderr does not say the audit is partial:\n%s", stderr)
			}
			// Neither the results spool nor a half-written report is left
			// next to the report.
			ents, _ := os.ReadDir(f.dir)
			for _, e := range ents {
				if strings.Contains(e.Name(), ".spool") || strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("left behind in the report directory: %s", e.Name())
				}
			}
			if format == "html" {
				raw, _ := os.ReadFile(path)
				if !bytes.Contains(raw, []byte(`id="partial"`)) || !bytes.Contains(raw, []byte("2 / 5")) {
					t.Errorf("the HTML report does not say it is partial")
				}
				return
			}
			rep := readJSONReport(t, path)
			if !rep.Summary.Partial || rep.Summary.SitesChecked != 2 || rep.Summary.SitesTotal != 5 {
				t.Fatalf("summary = %+v, want partial, 2 of 5", rep.Summary)
			}
			for _, s := range rep.Sites {
				if s.Domain != "a.example.cn" && s.Domain != "b.example.cn" {
					t.Errorf("%s is in the report; only finished sites belong there", s.Domain)
				}
			}
		})
	}
}

func TestAuditHonoursPerIPLimit(t *testing.T) {
	var sites []fixtureSite
	for i := range 24 {
		sites = append(sites, fixtureSite{Domain: fmt.Sprintf("s%02d.example.cn", i), ICP: fmt.Sprintf("京ICP备123456%02d号-1", i),
			Status: checks.StatusFiled, Addr: "127.0.0.1", Page: "compliant.html"})
	}
	for _, limit := range []int{1, 3} {
		t.Run(fmt.Sprintf("per_ip=%d", limit), func(t *testing.T) {
			f := newAuditFixture(t, sites, fixtureOptions{concurrency: 12, perIP: limit, delay: 15 * time.Millisecond})
			code, _, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--report", filepath.Join(f.dir, "a.json"), "--quiet")
			if code != exitOK {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if p := int(f.peak.Load()); p > limit {
				t.Fatalf("the shared host served %d requests at once; per_ip_concurrency is %d", p, limit)
			} else if p < limit {
				t.Fatalf("peak %d below the limit %d: the test did not press against it", p, limit)
			}
			// Footer and shell share one fetch of each homepage.
			if n := int(f.requests.Load()); n != len(sites) {
				t.Errorf("%d homepage requests for %d sites, want one each", n, len(sites))
			}
		})
	}
}

func TestAuditRecordsIntoTheStoreWhileItIsBusy(t *testing.T) {
	f := newAuditFixture(t, knownStates(), fixtureOptions{failAfter: 1})
	dbPath := filepath.Join(f.dir, "data", "beianwatch.db")
	// Another writer (the daemon) holds the database for a while.
	st, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	go st.InTx(context.Background(), func(tx *sql.Tx) error {
		if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS busy_marker (x INTEGER)`); err != nil {
			return err
		}
		close(held)
		time.Sleep(700 * time.Millisecond)
		return nil
	})
	<-held
	code, _, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--record", "--report", filepath.Join(f.dir, "a.json"), "--quiet")
	if code != exitViolation {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "recorded ") {
		t.Fatalf("stderr does not report the recording:\n%s", stderr)
	}
	ctx := context.Background()
	latest, err := st.LatestResults(ctx, "obsolete.example.cn")
	if err != nil {
		t.Fatal(err)
	}
	if v := verdicts(resultsOf(latest)); v["footer"] != "fail footer_link_obsolete" || v["shell"] != "pass" {
		t.Fatalf("stored results of obsolete.example.cn = %v", v)
	}
	// With failure_threshold 1 the violations opened and owner notices
	// wait for the daemon's notify workers.
	open, err := st.Violations(ctx, store.ViolationFilter{Domain: "obsolete.example.cn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 1 || open[0].Code != "footer_link_obsolete" || string(open[0].Status) != "open" {
		t.Fatalf("violations of obsolete.example.cn = %+v", open)
	}
	notices, err := st.Notices(ctx, store.NoticeFilter{Domain: "obsolete.example.cn"})
	if err != nil {
		t.Fatal(err)
	}
	if len(notices) != 1 || notices[0].State != store.NoticeQueued {
		t.Fatalf("notices = %+v, want one queued", notices)
	}
	var jobs int
	if err := st.DB().QueryRow(`SELECT count(*) FROM river_job WHERE kind = 'notify'`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs < 9 {
		t.Errorf("%d notify jobs queued, want one per failing site (9)", jobs)
	}
	// Inconclusive results are stored but open nothing.
	if vs, _ := st.Violations(ctx, store.ViolationFilter{Domain: "gone.example.cn"}); len(vs) != 1 || vs[0].Code != "shell_unresolvable" {
		t.Errorf("violations of gone.example.cn = %+v, want only shell_unresolvable", vs)
	}
	st.Close()
}

func resultsOf(rs []store.SiteResult) []checks.Result {
	out := make([]checks.Result, len(rs))
	for i, r := range rs {
		out[i] = r.Result
	}
	return out
}

func TestAuditUsageErrors(t *testing.T) {
	f := newAuditFixture(t, knownStates()[:1], fixtureOptions{})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"audit"}, "--config is required"},
		{"bad format", []string{"audit", "--config", f.config, "--format", "xml"}, "--format must be"},
		{"bad only", []string{"audit", "--config", f.config, "--only", "footer,fotter"}, "unknown check"},
		{"bad lang", []string{"audit", "--config", f.config, "--lang", "fr"}, "--lang must be"},
		{"zero concurrency", []string{"audit", "--config", f.config, "--concurrency", "0"}, "at least 1"},
		{"stray argument", []string{"audit", "--config", f.config, "example.cn"}, "unexpected arguments"},
		{"missing report dir", []string{"audit", "--config", f.config, "--report", filepath.Join(f.dir, "nope", "a.json")}, "does not exist"},
		{"missing config", []string{"audit", "--config", filepath.Join(f.dir, "nope.yaml")}, "nope.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runAuditCLI(context.Background(), tt.args...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d\n%s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q lacks %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
}

// TestAuditToStdoutAndPlainProgress: without --report the report goes to
// standard output and progress lines to standard error, so a pipe gets
// clean JSON.
func TestAuditToStdoutAndPlainProgress(t *testing.T) {
	f := newAuditFixture(t, knownStates()[:3], fixtureOptions{delay: 30 * time.Millisecond})
	code, stdout, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--progress-every", "10ms", "--concurrency", "1")
	if code != exitViolation {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var rep jsonReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	if rep.Summary.SitesChecked != 3 {
		t.Errorf("sites_checked = %d", rep.Summary.SitesChecked)
	}
	if !strings.Contains(stderr, "audit: 3/3 sites (100%)") || !strings.Contains(stderr, "fail 2 · inconclusive 0 · pass 1") {
		t.Errorf("no plain progress line on stderr:\n%s", stderr)
	}
}

// BenchmarkAudit measures the whole command on a shared loopback host:
// sites/s is the figure to compare (the farm bench drives the binary on
// 10,000 sites).
func BenchmarkAudit(b *testing.B) {
	var sites []fixtureSite
	for i := range 500 {
		page := []string{"compliant.html", "obsolete.html", "missing.html", "nginx.html"}[i%4]
		sites = append(sites, fixtureSite{Domain: fmt.Sprintf("b%04d.example.cn", i), ICP: fmt.Sprintf("京ICP备2023%04d号-1", i),
			Status: checks.StatusFiled, Addr: "127.0.0.1", Page: page})
	}
	f := newAuditFixture(b, sites, fixtureOptions{concurrency: 32, perIP: 32})
	report := filepath.Join(f.dir, "a.json")
	b.ResetTimer()
	for b.Loop() {
		if code, _, stderr := runAuditCLI(context.Background(), "audit", "--config", f.config, "--report", report, "--quiet"); code != exitViolation {
			b.Fatalf("exit %d\n%s", code, stderr)
		}
	}
	b.ReportMetric(float64(len(sites)*b.N)/b.Elapsed().Seconds(), "sites/s")
}
