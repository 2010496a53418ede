package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// OutcomeCount is how many sites' latest result of Check has Outcome.
type OutcomeCount struct {
	Check   string
	Outcome beian.Outcome
	Count   int
}

// OutcomeCounts counts the latest results by check and outcome.
func (s *Store) OutcomeCounts(ctx context.Context) ([]OutcomeCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT check_name, outcome, COUNT(*) FROM results GROUP BY check_name, outcome ORDER BY check_name, outcome`)
	if err != nil {
		return nil, fmt.Errorf("count latest results: %w", err)
	}
	defer rows.Close()
	var out []OutcomeCount
	for rows.Next() {
		var c OutcomeCount
		var o string
		if err := rows.Scan(&c.Check, &o, &c.Count); err != nil {
			return nil, fmt.Errorf("count latest results: %w", err)
		}
		c.Outcome = beian.Outcome(o)
		out = append(out, c)
	}
	return out, rows.Err()
}

// StatusCounts counts tracked violations by code and status (every
// status, unlike ViolationCounts).
func (s *Store) StatusCounts(ctx context.Context) ([]ViolationCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT code, status, COUNT(*) FROM violations GROUP BY code, status ORDER BY code, status`)
	if err != nil {
		return nil, fmt.Errorf("count violations: %w", err)
	}
	defer rows.Close()
	var out []ViolationCount
	for rows.Next() {
		var c ViolationCount
		var st string
		if err := rows.Scan(&c.Code, &st, &c.Count); err != nil {
			return nil, fmt.Errorf("count violations: %w", err)
		}
		c.Status = lifecycle.Status(st)
		out = append(out, c)
	}
	return out, rows.Err()
}

// OldestNotice is when the oldest notice in state was created; ok is false
// when there is none.
func (s *Store) OldestNotice(ctx context.Context, state NoticeState) (time.Time, bool, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(created_at) FROM notices WHERE state = ?`, string(state)).Scan(&v); err != nil {
		return time.Time{}, false, fmt.Errorf("find the oldest %s notice: %w", state, err)
	}
	return fromMicros(v), v.Valid, nil
}
