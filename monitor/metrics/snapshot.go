package metrics

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/beianwatch/beianwatch/beian"
	"github.com/beianwatch/beianwatch/monitor/entity"
)

// Snapshot returns the daemon's current state. The collector calls it once
// per scrape, so it should answer within the scrape timeout (a few grouped
// queries, not a walk over every site); it may be called concurrently.
type Snapshot func() SnapshotData

// SnapshotData is the state exported at scrape time.
type SnapshotData struct {
	// Err, when set, says the state could not be read: only
	// beianwatch_state_snapshot_success 0 is exported, never a partial
	// picture that would make violations look resolved.
	Err error
	// SitesByStatus counts the inventory's sites by filing status (filed,
	// first_filing_pending, ...). Missing statuses are exported as 0.
	SitesByStatus map[string]int
	// Violations lists every active (open or escalated) violation. The
	// per-code counts, the per-site counts and the per-violation age and
	// deadline are all derived from it, so they always agree.
	Violations []Violation
	// NoticeQueueDepth counts notices waiting for delivery (queued,
	// sending, and held by the storm guard).
	NoticeQueueDepth int
	// Exemptions counts the exemptions in force, by check; every check is
	// exported, at 0 when it has none.
	Exemptions map[string]int
}

// Violation is one active violation.
type Violation struct {
	Site     string // the site's domain
	Code     string
	State    string // StateOpen or StateEscalated; other states are ignored
	OpenedAt time.Time
	Deadline time.Time
}

var (
	descSnapshotOK = prometheus.NewDesc(Namespace+"_state_snapshot_success",
		"1 if the daemon's state (sites, violations, notice queue) was read for this scrape, 0 if reading it failed.", nil, nil)
	descSites = prometheus.NewDesc(Namespace+"_sites",
		"Sites in the inventory, by filing status.", []string{"status"}, nil)
	descViolations = prometheus.NewDesc(Namespace+"_violations",
		"Active violations, by finding code and state (open, escalated: the deadline has passed).", []string{"code", "state"}, nil)
	descSiteOpen = prometheus.NewDesc(Namespace+"_site_open_violations",
		"Active (open or escalated) violations of a site; only sites with at least one are exported.", []string{"site"}, nil)
	descOpened = prometheus.NewDesc(Namespace+"_violation_opened_timestamp_seconds",
		"Unix time an active violation opened.", []string{"site", "code", "state"}, nil)
	descDeadline = prometheus.NewDesc(Namespace+"_violation_deadline_timestamp_seconds",
		"Unix time by which an active violation must be put right.", []string{"site", "code", "state"}, nil)
	descEmptyShell = prometheus.NewDesc(Namespace+"_empty_shell_entities",
		"Filing entities all of whose sites are confirmed empty shells or cancelled (空壳主体): active entity_empty_shell violations.", nil, nil)
	descQueue = prometheus.NewDesc(Namespace+"_notice_queue_depth",
		"Notices waiting for delivery: queued, being sent, or held by the storm guard.", nil, nil)
	descExemptions = prometheus.NewDesc(Namespace+"_exemptions",
		"Exemptions in force (a site's code or whole check that opens no violation until the exemption ends), by check.", []string{"check"}, nil)
)

// stateCollector exports SnapshotData at scrape time. Building these series
// from a snapshot, instead of keeping gauges up to date, is what makes a
// site's series disappear the moment its last violation resolves.
type stateCollector struct{ m *Metrics }

// The rejections counter is collected here, after the snapshot, so that a
// scrape already counts the bad entries of its own snapshot.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSnapshotOK, descSites, descViolations, descSiteOpen, descOpened, descDeadline, descQueue, descExemptions, descEmptyShell} {
		ch <- d
	}
	c.m.rejections.Describe(ch)
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectState(ch)
	c.m.rejections.Collect(ch)
}

func (c *stateCollector) collectState(ch chan<- prometheus.Metric) {
	fn := c.m.snapshot.Load()
	if fn == nil {
		return
	}
	data := (*fn)()
	if data.Err != nil {
		ch <- prometheus.MustNewConstMetric(descSnapshotOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descSnapshotOK, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(max(data.NoticeQueueDepth, 0)))
	for _, check := range beian.Checks() {
		ch <- prometheus.MustNewConstMetric(descExemptions, prometheus.GaugeValue, float64(max(data.Exemptions[check], 0)), check)
	}

	statuses := make(map[string]int, len(beian.Statuses()))
	for _, st := range beian.Statuses() {
		statuses[string(st)] = 0
	}
	for st, n := range data.SitesByStatus {
		if _, ok := statuses[st]; !ok {
			c.m.rejections.WithLabelValues("status").Inc()
			st = Invalid
		}
		statuses[st] += n
	}
	for st, n := range statuses {
		ch <- prometheus.MustNewConstMetric(descSites, prometheus.GaugeValue, float64(n), st)
	}

	type codeState struct{ code, state string }
	// Every known code is exported in both states, at zero when nothing
	// is wrong, so that graphs drop to 0 instead of going blank.
	byCode := map[codeState]int{}
	for _, code := range beian.NoticedCodes() {
		byCode[codeState{code, StateOpen}] = 0
		byCode[codeState{code, StateEscalated}] = 0
	}
	bySite := map[string]int{}
	type siteCode struct{ site, code string }
	seen := map[siteCode]bool{}
	for _, v := range data.Violations {
		if v.State != StateOpen && v.State != StateEscalated {
			continue
		}
		if !validDomain(v.Site) {
			c.m.rejections.WithLabelValues("site").Inc()
			continue
		}
		code := c.m.code(v.Code)
		// Two entries for one (site, code) would be duplicate series and
		// fail the whole scrape: the first one wins.
		if seen[siteCode{v.Site, v.Code}] {
			continue
		}
		seen[siteCode{v.Site, v.Code}] = true
		byCode[codeState{code, v.State}]++
		bySite[v.Site]++
		if code == Invalid {
			continue
		}
		if !v.OpenedAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(descOpened, prometheus.GaugeValue, unix(v.OpenedAt), v.Site, code, v.State)
		}
		if !v.Deadline.IsZero() {
			ch <- prometheus.MustNewConstMetric(descDeadline, prometheus.GaugeValue, unix(v.Deadline), v.Site, code, v.State)
		}
	}
	keys := make([]codeState, 0, len(byCode))
	for k := range byCode {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].code != keys[j].code {
			return keys[i].code < keys[j].code
		}
		return keys[i].state < keys[j].state
	})
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(descViolations, prometheus.GaugeValue, float64(byCode[k]), k.code, k.state)
	}
	for site, n := range bySite {
		ch <- prometheus.MustNewConstMetric(descSiteOpen, prometheus.GaugeValue, float64(n), site)
	}
	emptyShell := byCode[codeState{entity.CodeEmptyShell, StateOpen}] + byCode[codeState{entity.CodeEmptyShell, StateEscalated}]
	ch <- prometheus.MustNewConstMetric(descEmptyShell, prometheus.GaugeValue, float64(emptyShell))
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
