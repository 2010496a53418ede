package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// Exemption is an operator's decision that a site's code, or every code of
// one of its checks, must not open violations until Until (豁免).
type Exemption struct {
	ID     int64  `json:"id"`
	Domain string `json:"domain"`
	Check  string `json:"check"`
	// Code is the exempted finding code; "" exempts every code of Check.
	Code      string    `json:"code,omitempty"`
	Until     time.Time `json:"until"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	RemovedAt time.Time `json:"removed_at,omitzero"`
	RemovedBy string    `json:"removed_by,omitempty"`
	// RemovedReason is why it was removed before its end.
	RemovedReason string `json:"removed_reason,omitempty"`
}

// Active reports whether e applies at t.
func (e Exemption) Active(t time.Time) bool { return e.RemovedAt.IsZero() && t.Before(e.Until) }

// Covers reports whether e covers code (at any time; see Active).
func (e Exemption) Covers(code string) bool {
	if e.Code != "" {
		return e.Code == code
	}
	return lifecycle.CheckOf(code) == e.Check
}

// Scope is what e exempts, as people read it: the code, or "check:*".
func (e Exemption) Scope() string {
	if e.Code != "" {
		return e.Code
	}
	return e.Check + ":*"
}

// Audit actions.
const (
	AuditExemptionAdded   = "exemption_added"
	AuditExemptionRemoved = "exemption_removed"
	AuditExemptionExpired = "exemption_expired"
	AuditCheckRequested   = "check_requested"
)

// AuditEntry is one line of the audit trail.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Domain  string    `json:"domain,omitempty"`
	Subject string    `json:"subject,omitempty"`
	Reason  string    `json:"reason,omitempty"`
}

// ErrInvalid wraps a request that cannot be carried out as asked.
var ErrInvalid = errors.New("invalid request")

const exemptionColumns = `id, domain, check_name, code, until_at, reason, created_by, created_at, removed_at, removed_by, removed_reason`

func scanExemption(r rowScanner) (Exemption, error) {
	var e Exemption
	var until, created int64
	var removed sql.NullInt64
	if err := r.Scan(&e.ID, &e.Domain, &e.Check, &e.Code, &until, &e.Reason, &e.CreatedBy, &created,
		&removed, &e.RemovedBy, &e.RemovedReason); err != nil {
		return e, err
	}
	e.Until, e.CreatedAt, e.RemovedAt = time.UnixMicro(until).UTC(), time.UnixMicro(created).UTC(), fromMicros(removed)
	return e, nil
}

func scanExemptions(rows *sql.Rows) ([]Exemption, error) {
	defer rows.Close()
	var out []Exemption
	for rows.Next() {
		e, err := scanExemption(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// exemptionSet holds the exemptions in force, by domain.
type exemptionSet map[string][]Exemption

// covers returns the exempt predicate of domain's run finished at at, or
// nil when nothing is exempted for it.
func (s exemptionSet) covers(domain string, at time.Time) func(code string) bool {
	es := s[domain]
	if len(es) == 0 {
		return nil
	}
	return func(code string) bool {
		return slices.ContainsFunc(es, func(e Exemption) bool { return e.Active(at) && e.Covers(code) })
	}
}

// activeExemptionsTx loads every exemption not removed whose end is after
// the earliest moment a run of this batch may have finished (runs carry
// their own time; each is judged by Active at it). The table holds a few
// operator decisions, not one row per site, so loading them all is cheap.
func activeExemptionsTx(ctx context.Context, tx *sql.Tx, now time.Time) (exemptionSet, error) {
	// A batch's runs finished before its Now; a day's margin keeps runs
	// that waited in a batch judged by the exemptions of their own time.
	rows, err := tx.QueryContext(ctx, `SELECT `+exemptionColumns+` FROM exemptions
		WHERE removed_at IS NULL AND until_at > ?`, now.Add(-24*time.Hour).UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("load exemptions: %w", err)
	}
	es, err := scanExemptions(rows)
	if err != nil {
		return nil, fmt.Errorf("load exemptions: %w", err)
	}
	set := exemptionSet{}
	for _, e := range es {
		set[e.Domain] = append(set[e.Domain], e)
	}
	return set, nil
}

// ValidateExemption reports what is wrong with a new exemption.
func ValidateExemption(e Exemption, now time.Time) error {
	var errs []error
	if e.Domain == "" {
		errs = append(errs, errors.New("the site is required"))
	}
	switch {
	case e.Code == "" && e.Check == "":
		errs = append(errs, errors.New("name a finding code or a check"))
	case e.Code != "" && e.Check != "" && lifecycle.CheckOf(e.Code) != e.Check:
		errs = append(errs, fmt.Errorf("code %q does not belong to check %q", e.Code, e.Check))
	case e.Code != "" && lifecycle.CheckOf(e.Code) == "":
		errs = append(errs, fmt.Errorf("%q is not a finding code (want check_name, e.g. footer_link_missing)", e.Code))
	case !slices.Contains(beian.Checks(), e.Check):
		errs = append(errs, fmt.Errorf("unknown check %q (want one of %s)", e.Check, strings.Join(beian.Checks(), ", ")))
	}
	if e.Until.IsZero() {
		errs = append(errs, errors.New("the end date is required"))
	} else if !e.Until.After(now) {
		errs = append(errs, fmt.Errorf("the end date %s is not in the future", e.Until.Format(time.RFC3339)))
	}
	if strings.TrimSpace(e.Reason) == "" {
		errs = append(errs, errors.New("the reason is required (the audit trail says why)"))
	}
	if strings.TrimSpace(e.CreatedBy) == "" {
		errs = append(errs, errors.New("who grants it is required (the audit trail says who)"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// AddExemption records e (its ID and CreatedAt are set from the store and
// now), writes the audit entry and closes the site's violations it covers
// as exempted, without telling the owner: the transitions are recorded
// without a notice, and the covered openings still waiting unsent in an
// owner notice are taken out of it (a notice left empty is dropped). All
// in one transaction.
func (s *Store) AddExemption(ctx context.Context, now time.Time, cfg lifecycle.Config, e Exemption) (Exemption, []lifecycle.Transition, error) {
	if e.Check == "" {
		e.Check = lifecycle.CheckOf(e.Code)
	}
	if err := ValidateExemption(e, now); err != nil {
		return e, nil, err
	}
	e.CreatedAt = now.UTC()
	e.Until = e.Until.UTC()
	var trs []lifecycle.Transition
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO exemptions
			(domain, check_name, code, until_at, reason, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.Domain, e.Check, e.Code, e.Until.UnixMicro(), e.Reason, e.CreatedBy, e.CreatedAt.UnixMicro()).Scan(&e.ID); err != nil {
			return fmt.Errorf("add exemption for %s: %w", e.Domain, err)
		}
		if err := auditTx(ctx, tx, AuditEntry{At: now, Actor: e.CreatedBy, Action: AuditExemptionAdded, Domain: e.Domain,
			Subject: exemptionSubject(e), Reason: e.Reason}); err != nil {
			return err
		}
		before, err := s.loadStates(ctx, tx, e.Domain)
		if err != nil {
			return err
		}
		reason := fmt.Sprintf("exemption #%d by %s until %s: %s", e.ID, e.CreatedBy, e.Until.Format(time.RFC3339), e.Reason)
		next, t := lifecycle.Exempt(now, e.Domain, reason, e.Covers, before)
		if err := saveStates(ctx, tx, cfg, before, next); err != nil {
			return err
		}
		if _, err := s.recordTransitions(ctx, tx, now, e.Domain, t, false); err != nil {
			return err
		}
		if err := unannounceTx(ctx, tx, e.Domain, e.Covers); err != nil {
			return err
		}
		trs = t
		return nil
	})
	if err != nil {
		return e, nil, err
	}
	return e, trs, nil
}

func exemptionSubject(e Exemption) string {
	return fmt.Sprintf("exemption #%d %s until %s", e.ID, e.Scope(), e.Until.Format(time.RFC3339))
}

// unannounceTx takes the covered codes out of the site's owner notices not
// yet attempted (queued or held): an exempted violation is not announced.
func unannounceTx(ctx context.Context, tx *sql.Tx, domain string, covers func(string) bool) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, payload FROM notices
		WHERE domain = ? AND kind = 'owner' AND state IN ('queued', 'held') AND attempts = 0`, domain)
	if err != nil {
		return fmt.Errorf("find unsent notices of %s: %w", domain, err)
	}
	type unsent struct{ id, payload string }
	var ns []unsent
	for rows.Next() {
		var u unsent
		if err := rows.Scan(&u.id, &u.payload); err != nil {
			rows.Close()
			return fmt.Errorf("find unsent notices of %s: %w", domain, err)
		}
		ns = append(ns, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("find unsent notices of %s: %w", domain, err)
	}
	for _, u := range ns {
		var p NoticePayload
		if err := json.Unmarshal([]byte(u.payload), &p); err != nil {
			return fmt.Errorf("decode notice %s: %w", u.id, err)
		}
		kept := slices.DeleteFunc(slices.Clone(p.Transitions), func(t lifecycle.Transition) bool { return covers(t.Code) })
		if len(kept) == len(p.Transitions) {
			continue
		}
		if len(kept) == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE notices SET state = 'dropped', next_at = NULL, last_error = ? WHERE id = ?`,
				"every violation it announced was exempted before it was sent", u.id); err != nil {
				return fmt.Errorf("drop notice %s: %w", u.id, err)
			}
			continue
		}
		p.Transitions = kept
		body, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("encode notice %s: %w", u.id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notices SET payload = ? WHERE id = ?`, string(body), u.id); err != nil {
			return fmt.Errorf("update notice %s: %w", u.id, err)
		}
	}
	return nil
}

