package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// NoticeKind says who a notice is for.
type NoticeKind string

const (
	NoticeOwner NoticeKind = "owner" // the site owner's channel
	NoticeOps   NoticeKind = "ops"   // the provider's own ops channel
)

// NoticeState is where a notice is in its delivery.
type NoticeState string

const (
	NoticeQueued    NoticeState = "queued"    // waiting for (another) delivery attempt
	NoticeHeld      NoticeState = "held"      // held by the storm guard until released or dropped
	NoticeSending   NoticeState = "sending"   // an attempt is in flight (or was, when the daemon died)
	NoticeDelivered NoticeState = "delivered" // a channel accepted it
	NoticeDead      NoticeState = "dead"      // attempts exhausted or permanently refused
	NoticeDropped   NoticeState = "dropped"   // not sent, with the reason recorded: held during a storm and no longer true, or dropped by an operator
)

// ErrNotFound is returned when a notice (or other row) does not exist.
var ErrNotFound = errors.New("not found")

// NoticePayload is what a notice says; the alerts package renders it.
type NoticePayload struct {
	Domain      string                 `json:"domain"`
	Transitions []lifecycle.Transition `json:"transitions,omitempty"`
	// Storm is set on the ops notice raised when the storm guard starts
	// holding owner notices.
	Storm *StormInfo `json:"storm,omitempty"`
}

// StormInfo describes a storm for the ops channel.
type StormInfo struct {
	Check   string    `json:"check"`
	Checked int       `json:"checked"`
	Failed  int       `json:"failed"`
	Since   time.Time `json:"since"`
	// Inconclusive is set for a storm of inconclusive runs (our resolver
	// or network failing), where Failed counts the inconclusive runs and
	// Checked all runs; nothing is held, ops is told it began and ended.
	Inconclusive bool `json:"inconclusive,omitempty"`
	// Ended is set on the notice that tells ops such a storm is over.
	Ended time.Time `json:"ended,omitzero"`
}

// Notice is one message to one audience, with its delivery state.
type Notice struct {
	ID          string        `json:"id"` // the idempotency key receivers deduplicate on
	Domain      string        `json:"domain"`
	Kind        NoticeKind    `json:"kind"`
	Payload     NoticePayload `json:"payload"`
	State       NoticeState   `json:"state"`
	Attempts    int           `json:"attempts"`
	NextAt      time.Time     `json:"next_at,omitzero"`
	LastError   string        `json:"last_error,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	DeliveredAt time.Time     `json:"delivered_at,omitzero"`
}

// Attempt is one delivery attempt of a notice, as recorded for proof.
type Attempt struct {
	NoticeID    string        `json:"notice_id"`
	At          time.Time     `json:"at"`
	Channel     string        `json:"channel"`
	StatusCode  int           `json:"status_code"`
	Duration    time.Duration `json:"duration"`
	BodyExcerpt string        `json:"body_excerpt,omitempty"`
	Error       string        `json:"error,omitempty"`
	// SentText is the notice's text as this attempt sent it, and
	// SentHeaders its signed headers (never a secret).
	SentText    string            `json:"sent_text,omitempty"`
	SentHeaders map[string]string `json:"sent_headers,omitempty"`
}

// maxExcerpt bounds stored response bodies and errors: enough to show why
// a receiver refused, not a copy of whatever it sent back.
const maxExcerpt = 1024

func excerpt(s string) string {
	if len(s) <= maxExcerpt {
		return s
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func createNotice(ctx context.Context, tx *sql.Tx, now time.Time, domain string, kind NoticeKind, p NoticePayload, state NoticeState) (Notice, error) {
	id, err := newNoticeID()
	if err != nil {
		return Notice{}, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Notice{}, fmt.Errorf("encode %s notice for %s: %w", kind, domain, err)
	}
	n := Notice{ID: id, Domain: domain, Kind: kind, Payload: p, State: state, CreatedAt: now.UTC()}
	if state == NoticeQueued {
		n.NextAt = n.CreatedAt
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notices (id, domain, kind, payload, state, attempts, next_at, created_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?)`, n.ID, domain, string(kind), string(body), string(state),
		micros(n.NextAt), now.UnixMicro()); err != nil {
		return Notice{}, fmt.Errorf("create %s notice for %s: %w", kind, domain, err)
	}
	return n, nil
}

