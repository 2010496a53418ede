package alerts

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files from the current output")

// fixedAt is 2026-03-02 09:30 in Beijing.
var fixedAt = time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)

var testSite = SiteRef{
	Domain: "example.cn",
	ICP:    "京ICP备2023012345号-1",
	PSB:    "京公网安备11010802012345号",
	Entity: "示例科技有限公司",
}

// sampleEvidence is what each check would report; it covers every code.
var sampleEvidence = map[string]string{
	"footer_icp_missing":          "visible text: 版权所有 © 2026 示例科技 ICP证：京B2-20201234",
	"footer_icp_mismatch":         "shown: 京ICP备19000001号-3; expected 京ICP备2023012345号-1",
	"footer_link_missing":         `<span>京ICP备2023012345号-1</span>`,
	"footer_link_obsolete":        `<a href="http://www.miitbeian.gov.cn/">京ICP备2023012345号-1</a>`,
	"footer_link_wrong":           `<a href="https://beian.miit.gov.cn.example.com/">京ICP备2023012345号-1</a>`,
	"footer_icp_format":           "京ICP备：2023012345-1号",
	"footer_icp_entity_only":      "京ICP备2023012345号",
	"footer_not_at_bottom":        "number found at 3% of the page, outside any footer",
	"footer_psb_missing":          "expected 京公网安备11010802012345号",
	"footer_psb_link_missing":     "<span>京公网安备 11010802012345号</span>",
	"footer_psb_link_wrong":       `<a href="https://beian.mps.gov.cn/#/query/webSearch?code=44030502000001">京公网安备11010802012345号</a>`,
	"footer_psb_link_old":         `<a href="http://www.beian.gov.cn/portal/registerSystemInfo?recordcode=11010802012345">京公网安备11010802012345号</a>`,
	"shell_unresolvable":          "example.cn: NXDOMAIN; www.example.cn: NXDOMAIN",
	"shell_off_provider":          "example.cn A 198.51.100.7 (filed 203.0.113.10-203.0.113.20; provider 203.0.113.0/24)",
	"shell_unreachable":           "GET https://example.cn/: 502 Bad Gateway",
	"shell_placeholder":           "<title>Welcome to nginx!</title>",
	"dns_resolving_while_pending": "example.cn A 203.0.113.12 (223.5.5.5:53); www.example.cn CNAME example.cn.",
	"contact_invalid_format":      "site_head: 1381234567 (10 digits)",
	"contact_vacant":              "site_head: 138****5678 vacant",
	"contact_suspended":           "entity_head: 139****0000 suspended",
	"contact_powered_off":         "emergency: 137****1111 powered_off",
	"contact_unreachable":         "site_head: 136****2222 unreachable",
	"entity_empty_shell":          "entity=京ICP备12345678号 shells=a.example.cn,b.example.cn cancelled=c.example.cn",
}

var (
	sharedRendererOnce sync.Once
	sharedRenderer     *Renderer
	sharedRendererErr  error
)

// newTestRenderer returns a default renderer, built once: a Renderer is
// safe for concurrent use, and building one runs its self-test.
func newTestRenderer(t testing.TB) *Renderer {
	t.Helper()
	sharedRendererOnce.Do(func() { sharedRenderer, sharedRendererErr = NewRenderer(RendererOptions{}) })
	if sharedRendererErr != nil {
		t.Fatalf("NewRenderer: %v", sharedRendererErr)
	}
	return sharedRenderer
}

func opened(code string) ViolationChange {
	return ViolationChange{
		Code: code, Transition: TransitionOpened, Severity: "violation",
		Evidence: sampleEvidence[code],
		OpenedAt: fixedAt.Add(-24 * time.Hour),
		Deadline: fixedAt.Add(240 * time.Hour),
	}
}

