package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/freeport"
	"github.com/beianwatch/beianwatch/internal/syncbuf"

	"github.com/beianwatch/beianwatch/internal/fakedns"
	"github.com/beianwatch/beianwatch/internal/pgtest"
	"github.com/beianwatch/beianwatch/internal/testbin"
)

// This file is the end-to-end test of the dashboards and rules: a real
// `beianwatch run` checks fixture sites, a real Prometheus scrapes it every
// second and evaluates the rules, and every query of every dashboard panel
// and every rule is run through Prometheus's HTTP API.

// corePanels must return data once the daemon has checked the fixture
// sites: an empty core panel means a misspelled metric or label, or a
// metric the daemon does not feed.
var corePanels = map[string][]string{
	"beianwatch-overview.json": {
		"Sites by filing status", "Compliance rate", "Sites with open violations",
		"Escalated violations (deadline passed)", "Empty-shell entities (空壳主体)", "Open and escalated violations by code",
		"New findings per hour", "Top sites by open violations", "Notice queue depth",
		"Check runs per second by outcome", "Check duration p50 / p99", "Inconclusive rate by check",
		"Storm guard", "Time since last dispatch", "Notices sent and failed by channel",
		"Inventory reload", "Daemons",
	},
	"beianwatch-site.json": {
		"Active violations", "Escalated (deadline passed)", "Time left to the nearest deadline",
		"Violations", "Age against deadline", "Violations over time",
	},
}

const fixtureICP = "京ICP备2024000001号-1"

// fixture sites: one compliant, three not.
var fixtureSites = []struct {
	domain, status, footer string
	wantViolation          bool
}{
	{"good.example.cn", "filed", `<footer><a href="https://beian.miit.gov.cn/">` + fixtureICP + `</a></footer>`, false},
	{"obsolete.example.cn", "filed", `<footer><a href="http://www.miitbeian.gov.cn/">` + fixtureICP + `</a></footer>`, true},
	{"missing.example.cn", "filed", `<footer>版权所有 示例科技</footer>`, true},
	{"pending.example.cn", "first_filing_pending", `<footer><a href="https://beian.miit.gov.cn/">` + fixtureICP + `</a></footer>`, true},
}

