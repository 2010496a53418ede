package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/beianwatch/beianwatch/monitor/config"
)

// configEnv names the variable consulted when --config is not given.
const configEnv = "BEIANWATCH_CONFIG"

// systemConfigPath is where an installed daemon's configuration lives
// (the systemd unit in configs/systemd points there too).
const systemConfigPath = "/etc/beianwatch/beianwatch.yaml"

// configSource says where the configuration came from, for the log and
// for error messages.
type configSource struct {
	Path string // "" for the built-in defaults
	From string // "--config", "$BEIANWATCH_CONFIG", the system path, or "built-in defaults"
}

// findConfig decides which configuration a command uses, in this order:
// --config FILE, else $BEIANWATCH_CONFIG, else the system file when it
// exists, else the built-in defaults (Path ""). A named file that does not
// exist is an error when it was named explicitly (flag or variable): a typo
// must not silently fall back to the defaults.
func findConfig(e *env, flag string) (configSource, error) {
	if flag != "" {
		return configSource{Path: flag, From: "--config"}, nil
	}
	if v := e.getenv(configEnv); v != "" {
		return configSource{Path: v, From: "$" + configEnv}, nil
	}
	sys := e.systemConfig
	if sys == "" {
		sys = systemConfigPath
	}
	switch _, err := os.Stat(sys); {
	case err == nil:
		return configSource{Path: sys, From: sys}, nil
	case errors.Is(err, fs.ErrNotExist):
		return configSource{From: "built-in defaults"}, nil
	default:
		// It exists but cannot be looked at (permissions): say so rather
		// than run with a configuration the operator did not mean.
		return configSource{}, fmt.Errorf("configuration %s: %w", sys, err)
	}
}

// loadFound loads what findConfig chose.
func loadFound(src configSource) (*config.Config, error) {
	if src.Path == "" {
		return config.Default(), nil
	}
	cfg, err := config.Load(src.Path)
	if err != nil && src.From != "--config" {
		// The operator may not know where the file came from.
		return nil, fmt.Errorf("configuration chosen by %s: %w", src.From, err)
	}
	return cfg, err
}
