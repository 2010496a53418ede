package alerts

import "github.com/beianwatch/beianwatch/beian"

// Codes returns the finding codes this package has notice text for: the
// registry's noticed codes (beian.Codes), in its order. Every one must
// have a template in every language; a test enforces it. The slice is the
// caller's.
func Codes() []string { return beian.NoticedCodes() }

// KnownCode reports whether code has notice text.
func KnownCode(code string) bool {
	c, ok := beian.LookupCode(code)
	return ok && c.Noticed
}

// Languages returns the languages notices are written in.
func Languages() []string { return []string{LangZH, LangEN} }
