// Package lifecycle is the violation state machine: how check results turn
// into open, reminded, escalated and resolved violations (docs/rules.md).
//
// It is pure: no I/O, no clock, no globals. Callers pass the time, the
// configuration and the current states, and get back the next states and
// the transitions to record and announce. The store persists both; the
// notifier turns transitions into notices.
package lifecycle

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/beian"
)

// Status is where one violation (site, code) stands.
type Status string

const (
	// StatusNone: the code is not tracked (a pending code that passed
	// again). Stores delete states with this status.
	StatusNone Status = "none"
	// StatusPending: failing, but not yet FailureThreshold times in a row.
	StatusPending Status = "pending"
	// StatusOpen: the owner has been told and has until Deadline.
	StatusOpen Status = "open"
	// StatusEscalated: the deadline passed without a fix.
	StatusEscalated Status = "escalated"
	// StatusResolved: passed SuccessThreshold times in a row after being
	// open or escalated. Kept so the history of the code stays readable.
	StatusResolved Status = "resolved"
	// StatusExempted: an operator exempted the code while it was tracked;
	// the owner was not told. The next failing run after the exemption
	// ends is judged as if the code had never been tracked.
	StatusExempted Status = "exempted"
)

// Active reports whether the violation is one the owner must act on.
func (s Status) Active() bool { return s == StatusOpen || s == StatusEscalated }

// Kind is what happened in a transition. The names are a public contract:
// they appear in notices as "transition".
type Kind string

const (
	KindOpened    Kind = "opened"
	KindReminder  Kind = "reminder"
	KindEscalated Kind = "escalated"
	KindResolved  Kind = "resolved"
	// KindWithdrawn: the violation stopped being tracked without a passing
	// run, because the check no longer applies to the site (filing granted,
	// site removed from the inventory). Recorded, but owners are not told.
	KindWithdrawn Kind = "withdrawn"
	// KindExempted: an exemption closed the violation. Recorded, but the
	// owner is not told (docs/operations.md, "Exemptions").
	KindExempted Kind = "exempted"
)

// Announced reports whether transitions of kind are sent to the owner.
func (k Kind) Announced() bool { return k != KindWithdrawn && k != KindExempted }

// State is the lifecycle state of one violation (Domain, Code).
type State struct {
	Domain string `json:"domain"`
	Code   string `json:"code"`
	Status Status `json:"status"`
	// Fails and Passes count consecutive conclusive runs; a run of one
	// kind resets the other. Inconclusive runs touch neither.
	Fails  int `json:"fails"`
	Passes int `json:"passes"`
	// OpenedAt and Deadline are set when the violation opens and kept
	// through escalation and resolution (for the record).
	OpenedAt time.Time `json:"opened_at,omitzero"`
	Deadline time.Time `json:"deadline,omitzero"`
	// LastNotifiedAt is when the owner last heard about it (opened,
	// reminder or escalated); reminders are counted from it.
	LastNotifiedAt time.Time `json:"last_notified_at,omitzero"`
	// Message and Evidence come from the latest failing run.
	Message   string    `json:"message,omitempty"`
	Evidence  string    `json:"evidence,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Check is the check the code belongs to (footer, shell, dns, contact).
func (s State) Check() string { return CheckOf(s.Code) }

// Transition is one change worth recording and, except Withdrawn,
// announcing to the owner.
type Transition struct {
	Domain   string    `json:"domain"`
	Code     string    `json:"code"`
	From     Status    `json:"from"`
	To       Status    `json:"to"`
	Kind     Kind      `json:"kind"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
	Message  string    `json:"message,omitempty"`
	Evidence string    `json:"evidence,omitempty"`
	OpenedAt time.Time `json:"opened_at,omitzero"`
	Deadline time.Time `json:"deadline,omitzero"`
	// Ops marks transitions the provider's own ops channel must hear
	// (escalation: access is about to be cancelled).
	Ops bool `json:"ops,omitempty"`
}

// Config holds the lifecycle settings (configuration key "lifecycle").
type Config struct {
	// FailureThreshold consecutive failing runs open a violation.
	FailureThreshold int
	// SuccessThreshold consecutive passing runs resolve it.
	SuccessThreshold int
	// RectificationPeriod is the time the owner gets to fix it, unless
	// PeriodByCode names the code.
	RectificationPeriod time.Duration
	PeriodByCode        map[string]time.Duration
	// RemindEvery is how often an open violation is reminded.
	RemindEvery time.Duration
	// OpsOnOpen lists codes whose opening the provider's ops channel
	// hears too, not only at escalation: an empty-shell entity may see
	// every one of its sites cleared, which the provider must know now.
	OpsOnOpen []string
}

