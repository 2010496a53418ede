package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"
)

// Footer reasons and hosts (the footer finding codes are registered in
// beian, docs/checks.md).
const (
	ReasonNeedsRendering    = "needs_rendering"
	ReasonBotChallenge      = "bot_challenge"
	ReasonNumberInImage     = "number_in_image"
	miitHost                = "beian.miit.gov.cn"
	psbHost                 = "beian.mps.gov.cn"
	framedPageRunes         = 200 // below this, a page with an iframe is a wrapper around it
	minRunesForPositionRule = 150
)

// obsoleteMIITHosts are the MIIT hosts that no longer answer.
var obsoleteMIITHosts = map[string]bool{
	"miitbeian.gov.cn": true, "www.miitbeian.gov.cn": true,
	"miibeian.gov.cn": true, "www.miibeian.gov.cn": true,
	"www.beian.miit.gov.cn": true,
}

// oldPSBHosts serve the old registerSystemInfo form of the PSB link.
var oldPSBHosts = map[string]bool{"www.beian.gov.cn": true, "beian.gov.cn": true}

// isRegistryHost says whether host (lower case, without a trailing dot) is
// one of the filing registries' hosts, or a name under one: where the
// footer's filing numbers link, working or not.
func isRegistryHost(host string) bool {
	for h := host; h != ""; {
		if h == miitHost || h == psbHost || obsoleteMIITHosts[h] || oldPSBHosts[h] {
			return true
		}
		_, h, _ = strings.Cut(h, ".")
	}
	return false
}

// FooterOptions are the footer rules a provider may tune.
type FooterOptions struct {
	// EntityOnlyIsViolation makes footer_icp_entity_only a violation
	// instead of a warning (providers' notices disagree on it).
	EntityOnlyIsViolation bool
}

// HomepageFetcher fetches a site's homepage; *Fetcher implements it.
type HomepageFetcher interface {
	Homepage(ctx context.Context, domain, override string) (*Page, error)
}

// FooterCheck checks that the filing numbers are shown and linked
// (备案号悬挂).
type FooterCheck struct {
	Fetch HomepageFetcher
	Opts  FooterOptions
	// Render, when set, renders the pages static HTML cannot judge
	// (needs_rendering), or every page in RenderAlways mode.
	Render PageRenderer
	// RenderMode says when to render; "" is RenderAuto.
	RenderMode RenderMode
}

var _ Checker = (*FooterCheck)(nil)

// NewFooterCheck returns the footer check fetching through f.
func NewFooterCheck(f HomepageFetcher, opts FooterOptions) *FooterCheck {
	return &FooterCheck{Fetch: f, Opts: opts}
}

func (c *FooterCheck) Name() string { return CheckFooter }

// Applies: a site shows its number once it has one, including while a
// change or a new access is pending.
func (c *FooterCheck) Applies(s *Site) (bool, string) {
	switch s.Status {
	case StatusFirstFilingPending:
		return false, "first filing pending: there is no number to show yet"
	case StatusCancelled:
		return false, "filing cancelled"
	}
	return true, ""
}

func (c *FooterCheck) Check(ctx context.Context, s *Site) Result {
	page, err := c.Fetch.Homepage(ctx, s.Domain, s.URL)
	var refreshedFrom string
	if err == nil {
		// A homepage that is only a <meta http-equiv="refresh"> to the real
		// one (common on older sites) is judged as a browser shows it: the
		// target, one hop, through the same fetcher and its limits.
		if target, ok := metaRefreshTarget(page); ok {
			refreshedFrom = page.URL
			page, err = c.Fetch.Homepage(ctx, s.Domain, target)
		}
	}
	if err != nil {
		// Emptiness and unreachability are the shell check's business.
		var fe *FetchError
		if errors.As(err, &fe) {
			r := inconclusive(fmt.Sprintf("homepage not fetched (%s): %v", fe.Reason, err))
			r.Details = map[string]string{"fetch_error": string(fe.Reason)}
			return r
		}
		return inconclusive("homepage not fetched: " + err.Error())
	}
	r := EvaluateFooter(page.Body, s, c.Opts)
	ExplainCharsetConflict(&r, page)
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	r.Details["url"] = page.URL
	if refreshedFrom != "" {
		r.Details["meta_refresh_from"] = refreshedFrom
	}
	return c.maybeRender(ctx, s, page.URL, r)
}

