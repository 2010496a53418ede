package checks

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"slices"
	"sort"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The footer rules judge what a person sees, so this file extracts the
// visible text of a page: text nodes outside script, style, template,
// noscript, title and comments; never attributes. It uses the streaming
// tokenizer rather than building a tree, which keeps a 100 KB page well
// under a millisecond and a few hundred KB of allocation.

// textSegment is one text node's share of the normalised visible text.
type textSegment struct {
	start, end int  // byte offsets in pageText.norm
	anchor     int  // index into pageText.anchors, -1 outside any link
	footer     bool // inside a footer-like block
	// dataLink: inside an element whose data attribute carries the MIIT
	// address, which a script may turn into a link.
	dataLink bool
}

// anchorInfo is one <a href> (or <area href>) of the page.
type anchorInfo struct {
	href     string
	hasText  bool
	hasImage bool
}

// pageText is the visible text of a page and what surrounds it.
type pageText struct {
	norm    []byte // normalised visible text (see normalizer)
	nz      normalizer
	brk     textBreaks // where a person sees the text separated
	segs    []textSegment
	anchors []anchorInfo
	base    string // the first <base href>, which relative links resolve against

	scripts         int      // script elements seen
	iframes         int      // iframe elements seen
	frames          int      // frameset and frame elements seen
	scriptMentions  bool     // an inline script mentions a filing number or MIIT
	imageNumbers    []string // ICP numbers in image alt/title
	imagePSBCodes   []string // PSB codes in image alt/title
	rawText         []byte   // whitespace-collapsed visible text, only when asked
	collectRawText  bool
	lastRawWasSpace bool

	// What shows the footer from outside the static text.
	scriptLinksMIIT bool   // an inline script mentions the MIIT host (it may build the link)
	styleMentions   bool   // a style sheet carries a filing number (CSS content)
	noscriptNumber  bool   // a <noscript> fallback carries a filing number or MIIT link
	footerSource    string // a script or frame whose address names the footer
	footerBlocks    []footerBlock
}

type openElem struct {
	tag    atom.Atom
	name   string // for unknown (custom) elements
	footer bool
	anchor int
	block  int // index into pageText.footerBlocks of the innermost footer block, -1 outside
	// content: inside an <article>, <aside> or <nav>, whose <footer> is
	// theirs, not the page's (HTML's sectioning content).
	content  bool
	dataLink bool
	// foreign: inside <svg> or <math>, where "/>" closes an element.
	foreign bool
}

// footerBlock is a container that holds the footer or part of it. One
// left without visible text on a page with scripts is filled in by
// script, when it is named for the footer (id="footer", <footer>,
// <site-footer>) or holds a script itself; an empty <div
// class="footer-line"> is decoration.
type footerBlock struct {
	desc      string
	parent    int // enclosing footer block, -1 for none
	named     bool
	hasScript bool
	hasText   bool
	// inContent: the block is inside an article, aside or nav: a
	// per-post or per-widget footer, not the site's.
	inContent bool
}

// maxFooterBlocks bounds the blocks tracked on a hostile page.
const maxFooterBlocks = 10000

// footerBlockNames are the id and class words that name a footer block
// outright; a word ending in "footer" or "beian" (site-footer) does too.
var footerBlockNames = []string{"footer", "foot", "bottom", "copyright", "beian", "icp"}

func namesFooterBlock(v []byte) bool {
	for _, w := range strings.Fields(strings.ToLower(string(v))) {
		if slices.Contains(footerBlockNames, w) || strings.HasSuffix(w, "footer") || strings.HasSuffix(w, "beian") {
			return true
		}
	}
	return false
}

// footerSourceWords in a script's or frame's address say it carries the
// footer (底部 is "dibu", 版权 "banquan"); footerSourceNames must be a
// whole word of its file name ("foot.js", not "football.js").
var (
	footerSourceWords = []string{"footer", "bottom", "dibu", "copyright", "banquan", "beian"}
	footerSourceNames = []string{"foot", "icp"}
)

// footerTagWords in a custom element's name (<site-footer>) make it a
// footer-like block.
var footerTagWords = []string{"footer", "foot", "bottom", "copyright", "beian"}

