// Package beian is the vocabulary every other package shares: a filed Site,
// the filing-number grammar, IP ranges, the Outcome, Severity, Finding and
// Result a check reports, the check names, the registry of finding codes,
// and masking of mobile numbers in free text.
//
// It is a leaf: it imports nothing that touches the network, a database or
// phone metadata, so the notice renderer, the configuration and the store
// can use the vocabulary without pulling in the checks (docs/architecture.md).
package beian

// Outcome is the verdict of one check run.
type Outcome string

const (
	// Pass: the check ran and found nothing that is a violation.
	Pass Outcome = "pass"
	// Fail: the check found at least one violation.
	Fail Outcome = "fail"
	// Inconclusive: we could not tell (our resolver, network, or a page that
	// needs a human or a browser). Never opens a violation.
	Inconclusive Outcome = "inconclusive"
	// NotApplicable: the check does not apply to this site (for example the
	// dns check on a site that is already filed). Not a failure.
	NotApplicable Outcome = "not_applicable"
)

// Severity ranks a finding. Only violations make a result fail.
type Severity string

const (
	Violation Severity = "violation"
	Warning   Severity = "warning"
	Info      Severity = "info"
)

// Finding is one thing a check noticed. Code is a public contract: it
// appears in JSON output, metric labels and notices, so codes are never
// renamed.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Evidence string   `json:"evidence"`
}

// Result is what one check reports for one site.
type Result struct {
	Check      string    `json:"check"`
	Outcome    Outcome   `json:"outcome"`
	Reason     string    `json:"reason,omitempty"` // why inconclusive or not applicable
	DurationMS int64     `json:"duration_ms"`
	Findings   []Finding `json:"findings"`
	// Unjudged lists the finding codes a pass or fail run could not judge
	// although it judged others (the placeholder of a page that timed out
	// while the addresses were clearly off-provider, a contact whose
	// number-status lookup failed next to one with a bad format). A code
	// listed here and not among the findings is neither failing nor
	// passing in this run, so its open violation is not resolved by it.
	Unjudged []string `json:"unjudged,omitempty"`
	// Details carries check-specific facts worth showing (the URL fetched,
	// the addresses resolved, reachability "not checked", ...).
	Details map[string]string `json:"details,omitempty"`
	// Screenshot is a PNG of what a browser showed of a failing rendered
	// footer: evidence kept with the result, served by the API, never
	// inlined in JSON.
	Screenshot []byte `json:"-"`
}

// MapText returns a copy of r with f applied to its free text: the reason,
// each finding's message and evidence, and the details. Readers that show
// results to people (the API, reports) mask with it; r is not changed.
func (r Result) MapText(f func(string) string) Result {
	r.Reason = f(r.Reason)
	if r.Findings != nil {
		fs := make([]Finding, len(r.Findings))
		for i, fd := range r.Findings {
			fd.Message, fd.Evidence = f(fd.Message), f(fd.Evidence)
			fs[i] = fd
		}
		r.Findings = fs
	}
	if r.Details != nil {
		ds := make(map[string]string, len(r.Details))
		for k, v := range r.Details {
			ds[k] = f(v)
		}
		r.Details = ds
	}
	return r
}

// OutcomeOf is Fail when any finding is a violation, else Pass.
func OutcomeOf(fs []Finding) Outcome {
	for _, f := range fs {
		if f.Severity == Violation {
			return Fail
		}
	}
	return Pass
}

// Check names.
const (
	CheckFooter  = "footer"
	CheckShell   = "shell"
	CheckDNS     = "dns"
	CheckContact = "contact"
	// CheckEntity judges a filing entity as a whole (空壳主体) from its
	// sites' shell results. It is not a check run on a site, so Checks
	// does not list it; its finding is recorded on one of the entity's
	// sites under this check name.
	CheckEntity = "entity"
)

// Checks returns the check names in the order they are reported. The
// slice is the caller's.
func Checks() []string { return []string{CheckFooter, CheckShell, CheckDNS, CheckContact} }

// IsCheck reports whether name is a check name.
func IsCheck(name string) bool {
	switch name {
	case CheckFooter, CheckShell, CheckDNS, CheckContact, CheckEntity:
		return true
	}
	return false
}
