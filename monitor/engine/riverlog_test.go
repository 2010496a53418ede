package engine

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// River's chatter shows only at debug level; its warnings and errors, and
// the attributes and groups it adds, come through as they are.
func TestRiverLogHandler(t *testing.T) {
	tests := []struct {
		name     string
		level    slog.Level // the daemon's log level
		log      func(*slog.Logger)
		want     []string
		wantNone bool
	}{
		{"info hidden at info", slog.LevelInfo, func(l *slog.Logger) { l.Info("producer: Producer job counts") }, nil, true},
		{"info shown at debug, as debug", slog.LevelDebug, func(l *slog.Logger) { l.Info("producer: Producer job counts", "queue", "checks") },
			[]string{"level=DEBUG", "Producer job counts", "queue=checks"}, false},
		{"warning kept", slog.LevelInfo, func(l *slog.Logger) { l.Warn("job failed") }, []string{"level=WARN", "job failed"}, false},
		{"error kept", slog.LevelWarn, func(l *slog.Logger) { l.Error("client stopped") }, []string{"level=ERROR"}, false},
		{"attrs and groups kept", slog.LevelInfo, func(l *slog.Logger) { l.With("client", "c1").WithGroup("job").Warn("slow", "id", 7) },
			[]string{"client=c1", "job.id=7"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			inner := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level})
			tt.log(slog.New(riverLogHandler{inner}))
			out := buf.String()
			if tt.wantNone && out != "" {
				t.Fatalf("logged %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%q lacks %q", out, w)
				}
			}
		})
	}
	if (riverLogHandler{slog.NewTextHandler(&bytes.Buffer{}, nil)}).Enabled(context.Background(), slog.LevelInfo) {
		t.Error("River's info is enabled at the daemon's info level")
	}
}
