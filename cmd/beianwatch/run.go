package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/monitor"
	"github.com/beianwatch/beianwatch/monitor/config"
)

// Exit statuses of `beianwatch run`, beyond exitOK and exitUsage.
const (
	exitRunFailed = 1 // stopped on an error while running
	exitListen    = 4 // cannot listen (the port is in use, or not allowed)
	exitStore     = 5 // the store cannot be opened, migrated or used
)

func runUsage(e *env, fs *pflag.FlagSet) {
	fmt.Fprint(e.stderr, `usage: beianwatch run [flags]

The daemon: checks the inventory's sites on schedule, keeps the violation
state and history in the store, sends rectification notices, and serves
/metrics, /healthz, /readyz and the API until SIGINT or SIGTERM. SIGHUP
reloads the inventory.

The configuration is --config FILE, else the file named by
$BEIANWATCH_CONFIG, else /etc/beianwatch/beianwatch.yaml when it exists,
else the built-in defaults (SQLite under ./data, 127.0.0.1:9470, no
inventory: 0 sites watched until a configuration names one).

flags:
`)
	fs.PrintDefaults()
	fmt.Fprint(e.stderr, `
Exit status: 0 stopped by a signal; 1 stopped on an error while running;
2 usage or configuration error (a bad flag or key, an unreadable
inventory); 4 cannot listen (the address is in use or not allowed);
5 store error (the database cannot be opened, migrated or used).
`)
}

func cmdRun(ctx context.Context, e *env, args []string) int {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configPath := fs.String("config", "", "configuration file (default: $BEIANWATCH_CONFIG, else /etc/beianwatch/beianwatch.yaml when it exists, else the built-in defaults)")
	listen := fs.String("listen", "", "address for /metrics, /healthz, /readyz and the API, HOST:PORT (overrides listen)")
	logFormat := fs.String("log-format", "", "log format, text or json (overrides log.format)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (overrides log.level)")
	fs.Usage = func() { runUsage(e, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "beianwatch run: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "beianwatch run: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	src, err := findConfig(e, *configPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch run: %v\n", err)
		return exitUsage
	}
	cfg, err := loadFound(src)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch run: %v\n", err)
		return exitUsage
	}
	if *listen != "" {
		if _, _, err := net.SplitHostPort(*listen); err != nil {
			fmt.Fprintf(e.stderr, "beianwatch run: --listen: want HOST:PORT, got %q: %v\n", *listen, err)
			return exitUsage
		}
		cfg.Listen = *listen
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	if *logLevel != "" {
		cfg.Log.Level = *logLevel
	}
	logger, err := newLogger(e, cfg.Log)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch run: %v\n", err)
		return exitUsage
	}
	tuneGC(e.getenv, logger)
	logger.Info("configuration", "from", src.From, "file", src.Path)
	d, err := monitor.New(ctx, cfg, monitor.Options{Logger: logger, Getenv: e.getenv, Version: version, Listener: e.listener})
	if err != nil {
		logger.Error("cannot start", "err", err)
		return runExit(err, exitUsage)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				logger.Info("SIGHUP: reloading the inventory")
				d.Reload()
			case <-ctx.Done():
				return
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		logger.Error("stopped with an error", "err", err)
		return runExit(err, exitRunFailed)
	}
	logger.Info("stopped")
	return exitOK
}

// runExit is run's exit status for err: listening and store failures
// have their own, anything else is otherwise.
func runExit(err error, otherwise int) int {
	switch {
	case errors.Is(err, monitor.ErrListen):
		return exitListen
	case errors.Is(err, monitor.ErrStore):
		return exitStore
	}
	return otherwise
}

func newLogger(e *env, l config.Log) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(l.Level) {
	case "", "info":
		level = slog.LevelInfo
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("unknown log level %q", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsText}
	switch strings.ToLower(l.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (text or json)", l.Format)
}

// durationsAsText writes durations as Go writes them ("30s", "1m30s"),
// as the configuration does: slog's JSON handler would write 30000000000
// (nanoseconds), which nobody reading a log can take in.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// tuneGC trades a little CPU for memory in the daemon and the audit: their
// live heap is mostly the inventory (about 1 KB a site) and, for the audit,
// the results, and with Go's default GOGC=100 the heap of a 100,000-site
// run would swing up to twice that between collections. The work is
// network-bound, so collecting at 50% growth costs little. GOGC or
// GOMEMLIMIT in the environment win.
func tuneGC(getenv func(string) string, log *slog.Logger) {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(50)
	log.Debug("GC tuned for a long-running daemon", "gogc", 50)
}
