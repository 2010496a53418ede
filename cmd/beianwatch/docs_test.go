package main

import (
	"io/fs"
	"os"
	"path/filepath"
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

// TestNoCitationOutsideTheRepository: no source, document or configuration
// file cites the design file, which is not part of the repository; what
// they need of it lives in docs/ (docs/rules.md above all).
func TestNoCitationOutsideTheRepository(t *testing.T) {
	cite := regexp.MustCompile(`DESIGN(\.md| ?§)`)
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "data", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".yaml", ".yml", ".tmpl", ".json", ".service", ".sh":
		default:
			if d.Name() != "Makefile" && d.Name() != "run" {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if path == filepath.Join(root, "cmd", "beianwatch", "docs_test.go") {
			return nil // this test names what it looks for
		}
		for i, line := range strings.Split(string(b), "\n") {
			if cite.MatchString(line) {
				t.Errorf("%s:%d cites a file outside the repository: %s", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// What the code cites instead exists.
	for _, p := range []string{"docs/rules.md", "docs/operations.md", "docs/checks.md", "docs/contact.md", "docs/webhooks.md"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
