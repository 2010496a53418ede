package checks

import (
	"bytes"
	"fmt"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// Charset decoding follows what a browser does, because what a person sees
// is what the footer rules judge:
//
//  1. a byte-order mark wins;
//  2. then the charset parameter of the Content-Type header;
//  3. then <meta charset> or <meta http-equiv="Content-Type" content="...;
//     charset=..."> near the top of the document (a declared UTF-16 means
//     UTF-8, as the HTML standard says);
//  4. nothing declared: UTF-8 if the bytes are valid UTF-8, else GB18030.
//
// Step 4 departs from the HTML standard's windows-1252 default on purpose:
// every site we look at is Chinese, legacy ones are GBK without saying so,
// and browsers set to a Chinese locale pick GBK there too. windows-1252
// would turn 京ICP备 into mojibake and make the footer look missing — a false
// violation.
//
// GB2312 and GBK labels are decoded with GB18030. It is a superset of both,
// the HTML standard's GBK decoder is the GB18030 decoder, and pages labelled
// gb2312 routinely use GBK-only characters (喆, 堃, 镕) that a strict GB2312
// decoder would lose.

// prescanLimit is how far into the document a meta charset is looked for.
// The standard's prescan stops at 1024 bytes, but browsers re-parse when a
// later meta changes the encoding, and Chinese CMS pages often push it
// further down behind comments and scripts.
const prescanLimit = 4096

const (
	charsetUTF8    = "utf-8"
	charsetGB18030 = "gb18030"
)

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

func trimUTF8BOM(b []byte) []byte { return bytes.TrimPrefix(b, utf8BOM) }

// decodeHTML converts raw HTML to UTF-8 and names the encoding it used.
// Undecodable bytes become U+FFFD; it never fails.
func decodeHTML(raw []byte, contentType string) ([]byte, string) {
	enc, name, skip := detectCharset(raw, contentType)
	raw = raw[skip:]
	if name == charsetUTF8 {
		if utf8.Valid(raw) {
			return raw, name
		}
		return bytes.ToValidUTF8(raw, []byte("\uFFFD")), name
	}
	out, err := enc.NewDecoder().Bytes(raw)
	if err != nil {
		// The decoders in use substitute rather than fail; should one
		// fail anyway, keep what can be read.
		return bytes.ToValidUTF8(raw, []byte("\uFFFD")), charsetUTF8
	}
	return out, name
}

// detectCharset returns the encoding of raw, its name, and how many leading
// bytes (a BOM) to drop before decoding.
func detectCharset(raw []byte, contentType string) (encoding.Encoding, string, int) {
	switch {
	case bytes.HasPrefix(raw, utf8BOM):
		return unicode.UTF8, charsetUTF8, 3
	case bytes.HasPrefix(raw, []byte{0xff, 0xfe}):
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le", 2
	case bytes.HasPrefix(raw, []byte{0xfe, 0xff}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be", 2
	}
	if label := headerCharset(contentType); label != "" {
		if enc, name := lookupCharset(label); enc != nil {
			return enc, name, 0
		}
	}
	if label := metaCharset(raw); label != "" {
		if enc, name := lookupCharset(label); enc != nil {
			if strings.HasPrefix(name, "utf-16") {
				// A document that can be prescanned as ASCII is not UTF-16.
				return unicode.UTF8, charsetUTF8, 0
			}
			return enc, name, 0
		}
	}
	if utf8.Valid(raw) {
		return unicode.UTF8, charsetUTF8, 0
	}
	return simplifiedchinese.GB18030, charsetGB18030, 0
}

// lookupCharset resolves a label with the HTML standard's table, widening
// the GBK family to GB18030.
func lookupCharset(label string) (encoding.Encoding, string) {
	enc, name := charset.Lookup(label)
	if enc == nil {
		return nil, ""
	}
	switch name {
	case "gbk", "gb18030":
		return simplifiedchinese.GB18030, charsetGB18030
	case "utf-8":
		return unicode.UTF8, charsetUTF8
	}
	return enc, name
}

// headerCharset extracts the charset parameter of a Content-Type value,
// tolerating the malformed parameters servers send.
func headerCharset(ct string) string {
	if ct == "" {
		return ""
	}
	if _, params, err := mime.ParseMediaType(ct); err == nil {
		return strings.TrimSpace(params["charset"])
	}
	return charsetFromContent(ct)
}

// metaCharset is the HTML standard's prescan for a meta-declared encoding,
// over the first prescanLimit bytes.
func metaCharset(raw []byte) string {
	if len(raw) > prescanLimit {
		raw = raw[:prescanLimit]
	}
	z := html.NewTokenizer(bytes.NewReader(raw))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) != "meta" {
				continue
			}
			var (
				seen                = map[string]bool{}
				pragma              bool
				fromCharset, fromCT string
			)
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				key := string(k)
				if seen[key] {
					continue // the first occurrence of an attribute wins
				}
				seen[key] = true
				switch key {
				case "charset":
					fromCharset = strings.TrimSpace(string(v))
				case "http-equiv":
					pragma = strings.EqualFold(strings.TrimSpace(string(v)), "content-type")
				case "content":
					fromCT = charsetFromContent(string(v))
				}
			}
			if fromCharset != "" {
				return fromCharset
			}
			if pragma && fromCT != "" {
				return fromCT
			}
		}
	}
}

