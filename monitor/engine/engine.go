package engine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/ledger"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// DefaultBatchSize is how many sites a check job carries when Config says
// nothing: the daemon's built-in checks.batch_size (a test in monitor
// keeps them equal).
const DefaultBatchSize = 100

// Config is the engine's configuration. Zero values take the defaults
// shown.
type Config struct {
	Lifecycle lifecycle.Config
	Storm     lifecycle.StormConfig // zero: lifecycle.DefaultStormConfig()
	// Schedules maps check name to schedule spec (see Schedule).
	Schedules map[string]string

	BatchSize         int           // sites per check job; DefaultBatchSize
	CheckWorkers      int           // parallel check batches; 4
	NotifyWorkers     int           // parallel deliveries; 4
	CheckTimeout      time.Duration // per check batch; 10m
	NotifyTimeout     time.Duration // per delivery; 1m
	NotifyMaxAttempts int           // delivery attempts before a notice is dead; 10
	// NotifyBackoff is the wait before the next delivery attempt after
	// the given number of failed ones (default DefaultNotifyBackoff). A
	// longer wait asked for by the receiver (Retry-After on a 429, a
	// vendor's rate-limit window) is honoured instead.
	NotifyBackoff func(attempts int) time.Duration
	// HeldMaxAge: a notice held by the storm guard that still cannot be
	// decided this long after it was held (its site was never checked
	// conclusively again) is dropped, with the reason; 8 days, so that a
	// weekly check gets its run.
	HeldMaxAge    time.Duration
	DispatchEvery time.Duration // 1m
	// FirstRunWithin: a site the store has never checked runs within this
	// window (or its check's interval, when shorter), spread over it, not
	// at its usual offset in the interval; 0 turns this off.
	FirstRunWithin   time.Duration
	TickEvery        time.Duration // 1m
	HistoryRetention time.Duration // runs older than this are pruned; 30 days
	// RecordRetention is how long the runs that changed a violation are
	// kept (they are part of the site's dossier); 3 years.
	RecordRetention time.Duration
	TickLimit       int // violations per tick transaction; 500
	// FetchPollInterval is how often idle queues look for new jobs;
	// River's default 1s. SQLite has no LISTEN/NOTIFY, so this is how
	// soon a new job starts there; on PostgreSQL a NOTIFY wakes the queue
	// at once and the poll is the fallback.
	FetchPollInterval time.Duration

	// OnDispatch, when set, hears every dispatcher pass (metrics).
	OnDispatch func([]DispatchReport)

	// Derive, when set, is asked in the recording transaction, once the
	// results of a batch are recorded, for results that follow from them
	// (an entity's judgement follows from its sites' shell violations);
	// those are recorded in the same transaction, so they never disagree
	// with what they were derived from. It reads through tx only.
	Derive func(ctx context.Context, tx *sql.Tx, results []store.SiteResult) ([]store.SiteResult, error)

	// QuietUntil, when set, tells the notify worker to wait until the
	// returned time before delivering n (quiet hours); zero means now.
	QuietUntil func(now time.Time, n store.Notice) time.Time

	Logger *slog.Logger
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

func (c *Config) applyDefaults() {
	if c.Storm == (lifecycle.StormConfig{}) {
		c.Storm = lifecycle.DefaultStormConfig()
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.BatchSize, DefaultBatchSize)
	def(&c.CheckWorkers, 4)
	def(&c.NotifyWorkers, 4)
	def(&c.NotifyMaxAttempts, 10)
	def(&c.TickLimit, 500)
	defD(&c.CheckTimeout, 10*time.Minute)
	defD(&c.NotifyTimeout, time.Minute)
	defD(&c.DispatchEvery, time.Minute)
	defD(&c.TickEvery, time.Minute)
	defD(&c.HistoryRetention, 30*24*time.Hour)
	defD(&c.RecordRetention, 3*365*24*time.Hour)
	c.RecordRetention = max(c.RecordRetention, c.HistoryRetention)
	defD(&c.HeldMaxAge, 8*24*time.Hour)
	if c.NotifyBackoff == nil {
		c.NotifyBackoff = DefaultNotifyBackoff().Delay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Deps are the engine's collaborators.
type Deps struct {
	Store     *store.Store
	Runner    CheckRunner
	Notifier  Notifier
	Inventory Inventory
}

// Engine owns the River client and the workers.
type Engine struct {
	cfg       Config
	st        *store.Store
	runner    CheckRunner
	notifier  Notifier
	inv       Inventory
	schedules map[string]Schedule
	// l keeps the books: violations, notices, the storm guard.
	l      *ledger.Ledger
	client *river.Client[*sql.Tx]
	retry  river.ClientRetryPolicy
	log    *slog.Logger
	pacer  Pacer // the notifier, when it paces endpoints

	// inflight holds the ids of notices being attempted in this process.
	inflight sync.Map
	// unrecorded holds, by notice id, attempts this process made whose
	// outcome the store failed to record (*finish); see recordFinish.
	unrecorded sync.Map

	first *firstRuns
}

// New validates cfg and builds the engine and its River client (not yet
// started).
func New(cfg Config, deps Deps) (*Engine, error) {
	cfg.applyDefaults()
	var errs []error
	if deps.Store == nil {
		errs = append(errs, errors.New("engine: no store"))
	}
	if deps.Runner == nil {
		errs = append(errs, errors.New("engine: no check runner"))
	}
	if deps.Notifier == nil {
		errs = append(errs, errors.New("engine: no notifier"))
	}
	if deps.Inventory == nil {
		errs = append(errs, errors.New("engine: no inventory"))
	}
	if err := cfg.Lifecycle.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := cfg.Storm.Validate(); err != nil {
		errs = append(errs, err)
	}
	schedules := map[string]Schedule{}
	names := make([]string, 0, len(cfg.Schedules))
	for name := range cfg.Schedules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !knownCheck(name) {
			errs = append(errs, fmt.Errorf("engine: schedule for unknown check %q (known: %v)", name, beian.Checks()))
			continue
		}
		s, err := ParseSchedule(cfg.Schedules[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("engine: %s: %w", name, err))
			continue
		}
		schedules[name] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	e := &Engine{
		cfg: cfg, st: deps.Store, runner: deps.Runner, notifier: deps.Notifier, inv: deps.Inventory,
		schedules: schedules, log: cfg.Logger,
		retry: &river.DefaultClientRetryPolicy{},
		first: newFirstRuns(cfg.FirstRunWithin),
	}
	l, err := ledger.New(ledger.Config{
		Lifecycle: cfg.Lifecycle, Storm: cfg.Storm, HeldMaxAge: cfg.HeldMaxAge, TickLimit: cfg.TickLimit,
		Logger: cfg.Logger, Now: cfg.Now, Derive: cfg.Derive,
	}, ledger.Deps{Store: deps.Store, Enqueue: e.insertNotify, Domains: deps.Inventory.Domains})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.l = l
	if p, ok := deps.Notifier.(Pacer); ok {
		e.pacer = p
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &checkWorker{e: e}); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &notifyWorker{e: e}); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &dispatchWorker{e: e}); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &tickWorker{e: e}); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// The store's driver: riversqlite or riverdatabasesql, both on *sql.Tx
	// (see store.RiverDriver). Only River's elected leader enqueues the
	// periodic jobs, so only one node dispatches; any node works them and
	// the check and notify jobs.
	client, err := river.NewClient(deps.Store.RiverDriver(), &river.Config{
		Queues: map[string]river.QueueConfig{
			QueueChecks:   {MaxWorkers: cfg.CheckWorkers},
			QueueNotices:  {MaxWorkers: cfg.NotifyWorkers},
			QueuePeriodic: {MaxWorkers: 1},
		},
		Workers: workers,
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.DispatchEvery),
				func() (river.JobArgs, *river.InsertOpts) { return DispatchArgs{}, nil },
				&river.PeriodicJobOpts{ID: "dispatch", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(cfg.TickEvery),
				func() (river.JobArgs, *river.InsertOpts) { return TickArgs{}, nil },
				&river.PeriodicJobOpts{ID: "tick", RunOnStart: true}),
		},
		// Every worker sets its own Timeout; this is only the fallback.
		JobTimeout: cfg.NotifyTimeout,
		// A job left running by a node that died is rescued once it has
		// run longer than this AND longer than its own kind's timeout
		// (River's rescuer asks the worker), so a delivery is retried
		// about NotifyTimeout + 1 min after it began and a check batch
		// CheckTimeout after: each kind by its own bound, not all by the
		// longest. The minute covers recording after the deadline
		// (recordGrace) and the rescuer's own period. On SQLite, jobs left
		// running by a previous process are not waited for at all (see
		// Start).
		RescueStuckJobsAfter: RescueAfter(cfg.NotifyTimeout),
		RetryPolicy:          e.retry,
		FetchPollInterval:    cfg.FetchPollInterval,
		Logger:               slog.New(riverLogHandler{cfg.Logger.Handler()}),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: create job client: %w", err)
	}
	e.client = client
	return e, nil
}

