package beian

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRegistryIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	shape := regexp.MustCompile(`^[a-z]+(_[a-z0-9]+)+$`)
	for _, c := range Codes() {
		if seen[c.Name] {
			t.Errorf("%s is registered twice", c.Name)
		}
		seen[c.Name] = true
		if !shape.MatchString(c.Name) {
			t.Errorf("%s: not lower-case words joined by underscores", c.Name)
		}
		if !IsCheck(c.Check) {
			t.Errorf("%s: check %q is not a check name", c.Name, c.Check)
		}
		if c.Severity != Violation && c.Severity != Warning && c.Severity != Info {
			t.Errorf("%s: severity %q", c.Name, c.Severity)
		}
		if c.Period < 0 || c.Period > 0 && c.Period < time.Hour {
			t.Errorf("%s: default rectification period %v", c.Name, c.Period)
		}
		if got, ok := LookupCode(c.Name); !ok || got != c || !IsCode(c.Name) || CheckOf(c.Name) != c.Check {
			t.Errorf("%s: lookups disagree with the registry: %+v %v", c.Name, got, ok)
		}
	}
	if len(seen) < 26 {
		t.Errorf("only %d codes registered", len(seen))
	}
	// Codes returns a copy: changing it changes nothing.
	cs := Codes()
	cs[0].Name = "changed"
	if Codes()[0].Name == "changed" {
		t.Error("Codes shares its backing array")
	}
}

func TestCheckOf(t *testing.T) {
	for code, want := range map[string]string{
		"footer_link_missing": "footer", "dns_resolving_while_pending": "dns", "contact_vacant": "contact",
		// Codes this build does not know keep the check in their name.
		"footer_x": "footer", "entity_gone": "entity",
		"footer": "", "_x": "", "shell_": "", "": "",
	} {
		if got := CheckOf(code); got != want {
			t.Errorf("CheckOf(%q) = %q, want %q", code, got, want)
		}
	}
}

// docs/checks.md documents every registered code, with its check,
// severity and whether notices explain it, and nothing else.
func TestEveryCodeIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "checks.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\| ([a-z]+) \\| ([a-z]+) \\| (yes|no) \\| (.+) \\|$")
	documented := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = m[2:]
	}
	for _, c := range Codes() {
		d, ok := documented[c.Name]
		if !ok {
			t.Errorf("docs/checks.md has no line for %s in its finding-code table", c.Name)
			continue
		}
		notice := map[bool]string{true: "yes", false: "no"}[c.Noticed]
		if d[0] != c.Check || d[1] != string(c.Severity) || d[2] != notice || strings.TrimSpace(d[3]) == "" {
			t.Errorf("docs/checks.md says %s is %v; the registry says check %s, severity %s, notice %s",
				c.Name, d, c.Check, c.Severity, notice)
		}
		delete(documented, c.Name)
	}
	for code := range documented {
		t.Errorf("docs/checks.md documents %s, which is not registered", code)
	}
}
