package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"

	"github.com/beianwatch/beianwatch/monitor/ledger"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// checkWorker runs a batch through the CheckRunner (network I/O, no
// transaction open), then records the results, enqueues the notices and
// completes the job in one transaction: the batch's effects and its
// completion commit together.
type checkWorker struct {
	river.WorkerDefaults[CheckBatchArgs]
	e *Engine
}

func (w *checkWorker) Timeout(*river.Job[CheckBatchArgs]) time.Duration { return w.e.cfg.CheckTimeout }

func (w *checkWorker) Work(ctx context.Context, job *river.Job[CheckBatchArgs]) error {
	e := w.e
	args := job.Args
	if !knownCheck(args.Check) {
		return river.JobCancel(fmt.Errorf("check batch %d: unknown check %q", job.ID, args.Check))
	}
	results := e.runner.Run(ctx, args.Check, args.Domains)

	// Only results of this check for the requested sites are recorded: a
	// runner bug must not touch other sites' violations.
	want := make(map[string]bool, len(args.Domains))
	for _, d := range args.Domains {
		want[d] = true
	}
	kept := results[:0:0]
	for _, r := range results {
		if r.Result.Check != args.Check || !want[r.Domain] {
			e.log.Warn("check runner returned a result that was not asked for; ignored",
				"job", job.ID, "check", r.Result.Check, "domain", r.Domain)
			continue
		}
		kept = append(kept, r)
	}

	// The batch deadline may have passed while checking; recording needs
	// a little time of its own, and what was measured is worth keeping.
	recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var undo ledger.Undo
	err := e.st.InTx(recCtx, func(tx *sql.Tx) error {
		if _, err := e.l.RecordTx(recCtx, tx, e.cfg.Now(), kept, &undo); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[riverdriver.Driver[*sql.Tx]](recCtx, tx, job)
		return err
	})
	if err != nil {
		e.l.Rollback(&undo)
		return fmt.Errorf("check batch %d (%s, %d sites): %w", job.ID, args.Check, len(args.Domains), err)
	}
	return nil
}

// notifyWorker delivers one notice: load, wait out quiet hours and the
// endpoint's rate limit, mark sending, deliver (network I/O, no
// transaction), record the attempt and the new state.
//
// Retries are the worker's own, not River's: after a failed attempt it
// records the attempt, stores when the next one is due and snoozes the job
// until then (a snooze is not a River attempt). The notice's attempt count
// in the store is what max attempts is checked against, so every attempt is
// in the audit trail and counts, whether it ended in an error, a refusal,
// a 429 or a crash. River's own retries are left for failures of the
// machinery itself (the database), which never reach a receiver.
type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	e *Engine
}

// notifyJobMaxAttempts bounds River's retries of a notify job whose work
// failed before or after delivery (the database was locked, say). It is
// not the delivery limit, which is Config.NotifyMaxAttempts.
const notifyJobMaxAttempts = 25

// Pacer is implemented by notifiers that limit how fast they send to each
// endpoint (DingTalk robots take 20 messages a minute). The notify worker
// calls Pace before an attempt begins, outside any transaction. Pace may
// wait briefly itself; a positive result means the endpoint's budget is
// spent for longer, and the job is put back for that long without the
// attempt being begun or counted.
type Pacer interface {
	Pace(ctx context.Context, n store.Notice) time.Duration
}

// retryAfterError is implemented by delivery errors that carry the
// receiver's request to wait (Retry-After, a vendor's rate-limit window).
type retryAfterError interface {
	RetryAfter() time.Duration
}

// RetryAfterOf is how long err asks the sender to wait; 0 when it does not.
func RetryAfterOf(err error) time.Duration {
	var ra retryAfterError
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0)
	}
	return 0
}

// ExponentialBackoff is the default wait between delivery attempts: Base
// after the first failure, doubling up to Max, each wait moved by up to
// Jitter (a fraction) either way so that notices that failed together do
// not retry together.
type ExponentialBackoff struct {
	Base, Max time.Duration
	Jitter    float64
	// Rand returns a float in [0, 1); nil means math/rand/v2.
	Rand func() float64
}

