package beian

import (
	"slices"
	"strings"
	"time"
)

// Finding codes. Codes are a public contract (JSON output, metric labels,
// notices): add freely, never rename. Adding one is a constant here, a row
// in registry below, its notice texts (alerts/templates/{zh,en}/codes/)
// when notices explain it, and its line in docs/checks.md; tests enforce
// the last three.
const (
	// footer (备案号悬挂)
	CodeFooterICPMissing   = "footer_icp_missing"
	CodeFooterICPMismatch  = "footer_icp_mismatch"
	CodeFooterLinkMissing  = "footer_link_missing"
	CodeFooterLinkObsolete = "footer_link_obsolete"
	CodeFooterLinkWrong    = "footer_link_wrong"
	CodeFooterICPFormat    = "footer_icp_format"
	CodeFooterEntityOnly   = "footer_icp_entity_only"
	CodeFooterNotAtBottom  = "footer_not_at_bottom"
	CodeFooterPSBMissing   = "footer_psb_missing"
	CodeFooterPSBLinkMiss  = "footer_psb_link_missing"
	CodeFooterPSBLinkWrong = "footer_psb_link_wrong"
	CodeFooterPSBLinkOld   = "footer_psb_link_old"

	// shell (空壳网站)
	CodeShellUnresolvable = "shell_unresolvable"
	CodeShellOffProvider  = "shell_off_provider"
	CodeShellUnreachable  = "shell_unreachable"
	CodeShellPlaceholder  = "shell_placeholder"
	// CodeShellPartlyOffProvider (warning): some addresses are outside the
	// filed and provider ranges, others inside.
	CodeShellPartlyOffProvider = "shell_partly_off_provider"
	// CodeShellHomepageError (warning): the homepage answers 4xx. The
	// server is there; a 403 is often our crawler being turned away.
	CodeShellHomepageError = "shell_homepage_error"

	// dns during first filing
	CodeDNSResolvingWhilePending = "dns_resolving_while_pending"

	// contact numbers (联系方式不准确)
	CodeContactInvalidFormat = "contact_invalid_format"
	CodeContactVacant        = "contact_vacant"
	CodeContactSuspended     = "contact_suspended"
	CodeContactPoweredOff    = "contact_powered_off"
	CodeContactUnreachable   = "contact_unreachable"
	// CodeContactRoleUnknown (warning): the inventory names a role that is
	// not a filing contact role; the number is still checked.
	CodeContactRoleUnknown = "contact_role_unknown"
	// CodeContactNotMobile: raised only by the MobileRequired rule, with
	// the rule's severity.
	CodeContactNotMobile = "contact_not_mobile"

	// CodeEntityEmptyShell (空壳主体): every filed site of the entity is a
	// confirmed shell or cancelled.
	CodeEntityEmptyShell = "entity_empty_shell"
)

// Code is one registered finding code and what the rest of the program
// needs to know about it.
type Code struct {
	Name  string // footer_link_missing
	Check string // the check that reports it, and the only one whose runs resolve it
	// Severity is the severity the check reports it with by default (a
	// configuration switch or a provincial rule may change it).
	Severity Severity
	// Noticed: rectification notices explain it with their own texts in
	// every language; other codes reach owners in the check's words.
	Noticed bool
	// Period is its default rectification period; 0 means the configured
	// lifecycle.rectification_period.
	Period time.Duration
}

// registry is the one list of finding codes, in the order notices, reports
// and docs/checks.md list them.
var registry = [...]Code{
	{Name: CodeFooterICPMissing, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterICPMismatch, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterLinkMissing, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterLinkObsolete, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterLinkWrong, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterICPFormat, Check: CheckFooter, Severity: Warning, Noticed: true},
	{Name: CodeFooterEntityOnly, Check: CheckFooter, Severity: Warning, Noticed: true},
	{Name: CodeFooterNotAtBottom, Check: CheckFooter, Severity: Warning, Noticed: true},
	{Name: CodeFooterPSBMissing, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterPSBLinkMiss, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterPSBLinkWrong, Check: CheckFooter, Severity: Violation, Noticed: true},
	{Name: CodeFooterPSBLinkOld, Check: CheckFooter, Severity: Warning, Noticed: true},

	{Name: CodeShellUnresolvable, Check: CheckShell, Severity: Violation, Noticed: true},
	{Name: CodeShellOffProvider, Check: CheckShell, Severity: Violation, Noticed: true},
	{Name: CodeShellUnreachable, Check: CheckShell, Severity: Violation, Noticed: true},
	{Name: CodeShellPlaceholder, Check: CheckShell, Severity: Violation, Noticed: true},
	{Name: CodeShellPartlyOffProvider, Check: CheckShell, Severity: Warning},
	{Name: CodeShellHomepageError, Check: CheckShell, Severity: Warning},

	{Name: CodeDNSResolvingWhilePending, Check: CheckDNS, Severity: Violation, Noticed: true},

	{Name: CodeContactInvalidFormat, Check: CheckContact, Severity: Violation, Noticed: true},
	{Name: CodeContactVacant, Check: CheckContact, Severity: Violation, Noticed: true},
	{Name: CodeContactSuspended, Check: CheckContact, Severity: Violation, Noticed: true},
	{Name: CodeContactPoweredOff, Check: CheckContact, Severity: Violation, Noticed: true},
	{Name: CodeContactUnreachable, Check: CheckContact, Severity: Violation, Noticed: true},
	{Name: CodeContactRoleUnknown, Check: CheckContact, Severity: Warning},
	{Name: CodeContactNotMobile, Check: CheckContact, Severity: Warning},

	{Name: CodeEntityEmptyShell, Check: CheckEntity, Severity: Violation, Noticed: true},
}

// Codes returns every registered finding code, in registry order. The
// slice is the caller's.
func Codes() []Code { return slices.Clone(registry[:]) }

// CodeNames returns the names of the registered codes that pass keep (all
// of them when keep is nil), in registry order.
func CodeNames(keep func(Code) bool) []string {
	var out []string
	for _, c := range registry {
		if keep == nil || keep(c) {
			out = append(out, c.Name)
		}
	}
	return out
}

// NoticedCodes returns the codes notices explain with their own texts.
func NoticedCodes() []string { return CodeNames(func(c Code) bool { return c.Noticed }) }

// LookupCode returns the registered code called name.
func LookupCode(name string) (Code, bool) {
	for _, c := range registry {
		if c.Name == name {
			return c, true
		}
	}
	return Code{}, false
}

// IsCode reports whether name is a registered finding code.
func IsCode(name string) bool {
	_, ok := LookupCode(name)
	return ok
}

// CheckOf is the check a finding code belongs to: its registry entry's
// check, or for a code this build does not know (one recorded by another
// version, or reported by a rule added without a registry row) the part
// before its first underscore; "" when the code has no such prefix.
func CheckOf(code string) string {
	if c, ok := LookupCode(code); ok {
		return c.Check
	}
	i := strings.IndexByte(code, '_')
	if i <= 0 || i == len(code)-1 {
		return ""
	}
	return code[:i]
}