func TestEndToEndWithPrometheus(t *testing.T) {
	promBin := requireBinary(t, "prometheus")
	promtool := requireBinary(t, "promtool")
	bin := buildDaemon(t)
	dir := t.TempDir()

	// Fixture sites, selected by Host, and the owners' webhook receiver.
	web := httptest.NewServer(http.HandlerFunc(serveFixture))
	t.Cleanup(web.Close)
	var hookMu sync.Mutex
	hooks := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hookMu.Lock()
		hooks++
		hookMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	dnsAddr := startDNS(t)

	_, webPort, _ := net.SplitHostPort(web.Listener.Addr().String())
	var csv strings.Builder
	csv.WriteString("domain,icp,status,entity,url,ip_ranges,owner_channel,owner_url,owner_secret_env\n")
	for _, s := range fixtureSites {
		fmt.Fprintf(&csv, "%s,%s,%s,测试公司,http://%s:%s/,127.0.0.1,webhook,%s/owner/%s,OWNER_SECRET\n",
			s.domain, fixtureICP, s.status, s.domain, webPort, hook.URL, s.domain)
	}
	write(t, filepath.Join(dir, "sites.csv"), csv.String())
	daemonAddr := freeport.Addr(t)
	cfgPath := filepath.Join(dir, "beianwatch.yaml")
	// With a test PostgreSQL, two daemons share it and Prometheus scrapes
	// both, as in a deployment of several nodes: the dashboards and rules
	// must not count the shared state twice.
	storage := fmt.Sprintf("{driver: sqlite, path: %s}", filepath.Join(dir, "bw.db"))
	var dbEnv []string
	if pgtest.Available() {
		storage = "{driver: postgres}"
		dbEnv = []string{"BEIANWATCH_DATABASE_URL=" + pgtest.Schema(t)}
	}
	// A rectification period of one second for footer_icp_missing makes
	// that violation escalate within the test, so the escalation panels
	// and the escalation alert see real data.
	write(t, cfgPath, fmt.Sprintf(`listen: %s
storage: %s
inventory: {path: %s}
allow_private: true
provider:
  name: TestCloud
  ip_ranges: [127.0.0.0/8]
dns: {resolvers: ["%s"], authoritative: false, timeout: 1s}
http: {timeout: 3s}
schedules: {footer: "@every 2s", shell: "@every 2s", dns: "@every 2s", contact: "off"}
lifecycle:
  failure_threshold: 1
  success_threshold: 2
  rectification_period: 240h
  remind_every: 72h
  rectification_periods: {footer_icp_missing: 1s}
  storm: {settle: 0s} # owner notices at once: this test waits for them
notices: {language: zh, quiet_hours: "", timezone: Asia/Shanghai}
api: {token_env: API_TOKEN}
`, daemonAddr, storage, filepath.Join(dir, "sites.csv"), dnsAddr))

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	daemonLog := startProcess(t, ctx, "beianwatch", bin, []string{"run", "--config", cfgPath, "--log-level", "debug"},
		append([]string{"OWNER_SECRET=owner-secret", "API_TOKEN=e2e-token"}, dbEnv...))
	targets := []string{daemonAddr}
	if dbEnv != nil {
		second := freeport.Addr(t)
		cfg2 := filepath.Join(dir, "beianwatch2.yaml")
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		write(t, cfg2, strings.Replace(string(b), "listen: "+daemonAddr, "listen: "+second, 1))
		startProcess(t, ctx, "beianwatch2", bin, []string{"run", "--config", cfg2},
			append([]string{"OWNER_SECRET=owner-secret", "API_TOKEN=e2e-token"}, dbEnv...))
		targets = append(targets, second)
	}
	metricsURL := "http://" + daemonAddr + "/metrics"
	waitFor(t, 30*time.Second, "the daemon's /metrics", daemonLog, func() bool {
		b, err := get(metricsURL)
		return err == nil && bytes.Contains(b, []byte("beianwatch_build_info"))
	})

	// A real Prometheus scraping the daemon every second, with the rules.
	rulesPath, err := filepath.Abs(filepath.Join(rulesDir, "beianwatch-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	promAddr := freeport.Addr(t)
	promCfg := filepath.Join(dir, "prometheus.yml")
	write(t, promCfg, fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: beianwatch
    scrape_timeout: 1s
    static_configs: [{targets: [%s]}]
`, rulesPath, quoteAll(targets)))
	promLog := startProcess(t, ctx, "prometheus", promBin, []string{
		"--config.file=" + promCfg, "--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
		"--web.listen-address=" + promAddr, "--log.level=warn",
	}, nil)
	prom := &promAPI{base: "http://" + promAddr}
	waitFor(t, 30*time.Second, "Prometheus ready", promLog, func() bool {
		_, err := get(prom.base + "/-/ready")
		return err == nil
	})
	started := time.Now()

	// The daemon's real exposition passes Prometheus's linter.
	t.Run("promtool check metrics", func(t *testing.T) {
		b, err := get(metricsURL)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(b)
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	})

	dashboards := loadDashboards(t)
	// Wait until every core panel has data (checks ran, violations opened
	// and escalated, notices went out, Prometheus has a few samples).
	var site string
	var problems []string
	deadline := 150 * time.Second
	ok := waitUntil(deadline, func() bool {
		sites, err := prom.labelValues("site", "beianwatch_site_open_violations")
		if err != nil || !slices.Contains(sites, "missing.example.cn") {
			problems = []string{fmt.Sprintf("no site series yet (%v, %v)", sites, err)}
			return false
		}
		site = "missing.example.cn"
		problems = nil
		for _, d := range dashboards {
			problems = append(problems, evaluateDashboard(prom, d, vars(site), started, corePanels[d.File])...)
		}
		return len(problems) == 0
	})
	if !ok {
		t.Errorf("after %s, dashboard problems remain:\n  %s", deadline, strings.Join(problems, "\n  "))
		t.Logf("daemon log (tail):\n%s", tail(daemonLog.String(), 4000))
		return
	}

	t.Run("query variables have values", func(t *testing.T) {
		for _, d := range dashboards {
			for name, v := range d.Variables {
				if v["type"] != "query" {
					continue
				}
				def, _ := v["definition"].(string)
				m := labelValuesCall.FindStringSubmatch(def)
				if m == nil {
					t.Errorf("%s: variable %s: cannot evaluate %q", d.File, name, def)
					continue
				}
				vals, err := prom.labelValues(m[2], m[1])
				if err != nil || len(vals) == 0 {
					t.Errorf("%s: variable %s (%s) has no values: %v", d.File, name, def, err)
				}
			}
		}
	})

	t.Run("several nodes: one leader, shared state counted once", func(t *testing.T) {
		if len(targets) < 2 {
			t.Skip("one node (no test PostgreSQL)")
		}
		if !waitUntil(30*time.Second, func() bool {
			v, err := prom.value(`sum(beianwatch_leader)`)
			return err == nil && v == 1
		}) {
			v, err := prom.value(`sum(beianwatch_leader)`)
			t.Fatalf("sum of beianwatch_leader over %d nodes = %v (%v), want exactly one leader", len(targets), v, err)
		}
		one := `{instance="` + daemonAddr + `"}`
		for _, q := range [][2]string{
			{`sum(max by (code, state) (beianwatch_violations))`, `sum(beianwatch_violations` + one + `)`},
			{`count(max by (site) (beianwatch_site_open_violations))`, `count(beianwatch_site_open_violations` + one + `)`},
			{`max(beianwatch_notice_queue_depth)`, `beianwatch_notice_queue_depth` + one},
		} {
			all, err1 := prom.value(q[0])
			single, err2 := prom.value(q[1])
			if err1 != nil || err2 != nil || all != single {
				t.Errorf("%s = %v (%v) over two nodes, but one node says %s = %v (%v)", q[0], all, err1, q[1], single, err2)
			}
		}
		// What the max is for: a plain sum counts the shared state twice.
		sum, _ := prom.value(`sum(beianwatch_violations)`)
		single, _ := prom.value(`sum(beianwatch_violations` + one + `)`)
		if single > 0 && sum != 2*single {
			t.Errorf("sum over both nodes %v, one node %v: want the nodes to export the same shared state", sum, single)
		}
	})

	t.Run("core panels are named in the dashboards", func(t *testing.T) {
		for _, d := range dashboards {
			for _, title := range corePanels[d.File] {
				if !slices.ContainsFunc(d.Panels, func(p panel) bool { return p.Title == title }) {
					t.Errorf("%s: core panel %q does not exist", d.File, title)
				}
			}
		}
	})

	t.Run("site series follow the sites in trouble", func(t *testing.T) {
		sites, err := prom.labelValues("site", `beianwatch_site_open_violations`)
		if err != nil {
			t.Fatal(err)
		}
		// Over the nodes, as the dashboards read it.
		res, err := prom.query(`max by (site) (beianwatch_site_open_violations)`, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		var now []string
		for _, s := range res {
			now = append(now, s.Metric["site"])
		}
		sort.Strings(now)
		var want []string
		for _, s := range fixtureSites {
			if s.wantViolation {
				want = append(want, s.domain)
			}
		}
		sort.Strings(want)
		if !slices.Equal(now, want) {
			t.Errorf("sites with open violations = %v, want %v (ever seen: %v)", now, want, sites)
		}
	})

	t.Run("every rule expression runs", func(t *testing.T) {
		for _, r := range loadRules(t) {
			if _, err := prom.query(r.Expr, time.Now()); err != nil {
				t.Errorf("rule %s: %v", r.Alert, err)
			}
		}
		// Prometheus itself loaded and evaluated every rule without error.
		var body struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
					}
				}
			}
		}
		if err := prom.get("/api/v1/rules", nil, &body); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, g := range body.Data.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" {
					t.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
				}
			}
		}
		if want := len(loadRules(t)); n != want {
			t.Errorf("Prometheus loaded %d rules, want %d", n, want)
		}
	})

	t.Run("alerts on real data", func(t *testing.T) {
		activeAlerts := func() map[string]bool {
			var body struct {
				Data struct {
					Alerts []struct {
						Labels map[string]string
						State  string
					}
				}
			}
			if err := prom.get("/api/v1/alerts", nil, &body); err != nil {
				t.Fatal(err)
			}
			active := map[string]bool{}
			for _, a := range body.Data.Alerts {
				active[a.Labels["alertname"]+"/"+a.Labels["code"]] = true
			}
			return active
		}
		unhealthy := func(active map[string]bool) []string {
			var out []string
			for _, a := range []string{"BeianwatchStormGuardActive", "BeianwatchInventoryReloadFailing",
				"BeianwatchStateSnapshotFailing", "BeianwatchChecksStalled", "BeianwatchDispatcherStalled",
				"BeianwatchMetricsMissing", "BeianwatchNoticeDeliveriesFailing"} {
				for k := range active {
					if strings.HasPrefix(k, a+"/") {
						out = append(out, k)
					}
				}
			}
			return out
		}
		// A batch that was dispatched and has not finished yet makes
		// BeianwatchChecksStalled pending for one evaluation; a healthy
		// daemon clears it at the next. A stuck one keeps it, and fails.
		var active map[string]bool
		var bad []string
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(time.Second) {
			active = activeAlerts()
			if bad = unhealthy(active); len(bad) == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, k := range bad {
			t.Errorf("%s stays active on a healthy daemon", k)
		}
		// The escalated footer_icp_missing violation is pending (it fires
		// after 5 minutes); nothing about the daemon's health is wrong.
		if !active["BeianwatchEscalatedViolations/footer_icp_missing"] {
			t.Errorf("BeianwatchEscalatedViolations is not active for footer_icp_missing: %v", active)
		}
	})

	// The harness must catch a misspelled metric in a core panel, and a
	// query Prometheus cannot parse in any panel.
	t.Run("misspelled queries are caught", func(t *testing.T) {
		d := dashboards[slices.IndexFunc(dashboards, func(d dashboard) bool { return d.File == "beianwatch-overview.json" })]
		for _, tc := range []struct {
			name, from, to, want string
		}{
			{"misspelled metric", "beianwatch_check_runs_total", "beianwatch_check_run_total", "no data"},
			{"misspelled label", "by (check, outcome)", "by (chekc, outcome)", ""},
			{"syntax error", "sum by (check, outcome) (", "sum by (check, outcome (", "error"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				broken := d
				broken.Panels = nil
				for _, p := range d.Panels {
					if p.Title != "Check runs per second by outcome" {
						continue
					}
					q := p
					q.Targets = []target{p.Targets[0]}
					q.Targets[0].Expr = strings.Replace(p.Targets[0].Expr, tc.from, tc.to, 1)
					if q.Targets[0].Expr == p.Targets[0].Expr {
						t.Fatalf("%q not found in %q", tc.from, p.Targets[0].Expr)
					}
					broken.Panels = append(broken.Panels, q)
				}
				probs := evaluateDashboard(prom, broken, vars(site), started, []string{"Check runs per second by outcome"})
				if tc.want == "" {
					// A misspelled grouping label still returns data; it is
					// caught by the legend check below instead.
					if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, "legend") }) {
						t.Errorf("a misspelled label went unnoticed: %q", probs)
					}
					return
				}
				if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tc.want) }) {
					t.Errorf("not caught (want a problem mentioning %q): %q", tc.want, probs)
				}
			})
		}
	})

	hookMu.Lock()
	if hooks == 0 {
		t.Error("no notice reached the owners' webhook")
	}
	hookMu.Unlock()
}

// vars are the concrete values substituted for dashboard variables, as
// Grafana would for a short time range scraped every second.
func vars(site string) map[string]string {
	return map[string]string{
		"instance":        ".*",
		"site":            site,
		"beianwatch_url":  "http://127.0.0.1:9470",
		"__rate_interval": "10s",
		"__interval":      "5s",
		"__range":         "2m",
		"__range_s":       "120",
	}
}

func substitute(expr string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(expr, func(m string) string {
		sm := varRef.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// legendLabels are the {{label}} names of a legend format.
func legendLabels(format string) []string {
	var out []string
	for {
		i := strings.Index(format, "{{")
		if i < 0 {
			return out
		}
		j := strings.Index(format[i:], "}}")
		if j < 0 {
			return out
		}
		out = append(out, strings.TrimSpace(format[i+2:i+j]))
		format = format[i+j+2:]
	}
}

// evaluateDashboard runs every target of every panel of d through
// Prometheus (a range query for range targets, an instant query for instant
// ones) and returns the problems: any error; no data from a core panel; a
// legend naming a label the result does not have.
func evaluateDashboard(prom *promAPI, d dashboard, vars map[string]string, since time.Time, core []string) []string {
	var probs []string
	now := time.Now()
	start := since
	if now.Sub(start) < 10*time.Second {
		start = now.Add(-10 * time.Second)
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			expr := substitute(tg.Expr, vars)
			where := fmt.Sprintf("%s: %q/%s: %s", d.File, p.Title, tg.RefID, expr)
			if u := undefinedIn(expr); u != "" {
				probs = append(probs, fmt.Sprintf("%s: variable %s left unsubstituted", where, u))
				continue
			}
			var res []series
			var err error
			if tg.Instant {
				res, err = prom.query(expr, now)
			} else {
				res, err = prom.queryRange(expr, start, now, 2*time.Second)
			}
			if err != nil {
				probs = append(probs, fmt.Sprintf("%s: error: %v", where, err))
				continue
			}
			if len(res) == 0 {
				if slices.Contains(core, p.Title) {
					probs = append(probs, fmt.Sprintf("%s: no data", where))
				}
				continue
			}
			legend, _ := tg.Raw["legendFormat"].(string)
			for _, l := range legendLabels(legend) {
				if !slices.ContainsFunc(res, func(s series) bool { _, ok := s.Metric[l]; return ok }) {
					probs = append(probs, fmt.Sprintf("%s: legend uses {{%s}} but no series has that label", where, l))
				}
			}
		}
	}
	return probs
}

// labelValuesCall matches Grafana's label_values(metric, label).
var labelValuesCall = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

func undefinedIn(expr string) string {
	if m := varRef.FindString(expr); m != "" {
		return m
	}
	return ""
}

type series struct {
	Metric map[string]string `json:"metric"`
}

type promAPI struct{ base string }

func (p *promAPI) get(path string, q url.Values, out any) error {
	u := p.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Status, Error, ErrorType string
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: HTTP %d: %.200s", path, resp.StatusCode, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", env.ErrorType, env.Error)
	}
	return json.Unmarshal(b, out)
}

func (p *promAPI) query(expr string, at time.Time) ([]series, error) {
	var body struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	q := url.Values{"query": {expr}, "time": {fmt.Sprint(at.Unix())}}
	if err := p.get("/api/v1/query", q, &body); err != nil {
		return nil, err
	}
	if body.Data.ResultType == "scalar" || body.Data.ResultType == "string" {
		return []series{{Metric: map[string]string{}}}, nil
	}
	var res []series
	err := json.Unmarshal(body.Data.Result, &res)
	return res, err
}

func (p *promAPI) queryRange(expr string, start, end time.Time, step time.Duration) ([]series, error) {
	var body struct {
		Data struct {
			Result []series `json:"result"`
		} `json:"data"`
	}
	q := url.Values{"query": {expr}, "start": {fmt.Sprint(start.Unix())}, "end": {fmt.Sprint(end.Unix())},
		"step": {fmt.Sprint(step.Seconds())}}
	if err := p.get("/api/v1/query_range", q, &body); err != nil {
		return nil, err
	}
	return body.Data.Result, nil
}

// value evaluates expr now and returns its single sample's value.
func (p *promAPI) value(expr string) (float64, error) {
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &body); err != nil {
		return 0, err
	}
	if len(body.Data.Result) != 1 {
		return 0, fmt.Errorf("%s: %d series, want 1", expr, len(body.Data.Result))
	}
	str, _ := body.Data.Result[0].Value[1].(string)
	var v float64
	_, err := fmt.Sscan(str, &v)
	return v, err
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func (p *promAPI) labelValues(label, match string) ([]string, error) {
	var body struct {
		Data []string `json:"data"`
	}
	err := p.get("/api/v1/label/"+label+"/values", url.Values{"match[]": {match}}, &body)
	return body.Data, err
}

func serveFixture(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	host = strings.TrimPrefix(host, "www.")
	for _, s := range fixtureSites {
		if s.domain == host {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<!DOCTYPE html><html><head><meta charset='utf-8'><title>示例</title></head><body><main><p>%s</p></main>%s</body></html>",
				strings.Repeat("本公司提供软件开发与信息技术咨询服务，欢迎垂询。", 10), s.footer)
			return
		}
	}
	http.NotFound(w, r)
}

// startDNS resolves the fixture domains (and www.) to 127.0.0.1.
func startDNS(t *testing.T) string {
	var domains []string
	for _, s := range fixtureSites {
		domains = append(domains, s.domain)
	}
	return fakedns.Start(t, fakedns.Loopback(domains...))
}

// buildDaemon builds ./cmd/beianwatch and makes sure it has `run --config`.
func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := testbin.Build(t, "./cmd/beianwatch")
	help, _ := exec.Command(bin, "run", "--help").CombinedOutput()
	if !strings.Contains(string(help), "--config") {
		t.Fatalf("beianwatch run --help does not offer --config:\n%s", help)
	}
	return bin
}

// startProcess runs a server until the test ends, then interrupts it and
// waits for it, so that nothing outlives the test.
func startProcess(t *testing.T, ctx context.Context, name, bin string, args, env []string) *syncbuf.Buffer {
	t.Helper()
	out := &syncbuf.Buffer{}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", name, tail(out.String(), 3000))
		}
	})
	return out
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Second)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, log *syncbuf.Buffer, cond func() bool) {
	t.Helper()
	if !waitUntil(d, cond) {
		t.Fatalf("timed out after %s waiting for %s; output:\n%s", d, what, tail(log.String(), 3000))
	}
}

func get(u string) ([]byte, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	return b, err
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
