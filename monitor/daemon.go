package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/console"
	"github.com/beianwatch/beianwatch/monitor/engine"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// Options are the daemon's collaborators beyond its configuration; the
// zero value is the production setup.
type Options struct {
	Logger   *slog.Logger
	Getenv   func(string) string // nil: os.Getenv
	Now      func() time.Time    // nil: time.Now; tests drive reminders with it
	Registry *prometheus.Registry
	Version  string
	// GracePeriod is how long in-flight checks may run on shutdown before
	// they are cancelled (and retried by the next daemon); default 30s.
	GracePeriod time.Duration
	// Listener, when set, is used instead of listening on cfg.Listen
	// (tests pass a port-0 listener).
	Listener net.Listener
	// PollInterval is how often idle job queues look for work (SQLite has
	// no LISTEN/NOTIFY); default River's 1s. Tests shorten it.
	PollInterval time.Duration
	// SessionTTL is how long a console sign-in lasts; default 12h.
	SessionTTL time.Duration
	// Screenshots, when set, shows rendered-footer screenshots on the
	// console's site pages.
	Screenshots console.Screenshots
	// StoreOptions are added when opening the store (tests inject a
	// fault-injecting driver with store.WithDriver).
	StoreOptions []store.Option
	// SuspendedRecheck is how often a waiting notice of a site missing
	// from the inventory looks whether the site is back; default 30s.
	SuspendedRecheck time.Duration
}

// Daemon is `beianwatch run`.
type Daemon struct {
	cfg      *config.Config
	opts     Options
	log      *slog.Logger
	getenv   func(string) string
	now      func() time.Time
	store    *store.Store
	watcher  *inventory.Watcher
	checkers *Checkers
	engine   *engine.Engine
	registry *prometheus.Registry
	metrics  *daemonMetrics
	apiToken string
	console  *console.Console

	entities *entityJudge

	ready     atomic.Bool
	reloadMu  sync.Mutex
	applicant applicability
	// last is the inventory the daemon last acted on, to tell what a
	// reload removed or changed.
	last *inventory.Inventory
}

