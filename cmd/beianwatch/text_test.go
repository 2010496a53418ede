package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/checks"
)

func sampleReport() checkReport {
	long := "the homepage address 10.0.0.8 is private and the fetch was refused: " +
		"the crawler never connects to loopback, private, link-local or CGNAT addresses unless private targets are explicitly allowed with --allow-private"
	return checkReport{Domain: "example.cn", Status: checks.StatusFiled, ICP: "京ICP备12345678号-1", Results: []checks.Result{
		{Check: "footer", Outcome: checks.Fail, DurationMS: 41, Findings: []checks.Finding{
			{Code: "footer_link_missing", Severity: checks.Violation, Message: "the number is shown but not linked", Evidence: "京ICP备12345678号-1"}}},
		{Check: "shell", Outcome: checks.Inconclusive, DurationMS: 1203, Reason: "fetch_refused", Details: map[string]string{"why": long}},
		{Check: "dns", Outcome: checks.NotApplicable},
		{Check: "contact", Outcome: checks.Pass, DurationMS: 3},
	}}
}

// TestCheckTextColumnsLineUpWithColour: with colour on, every DETAIL cell
// starts at the same visible column, as without colour.
func TestCheckTextColumnsLineUpWithColour(t *testing.T) {
	for _, color := range []bool{false, true} {
		var out bytes.Buffer
		writeCheckText(&out, sampleReport(), color, 100)
		text := out.String()
		if color != strings.Contains(text, "\x1b[") {
			t.Fatalf("colour %v, output:\n%q", color, text)
		}
		plain := ansiCode.ReplaceAllString(text, "")
		lines := strings.Split(strings.TrimRight(plain, "\n"), "\n")
		col := strings.Index(lines[1], "DETAIL")
		if col < 0 {
			t.Fatalf("no header:\n%s", plain)
		}
		for _, l := range lines[2:] {
			// Rows of the table: a verdict row or a continuation; either
			// way the detail starts at col, and nothing but spaces before
			// it on a continuation line.
			if len(l) <= col || l[col-1] != ' ' || (l[col] == ' ' && !strings.HasPrefix(l[col:], "  evidence")) {
				t.Errorf("colour %v: detail not at column %d: %q\n%s", color, col, l, plain)
			}
		}
	}
}

// TestCheckTextWrapsLongDetails: a long reason is wrapped at word
// boundaries within the width, never cut: every word of it is shown.
func TestCheckTextWrapsLongDetails(t *testing.T) {
	var out bytes.Buffer
	writeCheckText(&out, sampleReport(), false, 80)
	text := out.String()
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if w := displayWidth(l); w > 80 {
			t.Errorf("line %d wide: %q", w, l)
		}
	}
	if strings.Contains(text, "…") {
		t.Errorf("detail cut:\n%s", text)
	}
	joined := strings.Join(strings.Fields(text), " ")
	if !strings.Contains(joined, "unless private targets are explicitly allowed with --allow-private") {
		t.Errorf("the end of the reason is lost:\n%s", text)
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		in    string
		width int
		want  []string
	}{
		{"a b c", 10, []string{"a b c"}},
		{"alpha beta gamma", 10, []string{"alpha beta", "gamma"}},
		{"", 10, []string{""}},
		{"https://example.cn/a/very/long/path", 10, []string{"https://ex", "ample.cn/a", "/very/long", "/path"}},
		// Chinese characters are two columns wide.
		{"京ICP备12345678号", 8, []string{"京ICP备1", "2345678", "号"}},
	}
	for _, tt := range tests {
		if got := wrap(tt.in, tt.width); strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

func TestNoColor(t *testing.T) {
	tests := []struct {
		terminal bool
		noColor  string
		want     bool
	}{
		{true, "", true},
		{true, "1", false},
		{false, "", false},
	}
	for _, tt := range tests {
		e := &env{isTerminal: tt.terminal, getenv: func(k string) string {
			if k == "NO_COLOR" {
				return tt.noColor
			}
			return ""
		}}
		if got := useColor(e); got != tt.want {
			t.Errorf("terminal %v NO_COLOR=%q: colour %v, want %v", tt.terminal, tt.noColor, got, tt.want)
		}
	}
}
