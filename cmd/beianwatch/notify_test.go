package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNotifyTestCommand: exit 0 when the sample is delivered, 1 when the
// receiver refuses it, 2 for usage and configuration errors; the output
// shows the attempt without the secret.
func TestNotifyTestCommand(t *testing.T) {
	var status = http.StatusNoContent
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.URL.Path+" "+string(b))
		w.WriteHeader(status)
		io.WriteString(w, `{"ok":false,"note":"queue full"}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("sites.csv", "domain,icp,status,entity,owner_channel,owner_url,owner_secret_env\n"+
		"a.example.cn,"+sampleICP+",filed,测试公司,webhook,"+srv.URL+"/owner?token=tok-123456789,NOTIFY_TEST_SECRET\n")
	write("bw.yaml", "inventory: {path: sites.csv}\nallow_private: true\n"+
		"dns: {resolvers: [\"127.0.0.1:1\"], authoritative: false}\n")
	cfg := filepath.Join(dir, "bw.yaml")
	t.Setenv("NOTIFY_TEST_SECRET", "s3cret-value")

	code, out, errOut := runCLI("notify", "test", "--config", cfg, "--site", "a.example.cn")
	if code != 0 || !strings.Contains(out, "delivered") || !strings.Contains(out, "HTTP 204") {
		t.Fatalf("delivered: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "tok-123456789") || strings.Contains(out, "s3cret-value") || !strings.Contains(out, "REDACTED") {
		t.Errorf("output shows a secret or no redacted target:\n%s", out)
	}
	if len(got) != 1 || !strings.Contains(got[0], "TEST") {
		t.Fatalf("receiver got %q", got)
	}

	status = http.StatusBadRequest
	code, out, _ = runCLI("notify", "test", "--config", cfg, "--site", "a.example.cn")
	if code != 1 || !strings.Contains(out, "not delivered") || !strings.Contains(out, "queue full") {
		t.Fatalf("refused: exit %d\n%s", code, out)
	}

	for name, args := range map[string][]string{
		"no subcommand":  {"notify"},
		"no config":      {"notify", "test", "--site", "a.example.cn"},
		"no site":        {"notify", "test", "--config", cfg},
		"unknown site":   {"notify", "test", "--config", cfg, "--site", "zzz.example.cn"},
		"no ops channel": {"notify", "test", "--config", cfg, "--ops"},
		"missing config": {"notify", "test", "--config", filepath.Join(dir, "nope.yaml"), "--site", "a.example.cn"},
	} {
		if code, _, errOut := runCLI(args...); code != 2 || errOut == "" {
			t.Errorf("%s: exit %d, stderr %q; want 2 and a reason", name, code, errOut)
		}
	}
	if len(got) != 2 {
		t.Errorf("usage errors sent notices: %d requests", len(got))
	}
}