// maxRefreshDelay is the longest meta refresh treated as a redirect; a
// page that waits longer is meant to be read first.
const maxRefreshDelay = 10

// metaRefreshTarget finds a <meta http-equiv="refresh" content="N; url=U">
// in the page's head that sends a visitor elsewhere within maxRefreshDelay
// seconds, and returns U made absolute.
func metaRefreshTarget(page *Page) (string, bool) {
	z := html.NewTokenizer(bytes.NewReader(page.Body))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return "", false
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Body:
				return "", false
			case atom.Meta:
				var equiv, content string
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch string(k) {
					case "http-equiv":
						equiv = string(v)
					case "content":
						content = string(v)
					}
				}
				if strings.EqualFold(strings.TrimSpace(equiv), "refresh") {
					return refreshURL(page.URL, content)
				}
			}
		}
	}
}

// refreshURL parses a refresh content value ("0; url=/index.html").
func refreshURL(base, content string) (string, bool) {
	delay, rest, _ := strings.Cut(content, ";")
	if n, err := strconv.Atoi(strings.TrimSpace(delay)); err != nil || n < 0 || n > maxRefreshDelay {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 4 || !strings.EqualFold(rest[:3], "url") {
		return "", false
	}
	rest = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest[3:]), "="))
	rest = strings.Trim(rest, `'"`)
	b, err := url.Parse(base)
	if err != nil || rest == "" {
		return "", false
	}
	u, err := b.Parse(rest)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.String() == base {
		return "", false
	}
	return u.String(), true
}

// EvaluateFooter applies the footer rules to a decoded (UTF-8) page.
func EvaluateFooter(body []byte, s *Site, opts FooterOptions) Result {
	p := extractText(body, false)
	text := string(p.norm)
	icps, psbs := findNumbersIn(text, &p.brk)

	var findings []Finding
	add := func(code string, sev Severity, msg, ev string) {
		for _, f := range findings {
			if f.Code == code && f.Evidence == ev {
				return
			}
		}
		findings = append(findings, Finding{Code: code, Severity: sev, Message: msg, Evidence: ev})
	}

	var shown, entityOnly, others []icpMatch
	for _, m := range icps {
		switch {
		case s.ICP == nil || m.Number == *s.ICP:
			shown = append(shown, m)
		case !s.ICP.IsSite() && m.Number.SameEntity(*s.ICP):
			// The filing is an entity number; a site number of that entity shows it.
			shown = append(shown, m)
		case s.ICP.IsSite() && !m.Number.IsSite() && m.Number.SameEntity(*s.ICP):
			entityOnly = append(entityOnly, m)
		default:
			others = append(others, m)
		}
	}
	// Guangdong asks sites to show the entity number.
	if s.ICP != nil && s.ICP.Province == '粤' {
		shown = append(shown, entityOnly...)
		entityOnly = nil
	}

	// An inline script that names the MIIT host may build the link the
	// static HTML lacks: the link is then for rendering to judge.
	var linkByScript string
	switch {
	case len(shown) > 0:
		linkByScript = judgeICPLinks(p, text, shown, add)
		judgeICPForm(p, text, shown, add)
	case len(entityOnly) > 0:
		sev := Warning
		if opts.EntityOnlyIsViolation {
			sev = Violation
		}
		add(CodeFooterEntityOnly, sev,
			fmt.Sprintf("only the entity number %s is shown; this site's number is %s", entityOnly[0].Number, s.ICP),
			evidenceOf(text, entityOnly[0]))
		linkByScript = judgeICPLinks(p, text, entityOnly, add)
	case len(others) > 0:
		nums := distinctCapped(len(others), func(i int) string { return others[i].Number.String() })
		add(CodeFooterICPMismatch, Violation,
			fmt.Sprintf("the page shows %s, not this site's number %s", strings.Join(nums, ", "), s.ICP),
			strings.Join(nums, "; "))
	default:
		if r, ok := unjudgeable(p); ok {
			return r
		}
		if sig, ok := challengePage(body); ok {
			r := inconclusive(ReasonBotChallenge)
			r.Details = map[string]string{"why": "the server answered with a bot check or firewall page (" + sig + "), not the homepage"}
			return r
		}
		want := "a filing number"
		if s.ICP != nil {
			want = s.ICP.String()
		}
		add(CodeFooterICPMissing, Violation, "no filing number in the visible text of the page; expected "+want,
			missingEvidence(text))
	}

	psbInImage := s.PSB != nil && judgePSB(p, text, *s.PSB, psbs, add)
	r := Result{Findings: findings}
	r.Outcome = OutcomeOf(findings)
	// A part that static HTML cannot judge makes a passing run
	// inconclusive; when another part failed, the run fails and names the
	// codes it did not judge, so their open violations are not fixed by it.
	unjudged := func(reason, key, why string, codes ...string) {
		if r.Details == nil {
			r.Details = map[string]string{}
		}
		r.Details[key] = reason + ": " + why
		switch r.Outcome {
		case Pass:
			r.Outcome, r.Reason = Inconclusive, reason
		case Fail:
			r.Unjudged = append(r.Unjudged, codes...)
		}
	}
	if linkByScript != "" {
		unjudged(ReasonNeedsRendering, "icp_link", "the number is not linked to "+miitHost+" in the static HTML, but "+linkByScript+", so a script may build the link",
			CodeFooterLinkMissing, CodeFooterLinkObsolete, CodeFooterLinkWrong)
	}
	if psbInImage {
		unjudged(ReasonNumberInImage, "psb", "the PSB number is shown only in an image's alt/title",
			CodeFooterPSBMissing, CodeFooterPSBLinkMiss, CodeFooterPSBLinkWrong)
	}
	return r
}

