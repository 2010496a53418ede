package checks

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/unicode/norm"
)

// How a placeholder page is told from a real one
//
// A page is a placeholder when either
//
//  1. it matches a signature (placeholders.json): a phrase of a known
//     stand-in page (server default page, hosting panel page, parked,
//     for-sale, under-construction or suspended page) appears in its title
//     or visible text, AND its content measure is at most the signature's
//     max_runes. The bound is what keeps a real page that merely quotes
//     "Welcome to nginx!" or mentions "网站建设中" in a news item from
//     matching: stand-in pages are short, articles are not. The bound
//     alone does not keep a short Chinese blog post that quotes an English
//     default page apart from it, so such signatures also bound the Han
//     characters (max_han), and phrases that occur inside ordinary words
//     ("域名出售中" in "域名出售中心") name those words to skip (not); or
//  2. it has almost no content: a content measure below MinContentRunes,
//     and nothing else on the page that could carry content (no script, no
//     frame, no meta refresh, no image or media, no CSS background image,
//     no form, no link to another page). A page whose few words come with
//     scripts is built by script, one with frames or a refresh shows
//     another page, one with images may say everything in pictures, a
//     login form is the front door of a system, a link leads into the
//     site (a splash page): those cannot be judged from static HTML and
//     are reported as undecided, never as placeholders.
//
// A short page that says it is down for maintenance (维护中, 系统升级,
// maintenance) is undecided rather than a placeholder even when it matches:
// a live site's maintenance page is temporary, and one fetch cannot tell it
// from a shell.
//
// The content measure is the number of letters and digits in the visible
// text (VisibleText: no script, style, template, noscript, comments or
// attributes; the title is not part of it), after NFKC folding, with ICP
// and PSB filing numbers and licence numbers removed: a blank page that
// shows only its filing number is exactly the shell the rule is about, and
// digits of the filing number must not make it look like content. A Han
// character counts one, like a Latin letter, so a three-sentence Chinese
// page of a noodle shop measures about 60 and a "Hello World!" page 10.

// MinContentRunes is the content measure below which a page without
// scripts, frames or images is a placeholder. 16 flags "Hello World!" (10),
// "It works" (7), "网站建设中" (5) and a blank page that shows only its
// filing number (1: the province character), and leaves a shop's name, one
// sentence and a phone number (about 30) alone.
const MinContentRunes = 16

// Placeholder kinds.
const (
	PlaceholderDefaultPage       = "default_page"
	PlaceholderSuspended         = "suspended"
	PlaceholderForSale           = "for_sale"
	PlaceholderUnderConstruction = "under_construction"
	PlaceholderAlmostEmpty       = "almost_empty"
)

//go:embed placeholders.json
var defaultPlaceholdersJSON []byte

// PlaceholderSignature describes one kind of stand-in page. Phrases are
// matched case-insensitively after NFKC folding and whitespace collapsing.
type PlaceholderSignature struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	Description string   `json:"description"`
	Title       []string `json:"title,omitempty"` // phrases looked for in <title>
	Text        []string `json:"text,omitempty"`  // phrases looked for in the visible text
	// MaxRunes is the largest content measure a matching page may have;
	// longer pages only quote the phrase. Required: a signature without a
	// bound would flag articles.
	MaxRunes int `json:"max_runes"`
	// MaxHan, when positive, is the largest number of Han characters the
	// visible text of a matching page may have: an English default page
	// with a Chinese paragraph around it is a post about that page.
	MaxHan int `json:"max_han,omitempty"`
	// Not lists words that contain a phrase without meaning it (域名出售中心
	// holds 域名出售中); they are cut out of the title and the text before
	// the phrases are looked for.
	Not []string `json:"not,omitempty"`
}