// New opens the store (running migrations), loads the inventory and builds
// the engine. Nothing runs until Run.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Daemon, error) {
	d := &Daemon{cfg: cfg, opts: opts, log: opts.Logger, getenv: opts.Getenv, now: opts.Now, registry: opts.Registry}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if d.getenv == nil {
		d.getenv = os.Getenv
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.registry == nil {
		d.registry = prometheus.NewRegistry()
	}
	if d.opts.GracePeriod <= 0 {
		d.opts.GracePeriod = 30 * time.Second
	}
	if d.opts.SuspendedRecheck <= 0 {
		d.opts.SuspendedRecheck = 30 * time.Second
	}
	if cfg.API.TokenEnv != "" {
		d.apiToken = d.getenv(cfg.API.TokenEnv)
	}

	inv := &inventory.Inventory{}
	var lint []inventory.LintError
	if cfg.Inventory.Path == "" {
		d.log.Info(NoInventoryHint)
	} else {
		var err error
		if inv, lint, err = inventory.Load(cfg.Inventory.Path); err != nil {
			return nil, fmt.Errorf("loading the inventory: %w", err)
		}
		d.logLint(lint)
		if inv.Len() == 0 && len(lint) > 0 {
			// The same rule as a reload (inventory.Watcher): records and not
			// one good is a broken export, not an intent to watch nothing.
			return nil, fmt.Errorf("loading the inventory %s: %d records, %w", cfg.Inventory.Path, len(lint), inventory.ErrNoGoodRecords)
		}
		d.log.Info("inventory loaded", "path", cfg.Inventory.Path, "sites", inv.Len(), "rejected", len(lint))
	}
	if opts.Listener == nil && !loopbackListen(cfg.Listen) {
		d.log.Warn("listen address is not loopback: /metrics, /healthz and /readyz are open to the network (only /api/v1 needs the token); put a firewall or a proxy in front, or listen on 127.0.0.1",
			"listen", cfg.Listen)
	}

	st, err := OpenStore(ctx, cfg, d.getenv, d.log, opts.StoreOptions...)
	if err != nil {
		return nil, kindError{ErrStore, fmt.Errorf("opening the store %s: %w", cfg.Storage.Path, err)}
	}
	d.store = st

	d.checkers, err = NewCheckers(cfg, CheckerOptions{
		Getenv: d.getenv, Clock: d.now, Logger: d.log,
		PhoneCache:     storePhoneCache{st: st, now: d.now},
		RenderObserver: renderMetrics{d: d},
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	for _, w := range d.checkers.Warnings {
		d.log.Warn(w)
	}
	d.applicant = applicability{checkers: d.checkers.ByName}

	renderer, err := alerts.NewRenderer(alerts.RendererOptions{
		OverrideDir: cfg.Notices.TemplatesDir, Language: cfg.Notices.Language, TimeZone: cfg.Notices.Timezone,
	})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("loading notice templates: %w", err)
	}
	d.metrics = newDaemonMetrics(d)
	d.store.OnError(func(op string, err error) {
		d.metrics.m.StoreError(op)
		d.log.Warn("store error", "op", op, "err", err)
	})
	d.metrics.setInventory(true, len(lint))

	d.last = inv
	// Parsing a large inventory leaves several times its size in garbage;
	// give it back now rather than carry it until the next collection.
	debug.FreeOSMemory()
	d.watcher = inventory.NewWatcher(cfg.Inventory.Path, inv, d.onReload,
		inventory.WithSettle(cfg.Inventory.Settle), inventory.WithMaxShrink(cfg.Inventory.MaxShrink))
	// Sites the store still has business with but the inventory lacks
	// (removed while the daemon was down, or a truncated file at start)
	// are suspended, not forgotten; those back are resumed.
	if err := d.reconcileSuspensions(ctx, inv); err != nil {
		st.Close()
		return nil, err
	}

	nt := &notifier{
		cfg: cfg, renderer: renderer, client: d.checkers.Client, getenv: d.getenv, now: d.now,
		sites: d.siteView, observe: d.metrics.observeNotice,
	}
	ecfg := engineConfig(cfg, d.log, d.now)
	ecfg.Schedules = schedules(cfg)
	ecfg.DispatchEvery = dispatchEvery(cfg)
	ecfg.FirstRunWithin = cfg.Schedules.FirstRunWithin
	ecfg.TickEvery = ecfg.DispatchEvery
	ecfg.HistoryRetention = cfg.Retention.History
	ecfg.RecordRetention = cfg.Retention.Record
	ecfg.QuietUntil = d.noticeWait
	ecfg.OnDispatch = d.metrics.observeDispatch
	d.entities = &entityJudge{st: st, current: d.watcher.Current}
	ecfg.Derive = d.entities.deriveEntities
	ecfg.FetchPollInterval = opts.PollInterval
	eng, err := engine.New(ecfg, engine.Deps{
		Store: st,
		Runner: &siteRunner{d: d, runner: NewRunner(d.checkers.ByName, RunnerOptions{
			Concurrency: max(cfg.Checks.Concurrency, 1), Clock: d.now,
			PerHost: cfg.Checks.PerIPConcurrency,
		})},
		Notifier:  nt,
		Inventory: d,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	d.engine = eng
	shots := opts.Screenshots
	if shots == nil {
		shots = storeScreenshots{st: d.store}
	}
	if d.console, err = d.newConsole(shots); err != nil {
		st.Close()
		return nil, err
	}
	d.metrics.m.SetLeader(func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		ok, err := eng.IsLeader(ctx)
		return err == nil && ok
	})
	return d, nil
}

// NoInventoryHint is the one log line of a daemon started without an
// inventory (the built-in defaults have none).
const NoInventoryHint = "no inventory configured: watching 0 sites; to add one, set inventory.path (a .csv or .yaml file, see configs/sites.example.csv) in a configuration file given by --config, $BEIANWATCH_CONFIG or /etc/beianwatch/beianwatch.yaml"

// ErrListen and ErrStore classify why the daemon could not start, so that
// `beianwatch run` can exit with a status that says which (errors.Is).
var (
	ErrListen = errors.New("cannot listen")
	ErrStore  = errors.New("store unusable")
)

// kindError is err, classified as kind for errors.Is.
type kindError struct{ kind, err error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.kind, e.err} }

// loopbackListen says whether addr (host:port) only accepts connections
// from this machine. An empty host, a wildcard or a name other than
// localhost may be reachable from elsewhere.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// Run serves until ctx ends, then shuts down: stop taking work, let
// in-flight checks finish within the grace period, close the store.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.store.Close()
	// Deferred after the store's Close, so it runs first: in-flight
	// checks are done by then, and no browser outlives the daemon.
	defer d.checkers.Close()
	ln := d.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", d.cfg.Listen); err != nil {
			return kindError{ErrListen, fmt.Errorf("listening on %s: %w", d.cfg.Listen, err)}
		}
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	d.log.Info("listening", "addr", ln.Addr().String(), "api", d.apiToken != "")

	wctx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	// Done is closed only by a watch that started: waiting for it after
	// a failed Start would hang shutdown for good.
	watching := d.cfg.Inventory.Path != ""
	if !watching {
		// Nothing to watch: the built-in defaults have no inventory.
	} else if err := d.watcher.Start(wctx); err != nil {
		watching = false
		d.log.Warn("inventory file watch unavailable; reload with SIGHUP", "err", err)
	}
	stopWatching := func() {
		stopWatch()
		if watching {
			<-d.watcher.Done()
		}
	}
	// River's context must outlive ctx so that Stop can drain gracefully.
	if err := d.engine.Start(context.WithoutCancel(ctx)); err != nil {
		srv.Close()
		stopWatching()
		// The engine's failures at start are its database's (River's
		// tables, the first leader election).
		return kindError{ErrStore, fmt.Errorf("starting the engine: %w", err)}
	}
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			d.metrics.updateStorm(d.now())
			d.withdrawExpired(wctx)
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	d.ready.Store(true)
	d.log.Info("beianwatch running", "sites", d.watcher.Current().Len(), "store", d.store.Path())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		runErr = fmt.Errorf("HTTP server: %w", err)
	}
	d.ready.Store(false)
	d.log.Info("shutting down", "grace", d.opts.GracePeriod)
	shutCtx, cancel := context.WithTimeout(context.Background(), d.opts.GracePeriod)
	defer cancel()
	if err := d.engine.Stop(shutCtx); err != nil {
		d.log.Warn("engine did not stop cleanly; unfinished jobs run again on next start", "err", err)
	}
	srv.Shutdown(shutCtx)
	stopWatching()
	return runErr
}

