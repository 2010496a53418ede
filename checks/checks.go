// Package checks holds the four compliance checks (footer, shell, dns,
// contact) and what they share: fetching, charset decoding, resolving and the
// filing-number grammar. It has no database and no queue: a Site goes in, a
// Result comes out, and all network access goes through injected clients so
// that tests control it.
package checks

import (
	"context"
	"time"
)

// Checker is the one signature every check implements, in the manner of
// blackbox_exporter's probers: the deadline travels in ctx.
type Checker interface {
	// Name is the stable check name: footer, shell, dns or contact.
	Name() string
	// Applies reports whether the check is meaningful for the site, and if
	// not, why.
	Applies(site *Site) (bool, string)
	// Check runs the check. It never panics on bad input and never returns
	// a violation for a failure on our side.
	Check(ctx context.Context, site *Site) Result
}

// Run runs c on site, filling in the check name, the duration and the
// outcome derived from the findings when the checker left it empty. A check
// that does not apply yields NotApplicable.
func Run(ctx context.Context, c Checker, site *Site) Result {
	start := time.Now()
	var r Result
	if ok, why := c.Applies(site); !ok {
		r = Result{Outcome: NotApplicable, Reason: why}
	} else {
		r = c.Check(ctx, site)
	}
	r.Check = c.Name()
	r.DurationMS = time.Since(start).Milliseconds()
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.Outcome == "" {
		r.Outcome = OutcomeOf(r.Findings)
	}
	return r
}

// inconclusive builds an inconclusive result with a reason.
func inconclusive(reason string, findings ...Finding) Result {
	return Result{Outcome: Inconclusive, Reason: reason, Findings: findings}
}
