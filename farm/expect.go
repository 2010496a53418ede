package farm

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/beianwatch/beianwatch/checks"
)

// Expectation is what one check must report for a site: its outcome and the
// codes of all its findings (warnings included), sorted.
type Expectation struct {
	Outcome checks.Outcome
	Codes   []string
}

func (e Expectation) String() string {
	if len(e.Codes) == 0 {
		return string(e.Outcome)
	}
	return string(e.Outcome) + " " + strings.Join(e.Codes, ",")
}

var (
	pass = Expectation{Outcome: checks.Pass}
	na   = Expectation{Outcome: checks.NotApplicable}
	inc  = Expectation{Outcome: checks.Inconclusive}
)

func fail(codes ...string) Expectation {
	return Expectation{Outcome: checks.Fail, Codes: SortedCodes(codes)}
}

// expectations per state and check, for a site answering promptly (or
// after a delay shorter than the fetch timeout).
var expectations = map[State]map[string]Expectation{
	CompliantUTF8: {checks.CheckFooter: pass, checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	CompliantGBK:  {checks.CheckFooter: pass, checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	LinkObsolete:  {checks.CheckFooter: fail(checks.CodeFooterLinkObsolete), checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	LinkMissing:   {checks.CheckFooter: fail(checks.CodeFooterLinkMissing), checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	ICPMissing:    {checks.CheckFooter: fail(checks.CodeFooterICPMissing), checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	ICPWrong:      {checks.CheckFooter: fail(checks.CodeFooterICPMismatch), checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	PSBMissing:    {checks.CheckFooter: fail(checks.CodeFooterPSBMissing), checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	PSBUnlinked:   {checks.CheckFooter: fail(checks.CodeFooterPSBLinkMiss), checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: pass},
	Placeholder:   {checks.CheckFooter: fail(checks.CodeFooterICPMissing), checks.CheckShell: fail(checks.CodeShellPlaceholder), checks.CheckDNS: na, checks.CheckContact: pass},
	// Nothing to fetch: the footer cannot be judged, the shell check says why.
	Unresolvable:     {checks.CheckFooter: inc, checks.CheckShell: fail(checks.CodeShellUnresolvable), checks.CheckDNS: na, checks.CheckContact: pass},
	OffProvider:      {checks.CheckFooter: pass, checks.CheckShell: fail(checks.CodeShellOffProvider), checks.CheckDNS: na, checks.CheckContact: pass},
	PendingResolving: {checks.CheckFooter: na, checks.CheckShell: na, checks.CheckDNS: fail(checks.CodeDNSResolvingWhilePending), checks.CheckContact: pass},
	PendingPaused:    {checks.CheckFooter: na, checks.CheckShell: na, checks.CheckDNS: pass, checks.CheckContact: pass},
	PhoneInvalid:     {checks.CheckFooter: pass, checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: fail(checks.CodeContactInvalidFormat)},
	PhoneVacant:      {checks.CheckFooter: pass, checks.CheckShell: pass, checks.CheckDNS: na, checks.CheckContact: fail(checks.CodeContactVacant)},
}

// Expect is what the check named check must report for s, given that the
// fetch timeout is longer than the farm's slow delay and, for a
// script-drawn footer, that a browser renders it (ExpectStatic says what
// static HTML alone gives). A hanging site (the
// body never finishes) cannot be judged from its page: the footer is
// inconclusive, and so is the shell check unless the site's addresses
// already decide it.
func Expect(s *Site, check string) Expectation {
	e, ok := expectations[s.State][check]
	if !ok {
		return Expectation{Outcome: "unknown"}
	}
	if s.Hang && e.Outcome != checks.NotApplicable {
		switch check {
		case checks.CheckFooter:
			return inc
		case checks.CheckShell:
			if s.State == OffProvider {
				return e
			}
			return inc
		}
	}
	return e
}

// ExpectStatic is Expect for a run that does not render: a script-drawn
// footer is inconclusive (needs_rendering).
func ExpectStatic(s *Site, check string) Expectation {
	if s.Scripted && check == checks.CheckFooter && !s.Hang {
		return inc
	}
	return Expect(s, check)
}

// WriteSummary prints the proportions and the findings expected per state.
func (f *Farm) WriteSummary(w io.Writer) error {
	t := f.Tally()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "farm: %d sites, seed %d, zone %s\n", len(f.Sites), f.Opts.Seed, f.Opts.Zone)
	fmt.Fprintln(tw, "state\tsites\tshare\tfooter\tshell\tdns\tcontact")
	for _, st := range States() {
		n := t.States[st]
		e := expectations[st]
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%s\t%s\t%s\t%s\n", st, n, 100*float64(n)/float64(len(f.Sites)),
			e[checks.CheckFooter], e[checks.CheckShell], e[checks.CheckDNS], e[checks.CheckContact])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if t.Scripted > 0 {
		fmt.Fprintf(w, "script-drawn footers: %d sites (%.1f%%), judged by rendering them in a browser\n",
			t.Scripted, 100*float64(t.Scripted)/float64(len(f.Sites)))
	}
	if t.Slow > 0 {
		fmt.Fprintf(w, "slow: %d sites (%.1f%%) answer after %v with their state's findings",
			t.Slow-t.Hang, 100*float64(t.Slow-t.Hang)/float64(len(f.Sites)), f.Opts.SlowDelay)
		if t.Hang > 0 {
			fmt.Fprintf(w, "; %d more never finish the body: footer and shell inconclusive (off_provider still fails)", t.Hang)
		}
		fmt.Fprintln(w)
	}
	entities := map[string][]string{}
	for _, s := range f.Sites {
		k := s.ICP.Entity().String()
		entities[k] = append(entities[k], s.Domain)
	}
	multi := 0
	for _, ds := range entities {
		if len(ds) > 1 {
			multi++
		}
	}
	fmt.Fprintf(w, "entities: %d, %d of them with several sites", len(entities), multi)
	if k := f.EmptyShellEntity; k != "" {
		fmt.Fprintf(w, "; one empty-shell entity (空壳主体, entity_empty_shell): %s, sites %s", k, strings.Join(entities[k], ", "))
	}
	fmt.Fprintln(w)
	return nil
}
