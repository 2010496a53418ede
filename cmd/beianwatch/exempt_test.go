package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exemptConfig writes a configuration whose store is in a temp dir and
// whose inventory is the validate fixture's (example.cn).
func exemptConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	inv, err := filepath.Abs("testdata/validate/good.csv")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "beianwatch.yaml")
	body := "inventory: {path: " + inv + "}\nstorage: {driver: sqlite, path: " + filepath.Join(dir, "bw.db") + "}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func runArgs(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestExemptCommand(t *testing.T) {
	cfg := exemptConfig(t)
	code, out, errs := runArgs("exempt", "add", "--config", cfg, "--site", "example.cn", "--code", "footer_link_missing",
		"--until", "2099-01-31", "--reason", "signed exception", "--by", "zhang.san")
	if code != exitOK || !strings.Contains(out, "exemption #1: footer_link_missing on example.cn until 2099-02-01T00:00:00+08:00, by zhang.san") {
		t.Fatalf("add: %d %q %q", code, out, errs)
	}
	for name, args := range map[string][]string{
		"no reason":      {"--site", "example.cn", "--code", "footer_link_missing", "--until", "2099-01-31", "--by", "x"},
		"no by":          {"--site", "example.cn", "--code", "footer_link_missing", "--until", "2099-01-31", "--reason", "r"},
		"unknown site":   {"--site", "nope.cn", "--code", "footer_link_missing", "--until", "2099-01-31", "--reason", "r", "--by", "x"},
		"bad date":       {"--site", "example.cn", "--check", "footer", "--until", "next week", "--reason", "r", "--by", "x"},
		"past date":      {"--site", "example.cn", "--check", "footer", "--until", "2001-01-01", "--reason", "r", "--by", "x"},
		"code and check": {"--site", "example.cn", "--code", "footer_link_missing", "--check", "footer", "--until", "2099-01-31", "--reason", "r", "--by", "x"},
	} {
		code, _, errs := runArgs(append([]string{"exempt", "add", "--config", cfg}, args...)...)
		if code != exitUsage || errs == "" {
			t.Errorf("%s: exit %d, %q", name, code, errs)
		}
	}
	code, out, _ = runArgs("exempt", "list", "--config", cfg, "-o", "json")
	var list []map[string]any
	if code != exitOK || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["created_by"] != "zhang.san" {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, _, errs := runArgs("exempt", "remove", "--config", cfg, "--id", "1", "--by", "li.si"); code != exitUsage || !strings.Contains(errs, "reason") {
		t.Errorf("remove without a reason: %d %q", code, errs)
	}
	code, out, errs = runArgs("exempt", "remove", "--config", cfg, "--id", "#1", "--by", "li.si", "--reason", "withdrawn")
	if code != exitOK || !strings.Contains(out, "removed by li.si") {
		t.Fatalf("remove: %d %q %q", code, out, errs)
	}
	if code, out, _ := runArgs("exempt", "list", "--config", cfg); code != exitOK || strings.Contains(out, "footer_link_missing") {
		t.Errorf("list after removal shows it as active: %q", out)
	}
	if code, out, _ := runArgs("exempt", "list", "--config", cfg, "--all"); code != exitOK || !strings.Contains(out, "removed by li.si") {
		t.Errorf("list --all: %q", out)
	}
}

func TestDossierCommand(t *testing.T) {
	cfg := exemptConfig(t)
	runArgs("exempt", "add", "--config", cfg, "--site", "example.cn", "--check", "contact",
		"--until", "2099-01-31", "--reason", "number being ported", "--by", "zhang.san")
	out := filepath.Join(t.TempDir(), "dossier.html")
	code, stdout, errs := runArgs("dossier", "--config", cfg, "--site", "example.cn", "--out", out)
	if code != exitOK || !strings.Contains(stdout, "1 exemptions") {
		t.Fatalf("dossier: %d %q %q", code, stdout, errs)
	}
	b, _ := os.ReadFile(out)
	for _, want := range []string{"京ICP备2023012345号-1", "示例科技有限公司", "contact:*", "number being ported", "SHA-256 (dossier data): "} {
		if !strings.Contains(string(b), want) {
			t.Errorf("dossier lacks %q", want)
		}
	}
	if code, _, errs := runArgs("dossier", "--config", cfg, "--site", "example.cn", "--out", "x.docx"); code != exitUsage || !strings.Contains(errs, ".html or .pdf") {
		t.Errorf("bad extension: %d %q", code, errs)
	}
}
