package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// LatestResults returns the latest result of each check on domain.
func (s *Store) LatestResults(ctx context.Context, domain string) ([]SiteResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT domain, check_name, outcome, reason, findings, details, duration_ms, checked_at
		FROM results WHERE domain = ? ORDER BY check_name`, domain)
	if err != nil {
		return nil, fmt.Errorf("load latest results of %s: %w", domain, err)
	}
	defer rows.Close()
	var out []SiteResult
	for rows.Next() {
		var r SiteResult
		var outcome, findings, details string
		var at int64
		if err := rows.Scan(&r.Domain, &r.Result.Check, &outcome, &r.Result.Reason, &findings, &details, &r.Result.DurationMS, &at); err != nil {
			return nil, fmt.Errorf("load latest results of %s: %w", domain, err)
		}
		r.Result.Outcome = beian.Outcome(outcome)
		r.At = time.UnixMicro(at).UTC()
		if err := json.Unmarshal([]byte(findings), &r.Result.Findings); err != nil {
			return nil, fmt.Errorf("decode %s findings of %s: %w", r.Result.Check, domain, err)
		}
		if err := json.Unmarshal([]byte(details), &r.Result.Details); err != nil {
			return nil, fmt.Errorf("decode %s details of %s: %w", r.Result.Check, domain, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ViolationFilter selects violation states.
type ViolationFilter struct {
	Domain   string             // "" = all sites
	Statuses []lifecycle.Status // empty = all tracked (pending, open, escalated, resolved)
	Code     string             // "" = all codes
	Limit    int                // default 1000
	Offset   int                // rows to skip, for paging
}

func (f ViolationFilter) where() (string, []any) {
	q := ` WHERE 1 = 1`
	var args []any
	if f.Domain != "" {
		q += ` AND domain = ?`
		args = append(args, f.Domain)
	}
	if f.Code != "" {
		q += ` AND code = ?`
		args = append(args, f.Code)
	}
	if len(f.Statuses) > 0 {
		q += ` AND status IN (?` + repeat(",?", len(f.Statuses)-1) + `)`
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	return q, args
}

// CountViolations counts the states f selects, ignoring its Limit and
// Offset.
func (s *Store) CountViolations(ctx context.Context, f ViolationFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM violations`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count violations: %w", err)
	}
	return n, nil
}

// Violations lists violation states, by domain and code.
func (s *Store) Violations(ctx context.Context, f ViolationFilter) ([]lifecycle.State, error) {
	where, args := f.where()
	q := `SELECT ` + stateColumns + ` FROM violations` + where + ` ORDER BY domain, code LIMIT ? OFFSET ?`
	args = append(args, limitOr(f.Limit, 1000), max(f.Offset, 0))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list violations: %w", err)
	}
	st, err := scanStates(rows)
	if err != nil {
		return nil, fmt.Errorf("list violations: %w", err)
	}
	return st, nil
}

// ViolationCount is one cell of the violations{code,state} gauge.
type ViolationCount struct {
	Code   string
	Status lifecycle.Status
	Count  int
}

// ViolationCounts counts open and escalated violations per code.
func (s *Store) ViolationCounts(ctx context.Context) ([]ViolationCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT code, status, COUNT(*) FROM violations
		WHERE status IN ('open', 'escalated') GROUP BY code, status ORDER BY code, status`)
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

// StoredTransition is a recorded transition with its notice.
type StoredTransition struct {
	lifecycle.Transition
	ID       int64  `json:"id"`
	NoticeID string `json:"notice_id,omitempty"`
}

// Transitions lists the transitions of domain ("" = all), newest first.
func (s *Store) Transitions(ctx context.Context, domain string, limit int) ([]StoredTransition, error) {
	q := `SELECT id, domain, code, from_state, to_state, kind, at, reason, message, evidence, opened_at, deadline, ops, COALESCE(notice_id, '')
		FROM transitions`
	var args []any
	if domain != "" {
		q += ` WHERE domain = ?`
		args = append(args, domain)
	}
	q += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limitOr(limit, 100))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list transitions: %w", err)
	}
	defer rows.Close()
	var out []StoredTransition
	for rows.Next() {
		var t StoredTransition
		var from, to, kind string
		var at int64
		var opened, deadline sql.NullInt64
		var ops int
		if err := rows.Scan(&t.ID, &t.Domain, &t.Code, &from, &to, &kind, &at, &t.Reason, &t.Message, &t.Evidence,
			&opened, &deadline, &ops, &t.NoticeID); err != nil {
			return nil, fmt.Errorf("list transitions: %w", err)
		}
		t.From, t.To, t.Kind = lifecycle.Status(from), lifecycle.Status(to), lifecycle.Kind(kind)
		t.At = time.UnixMicro(at).UTC()
		t.OpenedAt, t.Deadline = fromMicros(opened), fromMicros(deadline)
		t.Ops = ops != 0
		out = append(out, t)
	}
	return out, rows.Err()
}

// PruneRuns deletes history runs older than before, except the runs that
// are part of a site's record (they changed a violation: marked when
// recorded), which go only when older than recordBefore. It works in
// chunks of chunk rows (default 5000), each its own short statement so
// checks are never blocked for long, and returns how many rows went.
// Transitions, notices and their attempts are never pruned.
func (s *Store) PruneRuns(ctx context.Context, before, recordBefore time.Time, chunk int) (int64, error) {
	chunk = limitOr(chunk, 5000)
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE id IN
			(SELECT id FROM runs WHERE checked_at < ? AND (record = 0 OR checked_at < ?) LIMIT ?)`,
			before.UnixMicro(), recordBefore.UnixMicro(), chunk)
		if err != nil {
			return total, fmt.Errorf("prune run history: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(chunk) {
			// Screenshots are the evidence of runs: they go with them.
			if _, err := s.PruneScreenshots(ctx, before, chunk); err != nil {
				return total, err
			}
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("prune run history: %w", err)
		}
	}
}

