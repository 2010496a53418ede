package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/engine"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/ledger"
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
	l   *ledger.Ledger
	inv atomic.Pointer[inventory.Inventory]
}

// OpenRecorder opens the store of cfg (applying migrations if it is new).
func OpenRecorder(ctx context.Context, cfg *config.Config, logger *slog.Logger, now func() time.Time) (*ResultRecorder, error) {
	if now == nil {
		now = time.Now
	}
	st, err := OpenStore(ctx, cfg, os.Getenv, logger)
	if err != nil {
		return nil, fmt.Errorf("opening the store to record results: %w", err)
	}
	enqueue, err := engine.NoticeEnqueuer(st)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("preparing to record results: %w", err)
	}
	// The ledger is configured as the daemon's (engineConfig), so that
	// both judge alike. Its storm guard starts from the window kept in
	// the store and counts into it: a pass over the whole inventory where
	// most sites fail one check holds the owner notices and tells the ops
	// channel, as the daemon would, and the daemon sees that storm too.
	ec := engineConfig(cfg, logger, now)
	r := &ResultRecorder{st: st}
	// Entities are judged as the daemon judges them, once the caller has
	// said which inventory the results are about (SetInventory).
	judge := &entityJudge{st: st, current: r.inv.Load}
	l, err := ledger.New(ledger.Config{
		Lifecycle: ec.Lifecycle, Storm: ec.Storm, HeldMaxAge: ec.HeldMaxAge, Logger: logger, Now: now,
		Derive: judge.deriveEntities,
	}, ledger.Deps{Store: st, Enqueue: enqueue})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("preparing to record results: %w", err)
	}
	if err := l.Load(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("preparing to record results: %w", err)
	}
	r.l = l
	return r, nil
}

// SetInventory says which inventory the recorded results are about, so
// that the sites' entities are judged (entity_empty_shell) as the daemon
// would; until it is called, none are.
func (r *ResultRecorder) SetInventory(inv *inventory.Inventory) { r.inv.Store(inv) }

// Record records one batch in one transaction.
func (r *ResultRecorder) Record(ctx context.Context, results []store.SiteResult) (store.Recorded, error) {
	rec, err := r.l.Record(ctx, results)
	if err != nil {
		return rec, fmt.Errorf("recording %d results: %w", len(results), err)
	}
	return rec, nil
}

// Close hands any storm this process is in over to the daemon (its later
// checks decide the held notices) and closes the store.
func (r *ResultRecorder) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	herr := r.l.HandOverStorms(ctx)
	if err := r.st.Close(); err != nil {
		return err
	}
	if herr != nil {
		return fmt.Errorf("handing the storm over to the daemon: %w", herr)
	}
	return nil
}
