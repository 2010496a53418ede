package beian

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// ICPNumber is a parsed ICP filing number: an entity number
// (京ICP备12345678号) or a site number with a suffix (京ICP备12345678号-1,
// -2A for an APP, -3X a mini-program, -4K a quick app).
type ICPNumber struct {
	Province rune   // canonical province character (aliases folded: 蜀→川, 黔→贵, 滇→云, 陇→甘)
	Digits   string // 6–10 digits
	Suffix   string // "" for an entity number; else "1", "2A", ...
}

// PSBNumber is a parsed public-security filing number (京公网安备11010802012345号).
type PSBNumber struct {
	Province rune   // province character as written, canonicalised; 0 when absent
	Code     string // 14 digits, the first two the province code
}

// provinces maps every province character the filing system uses to its
// canonical form and its two-digit administrative code (the PSB prefix).
var provinces = map[rune]struct {
	canon rune
	code  string
}{
	'京': {'京', "11"}, '津': {'津', "12"}, '冀': {'冀', "13"}, '晋': {'晋', "14"},
	'蒙': {'蒙', "15"}, '辽': {'辽', "21"}, '吉': {'吉', "22"}, '黑': {'黑', "23"},
	'沪': {'沪', "31"}, '苏': {'苏', "32"}, '浙': {'浙', "33"}, '皖': {'皖', "34"},
	'闽': {'闽', "35"}, '赣': {'赣', "36"}, '鲁': {'鲁', "37"}, '豫': {'豫', "41"},
	'鄂': {'鄂', "42"}, '湘': {'湘', "43"}, '粤': {'粤', "44"}, '桂': {'桂', "45"},
	'琼': {'琼', "46"}, '渝': {'渝', "50"}, '川': {'川', "51"}, '蜀': {'川', "51"},
	'贵': {'贵', "52"}, '黔': {'贵', "52"}, '云': {'云', "53"}, '滇': {'云', "53"},
	'藏': {'藏', "54"}, '陕': {'陕', "61"}, '甘': {'甘', "62"}, '陇': {'甘', "62"},
	'青': {'青', "63"}, '宁': {'宁', "64"}, '新': {'新', "65"},
}

// IsProvince reports whether r is one of the 35 province characters
// (including the aliases 蜀, 黔, 滇, 陇).
func IsProvince(r rune) bool { _, ok := provinces[r]; return ok }

// CanonicalProvince folds an alias to its canonical character (蜀→川).
func CanonicalProvince(r rune) rune {
	if p, ok := provinces[r]; ok {
		return p.canon
	}
	return r
}

// ProvinceCode is the two-digit administrative code of a province
// character, "" when r is not one.
func ProvinceCode(r rune) string { return provinces[r].code }

// ErrLicence is returned (wrapped) when a string is a telecom licence
// (ICP证, B2-) rather than a filing number. Licences never satisfy or
// contradict a filing number.
var ErrLicence = errors.New("a licence number, not a filing number")

// String is the canonical form: 京ICP备12345678号 or 京ICP备12345678号-1.
func (n ICPNumber) String() string {
	if n.Province == 0 {
		return ""
	}
	s := string(n.Province) + "ICP备" + n.Digits + "号"
	if n.Suffix != "" {
		s += "-" + n.Suffix
	}
	return s
}

// IsSite reports whether n is a site number (has a suffix).
func (n ICPNumber) IsSite() bool { return n.Suffix != "" }

// Entity is the entity number n belongs to.
func (n ICPNumber) Entity() ICPNumber { return ICPNumber{Province: n.Province, Digits: n.Digits} }

// SameEntity reports whether a and b were issued to the same entity.
func (n ICPNumber) SameEntity(o ICPNumber) bool {
	return n.Province == o.Province && n.Digits == o.Digits
}

// String is the canonical form: 京公网安备11010802012345号.
func (p PSBNumber) String() string {
	if p.Code == "" {
		return ""
	}
	prov := p.Province
	if prov == 0 {
		prov = provinceForCode(p.Code[:2])
	}
	if prov == 0 {
		return "公网安备" + p.Code + "号"
	}
	return string(prov) + "公网安备" + p.Code + "号"
}

// MatchesProvince reports whether the PSB number's province code agrees
// with the ICP number's province.
func (p PSBNumber) MatchesProvince(i ICPNumber) bool {
	return len(p.Code) >= 2 && p.Code[:2] == ProvinceCode(i.Province)
}

