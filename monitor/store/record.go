package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// SiteResult is one check result for one site.
type SiteResult struct {
	Domain string       `json:"domain"`
	Result beian.Result `json:"result"`
	// At is when the run finished; zero means the batch's Now.
	At time.Time `json:"at,omitzero"`
}

// Batch is one batch of results to record in one transaction.
type Batch struct {
	Now       time.Time
	Lifecycle lifecycle.Config
	Results   []SiteResult
	// Hold, when set, reports whether owner notices caused by results of
	// check must be held (storm guard) instead of queued.
	Hold func(check string) bool
}

// Recorded is what a recording changed.
type Recorded struct {
	Transitions []lifecycle.Transition
	// Notices created in the transaction. Queued ones need a notify job
	// inserted in the same transaction (QueuedIDs).
	Notices []Notice
	// Rejected lists results that were not recorded, with the reason
	// (empty domain, unknown check...). The rest of the batch is recorded.
	Rejected []string
}

// QueuedIDs are the ids of the created notices that must be delivered now.
func (r Recorded) QueuedIDs() []string {
	var ids []string
	for _, n := range r.Notices {
		if n.State == NoticeQueued {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// RecordResults is the central write: in tx it upserts the latest results,
// appends them to the history, folds them into the sites' violation
// states, records the transitions and creates one owner notice per site
// with transitions (holding all of its changed violations; plus an ops
// notice when some transition concerns ops). The caller inserts the notify
// jobs for Recorded.QueuedIDs() in the same tx before committing.
//
// Results for the same site are applied in their order in the batch.
func (s *Store) RecordResults(ctx context.Context, tx *sql.Tx, b Batch) (Recorded, error) {
	var out Recorded
	if b.Now.IsZero() {
		return out, fmt.Errorf("record results: batch has no time")
	}
	if err := b.Lifecycle.Validate(); err != nil {
		return out, fmt.Errorf("record results: %w", err)
	}
	byDomain := map[string][]SiteResult{}
	var domains []string
	for i, r := range b.Results {
		if reason := rejectResult(r); reason != "" {
			out.Rejected = append(out.Rejected, fmt.Sprintf("result %d (%q, %q): %s", i, r.Domain, r.Result.Check, reason))
			continue
		}
		if r.At.IsZero() {
			r.At = b.Now
		}
		if _, ok := byDomain[r.Domain]; !ok {
			domains = append(domains, r.Domain)
		}
		byDomain[r.Domain] = append(byDomain[r.Domain], r)
	}
	if err := s.lockSites(ctx, tx, domains); err != nil {
		return out, fmt.Errorf("record results: %w", err)
	}

	upsert, err := tx.PrepareContext(ctx, `INSERT INTO results
		(domain, check_name, outcome, reason, findings, details, duration_ms, checked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (domain, check_name) DO UPDATE SET
			outcome = excluded.outcome, reason = excluded.reason, findings = excluded.findings,
			details = excluded.details, duration_ms = excluded.duration_ms, checked_at = excluded.checked_at
		WHERE excluded.checked_at >= results.checked_at`)
	if err != nil {
		return out, fmt.Errorf("record results: prepare: %w", err)
	}
	defer upsert.Close()
	hist, err := tx.PrepareContext(ctx, `INSERT INTO runs
		(domain, check_name, outcome, reason, findings, duration_ms, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return out, fmt.Errorf("record results: prepare: %w", err)
	}
	defer hist.Close()
	var shots *sql.Stmt // prepared when a batch carries a screenshot

	exemptions, err := activeExemptionsTx(ctx, tx, b.Now)
	if err != nil {
		return out, fmt.Errorf("record results: %w", err)
	}
	markRecord, err := tx.PrepareContext(ctx, `UPDATE runs SET record = 1 WHERE id = ?`)
	if err != nil {
		return out, fmt.Errorf("record results: prepare: %w", err)
	}
	defer markRecord.Close()

	for _, d := range domains {
		runIDs := make([]int64, 0, len(byDomain[d]))
		for _, r := range byDomain[d] {
			findings := r.Result.Findings
			if findings == nil {
				findings = []beian.Finding{}
			}
			fj, err := json.Marshal(findings)
			if err != nil {
				return out, fmt.Errorf("record %s result of %s: encode findings: %w", r.Result.Check, d, err)
			}
			details := r.Result.Details
			if details == nil {
				details = map[string]string{}
			}
			dj, err := json.Marshal(details)
			if err != nil {
				return out, fmt.Errorf("record %s result of %s: encode details: %w", r.Result.Check, d, err)
			}
			at := r.At.UnixMicro()
			if _, err := upsert.ExecContext(ctx, d, r.Result.Check, string(r.Result.Outcome), r.Result.Reason,
				string(fj), string(dj), r.Result.DurationMS, at); err != nil {
				return out, fmt.Errorf("record %s result of %s: %w", r.Result.Check, d, err)
			}
			var runID int64
			if err := hist.QueryRowContext(ctx, d, r.Result.Check, string(r.Result.Outcome), r.Result.Reason,
				string(fj), r.Result.DurationMS, at).Scan(&runID); err != nil {
				return out, fmt.Errorf("record %s run of %s: %w", r.Result.Check, d, err)
			}
			runIDs = append(runIDs, runID)
			if len(r.Result.Screenshot) > 0 {
				if shots == nil {
					if shots, err = tx.PrepareContext(ctx, `INSERT INTO screenshots (run_id, domain, check_name, taken_at, png) VALUES (?, ?, ?, ?, ?)`); err != nil {
						return out, fmt.Errorf("record results: prepare: %w", err)
					}
					defer shots.Close()
				}
				if _, err := shots.ExecContext(ctx, runID, d, r.Result.Check, at, r.Result.Screenshot); err != nil {
					return out, fmt.Errorf("record %s screenshot of %s: %w", r.Result.Check, d, err)
				}
			}
		}

		before, err := s.loadStates(ctx, tx, d)
		if err != nil {
			return out, err
		}
		states := before
		var trs []lifecycle.Transition
		for i, r := range byDomain[d] {
			var t []lifecycle.Transition
			res := lifecycle.WithoutExempt(r.Result, exemptions.covers(d, r.At))
			prev := states
			states, t = lifecycle.Apply(r.At, b.Lifecycle, d, states, res)
			trs = append(trs, t...)
			if len(t) > 0 || statusChanged(prev, states) {
				// The run that changed a violation is part of the
				// site's record (retention.record, not .history).
				if _, err := markRecord.ExecContext(ctx, runIDs[i]); err != nil {
					return out, fmt.Errorf("mark %s run of %s as record: %w", r.Result.Check, d, err)
				}
			}
		}
		if err := saveStates(ctx, tx, b.Lifecycle, before, states); err != nil {
			return out, err
		}
		hold := false
		if b.Hold != nil {
			for _, t := range trs {
				if b.Hold(lifecycle.CheckOf(t.Code)) {
					hold = true
					break
				}
			}
		}
		ns, err := s.recordTransitions(ctx, tx, b.Now, d, trs, hold)
		if err != nil {
			return out, err
		}
		out.Transitions = append(out.Transitions, trs...)
		out.Notices = append(out.Notices, ns...)
	}
	return out, nil
}

// statusChanged reports whether a status differs between before and after
// (a code became pending, opened, resolved or was forgotten).
func statusChanged(before, after []lifecycle.State) bool {
	was := make(map[string]lifecycle.Status, len(before))
	for _, s := range before {
		was[s.Code] = s.Status
	}
	for _, s := range after {
		st, ok := was[s.Code]
		if !ok {
			st = lifecycle.StatusNone
		}
		if st != s.Status {
			return true
		}
	}
	return false
}

func rejectResult(r SiteResult) string {
	switch {
	case r.Domain == "":
		return "empty domain"
	case r.Result.Check == "":
		return "empty check name"
	}
	switch r.Result.Outcome {
	case beian.Pass, beian.Fail, beian.Inconclusive, beian.NotApplicable:
	default:
		return fmt.Sprintf("unknown outcome %q", r.Result.Outcome)
	}
	return ""
}

// TickDue advances time for open violations that are due a reminder or an
// escalation (at most limit of them, oldest due first, so one transaction
// stays short; call again while Recorded has transitions). Escalations
// produce an ops notice besides the owner notice.
func (s *Store) TickDue(ctx context.Context, tx *sql.Tx, now time.Time, cfg lifecycle.Config, limit int) (Recorded, error) {
	return s.TickDueHolding(ctx, tx, now, cfg, limit, nil)
}

// TickDueHolding is TickDue with the storm guard's say: owner notices of
// reminders and escalations of a check for which hold reports true are
// held, not queued (the ops notice of an escalation still goes).
func (s *Store) TickDueHolding(ctx context.Context, tx *sql.Tx, now time.Time, cfg lifecycle.Config, limit int, hold func(check string) bool) (Recorded, error) {
	var out Recorded
	if err := cfg.Validate(); err != nil {
		return out, fmt.Errorf("tick violations: %w", err)
	}
	if limit <= 0 {
		limit = 1000
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+stateColumns+` FROM violations
		WHERE next_due IS NOT NULL AND next_due <= ? ORDER BY next_due, domain, code LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return out, fmt.Errorf("tick violations: find due: %w", err)
	}
	due, err := scanStates(rows)
	if err != nil {
		return out, fmt.Errorf("tick violations: find due: %w", err)
	}
	byDomain := map[string][]lifecycle.State{}
	var domains []string
	for _, st := range due {
		if _, ok := byDomain[st.Domain]; !ok {
			domains = append(domains, st.Domain)
		}
		byDomain[st.Domain] = append(byDomain[st.Domain], st)
	}
	sort.Strings(domains)
	for _, d := range domains {
		before := byDomain[d]
		if s.dialect == Postgres {
			// Another node may have changed the site since the due query
			// read it: take its lock and tick what is there now.
			if before, err = s.reloadStates(ctx, tx, d, before); err != nil {
				return out, err
			}
		}
		next, trs := lifecycle.Tick(now, cfg, before)
		if err := saveStates(ctx, tx, cfg, before, next); err != nil {
			return out, err
		}
		held := false
		for _, t := range trs {
			if hold != nil && hold(lifecycle.CheckOf(t.Code)) {
				held = true
				break
			}
		}
		ns, err := s.recordTransitions(ctx, tx, now, d, trs, held)
		if err != nil {
			return out, err
		}
		out.Transitions = append(out.Transitions, trs...)
		out.Notices = append(out.Notices, ns...)
	}
	return out, nil
}

// WithdrawTx retires the site's violations of check ("" = all checks)
// because the check no longer applies to it or the site left the
// inventory. Withdrawn transitions are recorded but produce no notice.
func (s *Store) WithdrawTx(ctx context.Context, tx *sql.Tx, now time.Time, cfg lifecycle.Config, domain, check, reason string) ([]lifecycle.Transition, error) {
	before, err := s.loadStates(ctx, tx, domain)
	if err != nil {
		return nil, err
	}
	next, trs := lifecycle.Withdraw(now, domain, check, reason, before)
	if err := saveStates(ctx, tx, cfg, before, next); err != nil {
		return nil, err
	}
	if _, err := s.recordTransitions(ctx, tx, now, domain, trs, false); err != nil {
		return nil, err
	}
	return trs, nil
}

// recordTransitions inserts the transitions of one site and the notices
// announcing them.
func (s *Store) recordTransitions(ctx context.Context, tx *sql.Tx, now time.Time, domain string, trs []lifecycle.Transition, hold bool) ([]Notice, error) {
	if len(trs) == 0 {
		return nil, nil
	}
	var owner, ops []lifecycle.Transition
	for _, t := range trs {
		if !t.Kind.Announced() {
			continue
		}
		owner = append(owner, t)
		if t.Ops {
			ops = append(ops, t)
		}
	}
	var notices []Notice
	var ownerID string
	if len(owner) > 0 {
		state := NoticeQueued
		if hold {
			state = NoticeHeld
		}
		id, merged, err := mergeIntoUnsent(ctx, tx, domain, state, owner)
		if err != nil {
			return nil, err
		}
		if merged {
			ownerID = id // its delivery job is already queued
		} else {
			n, err := createNotice(ctx, tx, now, domain, NoticeOwner, NoticePayload{Domain: domain, Transitions: owner}, state)
			if err != nil {
				return nil, err
			}
			ownerID = n.ID
			notices = append(notices, n)
		}
	}
	if len(ops) > 0 {
		n, err := createNotice(ctx, tx, now, domain, NoticeOps, NoticePayload{Domain: domain, Transitions: ops}, NoticeQueued)
		if err != nil {
			return nil, err
		}
		notices = append(notices, n)
	}
	for _, t := range trs {
		var nid any
		if ownerID != "" && t.Kind.Announced() {
			nid = ownerID
		}
		ops := 0
		if t.Ops {
			ops = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO transitions
			(domain, code, from_state, to_state, kind, at, reason, message, evidence, opened_at, deadline, ops, notice_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Domain, t.Code, string(t.From), string(t.To), string(t.Kind), t.At.UnixMicro(), t.Reason, t.Message, t.Evidence,
			micros(t.OpenedAt), micros(t.Deadline), ops, nid); err != nil {
			return nil, fmt.Errorf("record %s transition of %s %s: %w", t.Kind, domain, t.Code, err)
		}
	}
	return notices, nil
}

// mergeIntoUnsent folds a site's new owner transitions into its owner
// notice that is still waiting for its first attempt (checks run in
// separate jobs, and quiet hours or pacing hold notices back), so that the
// owner gets one notice holding everything that changed, not one per
// check. A later transition of a code replaces the earlier one, except a
// reminder or an escalation of an unsent opening, which the notice already
// covers; a code opened and
// resolved before anyone was told disappears, and a notice left with
// nothing to say is dropped with the reason.
func mergeIntoUnsent(ctx context.Context, tx *sql.Tx, domain string, state NoticeState, trs []lifecycle.Transition) (string, bool, error) {
	var id, payload string
	err := tx.QueryRowContext(ctx, `SELECT id, payload FROM notices
		WHERE domain = ? AND kind = 'owner' AND state = ? AND attempts = 0
		ORDER BY created_at DESC LIMIT 1`, domain, string(state)).Scan(&id, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find the unsent notice of %s: %w", domain, err)
	}
	var p NoticePayload
	if err := json.Unmarshal([]byte(payload), &p); err != nil {
		return "", false, fmt.Errorf("decode notice %s: %w", id, err)
	}
	for _, t := range trs {
		i := slices.IndexFunc(p.Transitions, func(o lifecycle.Transition) bool { return o.Code == t.Code })
		switch {
		case i < 0:
			p.Transitions = append(p.Transitions, t)
		case p.Transitions[i].Kind == lifecycle.KindOpened && t.Kind == lifecycle.KindResolved:
			p.Transitions = slices.Delete(p.Transitions, i, i+1)
		case t.Kind == lifecycle.KindReminder || p.Transitions[i].Kind == lifecycle.KindOpened && t.Kind == lifecycle.KindEscalated:
			// The unsent notice already tells the owner about it; an owner
			// first hears of a violation as opened, never as escalated
			// (ops hears the escalation on its own channel).
		default:
			p.Transitions[i] = t
		}
	}
	if len(p.Transitions) == 0 {
		_, err = tx.ExecContext(ctx, `UPDATE notices SET state = 'dropped', next_at = NULL, last_error = ? WHERE id = ?`,
			"every violation it announced was resolved before it was sent", id)
		return id, err == nil, err
	}
	body, err := json.Marshal(p)
	if err != nil {
		return "", false, fmt.Errorf("encode notice %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notices SET payload = ? WHERE id = ?`, string(body), id); err != nil {
		return "", false, fmt.Errorf("update notice %s: %w", id, err)
	}
	return id, true, nil
}

const stateColumns = `domain, code, status, fails, passes, opened_at, deadline, last_notified_at, message, evidence, updated_at`

// loadStates reads domain's violation states to change them in tx. On
// PostgreSQL it first takes the site's transaction lock, so that two nodes
// recording the same site at once (a dispatched batch and a check asked
// for through the API) apply their runs one after the other instead of
// both computing a transition from the same states. SQLite serialises
// writers at BEGIN already.
func (s *Store) loadStates(ctx context.Context, tx *sql.Tx, domain string) ([]lifecycle.State, error) {
	if err := s.lockTx(ctx, tx, "site", domain); err != nil {
		return nil, fmt.Errorf("load violations of %s: %w", domain, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+stateColumns+` FROM violations WHERE domain = ? ORDER BY code`, domain)
	if err != nil {
		return nil, fmt.Errorf("load violations of %s: %w", domain, err)
	}
	st, err := scanStates(rows)
	if err != nil {
		return nil, fmt.Errorf("load violations of %s: %w", domain, err)
	}
	return st, nil
}

// reloadStates re-reads, under the site's lock, the states of domain that
// were in read.
func (s *Store) reloadStates(ctx context.Context, tx *sql.Tx, domain string, read []lifecycle.State) ([]lifecycle.State, error) {
	fresh, err := s.loadStates(ctx, tx, domain)
	if err != nil {
		return nil, err
	}
	want := make(map[string]bool, len(read))
	for _, st := range read {
		want[st.Code] = true
	}
	out := fresh[:0]
	for _, st := range fresh {
		if want[st.Code] {
			out = append(out, st)
		}
	}
	return out, nil
}

func scanStates(rows *sql.Rows) ([]lifecycle.State, error) {
	defer rows.Close()
	var out []lifecycle.State
	for rows.Next() {
		var s lifecycle.State
		var status string
		var opened, deadline, notified sql.NullInt64
		var updated int64
		if err := rows.Scan(&s.Domain, &s.Code, &status, &s.Fails, &s.Passes, &opened, &deadline, &notified,
			&s.Message, &s.Evidence, &updated); err != nil {
			return nil, err
		}
		s.Status = lifecycle.Status(status)
		s.OpenedAt, s.Deadline, s.LastNotifiedAt = fromMicros(opened), fromMicros(deadline), fromMicros(notified)
		s.UpdatedAt = time.UnixMicro(updated).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}

// saveStates writes the states that changed from before to next and
// deletes those that fell back to StatusNone.
func saveStates(ctx context.Context, tx *sql.Tx, cfg lifecycle.Config, before, next []lifecycle.State) error {
	old := make(map[[2]string]lifecycle.State, len(before))
	for _, s := range before {
		old[[2]string{s.Domain, s.Code}] = s
	}
	for _, s := range next {
		prev, existed := old[[2]string{s.Domain, s.Code}]
		if existed && prev == s {
			continue
		}
		if s.Status == lifecycle.StatusNone {
			if existed {
				if _, err := tx.ExecContext(ctx, `DELETE FROM violations WHERE domain = ? AND code = ?`, s.Domain, s.Code); err != nil {
					return fmt.Errorf("forget violation %s %s: %w", s.Domain, s.Code, err)
				}
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO violations
			(domain, code, check_name, status, fails, passes, opened_at, deadline, last_notified_at, next_due, message, evidence, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (domain, code) DO UPDATE SET
				status = excluded.status, fails = excluded.fails, passes = excluded.passes,
				opened_at = excluded.opened_at, deadline = excluded.deadline,
				last_notified_at = excluded.last_notified_at, next_due = excluded.next_due,
				message = excluded.message, evidence = excluded.evidence, updated_at = excluded.updated_at`,
			s.Domain, s.Code, lifecycle.CheckOf(s.Code), string(s.Status), s.Fails, s.Passes,
			micros(s.OpenedAt), micros(s.Deadline), micros(s.LastNotifiedAt), micros(lifecycle.NextDue(cfg, s)),
			s.Message, s.Evidence, s.UpdatedAt.UnixMicro()); err != nil {
			return fmt.Errorf("save violation %s %s: %w", s.Domain, s.Code, err)
		}
	}
	return nil
}

func newNoticeID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate notice id: %w", err)
	}
	return "ntc_" + hex.EncodeToString(b[:]), nil
}
