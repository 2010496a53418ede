// Package metrics defines beianwatch's Prometheus metrics (listed in docs/operations.md): the
// counters and histograms the daemon feeds as work happens, and a collector
// that reads the daemon's state (sites, violations, notice queue) at scrape
// time, so that per-site series exist only while a site is in trouble.
//
// Nothing here is global: New registers everything on the registerer it is
// given. Label values are restricted to check names, outcomes, finding
// codes, states, channel kinds, notice kinds, delivery results, filing
// statuses and site domains; anything else is replaced by "invalid" (or, for
// sites, dropped) and counted in beianwatch_metrics_label_rejections_total,
// so a phone number or a secret passed by mistake never becomes a label.
package metrics

import (
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/beian"
)

// Namespace prefixes every family.
const Namespace = "beianwatch"

// Label values outside the allowed set are replaced by Invalid.
const Invalid = "invalid"

// outcomes are the check_runs_total outcome label values.
var outcomes = []string{string(beian.Pass), string(beian.Fail), string(beian.Inconclusive), string(beian.NotApplicable)}

// Notice kinds (the kind label of notices_total): who the notice is for.
const (
	KindOwner = "owner"
	KindOps   = "ops"
)

// noticeKinds lists the notice kinds.
var noticeKinds = []string{KindOwner, KindOps}

// Delivery results (the result label of notices_total). Retryable and
// permanent are both failures; "sent and failed" panels and alerts read
// result!="delivered" as failed.
const (
	ResultDelivered = string(alerts.Delivered)
	ResultRetryable = string(alerts.Retryable)
	ResultPermanent = string(alerts.Permanent)
)

// noticeResults lists the delivery results.
var noticeResults = []string{ResultDelivered, ResultRetryable, ResultPermanent}

// Violation states (the state label of violations and the per-violation
// families).
const (
	StateOpen      = "open"
	StateEscalated = "escalated"
)

// durationBuckets fit network checks and deliveries: 10 ms (a loopback or
// cached answer) to 30 s (a slow site near the fetch timeout).
var durationBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30}

// BuildInfo labels beianwatch_build_info.
type BuildInfo struct {
	Version string
	// GoVersion defaults to runtime.Version().
	GoVersion string
}

// Metrics holds every family beianwatch exports. Its methods are safe for
// concurrent use.
type Metrics struct {
	checkRuns      *prometheus.CounterVec
	checkDuration  *prometheus.HistogramVec
	findings       *prometheus.CounterVec
	notices        *prometheus.CounterVec
	noticeDuration *prometheus.HistogramVec
	reloadSuccess  *prometheus.GaugeVec
	rejectedSites  *prometheus.GaugeVec
	storm          *prometheus.GaugeVec
	dispatchedJobs *prometheus.CounterVec
	lastDispatch   *prometheus.GaugeVec
	rejections     *prometheus.CounterVec
	storeErrors    *prometheus.CounterVec
	renders        *prometheus.CounterVec
	renderDuration prometheus.Histogram
	browserRestart prometheus.Counter
	tabsInUse      prometheus.Gauge

	snapshot atomic.Pointer[Snapshot]
	leader   atomic.Pointer[func() bool]
}

