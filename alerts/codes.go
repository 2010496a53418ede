package alerts

import (
	"slices"

	"github.com/beianwatch/beianwatch/beian"
)

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

// opsOnOpen are the codes whose opening the provider's ops channel hears
// at once, in an ops summary rather than only at escalation: an
// empty-shell entity may see every one of its sites cleared.
var opsOnOpen = []string{"entity_empty_shell"}

// OpsOnOpen reports whether the opening of code goes to the ops channel.
func OpsOnOpen(code string) bool { return slices.Contains(opsOnOpen, code) }

// OpsOnOpenCodes lists those codes (a copy).
func OpsOnOpenCodes() []string { return slices.Clone(opsOnOpen) }
