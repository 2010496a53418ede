package monitor

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// OpenStore opens the database storage names: the SQLite file, or the
// PostgreSQL whose connection string is in the variable storage.dsn_env
// names. The connection string is read at this moment and never logged or
// quoted in an error.
func OpenStore(ctx context.Context, cfg *config.Config, getenv func(string) string, logger *slog.Logger, opts ...store.Option) (*store.Store, error) {
	opts = append([]store.Option{store.WithLogger(logger)}, opts...)
	switch cfg.Storage.Driver {
	case config.DriverPostgres:
		dsn := getenv(cfg.Storage.DSNEnv)
		if dsn == "" {
			return nil, fmt.Errorf("storage.driver is postgres but %s (storage.dsn_env) is not set", cfg.Storage.DSNEnv)
		}
		st, err := store.OpenPostgres(ctx, dsn, opts...)
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL from %s: %w", cfg.Storage.DSNEnv, err)
		}
		return st, nil
	default:
		return store.Open(ctx, cfg.Storage.Path, opts...)
	}
}
