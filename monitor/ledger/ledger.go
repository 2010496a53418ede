// Package ledger keeps the books of violations: it takes a batch of check
// results and decides, through the lifecycle, the transitions and the
// notices to write, and whether the storm guard holds them; it settles the
// notices a storm held, sends the reminders and escalations that come due,
// and decides before a notice is sent whether it may go now (the storm
// guard's settle time) and what it still has to say. The store runs its
// SQL; the engine runs its jobs and hands the ledger a way to enqueue the
// delivery of the notices it creates, in the same transaction. See
// docs/architecture.md.
package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// Config is the ledger's configuration; the engine passes its own, with
// defaults applied.
type Config struct {
	Lifecycle lifecycle.Config
	Storm     lifecycle.StormConfig
	// HeldMaxAge: a held notice still undecided this long after it was
	// held is dropped, with the reason.
	HeldMaxAge time.Duration
	// TickLimit bounds the violations (or held notices) per transaction.
	TickLimit int
	Logger    *slog.Logger
	Now       func() time.Time
	// Derive, when set, is asked in the recording transaction, once a
	// batch's results are recorded, for results that follow from them (an
	// entity's judgement follows from its sites' shell violations); they
	// are recorded in the same transaction, so they never disagree with
	// what they were derived from. It reads through tx only.
	Derive func(ctx context.Context, tx *sql.Tx, results []store.SiteResult) ([]store.SiteResult, error)
}

// Deps are what the ledger needs from outside.
type Deps struct {
	Store *store.Store
	// Enqueue inserts, in tx, the delivery jobs of the notices with ids
	// (the engine's notify jobs): a notice and its delivery commit
	// together.
	Enqueue func(ctx context.Context, tx *sql.Tx, ids []string) error
	// Domains lists the sites a check runs on now (the inventory); held
	// notices of sites no longer checked are dropped. Nil: none.
	Domains func(check string) []string
}

// Ledger is the violation bookkeeping. It is safe for concurrent use.
type Ledger struct {
	cfg     Config
	st      *store.Store
	enqueue func(ctx context.Context, tx *sql.Tx, ids []string) error
	domains func(check string) []string
	log     *slog.Logger
	storm   *lifecycle.StormGuard
	// inconc counts inconclusive runs as its failures: most runs of a
	// check inconclusive means our resolver or network is failing. It
	// holds nothing (inconclusive never opens a violation) but tells ops
	// when such a storm begins and when it ends.
	inconc *lifecycle.StormGuard

	// calm[check] is when the storm guard last saw check's storm end; a
	// held notice is decided only on results recorded since (or since the
	// last storm edge another process recorded, see calmSince). Checks
	// absent from it count as calm since started: results from before the
	// start cannot be told apart from a storm's.
	calmMu  sync.Mutex
	calm    map[string]time.Time
	started time.Time
}

// New validates cfg and returns a ledger.
func New(cfg Config, deps Deps) (*Ledger, error) {
	var errs []error
	if deps.Store == nil {
		errs = append(errs, errors.New("ledger: no store"))
	}
	if deps.Enqueue == nil {
		errs = append(errs, errors.New("ledger: no way to enqueue deliveries"))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.TickLimit <= 0 {
		cfg.TickLimit = 500
	}
	if cfg.HeldMaxAge <= 0 {
		cfg.HeldMaxAge = 8 * 24 * time.Hour
	}
	if err := cfg.Lifecycle.Validate(); err != nil {
		errs = append(errs, err)
	}
	storm, err := lifecycle.NewStormGuard(cfg.Storm)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	inconc, _ := lifecycle.NewStormGuard(cfg.Storm)
	domains := deps.Domains
	if domains == nil {
		domains = func(string) []string { return nil }
	}
	return &Ledger{cfg: cfg, st: deps.Store, enqueue: deps.Enqueue, domains: domains, log: cfg.Logger,
		storm: storm, inconc: inconc, calm: map[string]time.Time{}, started: cfg.Now()}, nil
}

// Started marks now as the start of the process's own results: a held
// notice is decided only on results recorded since (see calmSince).
func (l *Ledger) Started(now time.Time) {
	l.calmMu.Lock()
	l.started = now
	l.calmMu.Unlock()
}

// Storm is the storm guard (for metrics and the API).
func (l *Ledger) Storm() *lifecycle.StormGuard { return l.storm }

// InconclusiveStorm is the inconclusive-storm guard.
func (l *Ledger) InconclusiveStorm() *lifecycle.StormGuard { return l.inconc }

// RecordTx records a batch in tx (see recordTx) for a caller that commits
// more in the same transaction (a check job's completion). Should tx not
// commit, the caller must call Rollback(undo).
func (l *Ledger) RecordTx(ctx context.Context, tx *sql.Tx, now time.Time, results []store.SiteResult, undo *Undo) (store.Recorded, error) {
	return l.recordTx(ctx, tx, now, results, undo)
}

// Record records results outside a check job (for instance a check run
// synchronously for the API, or an audit --record): one transaction with the lifecycle, the
// notices and their notify jobs. Storm counting applies as in check jobs.
func (l *Ledger) Record(ctx context.Context, results []store.SiteResult) (store.Recorded, error) {
	var rec store.Recorded
	var undo Undo
	err := l.st.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = l.recordTx(ctx, tx, l.cfg.Now(), results, &undo)
		return err
	})
	if err != nil {
		l.Rollback(&undo)
	}
	return rec, err
}