// New creates the families and registers them on reg. It panics only on a
// programming error (a family registered twice on reg), as
// prometheus.MustRegister does.
func New(reg prometheus.Registerer, info BuildInfo) *Metrics {
	if info.Version == "" {
		info.Version = "unknown"
	}
	if info.GoVersion == "" {
		info.GoVersion = runtime.Version()
	}
	m := &Metrics{
		checkRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "check_runs_total",
			Help: "Check runs, one per site and check, by outcome (pass, fail, inconclusive, not_applicable).",
		}, []string{"check", "outcome"}),
		checkDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "check_duration_seconds",
			Help:    "Duration of one check on one site, in seconds (runs that did not apply are not observed).",
			Buckets: durationBuckets,
		}, []string{"check"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "findings_total",
			Help: "Findings reported by check runs, by finding code.",
		}, []string{"code"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "notices_total",
			Help: "Notice delivery attempts, by channel kind, notice kind (owner, ops) and result (delivered, retryable, permanent).",
		}, []string{"channel", "kind", "result"}),
		noticeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "notice_delivery_seconds",
			Help:    "Duration of one notice delivery attempt, in seconds.",
			Buckets: durationBuckets,
		}, []string{"channel"}),
		reloadSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "inventory_reload_success",
			Help: "1 if the last inventory load succeeded, 0 if it failed and the previous inventory is still in use.",
		}, nil),
		rejectedSites: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "inventory_sites_rejected",
			Help: "Inventory records rejected by the last successful load (bad numbers, statuses, ranges, duplicates).",
		}, nil),
		storm: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "storm_guard_active",
			Help: "1 while the storm guard holds notices for a check (a large share of sites failing at once).",
		}, []string{"check"}),
		dispatchedJobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "dispatched_jobs_total",
			Help: "Check batch jobs enqueued by the dispatcher.",
		}, []string{"check"}),
		lastDispatch: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "last_dispatch_timestamp_seconds",
			Help: "Unix time of the dispatcher's last pass over a check, whether or not it enqueued jobs.",
		}, []string{"check"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "metrics_label_rejections_total",
			Help: "Label values refused because they were not a known check, outcome, code, state, channel, status or domain.",
		}, []string{"label"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "store_errors_total",
			Help: "Failures of the store itself (begin, commit, write, probe): a full disk, an I/O error, a lock held too long.",
		}, []string{"op"}),
		renders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "renders_total",
			Help: "Pages rendered in the headless browser, by result (ok, timeout, error).",
		}, []string{"result"}),
		renderDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "render_duration_seconds",
			Help:    "Time to render one page in the headless browser, waiting for a tab included, in seconds.",
			Buckets: durationBuckets,
		}),
		browserRestart: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "browser_restarts_total",
			Help: "Headless browser restarts (recycled after render.recycle_after pages, or no longer answering).",
		}),
		tabsInUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "browser_tabs_in_use",
			Help: "Headless browser tabs rendering a page now (at most render.max_tabs).",
		}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; labelled with the version of beianwatch and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": info.Version, "goversion": info.GoVersion},
	})
	buildInfo.Set(1)
	// Read at scrape time, like the state families: with several daemons
	// on one database, exactly one says 1 (none for the few seconds of an
	// election).
	leader := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "leader",
		Help: "1 if this daemon is the job queue's elected leader (the one node that dispatches checks), else 0.",
	}, func() float64 {
		if fn := m.leader.Load(); fn != nil && (*fn)() {
			return 1
		}
		return 0
	})

	// Series that rules and dashboards read are created at zero, so that
	// rate() and increase() see the first event and panels are not empty
	// before anything happened.
	for _, c := range beian.Checks() {
		for _, o := range outcomes {
			m.checkRuns.WithLabelValues(c, o)
		}
		m.checkDuration.WithLabelValues(c)
		m.storm.WithLabelValues(c)
		m.dispatchedJobs.WithLabelValues(c)
	}
	for _, code := range beian.NoticedCodes() {
		m.findings.WithLabelValues(code)
	}
	for _, ch := range alerts.ChannelKinds() {
		for _, k := range noticeKinds {
			for _, r := range noticeResults {
				m.notices.WithLabelValues(ch, k, r)
			}
		}
		m.noticeDuration.WithLabelValues(ch)
	}
	for _, r := range RenderResults {
		m.renders.WithLabelValues(r)
	}

	for _, op := range storeOps() {
		m.storeErrors.WithLabelValues(op)
	}
	reg.MustRegister(m.storeErrors)
	reg.MustRegister(m.checkRuns, m.checkDuration, m.findings, m.notices, m.noticeDuration,
		m.reloadSuccess, m.rejectedSites, m.storm, m.dispatchedJobs, m.lastDispatch,
		buildInfo, leader, &stateCollector{m: m},
		m.renders, m.renderDuration, m.browserRestart, m.tabsInUse)
	return m
}

// RenderResults are the result label values of renders_total.
var RenderResults = []string{"ok", "timeout", "error"}

// Rendered records one page rendered in the headless browser.
func (m *Metrics) Rendered(result string, d time.Duration) {
	m.renders.WithLabelValues(m.allow("result", result, RenderResults)).Inc()
	m.renderDuration.Observe(seconds(d))
}

// BrowserRestarted counts a headless browser restart.
func (m *Metrics) BrowserRestarted() { m.browserRestart.Inc() }

// TabsInUse sets the number of browser tabs rendering now.
func (m *Metrics) TabsInUse(n int) { m.tabsInUse.Set(float64(n)) }

// ObserveCheck records one check run on one site: its outcome, how long it
// took and the codes of its findings (one count per code).
func (m *Metrics) ObserveCheck(check string, outcome string, d time.Duration, codes []string) {
	check = m.allow("check", check, beian.Checks())
	outcome = m.allow("outcome", outcome, outcomes)
	m.checkRuns.WithLabelValues(check, outcome).Inc()
	// A check that does not apply returns at once; observing it would drag
	// the quantiles towards zero.
	if outcome != string(beian.NotApplicable) {
		m.checkDuration.WithLabelValues(check).Observe(seconds(d))
	}
	for _, c := range codes {
		m.findings.WithLabelValues(m.code(c)).Inc()
	}
}

