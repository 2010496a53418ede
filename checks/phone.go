package checks

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/nyaruka/phonenumbers"
	"golang.org/x/text/unicode/norm"
)

// PhoneKind tells a mobile number from a landline.
type PhoneKind string

const (
	PhoneMobile   PhoneKind = "mobile"
	PhoneLandline PhoneKind = "landline"
)

// Phone is a filing contact number that passed offline validation. Its
// String, GoString and LogValue forms are masked (138****5678) so that a
// Phone dropped into a log line or an error by mistake does not leak the
// number; read E164 explicitly when the full number is really needed (the
// number-status provider, --reveal-contacts).
type Phone struct {
	E164     string    // +8613812345678, +861062345678
	Kind     PhoneKind // mobile or landline
	Ext      string    // extension (分机), digits only; "" when none
	Segment  string    // mobiles: the three-digit segment (号段), e.g. "138"
	AreaCode string    // landlines: the area code with its trunk 0, e.g. "010", "0755"
}

// National is the number as dialled inside China: 13812345678 or
// 01062345678 (without the extension).
func (p Phone) National() string {
	n := strings.TrimPrefix(p.E164, "+86")
	if p.Kind == PhoneLandline {
		return "0" + n
	}
	return n
}

// Masked is the number with all but a short prefix and the last four digits
// hidden: 138****5678, 010****5678.
func (p Phone) Masked() string { return beian.MaskDigits(p.National()) }

// String is masked on purpose; see the type comment.
func (p Phone) String() string { return p.Masked() }

// GoString keeps %#v from printing the number.
func (p Phone) GoString() string { return "checks.Phone(" + p.Masked() + ")" }

// LogValue keeps slog from printing the number.
func (p Phone) LogValue() slog.Value { return slog.StringValue(p.Masked()) }

// ErrInvalidPhone is wrapped by ParsePhone errors for text that cannot be
// a reachable Chinese mobile or landline number.
var ErrInvalidPhone = errors.New("invalid phone number")

// ErrPhoneUndetermined is wrapped by ParsePhone errors for text that may
// well be a reachable number but cannot be checked offline: a masked
// number (138****5678), a spreadsheet's scientific notation that lost
// digits, a 400/800 or 95xxx service number. Calling those invalid would
// send a false rectification notice, so the contact check reports them as
// inconclusive.
var ErrPhoneUndetermined = errors.New("phone number cannot be checked")

// phoneError carries why a number was rejected. The reason never holds more
// of the number than a segment or an area code.
type phoneError struct {
	reason string
	// text: rejected for a letter or another character that is not part
	// of a number, so a number may still be found around it.
	text bool
	// undetermined: maybe a real number; see ErrPhoneUndetermined.
	undetermined bool
}

func (e *phoneError) Error() string {
	if e.undetermined {
		return "phone number cannot be checked: " + e.reason
	}
	return "invalid phone number: " + e.reason
}

func (e *phoneError) Unwrap() error {
	if e.undetermined {
		return ErrPhoneUndetermined
	}
	return ErrInvalidPhone
}

