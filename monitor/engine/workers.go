package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

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
	err := e.st.InTx(recCtx, func(tx *sql.Tx) error {
		if _, err := e.recordTx(recCtx, tx, e.cfg.Now(), kept); err != nil {
			return err
		}
		_, err := river.JobCompleteTx[*riversqlite.Driver](recCtx, tx, job)
		return err
	})
	if err != nil {
		return fmt.Errorf("check batch %d (%s, %d sites): %w", job.ID, args.Check, len(args.Domains), err)
	}
	return nil
}

// notifyWorker delivers one notice: load, mark sending, deliver (network
// I/O, no transaction), record the attempt and the new state.
type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	e *Engine
}

func (w *notifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration { return w.e.cfg.NotifyTimeout }

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	e := w.e
	id := job.Args.NoticeID
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
	if e.cfg.QuietUntil != nil {
		if until := e.cfg.QuietUntil(now, n); until.After(now) {
			return river.JobSnooze(until.Sub(now))
		}
	}
	n, err = e.st.BeginAttempt(ctx, id, now)
	if errors.Is(err, store.ErrNotDeliverable) {
		return nil
	}
	if err != nil {
		return err
	}

	d, derr := e.notifier.Deliver(ctx, n)
	done := e.cfg.Now()
	att := store.Attempt{NoticeID: id, At: now, Channel: d.Channel, StatusCode: d.StatusCode,
		Duration: done.Sub(now), BodyExcerpt: d.BodyExcerpt}
	if derr != nil {
		att.Error = derr.Error()
	}
	// Recording must survive the delivery's deadline: the attempt
	// happened, and the proof of it matters.
	recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	switch {
	case derr == nil:
		if err := e.st.FinishAttempt(recCtx, att, store.NoticeDelivered, time.Time{}); err != nil {
			return fmt.Errorf("notice %s was delivered but not recorded: %w", id, err)
		}
		return nil
	case IsPermanent(derr):
		if err := e.st.FinishAttempt(recCtx, att, store.NoticeDead, time.Time{}); err != nil {
			return err
		}
		return river.JobCancel(fmt.Errorf("deliver notice %s: %w", id, derr))
	case job.Attempt >= job.MaxAttempts:
		if err := e.st.FinishAttempt(recCtx, att, store.NoticeDead, time.Time{}); err != nil {
			return err
		}
		return fmt.Errorf("deliver notice %s: giving up after %d attempts: %w", id, job.Attempt, derr)
	default:
		next := e.retry.NextRetry(job.JobRow)
		if err := e.st.FinishAttempt(recCtx, att, store.NoticeQueued, next); err != nil {
			return err
		}
		return fmt.Errorf("deliver notice %s (attempt %d of %d): %w", id, job.Attempt, job.MaxAttempts, derr)
	}
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
	if _, err := e.st.PruneRuns(ctx, now.Add(-e.cfg.HistoryRetention), 0); err != nil {
		return err
	}
	if _, err := e.st.PrunePhoneCache(ctx, now); err != nil {
		return err
	}
	return nil
}