// DefaultNotifyBackoff: 1m, 2m, 4m ... capped at 6h, ±20%. With the
// default 10 attempts a notice keeps being retried for about 8 hours
// (longer when receivers ask for more with Retry-After).
func DefaultNotifyBackoff() ExponentialBackoff {
	return ExponentialBackoff{Base: time.Minute, Max: 6 * time.Hour, Jitter: 0.2}
}

// Delay is the wait after the given number of failed attempts (>= 1).
func (b ExponentialBackoff) Delay(attempts int) time.Duration {
	if b.Base <= 0 {
		return 0
	}
	d := b.Base
	for i := 1; i < attempts && (b.Max <= 0 || d < b.Max); i++ {
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if b.Jitter > 0 {
		r := b.Rand
		if r == nil {
			r = rand.Float64
		}
		j := min(b.Jitter, 1)
		d = time.Duration(float64(d) * (1 - j + 2*j*r()))
	}
	return d
}

func (w *notifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration { return w.e.cfg.NotifyTimeout }

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	e := w.e
	id := job.Args.NoticeID
	// One attempt per notice at a time in this process: a second job for
	// the same notice (an operator's release racing a retry) waits, rather
	// than mistaking the first one's "sending" for a crash.
	if _, busy := e.inflight.LoadOrStore(id, struct{}{}); busy {
		return river.JobSnooze(time.Second)
	}
	defer e.inflight.Delete(id)

	// A delivery this process made but could not record (the store failed
	// to write): the receiver has it. Record it now rather than treat the
	// notice's "sending" as a stop and send it again.
	if u, ok := e.unrecorded.Load(id); ok {
		return e.recordFinish(ctx, u.(*finish))
	}

	now := e.cfg.Now()
	n, err := e.st.Notice(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if n.State != store.NoticeQueued && n.State != store.NoticeSending {
		// Delivered, dead, dropped or held: a stale job; nothing to do.
		return nil
	}
	if n.State == store.NoticeQueued && n.Attempts == 0 && n.Kind == store.NoticeOwner {
		if wait, held, err := e.l.Settle(ctx, n, now); err != nil || held {
			return err
		} else if wait > 0 {
			return river.JobSnooze(wait)
		}
		var dropped bool
		if n, dropped, err = e.l.DropUnannounced(ctx, n); err != nil {
			return err
		}
		if dropped {
			return nil
		}
	}
	if e.cfg.QuietUntil != nil {
		if until := e.cfg.QuietUntil(now, n); until.After(now) {
			return river.JobSnooze(until.Sub(now))
		}
	}
	if e.pacer != nil {
		if wait := e.pacer.Pace(ctx, n); wait > 0 {
			return river.JobSnooze(wait)
		}
		if err := ctx.Err(); err != nil {
			return river.JobSnooze(0)
		}
		now = e.cfg.Now()
	}
	if n.State == store.NoticeSending {
		// Nobody here is sending it, so an earlier attempt was cut off.
		if err := e.st.RecordInterrupted(ctx, id, now); err != nil {
			return err
		}
		e.log.Warn("notice found mid-send after a stop; sending it again with the same id", "notice", id)
	}
	n, err = e.st.BeginAttempt(ctx, id, now)
	if errors.Is(err, store.ErrNotDeliverable) {
		return nil
	}
	if err != nil {
		return err
	}

	start := time.Now()
	d, derr := e.notifier.Deliver(ctx, n)
	took := time.Since(start)
	done := e.cfg.Now()
	att := store.Attempt{NoticeID: id, At: now, Channel: d.Channel, StatusCode: d.StatusCode,
		Duration: took, BodyExcerpt: d.BodyExcerpt, SentText: d.Text, SentHeaders: d.Headers}
	if derr != nil {
		att.Error = derr.Error()
	}
	f := &finish{att: att, n: n, derr: derr}
	switch {
	case derr == nil:
		f.state = store.NoticeDelivered
	case IsPermanent(derr):
		f.state = store.NoticeDead
		e.log.Warn("notice refused; it is dead", "notice", id, "kind", n.Kind, "domain", n.Domain, "attempts", n.Attempts, "err", derr)
	case n.Attempts >= e.cfg.NotifyMaxAttempts:
		f.state = store.NoticeDead
		e.log.Warn("notice not delivered after its last attempt; it is dead", "notice", id, "kind", n.Kind, "domain", n.Domain, "attempts", n.Attempts, "err", derr)
	default:
		f.state, f.wait = store.NoticeQueued, max(e.cfg.NotifyBackoff(n.Attempts), RetryAfterOf(derr))
		f.next = done.Add(f.wait)
		e.log.Info("notice delivery failed; retrying", "notice", id, "attempt", n.Attempts, "of", e.cfg.NotifyMaxAttempts, "in", f.wait, "err", derr)
	}
	// Recording must survive the delivery's deadline: the attempt
	// happened, and the proof of it matters.
	recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordGrace)
	defer cancel()
	return e.recordFinish(recCtx, f)
}

// finish is the outcome of a delivery attempt, to record.
type finish struct {
	att   store.Attempt
	n     store.Notice
	derr  error
	state store.NoticeState
	next  time.Time
	wait  time.Duration
}

// recordFinish records a finished attempt. Should the store fail to write
// (a full disk, say), the outcome is kept in memory and the job retried by
// River: the retry records it instead of sending again, since this process
// knows the send happened. Only a process that stopped between
// BeginAttempt and this record leaves a notice "sending" that nobody
// knows the outcome of; that one is sent again (same id).
func (e *Engine) recordFinish(ctx context.Context, f *finish) error {
	id := f.att.NoticeID
	if err := e.st.FinishAttempt(ctx, f.att, f.state, f.next); err != nil {
		e.unrecorded.Store(id, f)
		return fmt.Errorf("notice %s: the attempt (%s) happened but was not recorded; recording it again, not sending it: %w", id, f.state, err)
	}
	e.unrecorded.Delete(id)
	switch {
	case f.state == store.NoticeDead && IsPermanent(f.derr):
		return river.JobCancel(fmt.Errorf("deliver notice %s: %w", id, f.derr))
	case f.state == store.NoticeDead:
		return river.JobCancel(fmt.Errorf("deliver notice %s: giving up after %d attempts: %w", id, f.n.Attempts, f.derr))
	case f.state == store.NoticeQueued:
		return river.JobSnooze(f.wait)
	}
	return nil
}

type dispatchWorker struct {
	river.WorkerDefaults[DispatchArgs]
	e *Engine
}

func (w *dispatchWorker) Timeout(*river.Job[DispatchArgs]) time.Duration { return 5 * time.Minute }

func (w *dispatchWorker) Work(ctx context.Context, _ *river.Job[DispatchArgs]) error {
	reports, err := w.e.Dispatch(ctx, w.e.cfg.Now())
	if w.e.cfg.OnDispatch != nil {
		w.e.cfg.OnDispatch(reports)
	}
	for _, r := range reports {
		if r.Jobs > 0 || r.First {
			w.e.log.Debug("dispatched", "check", r.Check, "sites", r.Sites, "jobs", r.Jobs, "first", r.First)
		}
	}
	return err
}

type tickWorker struct {
	river.WorkerDefaults[TickArgs]
	e *Engine
}

func (w *tickWorker) Timeout(*river.Job[TickArgs]) time.Duration { return 5 * time.Minute }

func (w *tickWorker) Work(ctx context.Context, _ *river.Job[TickArgs]) error {
	e := w.e
	now := e.cfg.Now()
	n, err := e.Tick(ctx, now)
	if err != nil {
		return err
	}
	if n > 0 {
		e.log.Info("reminders and escalations", "transitions", n)
	}
	rep, err := e.SettleHeld(ctx, now)
	if err != nil {
		return err
	}
	if err := e.l.SettleInconclusive(ctx, now); err != nil {
		return err
	}
	if rep.Released+rep.Dropped > 0 {
		e.log.Info("held notices settled", "released", rep.Released, "dropped", rep.Dropped, "still_held", rep.Waiting)
	}
	if _, err := e.RescueOrphans(ctx); err != nil {
		return err
	}
	if _, err := e.st.PruneRuns(ctx, now.Add(-e.cfg.HistoryRetention), now.Add(-e.cfg.RecordRetention), 0); err != nil {
		return err
	}
	if n, err := e.st.LogExpiredExemptions(ctx, now); err != nil {
		return err
	} else if n > 0 {
		e.log.Info("exemptions expired; their codes are judged again from the next run", "count", n)
	}
	if _, err := e.st.PrunePhoneCache(ctx, now); err != nil {
		return err
	}
	return nil
}
