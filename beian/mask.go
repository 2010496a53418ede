package beian

import "regexp"

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