// unjudgeable decides whether a page without a textual number is one a
// person would see a number on anyway: drawn by script, or an image.
func unjudgeable(p *pageText) (Result, bool) {
	switch {
	case p.scriptMentions:
		r := inconclusive(ReasonNeedsRendering)
		r.Details = map[string]string{"why": "the filing number appears in an inline script, not in the static HTML"}
		return r, true
	case p.styleMentions:
		r := inconclusive(ReasonNeedsRendering)
		r.Details = map[string]string{"why": "the filing number appears in a style sheet (CSS content), not in the static text"}
		return r, true
	case p.noscriptNumber && p.scripts > 0:
		// The <noscript> copy is the fallback for what the scripts draw.
		r := inconclusive(ReasonNeedsRendering)
		r.Details = map[string]string{"why": "the filing number is only in a <noscript> fallback of a page with scripts, which draw what a visitor sees"}
		return r, true
	case p.footerSource != "":
		r := inconclusive(ReasonNeedsRendering)
		r.Details = map[string]string{"why": "the footer is loaded from " + p.footerSource}
		return r, true
	case p.scripts > 0 && p.visibleRunes() < 40:
		r := inconclusive(ReasonNeedsRendering)
		r.Details = map[string]string{"why": fmt.Sprintf("script-built page: %d characters of visible text, %d scripts", p.visibleRunes(), p.scripts)}
		return r, true
	case p.frames > 0 || p.iframes > 0 && p.visibleRunes() < framedPageRunes:
		// A frameset, or a thin page around an iframe, shows its content
		// (footer included) from other documents.
		r := inconclusive(ReasonNeedsRendering)
		r.Details = map[string]string{"why": fmt.Sprintf("the page shows other documents in frames (%d frames, %d iframes, %d characters of its own text)", p.frames, p.iframes, p.visibleRunes())}
		return r, true
	case len(p.imageNumbers) > 0:
		r := inconclusive(ReasonNumberInImage)
		r.Details = map[string]string{"why": "an image's alt/title carries " + p.imageNumbers[0]}
		return r, true
	}
	if desc, ok := p.emptyFooterBlock(); ok && p.scripts > 0 {
		r := inconclusive(ReasonNeedsRendering)
		r.Details = map[string]string{"why": fmt.Sprintf("the footer block %s is empty in the static HTML and the page has %d scripts to fill it", desc, p.scripts)}
		return r, true
	}
	for _, a := range p.anchors {
		if a.hasImage && !a.hasText && classifyICPLink(p.linkTarget(a.href)) != linkWrong {
			r := inconclusive(ReasonNumberInImage)
			r.Details = map[string]string{"why": "a MIIT link wraps only an image: " + a.href}
			return r, true
		}
	}
	return Result{}, false
}