// LoadPlaceholderSignatures reads signatures in the placeholders.json
// format and validates them.
func LoadPlaceholderSignatures(r io.Reader) ([]PlaceholderSignature, error) {
	var doc struct {
		Comment    string                 `json:"comment"`
		Signatures []PlaceholderSignature `json:"signatures"`
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("reading placeholder signatures: %w", err)
	}
	if len(doc.Signatures) == 0 {
		return nil, errors.New("reading placeholder signatures: no signature")
	}
	seen := map[string]bool{}
	for i, s := range doc.Signatures {
		switch {
		case s.ID == "":
			return nil, fmt.Errorf("placeholder signature %d: no id", i+1)
		case seen[s.ID]:
			return nil, fmt.Errorf("placeholder signature %q: duplicate id", s.ID)
		case s.Kind == "":
			return nil, fmt.Errorf("placeholder signature %q: no kind", s.ID)
		case len(s.Title)+len(s.Text) == 0:
			return nil, fmt.Errorf("placeholder signature %q: no phrase", s.ID)
		case s.MaxRunes <= 0:
			return nil, fmt.Errorf("placeholder signature %q: max_runes must be positive", s.ID)
		case s.MaxHan < 0:
			return nil, fmt.Errorf("placeholder signature %q: max_han must not be negative", s.ID)
		}
		seen[s.ID] = true
		for j, p := range s.Title {
			if doc.Signatures[i].Title[j] = foldText(p); doc.Signatures[i].Title[j] == "" {
				return nil, fmt.Errorf("placeholder signature %q: empty title phrase", s.ID)
			}
		}
		for j, p := range s.Text {
			if doc.Signatures[i].Text[j] = foldText(p); doc.Signatures[i].Text[j] == "" {
				return nil, fmt.Errorf("placeholder signature %q: empty text phrase", s.ID)
			}
		}
		for j, p := range s.Not {
			if doc.Signatures[i].Not[j] = foldText(p); doc.Signatures[i].Not[j] == "" {
				return nil, fmt.Errorf("placeholder signature %q: empty not phrase", s.ID)
			}
		}
	}
	return doc.Signatures, nil
}

// PlaceholderDetector tells placeholder pages from real ones.
type PlaceholderDetector struct {
	sigs     []PlaceholderSignature
	minRunes int
}

// NewPlaceholderDetector builds a detector on the given signatures (see
// LoadPlaceholderSignatures) with the MinContentRunes threshold.
func NewPlaceholderDetector(sigs []PlaceholderSignature) *PlaceholderDetector {
	return &PlaceholderDetector{sigs: sigs, minRunes: MinContentRunes}
}

// DefaultPlaceholderDetector uses the signatures shipped in
// placeholders.json.
func DefaultPlaceholderDetector() (*PlaceholderDetector, error) {
	sigs, err := LoadPlaceholderSignatures(bytes.NewReader(defaultPlaceholdersJSON))
	if err != nil {
		return nil, err
	}
	return NewPlaceholderDetector(sigs), nil
}

// PlaceholderVerdict is what the detector made of a page.
type PlaceholderVerdict struct {
	Placeholder bool
	// Undecided, when not empty, says why the page cannot be judged from
	// its HTML (built by script, framed, only images, a form, a
	// maintenance notice).
	Undecided string
	// NeedsRendering: the page is undecided because scripts build it; a
	// browser would show what static HTML does not (an application, or a
	// browser check that sets a cookie and reloads).
	NeedsRendering bool
	// Maintenance: a short page that says the site is down for
	// maintenance. Set whatever the verdict, so that an error page can be
	// read too.
	Maintenance bool
	Kind        string // a Placeholder* kind, when Placeholder
	Signature   string // matched signature id; empty for the content measure
	Phrase      string // the phrase matched
	In          string // "title" or "text"
	// ContentRunes is the content measure (letters and digits of the
	// visible text, filing numbers excluded).
	ContentRunes int
	Evidence     string
}

// What a page shows to satisfy the footer rule (ICP filing and licence
// numbers, PSB numbers) is not content. The text is folded to lower case
// first; each pattern starts with a literal so that a long page is scanned
// quickly.
var (
	icpNumberRE     = regexp.MustCompile(`icp\s*[备證证]?\s*[:：]?\s*\d{6,10}\s*号?(?:\s*-\s*\d+[axk]?)?\s*号?`)
	psbNumberRE     = regexp.MustCompile(`公网安备\s*\d{6,14}\s*号?`)
	licenceNumberRE = regexp.MustCompile(`b[12]-\d{6,8}`)
)

