package engine

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

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// Config is the engine's configuration. Zero values take the defaults
// shown.
type Config struct {
	Lifecycle lifecycle.Config
	Storm     lifecycle.StormConfig // zero: lifecycle.DefaultStormConfig()
	// Schedules maps check name to schedule spec (see Schedule).
	Schedules map[string]string

	BatchSize         int           // sites per check job; 50
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
	HeldMaxAge       time.Duration
	DispatchEvery    time.Duration // 1m
	TickEvery        time.Duration // 1m
	HistoryRetention time.Duration // runs older than this are pruned; 30 days
	// RecordRetention is how long the runs that changed a violation are
	// kept (they are part of the site's dossier); 3 years.
	RecordRetention time.Duration
	TickLimit       int // violations per tick transaction; 500
	// FetchPollInterval is how often idle queues look for new jobs (SQLite
	// has no LISTEN/NOTIFY); River's default 1s.
	FetchPollInterval time.Duration

	// OnDispatch, when set, hears every dispatcher pass (metrics).
	OnDispatch func([]DispatchReport)

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
	def(&c.BatchSize, 50)
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
	storm     *lifecycle.StormGuard
	// inconc counts inconclusive runs as its failures: most runs of a
	// check inconclusive means our resolver or network is failing. It
	// holds nothing (inconclusive never opens a violation) but tells ops
	// when such a storm begins and when it ends.
	inconc *lifecycle.StormGuard
	client *river.Client[*sql.Tx]
	retry  river.ClientRetryPolicy
	log    *slog.Logger
	pacer  Pacer // the notifier, when it paces endpoints

	// inflight holds the ids of notices being attempted in this process.
	inflight sync.Map
	// unrecorded holds, by notice id, attempts this process made whose
	// outcome the store failed to record (*finish); see recordFinish.
	unrecorded sync.Map

	// calm[check] is when the storm guard last saw check's storm end; a
	// held notice is decided only on results recorded since (or since the
	// last storm edge another process recorded, see calmSince). Checks
	// absent from it count as calm since started: results from before the
	// start cannot be told apart from a storm's.
	calmMu  sync.Mutex
	calm    map[string]time.Time
	started time.Time
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
	storm, err := lifecycle.NewStormGuard(cfg.Storm)
	if err != nil {
		errs = append(errs, err)
	}
	inconc, _ := lifecycle.NewStormGuard(cfg.Storm)
	schedules := map[string]Schedule{}
	names := make([]string, 0, len(cfg.Schedules))
	for name := range cfg.Schedules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !knownCheck(name) {
			errs = append(errs, fmt.Errorf("engine: schedule for unknown check %q (known: %v)", name, checks.AllChecks))
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
		schedules: schedules, storm: storm, inconc: inconc, log: cfg.Logger,
		retry: &river.DefaultClientRetryPolicy{},
		calm:  map[string]time.Time{}, started: cfg.Now(),
	}
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
	client, err := river.NewClient(riversqlite.New(deps.Store.DB()), &river.Config{
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
	for _, c := range checks.AllChecks {
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
	e.calmMu.Lock()
	e.started = now
	e.calmMu.Unlock()
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

// Client is the River client, for subscriptions and inspection.
func (e *Engine) Client() *river.Client[*sql.Tx] { return e.client }

// Storm is the storm guard (for metrics and the API).
func (e *Engine) Storm() *lifecycle.StormGuard { return e.storm }

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
// at once. The price is that a site's first check can wait up to one
// interval; use Trigger (the API) to check sites right away.
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
	return reports, errors.Join(errs...)
}

func (e *Engine) dispatchCheck(ctx context.Context, check string, now time.Time) (DispatchReport, error) {
	rep := DispatchReport{Check: check, Through: now}
	domains := e.inv.Domains(check)
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
		due := e.schedules[check].Due(check, domains, last, now)
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
	return rep, nil
}

// Record records results outside a check job (for instance a check run
// synchronously for the API): one transaction with the lifecycle, the
// notices and their notify jobs. Storm counting applies as in check jobs.
func (e *Engine) Record(ctx context.Context, results []store.SiteResult) (store.Recorded, error) {
	var rec store.Recorded
	var undo stormUndo
	err := e.st.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = e.recordTx(ctx, tx, e.cfg.Now(), results, &undo)
		return err
	})
	if err != nil {
		e.undoStorm(&undo)
	}
	return rec, err
}

// stormUndo is what recordTx told the storm guard, to take back should its
// transaction not commit.
type stormUndo struct {
	counts      []lifecycle.StormCount
	edges       []lifecycle.StormStatus
	inconc      []lifecycle.StormCount // of the inconclusive guard
	inconcEdges []lifecycle.StormStatus
}

// undoStorm takes back a failed transaction's counts, so that the retried
// batch is not counted twice, and rearms the edges it acted on.
func (e *Engine) undoStorm(u *stormUndo) {
	for _, c := range u.counts {
		e.storm.Unobserve(c.At, c.Check, c.Checked, c.Failed)
	}
	e.rearm(u.edges)
	for _, c := range u.inconc {
		e.inconc.Unobserve(c.At, strings.TrimPrefix(c.Check, store.InconclusivePrefix), c.Checked, c.Failed)
	}
	for _, st := range u.inconcEdges {
		e.inconc.Rearm(st)
	}
	*u = stormUndo{}
}

// rearm gives the storm guard back the edges a failed transaction acted on.
func (e *Engine) rearm(edges []lifecycle.StormStatus) {
	for _, st := range edges {
		e.storm.Rearm(st)
	}
}

// recordTx records a batch in tx: storm accounting, the store's central
// write, the storm alarm and the notify jobs.
//
// What the storm guard was told is noted in undo: should the transaction
// not commit, the caller takes it back with undoStorm.
func (e *Engine) recordTx(ctx context.Context, tx *sql.Tx, now time.Time, results []store.SiteResult, undo *stormUndo) (store.Recorded, error) {
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
		case checks.Pass:
			c.checked++
			c.runs++
		case checks.Fail:
			c.checked++
			c.runs++
			c.failing = append(c.failing, r.Domain)
		case checks.Inconclusive:
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
		st := e.storm.Observe(now, check, c.checked, c.failing)
		sc := lifecycle.StormCount{Check: check, At: e.storm.BucketStart(now), Checked: c.checked, Failed: len(c.failing)}
		undo.counts = append(undo.counts, sc)
		if c.checked > 0 {
			// Kept with the batch, so that a restart finds the window as
			// it was; a rollback takes it back with the rest.
			if err := e.st.AddStormCountTx(ctx, tx, sc, now.Add(-2*e.cfg.Storm.Window)); err != nil {
				return store.Recorded{}, err
			}
		}
		storming[check] = st
		if st.Started || st.Ended {
			undo.edges = append(undo.edges, st)
		}

		ist := e.inconc.Observe(now, check, c.runs, c.inconclusive)
		ic := lifecycle.StormCount{Check: store.InconclusivePrefix + check, At: e.inconc.BucketStart(now), Checked: c.runs, Failed: len(c.inconclusive)}
		undo.inconc = append(undo.inconc, ic)
		if c.runs > 0 {
			if err := e.st.AddStormCountTx(ctx, tx, ic, now.Add(-2*e.cfg.Storm.Window)); err != nil {
				return store.Recorded{}, err
			}
		}
		if ist.Started || ist.Ended {
			undo.inconcEdges = append(undo.inconcEdges, ist)
			inconc = append(inconc, ist)
		}
	}
	rec, err := e.st.RecordResults(ctx, tx, store.Batch{
		Now: now, Lifecycle: e.cfg.Lifecycle, Results: results,
		Hold: func(check string) bool { return storming[check].Storming },
	})
	if err != nil {
		return rec, err
	}
	e.logTransitions(rec.Transitions)
	for _, r := range rec.Rejected {
		e.log.Warn("result not recorded", "reason", r)
	}
	queued := rec.QueuedIDs()
	checksSorted := make([]string, 0, len(storming))
	for check := range storming {
		checksSorted = append(checksSorted, check)
	}
	sort.Strings(checksSorted)
	for _, check := range checksSorted {
		st := storming[check]
		n, err := e.stormChangedTx(ctx, tx, now, st)
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
		n, err := e.inconclusiveChangedTx(ctx, tx, now, st)
		if err != nil {
			return rec, err
		}
		if n != nil {
			rec.Notices = append(rec.Notices, *n)
			queued = append(queued, n.ID)
		}
	}
	if err := e.insertNotify(ctx, tx, queued); err != nil {
		return rec, err
	}
	return rec, nil
}

