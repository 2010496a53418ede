package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Store error operations, the op label of beianwatch_store_errors_total.
const (
	OpBegin  = "begin"  // a transaction could not start (locked, I/O error)
	OpCommit = "commit" // a transaction could not commit (disk full, I/O error)
	OpWrite  = "write"  // a statement outside a transaction failed
	OpProbe  = "probe"  // the readiness probe's write failed
)

// StoreOps lists the op values, for metrics created at zero.
func StoreOps() []string { return []string{OpBegin, OpCommit, OpWrite, OpProbe} }

// OnError sets fn to hear every failure of the database itself (not of
// the caller's logic, nor a cancelled context), by op. Set it before use.
func (s *Store) OnError(fn func(op string, err error)) { s.onError = fn }

func (s *Store) failed(op string, err error) {
	if err == nil || s.onError == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	s.onError(op, err)
}

// isDBError tells a failure of the database engine (SQLite reports a result
// code: SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY...) from the caller's own
// errors returned through a transaction.
func isDBError(err error) bool {
	var coded interface{ Code() int } // SQLite
	var pgErr *pgconn.PgError         // PostgreSQL
	return errors.As(err, &coded) || errors.As(err, &pgErr)
}

// Probe proves the store can write now: it rewrites one row in a
// transaction of its own and commits. A full disk, a read-only file or a
// lock held too long fails it.
func (s *Store) Probe(ctx context.Context, now time.Time) error {
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO store_health (id, probed) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET probed = excluded.probed`, now.UnixMicro())
		return err
	})
	if err != nil {
		// Counted even when the probe timed out: a store locked or stuck
		// past the probe's deadline cannot write either.
		if s.onError != nil && !errors.Is(err, context.Canceled) {
			s.onError(OpProbe, err)
		}
		return fmt.Errorf("the store cannot write: %w", err)
	}
	return nil
}
