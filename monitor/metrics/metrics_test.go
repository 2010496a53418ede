package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func newTest(t testing.TB) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	return New(reg, BuildInfo{Version: "1.2.3", GoVersion: "go1.26.0"}), reg
}

// exposition renders the registry as /metrics would.
func exposition(t testing.TB, reg *prometheus.Registry) []byte {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode %s: %v", mf.GetName(), err)
		}
	}
	return buf.Bytes()
}

func family(t testing.TB, reg *prometheus.Registry, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	return out
}

// busy feeds every method so that every family has series.
func busy(m *Metrics) {
	m.ObserveCheck("footer", "fail", 120*time.Millisecond, []string{"footer_link_obsolete", "footer_psb_missing"})
	m.ObserveCheck("shell", "pass", 2*time.Second, nil)
	m.ObserveCheck("dns", "inconclusive", 3*time.Second, nil)
	m.ObserveCheck("contact", "not_applicable", 0, nil)
	m.ObserveNotice("webhook", KindOwner, ResultDelivered, 300*time.Millisecond)
	m.ObserveNotice("dingtalk", KindOps, ResultRetryable, 5*time.Second)
	m.SetInventory(true, 3)
	m.SetStorm("shell", true)
	m.ObserveDispatch("footer", 4, t0)
	m.SetSnapshot(func() SnapshotData {
		return SnapshotData{
			SitesByStatus: map[string]int{"filed": 10, "first_filing_pending": 2},
			Violations: []Violation{
				{Site: "example.cn", Code: "footer_link_obsolete", State: StateOpen, OpenedAt: t0, Deadline: t0.Add(168 * time.Hour)},
				{Site: "example.cn", Code: "footer_psb_missing", State: StateEscalated, OpenedAt: t0.Add(-300 * time.Hour), Deadline: t0.Add(-60 * time.Hour)},
				{Site: "xn--fiqs8s.cn", Code: "shell_placeholder", State: StateOpen, OpenedAt: t0, Deadline: t0.Add(240 * time.Hour)},
				{Site: "xn--fiqs8s.cn", Code: "entity_empty_shell", State: StateOpen, OpenedAt: t0, Deadline: t0.Add(240 * time.Hour)},
				{Site: "b.example.cn", Code: "entity_empty_shell", State: StateEscalated, OpenedAt: t0.Add(-300 * time.Hour), Deadline: t0.Add(-60 * time.Hour)},
			},
			NoticeQueueDepth: 7,
		}
	})
}

func requirePromtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("promtool not found and BEIANWATCH_REQUIRE_INTEGRATION is set: %v", err)
		}
		t.Skip("promtool not installed (Debian package prometheus); set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure")
	}
	return path
}

// TestPromtoolCheckMetrics runs Prometheus's own linter on the exposition,
// both fresh (only pre-initialised series) and after every method ran.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := requirePromtool(t)
	for _, tc := range []struct {
		name string
		feed func(*Metrics)
	}{
		{"fresh", func(*Metrics) {}},
		{"busy", busy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, reg := newTest(t)
			tc.feed(m)
			out := exposition(t, reg)
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(out)
			res, err := cmd.CombinedOutput()
			if err != nil || len(bytes.TrimSpace(res)) > 0 {
				t.Fatalf("promtool check metrics: %v\n%s\n--- exposition ---\n%s", err, res, out)
			}
		})
	}
}