// maxMaintenanceRunes bounds the content measure of a page read as a
// maintenance notice: a notice is a few sentences; a long page that
// mentions 维护 is a site.
const maxMaintenanceRunes = 300

// maintenanceWords, in the folded title or text of a short page, say the
// site is down for a while ("系统升级中，预计2小时后恢复"). Bare 升级 is
// left out: an expired host's page asks to 续费升级. Bare 维护 is left out
// too: "网站维护：某某科技" is the footer line crediting whoever maintains
// the site, and a default page carrying it is still a default page.
var maintenanceWords = []string{
	"维护中", "正在维护", "正在进行维护", "系统维护", "停机维护", "维护升级", "升级维护",
	"例行维护", "临时维护", "紧急维护", "维护公告", "维护期间",
	"升级中", "正在升级", "系统升级", "服务器升级", "网站升级", "升级改版", "maintenance",
}

// Detect judges one page (UTF-8 HTML).
func (d *PlaceholderDetector) Detect(body []byte) PlaceholderVerdict {
	info := scanPage(body)
	text := foldText(VisibleText(body))
	measured := stripFilingNumbers(text)
	v := PlaceholderVerdict{ContentRunes: countRunes(measured, isContentRune)}
	han := countRunes(measured, isHan)
	title := foldText(info.title)
	if v.ContentRunes <= maxMaintenanceRunes {
		for _, w := range maintenanceWords {
			if strings.Contains(text, w) || strings.Contains(title, w) {
				v.Maintenance = true
				break
			}
		}
	}
	for _, s := range d.sigs {
		if v.ContentRunes > s.MaxRunes || s.MaxHan > 0 && han > s.MaxHan {
			continue
		}
		stitle, stext := title, text
		for _, n := range s.Not {
			stitle, stext = strings.ReplaceAll(stitle, n, " "), strings.ReplaceAll(stext, n, " ")
		}
		where, phrase := "", ""
		for _, p := range s.Title {
			if strings.Contains(stitle, p) {
				where, phrase = "title", p
				break
			}
		}
		if where == "" {
			for _, p := range s.Text {
				if strings.Contains(stext, p) {
					where, phrase = "text", p
					break
				}
			}
		}
		if where == "" {
			continue
		}
		if v.Maintenance {
			v.Undecided = fmt.Sprintf("the page says the site is under maintenance (%s; %q in the page %s): a live site's notice is temporary", s.Description, phrase, where)
			return v
		}
		v.Placeholder, v.Kind, v.Signature, v.Phrase, v.In = true, s.Kind, s.ID, phrase, where
		v.Evidence = fmt.Sprintf("%s: %q in the page %s; %d letters and digits of visible text", s.Description, phrase, where, v.ContentRunes)
		return v
	}
	if v.ContentRunes >= d.minRunes {
		return v
	}
	switch {
	case info.scripts > 0:
		v.NeedsRendering = true
		v.Undecided = fmt.Sprintf("needs_rendering: %d letters and digits of visible text and %d scripts: the page is built by script", v.ContentRunes, info.scripts)
	case info.frames > 0:
		v.Undecided = fmt.Sprintf("the page shows other pages in %d frames", info.frames)
	case info.refresh:
		v.Undecided = "the page forwards elsewhere with a meta refresh"
	case info.media > 0 || info.backgrounds > 0:
		v.Undecided = fmt.Sprintf("the page shows %d images or media (CSS backgrounds included) and %d letters and digits of text: a person should look",
			info.media+info.backgrounds, v.ContentRunes)
	case info.forms > 0:
		v.Undecided = fmt.Sprintf("the page is a login or other form (%d forms or password fields) with %d letters and digits of text: the front door of a system, a person should look",
			info.forms, v.ContentRunes)
	case info.links > 0:
		v.Undecided = fmt.Sprintf("the page links to %d other pages with %d letters and digits of text: an entry page, a person should look", info.links, v.ContentRunes)
	case v.Maintenance:
		v.Undecided = fmt.Sprintf("the page says the site is under maintenance (%d letters and digits of text): a live site's notice is temporary", v.ContentRunes)
	default:
		v.Placeholder, v.Kind = true, PlaceholderAlmostEmpty
		shown := []rune(strings.TrimSpace(text))
		if len(shown) > 60 {
			shown = append(shown[:60], '…')
		}
		v.Evidence = fmt.Sprintf("almost no visible text: %d letters and digits (filing numbers excluded; fewer than %d is a placeholder): %q",
			v.ContentRunes, d.minRunes, string(shown))
	}
	return v
}

