package monitor

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/beianwatch/beianwatch/monitor/config"
)

func TestLoopbackListen(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9470", true},
		{"127.8.0.1:9470", true},
		{"[::1]:9470", true},
		{"localhost:9470", true},
		{"0.0.0.0:9470", false},
		{":9470", false},
		{"[::]:9470", false},
		{"10.1.2.3:9470", false},
		{"monitor.internal:9470", false},
	} {
		if got := loopbackListen(tc.addr); got != tc.want {
			t.Errorf("loopbackListen(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// `listen: 0.0.0.0` opens /metrics to the network: the daemon says so at
// start.
func TestNonLoopbackListenWarns(t *testing.T) {
	for _, tc := range []struct {
		listen string
		warn   bool
	}{{"0.0.0.0:9470", true}, {"127.0.0.1:9470", false}} {
		h := newHarness(t, []fixtureSite{{Domain: "a.example.cn"}})
		cfg, err := config.Load(h.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen = tc.listen
		var logs bytes.Buffer
		d, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		d.store.Close()
		if got := strings.Contains(logs.String(), "not loopback"); got != tc.warn {
			t.Errorf("listen %s: warned %v, want %v\n%s", tc.listen, got, tc.warn, logs.String())
		}
	}
}
