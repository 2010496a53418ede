package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// AddStormCountTx adds a batch's conclusive runs of check to the bucket
// starting at bucket, and forgets buckets that started before forgetBefore.
func (s *Store) AddStormCountTx(ctx context.Context, tx *sql.Tx, c lifecycle.StormCount, forgetBefore time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO storm_counts (check_name, at, checked, failed) VALUES (?, ?, ?, ?)
		ON CONFLICT (check_name, at) DO UPDATE SET checked = storm_counts.checked + excluded.checked, failed = storm_counts.failed + excluded.failed`,
		c.Check, c.At.UnixMicro(), c.Checked, c.Failed); err != nil {
		return fmt.Errorf("count storm runs of %s: %w", c.Check, err)
	}
	// By check, so that the primary key finds the rows.
	if _, err := tx.ExecContext(ctx, `DELETE FROM storm_counts WHERE check_name = ? AND at < ?`, c.Check, forgetBefore.UnixMicro()); err != nil {
		return fmt.Errorf("forget old storm counts: %w", err)
	}
	return nil
}

// SetStormingTx records whether a storm of check is on, from now.
func (s *Store) SetStormingTx(ctx context.Context, tx *sql.Tx, check string, storming bool, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO storm_state (check_name, storming, since) VALUES (?, ?, ?)
		ON CONFLICT (check_name) DO UPDATE SET storming = excluded.storming, since = excluded.since`,
		check, storming, now.UnixMicro()); err != nil {
		return fmt.Errorf("record storm state of %s: %w", check, err)
	}
	return nil
}

// StormMemory returns the counts of buckets that started at or after since,
// and the checks with a storm on.
func (s *Store) StormMemory(ctx context.Context, since time.Time) ([]lifecycle.StormCount, []string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT check_name, at, checked, failed FROM storm_counts WHERE at >= ? ORDER BY check_name, at`,
		since.UnixMicro())
	if err != nil {
		return nil, nil, fmt.Errorf("read storm counts: %w", err)
	}
	var counts []lifecycle.StormCount
	for rows.Next() {
		var c lifecycle.StormCount
		var at int64
		if err := rows.Scan(&c.Check, &at, &c.Checked, &c.Failed); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("read storm counts: %w", err)
		}
		c.At = time.UnixMicro(at).UTC()
		counts = append(counts, c)
	}
	if err := rows.Close(); err != nil {
		return nil, nil, fmt.Errorf("read storm counts: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read storm counts: %w", err)
	}
	var storming []string
	srows, err := s.db.QueryContext(ctx, `SELECT check_name FROM storm_state WHERE storming <> 0 ORDER BY check_name`)
	if err != nil {
		return nil, nil, fmt.Errorf("read storm state: %w", err)
	}
	defer srows.Close()
	for srows.Next() {
		var c string
		if err := srows.Scan(&c); err != nil {
			return nil, nil, fmt.Errorf("read storm state: %w", err)
		}
		storming = append(storming, c)
	}
	if err := srows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read storm state: %w", err)
	}
	return counts, storming, nil
}

// StormStateTx is the storm state of check as the last edge, by any
// process, left it; ok is false when no storm was ever recorded for it.
//
// On PostgreSQL it takes check's storm lock until tx ends, so that of two
// nodes deciding a storm edge at once the second sees the first's
// decision: one storm, one announcement.
func (s *Store) StormStateTx(ctx context.Context, tx *sql.Tx, check string) (storming bool, since time.Time, ok bool, err error) {
	if err := s.lockTx(ctx, tx, "storm", check); err != nil {
		return false, time.Time{}, false, fmt.Errorf("read storm state of %s: %w", check, err)
	}
	var at int64
	err = tx.QueryRowContext(ctx, `SELECT storming, since FROM storm_state WHERE check_name = ?`, check).Scan(&storming, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, time.Time{}, false, nil
	case err != nil:
		return false, time.Time{}, false, fmt.Errorf("read storm state of %s: %w", check, err)
	}
	return storming, time.UnixMicro(at).UTC(), true, nil
}