func goldenText(r *Rendered) string {
	return "== subject ==\n" + r.Title + "\n\n== text ==\n" + r.Text + "\n\n== markdown ==\n" + r.Markdown + "\n"
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./alerts/ -run %s -update to create it): %v", t.Name(), err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file; diff:\n%s\n(rerun with -update if the change is intended)", path, lineDiff(string(want), got))
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 8; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + "\n- " + wl + "\n+ " + gl + "\n")
			shown++
		}
	}
	return b.String()
}

// TestGoldenEveryCode renders a one-violation owner notice for every code
// in both primary languages and compares it with testdata/golden.
func TestGoldenEveryCode(t *testing.T) {
	r := newTestRenderer(t)
	for _, code := range Codes() {
		for _, lang := range Languages() {
			t.Run(code+"."+lang, func(t *testing.T) {
				n := NewOwnerNotice(testSite, "batch-42", []ViolationChange{opened(code)}, lang, fixedAt)
				out, err := r.Render(n)
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				checkGolden(t, code+"."+lang, goldenText(out))
			})
		}
	}
}

// TestGoldenNotices covers the transitions, the ops notices and a code
// this binary does not know.
func TestGoldenNotices(t *testing.T) {
	r := newTestRenderer(t)
	resolvedAt := fixedAt.Add(-2 * time.Hour)
	reminder := opened("footer_psb_link_old")
	reminder.Transition = TransitionReminder
	reminder.Deadline = fixedAt.Add(36 * time.Hour)
	escalated := opened("contact_vacant")
	escalated.Transition = TransitionEscalated
	escalated.OpenedAt = fixedAt.Add(-12 * 24 * time.Hour)
	escalated.Deadline = fixedAt.Add(-2*24*time.Hour - time.Hour)
	resolved := opened("shell_unreachable")
	resolved.Transition = TransitionResolved
	resolved.ResolvedAt = &resolvedAt
	future := ViolationChange{Code: "footer_icp_in_svg", Transition: TransitionOpened, Severity: "violation",
		Message: "the filing number is drawn as SVG paths", Evidence: "<svg>…</svg>",
		OpenedAt: fixedAt, Deadline: fixedAt.Add(240 * time.Hour)}
	warning := ViolationChange{Code: "footer_not_at_bottom", Transition: TransitionOpened, Severity: "warning",
		Evidence: sampleEvidence["footer_not_at_bottom"], OpenedAt: fixedAt}

	cases := []struct {
		name string
		n    *Notice
	}{
		{"batch.zh", NewOwnerNotice(testSite, "b1", []ViolationChange{opened("footer_link_obsolete"), reminder, escalated, resolved}, LangZH, fixedAt)},
		{"batch.en", NewOwnerNotice(testSite, "b1", []ViolationChange{opened("footer_link_obsolete"), reminder, escalated, resolved}, LangEN, fixedAt)},
		{"all_resolved.zh", NewOwnerNotice(testSite, "b2", []ViolationChange{resolved}, LangZH, fixedAt)},
		{"unknown_code_and_warning.en", NewOwnerNotice(SiteRef{Domain: "example.com.cn"}, "b3", []ViolationChange{future, warning}, LangEN, fixedAt)},
		{"escalation.zh", NewEscalationNotice("ExampleCloud", testSite, "b4", []ViolationChange{escalated}, LangZH, fixedAt)},
		// An empty-shell entity found: the ops channel hears at once, in
		// words of its own, not as a deadline passed.
		{"entity_summary.zh", NewEscalationNotice("ExampleCloud", testSite, "b5", []ViolationChange{opened("entity_empty_shell")}, LangZH, fixedAt)},
		{"entity_summary.en", NewEscalationNotice("ExampleCloud", testSite, "b5", []ViolationChange{opened("entity_empty_shell")}, LangEN, fixedAt)},
		{"storm.zh", NewStormNotice("ExampleCloud", StormSummary{Check: "dns", Failing: 1234, Total: 5000, Held: 1180, Since: fixedAt.Add(-20 * time.Minute)}, "dns-1", LangZH, fixedAt)},
		{"storm.en", NewStormNotice("ExampleCloud", StormSummary{Check: "footer", Failing: 1, Total: 1, Held: 1, Since: fixedAt}, "footer-1", LangEN, fixedAt)},
		{"storm_inconclusive.zh", NewStormNotice("ExampleCloud", StormSummary{Check: "footer", Failing: 480, Total: 500, Inconclusive: true, Since: fixedAt}, "footer-2", LangZH, fixedAt)},
		{"storm_inconclusive_ended.en", NewStormNotice("ExampleCloud", StormSummary{Check: "dns", Failing: 0, Total: 500, Inconclusive: true, Since: fixedAt.Add(-40 * time.Minute), Ended: fixedAt}, "dns-2", LangEN, fixedAt)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := r.Render(tc.n)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			checkGolden(t, tc.name, goldenText(out))
		})
	}
}