// DefaultConfig is the built-in lifecycle configuration
// (monitor/config/default.yaml; a test in monitor keeps them equal).
func DefaultConfig() Config {
	return Config{
		FailureThreshold:    2,
		SuccessThreshold:    2,
		RectificationPeriod: 240 * time.Hour,
		RemindEvery:         72 * time.Hour,
	}
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.FailureThreshold < 1 {
		errs = append(errs, fmt.Errorf("lifecycle: failure_threshold must be at least 1, got %d", c.FailureThreshold))
	}
	if c.SuccessThreshold < 1 {
		errs = append(errs, fmt.Errorf("lifecycle: success_threshold must be at least 1, got %d", c.SuccessThreshold))
	}
	if c.RectificationPeriod <= 0 {
		errs = append(errs, fmt.Errorf("lifecycle: rectification_period must be positive, got %s", c.RectificationPeriod))
	}
	if c.RemindEvery <= 0 {
		errs = append(errs, fmt.Errorf("lifecycle: remind_every must be positive, got %s", c.RemindEvery))
	}
	codes := make([]string, 0, len(c.PeriodByCode))
	for code := range c.PeriodByCode {
		codes = append(codes, code)
	}
	sort.Strings(codes)
	for _, code := range codes {
		if d := c.PeriodByCode[code]; d <= 0 {
			errs = append(errs, fmt.Errorf("lifecycle: rectification period for %q must be positive, got %s", code, d))
		}
		if !beian.IsCode(code) {
			errs = append(errs, fmt.Errorf("lifecycle: %q is not a finding code (docs/checks.md lists them)", code))
		}
	}
	return errors.Join(errs...)
}

// Period is the rectification period for code: the configured override,
// else the code's own default in the registry, else the configured
// rectification_period.
func (c Config) Period(code string) time.Duration {
	if d, ok := c.PeriodByCode[code]; ok && d > 0 {
		return d
	}
	if rc, ok := beian.LookupCode(code); ok && rc.Period > 0 {
		return rc.Period
	}
	return c.RectificationPeriod
}

// CheckOf is the check a finding code belongs to (see beian.CheckOf).
func CheckOf(code string) string { return beian.CheckOf(code) }

// maxEvidence bounds the evidence kept per violation: it lands in every
// notice and row, and a page can repeat a finding many times.
const maxEvidence = 2000

// Apply folds one run of one check on one site into the site's states.
//
// states are the site's current states (any checks; codes of other checks
// pass through untouched). For a pass or fail run, a code of this check
// with a violation-severity finding counts as failing; a tracked code of
// this check without one counts as passing, unless the run lists it as
// Unjudged (that part of the check could not tell). Warnings and info findings
// never drive a violation. Inconclusive and not_applicable runs (and any
// unknown outcome) change nothing: "could not tell" is never evidence
// either way. Findings whose code belongs to another check are ignored,
// because only runs of their own check could ever resolve them.
//
// next holds every input state (updated) plus states for newly failing
// codes, sorted by code; transitions are in code order.
func Apply(now time.Time, cfg Config, domain string, states []State, r beian.Result) (next []State, transitions []Transition) {
	next = cloneStates(states)
	if r.Outcome != beian.Pass && r.Outcome != beian.Fail {
		return next, nil
	}
	check := r.Check

	failing := map[string]*failure{}
	for _, f := range r.Findings {
		if f.Severity != beian.Violation || CheckOf(f.Code) != check || check == "" {
			continue
		}
		fl := failing[f.Code]
		if fl == nil {
			fl = &failure{}
			failing[f.Code] = fl
		}
		fl.add(f)
	}

	unjudged := map[string]bool{}
	for _, code := range r.Unjudged {
		unjudged[code] = true
	}

	idx := map[string]int{}
	for i, s := range next {
		if s.Domain == domain {
			idx[s.Code] = i
		}
	}
	for code := range failing {
		if _, ok := idx[code]; !ok {
			next = append(next, State{Domain: domain, Code: code, Status: StatusNone})
			idx[code] = len(next) - 1
		}
	}
	sortStates(next)

	for i := range next {
		s := &next[i]
		if s.Domain != domain || CheckOf(s.Code) != check {
			continue
		}
		if fl, ok := failing[s.Code]; ok {
			if tr, ok := fail(now, cfg, s, fl); ok {
				transitions = append(transitions, tr)
			}
		} else if unjudged[s.Code] {
			// Not looked at this run: neither a failure nor a pass.
			continue
		} else if tr, ok := pass(now, cfg, s); ok {
			transitions = append(transitions, tr)
		}
	}
	return next, transitions
}