// recordGrace is how long a worker may keep recording after its job's
// deadline: the attempt or the results happened, and the proof matters.
const recordGrace = 30 * time.Second

// RescueAfter is River's stuck-job horizon for a delivery timeout: the
// soonest a job that stopped reporting may be run again by another node.
func RescueAfter(notifyTimeout time.Duration) time.Duration {
	return notifyTimeout + recordGrace + 30*time.Second
}

func knownCheck(name string) bool {
	for _, c := range beian.Checks() {
		if c == name {
			return true
		}
	}
	return false
}

// Start starts working jobs (and, as leader, the periodic jobs).
func (e *Engine) Start(ctx context.Context) error {
	if err := e.st.RecomputeDue(ctx, e.cfg.Lifecycle); err != nil {
		return err
	}
	now := e.cfg.Now()
	if err := e.LoadStorm(ctx); err != nil {
		return err
	}
	e.l.Started(now)
	if e.st.OwnsQueue() {
		n, err := e.retryOrphans(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			e.log.Warn("jobs left running by a previous process are retried now", "jobs", n)
		}
	}
	if err := e.client.Start(ctx); err != nil {
		return fmt.Errorf("start job client: %w", err)
	}
	return nil
}

// Stop waits for running jobs to finish (until ctx ends) and stops.
func (e *Engine) Stop(ctx context.Context) error {
	if err := e.client.Stop(ctx); err != nil {
		return fmt.Errorf("stop job client: %w", err)
	}
	return nil
}