// challengeSignatures mark the pages web application firewalls and bot
// checks serve instead of a homepage (Cloudflare, Alibaba Cloud and
// Tencent Cloud WAF, CDN anti-bot scripts such as the jsl_clearance
// cookie challenge). Judging such a page would report the firewall's
// missing filing number as the site's, and its 5xx status as the site
// being down. A bare "document.cookie" is no signature: analytics and
// cookie-consent scripts set cookies on ordinary pages.
var challengeSignatures = []string{
	"cf-browser-verification", "cf_chl_", "cf-chl-", "challenge-platform", "Just a moment...",
	"Checking your browser before accessing", "Enable JavaScript and cookies to continue",
	"acw_sc__v2", "aliyun_waf", "_waf_bd8ce2ce37", "TencentCloud WAF", "waf.tencent", "jsl_clearance",
	"安全验证", "人机验证", "滑动验证", "请完成验证", "访问验证", "正在验证您的浏览器",
	"您的访问请求可能对网站造成安全威胁",
}

// challengePage reports whether body is a firewall or bot-check page, and
// the signature that says so.
func challengePage(body []byte) (string, bool) {
	for _, sig := range challengeSignatures {
		if bytes.Contains(body, []byte(sig)) {
			return sig, true
		}
	}
	return "", false
}

type linkClass int

const (
	linkNone linkClass = iota
	linkWrong
	linkObsolete
	linkMIIT
)