// Reload re-reads the inventory (SIGHUP).
func (d *Daemon) Reload() {
	if d.cfg.Inventory.Path == "" {
		d.log.Info(NoInventoryHint)
		return
	}
	if _, _, err := d.watcher.Reload(); err != nil {
		d.log.Error("inventory reload failed; keeping the last good inventory", "err", err)
	}
}

func (d *Daemon) onReload(inv *inventory.Inventory, lint []inventory.LintError, err error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if err != nil {
		d.metrics.setInventory(false, 0)
		d.log.Error("inventory reload failed; keeping the last good inventory", "err", err, "sites", inv.Len())
		return
	}
	d.logLint(lint)
	d.metrics.setInventory(true, len(lint))
	d.log.Info("inventory reloaded", "sites", inv.Len(), "rejected", len(lint))
	prev := d.last
	d.last = inv
	debug.FreeOSMemory() // the old inventory and the parse garbage
	if d.engine != nil {
		d.suspendGone(prev, inv)
		d.withdrawGone(prev, inv)
	}
}

// suspendGone suspends the sites that left the inventory and resumes those
// that came back. Leaving is not a verdict: a file being rewritten in place
// looks the same for a few seconds. A suspended site is not checked, its
// violations keep their state and deadlines and its notices wait
// (noticeWait); it is withdrawn only after inventory.withdraw_after
// (withdrawExpired). Coming back resets nothing.
func (d *Daemon) suspendGone(prev, next *inventory.Inventory) {
	ctx := context.Background()
	var gone, back []string
	if prev != nil {
		for _, old := range prev.Sites {
			if next.Lookup(old.Domain) == nil {
				gone = append(gone, old.Domain)
			}
		}
	}
	// The suspended are few; the inventory may be 100,000 sites.
	sus, err := d.store.Suspensions(ctx)
	if err != nil {
		d.log.Error("listing suspended sites", "err", err)
	}
	for _, s := range sus {
		if next.Lookup(s.Domain) != nil {
			back = append(back, s.Domain)
		}
	}
	if err := d.store.Suspend(ctx, d.now(), gone); err != nil {
		d.log.Error("suspending sites that left the inventory", "sites", len(gone), "err", err)
	} else if len(gone) > 0 {
		d.log.Warn("sites left the inventory: suspended; their violations keep their deadlines and their notices wait",
			"sites", len(gone), "first", gone[0], "withdraw_after", d.cfg.Inventory.WithdrawAfter)
	}
	resumed, err := d.store.Resume(ctx, back)
	if err != nil {
		d.log.Error("resuming sites back in the inventory", "err", err)
	}
	for _, r := range resumed {
		d.log.Info("site back in the inventory; nothing was reset", "domain", r.Domain, "suspended_since", r.Since)
	}
}

