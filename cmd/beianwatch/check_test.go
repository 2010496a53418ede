package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const sampleICP = "京ICP备2024000001号-1"

func sitePage(link string) string {
	return "<html><head><meta charset='utf-8'></head><body><p>" + strings.Repeat("本站提供企业信息化咨询服务。", 20) +
		"</p><footer><a href='" + link + "'>" + sampleICP + "</a></footer></body></html>"
}

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheckCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/good":
			w.Write([]byte(sitePage("https://beian.miit.gov.cn/")))
		case "/old":
			w.Write([]byte(sitePage("http://www.miitbeian.gov.cn/")))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	footer := []string{"check", "--only", "footer", "--allow-private", "--icp", sampleICP, "-o", "json"}
	tests := []struct {
		name    string
		args    []string
		code    int
		stderr  string // a substring of the error message
		outcome string
	}{
		{"compliant", append(footer, "--url", srv.URL+"/good", "example.cn"), exitOK, "", "pass"},
		{"obsolete link", append(footer, "--url", srv.URL+"/old", "example.cn"), exitViolation, "", "fail"},
		{"404 page is inconclusive", append(footer, "--url", srv.URL+"/missing", "example.cn"), exitInconclusive, "", "inconclusive"},
		{"private target refused", []string{"check", "--only", "footer", "--icp", sampleICP, "-o", "json", "--url", srv.URL + "/good", "example.cn"}, exitInconclusive, "", "inconclusive"},
		{"unknown flag", []string{"check", "--no-such-flag", "example.cn"}, exitUsage, "unknown flag", ""},
		{"malformed ICP", []string{"check", "--icp", "ICP12345", "example.cn"}, exitUsage, "province", ""},
		{"licence as ICP", []string{"check", "--icp", "京ICP证000001号", "example.cn"}, exitUsage, "licence", ""},
		{"bad PSB", []string{"check", "--psb", "京公网安备123号", "example.cn"}, exitUsage, "14", ""},
		{"bad status", []string{"check", "--status", "granted", "example.cn"}, exitUsage, "unknown filing status", ""},
		{"bad range", []string{"check", "--ip-range", "10.0.0.9-10.0.0.1", "example.cn"}, exitUsage, "ends before it starts", ""},
		{"bad only", []string{"check", "--only", "footer,bogus", "example.cn"}, exitUsage, "unknown check", ""},
		{"bad output", []string{"check", "-o", "yaml", "example.cn"}, exitUsage, "text or json", ""},
		{"bad url", []string{"check", "--url", "ftp://x", "example.cn"}, exitUsage, "http", ""},
		{"bad contact role", []string{"check", "--contact", "boss:13812345678", "example.cn"}, exitUsage, "role", ""},
		{"bad domain", []string{"check", "exa mple..cn"}, exitUsage, "", ""},
		{"no domain", []string{"check"}, exitUsage, "DOMAIN", ""},
		{"two domains", []string{"check", "a.cn", "b.cn"}, exitUsage, "DOMAIN", ""},
		{"unknown command", []string{"frobnicate"}, exitUsage, "unknown command", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if strings.Contains(errOut, "goroutine ") || strings.Contains(errOut, "panic") {
				t.Fatalf("stack trace on stderr: %s", errOut)
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr %q does not mention %q", errOut, tc.stderr)
			}
			if tc.outcome == "" {
				return
			}
			var rep struct {
				Domain  string `json:"domain"`
				Results []struct {
					Check      string `json:"check"`
					Outcome    string `json:"outcome"`
					DurationMS *int64 `json:"duration_ms"`
					Findings   []struct {
						Code, Severity, Message, Evidence *string
					} `json:"findings"`
				} `json:"results"`
			}
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, out)
			}
			if rep.Domain != "example.cn" || len(rep.Results) != 1 || rep.Results[0].Check != "footer" || rep.Results[0].DurationMS == nil {
				t.Fatalf("report shape: %s", out)
			}
			if rep.Results[0].Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s", rep.Results[0].Outcome, tc.outcome)
			}
			for _, f := range rep.Results[0].Findings {
				if f.Code == nil || f.Severity == nil || f.Message == nil || f.Evidence == nil {
					t.Errorf("finding lacks a contract key: %s", out)
				}
			}
		})
	}
}

// TestCheckMasksContacts: whole phone numbers never reach text output,
// and reach JSON only with --reveal-contacts.
func TestCheckMasksContacts(t *testing.T) {
	const phone = "13812345678"
	args := []string{"check", "--only", "contact", "--contact", "site_head:" + phone, "--contact", "emergency:1541234567", "example.cn"}
	for _, extra := range [][]string{{"-o", "text"}, {"-o", "json"}} {
		code, out, errOut := runCLI(append(args, extra...)...)
		if code != exitViolation { // the second number is malformed
			t.Fatalf("%v: exit %d\n%s%s", extra, code, out, errOut)
		}
		if strings.Contains(out+errOut, phone) || strings.Contains(out+errOut, "1541234567") {
			t.Errorf("%v: unmasked number in output:\n%s%s", extra, out, errOut)
		}
		if !strings.Contains(out, "138****5678") {
			t.Errorf("%v: masked number missing:\n%s", extra, out)
		}
	}
	_, out, _ := runCLI(append(args, "-o", "json", "--reveal-contacts")...)
	if !strings.Contains(out, "1541234567") {
		t.Errorf("--reveal-contacts did not reveal the number:\n%s", out)
	}
}