// ObserveNotice records one delivery attempt: channel kind (webhook,
// dingtalk, wecom, feishu, slack), notice kind (KindOwner, KindOps), result
// (ResultDelivered, ResultRetryable, ResultPermanent) and its duration.
func (m *Metrics) ObserveNotice(channel, kind, result string, d time.Duration) {
	channel = m.allow("channel", channel, alerts.ChannelKinds())
	kind = m.allow("kind", kind, noticeKinds)
	result = m.allow("result", result, noticeResults)
	m.notices.WithLabelValues(channel, kind, result).Inc()
	m.noticeDuration.WithLabelValues(channel).Observe(seconds(d))
}

// SetInventory records the outcome of an inventory load: ok is false when
// the file could not be used and the previous inventory stays in force;
// rejected is the number of records the last successful load refused. The
// daemon calls it after the first load and after every reload; until then
// neither family is exported, so a daemon still starting does not look
// like a failed reload.
func (m *Metrics) SetInventory(ok bool, rejected int) {
	v := 0.0
	if ok {
		v = 1
		m.rejectedSites.WithLabelValues().Set(float64(max(rejected, 0)))
	}
	m.reloadSuccess.WithLabelValues().Set(v)
}

// StoreError counts one failure of the store doing op (one of StoreOps).
func (m *Metrics) StoreError(op string) {
	m.storeErrors.WithLabelValues(m.allow("op", op, storeOps())).Inc()
}

// storeOps are the op label values of store_errors_total (the store's
// Op constants).
func storeOps() []string { return []string{"begin", "commit", "write", "probe"} }

// SetStorm records whether the storm guard is holding notices for check.
func (m *Metrics) SetStorm(check string, active bool) {
	v := 0.0
	if active {
		v = 1
	}
	m.storm.WithLabelValues(m.allow("check", check, beian.Checks())).Set(v)
}

// ObserveDispatch records one dispatcher pass over check: the batch jobs
// it enqueued (possibly none) and when. Call it on every pass, also with
// jobs == 0: the timestamp is how alerts tell a stalled dispatcher from a
// quiet one.
func (m *Metrics) ObserveDispatch(check string, jobs int, at time.Time) {
	check = m.allow("check", check, beian.Checks())
	if jobs > 0 {
		m.dispatchedJobs.WithLabelValues(check).Add(float64(jobs))
	}
	m.lastDispatch.WithLabelValues(check).Set(float64(at.UnixNano()) / 1e9)
}

// SetSnapshot installs the function the scrape-time collector reads the
// daemon's state from (see Snapshot). Until it is set, the state families
// are not exported.
func (m *Metrics) SetSnapshot(fn Snapshot) {
	if fn == nil {
		m.snapshot.Store(nil)
		return
	}
	m.snapshot.Store(&fn)
}

// SetLeader installs the function beianwatch_leader reads at scrape time.
func (m *Metrics) SetLeader(fn func() bool) {
	if fn == nil {
		m.leader.Store(nil)
		return
	}
	m.leader.Store(&fn)
}

func seconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return d.Seconds()
}

// allow returns v when it is one of allowed, else Invalid (counted).
func (m *Metrics) allow(label, v string, allowed []string) string {
	if slices.Contains(allowed, v) {
		return v
	}
	m.rejections.WithLabelValues(label).Inc()
	return Invalid
}

// codePattern is the shape of a finding code: a check name, an underscore,
// then lower-case words. Registered codes (beian.Codes) are always
// accepted; a code a newer check reports is accepted without a change here
// as long as it keeps that shape.
var codePattern = regexp.MustCompile(`^(` + strings.Join(append(beian.Checks(), beian.CheckEntity), "|") + `)_[a-z0-9_]{1,60}$`)

func (m *Metrics) code(c string) string {
	if beian.IsCode(c) || codePattern.MatchString(c) {
		return c
	}
	m.rejections.WithLabelValues("code").Inc()
	return Invalid
}

// domainPattern accepts lower-case ASCII (punycode) host names with at
// least two labels and a top-level label that starts with a letter: every
// filed domain, and never a phone number, an address or a URL.
var domainPattern = regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

func validDomain(s string) bool { return len(s) <= 253 && domainPattern.MatchString(s) }
