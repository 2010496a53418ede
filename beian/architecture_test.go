package beian

import (
	"os/exec"
	"strings"
	"testing"
)

// The import rules of docs/architecture.md: the vocabulary and the
// packages that only need it stay free of the network, phone metadata and
// the checks. A new import that breaks one fails here, naming the path.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	const mod = "github.com/beianwatch/beianwatch/"
	network := []string{"github.com/miekg/dns", "github.com/nyaruka/phonenumbers", mod + "egress", mod + "checks"}
	rules := map[string][]string{
		"beian":             append([]string{"net/http", mod}, network...),
		"alerts":            append([]string{mod + "monitor"}, network...),
		"monitor/lifecycle": append([]string{mod + "monitor/store", mod + "monitor/engine", "net/http"}, network...),
		"monitor/config":    append([]string{mod + "monitor/store", mod + "monitor/engine"}, network...),
		"monitor/audit":     append([]string{mod + "monitor/store"}, network...),
		"monitor/store":     append([]string{mod + "alerts", mod + "monitor/engine"}, network...),
		"monitor/metrics":   append([]string{mod + "monitor/store", mod + "monitor/engine"}, network...),
		"monitor/ledger":    append([]string{mod + "monitor/engine", mod + "alerts"}, network...),
		"monitor/engine":    append([]string{mod + "alerts", mod + "monitor/config"}, network...),
		"monitor/console":   append([]string{mod + "monitor/engine"}, network...),
		"monitor/dossier":   append([]string{mod + "monitor/engine"}, network...),
	}
	for pkg, forbidden := range rules {
		cmd := exec.Command(goTool, "list", "-deps", "./"+pkg)
		cmd.Dir = ".." // the module root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps ./%s: %v\n%s", pkg, err, out)
		}
		self := mod + pkg
		for _, dep := range strings.Fields(string(out)) {
			if dep == self {
				continue
			}
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") || strings.HasSuffix(f, "/") && strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s (docs/architecture.md forbids %s)", pkg, dep, f)
				}
			}
		}
	}
}
