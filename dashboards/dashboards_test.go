package dashboards

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/beianwatch/beianwatch/monitor/metrics"
)

// rulesDir holds the Prometheus rules, relative to this package.
const rulesDir = "../configs/prometheus"

// schemaVersion is the current classic dashboard schema version of Grafana
// (the last one of its v1 dashboard API).
const schemaVersion = 42

// dashboard is the part of a Grafana dashboard the tests look at; the raw
// map keeps everything for the variable scan.
type dashboard struct {
	File string
	Raw  map[string]any
	// Panels are every panel, those nested in rows included.
	Panels    []panel
	Variables map[string]map[string]any
}

type panel struct {
	ID         float64
	Type       string
	Title      string
	Raw        map[string]any
	Datasource map[string]any
	GridPos    map[string]any
	Targets    []target
}

type target struct {
	RefID   string
	Expr    string
	Instant bool
	Raw     map[string]any
}

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	names, err := fs.Glob(FS, "*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no dashboards embedded: %v", err)
	}
	var out []dashboard
	for _, name := range names {
		b, err := FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseDashboard(name, b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, d)
	}
	return out
}

func parseDashboard(name string, b []byte) (dashboard, error) {
	d := dashboard{File: name, Variables: map[string]map[string]any{}}
	if err := json.Unmarshal(b, &d.Raw); err != nil {
		return d, fmt.Errorf("not valid JSON: %w", err)
	}
	var walk func(list []any) error
	walk = func(list []any) error {
		for i, raw := range list {
			pm, ok := raw.(map[string]any)
			if !ok {
				return fmt.Errorf("panel %d is not an object", i)
			}
			p := panel{Raw: pm}
			p.ID, _ = pm["id"].(float64)
			p.Type, _ = pm["type"].(string)
			p.Title, _ = pm["title"].(string)
			p.Datasource, _ = pm["datasource"].(map[string]any)
			p.GridPos, _ = pm["gridPos"].(map[string]any)
			ts, _ := pm["targets"].([]any)
			for _, rt := range ts {
				tm, _ := rt.(map[string]any)
				tg := target{Raw: tm}
				tg.RefID, _ = tm["refId"].(string)
				tg.Expr, _ = tm["expr"].(string)
				tg.Instant, _ = tm["instant"].(bool)
				p.Targets = append(p.Targets, tg)
			}
			d.Panels = append(d.Panels, p)
			if nested, ok := pm["panels"].([]any); ok {
				if err := walk(nested); err != nil {
					return err
				}
			}
		}
		return nil
	}
	panels, _ := d.Raw["panels"].([]any)
	if err := walk(panels); err != nil {
		return d, err
	}
	tmpl, _ := d.Raw["templating"].(map[string]any)
	vars, _ := tmpl["list"].([]any)
	for _, v := range vars {
		vm, _ := v.(map[string]any)
		name, _ := vm["name"].(string)
		d.Variables[name] = vm
	}
	return d, nil
}