// stormChangedTx acts on a change of the storm guard's status: at the start
// of a storm, the one summary for ops (created in tx and returned; the
// caller enqueues it); at its end, the moment from which results count
// again for deciding the held notices.
func (e *Engine) stormChangedTx(ctx context.Context, tx *sql.Tx, now time.Time, st lifecycle.StormStatus) (*store.Notice, error) {
	switch {
	case st.Started:
		e.log.Warn("storm: holding owner notices", "check", st.Check, "failed", st.Failed, "checked", st.Checked)
		// Another process recording into this store (an audit --record
		// beside the daemon) may have announced this storm already.
		// A state older than the window is stale (a process that died in
		// a storm) and must not silence this one.
		already, since, _, err := e.st.StormStateTx(ctx, tx, st.Check)
		if err != nil {
			return nil, err
		}
		if already && since.After(now.Add(-e.cfg.Storm.Window)) {
			return nil, nil
		}
		if err := e.st.SetStormingTx(ctx, tx, st.Check, true, now); err != nil {
			return nil, err
		}
		// The storm's first wave: violations opened within the window
		// the guard judged on, whose notices are still settling (or
		// otherwise unsent), are held like those that follow.
		held, err := e.st.HoldUnsentTx(ctx, tx, st.Check, now.Add(-e.cfg.Storm.Window))
		if err != nil {
			return nil, err
		}
		if len(held) > 0 {
			e.log.Warn("storm: holding notices of its first wave", "check", st.Check, "notices", len(held))
		}
		n, err := e.st.CreateNoticeTx(ctx, tx, now, "", store.NoticeOps, store.NoticePayload{
			Storm: &store.StormInfo{Check: st.Check, Checked: st.Checked, Failed: st.Failed, Since: now},
		}, store.NoticeQueued)
		if err != nil {
			return nil, err
		}
		return &n, nil
	case st.Ended:
		if err := e.st.SetStormingTx(ctx, tx, st.Check, false, now); err != nil {
			return nil, err
		}
		e.calmMu.Lock()
		e.calm[st.Check] = now
		e.calmMu.Unlock()
		e.log.Info("storm over; held notices are released or dropped once their sites are checked again", "check", st.Check)
	}
	return nil, nil
}