func TestFamiliesHaveHelpAndExpectedTypes(t *testing.T) {
	m, reg := newTest(t)
	busy(m)
	want := map[string]dto.MetricType{
		"beianwatch_build_info":                           dto.MetricType_GAUGE,
		"beianwatch_sites":                                dto.MetricType_GAUGE,
		"beianwatch_check_runs_total":                     dto.MetricType_COUNTER,
		"beianwatch_check_duration_seconds":               dto.MetricType_HISTOGRAM,
		"beianwatch_findings_total":                       dto.MetricType_COUNTER,
		"beianwatch_violations":                           dto.MetricType_GAUGE,
		"beianwatch_notices_total":                        dto.MetricType_COUNTER,
		"beianwatch_notice_queue_depth":                   dto.MetricType_GAUGE,
		"beianwatch_notice_delivery_seconds":              dto.MetricType_HISTOGRAM,
		"beianwatch_site_open_violations":                 dto.MetricType_GAUGE,
		"beianwatch_violation_opened_timestamp_seconds":   dto.MetricType_GAUGE,
		"beianwatch_violation_deadline_timestamp_seconds": dto.MetricType_GAUGE,
		"beianwatch_inventory_reload_success":             dto.MetricType_GAUGE,
		"beianwatch_inventory_sites_rejected":             dto.MetricType_GAUGE,
		"beianwatch_storm_guard_active":                   dto.MetricType_GAUGE,
		"beianwatch_dispatched_jobs_total":                dto.MetricType_COUNTER,
		"beianwatch_last_dispatch_timestamp_seconds":      dto.MetricType_GAUGE,
		"beianwatch_state_snapshot_success":               dto.MetricType_GAUGE,
		"beianwatch_empty_shell_entities":                 dto.MetricType_GAUGE,
		"beianwatch_leader":                               dto.MetricType_GAUGE,
	}
	for name, typ := range want {
		mf := family(t, reg, name)
		if mf == nil {
			t.Errorf("%s: not exported", name)
			continue
		}
		if mf.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, mf.GetType(), typ)
		}
		if len(mf.GetHelp()) < 20 {
			t.Errorf("%s: help %q is not an explanation", name, mf.GetHelp())
		}
	}
	bi := family(t, reg, "beianwatch_build_info").GetMetric()[0]
	if l := labelsOf(bi); l["version"] != "1.2.3" || l["goversion"] != "go1.26.0" || bi.GetGauge().GetValue() != 1 {
		t.Errorf("build_info = %v %v", l, bi.GetGauge().GetValue())
	}
	// Leadership is read at scrape time: 0 until known, then whatever the
	// election says now.
	if v := family(t, reg, "beianwatch_leader").GetMetric()[0].GetGauge().GetValue(); v != 0 {
		t.Errorf("leader = %v before a leader function is set, want 0", v)
	}
	leading := true
	m.SetLeader(func() bool { return leading })
	if v := family(t, reg, "beianwatch_leader").GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("leader = %v while leading, want 1", v)
	}
	leading = false
	if v := family(t, reg, "beianwatch_leader").GetMetric()[0].GetGauge().GetValue(); v != 0 {
		t.Errorf("leader = %v after losing the election, want 0", v)
	}
	h := family(t, reg, "beianwatch_check_duration_seconds").GetMetric()[0].GetHistogram()
	b := h.GetBucket()
	if b[0].GetUpperBound() != 0.01 || b[len(b)-1].GetUpperBound() != 30 {
		t.Errorf("check duration buckets span %v..%v, want 0.01..30", b[0].GetUpperBound(), b[len(b)-1].GetUpperBound())
	}
}

