// Package engine runs the daemon's work as River jobs on the store's
// database: a periodic dispatcher enqueues batches of due sites, check
// workers run them and record the results, notify workers deliver notices,
// and a periodic tick sends reminders and escalations.
//
// Everything a job changes in the database, including the jobs it enqueues,
// goes through one short transaction; network I/O (checks, deliveries)
// happens outside it. The checks runner and the notifier are injected.
package engine

import (
	"context"
	"errors"

	"github.com/riverqueue/river"

	"github.com/beianwatch/beianwatch/monitor/store"
)

// Queues. Periodic jobs have their own queue so that a backlog of checks
// never delays dispatching, reminders or escalations.
const (
	QueueChecks   = "checks"
	QueueNotices  = "notices"
	QueuePeriodic = "periodic"
)

// Triggers of a check batch.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// CheckBatchArgs runs one check on a batch of sites.
type CheckBatchArgs struct {
	Check   string   `json:"check"`
	Domains []string `json:"domains"`
	Trigger string   `json:"trigger"`
}

// Kind is the job kind, stored in the queue: never rename it.
func (CheckBatchArgs) Kind() string { return "check_batch" }

// InsertOpts puts check batches on their queue.
func (CheckBatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueChecks, MaxAttempts: 3}
}

// NotifyArgs delivers one notice.
type NotifyArgs struct {
	NoticeID string `json:"notice_id"`
}

// Kind is the job kind, stored in the queue: never rename it.
func (NotifyArgs) Kind() string { return "notify" }

// InsertOpts puts deliveries on their queue.
func (NotifyArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueNotices} }

// DispatchArgs enqueues the sites that came due since the last dispatch.
type DispatchArgs struct{}

// Kind is the job kind, stored in the queue: never rename it.
func (DispatchArgs) Kind() string { return "dispatch" }

// InsertOpts puts the dispatcher on the periodic queue.
func (DispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePeriodic, MaxAttempts: 1}
}

// TickArgs sends due reminders and escalations and prunes old history.
type TickArgs struct{}

// Kind is the job kind, stored in the queue: never rename it.
func (TickArgs) Kind() string { return "tick" }

// InsertOpts puts the tick on the periodic queue.
func (TickArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePeriodic, MaxAttempts: 1}
}

// CheckRunner runs one check on a batch of sites and returns one result
// per site it could look up (a domain no longer in the inventory is simply
// left out). It does the network I/O; it must respect ctx (the batch's
// deadline) and report "could not finish" as inconclusive, not as a
// failure.
type CheckRunner interface {
	Run(ctx context.Context, check string, domains []string) []store.SiteResult
}

// Notifier delivers one notice through the channel its audience uses (the
// site owner's, or the provider's ops channel for kind "ops"). It must send
// n.ID as the idempotency key: a retry resends the same notice. Errors and
// body excerpts are stored and shown, so they must not contain secrets
// (webhook URLs with tokens, signing keys) or unmasked phone numbers.
type Notifier interface {
	Deliver(ctx context.Context, n store.Notice) (Delivery, error)
}

// Delivery is what the notifier learnt from the receiving end.
type Delivery struct {
	Channel     string // webhook, dingtalk, wecom, feishu, slack
	StatusCode  int
	BodyExcerpt string
	// Text is the notice as sent (the rendered text) and Headers the
	// signed headers that went with it (notice id, timestamp, signature;
	// never a secret), kept as proof of what the owner received.
	Text    string
	Headers map[string]string
}

// Inventory lists the sites each check applies to.
type Inventory interface {
	Domains(check string) []string
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks a delivery error that retrying cannot fix (a 4xx other
// than 408/429, a channel that is not configured): the notice goes dead at
// once instead of being retried for a day.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