// PhoneProblem is the reason part of a ParsePhone error ("unallocated
// segment 154"), for messages that already say the number is invalid.
func PhoneProblem(err error) string {
	var pe *phoneError
	if errors.As(err, &pe) {
		return pe.reason
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func invalidPhone(format string, args ...any) error {
	return &phoneError{reason: fmt.Sprintf(format, args...)}
}

func undeterminedPhone(format string, args ...any) error {
	return &phoneError{reason: fmt.Sprintf(format, args...), undetermined: true}
}

// PhoneUndetermined reports whether err is a ParsePhone error for a number
// that could not be checked offline rather than one that is invalid.
func PhoneUndetermined(err error) bool { return errors.Is(err, ErrPhoneUndetermined) }

// mobileSegments are the three-digit prefixes of 11-digit mobile numbers that
// MIIT has allocated, with the operator each was allocated to (numbers move
// between operators with number portability, so this is the segment's
// operator, not necessarily the subscriber's). Kept as data: when MIIT
// allocates a segment, add a line here and a row in the tests.
//
// Checked against MIIT allocations as of 2025: still unallocated are 140–144
// as 11-digit numbers (1400/1410/1440 are 13-digit IoT numbers), 154, 160,
// 161, 163, 164, 168, 169, 179 and 194. 1349 is satellite (China Satcom),
// 1740x satellite (China Telecom), 1749 satellite (China Satcom).
// libphonenumber does not list 146, 148, 149 and most of 174; they are
// allocated data/IoT and satellite segments, so we accept them rather than
// call a real number invalid.
var mobileSegments = map[string]string{
	// China Mobile
	"134": "China Mobile", "135": "China Mobile", "136": "China Mobile", "137": "China Mobile",
	"138": "China Mobile", "139": "China Mobile", "147": "China Mobile", "148": "China Mobile",
	"150": "China Mobile", "151": "China Mobile", "152": "China Mobile", "157": "China Mobile",
	"158": "China Mobile", "159": "China Mobile", "172": "China Mobile", "178": "China Mobile",
	"182": "China Mobile", "183": "China Mobile", "184": "China Mobile", "187": "China Mobile",
	"188": "China Mobile", "195": "China Mobile", "197": "China Mobile", "198": "China Mobile",
	// China Unicom
	"130": "China Unicom", "131": "China Unicom", "132": "China Unicom", "145": "China Unicom",
	"146": "China Unicom", "155": "China Unicom", "156": "China Unicom", "166": "China Unicom",
	"175": "China Unicom", "176": "China Unicom", "185": "China Unicom", "186": "China Unicom",
	"196": "China Unicom",
	// China Telecom
	"133": "China Telecom", "149": "China Telecom", "153": "China Telecom", "173": "China Telecom",
	"174": "China Telecom", "177": "China Telecom", "180": "China Telecom", "181": "China Telecom",
	"189": "China Telecom", "190": "China Telecom", "191": "China Telecom", "193": "China Telecom",
	"199": "China Telecom",
	// China Broadnet (中国广电)
	"192": "China Broadnet",
	// Virtual operators (虚拟运营商) on the base operators' networks
	"162": "virtual (China Telecom)", "165": "virtual (China Mobile)", "167": "virtual (China Unicom)",
	"170": "virtual", "171": "virtual (China Unicom)",
}

// MobileSegmentOperator reports whether seg (three digits) is an allocated
// mobile segment and, if so, the operator it was allocated to.
func MobileSegmentOperator(seg string) (string, bool) {
	op, ok := mobileSegments[seg]
	return op, ok
}

// extMarker introduces an extension: 转123, 分机123, 分机号：123, ext 123,
// ext.123, Ext: 123, x123, #123, ",123".
const extMarker = `(?:转分机|转|分机号?码?|内线|ext(?:ension|n)?\.?|x|#|,)\s*:?\s*`

// extSuffix is an extension written after the number, in parentheses or
// not, possibly chained (转8888转1: the first is the extension we keep).
const extSuffix = `\s*[(\[]?\s*` + extMarker + `(\d{1,6})(?:\s*` + extMarker + `\d{1,6})*\s*[)\]]?\s*`

// extPattern finds an extension at the end of a number.
var extPattern = regexp.MustCompile(`(?i)` + extSuffix + `$`)

// extAfterPattern finds an extension right after a number found in text.
var extAfterPattern = regexp.MustCompile(`(?i)^` + extSuffix)

// altTailPattern is alternatives written as a short tail after a number,
// as business cards do: 0755-86123456/7/8 (…56, …57 or …58).
var altTailPattern = regexp.MustCompile(`(?:\s*/\s*\d{1,4})+\s*$`)

// maskedPattern is a number masked before it reached us (138****5678,
// 138xxxx5678), as exports from some filing systems are.
var maskedPattern = regexp.MustCompile(`\d[\s-]*[*×xX●•]{2,}|[*×xX●•]{2,}[\s-]*\d|^[\s*-]*\*{3,}[\s*-]*$`)

// sciPattern is a numeric spreadsheet cell exported in scientific notation
// (1.38123E+10); floatPattern one exported with a decimal part
// (13812345678.0).
var (
	sciPattern   = regexp.MustCompile(`^(\d)(?:\.(\d+))?[eE]\+?(\d{1,2})$`)
	floatPattern = regexp.MustCompile(`^(\d{5,})\.0+$`)
)

// phoneQuotes are what spreadsheets and people wrap a number in to keep it
// text: '13812345678, "13812345678", ="13812345678", “13812345678”.
const phoneQuotes = "'\"`‘’“”「」『』"

// ParsePhone validates a Chinese mobile or landline number as written in a
// filing and normalises it to E.164. It accepts +86, (+86), 0086, 86 and
// 086 prefixes, spaces, dashes, dots, slashes, underscores and
// parentheses (full-width forms too), invisible characters pasted from
// spreadsheets, quotes and ="…" wrappers, a trailing ".0" from a numeric
// cell, an extension (010-62345678-123, 转123, 分机：123, ext 123, #123,
// （分机123）), alternatives written as a short tail (0755-86123456/7), and
// words around the one number in the text (手机：…, …（微信同号）).
//
// Errors wrap ErrInvalidPhone and say why ("too short (10 digits)",
// "unallocated segment 154", "contains letters", "empty", "unknown area code
// 0666") when the text cannot be a reachable number, and wrap
// ErrPhoneUndetermined when it may be one that cannot be checked offline
// (masked, scientific notation, a 400/800 or 95xxx/96xxx service number).
// Neither repeats the number.
func ParsePhone(raw string) (Phone, error) {
	s := cleanPhoneText(raw)
	if s == "" {
		return Phone{}, invalidPhone("empty")
	}
	if m := floatPattern.FindStringSubmatch(s); m != nil {
		s = m[1]
	} else if m := sciPattern.FindStringSubmatch(s); m != nil {
		exp, _ := strconv.Atoi(m[3])
		switch {
		case len(m[2]) < exp:
			return Phone{}, undeterminedPhone("stored as a number in scientific notation, which lost digits; export the column as text")
		case len(m[2]) > exp:
			return Phone{}, undeterminedPhone("stored as a number in scientific notation that is not a whole number")
		}
		s = m[1] + m[2]
	}
	if maskedPattern.MatchString(s) {
		return Phone{}, undeterminedPhone("masked; the full number is needed to check it")
	}
	p, err := parseNumber(s)
	var pe *phoneError
	if err != nil && errors.As(err, &pe) && pe.text {
		// Words around the number (手机：…, …（微信同号）, Tel: …) do not
		// make it unreachable: check the one number in the text.
		if core, ok := phoneCore(s); ok {
			return parseNumber(core)
		}
	}
	return p, err
}

// cleanPhoneText folds full-width forms (NFKC) and drops what a number is
// wrapped in: blanks, invisible characters, quotes, ="…".
func cleanPhoneText(raw string) string {
	s := strings.TrimFunc(norm.NFKC.String(raw), isBlank)
	if rest, ok := strings.CutPrefix(s, "="); ok && rest != "" && strings.ContainsRune(phoneQuotes, []rune(rest)[0]) {
		s = rest
	}
	return strings.TrimFunc(s, func(r rune) bool { return isBlank(r) || strings.ContainsRune(phoneQuotes, r) })
}

func isBlank(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) }

// parseNumber parses one number with its extension; s is cleaned.
func parseNumber(s string) (Phone, error) {
	main, ext := s, ""
	if m := extPattern.FindStringSubmatchIndex(s); m != nil {
		main, ext = strings.TrimSpace(s[:m[0]]), s[m[2]:m[3]]
	}
	if main == "" {
		return Phone{}, invalidPhone("no number before the extension")
	}
	plus := false
	var digits strings.Builder
	for _, r := range main {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && !plus && digits.Len() == 0:
			// (+86)13812345678 puts the plus after a parenthesis.
			plus = true
		case isPhoneSeparator(r):
		case unicode.IsLetter(r):
			return Phone{}, &phoneError{reason: "contains letters", text: true}
		default:
			return Phone{}, &phoneError{reason: fmt.Sprintf("contains the character %q", r), text: true}
		}
	}
	d := digits.String()
	if d == "" {
		return Phone{}, invalidPhone("no digits")
	}
	p, err := parseDigits(d, plus)
	main = strings.TrimRightFunc(main, isPhoneSeparator)
	if err != nil && ext == "" {
		// 010-62345678-123: a trailing dash group is an extension when the
		// rest is a landline on its own.
		if i := strings.LastIndexAny(main, "-‐‑‒–—―−"); i > 0 {
			tail := strings.TrimSpace(main[i:])
			tail = strings.TrimLeftFunc(tail, func(r rune) bool { return !unicode.IsDigit(r) })
			if tail != "" && len(tail) <= 6 && isAllDigits(tail) {
				head := strings.TrimSuffix(d, tail)
				if hp, herr := parseDigits(head, plus); herr == nil && hp.Kind == PhoneLandline {
					p, err, ext = hp, nil, tail
				}
			}
		}
	}
	if err != nil && ext == "" {
		// 0755-86123456/7: the number before the alternatives is the one
		// written out in full; the others differ only in the tail.
		if loc := altTailPattern.FindStringIndex(main); loc != nil && loc[0] > 0 {
			if hp, herr := parseNumber(main[:loc[0]]); herr == nil {
				p, err = hp, nil
			}
		}
	}
	if err != nil {
		return Phone{}, err
	}
	p.Ext = ext
	return p, nil
}