// foldText is NFKC, lower case and single spaces: the form both phrases and
// pages are compared in.
func foldText(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFKC.String(s))), " ")
}

// stripFilingNumbers removes what a page shows for the footer rule, which
// is not content.
func stripFilingNumbers(folded string) string {
	for _, re := range []*regexp.Regexp{icpNumberRE, psbNumberRE, licenceNumberRE} {
		folded = re.ReplaceAllString(folded, " ")
	}
	return folded
}

func isContentRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func countRunes(s string, f func(rune) bool) int {
	n := 0
	for _, r := range s {
		if f(r) {
			n++
		}
	}
	return n
}

// pageInfo is what, besides visible text, tells how a page shows content.
type pageInfo struct {
	title       string
	scripts     int  // script elements (with a src or a body)
	frames      int  // frame and iframe elements
	refresh     bool // <meta http-equiv=refresh>
	media       int  // img, picture, video, object, embed, canvas, svg
	backgrounds int  // background images: CSS in style attributes or elements, background attributes
	forms       int  // form elements and password fields
	links       int  // links to other pages (not to the filing registries)
}

// cssBackgroundRE finds a background image in CSS: a hero picture with a
// slogan over it is a whole landing page.
var cssBackgroundRE = regexp.MustCompile(`(?i)background(?:-image)?\s*:[^;}]*url\(`)

// linksToPage says whether an href leads to another page, rather than to a
// fragment, a script, a mail or phone address, or a filing registry.
func linksToPage(href string) bool {
	href = strings.TrimSpace(href)
	if href == "" || strings.HasPrefix(href, "#") {
		return false
	}
	u, err := url.Parse(href)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "", "http", "https":
	default:
		return false
	}
	// A link to a filing registry, where the footer's numbers link, leads
	// nowhere into the site.
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if isRegistryHost(host) {
		return false
	}
	return u.Path != "" || u.RawQuery != "" || host != ""
}

func scanPage(body []byte) pageInfo {
	var p pageInfo
	z := html.NewTokenizer(bytes.NewReader(body))
	inTitle, inScript, inStyle, scriptCounted := false, false, false, false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return p
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			attrs := map[string]string{}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				attrs[string(k)] = string(v)
			}
			// <body background> and <td background> are how sites of the
			// table era put their picture behind a few words.
			if attrs["background"] != "" || cssBackgroundRE.MatchString(attrs["style"]) {
				p.backgrounds++
			}
			switch atom.Lookup(name) {
			case atom.Title:
				inTitle = true
			case atom.Style:
				inStyle = true
			case atom.Form:
				p.forms++
			case atom.Input:
				if strings.EqualFold(attrs["type"], "password") {
					p.forms++
				}
			case atom.A:
				if linksToPage(attrs["href"]) {
					p.links++
				}
			case atom.Script:
				inScript, scriptCounted = true, false
				if attrs["src"] != "" {
					p.scripts++
					scriptCounted = true
				}
			case atom.Frame, atom.Iframe:
				p.frames++
			case atom.Meta:
				if strings.EqualFold(attrs["http-equiv"], "refresh") {
					p.refresh = true
				}
			case atom.Img, atom.Picture, atom.Video, atom.Object, atom.Embed, atom.Canvas, atom.Svg:
				p.media++
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Title:
				inTitle = false
			case atom.Script:
				inScript = false
			case atom.Style:
				inStyle = false
			}
		case html.TextToken:
			switch {
			case inTitle:
				p.title += string(z.Text())
			case inStyle:
				p.backgrounds += len(cssBackgroundRE.FindAllIndex(z.Text(), -1))
			case inScript && !scriptCounted && len(bytes.TrimSpace(z.Text())) > 0:
				p.scripts++
				scriptCounted = true
			}
		}
	}
}