// checkDashboard returns every structural problem of d.
func checkDashboard(d dashboard) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if v, _ := d.Raw["schemaVersion"].(float64); v != schemaVersion {
		bad("schemaVersion %v, want %d", d.Raw["schemaVersion"], schemaVersion)
	}
	for _, key := range []string{"uid", "title"} {
		if s, _ := d.Raw[key].(string); s == "" {
			bad("no %s", key)
		}
	}
	hasInput := false
	inputs, _ := d.Raw["__inputs"].([]any)
	for _, in := range inputs {
		im, _ := in.(map[string]any)
		if im["name"] == "DS_PROMETHEUS" && im["type"] == "datasource" && im["pluginId"] == "prometheus" {
			hasInput = true
		}
	}
	if !hasInput {
		bad("no DS_PROMETHEUS datasource input in __inputs")
	}
	if len(d.Panels) == 0 {
		bad("no panels")
	}

	ids := map[float64]string{}
	type rect struct {
		x, y, w, h float64
		title      string
	}
	var rects []rect
	for _, p := range d.Panels {
		name := fmt.Sprintf("panel %v %q", p.ID, p.Title)
		if p.ID <= 0 {
			bad("%s: no id", name)
		} else if other, dup := ids[p.ID]; dup {
			bad("%s: id already used by %q", name, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			bad("%s: no title", name)
		}
		x, okx := p.GridPos["x"].(float64)
		y, oky := p.GridPos["y"].(float64)
		w, okw := p.GridPos["w"].(float64)
		h, okh := p.GridPos["h"].(float64)
		switch {
		case !okx || !oky || !okw || !okh:
			bad("%s: gridPos needs x, y, w and h", name)
		case w <= 0 || h <= 0 || x < 0 || y < 0 || x+w > 24:
			bad("%s: gridPos %v is outside the 24-column grid", name, p.GridPos)
		default:
			for _, r := range rects {
				if x < r.x+r.w && r.x < x+w && y < r.y+r.h && r.y < y+h {
					bad("%s: overlaps %q", name, r.title)
				}
			}
			rects = append(rects, rect{x, y, w, h, p.Title})
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource["uid"] != "${DS_PROMETHEUS}" || p.Datasource["type"] != "prometheus" {
			bad("%s: datasource %v, want the ${DS_PROMETHEUS} prometheus input", name, p.Datasource)
		}
		if len(p.Targets) == 0 {
			bad("%s: no targets", name)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				bad("%s: missing or repeated refId %q", name, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				bad("%s/%s: empty expr", name, tg.RefID)
			}
			if ds, _ := tg.Raw["datasource"].(map[string]any); ds != nil && ds["uid"] != "${DS_PROMETHEUS}" {
				bad("%s/%s: target datasource %v is not the panel's", name, tg.RefID, ds)
			}
		}
	}
	for _, name := range undefinedVariables(d) {
		bad("variable $%s is used but not defined", name)
	}
	return probs
}

// varRef finds $name, ${name}, ${name:format} and [[name]] references.
var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_.]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_.]+)(?::[^\]]*)?\]\]`)

// undefinedVariables lists the variables referenced anywhere in d (queries,
// titles, links) that are neither dashboard variables, the data source
// input, nor Grafana's built-ins (all of which start with "__").
func undefinedVariables(d dashboard) []string {
	defined := map[string]bool{}
	for name := range d.Variables {
		defined[name] = true
	}
	inputs, _ := d.Raw["__inputs"].([]any)
	for _, in := range inputs {
		im, _ := in.(map[string]any)
		if name, ok := im["name"].(string); ok {
			defined[name] = true
		}
	}
	missing := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			for _, m := range varRef.FindAllStringSubmatch(v, -1) {
				name := m[1] + m[2] + m[3]
				if strings.HasPrefix(name, "__") {
					continue
				}
				if !defined[name] {
					missing[name] = true
				}
			}
		}
	}
	walk(d.Raw)
	out := make([]string, 0, len(missing))
	for name := range missing {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func TestDashboardStructure(t *testing.T) {
	for _, d := range loadDashboards(t) {
		t.Run(d.File, func(t *testing.T) {
			for _, p := range checkDashboard(d) {
				t.Error(p)
			}
		})
	}
}

// TestStructureCheckCatchesMistakes proves the structural check is not
// vacuous: each broken copy of a dashboard must be reported.
func TestStructureCheckCatchesMistakes(t *testing.T) {
	orig, err := FS.ReadFile("beianwatch-site.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		break_ func(m map[string]any)
		want   string
	}{
		{"duplicate id", func(m map[string]any) { panelAt(m, 1)["id"] = panelAt(m, 0)["id"] }, "already used"},
		{"no datasource", func(m map[string]any) { delete(panelAt(m, 0), "datasource") }, "datasource"},
		{"no targets", func(m map[string]any) { panelAt(m, 0)["targets"] = []any{} }, "no targets"},
		{"no gridPos", func(m map[string]any) { delete(panelAt(m, 0), "gridPos") }, "gridPos"},
		{"overlap", func(m map[string]any) { panelAt(m, 1)["gridPos"] = panelAt(m, 0)["gridPos"] }, "overlaps"},
		{"undefined variable", func(m map[string]any) {
			tg := panelAt(m, 0)["targets"].([]any)[0].(map[string]any)
			tg["expr"] = `sum(beianwatch_site_open_violations{site="$domain"})`
		}, "$domain"},
		{"old schema", func(m map[string]any) { m["schemaVersion"] = 36 }, "schemaVersion"},
		{"no input", func(m map[string]any) { delete(m, "__inputs") }, "DS_PROMETHEUS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(orig, &m); err != nil {
				t.Fatal(err)
			}
			tc.break_(m)
			b, _ := json.Marshal(m)
			d, err := parseDashboard("broken.json", b)
			if err != nil {
				t.Fatal(err)
			}
			probs := checkDashboard(d)
			if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentioning %q reported; got %q", tc.want, probs)
			}
		})
	}
	if _, err := parseDashboard("truncated.json", orig[:len(orig)/2]); err == nil {
		t.Error("truncated JSON was accepted")
	}
}

func panelAt(m map[string]any, i int) map[string]any { return m["panels"].([]any)[i].(map[string]any) }

// knownMetricNames are the series names the metrics package exports, with
// the _bucket, _sum and _count series of its histograms, plus Prometheus's
// own "up".
func knownMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, metrics.BuildInfo{Version: "test"})
	// Touch every method so that lazily created families exist too.
	m.SetInventory(true, 0)
	m.ObserveDispatch("footer", 1, time.Unix(0, 0))
	m.ObserveCheck("footer", "bogus", 0, nil)
	now := time.Now()
	m.SetSnapshot(func() metrics.SnapshotData {
		return metrics.SnapshotData{Violations: []metrics.Violation{{Site: "a.example.cn", Code: "footer_link_missing", State: metrics.StateOpen, OpenedAt: now, Deadline: now}}}
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{"up": true}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if mf.GetType().String() == "HISTOGRAM" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[mf.GetName()+s] = true
			}
		}
	}
	return names
}

var metricRef = regexp.MustCompile(`\bbeianwatch_[a-z0-9_]+\b`)

// unknownMetrics lists the beianwatch_* names in expr that the metrics
// package does not export: a misspelled metric makes a panel silently
// empty, so it is caught here before any Prometheus is involved.
func unknownMetrics(expr string, known map[string]bool) []string {
	var out []string
	for _, name := range metricRef.FindAllString(expr, -1) {
		if !known[name] {
			out = append(out, name)
		}
	}
	return out
}

func TestQueriesUseExportedMetrics(t *testing.T) {
	known := knownMetricNames(t)
	for _, d := range loadDashboards(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if u := unknownMetrics(tg.Expr, known); len(u) > 0 {
					t.Errorf("%s: panel %q/%s uses unknown metrics %v", d.File, p.Title, tg.RefID, u)
				}
			}
		}
		for name, v := range d.Variables {
			q, _ := v["definition"].(string)
			if u := unknownMetrics(q, known); len(u) > 0 {
				t.Errorf("%s: variable %s uses unknown metrics %v", d.File, name, u)
			}
		}
	}
	for _, r := range loadRules(t) {
		if u := unknownMetrics(r.Expr, known); len(u) > 0 {
			t.Errorf("rule %s uses unknown metrics %v", r.Alert, u)
		}
	}
	if u := unknownMetrics(`rate(beianwatch_check_run_total[5m])`, known); len(u) != 1 {
		t.Errorf("a misspelled metric was not caught: %v", u)
	}
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(rulesDir, "beianwatch-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []rule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("rules: %v", err)
	}
	var out []rule
	for _, g := range doc.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatal("no rules")
	}
	return out
}

// TestRulesAreDocumented: every alert says what is wrong and how to fix it,
// and has a severity routing can use.
func TestRulesAreDocumented(t *testing.T) {
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			continue
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		if r.Annotations["summary"] == "" {
			t.Errorf("%s: no summary", r.Alert)
		}
		if !strings.Contains(r.Annotations["description"], "Fix:") {
			t.Errorf("%s: the description does not say how to fix it", r.Alert)
		}
	}
}

// TestRulesCoverTheIssue: the alerts the operators asked for exist, and the
// unit tests exercise every alert both firing and not firing.
func TestRulesCoverTheIssue(t *testing.T) {
	var alerts []string
	for _, r := range loadRules(t) {
		if r.Alert != "" {
			alerts = append(alerts, r.Alert)
		}
	}
	for _, want := range []string{"BeianwatchDown", "BeianwatchTargetMissing", "BeianwatchDispatcherStalled",
		"BeianwatchChecksStalled", "BeianwatchInconclusiveRateHigh", "BeianwatchNoticeDeliveriesFailing",
		"BeianwatchNoticeQueueBacklog", "BeianwatchStormGuardActive", "BeianwatchInventoryReloadFailing",
		"BeianwatchEscalatedViolations"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alert %s is missing", want)
		}
	}
	b, err := os.ReadFile(filepath.Join(rulesDir, "beianwatch-rules.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range doc.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	for _, a := range alerts {
		if !firing[a] || !quiet[a] {
			t.Errorf("%s: unit tests cover firing=%v, not firing=%v; want both", a, firing[a], quiet[a])
		}
	}
}

// requireBinary finds a Prometheus binary; without it the test is skipped,
// unless BEIANWATCH_REQUIRE_INTEGRATION is set (CI), where it fails.
func requireBinary(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("%s not found and BEIANWATCH_REQUIRE_INTEGRATION is set: %v", name, err)
		}
		t.Skipf("%s not installed (Debian package prometheus); set BEIANWATCH_REQUIRE_INTEGRATION=1 to make this a failure", name)
	}
	return path
}

func TestPromtoolRules(t *testing.T) {
	promtool := requireBinary(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "beianwatch-rules.yml"},
		{"test", "rules", "beianwatch-rules.test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			cmd := exec.Command(promtool, args...)
			cmd.Dir = rulesDir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

// TestSiteDashboardLinksToTheConsole: people follow the site dashboard's
// links in a browser, where the token-protected API only answers 401; the
// links go to the console's site page and dossier instead.
func TestSiteDashboardLinksToTheConsole(t *testing.T) {
	b, err := os.ReadFile("beianwatch-site.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	var urls []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "url" {
					urls = append(urls, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(raw)
	console := 0
	for _, u := range urls {
		if strings.Contains(u, "/api/") {
			t.Errorf("link %q goes to the API", u)
		}
		if strings.HasPrefix(u, "${beianwatch_url}/ui/sites/${site}") {
			console++
		}
	}
	if console < 2 {
		t.Errorf("links %q: want the dashboard and the panel to link to the console's site page", urls)
	}
}