// PruneScreenshots deletes the screenshots, older than before, whose run
// has been pruned (a record run keeps its screenshot as long as it is
// kept), in chunks, and returns how many went.
func (s *Store) PruneScreenshots(ctx context.Context, before time.Time, chunk int) (int64, error) {
	chunk = limitOr(chunk, 500)
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `DELETE FROM screenshots WHERE id IN
			(SELECT sc.id FROM screenshots sc WHERE sc.taken_at < ?
			   AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = sc.run_id) LIMIT ?)`, before.UnixMicro(), chunk)
		if err != nil {
			return total, fmt.Errorf("prune screenshots: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < int64(chunk) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("prune screenshots: %w", err)
		}
	}
}

// Screenshot is the PNG a failing rendered run kept as evidence.
type Screenshot struct {
	ID      int64
	Domain  string
	Check   string
	TakenAt time.Time
	PNG     []byte
}

// LatestScreenshot returns the newest screenshot of domain's check (for
// the footer check: what the browser showed of a failing footer), and
// false when there is none.
func (s *Store) LatestScreenshot(ctx context.Context, domain, check string) (Screenshot, bool, error) {
	sc := Screenshot{Domain: domain, Check: check}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT id, taken_at, png FROM screenshots
		WHERE domain = ? AND check_name = ? ORDER BY taken_at DESC, id DESC LIMIT 1`, domain, check).Scan(&sc.ID, &at, &sc.PNG)
	if errors.Is(err, sql.ErrNoRows) {
		return Screenshot{}, false, nil
	}
	if err != nil {
		return Screenshot{}, false, fmt.Errorf("read the latest %s screenshot of %s: %w", check, domain, err)
	}
	sc.TakenAt = time.UnixMicro(at).UTC()
	return sc, true, nil
}

// Runs lists the history of domain's check runs, newest first.
func (s *Store) Runs(ctx context.Context, domain, check string, limit int) ([]SiteResult, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT domain, check_name, outcome, reason, findings, duration_ms, checked_at
		FROM runs WHERE domain = ? AND (? = '' OR check_name = ?) ORDER BY checked_at DESC, id DESC LIMIT ?`,
		domain, check, check, limitOr(limit, 100))
	if err != nil {
		return nil, fmt.Errorf("list runs of %s: %w", domain, err)
	}
	return scanRuns(rows, domain, "list runs of "+domain)
}

// TrackedDomainsTx lists the sites where code is tracked and not resolved
// (pending, open or escalated), in tx. Meant for rare codes (an entity's
// finding), whose sites are few.
func (s *Store) TrackedDomainsTx(ctx context.Context, tx *sql.Tx, code string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT domain FROM violations WHERE code = ? AND status IN ('pending', 'open', 'escalated')`, code)
	if err != nil {
		return nil, fmt.Errorf("list sites tracking %s: %w", code, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("list sites tracking %s: %w", code, err)
		}
		out[d] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sites tracking %s: %w", code, err)
	}
	return out, nil
}

// CheckedDomains lists the sites check has a result for: those that need
// no first run (the dispatcher's first-run window).
func (s *Store) CheckedDomains(ctx context.Context, check string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT domain FROM results WHERE check_name = ?`, check)
	if err != nil {
		return nil, fmt.Errorf("list sites checked by %s: %w", check, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("list sites checked by %s: %w", check, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sites checked by %s: %w", check, err)
	}
	return out, nil
}

// DispatchedThroughTx is the end of the last window of check whose due
// sites were enqueued; ok is false when the check was never dispatched.
//
// On PostgreSQL it takes check's dispatch lock until tx ends: a dispatch
// job still running on one node and the next one on another cannot both
// enqueue the same window.
func (s *Store) DispatchedThroughTx(ctx context.Context, tx *sql.Tx, check string) (t time.Time, ok bool, err error) {
	if err := s.lockTx(ctx, tx, "dispatch", check); err != nil {
		return time.Time{}, false, fmt.Errorf("read dispatch state of %s: %w", check, err)
	}
	var v int64
	err = tx.QueryRowContext(ctx, `SELECT through FROM dispatch_state WHERE check_name = ?`, check).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read dispatch state of %s: %w", check, err)
	}
	return time.UnixMicro(v).UTC(), true, nil
}