// Undo is what recordTx told the storm guards, to take back with Rollback
// should its transaction not commit.
type Undo struct {
	counts      []lifecycle.StormCount
	edges       []lifecycle.StormStatus
	inconc      []lifecycle.StormCount // of the inconclusive guard
	inconcEdges []lifecycle.StormStatus
}

// undoStorm takes back a failed transaction's counts, so that the retried
// batch is not counted twice, and rearms the edges it acted on.
func (l *Ledger) Rollback(u *Undo) {
	for _, c := range u.counts {
		l.storm.Unobserve(c.At, c.Check, c.Checked, c.Failed)
	}
	l.rearm(u.edges)
	for _, c := range u.inconc {
		l.inconc.Unobserve(c.At, strings.TrimPrefix(c.Check, store.InconclusivePrefix), c.Checked, c.Failed)
	}
	for _, st := range u.inconcEdges {
		l.inconc.Rearm(st)
	}
	*u = Undo{}
}

// rearm gives the storm guard back the edges a failed transaction acted on.
func (l *Ledger) rearm(edges []lifecycle.StormStatus) {
	for _, st := range edges {
		l.storm.Rearm(st)
	}
}

// recordTx records a batch in tx: storm accounting, the store's central
// write, the storm alarm and the notify jobs.
//
// What the storm guard was told is noted in undo: should the transaction
// not commit, the caller takes it back with undoStorm.
func (l *Ledger) recordTx(ctx context.Context, tx *sql.Tx, now time.Time, results []store.SiteResult, undo *Undo) (store.Recorded, error) {
	type count struct {
		checked      int      // conclusive runs
		failing      []string // a site per failing run
		runs         int      // pass, fail and inconclusive runs
		inconclusive []string // a site per inconclusive run
	}
	perCheck := map[string]*count{}
	for _, r := range results {
		c := perCheck[r.Result.Check]
		if c == nil {
			c = &count{}
			perCheck[r.Result.Check] = c
		}
		switch r.Result.Outcome {
		case beian.Pass:
			c.checked++
			c.runs++
		case beian.Fail:
			c.checked++
			c.runs++
			c.failing = append(c.failing, r.Domain)
		case beian.Inconclusive:
			c.runs++
			c.inconclusive = append(c.inconclusive, r.Domain)
		}
	}
	storming := map[string]lifecycle.StormStatus{}
	var inconc []lifecycle.StormStatus
	for check, c := range perCheck {
		if check == "" {
			continue
		}
		st := l.storm.Observe(now, check, c.checked, c.failing)
		sc := lifecycle.StormCount{Check: check, At: l.storm.BucketStart(now), Checked: c.checked, Failed: len(c.failing)}
		undo.counts = append(undo.counts, sc)
		if c.checked > 0 {
			// Kept with the batch, so that a restart finds the window as
			// it was; a rollback takes it back with the rest.
			if err := l.st.AddStormCountTx(ctx, tx, sc, now.Add(-2*l.cfg.Storm.Window)); err != nil {
				return store.Recorded{}, err
			}
		}
		storming[check] = st
		if st.Started || st.Ended {
			undo.edges = append(undo.edges, st)
		}

		ist := l.inconc.Observe(now, check, c.runs, c.inconclusive)
		ic := lifecycle.StormCount{Check: store.InconclusivePrefix + check, At: l.inconc.BucketStart(now), Checked: c.runs, Failed: len(c.inconclusive)}
		undo.inconc = append(undo.inconc, ic)
		if c.runs > 0 {
			if err := l.st.AddStormCountTx(ctx, tx, ic, now.Add(-2*l.cfg.Storm.Window)); err != nil {
				return store.Recorded{}, err
			}
		}
		if ist.Started || ist.Ended {
			undo.inconcEdges = append(undo.inconcEdges, ist)
			inconc = append(inconc, ist)
		}
	}
	rec, err := l.st.RecordResults(ctx, tx, store.Batch{
		Now: now, Lifecycle: l.cfg.Lifecycle, Results: results,
		Hold: func(check string) bool { return storming[check].Storming },
	})
	if err != nil {
		return rec, err
	}
	// Nothing is derived from a batch during a storm: its failures are
	// suspect (most likely ours), and an entity judged from them would
	// tell the ops channel at once. The next calm batch judges again.
	anyStorm := false
	for _, st := range storming {
		anyStorm = anyStorm || st.Storming
	}
	if l.cfg.Derive != nil && !anyStorm {
		derived, err := l.cfg.Derive(ctx, tx, results)
		if err != nil {
			return rec, fmt.Errorf("deriving results: %w", err)
		}
		if len(derived) > 0 {
			more, err := l.st.RecordResults(ctx, tx, store.Batch{
				Now: now, Lifecycle: l.cfg.Lifecycle, Results: derived,
			})
			if err != nil {
				return rec, err
			}
			rec.Transitions = append(rec.Transitions, more.Transitions...)
			rec.Notices = append(rec.Notices, more.Notices...)
			rec.Rejected = append(rec.Rejected, more.Rejected...)
		}
	}
	l.logTransitions(rec.Transitions)
	for _, r := range rec.Rejected {
		l.log.Warn("result not recorded", "reason", r)
	}
	queued := rec.QueuedIDs()
	checksSorted := make([]string, 0, len(storming))
	for check := range storming {
		checksSorted = append(checksSorted, check)
	}
	sort.Strings(checksSorted)
	for _, check := range checksSorted {
		st := storming[check]
		n, err := l.stormChangedTx(ctx, tx, now, st)
		if err != nil {
			return rec, err
		}
		if n != nil {
			rec.Notices = append(rec.Notices, *n)
			queued = append(queued, n.ID)
		}
	}
	sort.Slice(inconc, func(i, j int) bool { return inconc[i].Check < inconc[j].Check })
	for _, st := range inconc {
		n, err := l.inconclusiveChangedTx(ctx, tx, now, st)
		if err != nil {
			return rec, err
		}
		if n != nil {
			rec.Notices = append(rec.Notices, *n)
			queued = append(queued, n.ID)
		}
	}
	if err := l.enqueue(ctx, tx, queued); err != nil {
		return rec, err
	}
	return rec, nil
}

