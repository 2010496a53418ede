package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/monitor/config"
)

// syncBuffer is a bytes.Buffer the daemon's log and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunAnywhere: `cd $(mktemp -d) && beianwatch run` starts with no file
// around it, watches 0 sites, is ready, and says how to add an inventory.
func TestRunAnywhere(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	e := &env{stdout: &logs, stderr: &logs, getenv: func(string) string { return "" },
		systemConfig: filepath.Join(dir, "absent.yaml"), listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- cmdRun(ctx, e, nil) }()

	url := "http://" + ln.Addr().String() + "/readyz"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("run exited %d before it was ready:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after SIGTERM, want 0:\n%s", code, logs.String())
	}
	out := logs.String()
	for _, want := range []string{"from=\"built-in defaults\"", "no inventory configured: watching 0 sites", "sites=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "to add one, set inventory.path"); n != 1 {
		t.Errorf("the hint appears %d times, want once:\n%s", n, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "beianwatch.db")); err != nil {
		t.Errorf("the store is not under the working directory: %v", err)
	}
}

// TestRunExitStatuses: each documented failure has its status.
func TestRunExitStatuses(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A store path under a regular file cannot be created.
	write("afile", "x")
	badStore := write("badstore.yaml", "storage: {path: afile/sub/beianwatch.db}\n")
	badKey := write("badkey.yaml", "lisen: 127.0.0.1:1\n")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"port in use", []string{"--listen", busy.Addr().String()}, exitListen, "address already in use"},
		{"bad --listen", []string{"--listen", "nonsense"}, exitUsage, "--listen: want HOST:PORT"},
		{"store error", []string{"--config", badStore, "--listen", "127.0.0.1:0"}, exitStore, "opening the store"},
		{"configuration error", []string{"--config", badKey}, exitUsage, "lisen"},
		{"missing configuration", []string{"--config", filepath.Join(dir, "absent.yaml")}, exitUsage, "absent.yaml"},
		{"unexpected argument", []string{"extra"}, exitUsage, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			e := &env{stdout: &logs, stderr: &logs, getenv: func(string) string { return "" },
				systemConfig: filepath.Join(dir, "absent.yaml")}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if code := cmdRun(ctx, e, tt.args); code != tt.code {
				t.Errorf("exit %d, want %d:\n%s", code, tt.code, logs.String())
			}
			if !strings.Contains(logs.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, logs.String())
			}
		})
	}
}

// TestJSONLogDurations: durations in JSON logs are strings such as "30s".
func TestJSONLogDurations(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var out bytes.Buffer
		log, err := newLogger(&env{stderr: &out}, config.Log{Format: format, Level: "info"})
		if err != nil {
			t.Fatal(err)
		}
		log.Info("shutting down", "grace", 30*time.Second, "group", slog.GroupValue(slog.Duration("wait", 90*time.Second)))
		want := map[string][]string{
			"json": {`"grace":"30s"`, `"wait":"1m30s"`},
			"text": {"grace=30s", "group.wait=1m30s"},
		}[format]
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s log lacks %s: %s", format, w, out.String())
			}
		}
	}
}

// An inventory whose every record is bad is a broken export: the daemon
// refuses it at start (exit 2) as it refuses it on reload, and validate
// says so too.
func TestRunRefusesAllBadInventory(t *testing.T) {
	dir := t.TempDir()
	inv, err := filepath.Abs("testdata/run/allbad.csv")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "beianwatch.yaml")
	db := filepath.Join(dir, "bw.db")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:1\nstorage: {driver: sqlite, path: "+db+"}\ninventory: {path: "+inv+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--config", cfg}, "no record passed lint"},
		{[]string{"validate", "--config", cfg}, "the daemon refuses this file"},
	} {
		code, stdout, stderr := runCLI(tc.args...)
		if code != exitUsage {
			t.Errorf("%s: exit %d, want %d\n%s%s", tc.args[0], code, exitUsage, stdout, stderr)
		}
		if !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%s: output does not say %q:\n%s%s", tc.args[0], tc.want, stdout, stderr)
		}
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the refused start created the store: %v", err)
	}
}

// validate --accept-shrink writes the marker for the inventory as it is,
// which the daemon's watcher accepts (see inventory.TestWatcherShrink).
func TestValidateAcceptShrink(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "sites.csv")
	if err := os.WriteFile(inv, []byte("domain,icp,status\na.example.cn,京ICP备2023012345号-1,filed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "beianwatch.yaml")
	if err := os.WriteFile(cfg, []byte("inventory: {path: sites.csv}\nstorage: {driver: sqlite, path: bw.db}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("validate", "--config", cfg, "--accept-shrink")
	if code != exitOK || !strings.Contains(stdout, "accepted as it is now (1 sites") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(inv + ".accept-shrink")
	if err != nil || len(strings.TrimSpace(string(b))) != 64 {
		t.Fatalf("marker: %q %v", b, err)
	}
}