// SetDispatchedThroughTx records that check's due sites were enqueued up
// to t, in the transaction that enqueued them.
func (s *Store) SetDispatchedThroughTx(ctx context.Context, tx *sql.Tx, check string, t time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO dispatch_state (check_name, through) VALUES (?, ?)
		ON CONFLICT (check_name) DO UPDATE SET through = excluded.through`, check, t.UnixMicro()); err != nil {
		return fmt.Errorf("write dispatch state of %s: %w", check, err)
	}
	return nil
}

// PhoneStatus returns the cached number status of e164 if it has not
// expired at now. The number is personal data: errors carry it masked.
func (s *Store) PhoneStatus(ctx context.Context, e164 string, now time.Time) (status string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT status FROM phone_cache WHERE e164 = ? AND expires_at > ?`,
		e164, now.UnixMicro()).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read cached status of %s: %w", beian.MaskE164(e164), err)
	}
	return status, true, nil
}

// PutPhoneStatus caches the status of e164 until now+ttl.
func (s *Store) PutPhoneStatus(ctx context.Context, e164, status string, now time.Time, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache status of %s: ttl must be positive, got %s", beian.MaskE164(e164), ttl)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO phone_cache (e164, status, checked_at, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (e164) DO UPDATE SET status = excluded.status, checked_at = excluded.checked_at, expires_at = excluded.expires_at`,
		e164, status, now.UnixMicro(), now.Add(ttl).UnixMicro()); err != nil {
		return fmt.Errorf("cache status of %s: %w", beian.MaskE164(e164), err)
	}
	return nil
}

// PrunePhoneCache deletes expired entries.
func (s *Store) PrunePhoneCache(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM phone_cache WHERE expires_at <= ?`, now.UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("prune phone cache: %w", err)
	}
	return res.RowsAffected()
}

// RecomputeDue refreshes every open violation's next due time for cfg.
// Call it at start: next_due is written with the configuration of the
// time, and a changed remind_every must apply to violations opened before.
func (s *Store) RecomputeDue(ctx context.Context, cfg lifecycle.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("recompute due times: %w", err)
	}
	// On PostgreSQL other nodes may be recording while this one starts:
	// the whole-table update can deadlock with a batch that holds some of
	// the rows. PostgreSQL then aborts one of the two; when it is this
	// one, try again (a batch that loses is retried by its job).
	for attempt := 1; ; attempt++ {
		_, err := s.db.ExecContext(ctx, `UPDATE violations SET next_due = CASE
			WHEN status <> 'open' THEN NULL
			WHEN deadline IS NOT NULL AND deadline < COALESCE(last_notified_at, 0) + ? THEN deadline
			ELSE COALESCE(last_notified_at, 0) + ? END`, cfg.RemindEvery.Microseconds(), cfg.RemindEvery.Microseconds())
		var pgErr *pgconn.PgError
		if err != nil && attempt < 5 && errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001") {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
				continue
			case <-ctx.Done():
			}
		}
		if err != nil {
			return fmt.Errorf("recompute due times: %w", err)
		}
		break
	}
	return nil
}

// SiteTransitions lists domain's transitions with from <= at < to (a zero
// bound is open), oldest first: the site's record.
func (s *Store) SiteTransitions(ctx context.Context, domain string, from, to time.Time) ([]StoredTransition, error) {
	hi := int64(1<<63 - 1)
	if !to.IsZero() {
		hi = to.UnixMicro()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, domain, code, from_state, to_state, kind, at, reason, message, evidence, opened_at, deadline, ops, COALESCE(notice_id, '')
		FROM transitions WHERE domain = ? AND at >= ? AND at < ? ORDER BY at, id`, domain, from.UnixMicro(), hi)
	if err != nil {
		return nil, fmt.Errorf("list transitions of %s: %w", domain, err)
	}
	defer rows.Close()
	var out []StoredTransition
	for rows.Next() {
		var t StoredTransition
		var fromSt, toSt, kind string
		var at int64
		var opened, deadline sql.NullInt64
		var ops int
		if err := rows.Scan(&t.ID, &t.Domain, &t.Code, &fromSt, &toSt, &kind, &at, &t.Reason, &t.Message, &t.Evidence,
			&opened, &deadline, &ops, &t.NoticeID); err != nil {
			return nil, fmt.Errorf("list transitions of %s: %w", domain, err)
		}
		t.From, t.To, t.Kind = lifecycle.Status(fromSt), lifecycle.Status(toSt), lifecycle.Kind(kind)
		t.At = time.UnixMicro(at).UTC()
		t.OpenedAt, t.Deadline = fromMicros(opened), fromMicros(deadline)
		t.Ops = ops != 0
		out = append(out, t)
	}
	return out, rows.Err()
}

