package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/engine"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// ResultRecorder writes results checked outside the daemon's jobs (an
// audit) into the daemon's store as ordinary check runs: the latest
// results, the history, the violation lifecycle and the notices with
// their delivery jobs, through the engine's one recording path. The
// daemon's notify workers deliver those notices; this process delivers
// nothing.
//
// It is safe while a daemon runs on the same store: SQLite in WAL mode
// with a busy timeout serialises the two writers, every Record is one
// short transaction with no network I/O in it, and the job client here is
// never started, so it takes no work from the daemon.
type ResultRecorder struct {
	st  *store.Store
	eng *engine.Engine
}

// OpenRecorder opens the store of cfg (applying migrations if it is new).
func OpenRecorder(ctx context.Context, cfg *config.Config, logger *slog.Logger, now func() time.Time) (*ResultRecorder, error) {
	if now == nil {
		now = time.Now
	}
	st, err := store.Open(ctx, cfg.Storage.Path, store.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("opening the store to record results: %w", err)
	}
	// The storm guard starts from the window kept in the store and counts
	// into it: a pass over the whole inventory where most sites fail one
	// check holds the owner notices and tells the ops channel, as the
	// daemon would, and the daemon sees that storm too.
	eng, err := engine.New(engineConfig(cfg, logger, now),
		engine.Deps{Store: st, Runner: recordOnly{}, Notifier: recordOnly{}, Inventory: recordOnly{}})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("preparing to record results: %w", err)
	}
	if err := eng.LoadStorm(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("preparing to record results: %w", err)
	}
	return &ResultRecorder{st: st, eng: eng}, nil
}

// Record records one batch in one transaction.
func (r *ResultRecorder) Record(ctx context.Context, results []store.SiteResult) (store.Recorded, error) {
	rec, err := r.eng.Record(ctx, results)
	if err != nil {
		return rec, fmt.Errorf("recording %d results: %w", len(results), err)
	}
	return rec, nil
}

// Close closes the store.
// Close hands any storm this process is in over to the daemon (its later
// checks decide the held notices) and closes the store.
func (r *ResultRecorder) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	herr := r.eng.HandOverStorms(ctx)
	if err := r.st.Close(); err != nil {
		return err
	}
	if herr != nil {
		return fmt.Errorf("handing the storm over to the daemon: %w", herr)
	}
	return nil
}

// recordOnly fills the engine's collaborators that only a started engine
// uses. The recorder never starts its engine, so none of these is called;
// should one be, it refuses rather than pretending to work.
type recordOnly struct{}

var errRecordOnly = errors.New("this process only records results; the daemon runs checks and delivers notices")

func (recordOnly) Run(context.Context, string, []string) []store.SiteResult { return nil }

func (recordOnly) Deliver(context.Context, store.Notice) (engine.Delivery, error) {
	return engine.Delivery{}, errRecordOnly
}

func (recordOnly) Domains(string) []string { return nil }