// footerContainers are the elements that can hold a footer drawn by
// script; icons and links (<i class="icon-bottom">) are left out, as they
// are empty by design.
var footerContainers = map[atom.Atom]bool{
	atom.Footer: true, atom.Div: true, atom.Section: true, atom.Aside: true, atom.P: true,
	atom.Table: true, atom.Td: true, atom.Center: true, atom.Ul: true,
}

// blockElements start a new line or cell where they open and close: text
// on either side is not read as one word (see textBreaks).
var blockElements = map[atom.Atom]bool{
	atom.Address: true, atom.Article: true, atom.Aside: true, atom.Blockquote: true, atom.Br: true,
	atom.Caption: true, atom.Center: true, atom.Dd: true, atom.Details: true, atom.Dialog: true,
	atom.Div: true, atom.Dl: true, atom.Dt: true, atom.Fieldset: true, atom.Figcaption: true,
	atom.Figure: true, atom.Footer: true, atom.Form: true, atom.H1: true, atom.H2: true,
	atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true, atom.Header: true,
	atom.Hgroup: true, atom.Hr: true, atom.Li: true, atom.Main: true, atom.Nav: true,
	atom.Ol: true, atom.Option: true, atom.P: true, atom.Pre: true, atom.Section: true,
	atom.Summary: true, atom.Table: true, atom.Tbody: true, atom.Td: true, atom.Tfoot: true,
	atom.Th: true, atom.Thead: true, atom.Tr: true, atom.Ul: true,
}

// voidElements never have content or an end tag.
var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true,
	atom.Hr: true, atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true,
	atom.Param: true, atom.Source: true, atom.Track: true, atom.Wbr: true,
}

// footerWords in an id or class mark a footer-like block.
var footerWords = []string{"footer", "foot", "bottom", "copyright", "copy-right", "beian", "icp", "record"}

// maxOpenElements bounds the stack of open elements, as Chromium bounds
// its DOM depth. Every end tag searches the stack, so without a bound a
// hostile page of 150,000 nested <div>s closed by unopened </span>s held a
// check for 20 s.
const maxOpenElements = 512

