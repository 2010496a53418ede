package alerts

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"text/template"
	"time"
)

// templatesFS holds the default notice templates: for each language,
// notice.tmpl (owner rectification notice), escalation.tmpl and storm.tmpl
// (ops notices), and codes/<code>.tmpl (title, what we saw, how to fix) with
// fallback.tmpl for codes added after this binary was built.
//
//go:embed templates
var templatesFS embed.FS

// ErrUnknownCode is returned by Fix for a code without notice text.
var ErrUnknownCode = errors.New("unknown finding code")

// RendererOptions configures a Renderer. The zero value is usable.
type RendererOptions struct {
	// OverrideDir, if set, is a directory laid out like the embedded
	// templates (zh/notice.tmpl, en/codes/footer_link_missing.tmpl, ...).
	// A file there replaces the embedded file of the same name; files not
	// there keep the default. An unknown .tmpl name is an error, so that a
	// typo does not silently leave the default in place.
	OverrideDir string
	// Language is the primary language for notices that name none
	// (default zh).
	Language string
	// TimeZone is the IANA zone for dates in notices that name none
	// (default Asia/Shanghai).
	TimeZone string
}

// Renderer turns notices into text. It is safe for concurrent use.
type Renderer struct {
	lang string
	loc  *time.Location
	// sets[lang][name][mode] where name is "notice", "escalation", "storm"
	// or "codes/<code>", and mode 0 is plain text, 1 markdown.
	sets map[string]map[string][2]*template.Template
}

// Rendered is a notice made ready for channels: the subject and body in
// both languages (primary first), as plain text and as markdown, and the
// per-violation text in the primary language for structured payloads.
type Rendered struct {
	Notice     *Notice
	Language   string // primary language
	Title      string // subject line, primary language
	Text       string // plain text, both languages
	Markdown   string // DingTalk/WeCom markdown, both languages
	Violations []RenderedViolation
}

// RenderedViolation is one violation change with its text in the notice's
// primary language.
type RenderedViolation struct {
	ViolationChange
	Title string
	Saw   string
	Fix   string
}

const (
	modeText = 0
	modeMD   = 1
)

// requiredBlocks lists the templates each file must define.
func requiredBlocks(name string) []string {
	if strings.HasPrefix(name, "codes/") || name == "fallback" {
		return []string{"title", "saw", "fix"}
	}
	return []string{"subject", "body"}
}

