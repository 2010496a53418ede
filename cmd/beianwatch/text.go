package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/mattn/go-isatty"

	"github.com/beianwatch/beianwatch/checks"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

func verdict(o checks.Outcome, color bool) string {
	label, c := strings.ToUpper(string(o)), ""
	switch o {
	case checks.Pass:
		c = ansiGreen
	case checks.Fail:
		c = ansiRed
	case checks.Inconclusive:
		c = ansiYellow
	case checks.NotApplicable:
		label, c = "N/A", ansiDim
	}
	if !color {
		return label
	}
	return c + label + ansiReset
}

// writeCheckText prints a compact table for a person.
func writeCheckText(w io.Writer, rep checkReport, color bool) {
	head := rep.Domain + "  " + string(rep.Status)
	if rep.ICP != "" {
		head += "  " + rep.ICP
	}
	if rep.PSB != "" {
		head += "  " + rep.PSB
	}
	fmt.Fprintln(w, head)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tVERDICT\tTIME\tDETAIL")
	for _, r := range rep.Results {
		var parts []string
		if r.Reason != "" {
			parts = append(parts, r.Reason)
		}
		if why := r.Details["why"]; why != "" {
			parts = append(parts, why)
		}
		detail := strings.Join(parts, ": ")
		if detail == "" {
			detail = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%dms\t%s\n", r.Check, verdict(r.Outcome, color), r.DurationMS, oneLine(detail))
		for _, f := range r.Findings {
			fmt.Fprintf(tw, "\t\t\t%s [%s] %s\n", f.Code, f.Severity, oneLine(f.Message))
			if f.Evidence != "" {
				fmt.Fprintf(tw, "\t\t\t  evidence: %s\n", oneLine(f.Evidence))
			}
		}
		keys := make([]string, 0, len(r.Details))
		for k := range r.Details {
			if k != "why" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "\t\t\t%s: %s\n", k, oneLine(r.Details[k]))
		}
	}
	tw.Flush()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}
