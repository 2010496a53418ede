package monitor

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/monitor/config"
)

// TestRunReturnsWhenInventoryWatchUnavailable: the file watch can fail to
// start (the inventory directory is gone, the host is out of inotify
// watches). The daemon then runs without it, and on shutdown Run must
// still return, leaving no goroutine of its own behind; it used to wait
// forever for a watch that never started, so SIGTERM hung the process.
func TestRunReturnsWhenInventoryWatchUnavailable(t *testing.T) {
	h := newHarness(t, []fixtureSite{{Domain: "a.example.cn"}})
	invDir := filepath.Join(h.dir, "inventory")
	if err := os.Mkdir(invDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(h.dir, "sites.csv"), filepath.Join(invDir, "sites.csv")); err != nil {
		t.Fatal(err)
	}
	cfgText, err := os.ReadFile(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, h.cfgPath, strings.Replace(string(cfgText), filepath.Join(h.dir, "sites.csv"), filepath.Join(invDir, "sites.csv"), 1))
	cfg, err := config.Load(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}

	before := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d, err := New(ctx, cfg, Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Getenv: func(k string) string { return h.env[k] },
		Now: h.clock.Now, Listener: ln, PollInterval: 100 * time.Millisecond, GracePeriod: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Loaded; now the directory to watch disappears.
	if err := os.RemoveAll(invDir); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	h.waitFor("daemon ready", func() bool { return d.ready.Load() })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}

	// Everything Run started has ended (idle HTTP keep-alives of the
	// test's own servers are not the daemon's, so allow them a moment).
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before Run, %d after it returned:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