// TestPreinitialisedSeries: the series that rules and dashboards compute
// rates from exist at zero before anything happened.
func TestPreinitialisedSeries(t *testing.T) {
	_, reg := newTest(t)
	for _, tc := range []struct {
		name string
		want int
	}{
		{"beianwatch_check_runs_total", 4 * 4},     // checks x outcomes
		{"beianwatch_check_duration_seconds", 4},   // checks
		{"beianwatch_storm_guard_active", 4},       // checks
		{"beianwatch_dispatched_jobs_total", 4},    // checks
		{"beianwatch_findings_total", 23},          // known codes
		{"beianwatch_notices_total", 5 * 2 * 3},    // channels x kinds x results
		{"beianwatch_notice_delivery_seconds", 5},  // channels
		{"beianwatch_inventory_reload_success", 0}, // not before the first load
		{"beianwatch_last_dispatch_timestamp_seconds", 0},
		{"beianwatch_site_open_violations", 0}, // no snapshot yet
	} {
		if got := testutil.CollectAndCount(reg, tc.name); got != tc.want {
			t.Errorf("%s: %d series, want %d", tc.name, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(mustCounter(t, reg, "beianwatch_check_runs_total", "footer", "inconclusive")); got != 0 {
		t.Errorf("fresh counter = %v", got)
	}
}

func mustCounter(t *testing.T, reg *prometheus.Registry, name string, values ...string) prometheus.Collector {
	t.Helper()
	mf := family(t, reg, name)
	if mf == nil {
		t.Fatalf("%s missing", name)
	}
	for _, m := range mf.GetMetric() {
		var got []string
		for _, lp := range m.GetLabel() {
			got = append(got, lp.GetValue())
		}
		if strings.Join(got, ",") == strings.Join(values, ",") {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			})
		}
	}
	t.Fatalf("%s{%v} missing", name, values)
	return nil
}

func TestObserveMethods(t *testing.T) {
	m, reg := newTest(t)
	m.ObserveCheck("footer", "fail", 40*time.Millisecond, []string{"footer_link_missing", "footer_link_missing"})
	m.ObserveCheck("footer", "fail", 60*time.Millisecond, []string{"footer_icp_brand_new_code"})
	m.ObserveCheck("dns", "not_applicable", time.Millisecond, nil)
	m.ObserveNotice("wecom", KindOwner, ResultPermanent, time.Second)
	m.ObserveDispatch("shell", 3, t0)
	m.ObserveDispatch("shell", 0, t0.Add(time.Minute))
	m.SetStorm("dns", true)
	m.SetStorm("dns", false)
	m.SetInventory(false, 99)

	want := `
# HELP beianwatch_findings_total Findings reported by check runs, by finding code.
# TYPE beianwatch_findings_total counter
beianwatch_findings_total{code="footer_icp_brand_new_code"} 1
beianwatch_findings_total{code="footer_link_missing"} 2
# HELP beianwatch_dispatched_jobs_total Check batch jobs enqueued by the dispatcher.
# TYPE beianwatch_dispatched_jobs_total counter
beianwatch_dispatched_jobs_total{check="contact"} 0
beianwatch_dispatched_jobs_total{check="dns"} 0
beianwatch_dispatched_jobs_total{check="footer"} 0
beianwatch_dispatched_jobs_total{check="shell"} 3
# HELP beianwatch_last_dispatch_timestamp_seconds Unix time of the dispatcher's last pass over a check, whether or not it enqueued jobs.
# TYPE beianwatch_last_dispatch_timestamp_seconds gauge
beianwatch_last_dispatch_timestamp_seconds{check="shell"} 1.77235206e+09
# HELP beianwatch_inventory_reload_success 1 if the last inventory load succeeded, 0 if it failed and the previous inventory is still in use.
# TYPE beianwatch_inventory_reload_success gauge
beianwatch_inventory_reload_success 0
# HELP beianwatch_storm_guard_active 1 while the storm guard holds notices for a check (a large share of sites failing at once).
# TYPE beianwatch_storm_guard_active gauge
beianwatch_storm_guard_active{check="contact"} 0
beianwatch_storm_guard_active{check="dns"} 0
beianwatch_storm_guard_active{check="footer"} 0
beianwatch_storm_guard_active{check="shell"} 0
`
	// Only the findings that happened are compared; the pre-initialised
	// zero series of other codes are filtered out below.
	if err := testutil.GatherAndCompare(onlyNonZeroFindings{reg}, strings.NewReader(want),
		"beianwatch_findings_total", "beianwatch_dispatched_jobs_total", "beianwatch_last_dispatch_timestamp_seconds",
		"beianwatch_inventory_reload_success", "beianwatch_storm_guard_active"); err != nil {
		t.Error(err)
	}
	if got := testutil.CollectAndCount(reg, "beianwatch_inventory_sites_rejected"); got != 0 {
		t.Errorf("a failed load must not report a rejected count (it did not count anything): %d series", got)
	}
	// A run that did not apply counts as a run but not as a duration.
	dur := family(t, reg, "beianwatch_check_duration_seconds")
	for _, mm := range dur.GetMetric() {
		l := labelsOf(mm)
		n := mm.GetHistogram().GetSampleCount()
		if l["check"] == "footer" && n != 2 || l["check"] == "dns" && n != 0 {
			t.Errorf("duration samples for %s = %d", l["check"], n)
		}
	}
	runs := family(t, reg, "beianwatch_check_runs_total")
	for _, mm := range runs.GetMetric() {
		l := labelsOf(mm)
		v := mm.GetCounter().GetValue()
		switch {
		case l["check"] == "footer" && l["outcome"] == "fail" && v != 2,
			l["check"] == "dns" && l["outcome"] == "not_applicable" && v != 1:
			t.Errorf("check_runs_total%v = %v", l, v)
		}
	}
}

// onlyNonZeroFindings drops zero-valued findings_total series so the
// expected text above stays readable.
type onlyNonZeroFindings struct{ g prometheus.Gatherer }

func (o onlyNonZeroFindings) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := o.g.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "beianwatch_findings_total" {
			continue
		}
		kept := mf.Metric[:0]
		for _, m := range mf.Metric {
			if m.GetCounter().GetValue() != 0 {
				kept = append(kept, m)
			}
		}
		mf.Metric = kept
	}
	return mfs, err
}

