package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// InconclusivePrefix marks, in storm_counts and storm_state, the rows of the
// inconclusive-storm guard (our resolver or network failing: most runs of
// a check inconclusive) beside the failure guard's rows of the same check.
const InconclusivePrefix = "inconclusive:"

// StormSites lists, per check, the sites that failed since since with the
// time of their latest failure (from the run history), so that a restarted
// storm guard counts distinct sites as before. Sites whose latest
// inconclusive run is that recent are listed under InconclusivePrefix+check.
func (s *Store) StormSites(ctx context.Context, since time.Time) ([]lifecycle.StormSite, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT check_name, outcome, domain, MAX(checked_at) FROM runs
		WHERE checked_at >= ? AND outcome IN ('fail', 'inconclusive')
		GROUP BY check_name, outcome, domain ORDER BY check_name, outcome, domain`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("read recent failures for the storm guard: %w", err)
	}
	defer rows.Close()
	var out []lifecycle.StormSite
	for rows.Next() {
		var ss lifecycle.StormSite
		var outcome string
		var at int64
		if err := rows.Scan(&ss.Check, &outcome, &ss.Domain, &at); err != nil {
			return nil, fmt.Errorf("read recent failures for the storm guard: %w", err)
		}
		if outcome == "inconclusive" {
			ss.Check = InconclusivePrefix + ss.Check
		}
		ss.At = time.UnixMicro(at).UTC()
		out = append(out, ss)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read recent failures for the storm guard: %w", err)
	}
	return out, nil
}

// HoldUnsentTx holds the owner notices not yet attempted that announce a
// violation of check opened at or after since: a storm was just declared,
// and those openings may be its first wave (with a failure threshold of 1
// they open before the guard has seen enough to engage). The storm's
// settling decides them later like every other held notice. It returns
// the ids held.
func (s *Store) HoldUnsentTx(ctx context.Context, tx *sql.Tx, check string, since time.Time) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+noticeColumns+` FROM notices
		WHERE kind = 'owner' AND state = 'queued' AND attempts = 0 AND created_at >= ?`, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("find unsent notices to hold: %w", err)
	}
	var ids []string
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("find unsent notices to hold: %w", err)
		}
		if OpensSince(n, check, since) {
			ids = append(ids, n.ID)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find unsent notices to hold: %w", err)
	}
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `UPDATE notices SET state = 'held', next_at = NULL, last_error = ?
			WHERE id = ? AND state = 'queued' AND attempts = 0`,
			"held: a storm of the "+check+" check was declared before it was sent", id); err != nil {
			return nil, fmt.Errorf("hold notice %s: %w", id, err)
		}
	}
	return ids, nil
}

// OpensSince reports whether n announces a violation of check ("" = any)
// opened at or after since.
func OpensSince(n Notice, check string, since time.Time) bool {
	for _, t := range n.Payload.Transitions {
		if t.Kind == lifecycle.KindOpened && (check == "" || lifecycle.CheckOf(t.Code) == check) && !t.At.Before(since) {
			return true
		}
	}
	return false
}

// HoldQueued holds a notice that is queued and was never attempted, with
// the reason; false when it was not in that state (sent meanwhile, say).
func (s *Store) HoldQueued(ctx context.Context, id, reason string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE notices SET state = 'held', next_at = NULL, last_error = ?
		WHERE id = ? AND state = 'queued' AND attempts = 0`, reason, id)
	if err != nil {
		return false, fmt.Errorf("hold notice %s: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("hold notice %s: %w", id, err)
	}
	return n > 0, nil
}
