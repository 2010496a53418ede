// Package entity judges filing entities (主体) as a whole: an entity all
// of whose filed sites are empty shells or gone is an empty-shell entity
// (空壳主体). The regulator clears such entities, and clearing an entity
// takes every one of its sites with it, so the owner must hear about the
// entity, not only about each site.
//
// The judgement is a pure function of what the inventory says of each
// site (its entity, its filing status) and of what the shell check has
// established about it; the daemon and `beianwatch audit` feed it from the
// store and from a run's results respectively.
package entity

import (
	"slices"
	"strings"

	"github.com/beianwatch/beianwatch/beian"
)

// CodeEmptyShell is the finding of an empty-shell entity (a violation).
// It is recorded on one site of the entity (see Verdict.Site) under the
// pseudo-check Check, so that it has the lifecycle, deadline and notices
// of every other finding.
const CodeEmptyShell = "entity_empty_shell"

// Check is the name results about entities are recorded under.
const Check = "entity"

// ShellCodes are the shell check's violations that make a site a shell.
var ShellCodes = []string{"shell_unresolvable", "shell_off_provider", "shell_unreachable", "shell_placeholder"}

// Shell is what is established about a site's shell check.
type Shell int

const (
	// Unknown: never checked, or the latest run could not tell
	// (inconclusive). The entity cannot be judged.
	Unknown Shell = iota
	// Live: the site is not (or not yet confirmed) a shell.
	Live
	// Confirmed: the site is a shell, confirmed (an open or escalated
	// shell violation, and the latest run agrees).
	Confirmed
)

// Site is what the judgement needs of one inventory site.
type Site struct {
	Domain string
	// ICP is the site's filing number; nil when the inventory has none.
	ICP *beian.ICPNumber
	// Entity is the entity's name as the inventory writes it.
	Entity string
	Status beian.Status
	// Shell is what the shell check has established (for filed sites).
	Shell Shell
	// Codes are the shell codes confirmed for the site, for the evidence.
	Codes []string
}

// Key groups sites by entity: the entity filing number when the site's
// number is known (京ICP备12345678号-3 belongs to 京ICP备12345678号), else
// the entity name, trimmed; "" when the site names neither (it is then an
// entity of its own, never grouped with strangers).
func Key(icp *beian.ICPNumber, name string) string {
	if icp != nil && icp.Province != 0 {
		return icp.Entity().String()
	}
	// A name never looks like a filing number, so the two kinds of key
	// cannot collide.
	return strings.TrimSpace(name)
}

// Outcome is the judgement of one entity.
type Outcome int

const (
	// Alive: some site is live, or under a filing procedure.
	Alive Outcome = iota
	// Undetermined: some site's shell state could not be told, and no
	// site is known to be live: "could not tell" never becomes a violation.
	Undetermined
	// EmptyShell: every filed site is a confirmed shell or cancelled, and
	// at least one is a confirmed shell.
	EmptyShell
	// Gone: every site is cancelled; nothing to tell anybody.
	Gone
)

func (o Outcome) String() string {
	switch o {
	case Alive:
		return "alive"
	case Undetermined:
		return "undetermined"
	case EmptyShell:
		return "empty_shell"
	case Gone:
		return "gone"
	}
	return "unknown"
}

// Verdict is one entity's judgement.
type Verdict struct {
	Key     string
	Name    string // the entity's name as first written, "" if none
	Outcome Outcome
	// Site is where the entity's finding is recorded and whose owner
	// hears of it: the first of its shell sites in domain order, so the
	// choice is stable while the entity's sites are.
	Site string
	// Domains are all the entity's sites, sorted; Shells the confirmed
	// shells, Cancelled the cancelled ones, Unknown those not told.
	Domains, Shells, Cancelled, Unknown []string
}

// Evaluate judges every entity the sites belong to; sites without a key
// are skipped (nothing ties them to an entity). Verdicts come sorted by
// key.
func Evaluate(sites []Site) []Verdict {
	byKey := map[string]*Verdict{}
	var keys []string
	for _, s := range sites {
		k := Key(s.ICP, s.Entity)
		if k == "" {
			continue
		}
		v := byKey[k]
		if v == nil {
			v = &Verdict{Key: k, Name: strings.TrimSpace(s.Entity)}
			byKey[k] = v
			keys = append(keys, k)
		}
		if v.Name == "" {
			v.Name = strings.TrimSpace(s.Entity)
		}
		v.Domains = append(v.Domains, s.Domain)
	}
	slices.Sort(keys)
	// A second pass judges each entity on all of its sites.
	live := map[string]bool{}
	for _, s := range sites {
		k := Key(s.ICP, s.Entity)
		if k == "" {
			continue
		}
		v := byKey[k]
		switch {
		case s.Status == beian.StatusCancelled:
			v.Cancelled = append(v.Cancelled, s.Domain)
		case s.Status != beian.StatusFiled:
			// Under review, being changed or newly connected: the entity
			// is doing something with its filing; not a shell.
			live[k] = true
		case s.Shell == Confirmed:
			v.Shells = append(v.Shells, s.Domain)
		case s.Shell == Live:
			live[k] = true
		default:
			v.Unknown = append(v.Unknown, s.Domain)
		}
	}
	out := make([]Verdict, 0, len(keys))
	for _, k := range keys {
		v := byKey[k]
		for _, l := range [][]string{v.Domains, v.Shells, v.Cancelled, v.Unknown} {
			slices.Sort(l)
		}
		switch {
		case live[k]:
			v.Outcome = Alive
		case len(v.Unknown) > 0:
			v.Outcome = Undetermined
		case len(v.Shells) > 0:
			v.Outcome = EmptyShell
			v.Site = v.Shells[0]
		default:
			v.Outcome = Gone
		}
		out = append(out, *v)
	}
	return out
}

// Result is the entity's check result, recorded on v.Site: fail with
// CodeEmptyShell for an empty-shell entity, inconclusive when it cannot be
// judged, pass otherwise. Its evidence lists the sites, so the notice
// shows them.
func (v Verdict) Result() beian.Result {
	r := beian.Result{Check: Check, Findings: []beian.Finding{}, Details: map[string]string{"entity": v.Key}}
	switch v.Outcome {
	case EmptyShell:
		r.Outcome = beian.Fail
		name := v.Name
		if name == "" {
			name = v.Key
		}
		r.Findings = append(r.Findings, beian.Finding{
			Code: CodeEmptyShell, Severity: beian.Violation,
			Message: "every filed site of entity " + beian.MaskMobilesIn(name) + " is an empty shell or cancelled",
			Evidence: "entity=" + beian.MaskMobilesIn(v.Key) + " shells=" + strings.Join(v.Shells, ",") +
				prefixed(" cancelled=", v.Cancelled),
		})
	case Undetermined:
		r.Outcome = beian.Inconclusive
		r.Reason = "shell state unknown for " + strings.Join(v.Unknown, ",")
	default:
		r.Outcome = beian.Pass
	}
	return r
}

func prefixed(p string, l []string) string {
	if len(l) == 0 {
		return ""
	}
	return p + strings.Join(l, ",")
}