func provinceForCode(code string) rune {
	for r, p := range provinces {
		if p.code == code && p.canon == r {
			return r
		}
	}
	return 0
}

// NormalizeNumber applies the footer normalisation to a number written
// by a person: NFKC, traditional 備/號, and no whitespace of any kind.
func NormalizeNumber(s string) string {
	// The common case (no full-width or compatibility characters) needs no
	// NFKC iterator, whose buffers would cost 1.5 KB a call: inventories
	// parse two numbers a site.
	b := []byte(s)
	if nfkcStable(b) {
		return string(filterNormalized(b, 0, nil))
	}
	var n Normalizer
	return string(n.Append(nil, b))
}

// ParseICP parses one ICP filing number as written in a filing or on the
// command line. It tolerates what people write (full-width characters,
// spaces, 備/號, a colon, a missing 号, "-1号") and returns the canonical
// number; anything else is an error that says what is wrong.
func ParseICP(s string) (ICPNumber, error) {
	t := NormalizeNumber(s)
	if t == "" {
		return ICPNumber{}, errors.New("empty ICP number")
	}
	if strings.Contains(t, "ICP证") || strings.Contains(t, "B2-") {
		return ICPNumber{}, fmt.Errorf("%q is %w", s, ErrLicence)
	}
	m, n, ok := scanICPAt(t, 0, nil)
	switch {
	case !ok:
		return ICPNumber{}, fmt.Errorf("malformed ICP number %q: %s", s, icpProblem(t))
	case n != len(t):
		return ICPNumber{}, fmt.Errorf("malformed ICP number %q: unexpected %q after the number", s, t[n:])
	}
	return m.Number, nil
}

// icpProblem explains why t is not an ICP number, for error messages.
func icpProblem(t string) string {
	r, size := utf8.DecodeRuneInString(t)
	rest := t[size:]
	switch {
	case !strings.Contains(strings.ToUpper(t), "ICP"):
		return `no "ICP备" in it`
	case !IsProvince(r):
		if strings.HasPrefix(strings.ToUpper(t), "ICP") {
			return "missing the province character before ICP (京, 沪, 粤, ...)"
		}
		return fmt.Sprintf("%q is not a province character", string(r))
	case !strings.HasPrefix(strings.ToUpper(rest), "ICP备"):
		return `expected "ICP备" after the province character`
	}
	rest = rest[len("ICP备"):]
	rest = strings.TrimPrefix(rest, ":")
	d := 0
	for d < len(rest) && rest[d] >= '0' && rest[d] <= '9' {
		d++
	}
	switch {
	case d == 0:
		return `no digits after "ICP备"`
	case d < 6:
		return fmt.Sprintf("%d digits; a filing number has 6 to 10", d)
	case d > 10:
		return fmt.Sprintf("%d digits; a filing number has 6 to 10", d)
	}
	return "bad site suffix (expected -N, -NA, -NX or -NK)"
}

// ParsePSB parses a public-security filing number: an optional province
// character, 公网安备, 14 digits, and 号. The province character, when
// present, must agree with the code's first two digits.
func ParsePSB(s string) (PSBNumber, error) {
	t := NormalizeNumber(s)
	if t == "" {
		return PSBNumber{}, errors.New("empty PSB number")
	}
	m, n, ok := scanPSBAt(t, strings.Index(t, "公网安备"), nil)
	if !ok || n != len(t) || (m.Start != 0) {
		return PSBNumber{}, fmt.Errorf("malformed PSB number %q: %s", s, psbProblem(t))
	}
	if len(m.Number.Code) != 14 {
		return PSBNumber{}, fmt.Errorf("malformed PSB number %q: %d digits; a PSB number has 14", s, len(m.Number.Code))
	}
	if m.Number.Province != 0 && ProvinceCode(m.Number.Province) != m.Number.Code[:2] {
		return PSBNumber{}, fmt.Errorf("malformed PSB number %q: province %c does not match code prefix %s", s, m.Number.Province, m.Number.Code[:2])
	}
	if provinceForCode(m.Number.Code[:2]) == 0 {
		return PSBNumber{}, fmt.Errorf("malformed PSB number %q: %s is not a province code", s, m.Number.Code[:2])
	}
	return m.Number, nil
}

func psbProblem(t string) string {
	i := strings.Index(t, "公网安备")
	if i < 0 {
		return `no "公网安备" in it`
	}
	if i > 0 {
		r, size := utf8.DecodeRuneInString(t)
		if size != i || !IsProvince(r) {
			return fmt.Sprintf("unexpected %q before 公网安备", t[:i])
		}
	}
	return "expected 14 digits and 号 after 公网安备"
}