// extractText walks the page once.
func extractText(body []byte, collectRaw bool) *pageText {
	p := &pageText{collectRawText: collectRaw, norm: make([]byte, 0, len(body)/3)}
	z := html.NewTokenizer(bytes.NewReader(body))
	stack := make([]openElem, 0, 64)
	top := func() openElem {
		if len(stack) == 0 {
			return openElem{anchor: -1, block: -1}
		}
		return stack[len(stack)-1]
	}
	skip := 0                // depth inside template/noscript, whose content is not shown
	var rawOf atom.Atom      // the raw-text element whose content comes next
	var skipTags []atom.Atom // the open template/noscript elements
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return p
		case html.TextToken:
			text := z.Text()
			switch rawOf {
			case atom.Script:
				if !p.scriptMentions && scriptMentionsNumber(text) {
					p.scriptMentions = true
				}
				if !p.scriptLinksMIIT && bytes.Contains(text, []byte(miitHost)) {
					p.scriptLinksMIIT = true
				}
				continue
			case atom.Style:
				if !p.styleMentions && scriptMentionsNumber(text) {
					p.styleMentions = true
				}
				continue
			case atom.Title, atom.Iframe, atom.Noembed, atom.Noframes, atom.Xmp:
				continue
			}
			if skip > 0 {
				// The tokenizer hands a <noscript>'s content over as one
				// raw text: what a browser without scripts would show.
				if skipTags[len(skipTags)-1] == atom.Noscript && !p.noscriptNumber && scriptMentionsNumber(text) {
					p.noscriptNumber = true
				}
				continue
			}
			p.addText(text, top())
		case html.StartTagToken, html.SelfClosingTagToken:
			rawOf = 0
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if skip > 0 {
				if a == atom.Template || a == atom.Noscript {
					skip++
					skipTags = append(skipTags, a)
				}
				continue
			}
			switch a {
			case atom.Template, atom.Noscript:
				if tt == html.StartTagToken {
					skip++
					skipTags = append(skipTags, a)
				}
				continue
			case atom.Script:
				p.scripts++
				rawOf = a
				if b := top().block; b >= 0 {
					p.footerBlocks[b].hasScript = true
				}
				p.noteFooterSource(z, hasAttr, "src")
				continue
			case atom.Iframe:
				p.iframes++
				rawOf = a
				p.noteFooterSource(z, hasAttr, "src")
				continue
			case atom.Frame, atom.Frameset:
				p.frames++
				p.noteFooterSource(z, hasAttr, "src")
				hasAttr = false
			case atom.Object, atom.Embed:
				p.noteFooterSource(z, hasAttr, "data", "src")
				hasAttr = false
			case atom.Style, atom.Title, atom.Noembed, atom.Noframes, atom.Xmp:
				rawOf = a
				continue
			}
			parent := top()
			el := openElem{tag: a, footer: parent.footer, anchor: parent.anchor, block: parent.block,
				foreign:  parent.foreign || a == atom.Svg || a == atom.Math,
				content:  parent.content || a == atom.Article || a == atom.Aside || a == atom.Nav,
				dataLink: parent.dataLink}
			// named: the element itself is a footer block by its tag, its
			// custom element name (<site-footer>, drawn by its script) or
			// its id or class.
			named := a == atom.Footer
			if a == 0 {
				el.name = string(name)
				for _, w := range footerTagWords {
					named = named || strings.Contains(el.name, "-") && bytes.Contains(name, []byte(w))
				}
			}
			el.footer = el.footer || named
			var href, alt, title string
			var hasHref bool
			if hasAttr && a != atom.A && a != atom.Area && a != atom.Img && a != atom.Input && a != atom.Base &&
				!mentionsFooterWord(z.Raw()) && !bytes.Contains(z.Raw(), []byte("data-")) {
				// Reading attributes allocates; most elements need them
				// only to tell whether they are a footer.
				hasAttr = false
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				if !el.dataLink && bytes.HasPrefix(k, []byte("data-")) && carriesMIIT(v) {
					el.dataLink = true
				}
				switch string(k) {
				case "id", "class":
					if !el.footer && hasFooterWord(v) {
						el.footer = true
					}
					if !named && footerContainers[a] && namesFooterBlock(v) {
						named = true
					}
				case "href", "xlink:href":
					// SVG links may still use xlink:href; the tokenizer
					// keeps only the first of repeated attributes.
					if (a == atom.A || a == atom.Area || a == atom.Base) && !hasHref {
						href, hasHref = string(v), true
					}
				case "alt":
					if a == atom.Img || a == atom.Area || a == atom.Input {
						alt = string(v)
					}
				case "title":
					if a == atom.Img || a == atom.Area || a == atom.Input {
						title = string(v)
					}
				}
			}
			if el.footer && (named || footerContainers[a] && !parent.footer) && len(p.footerBlocks) < maxFooterBlocks {
				el.block = len(p.footerBlocks)
				p.footerBlocks = append(p.footerBlocks, footerBlock{desc: footerBlockDesc(z, name), parent: parent.block, named: named, inContent: parent.content})
			}
			switch a {
			case atom.Base:
				// Only the first <base href> counts, as in a browser.
				if hasHref && p.base == "" {
					p.base = href
				}
			case atom.A:
				// An <a> inside an open <a> closes it, as the HTML parser does.
				if parent.anchor >= 0 {
					for i := len(stack) - 1; i >= 0; i-- {
						if stack[i].tag == atom.A {
							stack = stack[:i]
							break
						}
					}
					el.anchor = top().anchor
					el.footer = el.footer || top().footer
				}
				if hasHref {
					p.anchors = append(p.anchors, anchorInfo{href: href})
					el.anchor = len(p.anchors) - 1
				}
			case atom.Img, atom.Area, atom.Input:
				if alt != "" || title != "" {
					p.noteImageText(alt, title)
				}
				if a == atom.Area && hasHref {
					p.anchors = append(p.anchors, anchorInfo{href: href, hasImage: true})
				} else if el.anchor >= 0 && a != atom.Input {
					p.anchors[el.anchor].hasImage = true
				}
			case atom.Svg:
				if el.anchor >= 0 {
					p.anchors[el.anchor].hasImage = true
				}
			case atom.Br, atom.Hr, atom.P, atom.Div, atom.Li, atom.Td, atom.Tr:
				p.breakRaw()
			}
			if blockElements[a] {
				p.brk.hard = markOffset(p.brk.hard, len(p.norm))
			}
			// A browser ignores the "/>" of a non-void HTML element
			// (<a href="..."/> opens a link); only SVG and MathML honour it.
			if !voidElements[a] && (tt == html.StartTagToken || !el.foreign) {
				if len(stack) < maxOpenElements {
					stack = append(stack, el)
				} else {
					// As in Chromium, elements past the depth limit become
					// siblings of the deepest one.
					stack[len(stack)-1] = el
				}
			}
		case html.EndTagToken:
			rawOf = 0
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if skip > 0 {
				if a == atom.Template || a == atom.Noscript {
					// Close the innermost matching skipped element.
					for i := len(skipTags) - 1; i >= 0; i-- {
						if skipTags[i] == a {
							skipTags = skipTags[:i]
							skip = len(skipTags)
							break
						}
					}
				}
				continue
			}
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].tag == a && (a != 0 || stack[i].name == string(name)) {
					stack = stack[:i]
					break
				}
			}
			if blockElements[a] {
				p.brk.hard = markOffset(p.brk.hard, len(p.norm))
			}
			p.breakRaw()
		default:
			rawOf = 0
		}
	}
}