// NewRenderer loads the embedded templates, applies the overrides, and
// renders every template once against sample data so that a broken
// override fails here, at startup, rather than when a notice is due.
func NewRenderer(opts RendererOptions) (*Renderer, error) {
	lang, err := NormalizeLanguage(opts.Language)
	if err != nil {
		return nil, err
	}
	if lang == "" {
		lang = LangZH
	}
	loc, err := loadZone(opts.TimeZone)
	if err != nil {
		return nil, err
	}
	var override fs.FS
	if opts.OverrideDir != "" {
		st, err := os.Stat(opts.OverrideDir)
		if err != nil {
			return nil, fmt.Errorf("notice template directory: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("notice template directory %s is not a directory", opts.OverrideDir)
		}
		override = os.DirFS(opts.OverrideDir)
	}
	r := &Renderer{lang: lang, loc: loc, sets: map[string]map[string][2]*template.Template{}}
	known := map[string]bool{}
	for _, l := range Languages() {
		r.sets[l] = map[string][2]*template.Template{}
		names := []string{"notice", "escalation", "storm", "fallback"}
		for _, c := range Codes() {
			names = append(names, "codes/"+c)
		}
		for _, name := range names {
			file := l + "/" + name + ".tmpl"
			known[file] = true
			src, origin, err := readTemplate(override, file)
			if err != nil {
				return nil, err
			}
			var pair [2]*template.Template
			for mode := range pair {
				t, err := template.New(file).Option("missingkey=error").Funcs(funcs(mode, l)).Parse(src)
				if err != nil {
					return nil, fmt.Errorf("parse notice template %s (%s): %w", file, origin, err)
				}
				for _, b := range requiredBlocks(name) {
					if t.Lookup(b) == nil {
						return nil, fmt.Errorf("notice template %s (%s) does not define %q", file, origin, b)
					}
				}
				pair[mode] = t
			}
			r.sets[l][name] = pair
		}
	}
	if override != nil {
		if err := checkUnknownOverrides(override, known); err != nil {
			return nil, err
		}
	}
	if err := r.selfTest(); err != nil {
		return nil, err
	}
	return r, nil
}

func readTemplate(override fs.FS, file string) (src, origin string, err error) {
	if override != nil {
		b, err := fs.ReadFile(override, file)
		if err == nil {
			return string(b), "override", nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("read notice template override %s: %w", file, err)
		}
	}
	b, err := templatesFS.ReadFile("templates/" + file)
	if err != nil {
		// A missing embedded file is a build mistake; the tests catch it.
		return "", "", fmt.Errorf("embedded notice template %s: %w", file, err)
	}
	return string(b), "embedded", nil
}

func checkUnknownOverrides(override fs.FS, known map[string]bool) error {
	var unknown []string
	err := fs.WalkDir(override, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && path.Ext(p) == ".tmpl" && !known[p] {
			unknown = append(unknown, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan notice template directory: %w", err)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("notice template directory has unknown templates %s (known names look like zh/notice.tmpl or en/codes/footer_link_missing.tmpl)", strings.Join(unknown, ", "))
	}
	return nil
}

func funcs(mode int, lang string) template.FuncMap {
	fm := template.FuncMap{
		"indent": func(s string) string { return strings.ReplaceAll(s, "\n", "\n  ") },
		"lang":   func() string { return lang },
	}
	if mode == modeMD {
		fm["h"] = func(s string) string { return "### " + s }
		fm["b"] = func(s string) string { return "**" + s + "**" }
		fm["esc"] = mdEscape
		fm["code"] = mdCode
		fm["hr"] = func() string { return "---" }
	} else {
		fm["h"] = func(s string) string { return s }
		fm["b"] = func(s string) string { return s }
		fm["esc"] = func(s string) string { return s }
		fm["code"] = func(s string) string { return s }
		fm["hr"] = func() string { return "────────────────────────" }
	}
	return fm
}

// codeData is what a codes/<code>.tmpl sees. Fields a generic fix (Fix,
// used by the audit report) cannot know hold a readable placeholder.
type codeData struct {
	Code     string
	Domain   string // the site's domain, or a placeholder
	ICP      string // the site's number, "" when unknown
	PSB      string // the site's PSB number, "" when unknown
	PSBURL   string // MPS query URL for the site's PSB code (placeholder code when unknown)
	MIITLink string // example <a> for the ICP number
	PSBLink  string // example <a> for the PSB number
	Evidence string
	Message  string
}

func newCodeData(code, lang string, site SiteRef, evidence, message string) codeData {
	d := codeData{Code: code, Domain: site.Domain, ICP: site.ICP, PSB: site.PSB, Evidence: evidence, Message: message}
	if d.Domain == "" {
		d.Domain = map[string]string{LangZH: "<您的域名>", LangEN: "<your domain>"}[lang]
	}
	icpText := site.ICP
	if icpText == "" {
		icpText = "京ICP备12345678号-1"
	}
	d.MIITLink = `<a href="https://beian.miit.gov.cn/" target="_blank">` + icpText + `</a>`
	psbCode := psbDigits(site.PSB)
	psbText := site.PSB
	if psbCode == "" {
		psbCode = map[string]string{LangZH: "<14位公安备案编号>", LangEN: "<14-digit PSB code>"}[lang]
		psbText = "京公网安备11010802012345号"
		d.PSBLink = `<a href="https://beian.mps.gov.cn/#/query/webSearch?code=11010802012345" target="_blank">` + psbText + `</a>`
	} else {
		d.PSBLink = `<a href="https://beian.mps.gov.cn/#/query/webSearch?code=` + psbCode + `" target="_blank">` + psbText + `</a>`
	}
	d.PSBURL = "https://beian.mps.gov.cn/#/query/webSearch?code=" + psbCode
	return d
}

// psbDigits extracts the 14-digit code of a PSB number as written.
var psbCodeRE = regexp.MustCompile(`[0-9]{14}`)

func psbDigits(s string) string { return psbCodeRE.FindString(strings.ReplaceAll(s, " ", "")) }

// Fix returns the title and how-to-fix text of a finding code in a
// language ("" means the renderer's default), as plain text without site
// specifics (placeholders stand for the domain and numbers). The audit
// report reuses it. The text contains example HTML (<a href=…>): escape it
// before putting it into a page.
func (r *Renderer) Fix(code, lang string) (title, fix string, err error) {
	l, err := r.language(lang)
	if err != nil {
		return "", "", err
	}
	if !KnownCode(code) {
		return "", "", fmt.Errorf("%w %q", ErrUnknownCode, code)
	}
	t := r.sets[l]["codes/"+code][modeText]
	d := newCodeData(code, l, SiteRef{}, "", "")
	if title, err = execBlock(t, "title", d); err != nil {
		return "", "", err
	}
	if fix, err = execBlock(t, "fix", d); err != nil {
		return "", "", err
	}
	return title, fix, nil
}

func (r *Renderer) language(lang string) (string, error) {
	l, err := NormalizeLanguage(lang)
	if err != nil {
		return "", err
	}
	if l == "" {
		l = r.lang
	}
	return l, nil
}

func other(lang string) string {
	if lang == LangZH {
		return LangEN
	}
	return LangZH
}

func execBlock(t *template.Template, block string, data any) (string, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, block, data); err != nil {
		return "", fmt.Errorf("render %s %q: %w", t.Name(), block, err)
	}
	return tidy(b.String()), nil
}

// tidy lets templates be written for people: trailing blanks go, runs of
// blank lines collapse to one, and the ends are trimmed.
func tidy(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	blank := 0
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRight(line, " \t")
		if line == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
			if blank > 0 {
				b.WriteString("\n")
			}
		}
		blank = 0
		b.WriteString(line)
	}
	return strings.TrimSpace(b.String())
}

