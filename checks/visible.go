package checks

import (
	"bytes"
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
	segs    []textSegment
	anchors []anchorInfo

	scripts         int      // script elements seen
	iframes         int      // iframe elements seen
	frames          int      // frameset and frame elements seen
	scriptMentions  bool     // an inline script mentions a filing number or MIIT
	imageNumbers    []string // ICP numbers in image alt/title
	imagePSBCodes   []string // PSB codes in image alt/title
	rawText         []byte   // whitespace-collapsed visible text, only when asked
	collectRawText  bool
	lastRawWasSpace bool
}

type openElem struct {
	tag    atom.Atom
	name   string // for unknown (custom) elements
	footer bool
	anchor int
}

// voidElements never have content or an end tag.
var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true,
	atom.Hr: true, atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true,
	atom.Param: true, atom.Source: true, atom.Track: true, atom.Wbr: true,
}

// footerWords in an id or class mark a footer-like block.
var footerWords = []string{"footer", "foot", "bottom", "copyright", "copy-right", "beian", "icp", "record"}

// extractText walks the page once.
func extractText(body []byte, collectRaw bool) *pageText {
	p := &pageText{collectRawText: collectRaw, norm: make([]byte, 0, len(body)/3)}
	z := html.NewTokenizer(bytes.NewReader(body))
	stack := make([]openElem, 0, 64)
	top := func() openElem {
		if len(stack) == 0 {
			return openElem{anchor: -1}
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
				continue
			case atom.Style, atom.Title, atom.Iframe, atom.Noembed, atom.Noframes, atom.Xmp:
				continue
			}
			if skip > 0 {
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
				continue
			case atom.Iframe:
				p.iframes++
				rawOf = a
				continue
			case atom.Frame, atom.Frameset:
				p.frames++
			case atom.Style, atom.Title, atom.Noembed, atom.Noframes, atom.Xmp:
				rawOf = a
				continue
			}
			parent := top()
			el := openElem{tag: a, footer: parent.footer, anchor: parent.anchor}
			if a == 0 {
				el.name = string(name)
			}
			if a == atom.Footer {
				el.footer = true
			}
			var href, alt, title string
			var hasHref bool
			if hasAttr && a != atom.A && a != atom.Area && a != atom.Img && a != atom.Input && !mentionsFooterWord(z.Raw()) {
				// Reading attributes allocates; most elements need them
				// only to tell whether they are a footer.
				hasAttr = false
			}
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "id", "class":
					if !el.footer && hasFooterWord(v) {
						el.footer = true
					}
				case "href":
					if a == atom.A || a == atom.Area {
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
			switch a {
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
			if tt == html.StartTagToken && !voidElements[a] {
				stack = append(stack, el)
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
	p.norm = p.nz.append(p.norm, text)
	if p.collectRawText {
		p.appendRaw(text)
	}
	if len(p.norm) == start {
		return
	}
	if el.anchor >= 0 {
		p.anchors[el.anchor].hasText = true
	}
	if n := len(p.segs); n > 0 {
		last := &p.segs[n-1]
		if last.end == start && last.anchor == el.anchor && last.footer == el.footer {
			last.end = len(p.norm)
			return
		}
	}
	p.segs = append(p.segs, textSegment{start: start, end: len(p.norm), anchor: el.anchor, footer: el.footer})
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