// ICPMatch is one ICP number found in normalised text.
type ICPMatch struct {
	Number                 ICPNumber
	Start, End             int // byte offsets in the normalised text
	DigitsStart, DigitsEnd int
	Nonstandard            []string // why the form is not the standard one
}

// PSBMatch is one PSB number found in normalised text.
type PSBMatch struct {
	Number                 PSBNumber
	Start, End             int
	DigitsStart, DigitsEnd int
}

// TextBreaks marks where a person sees normalised page text separated:
// whitespace the normalisation dropped (soft) and block boundaries such as
// a new paragraph, a line break or another table cell (hard). Whitespace
// may sit anywhere inside a number ("京ICP备 12345678 号 - 1"), but a
// digit run or a site suffix does not read on across a break: "号-1 All
// Rights Reserved" is -1, not -1A, and "号-1" over a line holding
// "400-800-1234" is not -1400.
type TextBreaks struct {
	Soft, Hard []int // sorted byte offsets into the normalised text
}

// at reports the breaks between byte pos-1 and byte pos.
func (b *TextBreaks) at(pos int) (soft, hard bool) {
	if b == nil {
		return false, false
	}
	return hasOffset(b.Soft, pos), hasOffset(b.Hard, pos)
}

// Any reports whether a soft or hard break lies between byte pos-1 and byte pos.
func (b *TextBreaks) Any(pos int) bool {
	soft, hard := b.at(pos)
	return soft || hard
}

func (b *TextBreaks) hardAt(pos int) bool {
	return b != nil && hasOffset(b.Hard, pos)
}

// firstSoft is the first soft break strictly inside (from, to), or -1.
func (b *TextBreaks) firstSoft(from, to int) int {
	if b == nil {
		return -1
	}
	i := sort.SearchInts(b.Soft, from+1)
	if i < len(b.Soft) && b.Soft[i] < to {
		return b.Soft[i]
	}
	return -1
}

func hasOffset(sorted []int, pos int) bool {
	i := sort.SearchInts(sorted, pos)
	return i < len(sorted) && sorted[i] == pos
}

// MarkOffset appends pos to a sorted offset list unless it is already last.
func MarkOffset(list []int, pos int) []int {
	if n := len(list); n > 0 && list[n-1] >= pos {
		return list
	}
	return append(list, pos)
}

// digitRun returns the end of the run of digits at t[j:]. The run stops at
// a hard break; when it is not of an acceptable length but its part up to
// the first soft break is ("京ICP备12345678 2024"), that part is the run.
func digitRun(t string, j int, brk *TextBreaks, ok func(n int) bool) int {
	d := j
	for d < len(t) && t[d] >= '0' && t[d] <= '9' && (d == j || !brk.hardAt(d)) {
		d++
	}
	if !ok(d - j) {
		if c := brk.firstSoft(j, d); c >= 0 && ok(c-j) {
			return c
		}
	}
	return d
}

func icpDigits(n int) bool { return n >= 6 && n <= 10 }

const icpMarker = "ICP备"

// scanICPAt parses an ICP number whose province character starts at byte
// i of the normalised text t, with the breaks brk (nil for a number typed
// on its own). It returns the match, the end offset, and whether a number
// was there; what follows the number is the caller's business.
func scanICPAt(t string, i int, brk *TextBreaks) (ICPMatch, int, bool) {
	r, size := utf8.DecodeRuneInString(t[i:])
	if !IsProvince(r) {
		return ICPMatch{}, 0, false
	}
	m := ICPMatch{Start: i}
	j := i + size
	if len(t)-j < len(icpMarker) {
		return ICPMatch{}, 0, false
	}
	if t[j:j+len(icpMarker)] != icpMarker {
		if !strings.EqualFold(t[j:j+3], "ICP") || t[j+3:j+len(icpMarker)] != "备" {
			return ICPMatch{}, 0, false
		}
		m.Nonstandard = append(m.Nonstandard, `lower-case "icp"`)
	}
	j += len(icpMarker)
	if j < len(t) && t[j] == ':' {
		m.Nonstandard = append(m.Nonstandard, `colon after "备"`)
		j++
	}
	d := digitRun(t, j, brk, icpDigits)
	if !icpDigits(d - j) {
		return ICPMatch{}, 0, false
	}
	m.Number = ICPNumber{Province: CanonicalProvince(r), Digits: t[j:d]}
	m.DigitsStart, m.DigitsEnd = j, d
	j = d
	hao := strings.HasPrefix(t[j:], "号")
	if hao {
		j += len("号")
	}
	if k, suffix, ok := scanSuffix(t, j, brk); ok {
		m.Number.Suffix = suffix
		j = k
		if !hao {
			if strings.HasPrefix(t[j:], "号") {
				m.Nonstandard = append(m.Nonstandard, `suffix before "号" ("-N号")`)
				j += len("号")
				hao = true
			}
		}
	}
	if !hao {
		m.Nonstandard = append(m.Nonstandard, `no "号"`)
	}
	m.End = j
	return m, j, true
}