// stormChangedTx acts on a change of the storm guard's status: at the start
// of a storm, the one summary for ops (created in tx and returned; the
// caller enqueues it); at its end, the moment from which results count
// again for deciding the held notices.
func (l *Ledger) stormChangedTx(ctx context.Context, tx *sql.Tx, now time.Time, st lifecycle.StormStatus) (*store.Notice, error) {
	switch {
	case st.Started:
		l.log.Warn("storm: holding owner notices", "check", st.Check, "failed", st.Failed, "checked", st.Checked)
		// Another process recording into this store (an audit --record
		// beside the daemon) may have announced this storm already.
		// A state older than the window is stale (a process that died in
		// a storm) and must not silence this one.
		already, since, _, err := l.st.StormStateTx(ctx, tx, st.Check)
		if err != nil {
			return nil, err
		}
		if already && since.After(now.Add(-l.cfg.Storm.Window)) {
			return nil, nil
		}
		if err := l.st.SetStormingTx(ctx, tx, st.Check, true, now); err != nil {
			return nil, err
		}
		// The storm's first wave: violations opened within the window
		// the guard judged on, whose notices are still settling (or
		// otherwise unsent), are held like those that follow.
		held, err := l.st.HoldUnsentTx(ctx, tx, st.Check, now.Add(-l.cfg.Storm.Window))
		if err != nil {
			return nil, err
		}
		if len(held) > 0 {
			l.log.Warn("storm: holding notices of its first wave", "check", st.Check, "notices", len(held))
		}
		n, err := l.st.CreateNoticeTx(ctx, tx, now, "", store.NoticeOps, store.NoticePayload{
			Storm: &store.StormInfo{Check: st.Check, Checked: st.Checked, Failed: st.Failed, Since: now},
		}, store.NoticeQueued)
		if err != nil {
			return nil, err
		}
		return &n, nil
	case st.Ended:
		if err := l.st.SetStormingTx(ctx, tx, st.Check, false, now); err != nil {
			return nil, err
		}
		l.calmMu.Lock()
		l.calm[st.Check] = now
		l.calmMu.Unlock()
		l.log.Info("storm over; held notices are released or dropped once their sites are checked again", "check", st.Check)
	}
	return nil, nil
}