// reconcileSuspensions, at start, suspends the sites the store still has
// business with that inv lacks, and resumes the suspended ones inv has.
func (d *Daemon) reconcileSuspensions(ctx context.Context, inv *inventory.Inventory) error {
	tracked, err := d.store.TrackedDomains(ctx)
	if err != nil {
		return err
	}
	var gone []string
	for _, dom := range tracked {
		if inv.Lookup(dom) == nil {
			gone = append(gone, dom)
		}
	}
	if err := d.store.Suspend(ctx, d.now(), gone); err != nil {
		return err
	}
	if len(gone) > 0 {
		d.log.Warn("sites with violations or notices are not in the inventory: suspended until they come back or withdraw_after passes",
			"sites", len(gone), "first", gone[0], "withdraw_after", d.cfg.Inventory.WithdrawAfter)
	}
	sus, err := d.store.Suspensions(ctx)
	if err != nil {
		return err
	}
	var back []string
	for _, s := range sus {
		if inv.Lookup(s.Domain) != nil {
			back = append(back, s.Domain)
		}
	}
	_, err = d.store.Resume(ctx, back)
	return err
}

// withdrawExpired withdraws the sites suspended for longer than
// inventory.withdraw_after: their violations are recorded as withdrawn
// (owners are not told) and their waiting notices dropped with the reason.
func (d *Daemon) withdrawExpired(ctx context.Context) {
	sus, err := d.store.Suspensions(ctx)
	if err != nil {
		d.log.Error("listing suspended sites", "err", err)
		return
	}
	now := d.now()
	for _, s := range sus {
		if now.Sub(s.Since) < d.cfg.Inventory.WithdrawAfter {
			break // longest gone first
		}
		if d.site(s.Domain) != nil {
			continue // back; the reload's resume is on its way
		}
		reason := fmt.Sprintf("site removed from the inventory (missing since %s, longer than inventory.withdraw_after %s)",
			s.Since.Format(time.RFC3339), d.cfg.Inventory.WithdrawAfter)
		trs, err := d.engine.Withdraw(ctx, s.Domain, "", reason)
		if err != nil {
			d.log.Error("withdrawing violations", "domain", s.Domain, "err", err)
			continue
		}
		dropped, err := d.store.EndSuspension(ctx, s.Domain, reason)
		if err != nil {
			d.log.Error("ending suspension", "domain", s.Domain, "err", err)
			continue
		}
		d.log.Info("suspended site withdrawn", "domain", s.Domain, "violations", len(trs), "notices_dropped", dropped, "reason", reason)
	}
}

// withdrawGone retires the violations of checks that stopped applying to
// a site still in the inventory (a first filing granted ends the DNS
// pause): a change of record, not a missing one. They are recorded as
// withdrawn; owners are not told. Sites that left are suspendGone's.
func (d *Daemon) withdrawGone(prev, next *inventory.Inventory) {
	if prev == nil {
		return
	}
	ctx := context.Background()
	for _, old := range prev.Sites {
		cur := next.Lookup(old.Domain)
		if cur == nil {
			continue
		}
		for _, check := range checks.AllChecks {
			if !d.applicant.applies(check, &old.Site) || d.applicant.applies(check, &cur.Site) {
				continue
			}
			reason := fmt.Sprintf("check no longer applies (status %s)", cur.Status)
			trs, err := d.engine.Withdraw(ctx, old.Domain, check, reason)
			if err != nil {
				d.log.Error("withdrawing violations", "domain", old.Domain, "check", check, "err", err)
			} else if len(trs) > 0 {
				d.log.Info("violations withdrawn", "domain", old.Domain, "check", check, "count", len(trs), "reason", reason)
			}
		}
	}
}

