package checks

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"unicode"

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
func (p Phone) Masked() string { return maskDigits(p.National()) }

// String is masked on purpose; see the type comment.
func (p Phone) String() string { return p.Masked() }

// GoString keeps %#v from printing the number.
func (p Phone) GoString() string { return "checks.Phone(" + p.Masked() + ")" }

// LogValue keeps slog from printing the number.
func (p Phone) LogValue() slog.Value { return slog.StringValue(p.Masked()) }

// ErrInvalidPhone is wrapped by every ParsePhone error.
var ErrInvalidPhone = errors.New("invalid phone number")

// phoneError carries why a number was rejected. The reason never holds more
// of the number than a segment or an area code.
type phoneError struct{ reason string }

func (e *phoneError) Error() string { return "invalid phone number: " + e.reason }
func (e *phoneError) Unwrap() error { return ErrInvalidPhone }

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

// extPattern finds an extension written after the number with an explicit
// marker: 转123, 分机123, ext 123, ext.123, x123, #123, ",123".
var extPattern = regexp.MustCompile(`(?i)\s*(?:转|分机号?|ext(?:ension)?\.?|x|#|,)\s*(\d{1,6})\s*$`)

// ParsePhone validates a Chinese mobile or landline number as written in a
// filing and normalises it to E.164. It accepts +86, 0086 and 86 prefixes,
// spaces, dashes, dots, slashes and parentheses (full-width forms too), and
// an extension (010-62345678-123, 转123, ext 123, #123). Errors wrap
// ErrInvalidPhone and say why ("too short (10 digits)", "unallocated segment
// 154", "contains letters", "empty", "unknown area code 0666") without
// repeating the number.
func ParsePhone(raw string) (Phone, error) {
	s := strings.TrimSpace(norm.NFKC.String(raw))
	if s == "" {
		return Phone{}, invalidPhone("empty")
	}
	main, ext := s, ""
	if m := extPattern.FindStringSubmatchIndex(s); m != nil {
		main, ext = strings.TrimSpace(s[:m[0]]), s[m[2]:m[3]]
	}
	if main == "" {
		return Phone{}, invalidPhone("no number before the extension")
	}
	plus := false
	var digits strings.Builder
	for i, r := range main {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case isPhoneSeparator(r):
		case unicode.IsLetter(r):
			return Phone{}, invalidPhone("contains letters")
		default:
			return Phone{}, invalidPhone("contains the character %q", r)
		}
	}
	d := digits.String()
	if d == "" {
		return Phone{}, invalidPhone("no digits")
	}
	p, err := parseDigits(d, plus)
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
	if err != nil {
		return Phone{}, err
	}
	p.Ext = ext
	return p, nil
}

func isPhoneSeparator(r rune) bool {
	switch r {
	case '-', '(', ')', '.', '/', '\u2212', '\u200b', '\ufeff':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r)
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
	case strings.HasPrefix(d, "00"):
		return Phone{}, invalidPhone("not a mainland China number (international prefix 00 without 86)")
	}
	if national == "" {
		return Phone{}, invalidPhone("country code only")
	}
	if len(national) < 7 {
		return Phone{}, invalidPhone("too short (%d digits)", len(national))
	}
	switch {
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
	return maskDigits(d.String())
}

// maskDigits masks a digit string: at least four digits are always hidden,
// and the hidden part is a fixed "****" so its length says nothing.
func maskDigits(d string) string {
	n := len(d)
	switch {
	case n >= 11:
		return d[:3] + "****" + d[n-4:]
	case n >= 8:
		return "****" + d[n-4:]
	case n >= 4:
		return "****" + d[n-(n-4+1)/2:]
	default:
		return "****"
	}
}

// phoneLike finds runs that may be phone numbers inside free text.
var phoneLike = regexp.MustCompile(`\+?\d[\d\s\-().]*\d`)

// ipv4Like spares addresses in network errors from masking.
var ipv4Like = regexp.MustCompile(`^\d{1,3}(?:\.\d{1,3}){3}$`)

// mobileInText finds an 11-digit Chinese mobile number, optionally with
// its country code, that is not part of a longer digit run (ICP numbers
// have 6–10 digits and PSB numbers 14, so they are never touched).
var mobileInText = regexp.MustCompile(`(^|[^0-9])((?:\+?86|0086)?[ -]?1[3-9][0-9])([0-9]{4})([0-9]{4})($|[^0-9])`)

// MaskMobilesIn masks the mobile numbers in free text as 138****5678,
// leaving filing numbers, addresses and other digits alone: the second
// line of defence for text that leaves the program (reports, notices).
func MaskMobilesIn(s string) string {
	if !strings.ContainsAny(s, "0123456789") {
		return s
	}
	// Twice: adjacent numbers share the separator between them.
	for range 2 {
		s = mobileInText.ReplaceAllString(s, "${1}${2}****${4}${5}")
	}
	return s
}

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