// calmSince is the moment from which results count again for deciding the
// held notices of check: the later of this engine's start, the end of its
// last storm, and the last storm edge any process recorded (an audit
// --record's storm, or its hand-over when it stopped).
func (l *Ledger) calmSince(ctx context.Context, tx *sql.Tx, check string) (time.Time, error) {
	l.calmMu.Lock()
	calm := l.started
	if t, ok := l.calm[check]; ok && t.After(calm) {
		calm = t
	}
	l.calmMu.Unlock()
	_, since, ok, err := l.st.StormStateTx(ctx, tx, check)
	if err != nil {
		return time.Time{}, err
	}
	if ok && since.After(calm) {
		calm = since
	}
	return calm, nil
}

// LoadStorm gives the storm guard the window and storm state kept in the
// store: by this engine before a restart, or by another process recording
// into the same store. Start calls it; a recorder that never starts does
// too.
func (l *Ledger) Load(ctx context.Context) error {
	now := l.cfg.Now()
	since := now.Add(-l.cfg.Storm.Window)
	counts, storming, err := l.st.StormMemory(ctx, since)
	if err != nil {
		return err
	}
	sites, err := l.st.StormSites(ctx, since)
	if err != nil {
		return err
	}
	var fc, ic []lifecycle.StormCount
	for _, c := range counts {
		if check, ok := strings.CutPrefix(c.Check, store.InconclusivePrefix); ok {
			c.Check = check
			ic = append(ic, c)
		} else {
			fc = append(fc, c)
		}
	}
	var fs, is []lifecycle.StormSite
	for _, s := range sites {
		if check, ok := strings.CutPrefix(s.Check, store.InconclusivePrefix); ok {
			s.Check = check
			is = append(is, s)
		} else {
			fs = append(fs, s)
		}
	}
	var fst, ist []string
	for _, check := range storming {
		if c, ok := strings.CutPrefix(check, store.InconclusivePrefix); ok {
			ist = append(ist, c)
		} else {
			fst = append(fst, check)
		}
	}
	l.storm.Restore(now, fc, fs, fst)
	l.inconc.Restore(now, ic, is, ist)
	for _, check := range fst {
		l.log.Warn("storm carried over: owner notices stay held", "check", check)
	}
	for _, check := range ist {
		l.log.Warn("inconclusive storm carried over", "check", check)
	}
	return nil
}