// TestEveryCodeHasTemplates: a code without a template in any language, or
// a template for a code that is not known, fails.
func TestEveryCodeHasTemplates(t *testing.T) {
	r := newTestRenderer(t)
	for _, lang := range Languages() {
		files, err := fs.Glob(templatesFS, "templates/"+lang+"/codes/*.tmpl")
		if err != nil {
			t.Fatal(err)
		}
		var have []string
		for _, f := range files {
			have = append(have, strings.TrimSuffix(filepath.Base(f), ".tmpl"))
		}
		for _, code := range Codes() {
			if !slices.Contains(have, code) {
				t.Errorf("%s: no template for code %s (add templates/%s/codes/%s.tmpl)", lang, code, lang, code)
				continue
			}
			title, fix, err := r.Fix(code, lang)
			if err != nil {
				t.Errorf("Fix(%s, %s): %v", code, lang, err)
				continue
			}
			if strings.TrimSpace(title) == "" || len([]rune(fix)) < 20 {
				t.Errorf("Fix(%s, %s): title %q, fix %q: too thin to help an owner", code, lang, title, fix)
			}
			if strings.Contains(title+fix, "<no value>") {
				t.Errorf("Fix(%s, %s) shows <no value>", code, lang)
			}
		}
		for _, h := range have {
			if !KnownCode(h) {
				t.Errorf("%s: template codes/%s.tmpl is for a code not in Codes()", lang, h)
			}
		}
	}
	for _, code := range Codes() {
		if _, ok := sampleEvidence[code]; !ok {
			t.Errorf("test fixture sampleEvidence lacks %s", code)
		}
	}
}

