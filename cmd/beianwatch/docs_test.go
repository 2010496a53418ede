package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/checks"
)

// TestCheckFlagsMatchDocs: the flags of `beianwatch check --help` and the
// table in docs/operations.md are the same set, and where the docs say
// what a value may be, the help says so too and the parser agrees.
func TestCheckFlagsMatchDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	start := strings.Index(sec, "## `beianwatch check`")
	end := strings.Index(sec[start+1:], "\n## ")
	sec = sec[start : start+1+end]
	flagRe := regexp.MustCompile("`(--[a-z-]+)")
	documented := map[string]bool{}
	for _, line := range strings.Split(sec, "\n") {
		if strings.HasPrefix(line, "| `-") {
			cell := strings.Split(line, "|")[1]
			for _, m := range flagRe.FindAllStringSubmatch(cell, -1) {
				documented[m[1]] = true
			}
		}
	}
	_, _, help := runCLI("check", "--help")
	inHelp := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?(--[a-z-]+)`).FindAllStringSubmatch(help, -1) {
		inHelp[m[1]] = true
	}
	for f := range documented {
		if !inHelp[f] {
			t.Errorf("docs/operations.md documents %s, check --help does not have it", f)
		}
	}
	for f := range inHelp {
		if !documented[f] && f != "--help" {
			t.Errorf("check --help has %s, docs/operations.md does not document it", f)
		}
	}
	// --ip-range: CIDR, A-B or one address, in both, and all three parse.
	line := regexp.MustCompile(`(?m)^\s+--ip-range.*$`).FindString(help)
	for _, w := range []string{"CIDR", "A-B", "one address"} {
		if !strings.Contains(line, w) {
			t.Errorf("--ip-range help %q does not say %q", line, w)
		}
	}
	for _, r := range []string{"203.0.113.0/24", "203.0.113.10-203.0.113.20", "203.0.113.10", "2001:db8::1"} {
		if _, err := checks.ParseIPRange(r); err != nil {
			t.Errorf("--ip-range %s: %v", r, err)
		}
	}
}
