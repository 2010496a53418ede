package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// Filing contact roles.
const (
	RoleEntityHead = "entity_head" // 主体负责人
	RoleSiteHead   = "site_head"   // 网站负责人
	RoleEmergency  = "emergency"   // 应急联系人
)

// ParseContactRole canonicalises a contact role. It accepts the canonical
// names in any case, with '-' or ' ' for '_', and the Chinese names used in
// filings (主体负责人, 网站负责人, 应急联系人).
func ParseContactRole(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.NewReplacer("-", "_", " ", "_").Replace(t)
	switch t {
	case RoleEntityHead, "主体负责人":
		return RoleEntityHead, nil
	case RoleSiteHead, "网站负责人":
		return RoleSiteHead, nil
	case RoleEmergency, "应急联系人", "应急联系电话":
		return RoleEmergency, nil
	case "":
		return "", errors.New("empty contact role (want entity_head, site_head or emergency)")
	}
	return "", fmt.Errorf("unknown contact role %q (want entity_head, site_head or emergency)", maskNumbersIn(s))
}

// ParseContactFlag parses the CLI's --contact ROLE:PHONE. The role must be
// known; the number only has to be present: whether it is valid is what the
// contact check reports (contact_invalid_format), not a usage error. Errors
// never repeat the number.
func ParseContactFlag(s string) (Contact, error) {
	role, phone, ok := strings.Cut(s, ":")
	if !ok {
		return Contact{}, fmt.Errorf("contact %q: want ROLE:PHONE with ROLE one of entity_head, site_head, emergency", MaskPhone(s))
	}
	r, err := ParseContactRole(role)
	if err != nil {
		return Contact{}, fmt.Errorf("contact: %w", err)
	}
	phone = strings.TrimSpace(phone)
	if phone == "" {
		return Contact{}, fmt.Errorf("contact %s: no phone number after ':'", r)
	}
	return Contact{Role: r, Phone: phone}, nil
}

// ContactRule is an extra rule on a contact whose number passed national
// validation, for what a province or an access provider asks beyond the
// national format. Findings it returns are masked by the check before they
// leave it, but rules should not put numbers in them in the first place.
type ContactRule interface {
	// Name identifies the rule in logs.
	Name() string
	// Check returns the rule's findings for one contact.
	Check(site *Site, role string, p Phone) []Finding
}

// MobileRequired is a ContactRule requiring the given roles' numbers to be
// mobiles (some providers ask for the heads' mobiles, which MIIT verifies by
// SMS). Reported as CodeContactNotMobile with the given severity.
func MobileRequired(severity Severity, roles ...string) ContactRule {
	return mobileRequired{severity: severity, roles: roles}
}

type mobileRequired struct {
	severity Severity
	roles    []string
}

func (m mobileRequired) Name() string { return "mobile_required" }

func (m mobileRequired) Check(_ *Site, role string, p Phone) []Finding {
	if p.Kind == PhoneMobile {
		return nil
	}
	for _, r := range m.roles {
		if r == role {
			return []Finding{{
				Code:     CodeContactNotMobile,
				Severity: m.severity,
				Message:  fmt.Sprintf("the %s contact number %s is a landline; a mobile number is required for this role", role, p.Masked()),
				Evidence: fmt.Sprintf("role=%s number=%s kind=%s", role, p.Masked(), p.Kind),
			}}
		}
	}
	return nil
}

// ContactCheck validates the filing's contact numbers offline and, with a
// number-status provider, checks that they are in service (docs/contact.md).
type ContactCheck struct {
	// Status is the number-status provider client; nil checks the format
	// only and reports reachability "not checked".
	Status *PhoneStatusClient
	// Reveal puts full numbers in findings' evidence (the CLI's
	// --reveal-contacts). Messages, reasons and logs stay masked.
	Reveal bool
	// Rules are extra (provincial) rules, none by default.
	Rules []ContactRule
	// Logger receives debug lines, numbers masked; nil discards them.
	Logger *slog.Logger
}

var _ Checker = (*ContactCheck)(nil)

