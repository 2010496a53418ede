// Package testbin builds the project's commands for tests that run them
// as real processes (kill -9, a real Prometheus scraping a real daemon).
package testbin

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build compiles the package at pkg, a path relative to the module root
// such as "./cmd/beianwatch", into the test's temporary directory and
// returns the binary's path. The go command's build cache makes repeated
// builds cheap.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("testbin: locating the module: %v (is the go command on PATH?)", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testbin: go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