// scanSuffix reads "-N", "-NA", "-NX" or "-NK" at t[j:]. Several dash
// characters are accepted because people type them. The suffix does not
// continue across a block boundary, and its digits and letter end at any
// break: what follows is the next word, not part of the number.
func scanSuffix(t string, j int, brk *TextBreaks) (int, string, bool) {
	k := j
	if brk.hardAt(k) {
		return 0, "", false
	}
	switch {
	case strings.HasPrefix(t[k:], "-"):
		k++
	case strings.HasPrefix(t[k:], "—"), strings.HasPrefix(t[k:], "–"), strings.HasPrefix(t[k:], "‐"),
		strings.HasPrefix(t[k:], "‒"), strings.HasPrefix(t[k:], "―"), strings.HasPrefix(t[k:], "−"):
		_, size := utf8.DecodeRuneInString(t[k:])
		k += size
	default:
		return 0, "", false
	}
	if brk.hardAt(k) {
		return 0, "", false
	}
	d := k
	for d < len(t) && t[d] >= '0' && t[d] <= '9' && d-k < 4 && (d == k || !brk.Any(d)) {
		d++
	}
	if d == k || t[k] == '0' {
		return 0, "", false
	}
	if d < len(t) && t[d] >= '0' && t[d] <= '9' && !brk.Any(d) {
		return 0, "", false // more than 4 digits: not a suffix
	}
	suffix := t[k:d]
	// A type letter ends the number: "-1All Rights Reserved" is -1, the
	// letter being the start of a word.
	if d < len(t) && !brk.Any(d) && (d+1 == len(t) || brk.Any(d+1) || !isASCIILetter(t[d+1])) {
		switch t[d] {
		case 'A', 'X', 'K':
			suffix += t[d : d+1]
			d++
		case 'a', 'x', 'k':
			suffix += strings.ToUpper(t[d : d+1])
			d++
		}
	}
	return d, suffix, true
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

const psbMarker = "公网安备"

// scanPSBAt parses a PSB number whose "公网安备" marker starts at byte i.
func scanPSBAt(t string, i int, brk *TextBreaks) (PSBMatch, int, bool) {
	if i < 0 || !strings.HasPrefix(t[i:], psbMarker) {
		return PSBMatch{}, 0, false
	}
	m := PSBMatch{Start: i}
	if i > 0 {
		r, size := utf8.DecodeLastRuneInString(t[:i])
		if IsProvince(r) {
			m.Start = i - size
			m.Number.Province = CanonicalProvince(r)
		}
	}
	j := i + len(psbMarker)
	if j < len(t) && t[j] == ':' {
		j++
	}
	d := digitRun(t, j, brk, func(n int) bool { return n == 14 })
	if d-j < 6 || d-j > 20 {
		return PSBMatch{}, 0, false
	}
	m.Number.Code = t[j:d]
	m.DigitsStart, m.DigitsEnd = j, d
	if strings.HasPrefix(t[d:], "号") {
		d += len("号")
	}
	m.End = d
	return m, d, true
}

// FindNumbers scans normalised text (see NormalizeNumber and Normalizer),
// whose breaks are brk (nil for text without any), for every ICP and PSB
// number.
func FindNumbers(t string, brk *TextBreaks) (icps []ICPMatch, psbs []PSBMatch) {
	ScanNumbers(t, brk, func(m ICPMatch) { icps = append(icps, m) }, func(m PSBMatch) { psbs = append(psbs, m) })
	return icps, psbs
}

// ScanNumbers is FindNumbers handing each number, in text order, to icp
// or psb: a page reader keeps them in its own form without a second list.
func ScanNumbers(t string, brk *TextBreaks, icp func(ICPMatch), psb func(PSBMatch)) {
	for off := 0; ; {
		k := strings.Index(t[off:], "备")
		if k < 0 {
			break
		}
		at := off + k
		off = at + len("备")
		// ICP备: the province character sits before "ICP".
		if at >= 3 && strings.EqualFold(t[at-3:at], "ICP") {
			r, size := utf8.DecodeLastRuneInString(t[:at-3])
			if IsProvince(r) {
				if m, _, ok := scanICPAt(t, at-3-size, brk); ok {
					icp(m)
					off = m.End
				}
			}
			continue
		}
		// 公网安备
		if at >= len("公网安") && t[at-len("公网安"):at] == "公网安" {
			if m, end, ok := scanPSBAt(t, at-len("公网安"), brk); ok {
				psb(m)
				off = end
			}
		}
	}
}

// Normalizer applies the footer normalisation. It keeps its NFKC iterator
// (a few KB of buffers) so that a page's thousands of text nodes reuse it.
type Normalizer struct {
	it norm.Iter
}

// Append appends the footer normalisation of src to dst: NFKC
// (full-width to half-width), traditional 備/號 to 备/号, and every kind of
// whitespace and zero-width character removed.
func (n *Normalizer) Append(dst, src []byte) []byte {
	return n.AppendMarking(dst, src, nil)
}

// AppendMarking is Append that also records in *spaces where whitespace
// was dropped (see TextBreaks); spaces may be nil.
func (n *Normalizer) AppendMarking(dst, src []byte, spaces *[]int) []byte {
	start := len(dst)
	if nfkcStable(src) {
		dst = append(dst, src...)
	} else {
		// norm.Iter works in its own fixed buffer; Form.Append would
		// allocate on every text node of the page.
		n.it.Init(norm.NFKC, src)
		for !n.it.Done() {
			dst = append(dst, n.it.Next()...)
		}
	}
	return filterNormalized(dst, start, spaces)
}

// filterNormalized applies, in place to dst[start:], the part of the
// normalisation NFKC does not: traditional 備/號, full-width ASCII, and no
// whitespace or zero-width characters. When spaces is not nil, the offset
// of each dropped run of whitespace (not of zero-width characters, which
// separate nothing a person sees) is appended to it.
func filterNormalized(dst []byte, start int, spaces *[]int) []byte {
	out := start
	for i := start; i < len(dst); {
		c := dst[i]
		if c < utf8.RuneSelf {
			i++
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' {
				if spaces != nil {
					*spaces = MarkOffset(*spaces, out)
				}
				continue
			}
			dst[out] = c
			out++
			continue
		}
		r, size := utf8.DecodeRune(dst[i:])
		i += size
		switch r {
		case '\u00a0', '\u3000', '\u1680', '\u2028', '\u2029', '\u202f', '\u205f':
			if spaces != nil {
				*spaces = MarkOffset(*spaces, out)
			}
			continue
		case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u180e':
			continue
		case '備':
			r = '备'
		case '號':
			r = '号'
		default:
			if r >= 0xFF01 && r <= 0xFF5E {
				dst[out] = byte(r - 0xFEE0)
				out++
				continue
			}
			if r >= '\u2000' && r <= '\u200a' {
				if spaces != nil {
					*spaces = MarkOffset(*spaces, out)
				}
				continue
			}
			out += copy(dst[out:], dst[i-size:i])
			continue
		}
		out += utf8.EncodeRune(dst[out:], r)
	}
	return dst[:out]
}

// nfkcStable reports whether NFKC leaves b as it is, judged cheaply for
// the text Chinese pages are made of: ASCII, CJK ideographs and common
// punctuation that has no compatibility mapping, plus full-width ASCII,
// whose NFKC mapping the caller applies itself. It may say false for
// stable text (then NFKC runs and changes nothing), never true for text
// NFKC would change. The caller removes U+00A0 and U+3000 itself.
func nfkcStable(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		i += size
		switch {
		case r >= 0x4E00 && r <= 0x9FFF: // CJK Unified Ideographs
		case r >= 0x3001 && r <= 0x3002, r >= 0x3008 && r <= 0x3011: // 、。《》「」【】
		case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII: the filter below maps it as NFKC does
		case r == 0x3000, r == 0x00A0, r == 0x00A9, r == 0x00AE, r == 0x00B7:
		case r >= 0x2013 && r <= 0x2014, r >= 0x2018 && r <= 0x201D, r == 0x2022:
		default:
			return false
		}
	}
	return true
}