// segsOver returns the segments overlapping the text [from, to). Segments
// are in text order and do not overlap, so a binary search finds the
// first: judging every number of a page stays linear even when a hostile
// page repeats a number a hundred thousand times.
func (p *pageText) segsOver(from, to int) []textSegment {
	i := sort.Search(len(p.segs), func(i int) bool { return p.segs[i].end > from })
	j := i
	for j < len(p.segs) && p.segs[j].start < to {
		j++
	}
	return p.segs[i:j]
}

func (p *pageText) addText(text []byte, el openElem) {
	start := len(p.norm)
	p.norm = p.nz.appendMarking(p.norm, text, &p.brk.soft)
	if p.collectRawText {
		p.appendRaw(text)
	}
	if len(p.norm) == start {
		return
	}
	if el.anchor >= 0 {
		p.anchors[el.anchor].hasText = true
	}
	for b := el.block; b >= 0 && !p.footerBlocks[b].hasText; b = p.footerBlocks[b].parent {
		p.footerBlocks[b].hasText = true
	}
	if n := len(p.segs); n > 0 {
		last := &p.segs[n-1]
		if last.end == start && last.anchor == el.anchor && last.footer == el.footer && last.dataLink == el.dataLink {
			last.end = len(p.norm)
			return
		}
	}
	p.segs = append(p.segs, textSegment{start: start, end: len(p.norm), anchor: el.anchor, footer: el.footer, dataLink: el.dataLink})
}

func (p *pageText) appendRaw(text []byte) {
	for _, f := range bytes.Fields(text) {
		if len(p.rawText) > 0 && !p.lastRawWasSpace {
			p.rawText = append(p.rawText, ' ')
		}
		p.rawText = append(p.rawText, f...)
		p.lastRawWasSpace = false
	}
}

func (p *pageText) breakRaw() {
	if p.collectRawText && len(p.rawText) > 0 && !p.lastRawWasSpace {
		p.rawText = append(p.rawText, ' ')
		p.lastRawWasSpace = true
	}
}

func (p *pageText) noteImageText(alt, title string) {
	for _, s := range []string{alt, title} {
		if !strings.Contains(s, "备") && !strings.Contains(s, "備") {
			continue // no filing number without 备, even before normalising
		}
		icps, psbs := findNumbers(string(p.nz.append(nil, []byte(s))))
		for _, m := range icps {
			p.imageNumbers = append(p.imageNumbers, m.Number.String())
		}
		for _, m := range psbs {
			p.imagePSBCodes = append(p.imagePSBCodes, m.Number.Code)
		}
	}
}

// noteFooterSource records a script, frame or embedded document whose
// address (in one of the attributes keys) names the footer: the page shows
// its footer from there.
func (p *pageText) noteFooterSource(z *html.Tokenizer, hasAttr bool, keys ...string) {
	for hasAttr && p.footerSource == "" {
		var k, v []byte
		k, v, hasAttr = z.TagAttr()
		if !slices.Contains(keys, string(k)) || len(v) > 2048 {
			continue
		}
		if namesFooter(string(v)) {
			p.footerSource = string(v)
		}
	}
}