// CreateNoticeTx creates a notice outside the lifecycle (the storm alarm
// for ops). A queued notice needs a notify job inserted in the same tx.
func (s *Store) CreateNoticeTx(ctx context.Context, tx *sql.Tx, now time.Time, domain string, kind NoticeKind, p NoticePayload, state NoticeState) (Notice, error) {
	switch kind {
	case NoticeOwner, NoticeOps:
	default:
		return Notice{}, fmt.Errorf("create notice: unknown kind %q", kind)
	}
	if state != NoticeQueued && state != NoticeHeld {
		return Notice{}, fmt.Errorf("create notice: a new notice is queued or held, not %q", state)
	}
	return createNotice(ctx, tx, now, domain, kind, p, state)
}

const noticeColumns = `id, domain, kind, payload, state, attempts, next_at, last_error, created_at, delivered_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanNotice(r rowScanner) (Notice, error) {
	var n Notice
	var kind, state, payload string
	var next, delivered sql.NullInt64
	var created int64
	if err := r.Scan(&n.ID, &n.Domain, &kind, &payload, &state, &n.Attempts, &next, &n.LastError, &created, &delivered); err != nil {
		return Notice{}, err
	}
	n.Kind, n.State = NoticeKind(kind), NoticeState(state)
	n.NextAt, n.DeliveredAt = fromMicros(next), fromMicros(delivered)
	n.CreatedAt = time.UnixMicro(created).UTC()
	if err := json.Unmarshal([]byte(payload), &n.Payload); err != nil {
		return Notice{}, fmt.Errorf("decode payload of notice %s: %w", n.ID, err)
	}
	return n, nil
}

// Notice loads one notice (ErrNotFound when there is none).
func (s *Store) Notice(ctx context.Context, id string) (Notice, error) {
	n, err := scanNotice(s.db.QueryRowContext(ctx, `SELECT `+noticeColumns+` FROM notices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Notice{}, fmt.Errorf("notice %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Notice{}, fmt.Errorf("load notice %s: %w", id, err)
	}
	return n, nil
}

// NoticeFilter selects notices for listing.
type NoticeFilter struct {
	Domain string        // "" = all sites
	States []NoticeState // empty = all states
	Limit  int           // default 100
	Offset int           // rows to skip, for paging
}

func (f NoticeFilter) where() (string, []any) {
	q := ` WHERE 1 = 1`
	var args []any
	if f.Domain != "" {
		q += ` AND domain = ?`
		args = append(args, f.Domain)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (?` + repeat(",?", len(f.States)-1) + `)`
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	return q, args
}

// CountNotices counts the notices f selects, ignoring its Limit and Offset.
func (s *Store) CountNotices(ctx context.Context, f NoticeFilter) (int, error) {
	where, args := f.where()
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notices`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count notices: %w", err)
	}
	return n, nil
}

// Notices lists notices, newest first.
func (s *Store) Notices(ctx context.Context, f NoticeFilter) ([]Notice, error) {
	where, args := f.where()
	q := `SELECT ` + noticeColumns + ` FROM notices` + where + ` ORDER BY created_at DESC, id LIMIT ? OFFSET ?`
	args = append(args, limitOr(f.Limit, 100), max(f.Offset, 0))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("list notices: %w", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	return out, nil
}

// ErrNotDeliverable is returned by BeginAttempt for a notice that is
// delivered, dead, dropped or held: there is nothing to send now.
var ErrNotDeliverable = errors.New("notice is not awaiting delivery")

// BeginAttempt marks a queued notice as sending and counts the attempt. A
// notice found already "sending" is one whose attempt was cut off (the
// daemon died mid-send); it is attempted again with the same id, so the
// receiver can deduplicate.
func (s *Store) BeginAttempt(ctx context.Context, id string, now time.Time) (Notice, error) {
	n, err := scanNotice(s.db.QueryRowContext(ctx, `UPDATE notices SET state = 'sending', attempts = attempts + 1
		WHERE id = ? AND state IN ('queued', 'sending') RETURNING `+noticeColumns, id))
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := s.Notice(ctx, id)
		if err != nil {
			return Notice{}, err
		}
		return cur, fmt.Errorf("notice %s is %s: %w", id, cur.State, ErrNotDeliverable)
	}
	if err != nil {
		s.failed(OpWrite, err)
		return Notice{}, fmt.Errorf("begin delivery of notice %s: %w", id, err)
	}
	return n, nil
}