// TestSiteSeriesFollowTheSnapshot: per-site series exist exactly for the
// sites with active violations, and go away when they resolve.
func TestSiteSeriesFollowTheSnapshot(t *testing.T) {
	m, reg := newTest(t)
	var current []Violation
	m.SetSnapshot(func() SnapshotData {
		return SnapshotData{SitesByStatus: map[string]int{"filed": 1000}, Violations: current}
	})
	open := func(site, code, state string) Violation {
		return Violation{Site: site, Code: code, State: state, OpenedAt: t0, Deadline: t0.Add(240 * time.Hour)}
	}
	steps := []struct {
		name        string
		violations  []Violation
		wantSites   map[string]float64
		wantPerViol int
	}{
		{"nothing wrong", nil, map[string]float64{}, 0},
		{"two sites in trouble", []Violation{
			open("a.example.cn", "footer_link_missing", StateOpen),
			open("a.example.cn", "shell_placeholder", StateEscalated),
			open("b.example.cn", "dns_resolving_while_pending", StateOpen),
		}, map[string]float64{"a.example.cn": 2, "b.example.cn": 1}, 3},
		{"pending and resolved states are not active", []Violation{
			open("b.example.cn", "dns_resolving_while_pending", StateOpen),
			open("c.example.cn", "footer_link_missing", "pending"),
			open("d.example.cn", "footer_link_missing", "resolved"),
		}, map[string]float64{"b.example.cn": 1}, 1},
		{"duplicates do not break the scrape", []Violation{
			open("b.example.cn", "dns_resolving_while_pending", StateOpen),
			open("b.example.cn", "dns_resolving_while_pending", StateEscalated),
		}, map[string]float64{"b.example.cn": 1}, 1},
		{"all resolved", nil, map[string]float64{}, 0},
	}
	for _, st := range steps {
		current = st.violations
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("%s: scrape failed: %v", st.name, err)
		}
		got := map[string]float64{}
		if mf := family(t, reg, "beianwatch_site_open_violations"); mf != nil {
			for _, mm := range mf.GetMetric() {
				got[labelsOf(mm)["site"]] = mm.GetGauge().GetValue()
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(st.wantSites) {
			t.Errorf("%s: site_open_violations = %v, want %v", st.name, got, st.wantSites)
		}
		for _, name := range []string{"beianwatch_violation_opened_timestamp_seconds", "beianwatch_violation_deadline_timestamp_seconds"} {
			if n := testutil.CollectAndCount(reg, name); n != st.wantPerViol {
				t.Errorf("%s: %s has %d series, want %d", st.name, name, n, st.wantPerViol)
			}
		}
		// The per-code gauge always has every known code in both states.
		if n := testutil.CollectAndCount(reg, "beianwatch_violations"); n != 23*2 {
			t.Errorf("%s: violations has %d series, want 46", st.name, n)
		}
	}
}

func TestSnapshotValues(t *testing.T) {
	m, reg := newTest(t)
	busy(m)
	want := `
# HELP beianwatch_empty_shell_entities Filing entities all of whose sites are confirmed empty shells or cancelled (空壳主体): active entity_empty_shell violations.
# TYPE beianwatch_empty_shell_entities gauge
beianwatch_empty_shell_entities 2
# HELP beianwatch_notice_queue_depth Notices waiting for delivery: queued, being sent, or held by the storm guard.
# TYPE beianwatch_notice_queue_depth gauge
beianwatch_notice_queue_depth 7
# HELP beianwatch_sites Sites in the inventory, by filing status.
# TYPE beianwatch_sites gauge
beianwatch_sites{status="access_pending"} 0
beianwatch_sites{status="cancelled"} 0
beianwatch_sites{status="change_pending"} 0
beianwatch_sites{status="filed"} 10
beianwatch_sites{status="first_filing_pending"} 2
# HELP beianwatch_violation_deadline_timestamp_seconds Unix time by which an active violation must be put right.
# TYPE beianwatch_violation_deadline_timestamp_seconds gauge
beianwatch_violation_deadline_timestamp_seconds{code="entity_empty_shell",site="b.example.cn",state="escalated"} 1.7721360e+09
beianwatch_violation_deadline_timestamp_seconds{code="entity_empty_shell",site="xn--fiqs8s.cn",state="open"} 1.7732160e+09
beianwatch_violation_deadline_timestamp_seconds{code="footer_link_obsolete",site="example.cn",state="open"} 1.7729568e+09
beianwatch_violation_deadline_timestamp_seconds{code="footer_psb_missing",site="example.cn",state="escalated"} 1.7721360e+09
beianwatch_violation_deadline_timestamp_seconds{code="shell_placeholder",site="xn--fiqs8s.cn",state="open"} 1.7732160e+09
# HELP beianwatch_state_snapshot_success 1 if the daemon's state (sites, violations, notice queue) was read for this scrape, 0 if reading it failed.
# TYPE beianwatch_state_snapshot_success gauge
beianwatch_state_snapshot_success 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "beianwatch_empty_shell_entities", "beianwatch_notice_queue_depth", "beianwatch_sites",
		"beianwatch_violation_deadline_timestamp_seconds", "beianwatch_state_snapshot_success"); err != nil {
		t.Error(err)
	}
	viol := family(t, reg, "beianwatch_violations")
	for _, mm := range viol.GetMetric() {
		l := labelsOf(mm)
		want := 0.0
		if l["code"] == "footer_link_obsolete" && l["state"] == StateOpen ||
			l["code"] == "footer_psb_missing" && l["state"] == StateEscalated ||
			l["code"] == "shell_placeholder" && l["state"] == StateOpen ||
			l["code"] == "entity_empty_shell" {
			want = 1
		}
		if mm.GetGauge().GetValue() != want {
			t.Errorf("violations%v = %v, want %v", l, mm.GetGauge().GetValue(), want)
		}
	}
}

// TestSnapshotErrorExportsNoPartialState: a failed read must not look like
// "no violations" (which would resolve every alert).
func TestSnapshotErrorExportsNoPartialState(t *testing.T) {
	m, reg := newTest(t)
	m.SetSnapshot(func() SnapshotData {
		return SnapshotData{Err: errors.New("database is locked"), SitesByStatus: map[string]int{"filed": 5}, NoticeQueueDepth: 3}
	})
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("a failed snapshot must not fail the scrape: %v", err)
	}
	for _, name := range []string{"beianwatch_sites", "beianwatch_violations", "beianwatch_notice_queue_depth", "beianwatch_site_open_violations"} {
		if n := testutil.CollectAndCount(reg, name); n != 0 {
			t.Errorf("%s exported %d series from a failed snapshot", name, n)
		}
	}
	want := "# HELP beianwatch_state_snapshot_success 1 if the daemon's state (sites, violations, notice queue) was read for this scrape, 0 if reading it failed.\n# TYPE beianwatch_state_snapshot_success gauge\nbeianwatch_state_snapshot_success 0\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "beianwatch_state_snapshot_success"); err != nil {
		t.Error(err)
	}
}

// TestNoPersonalDataInLabels: whatever a caller passes by mistake, a phone
// number, a URL with a token or free text never becomes a label value.
func TestNoPersonalDataInLabels(t *testing.T) {
	m, reg := newTest(t)
	leaks := []string{"13812345678", "138****5678", "+8613812345678", "010-62345678", "s3cr3t", "hooks.example.cn", "Bearer"}
	m.ObserveCheck("13812345678", "fail", time.Second, []string{"contact_vacant 13812345678", "+8613812345678", "FOOTER_LINK_MISSING"})
	m.ObserveCheck("contact", "failed: s3cr3t", time.Second, nil)
	m.ObserveNotice("https://hooks.example.cn/beian?token=s3cr3t", "Bearer s3cr3t", "500 s3cr3t", time.Second)
	m.SetStorm("010-62345678", true)
	m.ObserveDispatch("138****5678", 1, t0)
	m.SetSnapshot(func() SnapshotData {
		return SnapshotData{
			SitesByStatus: map[string]int{"filed": 1, "13812345678": 2},
			Violations: []Violation{
				{Site: "13812345678", Code: "contact_vacant", State: StateOpen},
				{Site: "138.1234.5678", Code: "contact_vacant", State: StateOpen},
				{Site: "https://hooks.example.cn/?token=s3cr3t", Code: "contact_vacant", State: StateOpen},
				{Site: "ok.example.cn", Code: "contact_vacant:+8613812345678", State: StateOpen, OpenedAt: t0},
			},
		}
	})
	out := string(exposition(t, reg))
	for _, leak := range leaks {
		if strings.Contains(out, leak) {
			t.Errorf("exposition contains %q", leak)
		}
	}
	if !strings.Contains(out, `beianwatch_site_open_violations{site="ok.example.cn"} 1`) {
		t.Errorf("a valid site with a malformed code must still be counted:\n%s", out)
	}
	if !strings.Contains(out, `beianwatch_sites{status="invalid"} 2`) {
		t.Errorf("unknown statuses must be counted as invalid, not dropped silently")
	}
	// Rejections in the snapshot are counted on every scrape that sees
	// them; this is the first scrape.
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(out))
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	got := map[string]float64{}
	for _, mm := range mfs["beianwatch_metrics_label_rejections_total"].GetMetric() {
		got[labelsOf(mm)["label"]] = mm.GetCounter().GetValue()
	}
	want := map[string]float64{"check": 3, "outcome": 1, "code": 4, "channel": 1, "kind": 1, "result": 1, "status": 1, "site": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rejections = %v, want %v", got, want)
	}
}

func TestDomainPattern(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"example.cn", true},
		{"www.example.com.cn", true},
		{"xn--fiqs8s.xn--fiqs8s", true},
		{"a-b.c0.cn", true},
		{"13812345678", false},
		{"138.1234.5678", false},
		{"127.0.0.1", false},
		{"Example.CN", false},
		{"example.cn.", false},
		{"-bad.cn", false},
		{"example", false},
		{"ex ample.cn", false},
		{"example.cn/path", false},
		{strings.Repeat("a", 250) + ".cn", false},
	} {
		if got := validDomain(tc.in); got != tc.want {
			t.Errorf("validDomain(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func BenchmarkObserveCheck(b *testing.B) {
	m, _ := newTest(b)
	codes := []string{"footer_link_obsolete", "footer_psb_missing"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveCheck("footer", "fail", 120*time.Millisecond, codes)
		}
	})
}

// BenchmarkScrape10kViolations is one scrape of a daemon with 10,000 active
// violations over 5,000 sites.
func BenchmarkScrape10kViolations(b *testing.B) {
	m, reg := newTest(b)
	vs := make([]Violation, 0, 10000)
	for i := range 5000 {
		site := fmt.Sprintf("site%d.example.cn", i)
		vs = append(vs,
			Violation{Site: site, Code: "footer_link_obsolete", State: StateOpen, OpenedAt: t0, Deadline: t0.Add(time.Hour)},
			Violation{Site: site, Code: "shell_placeholder", State: StateEscalated, OpenedAt: t0, Deadline: t0.Add(time.Hour)})
	}
	m.SetSnapshot(func() SnapshotData {
		return SnapshotData{SitesByStatus: map[string]int{"filed": 100000}, Violations: vs}
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