// charsetFromContent finds "charset=X" in a Content-Type-like string, as the
// HTML standard's algorithm for meta content does.
func charsetFromContent(s string) string {
	lower := strings.ToLower(s)
	for {
		i := strings.Index(lower, "charset")
		if i < 0 {
			return ""
		}
		lower, s = lower[i+len("charset"):], s[i+len("charset"):]
		rest := strings.TrimLeft(lower, " \t\n\f\r")
		if !strings.HasPrefix(rest, "=") {
			continue
		}
		skip := len(lower) - len(rest) + 1
		s = s[skip:]
		trimmed := strings.TrimLeft(s, " \t\n\f\r")
		if trimmed == "" {
			return ""
		}
		if q := trimmed[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(trimmed[1:], q)
			if end < 0 {
				return ""
			}
			return trimmed[1 : 1+end]
		}
		end := strings.IndexAny(trimmed, "; \t\n\f\r")
		if end < 0 {
			end = len(trimmed)
		}
		return trimmed[:end]
	}
}

// charsetConflict says whether the Content-Type header and the page's
// <meta> declare different encodings, and names both (as the standard's
// table names them). The meta is read from the decoded body: its
// declaration is ASCII and survives any of the decodings in use.
func charsetConflict(contentType string, body []byte) (header, meta string, ok bool) {
	hl, ml := headerCharset(contentType), metaCharset(body)
	if hl == "" || ml == "" {
		return "", "", false
	}
	_, h := charset.Lookup(hl)
	_, m := charset.Lookup(ml)
	if h == "" || m == "" || h == m {
		return "", "", false
	}
	return h, m, true
}

// ExplainCharsetConflict adds to a footer_icp_missing finding what a
// reader of the evidence needs when the page declares conflicting
// charsets: the two declarations, the one the page was decoded with (the
// header wins, as in a browser) and how the text where a filing number
// would be read once decoded. It changes no verdict: a visitor's browser
// decodes the page the same way and shows the same garble.
func ExplainCharsetConflict(r *Result, page *Page) {
	if page == nil {
		return
	}
	i := slices.IndexFunc(r.Findings, func(f Finding) bool { return f.Code == CodeFooterICPMissing })
	if i < 0 {
		return
	}
	header, meta, ok := charsetConflict(page.Header.Get("Content-Type"), page.Body)
	if !ok {
		return
	}
	note := fmt.Sprintf("the page declares conflicting charsets: the Content-Type header says %s, its <meta> says %s; it was decoded as %s (the header wins, as in a browser)",
		header, meta, page.Charset)
	if seen := garbledNumber(page.Body); seen != "" {
		note += fmt.Sprintf(", and where a filing number would be it reads %q", seen)
	} else {
		note += ", and no filing number survived the decoding"
	}
	f := &r.Findings[i]
	if f.Evidence != "" {
		f.Evidence += "; "
	}
	f.Evidence += note
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	r.Details["charset_conflict"] = note
}

// garbledNumber is the visible text around where a filing number would be
// in a mis-decoded page: after "ICP", or "CP" (a GBK decoder of UTF-8
// bytes swallows the I into the province character), or else a run of six
// or more digits (ASCII digits survive most mis-decodings). "" when none.
func garbledNumber(body []byte) string {
	text := []rune(string(extractText(body, false).norm))
	at := -1
	for _, marker := range []string{"ICP", "CP"} {
		if i := strings.Index(string(text), marker); i >= 0 {
			at = utf8.RuneCountInString(string(text)[:i])
			break
		}
	}
	if at < 0 {
		run := 0
		for i, r := range text {
			if r >= '0' && r <= '9' {
				run++
				if run == 6 {
					at = i - 5
					break
				}
			} else {
				run = 0
			}
		}
	}
	if at < 0 {
		return ""
	}
	from, to := max(at-4, 0), min(at+24, len(text))
	return string(text[from:to])
}