// noticeData is what notice.tmpl, escalation.tmpl and storm.tmpl see.
type noticeData struct {
	Secondary   bool // this language follows the primary one
	ID          string
	Kind        string
	Type        string
	Provider    string
	Site        SiteRef
	SentAt      string
	Items       []itemData
	OpenCount   int // items not resolved
	AllResolved bool
	// Summary: an ops notice of openings only (an empty-shell entity
	// found), not an escalation past a deadline.
	Summary bool
	Storm   *stormData
}

type itemData struct {
	N           int
	Code        string
	Transition  string
	Severity    string
	Evidence    string // one line, masked, bounded
	Title       string
	Saw         string
	Fix         string
	OpenedAt    string
	Deadline    string // "" when none
	ResolvedAt  string
	DaysLeft    int // whole days to the deadline, rounded up; 0 or less when due
	DaysOverdue int // whole days past the deadline, at least 1 once past
}

type stormData struct {
	Check   string
	Failing int
	Total   int
	Held    int
	Percent string
	Since   string
	// Inconclusive and Ended: see StormSummary.
	Inconclusive bool
	Ended        string
}

const maxEvidenceRunes = 300

// Render renders n in its primary language followed by the other one.
func (r *Renderer) Render(n *Notice) (*Rendered, error) {
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("render notice %s: %w", n.safeID(), err)
	}
	primary, err := r.language(n.Language)
	if err != nil {
		return nil, err
	}
	loc := r.loc
	if n.TimeZone != "" {
		if loc, err = loadZone(n.TimeZone); err != nil {
			return nil, fmt.Errorf("render notice %s: %w", n.ID, err)
		}
	}
	name := "notice"
	switch n.Type {
	case TypeEscalation:
		name = "escalation"
	case TypeStorm:
		name = "storm"
	}
	out := &Rendered{Notice: n, Language: primary}
	for mode := range 2 {
		var parts []string
		for i, l := range []string{primary, other(primary)} {
			d, err := r.noticeData(n, l, mode, loc)
			if err != nil {
				return nil, err
			}
			d.Secondary = i == 1
			t := r.sets[l][name][mode]
			body, err := execBlock(t, "body", d)
			if err != nil {
				return nil, err
			}
			parts = append(parts, body)
			if i == 0 && mode == modeText {
				if out.Title, err = execBlock(t, "subject", d); err != nil {
					return nil, err
				}
				out.Title = oneLine(out.Title)
				for _, it := range d.Items {
					out.Violations = append(out.Violations, RenderedViolation{
						ViolationChange: n.Violations[it.N-1], Title: it.Title, Saw: it.Saw, Fix: it.Fix,
					})
				}
			}
		}
		joined := strings.Join(parts, "\n\n")
		if mode == modeText {
			out.Text = joined
		} else {
			out.Markdown = joined
		}
	}
	return out, nil
}

func (n *Notice) safeID() string {
	if n == nil || n.ID == "" {
		return "(no id)"
	}
	return n.ID
}

