package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/monitor"
	"github.com/beianwatch/beianwatch/monitor/config"
)

func cmdRun(ctx context.Context, e *env, args []string) int {
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configPath := fs.String("config", "", "configuration file (default: the embedded default: SQLite under ./data, 127.0.0.1:9470, example inventory)")
	logFormat := fs.String("log-format", "", "log format, text or json (overrides log.format)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (overrides log.level)")
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
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch run: %v\n", err)
		return exitUsage
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
	d, err := monitor.New(ctx, cfg, monitor.Options{Logger: logger, Getenv: e.getenv, Version: version})
	if err != nil {
		logger.Error("cannot start", "err", err)
		return exitUsage
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
		return 1
	}
	logger.Info("stopped")
	return exitOK
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default(), nil
	}
	return config.Load(path)
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
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.Format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(e.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (text or json)", l.Format)
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