// calmSince is the moment from which results count again for deciding the
// held notices of check: the later of this engine's start, the end of its
// last storm, and the last storm edge any process recorded (an audit
// --record's storm, or its hand-over when it stopped).
func (e *Engine) calmSince(ctx context.Context, tx *sql.Tx, check string) (time.Time, error) {
	e.calmMu.Lock()
	calm := e.started
	if t, ok := e.calm[check]; ok && t.After(calm) {
		calm = t
	}
	e.calmMu.Unlock()
	_, since, ok, err := e.st.StormStateTx(ctx, tx, check)
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
func (e *Engine) LoadStorm(ctx context.Context) error {
	now := e.cfg.Now()
	since := now.Add(-e.cfg.Storm.Window)
	counts, storming, err := e.st.StormMemory(ctx, since)
	if err != nil {
		return err
	}
	sites, err := e.st.StormSites(ctx, since)
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
	e.storm.Restore(now, fc, fs, fst)
	e.inconc.Restore(now, ic, is, ist)
	for _, check := range fst {
		e.log.Warn("storm carried over: owner notices stay held", "check", check)
	}
	for _, check := range ist {
		e.log.Warn("inconclusive storm carried over", "check", check)
	}
	return nil
}

// HandOverStorms ends, in the store, the storms this engine is in, from
// now on: a process that stops while it holds notices (an audit --record)
// leaves the decision to the daemon's own later checks, rather than a
// storm no one will ever end.
func (e *Engine) HandOverStorms(ctx context.Context) error {
	storming := e.storm.Storming()
	if len(storming) == 0 {
		return nil
	}
	now := e.cfg.Now()
	return e.st.InTx(ctx, func(tx *sql.Tx) error {
		for _, check := range storming {
			if err := e.st.SetStormingTx(ctx, tx, check, false, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// logTransitions puts every violation change in the log, where an
// operator tailing the daemon sees sites break and recover.
func (e *Engine) logTransitions(trs []lifecycle.Transition) {
	for _, t := range trs {
		attrs := []any{"domain", t.Domain, "code", t.Code, "from", t.From, "to", t.To}
		if !t.Deadline.IsZero() && t.Kind != lifecycle.KindResolved {
			attrs = append(attrs, "deadline", t.Deadline.Format(time.RFC3339))
		}
		e.log.Info("violation "+string(t.Kind), attrs...)
	}
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
				AND json_extract(j.args, '$.notice_id') = n.id)
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
	if len(ids) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: NotifyArgs{NoticeID: id},
			InsertOpts: &river.InsertOpts{Queue: QueueNotices, MaxAttempts: notifyJobMaxAttempts}}
	}
	if _, err := e.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("enqueue %d notices: %w", len(ids), err)
	}
	return nil
}

// Tick sends the reminders and escalations due at now, in transactions of
// at most TickLimit violations, and returns how many transitions it made.
func (e *Engine) Tick(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := e.st.InTx(ctx, func(tx *sql.Tx) error {
			// Reminders and escalations during a storm of their check are
			// held like its openings: the violation may be the storm's.
			rec, err := e.st.TickDueHolding(ctx, tx, now, e.cfg.Lifecycle, e.cfg.TickLimit, func(check string) bool {
				return e.storm.Peek(now, check).Storming
			})
			if err != nil {
				return err
			}
			e.logTransitions(rec.Transitions)
			n = len(rec.Transitions)
			return e.insertNotify(ctx, tx, rec.QueuedIDs())
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
func (e *Engine) ReleaseHeld(ctx context.Context, domain string) (int, error) {
	var n int
	err := e.st.InTx(ctx, func(tx *sql.Tx) error {
		ids, err := e.st.ReleaseHeldTx(ctx, tx, e.cfg.Now(), domain)
		if err != nil {
			return err
		}
		n = len(ids)
		return e.insertNotify(ctx, tx, ids)
	})
	return n, err
}

// Withdraw retires a site's violations of check ("" = all) that can no
// longer be judged (the check stopped applying, the site left the
// inventory). Recorded, not announced.
func (e *Engine) Withdraw(ctx context.Context, domain, check, reason string) ([]lifecycle.Transition, error) {
	var trs []lifecycle.Transition
	err := e.st.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		trs, err = e.st.WithdrawTx(ctx, tx, e.cfg.Now(), e.cfg.Lifecycle, domain, check, reason)
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
func (e *Engine) SettleHeld(ctx context.Context, now time.Time) (SettleReport, error) {
	var rep SettleReport
	j := &heldJudge{e: e, now: now, status: map[string]lifecycle.StormStatus{}, domains: map[string]map[string]bool{}}
	var afterT time.Time
	afterID := ""
	for {
		var page []store.Notice
		err := e.st.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			page, err = e.st.HeldNoticesTx(ctx, tx, afterT, afterID, e.cfg.TickLimit)
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
				ok, err := e.st.SettleHeldTx(ctx, tx, n.ID, now, v.keep, v.reason)
				if err != nil || !ok {
					return err
				}
				if len(v.keep) > 0 {
					rep.Released++
					queue = append(queue, n.ID)
					e.log.Info("held notice released after the storm", "notice", n.ID, "domain", n.Domain, "reason", v.reason)
				} else {
					rep.Dropped++
					e.log.Info("held notice dropped after the storm", "notice", n.ID, "domain", n.Domain, "reason", v.reason)
				}
			}
			for _, n := range j.alarms {
				queue = append(queue, n.ID)
			}
			j.alarms = nil
			return e.insertNotify(ctx, tx, queue)
		})
		if err != nil {
			e.rearm(j.edges)
			return rep, fmt.Errorf("settle held notices: %w", err)
		}
		j.edges = nil
		if len(page) < e.cfg.TickLimit {
			return rep, nil
		}
		afterT, afterID = page[len(page)-1].CreatedAt, page[len(page)-1].ID
	}
}

// heldJudge decides held notices, caching per check what the storm guard
// and the inventory say for the duration of one SettleHeld.
type heldJudge struct {
	e       *Engine
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
		st = j.e.storm.Status(j.now, check)
		if st.Started || st.Ended {
			j.edges = append(j.edges, st)
		}
		n, err := j.e.stormChangedTx(ctx, tx, j.now, st)
		if err != nil {
			return false, err
		}
		if n != nil {
			j.alarms = append(j.alarms, *n)
		}
		if !st.Storming {
			// Another process may be in a storm this engine never saw.
			other, _, _, err := j.e.st.StormStateTx(ctx, tx, check)
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
		for _, d := range j.e.inv.Domains(check) {
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
		r, ok, err := j.e.st.LatestResultTx(ctx, tx, n.Domain, check)
		if err != nil {
			return v, err
		}
		calm, err := j.e.calmSince(ctx, tx, check)
		if err != nil {
			return v, err
		}
		if !ok || r.At.Before(calm) || r.Result.Outcome == checks.Inconclusive {
			undecided = fmt.Sprintf("no conclusive %s result since the storm ended", check)
			break
		}
		if r.Result.Outcome == checks.NotApplicable {
			dropped = append(dropped, fmt.Sprintf("%s: the %s check no longer applies", t.Code, check))
			continue
		}
		st, tracked, err := j.e.st.ViolationTx(ctx, tx, n.Domain, t.Code)
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
		if age := j.now.Sub(n.CreatedAt); age >= j.e.cfg.HeldMaxAge {
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
func failsWith(r checks.Result, code string) bool {
	if r.Outcome != checks.Fail {
		return false
	}
	for _, f := range r.Findings {
		if f.Code == code && f.Severity == checks.Violation {
			return true
		}
	}
	return false
}