// RemoveExemption ends exemption id now, recording who and why. Removing
// one already removed or expired is an error (ErrNotFound when no such id).
func (s *Store) RemoveExemption(ctx context.Context, now time.Time, id int64, by, reason string) (Exemption, error) {
	if strings.TrimSpace(by) == "" {
		return Exemption{}, fmt.Errorf("%w: who removes it is required (the audit trail says who)", ErrInvalid)
	}
	if strings.TrimSpace(reason) == "" {
		return Exemption{}, fmt.Errorf("%w: the reason is required (the audit trail says why)", ErrInvalid)
	}
	var e Exemption
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = scanExemption(tx.QueryRowContext(ctx, `SELECT `+exemptionColumns+` FROM exemptions WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("exemption #%d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("load exemption #%d: %w", id, err)
		}
		switch {
		case !e.RemovedAt.IsZero():
			return fmt.Errorf("%w: exemption #%d was already removed by %s", ErrInvalid, id, e.RemovedBy)
		case !now.Before(e.Until):
			return fmt.Errorf("%w: exemption #%d already ended at %s", ErrInvalid, id, e.Until.Format(time.RFC3339))
		}
		e.RemovedAt, e.RemovedBy, e.RemovedReason = now.UTC(), by, reason
		if _, err := tx.ExecContext(ctx, `UPDATE exemptions SET removed_at = ?, removed_by = ?, removed_reason = ? WHERE id = ?`,
			now.UnixMicro(), by, reason, id); err != nil {
			return fmt.Errorf("remove exemption #%d: %w", id, err)
		}
		return auditTx(ctx, tx, AuditEntry{At: now, Actor: by, Action: AuditExemptionRemoved, Domain: e.Domain,
			Subject: exemptionSubject(e), Reason: reason})
	})
	return e, err
}

// ExemptionFilter selects exemptions.
type ExemptionFilter struct {
	Domain string    // "" = all sites
	Active time.Time // non-zero: only those in force at this time
}

// Exemptions lists exemptions, newest first.
func (s *Store) Exemptions(ctx context.Context, f ExemptionFilter) ([]Exemption, error) {
	q := `SELECT ` + exemptionColumns + ` FROM exemptions WHERE 1 = 1`
	var args []any
	if f.Domain != "" {
		q += ` AND domain = ?`
		args = append(args, f.Domain)
	}
	if !f.Active.IsZero() {
		q += ` AND removed_at IS NULL AND until_at > ?`
		args = append(args, f.Active.UnixMicro())
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list exemptions: %w", err)
	}
	es, err := scanExemptions(rows)
	if err != nil {
		return nil, fmt.Errorf("list exemptions: %w", err)
	}
	return es, nil
}

// LogExpiredExemptions writes an audit entry for each exemption that ended
// by now and was not removed, once. Expiry itself needs no action: runs
// are judged by the exemptions in force at their time.
func (s *Store) LogExpiredExemptions(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+exemptionColumns+` FROM exemptions
			WHERE removed_at IS NULL AND expiry_logged = 0 AND until_at <= ? ORDER BY until_at, id`, now.UnixMicro())
		if err != nil {
			return fmt.Errorf("find expired exemptions: %w", err)
		}
		es, err := scanExemptions(rows)
		if err != nil {
			return fmt.Errorf("find expired exemptions: %w", err)
		}
		for _, e := range es {
			if err := auditTx(ctx, tx, AuditEntry{At: e.Until, Actor: "system", Action: AuditExemptionExpired, Domain: e.Domain,
				Subject: exemptionSubject(e), Reason: "granted by " + e.CreatedBy + ": " + e.Reason}); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE exemptions SET expiry_logged = 1 WHERE id = ?`, e.ID); err != nil {
				return fmt.Errorf("mark exemption #%d expired: %w", e.ID, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// ExemptionCounts counts the exemptions in force at now, by check.
func (s *Store) ExemptionCounts(ctx context.Context, now time.Time) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT check_name, COUNT(*) FROM exemptions
		WHERE removed_at IS NULL AND until_at > ? GROUP BY check_name`, now.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("count exemptions: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var c string
		var n int
		if err := rows.Scan(&c, &n); err != nil {
			return nil, fmt.Errorf("count exemptions: %w", err)
		}
		out[c] = n
	}
	return out, rows.Err()
}

// Audit records one entry of the audit trail.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	return s.InTx(ctx, func(tx *sql.Tx) error { return auditTx(ctx, tx, e) })
}

func auditTx(ctx context.Context, tx *sql.Tx, e AuditEntry) error {
	if e.At.IsZero() || e.Actor == "" || e.Action == "" {
		return fmt.Errorf("audit entry needs a time, an actor and an action: %+v", e)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log (at, actor, action, domain, subject, reason) VALUES (?, ?, ?, ?, ?, ?)`,
		e.At.UnixMicro(), e.Actor, e.Action, e.Domain, e.Subject, e.Reason); err != nil {
		return fmt.Errorf("record %s by %s in the audit trail: %w", e.Action, e.Actor, err)
	}
	return nil
}

// AuditTrail lists the audit entries of domain ("" = all), oldest first.
func (s *Store) AuditTrail(ctx context.Context, domain string, limit int) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, action, domain, subject, reason FROM audit_log`
	var args []any
	if domain != "" {
		q += ` WHERE domain = ?`
		args = append(args, domain)
	}
	q += ` ORDER BY at, id LIMIT ?`
	args = append(args, limitOr(limit, 1000))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Domain, &e.Subject, &e.Reason); err != nil {
			return nil, fmt.Errorf("read the audit trail: %w", err)
		}
		e.At = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ParseExemptionID reads "#12" or "12".
func ParseExemptionID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), "#"), 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: exemption id %q is not a positive number", ErrInvalid, s)
	}
	return id, nil
}