// FinishAttempt records an attempt and moves the notice to state:
// delivered, queued (retry at nextAt) or dead.
func (s *Store) FinishAttempt(ctx context.Context, a Attempt, state NoticeState, nextAt time.Time) error {
	switch state {
	case NoticeDelivered, NoticeQueued, NoticeDead:
	default:
		return fmt.Errorf("finish delivery of notice %s: cannot move to %q", a.NoticeID, state)
	}
	a.BodyExcerpt, a.Error = excerpt(a.BodyExcerpt), excerpt(a.Error)
	return s.InTx(ctx, func(tx *sql.Tx) error {
		headers := ""
		if len(a.SentHeaders) > 0 {
			b, err := json.Marshal(a.SentHeaders)
			if err != nil {
				return fmt.Errorf("encode the headers of notice %s: %w", a.NoticeID, err)
			}
			headers = string(b)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notice_attempts
			(notice_id, at, channel, status_code, duration_ms, body_excerpt, error, sent_text, sent_headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.NoticeID, a.At.UnixMicro(), a.Channel, a.StatusCode, a.Duration.Milliseconds(), a.BodyExcerpt, a.Error,
			a.SentText, headers); err != nil {
			return fmt.Errorf("record delivery attempt of notice %s: %w", a.NoticeID, err)
		}
		var delivered, next any
		if state == NoticeDelivered {
			delivered = a.At.UnixMicro()
		}
		if state == NoticeQueued {
			next = micros(nextAt)
		}
		res, err := tx.ExecContext(ctx, `UPDATE notices SET state = ?, delivered_at = COALESCE(?, delivered_at),
			next_at = ?, last_error = ? WHERE id = ?`, string(state), delivered, next, a.Error, a.NoticeID)
		if err != nil {
			return fmt.Errorf("update notice %s: %w", a.NoticeID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("update notice %s: %w", a.NoticeID, ErrNotFound)
		}
		return nil
	})
}

// Attempts lists the delivery attempts of a notice, oldest first.
func (s *Store) Attempts(ctx context.Context, noticeID string) ([]Attempt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT notice_id, at, channel, status_code, duration_ms, body_excerpt, error, sent_text, sent_headers
		FROM notice_attempts WHERE notice_id = ? ORDER BY at, id`, noticeID)
	if err != nil {
		return nil, fmt.Errorf("list attempts of notice %s: %w", noticeID, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		var a Attempt
		var at, ms int64
		var headers string
		if err := rows.Scan(&a.NoticeID, &at, &a.Channel, &a.StatusCode, &ms, &a.BodyExcerpt, &a.Error, &a.SentText, &headers); err != nil {
			return nil, fmt.Errorf("list attempts of notice %s: %w", noticeID, err)
		}
		if headers != "" {
			if err := json.Unmarshal([]byte(headers), &a.SentHeaders); err != nil {
				return nil, fmt.Errorf("decode the headers of an attempt of notice %s: %w", noticeID, err)
			}
		}
		a.At, a.Duration = time.UnixMicro(at).UTC(), time.Duration(ms)*time.Millisecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// ReleaseHeldTx moves held notices (of domain, or all when domain is "")
// back to queued and returns their ids; the caller inserts their notify
// jobs in the same tx.
func (s *Store) ReleaseHeldTx(ctx context.Context, tx *sql.Tx, now time.Time, domain string) ([]string, error) {
	q := `UPDATE notices SET state = 'queued', next_at = ? WHERE state = 'held'`
	args := []any{now.UnixMicro()}
	if domain != "" {
		q += ` AND domain = ?`
		args = append(args, domain)
	}
	rows, err := tx.QueryContext(ctx, q+` RETURNING id`, args...)
	if err != nil {
		return nil, fmt.Errorf("release held notices: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("release held notices: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("release held notices: %w", err)
	}
	return ids, nil
}

// DropHeld marks held notices (of domain, or all) as dropped: the operator
// decided the storm was on our side. The transitions stay recorded.
func (s *Store) DropHeld(ctx context.Context, domain string) (int64, error) {
	q := `UPDATE notices SET state = 'dropped', next_at = NULL WHERE state = 'held'`
	var args []any
	if domain != "" {
		q += ` AND domain = ?`
		args = append(args, domain)
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("drop held notices: %w", err)
	}
	return res.RowsAffected()
}

// NoticeCounts counts notices per state (for the notice_queue_depth gauge:
// queued + sending + held).
func (s *Store) NoticeCounts(ctx context.Context) (map[NoticeState]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM notices GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count notices: %w", err)
	}
	defer rows.Close()
	out := map[NoticeState]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count notices: %w", err)
		}
		out[NoticeState(st)] = n
	}
	return out, rows.Err()
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}

func limitOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// RecordInterrupted adds to the audit trail an attempt that was cut off:
// the notice was found "sending" with no attempt in flight, because the
// daemon stopped (or was killed) mid-send. Whether the receiver got it is
// unknown; the next attempt resends the same id so that it can deduplicate.
// The attempt was already counted by BeginAttempt.
func (s *Store) RecordInterrupted(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO notice_attempts (notice_id, at, channel, status_code, duration_ms, body_excerpt, error)
		SELECT id, ?, '', 0, 0, '', ? FROM notices WHERE id = ? AND state = 'sending'`,
		now.UnixMicro(), "interrupted: the daemon stopped during this attempt; its outcome is unknown, so the notice is sent again with the same id", id)
	if err != nil {
		return fmt.Errorf("record the interrupted attempt of notice %s: %w", id, err)
	}
	return nil
}

// HeldNoticesTx lists held notices created after the cursor (createdAt,
// id), oldest first, at most limit of them: the storm guard's backlog,
// read in pages so that one transaction stays short.
func (s *Store) HeldNoticesTx(ctx context.Context, tx *sql.Tx, afterCreated time.Time, afterID string, limit int) ([]Notice, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+noticeColumns+` FROM notices
		WHERE state = 'held' AND (created_at > ? OR (created_at = ? AND id > ?))
		ORDER BY created_at, id LIMIT ?`, afterCreated.UnixMicro(), afterCreated.UnixMicro(), afterID, limitOr(limit, 500))
	if err != nil {
		return nil, fmt.Errorf("list held notices: %w", err)
	}
	defer rows.Close()
	var out []Notice
	for rows.Next() {
		n, err := scanNotice(rows)
		if err != nil {
			return nil, fmt.Errorf("list held notices: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// LatestResultTx is the latest recorded result of check on domain; false
// when the site was never checked.
func (s *Store) LatestResultTx(ctx context.Context, tx *sql.Tx, domain, check string) (SiteResult, bool, error) {
	var r SiteResult
	var outcome, findings string
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT domain, check_name, outcome, reason, findings, checked_at
		FROM results WHERE domain = ? AND check_name = ?`, domain, check).
		Scan(&r.Domain, &r.Result.Check, &outcome, &r.Result.Reason, &findings, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("load the latest %s result of %s: %w", check, domain, err)
	}
	r.Result.Outcome = beian.Outcome(outcome)
	r.At = time.UnixMicro(at).UTC()
	if err := json.Unmarshal([]byte(findings), &r.Result.Findings); err != nil {
		return r, false, fmt.Errorf("decode the latest %s findings of %s: %w", check, domain, err)
	}
	return r, true, nil
}

// ViolationTx is the lifecycle state of (domain, code); false when the
// code is not tracked for the site.
func (s *Store) ViolationTx(ctx context.Context, tx *sql.Tx, domain, code string) (lifecycle.State, bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+stateColumns+` FROM violations WHERE domain = ? AND code = ?`, domain, code)
	if err != nil {
		return lifecycle.State{}, false, fmt.Errorf("load violation %s %s: %w", domain, code, err)
	}
	st, err := scanStates(rows)
	if err != nil {
		return lifecycle.State{}, false, fmt.Errorf("load violation %s %s: %w", domain, code, err)
	}
	if len(st) == 0 {
		return lifecycle.State{}, false, nil
	}
	return st[0], true, nil
}

// SettleHeldTx decides a held notice: with transitions left in keep it is
// queued again (saying only those; the caller inserts its notify job in
// the same tx); with none it is dropped. reason is kept on the notice (in
// last_error, which the API shows) as the record of why. It reports false
// when the notice was no longer held.
func (s *Store) SettleHeldTx(ctx context.Context, tx *sql.Tx, id string, now time.Time, keep []lifecycle.Transition, reason string) (bool, error) {
	var res sql.Result
	var err error
	if len(keep) == 0 {
		res, err = tx.ExecContext(ctx, `UPDATE notices SET state = 'dropped', next_at = NULL, last_error = ?
			WHERE id = ? AND state = 'held'`, excerpt(reason), id)
	} else {
		cur, lerr := scanNotice(tx.QueryRowContext(ctx, `SELECT `+noticeColumns+` FROM notices WHERE id = ?`, id))
		if lerr != nil {
			return false, fmt.Errorf("settle held notice %s: %w", id, lerr)
		}
		p := cur.Payload
		p.Transitions = keep
		body, merr := json.Marshal(p)
		if merr != nil {
			return false, fmt.Errorf("settle held notice %s: encode: %w", id, merr)
		}
		res, err = tx.ExecContext(ctx, `UPDATE notices SET state = 'queued', next_at = ?, payload = ?, last_error = ?
			WHERE id = ? AND state = 'held'`, now.UnixMicro(), string(body), excerpt(reason), id)
	}
	if err != nil {
		return false, fmt.Errorf("settle held notice %s: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// OpeningNoticeState is the delivery state of the owner notice that
// announced the opening of (domain, code) at openedAt; false when no such
// notice is recorded.
func (s *Store) OpeningNoticeState(ctx context.Context, domain, code string, openedAt time.Time) (NoticeState, bool, error) {
	var st string
	err := s.db.QueryRowContext(ctx, `SELECT n.state FROM transitions t JOIN notices n ON n.id = t.notice_id
		WHERE t.domain = ? AND t.code = ? AND t.kind = 'opened' AND t.opened_at = ?
		ORDER BY t.id DESC LIMIT 1`, domain, code, openedAt.UnixMicro()).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find the opening notice of %s %s: %w", domain, code, err)
	}
	return NoticeState(st), true, nil
}

// ReviseQueued removes the transitions in drop from a queued notice that
// has not been attempted yet, or drops the notice when nothing is left,
// recording why. The removal works on the notice as it is now, not on the
// caller's copy: a check batch may have merged a new change into it since
// the caller read it, and that change must still be sent. It reports false
// when the notice had already left that state.
func (s *Store) ReviseQueued(ctx context.Context, id string, drop []lifecycle.Transition, reason string) (bool, error) {
	var ok bool
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanNotice(tx.QueryRowContext(ctx, `SELECT `+noticeColumns+` FROM notices WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("notice %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if cur.State != NoticeQueued || cur.Attempts != 0 {
			return nil
		}
		keep := slices.DeleteFunc(slices.Clone(cur.Payload.Transitions), func(t lifecycle.Transition) bool {
			return slices.ContainsFunc(drop, func(d lifecycle.Transition) bool { return sameTransition(t, d) })
		})
		if len(keep) == 0 {
			_, err = tx.ExecContext(ctx, `UPDATE notices SET state = 'dropped', next_at = NULL, last_error = ? WHERE id = ?`, excerpt(reason), id)
		} else {
			p := cur.Payload
			p.Transitions = keep
			body, merr := json.Marshal(p)
			if merr != nil {
				return fmt.Errorf("encode: %w", merr)
			}
			_, err = tx.ExecContext(ctx, `UPDATE notices SET payload = ?, last_error = ? WHERE id = ?`, string(body), excerpt(reason), id)
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("revise notice %s: %w", id, err)
	}
	return ok, nil
}

// sameTransition reports whether a and b are the same change of the same
// violation (a merge replaces a code's change with a later one, which is
// then a different change).
func sameTransition(a, b lifecycle.Transition) bool {
	return a.Code == b.Code && a.Kind == b.Kind && a.At.Equal(b.At) && a.OpenedAt.Equal(b.OpenedAt)
}