// NewContactCheck returns the contact check; status may be nil (format only).
func NewContactCheck(status *PhoneStatusClient) *ContactCheck {
	return &ContactCheck{Status: status}
}

// Name is "contact".
func (c *ContactCheck) Name() string { return CheckContact }

// Applies when the site has contacts on file.
func (c *ContactCheck) Applies(site *Site) (bool, string) {
	if site == nil || len(site.Contacts) == 0 {
		return false, "no contacts on file"
	}
	return true, ""
}

// Check validates every contact. A cell holding several numbers
// (13812345678/13912345678) has each checked. One finding per bad number;
// fail when any is a violation, inconclusive when some number could not be
// told (its format offline, its reachability through the provider) and
// nothing is a violation, pass otherwise.
func (c *ContactCheck) Check(ctx context.Context, site *Site) Result {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if site == nil {
		return Result{Outcome: NotApplicable, Reason: "no site"}
	}
	res := Result{Findings: []Finding{}, Details: map[string]string{}}
	var unformatted, undetermined []string
	checked, looked := 0, 0
	for i, ct := range site.Contacts {
		key := "contact." + strconv.Itoa(i+1)
		role, rerr := ParseContactRole(ct.Role)
		if rerr != nil {
			role = maskNumbersIn(strings.TrimSpace(ct.Role))
			res.Findings = append(res.Findings, Finding{
				Code:     CodeContactRoleUnknown,
				Severity: Warning,
				Message:  fmt.Sprintf("contact #%d: %s; its number is checked anyway", i+1, rerr.Error()),
				Evidence: fmt.Sprintf("role=%s number=%s", role, c.showRaw(ct.Phone)),
			})
		}
		var details []string
		seen := map[string]bool{}
		for _, piece := range splitPhoneList(ct.Phone) {
			raw := piece.text
			p, err := ParsePhone(raw)
			if err != nil {
				problem := PhoneProblem(err)
				cannotTell := PhoneUndetermined(err)
				if !cannotTell && !piece.sure {
					// Words around it: maybe not meant as a phone number.
					problem = "not clearly a phone number (" + problem + ")"
					cannotTell = true
				}
				if cannotTell {
					log.DebugContext(ctx, "contact number cannot be checked", "domain", site.Domain, "role", role, "number", MaskPhone(raw), "problem", problem)
					unformatted = append(unformatted, fmt.Sprintf("%s %s: %s", role, maskOrEmpty(raw), problem))
					details = append(details, fmt.Sprintf("%s %s: cannot be checked (%s)", role, maskOrEmpty(raw), problem))
					continue
				}
				log.DebugContext(ctx, "contact number invalid", "domain", site.Domain, "role", role, "number", MaskPhone(raw), "problem", problem)
				res.Findings = append(res.Findings, Finding{
					Code:     CodeContactInvalidFormat,
					Severity: Violation,
					Message:  fmt.Sprintf("the %s contact number %s is not a valid Chinese mobile or landline number: %s", role, maskOrEmpty(raw), problem),
					Evidence: fmt.Sprintf("role=%s number=%s problem=%s", role, c.showRaw(raw), problem),
				})
				details = append(details, fmt.Sprintf("%s %s: invalid (%s)", role, maskOrEmpty(raw), problem))
				continue
			}
			if seen[p.E164] {
				continue
			}
			seen[p.E164] = true
			for _, rule := range c.Rules {
				for _, f := range rule.Check(site, role, p) {
					res.Findings = append(res.Findings, maskFinding(f, raw, p))
				}
			}
			detail := fmt.Sprintf("%s %s %s", role, p.Masked(), p.Kind)
			switch {
			case c.Status == nil:
				detail += ": reachability not checked"
			case !c.Status.Covers(p):
				detail += ": reachability not checked (provider covers mobiles only)"
			default:
				looked++
				st, err := c.Status.Lookup(ctx, p.E164)
				switch {
				case err != nil:
					why := maskNumbersIn(err.Error())
					undetermined = append(undetermined, fmt.Sprintf("%s %s: %s", role, p.Masked(), why))
					detail += ": reachability unknown (" + why + ")"
				case st == PhoneUnknown:
					undetermined = append(undetermined, fmt.Sprintf("%s %s: provider answered unknown", role, p.Masked()))
					detail += ": reachability unknown (provider answered unknown)"
				default:
					checked++
					detail += ": " + string(st)
					if f, bad := c.statusFinding(role, p, st); bad {
						res.Findings = append(res.Findings, f)
					}
				}
				log.DebugContext(ctx, "contact number status", "domain", site.Domain, "role", role, "number", p, "status", string(st))
			}
			details = append(details, detail)
		}
		res.Details[key] = strings.Join(details, "; ")
	}
	switch {
	case c.Status == nil:
		res.Details["reachability"] = "not checked"
	case looked == 0:
		res.Details["reachability"] = "not checked (no mobile numbers)"
	case checked == looked:
		res.Details["reachability"] = "checked"
	default:
		res.Details["reachability"] = fmt.Sprintf("checked %d of %d", checked, looked)
	}
	res.Outcome = OutcomeOf(res.Findings)
	if res.Outcome == Fail {
		// Another contact failing must not count as this one's format or
		// status having been fixed.
		if len(unformatted) > 0 {
			res.Unjudged = append(res.Unjudged, CodeContactInvalidFormat)
		}
		if len(unformatted)+len(undetermined) > 0 {
			res.Unjudged = append(res.Unjudged, CodeContactVacant, CodeContactSuspended, CodeContactPoweredOff, CodeContactUnreachable)
		}
	}
	if res.Outcome == Pass && len(unformatted)+len(undetermined) > 0 {
		var why []string
		if len(unformatted) > 0 {
			why = append(why, "number could not be checked: "+strings.Join(unformatted, "; "))
		}
		if len(undetermined) > 0 {
			why = append(why, "reachability could not be determined: "+strings.Join(undetermined, "; "))
		}
		res.Outcome = Inconclusive
		res.Reason = strings.Join(why, "; ")
	}
	return res
}