// IsLeader says whether this node is River's elected leader now (the one
// that enqueues the periodic dispatch and tick jobs).
func (e *Engine) IsLeader(ctx context.Context) (bool, error) {
	id, ok, err := e.st.RiverLeader(ctx)
	if err != nil || !ok {
		return false, err
	}
	return id == e.client.ID(), nil
}

// Client is the River client, for subscriptions and inspection.
func (e *Engine) Client() *river.Client[*sql.Tx] { return e.client }

// Storm is the storm guard (for metrics and the API).
func (e *Engine) Storm() *lifecycle.StormGuard { return e.l.Storm() }

// Ledger is the violation bookkeeping the engine records through.
func (e *Engine) Ledger() *ledger.Ledger { return e.l }

// Record records results outside a check job (see ledger.Ledger.Record).
func (e *Engine) Record(ctx context.Context, results []store.SiteResult) (store.Recorded, error) {
	return e.l.Record(ctx, results)
}

// LoadStorm gives the storm guard the window kept in the store.
func (e *Engine) LoadStorm(ctx context.Context) error { return e.l.Load(ctx) }

// HandOverStorms ends, in the store, the storms this engine is in.
func (e *Engine) HandOverStorms(ctx context.Context) error { return e.l.HandOverStorms(ctx) }

// Tick sends the reminders and escalations due at now.
func (e *Engine) Tick(ctx context.Context, now time.Time) (int, error) { return e.l.Tick(ctx, now) }

// ReleaseHeld queues the notices held during a storm (of domain, or all).
func (e *Engine) ReleaseHeld(ctx context.Context, domain string) (int, error) {
	return e.l.ReleaseHeld(ctx, domain)
}

// Withdraw retires a site's violations of check ("" = all).
func (e *Engine) Withdraw(ctx context.Context, domain, check, reason string) ([]lifecycle.Transition, error) {
	return e.l.Withdraw(ctx, domain, check, reason)
}

// SettleReport says what SettleHeld did.
type SettleReport = ledger.SettleReport

// SettleHeld decides the owner notices held by the storm guard.
func (e *Engine) SettleHeld(ctx context.Context, now time.Time) (SettleReport, error) {
	return e.l.SettleHeld(ctx, now)
}

