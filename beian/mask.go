package beian

import (
	"regexp"
	"strings"
)

// mobileInText finds an 11-digit Chinese mobile number, optionally with
// its country code, that is not part of a longer digit run (ICP numbers
// have 6–10 digits and PSB numbers 14, so they are never touched).
var mobileInText = regexp.MustCompile(`(^|[^0-9])((?:\+?86|0086)?[ -]?1[3-9][0-9])([0-9]{4})([0-9]{4})($|[^0-9])`)

// MaskMobilesIn masks the mobile numbers in free text as 138****5678,
// leaving filing numbers, addresses and other digits alone: the second
// line of defence for text that leaves the program (reports, notices).
func MaskMobilesIn(s string) string {
	// The 11 digits of a mobile are always contiguous. Most text has no
	// such run, and the regexp costs an audit several percent of its CPU.
	if !hasDigitRun(s, 11) {
		return s
	}
	// Twice: adjacent numbers share the separator between them.
	for range 2 {
		s = mobileInText.ReplaceAllString(s, "${1}${2}****${4}${5}")
	}
	return s
}

// hasDigitRun reports whether s holds n ASCII digits in a row.
func hasDigitRun(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// MaskDigits masks a digit string: at least four digits are always hidden,
// and the hidden part is a fixed "****" so its length says nothing.
func MaskDigits(d string) string {
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

// MaskE164 masks a valid Chinese number in E.164 form as MaskPhone in the
// checks does (+8613812345678 -> 138****5678, +861062345678 ->
// 010****5678) without phone metadata: a mobile is 11 national digits
// starting with 1, anything else a landline dialled with its trunk 0.
// Input that is not +86 and digits is masked as a bare digit string.
func MaskE164(e164 string) string {
	if strings.TrimSpace(e164) == "" {
		return ""
	}
	n, ok := strings.CutPrefix(e164, "+86")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		var d strings.Builder
		for _, r := range e164 {
			if r >= '0' && r <= '9' {
				d.WriteRune(r)
			}
		}
		return MaskDigits(d.String())
	}
	if !(len(n) == 11 && n[0] == '1') {
		n = "0" + n
	}
	return MaskDigits(n)
}
