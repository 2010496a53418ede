package alerts

import "slices"

// knownCodes are the finding codes notices explain (docs/rules.md). Codes are a
// public contract: add freely, never rename. Every code here must have a
// template in every language; a test enforces it.
var knownCodes = []string{
	// footer (备案号悬挂)
	"footer_icp_missing",
	"footer_icp_mismatch",
	"footer_link_missing",
	"footer_link_obsolete",
	"footer_link_wrong",
	"footer_icp_format",
	"footer_icp_entity_only",
	"footer_not_at_bottom",
	"footer_psb_missing",
	"footer_psb_link_missing",
	"footer_psb_link_wrong",
	"footer_psb_link_old",
	// shell (空壳网站)
	"shell_unresolvable",
	"shell_off_provider",
	"shell_unreachable",
	"shell_placeholder",
	// dns during first filing
	"dns_resolving_while_pending",
	// contact numbers (联系方式不准确)
	"contact_invalid_format",
	"contact_vacant",
	"contact_suspended",
	"contact_powered_off",
	"contact_unreachable",
	// entities (空壳主体)
	"entity_empty_shell",
}

// Codes returns the finding codes this package has notice text for, in the
// order of docs/rules.md. The slice is a copy.
func Codes() []string { return slices.Clone(knownCodes) }

// KnownCode reports whether code has notice text.
func KnownCode(code string) bool { return slices.Contains(knownCodes, code) }

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