func (r *Renderer) noticeData(n *Notice, lang string, mode int, loc *time.Location) (*noticeData, error) {
	d := &noticeData{
		ID: n.ID, Kind: n.Kind, Type: n.Type, Provider: n.Provider, Site: n.Site,
		SentAt: formatTime(n.SentAt, loc, lang),
	}
	for i, v := range n.Violations {
		it, err := r.item(n, v, lang, mode, loc)
		if err != nil {
			return nil, err
		}
		it.N = i + 1
		d.Items = append(d.Items, it)
		if v.Transition != TransitionResolved {
			d.OpenCount++
		}
	}
	d.AllResolved = len(d.Items) > 0 && d.OpenCount == 0
	d.Summary = n.Type == TypeEscalation && len(d.Items) > 0
	for _, it := range d.Items {
		if it.Transition != TransitionOpened {
			d.Summary = false
		}
	}
	if s := n.Storm; s != nil {
		d.Storm = &stormData{
			Check: s.Check, Failing: s.Failing, Total: s.Total, Held: s.Held,
			Percent:      fmt.Sprintf("%.1f%%", s.Share()*100),
			Since:        formatTime(s.Since, loc, lang),
			Inconclusive: s.Inconclusive,
		}
		if !s.Ended.IsZero() {
			d.Storm.Ended = formatTime(s.Ended, loc, lang)
		}
	}
	return d, nil
}

func (r *Renderer) item(n *Notice, v ViolationChange, lang string, mode int, loc *time.Location) (itemData, error) {
	evidence := truncateRunes(oneLine(maskPhones(v.Evidence)), maxEvidenceRunes)
	it := itemData{
		Code: v.Code, Transition: v.Transition, Severity: v.Severity, Evidence: evidence,
		OpenedAt: formatTime(v.OpenedAt, loc, lang),
		Deadline: formatTime(v.Deadline, loc, lang),
	}
	if v.ResolvedAt != nil {
		it.ResolvedAt = formatTime(*v.ResolvedAt, loc, lang)
	}
	if !v.Deadline.IsZero() {
		it.DaysLeft = daysLeft(n.SentAt, v.Deadline)
		if over := n.SentAt.Sub(v.Deadline); over > 0 {
			// Whole days past the deadline, and at least one: "overdue by
			// 2 days" at 2 days 1 hour, "1 day" an hour after.
			it.DaysOverdue = max(1, int(over/(24*time.Hour)))
		}
	}
	name := "codes/" + v.Code
	if !KnownCode(v.Code) {
		// A code newer than this binary still reaches the owner, told in
		// the check's own words rather than dropped.
		name = "fallback"
	}
	t := r.sets[lang][name][mode]
	cd := newCodeData(v.Code, lang, n.Site, evidence, maskPhones(v.Message))
	var err error
	if it.Title, err = execBlock(t, "title", cd); err != nil {
		return it, err
	}
	if it.Saw, err = execBlock(t, "saw", cd); err != nil {
		return it, err
	}
	if it.Fix, err = execBlock(t, "fix", cd); err != nil {
		return it, err
	}
	return it, nil
}

// selfTest renders every template with sample data in both modes.
func (r *Renderer) selfTest() error {
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	resolved := at.Add(-time.Hour)
	site := SiteRef{Domain: "example.cn", ICP: "京ICP备2023012345号-1", PSB: "京公网安备11010802012345号", Entity: "示例科技有限公司"}
	var changes []ViolationChange
	for i, c := range append(Codes(), "zz_future_code") {
		tr := []string{TransitionOpened, TransitionReminder, TransitionEscalated, TransitionResolved}[i%4]
		v := ViolationChange{Code: c, Transition: tr, Severity: "violation", Evidence: "sample", Message: "sample",
			OpenedAt: at.Add(-48 * time.Hour), Deadline: at.Add(240 * time.Hour)}
		if tr == TransitionResolved {
			v.ResolvedAt = &resolved
		}
		changes = append(changes, v)
	}
	var esc []ViolationChange
	for _, v := range changes {
		if v.Transition == TransitionEscalated {
			esc = append(esc, v)
		}
	}
	samples := []*Notice{
		NewOwnerNotice(site, "selftest", changes, LangZH, at),
		NewEscalationNotice("ExampleCloud", site, "selftest", esc, LangZH, at),
		NewStormNotice("ExampleCloud", StormSummary{Check: "dns", Failing: 3, Total: 4, Held: 3, Since: at}, "selftest", LangZH, at),
	}
	for _, n := range samples {
		for _, l := range Languages() {
			n.Language = l
			if _, err := r.Render(n); err != nil {
				return fmt.Errorf("notice templates fail on sample data: %w", err)
			}
		}
	}
	for _, l := range Languages() {
		for _, c := range Codes() {
			if _, _, err := r.Fix(c, l); err != nil {
				return fmt.Errorf("notice templates fail on sample data: %w", err)
			}
		}
	}
	return nil
}