// namesFooter reports whether a script's or frame's address names the
// footer.
func namesFooter(src string) bool {
	src, _, _ = strings.Cut(strings.ToLower(src), "?")
	for _, w := range footerSourceWords {
		if strings.Contains(src, w) {
			return true
		}
	}
	file := src[strings.LastIndexAny(src, `/\`)+1:]
	words := strings.FieldsFunc(file, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') })
	for _, w := range words {
		if slices.Contains(footerSourceNames, w) {
			return true
		}
	}
	return false
}

// footerBlockDesc names a footer-like block for a result's details.
func footerBlockDesc(z *html.Tokenizer, name []byte) string {
	raw := z.Raw()
	if len(raw) > 120 {
		return "<" + string(name) + ">"
	}
	return string(raw)
}

// emptyFooterBlock returns a footer block that has no visible text and is
// named for the footer or holds a script: one a script fills in. The
// footer that must show the number is the site's: an empty footer of an
// article, aside or nav (a per-post end marker, never filled) does not
// stand for it when the site's own footer is there with text in it.
func (p *pageText) emptyFooterBlock() (string, bool) {
	siteFooter := false
	for _, b := range p.footerBlocks {
		if !b.inContent && b.hasText {
			siteFooter = true
			break
		}
	}
	for _, b := range p.footerBlocks {
		if !b.hasText && (b.named || b.hasScript) && !(b.inContent && siteFooter) {
			return b.desc, true
		}
	}
	return "", false
}

// carriesMIIT reports whether an attribute value holds the MIIT address,
// plainly, percent-encoded or base64-encoded: themes keep a link's target
// there for a script to turn the element into a link ("exturl").
func carriesMIIT(v []byte) bool {
	if len(v) == 0 || len(v) > 2048 {
		return false
	}
	has := func(b []byte) bool {
		return indexFold(b, miitHost) >= 0 || indexFold(b, "miitbeian") >= 0 || indexFold(b, "miibeian") >= 0
	}
	if has(v) {
		return true
	}
	if bytes.IndexByte(v, '%') >= 0 {
		if d, err := url.PathUnescape(string(v)); err == nil && has([]byte(d)) {
			return true
		}
	}
	t := strings.TrimSpace(string(v))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(t); err == nil {
			if has(d) {
				return true
			}
			if u, err := url.PathUnescape(string(d)); err == nil && has([]byte(u)) {
				return true
			}
		}
	}
	return false
}

// mentionsFooterWord is a cheap, ASCII case-insensitive pre-test of a
// raw tag for the words hasFooterWord looks for in its id or class.
func mentionsFooterWord(raw []byte) bool {
	for _, w := range footerWords {
		if indexFold(raw, w) >= 0 {
			return true
		}
	}
	return false
}

func indexFold(s []byte, lowerWord string) int {
	n := len(lowerWord)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerWord[j] {
				break
			}
		}
		if j == n {
			return i
		}
	}
	return -1
}

func hasFooterWord(v []byte) bool {
	if len(v) == 0 || len(v) > 512 {
		return false
	}
	lower := strings.ToLower(string(v))
	for _, w := range footerWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	return false
}

// scriptMentionsNumber is a cheap test for a filing number (or the MIIT
// host) inside an inline script: such a page draws its footer with script.
func scriptMentionsNumber(s []byte) bool {
	if bytes.Contains(s, []byte("beian.miit.gov.cn")) || bytes.Contains(s, []byte("miitbeian")) {
		return true
	}
	i := bytes.Index(s, []byte("ICP"))
	if i < 0 {
		i = bytes.Index(s, []byte("icp"))
	}
	if i < 0 {
		return false
	}
	rest := s[i:]
	return bytes.Contains(rest, []byte("备")) || bytes.Contains(rest, []byte("備")) ||
		bytes.Contains(rest, []byte(`\u5907`)) || bytes.Contains(rest, []byte(`\u5099`))
}

// VisibleText returns the text a person sees on an HTML page (UTF-8),
// whitespace collapsed: no script, style, template, noscript, title,
// comments or attributes.
func VisibleText(body []byte) string {
	return strings.TrimSpace(string(extractText(body, true).rawText))
}

// visibleRunes counts the runes of normalised visible text (whitespace
// excluded), a measure of how much a page says.
func (p *pageText) visibleRunes() int {
	return bytes.Count(p.norm, nil) - 1
}
