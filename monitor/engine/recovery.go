package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// retryOrphans makes every job left "running" in the queue available again
// at once. It is only right where this process is the queue's only worker
// (SQLite: one daemon per database file, see store.OwnsQueue) and before
// its client starts: then nothing can be running, so a running job is one a
// previous process was working when it died (kill -9, power cut). Without
// this the job would wait for River's rescuer, which cannot tell a dead
// worker from a slow one and so waits out the job's whole timeout (a check
// batch: CheckTimeout). A notice found "sending" by the retried delivery is
// sent again with the same id (the receiver deduplicates); a check batch is
// checked again (its results had not been recorded: recording and the
// job's completion commit together).
//
// With several nodes (PostgreSQL) another node may be running the job, so
// this must not be called there; River's rescuer handles those jobs with
// each kind's timeout.
func (e *Engine) retryOrphans(ctx context.Context) (int, error) {
	exec := e.st.RiverDriver().GetExecutor()
	// Anything that began before now+1h: every running job (clocks may
	// differ between the previous process and this one).
	horizon := time.Now().Add(time.Hour)
	total := 0
	for {
		jobs, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{Max: 500, StuckHorizon: horizon})
		if err != nil {
			return total, fmt.Errorf("find jobs left running: %w", err)
		}
		if len(jobs) == 0 {
			return total, nil
		}
		now := time.Now().UTC()
		p := &riverdriver.JobRescueManyParams{StuckHorizon: horizon}
		for _, j := range jobs {
			state, finalized := rivertype.JobStateAvailable, (*time.Time)(nil)
			if j.Attempt >= j.MaxAttempts {
				// Out of attempts: River would discard it too. A notice
				// left without a job is enqueued again by RescueOrphans.
				state, finalized = rivertype.JobStateDiscarded, &now
			}
			msg, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0),
				Error: "orphaned: left running by a process that stopped; retried at start"})
			if err != nil {
				return total, fmt.Errorf("retry jobs left running: %w", err)
			}
			p.ID = append(p.ID, j.ID)
			p.Error = append(p.Error, msg)
			p.FinalizedAt = append(p.FinalizedAt, finalized)
			p.ScheduledAt = append(p.ScheduledAt, now)
			p.State = append(p.State, string(state))
		}
		if _, err := exec.JobRescueMany(ctx, p); err != nil {
			return total, fmt.Errorf("retry %d jobs left running: %w", len(jobs), err)
		}
		total += len(jobs)
	}
}