// TestFixIsConcrete pins the instructions an owner must get; a template
// edit that loses them fails here.
func TestFixIsConcrete(t *testing.T) {
	r := newTestRenderer(t)
	cases := []struct {
		code, lang string
		want       []string
	}{
		{"footer_link_obsolete", LangZH, []string{"https://beian.miit.gov.cn/", "miitbeian.gov.cn"}},
		{"footer_link_obsolete", LangEN, []string{"https://beian.miit.gov.cn/", "miitbeian.gov.cn", "www.beian.miit.gov.cn"}},
		{"footer_link_missing", LangZH, []string{"https://beian.miit.gov.cn/", "<a href="}},
		{"footer_link_wrong", LangEN, []string{"exactly beian.miit.gov.cn"}},
		{"footer_icp_missing", LangZH, []string{"底部", "https://beian.miit.gov.cn/"}},
		{"dns_resolving_while_pending", LangZH, []string{"暂停", "备案通过", "A、AAAA、CNAME"}},
		{"dns_resolving_while_pending", LangEN, []string{"pause", "until the filing is granted"}},
		{"contact_invalid_format", LangZH, []string{"变更备案"}},
		{"contact_vacant", LangEN, []string{"change filing (变更备案)"}},
		{"contact_suspended", LangZH, []string{"变更备案", "复机"}},
		{"footer_psb_link_old", LangZH, []string{"https://beian.mps.gov.cn/#/query/webSearch?code="}},
		{"footer_psb_missing", LangEN, []string{"https://beian.mps.gov.cn/#/query/webSearch?code="}},
		{"shell_off_provider", LangZH, []string{"新增接入", "变更备案"}},
		{"shell_unresolvable", LangEN, []string{"cancel its access"}},
	}
	for _, tc := range cases {
		_, fix, err := r.Fix(tc.code, tc.lang)
		if err != nil {
			t.Fatalf("Fix(%s, %s): %v", tc.code, tc.lang, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(fix, w) {
				t.Errorf("Fix(%s, %s) lacks %q:\n%s", tc.code, tc.lang, w, fix)
			}
		}
	}
}

func TestFixErrors(t *testing.T) {
	r := newTestRenderer(t)
	if _, _, err := r.Fix("footer_nope", LangZH); !errors.Is(err, ErrUnknownCode) {
		t.Errorf("unknown code: err = %v, want ErrUnknownCode", err)
	}
	if _, _, err := r.Fix("footer_link_missing", "fr"); err == nil || !strings.Contains(err.Error(), `"fr"`) {
		t.Errorf("unknown language: err = %v, want it to name the language", err)
	}
	title, _, err := r.Fix("footer_link_missing", "")
	if err != nil || !strings.Contains(title, "备案号") {
		t.Errorf("default language should be zh: title %q, err %v", title, err)
	}
	en, err := NewRenderer(RendererOptions{Language: "en-US"})
	if err != nil {
		t.Fatal(err)
	}
	if title, _, _ := en.Fix("footer_link_missing", ""); !strings.Contains(title, "not linked") {
		t.Errorf("renderer default en: title %q", title)
	}
}

func TestBilingualOrder(t *testing.T) {
	r := newTestRenderer(t)
	for _, tc := range []struct{ lang, first, second string }{
		{LangZH, "备案整改通知", "ICP compliance notice"},
		{LangEN, "ICP compliance notice", "备案整改通知"},
	} {
		out, err := r.Render(NewOwnerNotice(testSite, "b", []ViolationChange{opened("footer_link_missing")}, tc.lang, fixedAt))
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range []string{out.Text, out.Markdown} {
			i, j := strings.Index(body, tc.first), strings.Index(body, tc.second)
			if i < 0 || j < 0 || i > j {
				t.Errorf("%s: want %q before %q in\n%s", tc.lang, tc.first, tc.second, body)
			}
		}
		if out.Language != tc.lang {
			t.Errorf("Language = %q, want %q", out.Language, tc.lang)
		}
	}
}

func TestDeadlineTimeZone(t *testing.T) {
	deadline := time.Date(2026, 3, 12, 15, 59, 0, 0, time.UTC) // 23:59 in Beijing
	v := opened("footer_link_missing")
	v.Deadline = deadline
	cases := []struct {
		rendererTZ, noticeTZ, want string
	}{
		{"", "", "2026年3月12日 23:59（UTC+08:00）"},
		{"UTC", "", "2026年3月12日 15:59（UTC+00:00）"},
		{"UTC", "Asia/Shanghai", "2026年3月12日 23:59（UTC+08:00）"},
	}
	for _, tc := range cases {
		r, err := NewRenderer(RendererOptions{TimeZone: tc.rendererTZ})
		if err != nil {
			t.Fatal(err)
		}
		n := NewOwnerNotice(testSite, "b", []ViolationChange{v}, LangZH, fixedAt)
		n.TimeZone = tc.noticeTZ
		out, err := r.Render(n)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.Text, "整改期限："+tc.want) {
			t.Errorf("renderer %q notice %q: want deadline %q in\n%s", tc.rendererTZ, tc.noticeTZ, tc.want, out.Text)
		}
	}
	if _, err := NewRenderer(RendererOptions{TimeZone: "Mars/Olympus"}); err == nil {
		t.Error("bad time zone accepted")
	}
	r := newTestRenderer(t)
	n := NewOwnerNotice(testSite, "b", []ViolationChange{v}, LangZH, fixedAt)
	n.TimeZone = "Mars/Olympus"
	if _, err := r.Render(n); err == nil || !strings.Contains(err.Error(), "Mars/Olympus") {
		t.Errorf("bad notice time zone: err = %v", err)
	}
}

