package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/freeport"
	"github.com/beianwatch/beianwatch/internal/syncbuf"
)

// TestDemoStopsDaemonThenFarm runs the demo supervisor with a stand-in
// daemon: the daemon gets the farm's secrets and files, and cancelling (what
// Ctrl-C does) sends it SIGTERM, waits for it, then stops the farm.
func TestDemoStopsDaemonThenFarm(t *testing.T) {
	fake, err := filepath.Abs(filepath.Join("testdata", "fake-daemon.sh"))
	if err != nil {
		t.Fatal(err)
	}
	listen := freeport.Addr(t) // a port nobody answers /healthz on
	dir := t.TempDir()
	var out, errOut syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--beianwatch", fake, "--dir", dir, "--sites", "20", "--listen", listen}, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "fake daemon: running") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the daemon never started; output:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exited %d; stderr:\n%s", code, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the demo did not stop")
	}
	got := out.String()
	for _, want := range []string{
		"[beianwatch] fake daemon: secrets present",
		"[beianwatch] fake daemon: running with run --config " + filepath.Join(dir, "beianwatch.yaml"),
		"[beianwatch] fake daemon: got SIGTERM",
		"[demo] farm stopped. Notices: 0",
		"compliant_gbk",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "got SIGTERM") > strings.Index(got, "farm stopped") {
		t.Error("the farm stopped before the daemon")
	}
	for _, f := range []string{"sites.csv", "beianwatch.yaml", "farm.env"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("demo did not write %s: %v", f, err)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--sites", "x"}, 2, "invalid argument"},
		{[]string{"serve", "extra"}, 2, "unexpected arguments"},
		{[]string{"serve", "--sites", "0", "--dir", "unused"}, 2, "at least 1 site"},
		{[]string{"demo", "--beianwatch", "/nonexistent/beianwatch"}, 1, "run make build"},
		{[]string{"help"}, 0, ""},
	}
	for _, tt := range tests {
		var out, errOut syncbuf.Buffer
		code := run(context.Background(), tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, errOut.String(), tt.code, tt.want)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	w := prefixWriter(&b, "[x] ")
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\nthree"))
	if got, want := b.String(), "[x] one\n[x] two\n"; got != want {
		t.Errorf("got %q, want %q (a partial line waits for its end)", got, want)
	}
}
