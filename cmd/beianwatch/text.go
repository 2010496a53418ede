package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/rivo/uniseg"
	"golang.org/x/term"

	"github.com/beianwatch/beianwatch/checks"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// useColor: colour only on a terminal, and never when NO_COLOR is set to
// anything (no-color.org).
func useColor(e *env) bool {
	return e.isTerminal && e.getenv("NO_COLOR") == ""
}

// textWidth is the width text output wraps at: the terminal's, else
// $COLUMNS, else 120 (a pipe or a file: wide, but still readable).
func textWidth(e *env) int {
	if f, ok := e.stdout.(*os.File); ok && e.isTerminal {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(e.getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 120
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

// writeCheckText prints a compact table for a person, width columns wide.
func writeCheckText(w io.Writer, rep checkReport, color bool, width int) {
	head := rep.Domain + "  " + string(rep.Status)
	if rep.ICP != "" {
		head += "  " + rep.ICP
	}
	if rep.PSB != "" {
		head += "  " + rep.PSB
	}
	fmt.Fprintln(w, head)
	t := &table{}
	t.add("CHECK", "VERDICT", "TIME", "DETAIL")
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
		t.add(r.Check, verdict(r.Outcome, color), fmt.Sprintf("%dms", r.DurationMS), detail)
		for _, f := range r.Findings {
			t.add("", "", "", fmt.Sprintf("%s [%s] %s", f.Code, f.Severity, f.Message))
			if f.Evidence != "" {
				t.add("", "", "", "  evidence: "+f.Evidence)
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
			t.add("", "", "", k+": "+r.Details[k])
		}
	}
	t.write(w, width)
}

// table lines up columns by what a person sees: colour codes take no
// room, a Chinese character takes two, and the last column wraps at word
// boundaries (text/tabwriter counts bytes of colour codes as width and
// cannot wrap).
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

var ansiCode = regexp.MustCompile("\x1b\\[[0-9;]*m")

// displayWidth is the width of s on a terminal.
func displayWidth(s string) int { return uniseg.StringWidth(ansiCode.ReplaceAllString(s, "")) }

// minWrap is the narrowest the last column is made, however narrow the
// terminal: below it, wrapped text is harder to read than an overlong line.
const minWrap = 30

func (t *table) write(w io.Writer, width int) {
	const gap = 2
	var widths []int
	for _, row := range t.rows {
		for i, c := range row[:len(row)-1] {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], displayWidth(c))
		}
	}
	indent := 0
	for _, cw := range widths {
		indent += cw + gap
	}
	last := max(width-indent, minWrap)
	for _, row := range t.rows {
		var b strings.Builder
		for i, c := range row[:len(row)-1] {
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(c)+gap))
		}
		prefix := b.String()
		for j, line := range wrap(row[len(row)-1], last) {
			if j > 0 {
				prefix = strings.Repeat(" ", indent)
			}
			fmt.Fprintln(w, strings.TrimRight(prefix+line, " "))
		}
	}
}

// wrap folds s (whitespace collapsed) into lines at most width wide,
// breaking between words; a word wider than a line (a URL, Chinese text
// without spaces) is broken between characters.
func wrap(s string, width int) []string {
	var lines []string
	var cur strings.Builder
	curW := 0
	flush := func() {
		lines = append(lines, cur.String())
		cur.Reset()
		curW = 0
	}
	for _, word := range strings.Fields(s) {
		ww := displayWidth(word)
		if curW > 0 && curW+1+ww > width {
			flush()
		}
		if curW > 0 {
			cur.WriteByte(' ')
			curW++
		}
		if ww <= width-curW {
			cur.WriteString(word)
			curW += ww
			continue
		}
		g := uniseg.NewGraphemes(word)
		for g.Next() {
			gw := g.Width()
			if curW+gw > width && curW > 0 {
				flush()
			}
			cur.WriteString(g.Str())
			curW += gw
		}
	}
	if curW > 0 || len(lines) == 0 {
		flush()
	}
	return lines
}