// HandOverStorms ends, in the store, the storms this engine is in, from
// now on: a process that stops while it holds notices (an audit --record)
// leaves the decision to the daemon's own later checks, rather than a
// storm no one will ever end.
func (l *Ledger) HandOverStorms(ctx context.Context) error {
	storming := l.storm.Storming()
	if len(storming) == 0 {
		return nil
	}
	now := l.cfg.Now()
	return l.st.InTx(ctx, func(tx *sql.Tx) error {
		for _, check := range storming {
			if err := l.st.SetStormingTx(ctx, tx, check, false, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// logTransitions puts every violation change in the log, where an
// operator tailing the daemon sees sites break and recover.
func (l *Ledger) logTransitions(trs []lifecycle.Transition) {
	for _, t := range trs {
		attrs := []any{"domain", t.Domain, "code", t.Code, "from", t.From, "to", t.To}
		if !t.Deadline.IsZero() && t.Kind != lifecycle.KindResolved {
			attrs = append(attrs, "deadline", t.Deadline.Format(time.RFC3339))
		}
		l.log.Info("violation "+string(t.Kind), attrs...)
	}
}

// Tick sends the reminders and escalations due at now, in transactions of
// at most TickLimit violations, and returns how many transitions it made.
func (l *Ledger) Tick(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := l.st.InTx(ctx, func(tx *sql.Tx) error {
			// Reminders and escalations during a storm of their check are
			// held like its openings: the violation may be the storm's.
			rec, err := l.st.TickDueHolding(ctx, tx, now, l.cfg.Lifecycle, l.cfg.TickLimit, func(check string) bool {
				return l.storm.Peek(now, check).Storming
			})
			if err != nil {
				return err
			}
			l.logTransitions(rec.Transitions)
			n = len(rec.Transitions)
			return l.enqueue(ctx, tx, rec.QueuedIDs())
		})
		if err != nil {
			return total, fmt.Errorf("tick: %w", err)
		}
		total += n
		if n == 0 {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, fmt.Errorf("tick: %w", err)
		}
	}
}

// ReleaseHeld queues the notices held during a storm (of domain, or all
// when domain is "") and enqueues their delivery.
func (l *Ledger) ReleaseHeld(ctx context.Context, domain string) (int, error) {
	var n int
	err := l.st.InTx(ctx, func(tx *sql.Tx) error {
		ids, err := l.st.ReleaseHeldTx(ctx, tx, l.cfg.Now(), domain)
		if err != nil {
			return err
		}
		n = len(ids)
		return l.enqueue(ctx, tx, ids)
	})
	return n, err
}

// Withdraw retires a site's violations of check ("" = all) that can no
// longer be judged (the check stopped applying, the site left the
// inventory). Recorded, not announced.
func (l *Ledger) Withdraw(ctx context.Context, domain, check, reason string) ([]lifecycle.Transition, error) {
	var trs []lifecycle.Transition
	err := l.st.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		trs, err = l.st.WithdrawTx(ctx, tx, l.cfg.Now(), l.cfg.Lifecycle, domain, check, reason)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("withdraw %s violations of %s: %w", check, domain, err)
	}
	return trs, nil
}

// SettleReport says what SettleHeld did.
type SettleReport struct {
	Released int // queued again (whole or narrowed to what is still true)
	Dropped  int // nothing left to say; the reason is on the notice
	Waiting  int // still held: storming, or not yet checked again
}

// SettleHeld decides the owner notices held by the storm guard, without an
// operator: once a notice's check is calm and its site has been checked
// conclusively since the storm ended, each change it holds is kept if it is
// still true (an opened violation is still active and still failing on the
// latest result; a resolution still stands) and left out otherwise. A
// notice with changes left is queued, narrowed to them; one with none is
// dropped. Either way the reason is recorded on the notice. Notices that
// cannot be decided within HeldMaxAge are dropped.
//
// The tick runs it; it works in transactions of at most TickLimit notices.
func (l *Ledger) SettleHeld(ctx context.Context, now time.Time) (SettleReport, error) {
	var rep SettleReport
	j := &heldJudge{l: l, now: now, status: map[string]lifecycle.StormStatus{}, domains: map[string]map[string]bool{}}
	var afterT time.Time
	afterID := ""
	for {
		var page []store.Notice
		err := l.st.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			page, err = l.st.HeldNoticesTx(ctx, tx, afterT, afterID, l.cfg.TickLimit)
			if err != nil {
				return err
			}
			var queue []string
			for _, n := range page {
				v, err := j.judge(ctx, tx, n)
				if err != nil {
					return err
				}
				if v.wait {
					rep.Waiting++
					continue
				}
				ok, err := l.st.SettleHeldTx(ctx, tx, n.ID, now, v.keep, v.reason)
				if err != nil || !ok {
					return err
				}
				if len(v.keep) > 0 {
					rep.Released++
					queue = append(queue, n.ID)
					l.log.Info("held notice released after the storm", "notice", n.ID, "domain", n.Domain, "reason", v.reason)
				} else {
					rep.Dropped++
					l.log.Info("held notice dropped after the storm", "notice", n.ID, "domain", n.Domain, "reason", v.reason)
				}
			}
			for _, n := range j.alarms {
				queue = append(queue, n.ID)
			}
			j.alarms = nil
			return l.enqueue(ctx, tx, queue)
		})
		if err != nil {
			l.rearm(j.edges)
			return rep, fmt.Errorf("settle held notices: %w", err)
		}
		j.edges = nil
		if len(page) < l.cfg.TickLimit {
			return rep, nil
		}
		afterT, afterID = page[len(page)-1].CreatedAt, page[len(page)-1].ID
	}
}

// heldJudge decides held notices, caching per check what the storm guard
// and the inventory say for the duration of one SettleHeld.
type heldJudge struct {
	l       *Ledger
	now     time.Time
	status  map[string]lifecycle.StormStatus
	domains map[string]map[string]bool
	alarms  []store.Notice          // storm summaries raised while judging
	edges   []lifecycle.StormStatus // storm edges acted on in the current transaction
}

type heldVerdict struct {
	wait   bool
	keep   []lifecycle.Transition
	reason string
}

func (j *heldJudge) storming(ctx context.Context, tx *sql.Tx, check string) (bool, error) {
	st, ok := j.status[check]
	if !ok {
		// The guard's window slides without observations too, so a storm
		// can end (or, rarely, start) here rather than in a check batch.
		st = j.l.storm.Status(j.now, check)
		if st.Started || st.Ended {
			j.edges = append(j.edges, st)
		}
		n, err := j.l.stormChangedTx(ctx, tx, j.now, st)
		if err != nil {
			return false, err
		}
		if n != nil {
			j.alarms = append(j.alarms, *n)
		}
		if !st.Storming {
			// Another process may be in a storm this engine never saw.
			other, _, _, err := j.l.st.StormStateTx(ctx, tx, check)
			if err != nil {
				return false, err
			}
			st.Storming = other
		}
		j.status[check] = st
	}
	return st.Storming, nil
}

func (j *heldJudge) checked(check, domain string) bool {
	set, ok := j.domains[check]
	if !ok {
		set = map[string]bool{}
		for _, d := range j.l.domains(check) {
			set[d] = true
		}
		j.domains[check] = set
	}
	return set[domain]
}

func (j *heldJudge) judge(ctx context.Context, tx *sql.Tx, n store.Notice) (heldVerdict, error) {
	if n.Payload.Storm != nil || len(n.Payload.Transitions) == 0 {
		// Not a notice the storm guard holds; let it go as it is.
		return heldVerdict{keep: n.Payload.Transitions, reason: "released: not a storm-held change"}, nil
	}
	var v heldVerdict
	var dropped []string
	undecided := ""
	for _, t := range n.Payload.Transitions {
		check := lifecycle.CheckOf(t.Code)
		storming, err := j.storming(ctx, tx, check)
		if err != nil {
			return v, err
		}
		if storming {
			undecided = fmt.Sprintf("the %s check is still storming", check)
			break
		}
		if !j.checked(check, n.Domain) {
			dropped = append(dropped, fmt.Sprintf("%s: the site is no longer checked by %s", t.Code, check))
			continue
		}
		r, ok, err := j.l.st.LatestResultTx(ctx, tx, n.Domain, check)
		if err != nil {
			return v, err
		}
		calm, err := j.l.calmSince(ctx, tx, check)
		if err != nil {
			return v, err
		}
		if !ok || r.At.Before(calm) || r.Result.Outcome == beian.Inconclusive {
			undecided = fmt.Sprintf("no conclusive %s result since the storm ended", check)
			break
		}
		if r.Result.Outcome == beian.NotApplicable {
			dropped = append(dropped, fmt.Sprintf("%s: the %s check no longer applies", t.Code, check))
			continue
		}
		st, tracked, err := j.l.st.ViolationTx(ctx, tx, n.Domain, t.Code)
		if err != nil {
			return v, err
		}
		active := tracked && st.Status.Active()
		at := r.At.UTC().Format(time.RFC3339)
		switch {
		case t.Kind == lifecycle.KindResolved && active:
			dropped = append(dropped, fmt.Sprintf("%s: resolved during the storm but active again", t.Code))
		case t.Kind == lifecycle.KindResolved:
			v.keep = append(v.keep, t)
		case !active:
			dropped = append(dropped, fmt.Sprintf("%s: no longer an active violation (check of %s)", t.Code, at))
		case !t.OpenedAt.IsZero() && !st.OpenedAt.Equal(t.OpenedAt):
			// Resolved and opened again since: that opening has its own
			// notice, with its own deadline.
			dropped = append(dropped, fmt.Sprintf("%s: reopened since, with a later deadline", t.Code))
		case !failsWith(r.Result, t.Code):
			dropped = append(dropped, fmt.Sprintf("%s: not found by the check of %s", t.Code, at))
		default:
			v.keep = append(v.keep, t)
		}
	}
	if undecided != "" {
		if age := j.now.Sub(n.CreatedAt); age >= j.l.cfg.HeldMaxAge {
			return heldVerdict{reason: fmt.Sprintf("dropped after the storm: held for %s and still undecided (%s)", age.Round(time.Minute), undecided)}, nil
		}
		return heldVerdict{wait: true}, nil
	}
	switch {
	case len(v.keep) == 0:
		v.reason = "dropped after the storm: " + strings.Join(dropped, "; ")
	case len(dropped) > 0:
		v.reason = "released after the storm without changes that no longer hold: " + strings.Join(dropped, "; ")
	default:
		v.reason = "released after the storm: still true on the latest check"
	}
	return v, nil
}

// failsWith reports whether r holds a violation finding with code.
func failsWith(r beian.Result, code string) bool {
	if r.Outcome != beian.Fail {
		return false
	}
	for _, f := range r.Findings {
		if f.Code == code && f.Severity == beian.Violation {
			return true
		}
	}
	return false
}

// inconclusiveChangedTx acts on an edge of the inconclusive guard: when at
// least the storm share of a check's runs (on at least min_sites sites)
// are inconclusive, our own resolver or network is failing. Owners are
// spared by the rule that inconclusive never opens a violation, but ops
// must hear of it: one notice when it starts and one when it ends. The
// edge is kept in storm_state (under store.InconclusivePrefix) so that a
// restart, or another process recording into the store, does not announce
// it twice.
func (l *Ledger) inconclusiveChangedTx(ctx context.Context, tx *sql.Tx, now time.Time, st lifecycle.StormStatus) (*store.Notice, error) {
	key := store.InconclusivePrefix + st.Check
	was, since, _, err := l.st.StormStateTx(ctx, tx, key)
	if err != nil {
		return nil, err
	}
	info := &store.StormInfo{Check: st.Check, Checked: st.Checked, Failed: st.Failed, Since: now, Inconclusive: true}
	switch {
	case st.Started:
		if was && since.After(now.Add(-l.cfg.Storm.Window)) {
			return nil, nil // announced already (by another process)
		}
		l.log.Warn("most checks are inconclusive: our resolver or network is failing", "check", st.Check,
			"inconclusive", st.Failed, "runs", st.Checked, "sites", st.Sites)
	case st.Ended:
		if !was {
			return nil, nil // its end was announced already
		}
		info.Since, info.Ended = since, now
		l.log.Info("checks are conclusive again", "check", st.Check)
	default:
		return nil, nil
	}
	if err := l.st.SetStormingTx(ctx, tx, key, st.Started, now); err != nil {
		return nil, err
	}
	n, err := l.st.CreateNoticeTx(ctx, tx, now, "", store.NoticeOps, store.NoticePayload{Storm: info}, store.NoticeQueued)
	if err != nil {
		return nil, err
	}
	return &n, nil
}

// settleInconclusive looks at the inconclusive storms in progress without
// new runs: the guard's window slides on its own, and a check whose runs
// stopped (or are all not_applicable) must still end its storm, once.
func (l *Ledger) SettleInconclusive(ctx context.Context, now time.Time) error {
	var edges []lifecycle.StormStatus
	for _, check := range l.inconc.Storming() {
		if st := l.inconc.Status(now, check); st.Ended {
			edges = append(edges, st)
		}
	}
	if len(edges) == 0 {
		return nil
	}
	err := l.st.InTx(ctx, func(tx *sql.Tx) error {
		var ids []string
		for _, st := range edges {
			n, err := l.inconclusiveChangedTx(ctx, tx, now, st)
			if err != nil {
				return err
			}
			if n != nil {
				ids = append(ids, n.ID)
			}
		}
		return l.enqueue(ctx, tx, ids)
	})
	if err != nil {
		for _, st := range edges {
			l.inconc.Rearm(st)
		}
		return fmt.Errorf("end inconclusive storms: %w", err)
	}
	return nil
}

// settle decides an owner notice not yet attempted against the storm
// guard: one that announces a violation opened less than Storm.Settle ago
// waits until then, so that a storm declared meanwhile holds it (see
// stormChangedTx); one that announces a violation of a check now storming
// is held. It returns how long to wait, or held.
func (l *Ledger) Settle(ctx context.Context, n store.Notice, now time.Time) (time.Duration, bool, error) {
	var until time.Time
	for _, t := range n.Payload.Transitions {
		if t.Kind != lifecycle.KindOpened {
			continue
		}
		check := lifecycle.CheckOf(t.Code)
		if l.storm.Peek(now, check).Storming {
			ok, err := l.st.HoldQueued(ctx, n.ID, "held: the "+check+" check is storming")
			if err != nil {
				return 0, false, err
			}
			if ok {
				l.log.Info("notice held: its check is storming", "notice", n.ID, "domain", n.Domain, "check", check)
			}
			return 0, true, nil
		}
		if u := t.At.Add(l.cfg.Storm.Settle); u.After(until) {
			until = u
		}
	}
	if until.After(now) {
		return until.Sub(now), false, nil
	}
	return 0, false, nil
}

// dropUnannounced removes from an owner notice the resolutions, reminders
// and escalations of violations whose opening the owner was never told
// about (its notice was held in a storm and then dropped, or is still
// held): "resolved", "still open" or "deadline passed" about something
// never announced is noise at best and alarming at worst, and the opening
// itself may have been our storm. A notice left with nothing to say is
// dropped, with the reason recorded.
func (l *Ledger) DropUnannounced(ctx context.Context, n store.Notice) (store.Notice, bool, error) {
	var drop []lifecycle.Transition
	var why []string
	for _, t := range n.Payload.Transitions {
		switch t.Kind {
		case lifecycle.KindResolved, lifecycle.KindReminder, lifecycle.KindEscalated:
			st, ok, err := l.st.OpeningNoticeState(ctx, n.Domain, t.Code, t.OpenedAt)
			if err != nil {
				return n, false, err
			}
			if ok && (st == store.NoticeHeld || st == store.NoticeDropped) {
				why = append(why, fmt.Sprintf("%s %s, but the owner was never told it opened (that notice is %s)", t.Code, t.Kind, st))
				drop = append(drop, t)
			}
		}
	}
	if len(drop) == 0 {
		return n, false, nil
	}
	reason := strings.Join(why, "; ")
	// Only the changes judged here are removed: a check batch may have
	// merged a new one into the notice since it was read.
	if _, err := l.st.ReviseQueued(ctx, n.ID, drop, reason); err != nil {
		return n, false, err
	}
	n, err := l.st.Notice(ctx, n.ID)
	if err != nil {
		return n, false, err
	}
	l.log.Info("notice narrowed before sending", "notice", n.ID, "domain", n.Domain, "reason", reason, "left", len(n.Payload.Transitions), "state", n.State)
	if n.State != store.NoticeQueued && n.State != store.NoticeSending {
		return n, true, nil
	}
	return n, false, nil
}