// classifyICPLink says where an href really goes. Only the URL's host
// counts, as a browser sees it: beian.miit.gov.cn@evil.example goes to
// evil.example, and a relative "beian.miit.gov.cn" stays on the site.
func classifyICPLink(href string) linkClass {
	u, ok := parseHref(href)
	if !ok {
		return linkWrong
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch {
	case host == miitHost:
		return linkMIIT
	case obsoleteMIITHosts[host]:
		return linkObsolete
	}
	return linkWrong
}

// parseHref parses an href the way a browser resolves it, keeping only
// absolute http(s) and scheme-relative URLs. Browsers forgive what people
// type into a link, and the link still reaches its host: spaces around
// it, tabs and newlines anywhere, backslashes for slashes, any number of
// slashes after "https:" ("https:\\beian.miit.gov.cn", "http:/beian..."),
// a percent-encoded or full-width host ("beian。miit.gov.cn"). Such a link
// is judged by that host. "https:host" without slashes is left out: a
// browser resolves it against the page when the schemes agree.
func parseHref(href string) (*url.URL, bool) {
	href = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, strings.TrimFunc(href, func(r rune) bool { return r <= ' ' }))
	scheme, rest := "", href
	if i := strings.IndexByte(href, ':'); i > 0 && isURLScheme(href[:i]) {
		scheme, rest = strings.ToLower(href[:i]), href[i+1:]
		if scheme != "http" && scheme != "https" {
			return nil, false
		}
	}
	slashes := len(rest) - len(strings.TrimLeft(rest, `/\`))
	if slashes == 0 || scheme == "" && slashes < 2 {
		return nil, false
	}
	rest = rest[slashes:]
	end := strings.IndexAny(rest, `/\?#`)
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	// Backslashes in the path are slashes too; not in the query or fragment.
	q := strings.IndexAny(tail, "?#")
	if q < 0 {
		q = len(tail)
	}
	tail = strings.ReplaceAll(tail[:q], `\`, "/") + tail[q:]
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:] // what precedes @ is userinfo
	}
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.Contains(authority[i:], "]") {
		host, port = authority[:i], authority[i+1:]
		for _, c := range port {
			if c < '0' || c > '9' {
				return nil, false // a browser refuses the URL
			}
		}
	}
	if host = browserHost(host); host == "" || !strings.HasPrefix(host, "[") && strings.ContainsAny(host, " #%/:<>?@[\\]^|") {
		// A browser refuses a host holding these, even percent-encoded
		// ("evil.example%40beian.miit.gov.cn" goes nowhere).
		return nil, false
	}
	if port != "" {
		host += ":" + port
	}
	prefix := "//"
	if scheme != "" {
		prefix = scheme + "://"
	}
	u, err := url.Parse(prefix + host + tail)
	if err != nil {
		u = lenientURL(scheme, prefix, host, tail)
	}
	return u, true
}

// lenientURL builds the URL of prefix ("https://" or "//"), host and tail
// (path, query and fragment) when url.Parse refused the whole. Go is
// stricter than browsers about escapes: a stray "%" that a browser sends
// as it is fails the whole URL. The host is what counts for the MIIT
// link, but a PSB link carries its code in the query or the fragment, so
// each part stands on its own: a path Go refuses is dropped, the query is
// kept as typed, and so is a fragment that does not unescape.
func lenientURL(scheme, prefix, host, tail string) *url.URL {
	rest, fragment, hasFragment := strings.Cut(tail, "#")
	path, query, _ := strings.Cut(rest, "?")
	u, err := url.Parse(prefix + host + path)
	if err != nil {
		u = &url.URL{Scheme: scheme, Host: host}
	}
	u.RawQuery = query
	if hasFragment {
		if f, err := url.PathUnescape(fragment); err == nil {
			u.Fragment = f
		} else {
			u.Fragment = fragment
		}
	}
	return u
}

// isURLScheme reports whether s is a URL scheme (a letter, then letters,
// digits, "+", "-" or ".").
func isURLScheme(s string) bool {
	for i, c := range s {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// browserHost maps a host as a browser does before looking it up:
// percent-decoded, NFKC (full-width letters and the ideographic full stop
// typed by a Chinese input method become ASCII), lower case, without the
// trailing dot of a fully qualified name.
func browserHost(h string) string {
	if strings.Contains(h, "%") {
		if d, err := url.PathUnescape(h); err == nil {
			h = d
		}
	}
	for i := 0; i < len(h); i++ {
		if h[i] >= utf8.RuneSelf {
			// NFKC takes "．" to "." and "｡" to "。", the dot IDNA maps too.
			h = strings.ReplaceAll(norm.NFKC.String(h), "。", ".")
			break
		}
	}
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// linkTarget is where an href leads. A relative href stays on the site,
// which is never MIIT, unless the page's <base href> sends it elsewhere.
func (p *pageText) linkTarget(href string) string {
	if p.base == "" {
		return href
	}
	if _, ok := parseHref(href); ok {
		return href
	}
	b, ok := parseHref(p.base)
	if !ok {
		return href
	}
	u, err := b.Parse(strings.TrimSpace(href))
	if err != nil {
		return href
	}
	if u.Scheme == "" {
		// A scheme-relative base leaves the scheme to the page; any will do
		// to name the host.
		u.Scheme = "https"
	}
	return u.String()
}

// hrefOver returns the link covering the digits [from, to) of the text:
// the best-classified anchor of the segments holding those digits.
func hrefOver(p *pageText, from, to int) (string, linkClass) {
	best, bestClass := "", linkNone
	for _, sg := range p.segsOver(from, to) {
		if sg.anchor < 0 {
			continue
		}
		h := p.linkTarget(p.anchors[sg.anchor].href)
		if c := classifyICPLink(h); c > bestClass {
			best, bestClass = h, c
		}
	}
	return best, bestClass
}

// judgeICPLinks raises the finding about how the numbers ms are linked. It
// reports why, raising nothing, when none is linked to MIIT but a script
// may build the link: an inline script mentions the MIIT host, or the
// number's element keeps the MIIT address in a data attribute (plain or
// encoded) on a page with scripts, which turn such elements into links.
func judgeICPLinks(p *pageText, text string, ms []icpMatch, add func(string, Severity, string, string)) (byScript string) {
	var obsolete, wrong *icpMatch
	var obsoleteHref, wrongHref string
	for i := range ms {
		href, c := hrefOver(p, ms[i].digitsStart, ms[i].digitsEnd)
		switch c {
		case linkMIIT:
			return "" // one correctly linked occurrence is enough
		case linkObsolete:
			if obsolete == nil {
				obsolete, obsoleteHref = &ms[i], href
			}
		case linkWrong:
			if wrong == nil {
				wrong, wrongHref = &ms[i], href
			}
		}
	}
	if p.scriptLinksMIIT {
		return "an inline script mentions " + miitHost
	}
	if p.scripts > 0 {
		for _, m := range ms {
			for _, sg := range p.segsOver(m.digitsStart, m.digitsEnd) {
				if sg.dataLink {
					return "the number's element keeps the MIIT address in a data attribute on a page with scripts"
				}
			}
		}
	}
	switch {
	case obsolete != nil:
		add(CodeFooterLinkObsolete, Violation,
			"the filing number links to a MIIT address that no longer works; link it to https://beian.miit.gov.cn/",
			evidenceOf(text, *obsolete)+" -> "+obsoleteHref)
	case wrong != nil:
		add(CodeFooterLinkWrong, Violation,
			"the filing number links somewhere other than https://beian.miit.gov.cn/",
			evidenceOf(text, *wrong)+" -> "+wrongHref)
	default:
		add(CodeFooterLinkMissing, Violation,
			"the filing number is shown but not linked to https://beian.miit.gov.cn/",
			evidenceOf(text, ms[0]))
	}
	return ""
}

// judgeICPForm raises the warnings about how and where the number is shown.
func judgeICPForm(p *pageText, text string, ms []icpMatch, add func(string, Severity, string, string)) {
	standard := false
	for _, m := range ms {
		if len(m.nonstandard) == 0 {
			standard = true
			break
		}
	}
	if !standard {
		add(CodeFooterICPFormat, Warning,
			fmt.Sprintf("the number is written in a non-standard form (%s); write it as %s", strings.Join(ms[0].nonstandard, ", "), ms[0].Number),
			evidenceOf(text, ms[0]))
	}
	if len(text) < minRunesForPositionRule*3 {
		return // short pages have no top and bottom to speak of
	}
	for _, m := range ms {
		if m.start >= len(text)/4 || inFooter(p, m.start, m.end) {
			return
		}
	}
	add(CodeFooterNotAtBottom, Warning,
		"the number is shown only near the top of the page, outside any footer; show it at the bottom of the homepage",
		evidenceOf(text, ms[0]))
}

func inFooter(p *pageText, from, to int) bool {
	for _, sg := range p.segsOver(from, to) {
		if sg.footer {
			return true
		}
	}
	return false
}

type psbLinkClass int

const (
	psbLinkNone psbLinkClass = iota
	psbLinkWrong
	psbLinkOld
	psbLinkOK
)

// classifyPSBLink accepts the MPS portal's query route for code, and the
// old www.beian.gov.cn form (a warning).
func classifyPSBLink(href, code string) psbLinkClass {
	u, ok := parseHref(href)
	if !ok {
		return psbLinkWrong
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	switch {
	case host == psbHost:
		// beian.mps.gov.cn/#/query/webSearch?code=N: the route lives in the fragment.
		_, q, _ := strings.Cut(u.Fragment, "?")
		fq, _ := url.ParseQuery(q)
		if fq.Get("code") == code || u.Query().Get("code") == code {
			return psbLinkOK
		}
	case oldPSBHosts[host]:
		if strings.EqualFold(strings.TrimSuffix(u.Path, "/"), "/portal/registerSystemInfo") &&
			u.Query().Get("recordcode") == code {
			return psbLinkOld
		}
	}
	return psbLinkWrong
}

// judgePSB applies the PSB rules; it reports whether the number is shown
// only as an image, which static HTML cannot judge.
func judgePSB(p *pageText, text string, want PSBNumber, found []psbMatch, add func(string, Severity, string, string)) (inImage bool) {
	var mine, notMine []psbMatch
	for _, m := range found {
		if m.Number.Code == want.Code {
			mine = append(mine, m)
		} else {
			notMine = append(notMine, m)
		}
	}
	others := distinctCapped(len(notMine), func(i int) string { return notMine[i].Number.Code })
	if len(mine) == 0 {
		// "公安备案号：11010502050001" names no province, so the grammar
		// does not see a PSB number; but the exact 14-digit code of this
		// site, standing alone, can be nothing else. Judge its link.
		mine = bareCodes(text, &p.brk, want)
	}
	if len(mine) == 0 && contains(p.imagePSBCodes, want.Code) {
		// Shown as an image only: a person has to look (no OCR here).
		return true
	}
	if len(mine) == 0 {
		ev := "not in the visible text"
		if len(others) > 0 {
			ev = "shown instead: " + strings.Join(others, ", ")
		}
		add(CodeFooterPSBMissing, Violation, "the public-security filing number "+want.String()+" is not shown", ev)
		return false
	}
	best, bestHref, bestAt := psbLinkNone, "", mine[0]
	for _, m := range mine {
		for _, sg := range p.segsOver(m.digitsStart, m.digitsEnd) {
			if sg.anchor < 0 {
				continue
			}
			h := p.linkTarget(p.anchors[sg.anchor].href)
			if c := classifyPSBLink(h, want.Code); c > best {
				best, bestHref, bestAt = c, h, m
			}
		}
	}
	ev := text[bestAt.start:bestAt.end]
	switch best {
	case psbLinkOK:
	case psbLinkOld:
		add(CodeFooterPSBLinkOld, Warning,
			"the PSB number links to the old www.beian.gov.cn form; link it to https://beian.mps.gov.cn/#/query/webSearch?code="+want.Code,
			ev+" -> "+bestHref)
	case psbLinkWrong:
		add(CodeFooterPSBLinkWrong, Violation,
			"the PSB number links to another place or another code; link it to https://beian.mps.gov.cn/#/query/webSearch?code="+want.Code,
			ev+" -> "+bestHref)
	default:
		add(CodeFooterPSBLinkMiss, Violation,
			"the PSB number is shown but not linked; link it to https://beian.mps.gov.cn/#/query/webSearch?code="+want.Code, ev)
	}
	return false
}

// bareCodes finds want's code in the text, whose breaks are brk, as a
// digit run of its own. The normalised text has lost its whitespace, so a
// digit next to the code is part of the same run only when no break lies
// between them: "电话 0755 11010502050001" and a postcode on the line above
// are other words, as digitRun reads them.
func bareCodes(text string, brk *textBreaks, want PSBNumber) []psbMatch {
	var out []psbMatch
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for off := 0; len(out) < maxListed; {
		k := strings.Index(text[off:], want.Code)
		if k < 0 {
			break
		}
		from, to := off+k, off+k+len(want.Code)
		off = to
		if from > 0 && isDigit(text[from-1]) && !brk.any(from) || to < len(text) && isDigit(text[to]) && !brk.any(to) {
			continue
		}
		out = append(out, psbMatch{Number: want, start: from, end: to, digitsStart: from, digitsEnd: to})
	}
	return out
}

// evidenceOf is the normalised snippet of a match.
func evidenceOf(text string, m icpMatch) string {
	return text[m.start:m.end]
}

// missingEvidence says what the page did show, briefly, so a person can
// see why the number was not found (licences only, for example).
func missingEvidence(text string) string {
	var notes []string
	if strings.Contains(text, "ICP证") {
		notes = append(notes, "only a licence (ICP证) is shown")
	}
	if strings.Contains(text, "B2-") {
		notes = append(notes, "only a B2 licence is shown")
	}
	n := len([]rune(text))
	notes = append(notes, fmt.Sprintf("%d characters of visible text", n))
	return strings.Join(notes, "; ")
}

// maxListed bounds the numbers an evidence string lists: a hostile page
// can show thousands.
const maxListed = 10

// distinctCapped returns the first maxListed distinct values of n items.
func distinctCapped(n int, value func(int) string) []string {
	seen := make(map[string]bool)
	var out []string
	for i := 0; i < n && len(out) < maxListed; i++ {
		if v := value(i); !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
