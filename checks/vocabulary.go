package checks

import (
	"net/netip"

	"github.com/beianwatch/beianwatch/beian"
)

// The vocabulary lives in package beian (docs/architecture.md); these
// aliases keep code that says checks.Site, checks.Finding or
// checks.CodeFooterLinkMissing compiling. New code outside the checks
// imports beian.

type (
	Outcome   = beian.Outcome
	Severity  = beian.Severity
	Finding   = beian.Finding
	Result    = beian.Result
	Status    = beian.Status
	Contact   = beian.Contact
	Site      = beian.Site
	IPRange   = beian.IPRange
	ICPNumber = beian.ICPNumber
	PSBNumber = beian.PSBNumber
)

const (
	Pass          = beian.Pass
	Fail          = beian.Fail
	Inconclusive  = beian.Inconclusive
	NotApplicable = beian.NotApplicable

	Violation = beian.Violation
	Warning   = beian.Warning
	Info      = beian.Info

	StatusFiled              = beian.StatusFiled
	StatusFirstFilingPending = beian.StatusFirstFilingPending
	StatusChangePending      = beian.StatusChangePending
	StatusAccessPending      = beian.StatusAccessPending
	StatusCancelled          = beian.StatusCancelled

	CheckFooter  = beian.CheckFooter
	CheckShell   = beian.CheckShell
	CheckDNS     = beian.CheckDNS
	CheckContact = beian.CheckContact
)

// Finding codes (registered in beian).
const (
	CodeFooterICPMissing   = beian.CodeFooterICPMissing
	CodeFooterICPMismatch  = beian.CodeFooterICPMismatch
	CodeFooterLinkMissing  = beian.CodeFooterLinkMissing
	CodeFooterLinkObsolete = beian.CodeFooterLinkObsolete
	CodeFooterLinkWrong    = beian.CodeFooterLinkWrong
	CodeFooterICPFormat    = beian.CodeFooterICPFormat
	CodeFooterEntityOnly   = beian.CodeFooterEntityOnly
	CodeFooterNotAtBottom  = beian.CodeFooterNotAtBottom
	CodeFooterPSBMissing   = beian.CodeFooterPSBMissing
	CodeFooterPSBLinkMiss  = beian.CodeFooterPSBLinkMiss
	CodeFooterPSBLinkWrong = beian.CodeFooterPSBLinkWrong
	CodeFooterPSBLinkOld   = beian.CodeFooterPSBLinkOld

	CodeShellUnresolvable      = beian.CodeShellUnresolvable
	CodeShellOffProvider       = beian.CodeShellOffProvider
	CodeShellUnreachable       = beian.CodeShellUnreachable
	CodeShellPlaceholder       = beian.CodeShellPlaceholder
	CodeShellPartlyOffProvider = beian.CodeShellPartlyOffProvider
	CodeShellHomepageError     = beian.CodeShellHomepageError

	CodeDNSResolvingWhilePending = beian.CodeDNSResolvingWhilePending

	CodeContactInvalidFormat = beian.CodeContactInvalidFormat
	CodeContactVacant        = beian.CodeContactVacant
	CodeContactSuspended     = beian.CodeContactSuspended
	CodeContactPoweredOff    = beian.CodeContactPoweredOff
	CodeContactUnreachable   = beian.CodeContactUnreachable
	CodeContactRoleUnknown   = beian.CodeContactRoleUnknown
	CodeContactNotMobile     = beian.CodeContactNotMobile
)

// AllChecks lists the check names in the order they are reported. It is a
// copy kept for code written against checks; beian.Checks is the source.
var AllChecks = beian.Checks()

// Statuses lists every valid filing status, a copy kept for code written
// against checks; beian.Statuses is the source.
var Statuses = beian.Statuses()

// ErrLicence: see beian.ErrLicence.
var ErrLicence = beian.ErrLicence

// OutcomeOf is Fail when any finding is a violation, else Pass.
func OutcomeOf(fs []Finding) Outcome { return beian.OutcomeOf(fs) }

// ParseStatus validates a filing status.
func ParseStatus(s string) (Status, bool) { return beian.ParseStatus(s) }

// ParseIPRange: see beian.ParseIPRange.
func ParseIPRange(s string) (IPRange, error) { return beian.ParseIPRange(s) }

// InRanges reports whether a lies in any of the ranges.
func InRanges(a netip.Addr, ranges []IPRange) bool { return beian.InRanges(a, ranges) }

// ParseICP: see beian.ParseICP.
func ParseICP(s string) (ICPNumber, error) { return beian.ParseICP(s) }

// ParsePSB: see beian.ParsePSB.
func ParsePSB(s string) (PSBNumber, error) { return beian.ParsePSB(s) }

// IsProvince: see beian.IsProvince.
func IsProvince(r rune) bool { return beian.IsProvince(r) }

// CanonicalProvince: see beian.CanonicalProvince.
func CanonicalProvince(r rune) rune { return beian.CanonicalProvince(r) }

// ProvinceCode: see beian.ProvinceCode.
func ProvinceCode(r rune) string { return beian.ProvinceCode(r) }

// NormalizeDomain: see beian.NormalizeDomain.
func NormalizeDomain(s string) (string, error) { return beian.NormalizeDomain(s) }

// normalizeName is NormalizeDomain without the website rules (see
// beian.NormalizeName).
func normalizeName(s string) (string, error) { return beian.NormalizeName(s) }
