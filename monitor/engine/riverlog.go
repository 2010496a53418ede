package engine

import (
	"context"
	"log/slog"
)

// riverLogHandler hands River's log to the daemon's handler one level down:
// River's Info lines (a "Producer job counts" line per queue every five
// seconds while work flows, leadership and maintenance chatter) are about
// River, not about the sites, and would bury the daemon's own lines. They
// show at debug level; River's warnings and errors stay as they are.
type riverLogHandler struct{ inner slog.Handler }

var _ slog.Handler = riverLogHandler{}

func demoted(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

func (h riverLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, demoted(l))
}

func (h riverLogHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = demoted(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h riverLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return riverLogHandler{h.inner.WithAttrs(attrs)}
}

func (h riverLogHandler) WithGroup(name string) slog.Handler {
	return riverLogHandler{h.inner.WithGroup(name)}
}