// Trigger enqueues check on domains now, in batches (for the API's
// "trigger a check" and for operators).
func (e *Engine) Trigger(ctx context.Context, check string, domains []string) (jobs int, err error) {
	if !knownCheck(check) {
		return 0, fmt.Errorf("trigger: unknown check %q", check)
	}
	params := e.batches(check, domains, TriggerManual)
	if len(params) == 0 {
		return 0, nil
	}
	err = e.st.InTx(ctx, func(tx *sql.Tx) error {
		_, err := e.client.InsertManyTx(ctx, tx, params)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("trigger %s on %d sites: %w", check, len(domains), err)
	}
	return len(params), nil
}

func (e *Engine) batches(check string, domains []string, trigger string) []river.InsertManyParams {
	var params []river.InsertManyParams
	for i := 0; i < len(domains); i += e.cfg.BatchSize {
		end := min(i+e.cfg.BatchSize, len(domains))
		params = append(params, river.InsertManyParams{Args: CheckBatchArgs{
			Check: check, Domains: append([]string(nil), domains[i:end]...), Trigger: trigger,
		}})
	}
	return params
}

// DispatchReport says what one dispatch enqueued, per check.
type DispatchReport struct {
	Check   string
	From    time.Time // window (From, Through]
	Through time.Time
	Sites   int
	Jobs    int
	First   bool // no earlier dispatch: the window starts now (see Dispatch)
	// New is how many sites the check has never run on (nor dispatched
	// before this pass); FirstRuns how many of them this pass enqueued.
	New       int
	FirstRuns int
	// Wave: this pass started working through new sites (none were
	// waiting at the last one); they all run within Within.
	Wave   bool
	Within time.Duration
}

// Dispatch enqueues, for every scheduled check, the sites due since the
// last dispatch, in batches. The window's end and the jobs commit in one
// transaction per check, so a crash never dispatches a window twice nor
// loses one.
//
// The first dispatch of a check (a new database, or a newly scheduled
// check) enqueues nothing and starts the window at now: each site then
// gets its first run at its offset within the coming interval, so a fresh
// daemon with 100,000 sites ramps up evenly instead of firing everything
// at once. Sites the store has never checked are brought forward: they
// run within Config.FirstRunWithin (see firstRuns), so a new database or a
// site just added shows results in minutes, not hours.
func (e *Engine) Dispatch(ctx context.Context, now time.Time) ([]DispatchReport, error) {
	names := make([]string, 0, len(e.schedules))
	for name := range e.schedules {
		names = append(names, name)
	}
	sort.Strings(names)
	var reports []DispatchReport
	var errs []error
	for _, check := range names {
		rep, err := e.dispatchCheck(ctx, check, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		reports = append(reports, rep)
	}
	e.logWave(reports)
	return reports, errors.Join(errs...)
}

func (e *Engine) dispatchCheck(ctx context.Context, check string, now time.Time) (DispatchReport, error) {
	rep := DispatchReport{Check: check, Through: now}
	domains := e.inv.Domains(check)
	if e.first.within > 0 && !e.first.loaded(check) {
		checked, err := e.st.CheckedDomains(ctx, check)
		if err != nil {
			return rep, fmt.Errorf("dispatch %s: %w", check, err)
		}
		e.first.load(check, checked)
	}
	var fresh, due []string
	if e.first.within > 0 {
		fresh = e.first.fresh(check, domains)
	}
	err := e.st.InTx(ctx, func(tx *sql.Tx) error {
		last, ok, err := e.st.DispatchedThroughTx(ctx, tx, check)
		if err != nil {
			return err
		}
		if !ok {
			rep.First, rep.From = true, now
			return e.st.SetDispatchedThroughTx(ctx, tx, check, now)
		}
		rep.From = last
		if !now.After(last) {
			// The clock went back (or two dispatches raced): nothing
			// new is due, and the window must not move backwards.
			rep.Through = last
			return nil
		}
		sched := e.schedules[check]
		due = sched.Due(check, domains, last, now)
		firsts := e.first.Due(check, sched, fresh, last, now)
		rep.FirstRuns = len(firsts)
		due = union(due, firsts)
		rep.Sites = len(due)
		params := e.batches(check, due, TriggerSchedule)
		rep.Jobs = len(params)
		if len(params) > 0 {
			if _, err := e.client.InsertManyTx(ctx, tx, params); err != nil {
				return fmt.Errorf("enqueue %d batches: %w", len(params), err)
			}
		}
		return e.st.SetDispatchedThroughTx(ctx, tx, check, now)
	})
	if err != nil {
		return rep, fmt.Errorf("dispatch %s: %w", check, err)
	}
	if e.first.within > 0 {
		e.noteFirstRuns(&rep, fresh, due)
	}
	return rep, nil
}

// noteFirstRuns remembers what a committed dispatch enqueued, and marks
// the report as the start of a wave of new sites (Wave) when the last
// pass had none of them waiting for this check.
func (e *Engine) noteFirstRuns(rep *DispatchReport, fresh, due []string) {
	rep.New = len(fresh)
	waiting := len(fresh) - countIn(fresh, due)
	before := e.first.dispatched(rep.Check, due, waiting)
	if before == 0 && len(fresh) > 0 {
		rep.Wave = true
		rep.Within = e.cfg.FirstRunWithin
		if w, sooner := e.first.window(e.schedules[rep.Check], rep.Through); sooner {
			rep.Within = w
		} else {
			start, end := e.schedules[rep.Check].IntervalAt(rep.Through)
			rep.Within = end.Sub(start)
		}
	}
}

// logWave says, in one line per dispatch pass, that it has started
// working through new sites, and how many per check.
func (e *Engine) logWave(reps []DispatchReport) {
	var attrs []any
	var within time.Duration
	for _, r := range reps {
		if r.Wave {
			attrs = append(attrs, r.Check, r.New)
			within = max(within, r.Within)
		}
	}
	if len(attrs) == 0 {
		return
	}
	attrs = append([]any{"within", within.String()}, attrs...)
	e.log.Info("new sites never checked: their first runs are spread over the coming window", attrs...)
}

// countIn counts the elements of a found in b.
func countIn(a, b []string) int {
	in := make(map[string]struct{}, len(b))
	for _, d := range b {
		in[d] = struct{}{}
	}
	n := 0
	for _, d := range a {
		if _, ok := in[d]; ok {
			n++
		}
	}
	return n
}

// RescueOrphans re-enqueues the delivery of notices that wait for one
// (queued or sending) but have no live notify job: River discards a job
// after too many failed attempts to run it (database errors, not delivery
// failures, which the worker counts itself). Without this such a notice,
// and everything later merged into it, would never be sent. The notice
// keeps its id, so a receiver that did get it deduplicates.
func (e *Engine) RescueOrphans(ctx context.Context) (int, error) {
	var n int
	err := e.st.InTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT n.id FROM notices n
			WHERE n.state IN ('queued', 'sending') AND NOT EXISTS (
				SELECT 1 FROM river_job j WHERE j.kind = 'notify'
				AND j.state NOT IN ('completed', 'cancelled', 'discarded')
				AND `+e.st.Dialect().JSONField("j.args", "notice_id")+` = n.id)
			LIMIT 500`)
		if err != nil {
			return fmt.Errorf("find notices without a delivery job: %w", err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n = len(ids)
		return e.insertNotify(ctx, tx, ids)
	})
	if err != nil {
		return 0, fmt.Errorf("rescue notices: %w", err)
	}
	if n > 0 {
		e.log.Warn("notices had lost their delivery job; enqueued again", "count", n)
	}
	return n, nil
}

func (e *Engine) insertNotify(ctx context.Context, tx *sql.Tx, ids []string) error {
	return enqueueNotices(ctx, e.client, tx, ids)
}

func enqueueNotices(ctx context.Context, client *river.Client[*sql.Tx], tx *sql.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: NotifyArgs{NoticeID: id},
			InsertOpts: &river.InsertOpts{Queue: QueueNotices, MaxAttempts: notifyJobMaxAttempts}}
	}
	if _, err := client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue %d notices: %w", len(ids), err)
	}
	return nil
}

// NoticeEnqueuer returns, for a process that records into st but works no
// jobs (an audit --record beside the daemon), what a ledger needs to
// enqueue the delivery of its notices: the daemon's notify workers deliver
// them. Its job client only inserts.
func NoticeEnqueuer(st *store.Store) (func(ctx context.Context, tx *sql.Tx, ids []string) error, error) {
	client, err := river.NewClient(st.RiverDriver(), &river.Config{})
	if err != nil {
		return nil, fmt.Errorf("create job client to enqueue notices: %w", err)
	}
	return func(ctx context.Context, tx *sql.Tx, ids []string) error {
		return enqueueNotices(ctx, client, tx, ids)
	}, nil
}