func (d *Daemon) logLint(lint []inventory.LintError) {
	for _, l := range lint {
		// The inventory has masked the phone numbers in the lint already.
		d.log.Warn("inventory record rejected", "line", l.Line, "domain", l.Domain, "field", l.Field, "reason", l.Msg)
	}
}

// Domains lists the sites check applies to (engine.Inventory).
func (d *Daemon) Domains(check string) []string {
	inv := d.watcher.Current()
	out := make([]string, 0, inv.Len())
	host := make(map[string]string, inv.Len())
	for _, s := range inv.Sites {
		if d.applicant.applies(check, &s.Site) {
			out = append(out, s.Domain)
			host[s.Domain] = hostOf(&s.Site)
		}
	}
	return interleaveByHost(out, func(d string) string { return host[d] })
}

func (d *Daemon) site(domain string) *inventory.Site { return d.watcher.Current().Lookup(domain) }

func (d *Daemon) siteView(domain string) *siteView {
	s := d.site(domain)
	if s == nil {
		return nil
	}
	// The entity is a free-text inventory cell, and personal filings
	// name a person there, sometimes with a number: notices reach the
	// provider's ops channel and chat groups, so mobiles are masked.
	v := &siteView{ref: alerts.SiteRef{Domain: s.Domain, Entity: checks.MaskMobilesIn(s.Entity)}, owner: s.Owner}
	if s.ICP != nil {
		v.ref.ICP = s.ICP.String()
	}
	if s.PSB != nil {
		v.ref.PSB = s.PSB.String()
	}
	return v
}

// noticeWait says how long a notice must wait before it is attempted:
// while its site is missing from the inventory (suspended), and during
// quiet hours.
//
// A suspended site's notice needs the owner's channel from the inventory,
// and the site may be back in seconds. It is looked at again every
// SuspendedRecheck; a wait is not an attempt, so it never goes dead
// meanwhile.
func (d *Daemon) noticeWait(now time.Time, n store.Notice) time.Time {
	// Notices about no one site (storm alerts to ops) never wait for one.
	if n.Domain != "" && n.Payload.Storm == nil && d.site(n.Domain) == nil {
		return now.Add(d.opts.SuspendedRecheck)
	}
	return d.quietUntil(now, n)
}

// quietUntil defers owner notices during quiet hours; escalations and
// storm notices to ops go out at once.
func (d *Daemon) quietUntil(now time.Time, n store.Notice) time.Time {
	q := d.cfg.Notices.QuietHours
	if n.Kind != store.NoticeOwner || !q.Contains(now, d.cfg.Notices.Location) {
		return time.Time{}
	}
	return q.Until(now, d.cfg.Notices.Location)
}

// applicability says which checks apply to a site.
type applicability struct{ checkers map[string]checks.Checker }

func (a applicability) applies(check string, s *checks.Site) bool {
	c := a.checkers[check]
	if c == nil {
		return false
	}
	ok, _ := c.Applies(s)
	return ok
}

// engineConfig is what the daemon and the audit recorder configure alike:
// the lifecycle, the storm guard and how notices are batched and retried.
// Both record through the same engine, so they must judge the same way.
func engineConfig(cfg *config.Config, logger *slog.Logger, now func() time.Time) engine.Config {
	return engine.Config{
		Lifecycle: lifecycleConfig(cfg),
		Storm: lifecycle.StormConfig{
			Window: cfg.Lifecycle.Storm.Window, Share: cfg.Lifecycle.Storm.Share, MinSites: cfg.Lifecycle.Storm.MinSites,
			Settle: cfg.Lifecycle.Storm.Settle,
		},
		NotifyTimeout:     notifyTimeout(cfg),
		BatchSize:         cfg.Checks.BatchSize,
		NotifyMaxAttempts: cfg.Notices.MaxAttempts,
		NotifyBackoff: engine.ExponentialBackoff{
			Base: cfg.Notices.RetryFirst, Max: cfg.Notices.RetryMax, Jitter: 0.2,
		}.Delay,
		HeldMaxAge: cfg.Notices.HeldMaxAge,
		Logger:     logger,
		Now:        now,
	}
}