// numberRuns returns the byte ranges of s that look like one number each:
// maximal runs of digits, '+' and separators holding at least seven
// digits. withSlash counts '/' as a separator inside a number (010/62345678)
// rather than one between numbers.
func numberRuns(s string, withSlash bool) [][2]int {
	var runs [][2]int
	start, digits := -1, 0
	flush := func(end int) {
		if start >= 0 && digits >= 7 {
			runs = append(runs, [2]int{start, end})
		}
		start, digits = -1, 0
	}
	for i, r := range s {
		in := (r >= '0' && r <= '9') || r == '+' || isPhoneSeparator(r) && (withSlash || r != '/')
		// No number opens a parenthesis after seven digits: it opens a
		// note (13812345678（9:00-18:00）) or an extension.
		if !in || r == '(' && digits >= 7 {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
		}
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	flush(len(s))
	return runs
}

// extAfter is the length of the extension written at the start of s, 0 when
// there is none.
func extAfter(s string) int {
	m := extAfterPattern.FindStringIndex(s)
	if m == nil || m[1] < len(s) && s[m[1]] >= '0' && s[m[1]] <= '9' {
		return 0
	}
	return m[1]
}

// phoneCore finds the one number in text with words around it: the only
// run of number characters with at least seven digits, with the extension
// written after it.
func phoneCore(s string) (string, bool) {
	runs := numberRuns(s, true)
	if len(runs) != 1 {
		return "", false
	}
	r := runs[0]
	return strings.TrimSpace(s[r[0] : r[1]+extAfter(s[r[1]:])]), true
}

// phonePiece is one number of a contact cell. sure is false when the cell
// had words between its numbers: a number there may be something else (a
// QQ number, a fax), so it cannot be called an invalid phone number.
type phonePiece struct {
	text string
	sure bool
}

// amongWords reports whether text holds more than a number: letters or
// characters no number is written with (QQ 12345678, 传真 …, wx12345678).
// An extension (转123, ext 123) is part of its number, so it does not count.
func amongWords(s string) bool {
	_, err := parseNumber(cleanPhoneText(s))
	var pe *phoneError
	return errors.As(err, &pe) && pe.text
}

// timeOfDay is a time or a span of times written next to a number.
var timeOfDay = regexp.MustCompile(`\d{1,2}[:：]\d{2}(?:\s*[-~～至到—–]\s*\d{1,2}[:：]\d{2})?`)

// listSeparator splits a cell that lists several numbers.
var listSeparator = regexp.MustCompile(`(?i)\s*(?:[;、|\n]|或|\bor\b)\s*`)

// splitPhoneList returns the numbers in a contact cell that holds several
// (13812345678/13912345678, 138…；010-…, 138… 139…, 手机138… 座机010-…). A
// cell ParsePhone can read as one number comes back whole.
func splitPhoneList(raw string) []phonePiece {
	// Business hours next to a number (13812345678 9:00-18:00) are no
	// part of it; a phone number never holds a colon.
	if t := timeOfDay.ReplaceAllString(raw, " "); t != raw && strings.ContainsAny(t, "0123456789") {
		raw = strings.TrimSpace(t)
	}
	whole := []phonePiece{{text: raw, sure: true}}
	if _, err := ParsePhone(raw); err == nil || PhoneUndetermined(err) {
		return whole
	}
	var pieces []phonePiece
	for _, part := range listSeparator.Split(cleanPhoneText(raw), -1) {
		if !strings.ContainsAny(part, "0123456789") {
			continue
		}
		if _, err := ParsePhone(part); err == nil || PhoneUndetermined(err) {
			pieces = append(pieces, phonePiece{text: part, sure: !amongWords(part)})
			continue
		}
		pieces = append(pieces, splitNumbers(part)...)
	}
	if len(pieces) < 2 {
		return whole
	}
	// 010-62345678/62345679: a local number after a landline shares its
	// area code.
	for i := 1; i < len(pieces); i++ {
		prev, perr := ParsePhone(pieces[i-1].text)
		if perr != nil || prev.Kind != PhoneLandline {
			continue
		}
		if _, err := ParsePhone(pieces[i].text); err == nil || PhoneUndetermined(err) {
			continue
		}
		if _, err := ParsePhone(prev.AreaCode + "-" + pieces[i].text); err == nil {
			pieces[i].text = prev.AreaCode + "-" + pieces[i].text
		}
	}
	return pieces
}

// splitNumbers splits text with several numbers and no list separator
// between them: 13812345678/13912345678, 138 1234 5678 139 1234 5678,
// 手机138… 座机010-…. Text it cannot split comes back whole, sure only
// when it has no words in it: after a list separator, QQ 12345678 is as
// likely a QQ number as a bad phone number.
func splitNumbers(part string) []phonePiece {
	whole := []phonePiece{{text: part, sure: !amongWords(part)}}
	runs := numberRuns(part, false)
	if len(runs) == 0 {
		return whole
	}
	var pieces []phonePiece
	sure := true
	prev := 0
	for _, r := range runs {
		if r[0] < prev {
			continue // taken by the previous number's extension
		}
		end := r[1] + extAfter(part[r[1]:])
		if strings.IndexFunc(part[prev:r[0]], unicode.IsLetter) >= 0 {
			sure = false
		}
		prev = end
		pieces = append(pieces, splitSpaced(strings.TrimSpace(part[r[0]:end]))...)
	}
	if strings.IndexFunc(part[prev:], unicode.IsLetter) >= 0 {
		sure = false
	}
	if len(pieces) < 2 {
		return whole
	}
	for i := range pieces {
		pieces[i].sure = sure
	}
	return pieces
}

// splitSpaced splits numbers separated by blanks only (13812345678
// 13912345678), taking from each word the fewest words that make a valid
// number. Words that start no valid number are kept together as one piece
// of their own (13812345678 12345678: the 8 digits may be a QQ number, and
// reading the whole as one 19-digit number would blame the mobile). Text
// with no valid number in it is one (invalid) number.
func splitSpaced(s string) []phonePiece {
	if _, err := ParsePhone(s); err == nil || PhoneUndetermined(err) {
		return []phonePiece{{text: s}}
	}
	words := strings.Fields(s)
	var pieces []phonePiece
	var rest []string
	found := false
	for i := 0; i < len(words); {
		j, digits := i+1, 0
		for ; j <= len(words); j++ {
			// No valid number, even with 0086 and a dashed extension,
			// has more digits or words: stop there so a long cell stays
			// cheap (a word without digits counts as one, or a cell of
			// dashes would make this cubic).
			if digits += max(countDigits(words[j-1]), 1); digits > maxNumberDigits || j-i > maxNumberWords {
				j = len(words) + 1
				break
			}
			if _, err := ParsePhone(strings.Join(words[i:j], " ")); err == nil {
				break
			}
		}
		if j > len(words) {
			rest = append(rest, words[i])
			i++
			continue
		}
		if len(rest) > 0 {
			pieces = append(pieces, phonePiece{text: strings.Join(rest, " ")})
			rest = nil
		}
		pieces = append(pieces, phonePiece{text: strings.Join(words[i:j], " ")})
		found = true
		i = j
	}
	if len(rest) > 0 {
		pieces = append(pieces, phonePiece{text: strings.Join(rest, " ")})
	}
	if !found {
		return []phonePiece{{text: s}}
	}
	return pieces
}

// maxNumberDigits bounds the digits of one number as written: 0086, a
// 12-digit landline and a 6-digit extension, with room to spare.
const maxNumberDigits = 24

// maxNumberWords bounds the blank-separated words of one number as written
// (+86 138 1234 5678 转 123).
const maxNumberWords = 8

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

func isPhoneSeparator(r rune) bool {
	switch r {
	case '-', '(', ')', '[', ']', '【', '】', '.', '/', '_', '·', '・', '\u2212':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || unicode.Is(unicode.Cf, r)
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// parseDigits validates the digits of a number; plus says it was written
// with a leading '+'.
func parseDigits(d string, plus bool) (Phone, error) {
	national := d
	switch {
	case plus:
		if !strings.HasPrefix(d, "86") {
			return Phone{}, invalidPhone("not a mainland China number (country code +%s)", countryCodeOf(d))
		}
		national = d[2:]
	case strings.HasPrefix(d, "0086"):
		national = d[4:]
	case strings.HasPrefix(d, "86") && len(d) >= 11:
		// No national number starts with 86 (mobiles start with 1,
		// landlines with 0), so a long number starting with 86 carries the
		// country code.
		national = d[2:]
	case strings.HasPrefix(d, "086") && len(d) >= 13:
		// 086 for +86. No area code starts with 086, so the digits after
		// it are the national number.
		national = d[3:]
	case strings.HasPrefix(d, "00"):
		return Phone{}, invalidPhone("not a mainland China number (international prefix 00 without 86)")
	}
	if national == "" {
		return Phone{}, invalidPhone("country code only")
	}
	// Service numbers are neither mobiles nor landlines, yet reach the
	// entity; whether one is acceptable as a filing contact is the access
	// provider's call, not a format error.
	switch {
	case len(national) == 10 && (strings.HasPrefix(national, "400") || strings.HasPrefix(national, "800")):
		return Phone{}, undeterminedPhone("a %s service number, neither a mobile nor a landline", national[:3])
	case len(national) >= 5 && len(national) <= 8 && (strings.HasPrefix(national, "95") || strings.HasPrefix(national, "96")):
		return Phone{}, undeterminedPhone("a %sxxx short service number, neither a mobile nor a landline", national[:2])
	}
	if len(national) < 7 {
		return Phone{}, invalidPhone("too short (%d digits)", len(national))
	}
	switch {
	case len(national) == 13 && (strings.HasPrefix(national, "140") || strings.HasPrefix(national, "141") ||
		strings.HasPrefix(national, "144") || strings.HasPrefix(national, "1064")):
		return Phone{}, invalidPhone("a 13-digit IoT (物联网) number, which cannot take calls")
	case len(national) == 12 && strings.HasPrefix(national, "01") && national[2] != '0':
		// 013812345678: a mobile dialled with the trunk prefix, as some
		// people write it when calling from another city.
		return parseMobile(national[1:])
	case national[0] == '1' && !strings.HasPrefix(national, "10"):
		return parseMobile(national)
	case national[0] == '0':
		return parseLandline(national)
	case len(national) <= 8:
		return Phone{}, invalidPhone("landline without area code (%d digits)", len(national))
	default:
		// 1062345678, 75512345678: a landline whose leading 0 was dropped,
		// as spreadsheets do with numeric cells, or written after +86.
		// The digits are a real landline, so accept it rather than blame
		// the owner for the export.
		return parseLandline("0" + national)
	}
}

func countryCodeOf(d string) string {
	n, err := phonenumbers.Parse("+"+d, "ZZ")
	if err != nil || n.GetCountryCode() == 0 {
		if len(d) > 3 {
			d = d[:3]
		}
		return d + "…"
	}
	return strconv.Itoa(int(n.GetCountryCode()))
}

func parseMobile(n string) (Phone, error) {
	if len(n) < 11 {
		return Phone{}, invalidPhone("too short (%d digits)", len(n))
	}
	if len(n) > 11 {
		return Phone{}, invalidPhone("too long (%d digits)", len(n))
	}
	seg := n[:3]
	if _, ok := mobileSegments[seg]; !ok {
		return Phone{}, invalidPhone("unallocated segment %s", seg)
	}
	return Phone{E164: "+86" + n, Kind: PhoneMobile, Segment: seg}, nil
}

// parseLandline validates n, a national landline number with its trunk 0,
// against libphonenumber's CN fixed-line metadata (which knows each area
// code and whether it uses 7- or 8-digit local numbers).
func parseLandline(n string) (Phone, error) {
	acLen := 4
	if len(n) > 1 && (n[1] == '1' || n[1] == '2') {
		acLen = 3 // 010 and 02x
	}
	if len(n) <= acLen {
		return Phone{}, invalidPhone("area code without a local number")
	}
	ac, local := n[:acLen], n[acLen:]
	if ac[1] == '1' && ac != "010" {
		return Phone{}, invalidPhone("unknown area code %s", ac)
	}
	if (len(local) == 7 || len(local) == 8) && isFixedLine(n) {
		return Phone{E164: "+86" + n[1:], Kind: PhoneLandline, AreaCode: ac}, nil
	}
	// Invalid: probe the area code with sample local numbers to say why.
	takes7, takes8 := isFixedLine(ac+"2345678"), isFixedLine(ac+"23456789")
	switch {
	case !takes7 && !takes8:
		return Phone{}, invalidPhone("unknown area code %s", ac)
	case len(local) < 7:
		return Phone{}, invalidPhone("too short (%d-digit local number after area code %s)", len(local), ac)
	case len(local) > 8:
		return Phone{}, invalidPhone("too long (%d-digit local number after area code %s)", len(local), ac)
	case len(local) == 7 && !takes7:
		return Phone{}, invalidPhone("wrong length (7-digit local number; area code %s uses 8)", ac)
	case len(local) == 8 && !takes8:
		return Phone{}, invalidPhone("wrong length (8-digit local number; area code %s uses 7)", ac)
	}
	return Phone{}, invalidPhone("not a valid local number for area code %s", ac)
}

func isFixedLine(national string) bool {
	num, err := phonenumbers.Parse(national, "CN")
	if err != nil || num.GetCountryCode() != 86 {
		return false
	}
	// GetNumberType is UNKNOWN for numbers that match no CN pattern, so it
	// is the validity test too.
	t := phonenumbers.GetNumberType(num)
	return t == phonenumbers.FIXED_LINE || t == phonenumbers.FIXED_LINE_OR_MOBILE
}

// MaskPhone hides a phone number for logs, errors and human output:
// 13812345678 -> 138****5678, 010-62345678 -> 010****5678. It never shows
// more than a three-digit prefix and the last four digits, and shows less
// of short or unparseable input, so it is safe on anything.
func MaskPhone(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	if p, err := ParsePhone(s); err == nil {
		return p.Masked()
	}
	var d strings.Builder
	for _, r := range norm.NFKC.String(s) {
		if r >= '0' && r <= '9' {
			d.WriteRune(r)
		}
	}
	return beian.MaskDigits(d.String())
}

// phoneLike finds runs that may be phone numbers inside free text.
var phoneLike = regexp.MustCompile(`\+?\d[\d\s\-().]*\d`)

// ipv4Like spares addresses in network errors from masking.
var ipv4Like = regexp.MustCompile(`^\d{1,3}(?:\.\d{1,3}){3}$`)

// MaskMobilesIn masks the mobile numbers in free text as 138****5678,
// leaving filing numbers, addresses and other digits alone (see
// beian.MaskMobilesIn, where it lives so that packages without phone
// metadata can mask too).
func MaskMobilesIn(s string) string { return beian.MaskMobilesIn(s) }

// MaskNumbersIn masks every phone-like run of five or more digits in s, for
// text we do not control (a provider's error, a malformed role, an
// inventory cell).
func MaskNumbersIn(s string) string { return maskNumbersIn(s) }

func maskNumbersIn(s string) string {
	return phoneLike.ReplaceAllStringFunc(s, func(m string) string {
		if ipv4Like.MatchString(m) {
			return m
		}
		n := 0
		for i := 0; i < len(m); i++ {
			if m[i] >= '0' && m[i] <= '9' {
				n++
			}
		}
		if n < 5 {
			return m
		}
		return MaskPhone(m)
	})
}