// TestPhonesMasked: an unmasked mobile number that slipped into evidence or
// a message never reaches the rendered text.
func TestPhonesMasked(t *testing.T) {
	r := newTestRenderer(t)
	v := opened("contact_vacant")
	v.Evidence = "site_head: 13812345678 vacant; entity_head:+8613987654321"
	u := ViolationChange{Code: "contact_new_rule", Transition: TransitionOpened, Message: "number 15011112222 failed",
		OpenedAt: fixedAt, Deadline: fixedAt.Add(time.Hour)}
	out, err := r.Render(NewOwnerNotice(testSite, "b", []ViolationChange{v, u}, LangZH, fixedAt))
	if err != nil {
		t.Fatal(err)
	}
	p, err := marshalJSON(NewWebhookPayload(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{out.Text, out.Markdown, string(p)} {
		for _, leak := range []string{"13812345678", "13987654321", "15011112222"} {
			if strings.Contains(s, leak) {
				t.Errorf("phone %s leaked into output", leak)
			}
		}
		for _, masked := range []string{"138****5678", "139****4321", "150****2222"} {
			if !strings.Contains(s, masked) {
				t.Errorf("want masked %s in output", masked)
			}
		}
	}
}

func TestRenderRejectsInvalidNotice(t *testing.T) {
	r := newTestRenderer(t)
	bad := NewOwnerNotice(testSite, "b", []ViolationChange{{Code: "footer_link_missing", Transition: "reopened", OpenedAt: fixedAt}}, LangZH, fixedAt)
	if _, err := r.Render(bad); err == nil || !strings.Contains(err.Error(), "reopened") {
		t.Errorf("err = %v, want it to name the bad transition", err)
	}
}

func TestOverrideDir(t *testing.T) {
	write := func(t *testing.T, dir, name, src string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("replaces one file, keeps the rest", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "zh/codes/footer_link_missing.tmpl",
			`{{define "title"}}请给备案号加链接{{end}}{{define "saw"}}没有链接。{{end}}{{define "fix"}}链接到 https://beian.miit.gov.cn/ ，如有疑问请致电客服。{{end}}`)
		write(t, dir, "README.md", "notes for operators are fine")
		r, err := NewRenderer(RendererOptions{OverrideDir: dir})
		if err != nil {
			t.Fatalf("NewRenderer: %v", err)
		}
		title, fix, _ := r.Fix("footer_link_missing", LangZH)
		if title != "请给备案号加链接" || !strings.Contains(fix, "致电客服") {
			t.Errorf("override not used: %q %q", title, fix)
		}
		if title, _, _ := r.Fix("footer_link_missing", LangEN); !strings.Contains(title, "not linked") {
			t.Errorf("en should keep the embedded text, got %q", title)
		}
		if title, _, _ := r.Fix("footer_link_obsolete", LangZH); !strings.Contains(title, "旧地址") {
			t.Errorf("other codes should keep the embedded text, got %q", title)
		}
	})
	bad := []struct {
		name, file, src, want string
	}{
		{"parse error", "en/notice.tmpl", `{{define "subject"}}{{.Site.Domain}{{end}}`, "en/notice.tmpl"},
		{"missing block", "zh/codes/contact_vacant.tmpl", `{{define "title"}}空号{{end}}`, `"saw"`},
		{"unknown field", "zh/codes/contact_vacant.tmpl", `{{define "title"}}{{.Phone}}{{end}}{{define "saw"}}x{{end}}{{define "fix"}}x{{end}}`, "Phone"},
		{"unknown file", "zh/codes/contact_vacnat.tmpl", `{{define "title"}}x{{end}}`, "contact_vacnat"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, tc.file, tc.src)
			_, err := NewRenderer(RendererOptions{OverrideDir: dir})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("missing dir", func(t *testing.T) {
		if _, err := NewRenderer(RendererOptions{OverrideDir: filepath.Join(t.TempDir(), "nope")}); err == nil {
			t.Error("missing override directory accepted")
		}
	})
}