type failure struct {
	messages []string
	evidence []string
}

func (fl *failure) add(f beian.Finding) {
	if f.Message != "" && !contains(fl.messages, f.Message) {
		fl.messages = append(fl.messages, f.Message)
	}
	if f.Evidence != "" && !contains(fl.evidence, f.Evidence) {
		fl.evidence = append(fl.evidence, f.Evidence)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func clip(s string) string {
	if len(s) <= maxEvidence {
		return s
	}
	// Cut on a rune boundary so stored text stays valid UTF-8.
	cut := maxEvidence
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func fail(now time.Time, cfg Config, s *State, fl *failure) (Transition, bool) {
	s.Fails++
	s.Passes = 0
	s.Message = clip(strings.Join(fl.messages, "; "))
	s.Evidence = clip(strings.Join(fl.evidence, "\n"))
	s.UpdatedAt = now
	switch s.Status {
	case StatusOpen, StatusEscalated:
		return Transition{}, false
	}
	from := s.Status
	if s.Fails < cfg.FailureThreshold {
		s.Status = StatusPending
		return Transition{}, false
	}
	s.Status = StatusOpen
	s.OpenedAt = now
	s.Deadline = now.Add(cfg.Period(s.Code))
	s.LastNotifiedAt = now
	return Transition{
		Domain: s.Domain, Code: s.Code, From: from, To: StatusOpen, Kind: KindOpened, At: now,
		Reason:   fmt.Sprintf("failed %d consecutive runs", s.Fails),
		Message:  s.Message,
		Evidence: s.Evidence,
		OpenedAt: s.OpenedAt,
		Deadline: s.Deadline,
		Ops:      slices.Contains(cfg.OpsOnOpen, s.Code),
	}, true
}

func pass(now time.Time, cfg Config, s *State) (Transition, bool) {
	switch s.Status {
	case StatusPending, StatusNone:
		// One bad run followed by a good one was noise: forget it.
		s.Status = StatusNone
		s.Fails, s.Passes = 0, 0
		s.UpdatedAt = now
		return Transition{}, false
	case StatusResolved, StatusExempted:
		s.Fails = 0
		return Transition{}, false
	case StatusOpen, StatusEscalated:
	default:
		return Transition{}, false
	}
	s.Passes++
	s.Fails = 0
	s.UpdatedAt = now
	if s.Passes < cfg.SuccessThreshold {
		return Transition{}, false
	}
	from := s.Status
	s.Status = StatusResolved
	return Transition{
		Domain: s.Domain, Code: s.Code, From: from, To: StatusResolved, Kind: KindResolved, At: now,
		Reason:   fmt.Sprintf("passed %d consecutive runs", s.Passes),
		Message:  s.Message,
		Evidence: s.Evidence,
		OpenedAt: s.OpenedAt,
		Deadline: s.Deadline,
	}, true
}

// Tick advances time for the given states: an open violation whose
// deadline has passed escalates (once; the ops channel must hear); an open
// violation not notified for RemindEvery gets one reminder, however many
// periods were missed (a daemon that was down does not send a burst).
// Escalated violations are not reminded: the provider now acts on them, and
// they leave that state only by resolving.
func Tick(now time.Time, cfg Config, states []State) (next []State, transitions []Transition) {
	next = cloneStates(states)
	for i := range next {
		s := &next[i]
		if s.Status != StatusOpen {
			continue
		}
		switch {
		case !s.Deadline.IsZero() && !now.Before(s.Deadline):
			s.Status = StatusEscalated
			s.LastNotifiedAt = now
			s.UpdatedAt = now
			transitions = append(transitions, Transition{
				Domain: s.Domain, Code: s.Code, From: StatusOpen, To: StatusEscalated, Kind: KindEscalated, At: now,
				Reason:   "rectification deadline passed",
				Message:  s.Message,
				Evidence: s.Evidence,
				OpenedAt: s.OpenedAt,
				Deadline: s.Deadline,
				Ops:      true,
			})
		case cfg.RemindEvery > 0 && !now.Before(s.LastNotifiedAt.Add(cfg.RemindEvery)):
			s.LastNotifiedAt = now
			s.UpdatedAt = now
			transitions = append(transitions, Transition{
				Domain: s.Domain, Code: s.Code, From: StatusOpen, To: StatusOpen, Kind: KindReminder, At: now,
				Reason:   "still open; reminder",
				Message:  s.Message,
				Evidence: s.Evidence,
				OpenedAt: s.OpenedAt,
				Deadline: s.Deadline,
			})
		}
	}
	return next, transitions
}

// NextDue is the earliest time Tick would change s, or the zero time when
// it never would (not open). Stores use it to find due violations without
// loading all of them.
func NextDue(cfg Config, s State) time.Time {
	if s.Status != StatusOpen {
		return time.Time{}
	}
	due := s.Deadline
	if r := s.LastNotifiedAt.Add(cfg.RemindEvery); cfg.RemindEvery > 0 && (due.IsZero() || r.Before(due)) {
		due = r
	}
	return due
}

// Withdraw stops tracking the given site's codes of check (all checks when
// check is ""), because the check no longer applies to the site or the site
// left the inventory. This is deliberately separate from Apply: a
// not_applicable run alone changes nothing, and only the caller knows that
// the site's facts changed. Active violations yield a Withdrawn transition
// (kept as history, not announced); pending ones are simply forgotten.
func Withdraw(now time.Time, domain, check, reason string, states []State) (next []State, transitions []Transition) {
	return closeTracked(now, domain, reason, func(code string) bool { return check == "" || CheckOf(code) == check },
		StatusResolved, KindWithdrawn, states)
}

// Exempt closes the site's tracked violations that exempt covers, because
// an operator exempted them. Open and escalated ones yield an Exempted
// transition (kept as history, not announced) and keep their dates for the
// record; pending ones are forgotten, so that after the exemption a failing
// run counts from the start.
func Exempt(now time.Time, domain, reason string, exempt func(code string) bool, states []State) (next []State, transitions []Transition) {
	return closeTracked(now, domain, reason, exempt, StatusExempted, KindExempted, states)
}

// closeTracked closes the site's tracked violations whose code match
// accepts, without telling the owner: open and escalated ones move to
// status `to` with a transition of kind (keeping their dates for the
// record); pending ones are forgotten, so a later failing run counts from
// the start.
func closeTracked(now time.Time, domain, reason string, match func(code string) bool, to Status, kind Kind, states []State) (next []State, transitions []Transition) {
	next = cloneStates(states)
	for i := range next {
		s := &next[i]
		if s.Domain != domain || !match(s.Code) {
			continue
		}
		switch s.Status {
		case StatusOpen, StatusEscalated:
			transitions = append(transitions, Transition{
				Domain: s.Domain, Code: s.Code, From: s.Status, To: to, Kind: kind, At: now,
				Reason:   reason,
				Message:  s.Message,
				Evidence: s.Evidence,
				OpenedAt: s.OpenedAt,
				Deadline: s.Deadline,
			})
			s.Status = to
		case StatusPending:
			s.Status = StatusNone
		default:
			continue
		}
		s.Fails, s.Passes = 0, 0
		s.UpdatedAt = now
	}
	return next, transitions
}

// WithoutExempt returns r as the lifecycle must see it while exempt says
// which codes are exempted: their violation findings are left out and the
// codes listed as unjudged, so that they neither open nor resolve anything.
// The run itself is recorded unchanged by the caller: an exempted code is
// still checked and kept in the history.
func WithoutExempt(r beian.Result, exempt func(code string) bool) beian.Result {
	if exempt == nil || len(r.Findings) == 0 {
		return r
	}
	kept := make([]beian.Finding, 0, len(r.Findings))
	unjudged := slices.Clone(r.Unjudged)
	for _, f := range r.Findings {
		if f.Severity == beian.Violation && exempt(f.Code) {
			if !slices.Contains(unjudged, f.Code) {
				unjudged = append(unjudged, f.Code)
			}
			continue
		}
		kept = append(kept, f)
	}
	if len(kept) == len(r.Findings) {
		return r
	}
	r.Findings, r.Unjudged = kept, unjudged
	return r
}

func cloneStates(states []State) []State {
	next := make([]State, len(states), len(states)+4)
	copy(next, states)
	return next
}

func sortStates(s []State) {
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Domain != s[j].Domain {
			return s[i].Domain < s[j].Domain
		}
		return s[i].Code < s[j].Code
	})
}
