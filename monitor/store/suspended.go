package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Suspension is a site that left the inventory and has not come back.
type Suspension struct {
	Domain string
	Since  time.Time
}

// Suspend records that domains left the inventory at now. A site already
// suspended keeps its first time: withdraw_after counts from when it left.
func (s *Store) Suspend(ctx context.Context, now time.Time, domains []string) error {
	if len(domains) == 0 {
		return nil
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		for _, d := range domains {
			if _, err := tx.ExecContext(ctx, `INSERT INTO suspended_sites (domain, since) VALUES (?, ?)
				ON CONFLICT (domain) DO NOTHING`, d, now.UnixMicro()); err != nil {
				return fmt.Errorf("suspend %s: %w", d, err)
			}
		}
		return nil
	})
}

// Resume forgets the suspension of domains that are back in the
// inventory, and returns those that were suspended. Nothing else changes:
// their violations and notices were left as they were.
func (s *Store) Resume(ctx context.Context, domains []string) ([]Suspension, error) {
	if len(domains) == 0 {
		return nil, nil
	}
	var out []Suspension
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		for _, d := range domains {
			var since int64
			err := tx.QueryRowContext(ctx, `DELETE FROM suspended_sites WHERE domain = ? RETURNING since`, d).Scan(&since)
			if err == sql.ErrNoRows {
				continue
			}
			if err != nil {
				return fmt.Errorf("resume %s: %w", d, err)
			}
			out = append(out, Suspension{Domain: d, Since: time.UnixMicro(since).UTC()})
		}
		return nil
	})
	return out, err
}

// Suspensions lists the suspended sites, longest gone first.
func (s *Store) Suspensions(ctx context.Context) ([]Suspension, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT domain, since FROM suspended_sites ORDER BY since, domain`)
	if err != nil {
		return nil, fmt.Errorf("list suspended sites: %w", err)
	}
	defer rows.Close()
	var out []Suspension
	for rows.Next() {
		var sp Suspension
		var since int64
		if err := rows.Scan(&sp.Domain, &since); err != nil {
			return nil, fmt.Errorf("list suspended sites: %w", err)
		}
		sp.Since = time.UnixMicro(since).UTC()
		out = append(out, sp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list suspended sites: %w", err)
	}
	return out, nil
}

// TrackedDomains lists the sites the store still has business with: an
// active violation (pending, open or escalated) or a notice not yet
// settled (queued, held or sending). At start, those missing from the
// inventory are suspended rather than forgotten.
func (s *Store) TrackedDomains(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT domain FROM violations WHERE status IN ('pending', 'open', 'escalated')
		UNION SELECT domain FROM notices WHERE state IN ('queued', 'held', 'sending') AND domain <> ''`)
	if err != nil {
		return nil, fmt.Errorf("list tracked sites: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("list tracked sites: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tracked sites: %w", err)
	}
	return out, nil
}

// EndSuspension closes the suspension of a site withdrawn for good: its
// notices still waiting (queued or held) are dropped with reason, and the
// suspension is forgotten. A notice being sent is left to finish.
func (s *Store) EndSuspension(ctx context.Context, domain, reason string) (dropped int64, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notices SET state = 'dropped', next_at = NULL, last_error = ?
			WHERE domain = ? AND state IN ('queued', 'held')`, excerpt(reason), domain)
		if err != nil {
			return fmt.Errorf("drop notices of %s: %w", domain, err)
		}
		if dropped, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM suspended_sites WHERE domain = ?`, domain); err != nil {
			return fmt.Errorf("end suspension of %s: %w", domain, err)
		}
		return nil
	})
	return dropped, err
}