// RecordRuns lists domain's runs that changed a violation (kept for
// retention.record), with from <= checked_at < to (a zero bound is open),
// oldest first.
func (s *Store) RecordRuns(ctx context.Context, domain string, from, to time.Time) ([]SiteResult, error) {
	hi := int64(1<<63 - 1)
	if !to.IsZero() {
		hi = to.UnixMicro()
	}
	rows, err := s.db.QueryContext(ctx, `SELECT domain, check_name, outcome, reason, findings, duration_ms, checked_at
		FROM runs WHERE domain = ? AND record = 1 AND checked_at >= ? AND checked_at < ? ORDER BY checked_at, id`,
		domain, from.UnixMicro(), hi)
	if err != nil {
		return nil, fmt.Errorf("list the record runs of %s: %w", domain, err)
	}
	return scanRuns(rows, domain, "list the record runs of "+domain)
}

// scanRuns reads rows of (domain, check_name, outcome, reason, findings,
// duration_ms, checked_at) from the runs table, and closes them.
func scanRuns(rows *sql.Rows, domain, what string) ([]SiteResult, error) {
	defer rows.Close()
	var out []SiteResult
	for rows.Next() {
		var r SiteResult
		var outcome, findings string
		var at int64
		if err := rows.Scan(&r.Domain, &r.Result.Check, &outcome, &r.Result.Reason, &findings, &r.Result.DurationMS, &at); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		r.Result.Outcome = beian.Outcome(outcome)
		r.At = time.UnixMicro(at).UTC()
		if err := json.Unmarshal([]byte(findings), &r.Result.Findings); err != nil {
			return nil, fmt.Errorf("decode findings of %s run: %w", domain, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ScreenshotInfo describes a kept screenshot without its bytes.
type ScreenshotInfo struct {
	ID      int64
	Check   string
	TakenAt time.Time
	Bytes   int
}

// ListScreenshots lists domain's screenshots, newest first, at most limit
// (default 20).
func (s *Store) ListScreenshots(ctx context.Context, domain string, limit int) ([]ScreenshotInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, check_name, taken_at, LENGTH(png) FROM screenshots
		WHERE domain = ? ORDER BY taken_at DESC, id DESC LIMIT ?`, domain, limitOr(limit, 20))
	if err != nil {
		return nil, fmt.Errorf("list screenshots of %s: %w", domain, err)
	}
	defer rows.Close()
	var out []ScreenshotInfo
	for rows.Next() {
		var sc ScreenshotInfo
		var at int64
		if err := rows.Scan(&sc.ID, &sc.Check, &at, &sc.Bytes); err != nil {
			return nil, fmt.Errorf("list screenshots of %s: %w", domain, err)
		}
		sc.TakenAt = time.UnixMicro(at).UTC()
		out = append(out, sc)
	}
	return out, rows.Err()
}

// ScreenshotByID returns one of domain's screenshots, and false when
// domain has no screenshot with that id.
func (s *Store) ScreenshotByID(ctx context.Context, domain string, id int64) (Screenshot, bool, error) {
	sc := Screenshot{ID: id, Domain: domain}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT check_name, taken_at, png FROM screenshots WHERE id = ? AND domain = ?`,
		id, domain).Scan(&sc.Check, &at, &sc.PNG)
	if errors.Is(err, sql.ErrNoRows) {
		return Screenshot{}, false, nil
	}
	if err != nil {
		return Screenshot{}, false, fmt.Errorf("read screenshot %d of %s: %w", id, domain, err)
	}
	sc.TakenAt = time.UnixMicro(at).UTC()
	return sc, true, nil
}

// RiverLeader is the id of the River client that last won the leader
// election; ok is false while nobody holds it. A leader killed without
// resigning stays named until its term expires and another node wins.
func (s *Store) RiverLeader(ctx context.Context) (id string, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT leader_id FROM river_leader`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the job queue's leader: %w", err)
	}
	return id, true, nil
}