// notifyTimeout bounds one delivery job: the webhook request is bounded by
// http.timeout (the notifier's client), plus a margin for pacing and
// rendering. It is the delivery's own bound, not the check batches': after
// a node dies, River retries a delivery it left running this long (plus
// engine.RescueAfter's margin) after it began.
func notifyTimeout(cfg *config.Config) time.Duration {
	t := cfg.HTTP.Timeout
	if t <= 0 {
		t = checks.DefaultFetchTimeout
	}
	return t + 15*time.Second
}

func lifecycleConfig(cfg *config.Config) lifecycle.Config {
	return lifecycle.Config{
		FailureThreshold:    cfg.Lifecycle.FailureThreshold,
		SuccessThreshold:    cfg.Lifecycle.SuccessThreshold,
		RectificationPeriod: cfg.Lifecycle.RectificationPeriod,
		PeriodByCode:        cfg.Lifecycle.RectificationPeriods,
		RemindEvery:         cfg.Lifecycle.RemindEvery,
		OpsOnOpen:           alerts.OpsOnOpenCodes(),
	}
}

func schedules(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for _, name := range checks.AllChecks {
		if s, ok := cfg.Schedules.ByCheck(name); ok && !s.Off() {
			out[name] = s.Spec
		}
	}
	return out
}

// dispatchEvery is how often the dispatcher and the reminder tick run:
// once a minute, or as often as the fastest schedule needs.
func dispatchEvery(cfg *config.Config) time.Duration {
	every := time.Minute
	now := time.Now()
	for _, name := range checks.AllChecks {
		s, ok := cfg.Schedules.ByCheck(name)
		if !ok || s.Off() {
			continue
		}
		next := s.Next(now)
		if iv := s.Next(next).Sub(next); iv > 0 && iv/4 < every {
			every = max(iv/4, time.Second)
		}
	}
	// New sites' first runs are spread over first_run_within: dispatch
	// often enough that the spread is not lumped into a few passes.
	if w := cfg.Schedules.FirstRunWithin; w > 0 && w/4 < every {
		every = max(w/4, time.Second)
	}
	return every
}

// siteRunner runs one check on a batch of sites for the engine, through
// the same Runner as `beianwatch audit`.
type siteRunner struct {
	d      *Daemon
	runner *Runner
}

func (r *siteRunner) Run(ctx context.Context, check string, domains []string) []store.SiteResult {
	d := r.d
	sites := make([]*checks.Site, 0, len(domains))
	for _, dom := range domains {
		if s := d.site(dom); s != nil { // else: left the inventory since dispatch
			site := s.Site
			sites = append(sites, &site)
		}
	}
	out := make([]store.SiteResult, 0, len(sites))
	// Sites still in progress when the batch deadline passes are left out
	// (their results would describe the deadline, not the site); the next
	// dispatch picks them up.
	r.runner.Run(ctx, sites, []string{check}, func(o SiteOutcome) {
		for _, res := range o.Results {
			d.metrics.observeCheck(res)
			out = append(out, store.SiteResult{Domain: o.Site.Domain, Result: res, At: o.Finished})
		}
	})
	return out
}

// storePhoneCache keeps number statuses in the store, so that restarts
// and many sites sharing a number do not pay for lookups again.
type storePhoneCache struct {
	st  *store.Store
	now func() time.Time
}

var _ checks.PhoneCache = storePhoneCache{}

func (c storePhoneCache) Get(ctx context.Context, e164 string) (string, bool, error) {
	return c.st.PhoneStatus(ctx, e164, c.now())
}

func (c storePhoneCache) Put(ctx context.Context, e164, status string, ttl time.Duration) error {
	return c.st.PutPhoneStatus(ctx, e164, status, c.now(), ttl)
}

var errAPIDisabled = errors.New("the API is disabled: set the token variable named by api.token_env")