// statusFinding maps a provider status to its finding.
func (c *ContactCheck) statusFinding(role string, p Phone, st PhoneStatus) (Finding, bool) {
	var code, what string
	switch st {
	case PhoneVacant:
		code, what = CodeContactVacant, "does not exist (空号)"
	case PhoneSuspended:
		code, what = CodeContactSuspended, "is suspended (停机)"
	case PhonePoweredOff:
		code, what = CodeContactPoweredOff, "is powered off (关机)"
	case PhoneUnreachable:
		code, what = CodeContactUnreachable, "cannot be connected (无法接通)"
	default:
		return Finding{}, false
	}
	return Finding{
		Code:     code,
		Severity: Violation,
		Message:  fmt.Sprintf("the %s contact number %s %s", role, p.Masked(), what),
		Evidence: fmt.Sprintf("role=%s number=%s status=%s", role, c.show(p), st),
	}, true
}

// show is the number as evidence carries it: masked unless Reveal.
func (c *ContactCheck) show(p Phone) string {
	if !c.Reveal {
		return p.Masked()
	}
	if p.Ext != "" {
		return p.E164 + " ext " + p.Ext
	}
	return p.E164
}

// showRaw is an unparseable number as evidence carries it: as written when
// Reveal, else masked.
func (c *ContactCheck) showRaw(raw string) string {
	if c.Reveal {
		return strconv.Quote(raw)
	}
	return maskOrEmpty(raw)
}

func maskOrEmpty(raw string) string {
	if m := MaskPhone(raw); m != "" {
		return m
	}
	return "(empty)"
}

// maskFinding masks the contact's number wherever a rule's finding spelled
// it out.
func maskFinding(f Finding, raw string, p Phone) Finding {
	m := p.Masked()
	pairs := []string{p.E164, m, p.National(), m}
	if raw != "" {
		pairs = append([]string{raw, m}, pairs...)
	}
	r := strings.NewReplacer(pairs...)
	f.Message = maskNumbersIn(r.Replace(f.Message))
	f.Evidence = maskNumbersIn(r.Replace(f.Evidence))
	return f
}
