package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/beianwatch/beianwatch/farm"
)

func TestPercentile(t *testing.T) {
	xs := func() []float64 { return []float64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6} }
	tests := []struct {
		in   []float64
		p    float64
		want float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 99, 7},
		{xs(), 50, 5},
		{xs(), 99, 10},
		{xs(), 10, 1},
		{xs(), 0, 1},
		{xs(), 100, 10},
	}
	for _, tt := range tests {
		if got := Percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tt.in, tt.p, got, tt.want)
		}
	}
}

func TestParseAuditReport(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "audit-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    string
		sites   int
		wantErr string
	}{
		{"object with sites", string(fixture), 2, ""},
		{"bare list", `[{"domain":"a.test","results":[{"check":"dns","outcome":"pass","duration_ms":3}]}]`, 1, ""},
		{"nested", `{"report":{"items":[{"domain":"a.test","results":[]}]}}`, 1, ""},
		{"no sites", `{"sites":[]}`, 0, "no site"},
		{"not json", `sites: 1`, 0, "not JSON"},
	}
	for _, tt := range tests {
		got, err := ParseAuditReport([]byte(tt.data))
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case len(got) != tt.sites:
			t.Errorf("%s: %d sites, want %d", tt.name, len(got), tt.sites)
		}
	}
}

func TestRunAuditMeasuresAndCompares(t *testing.T) {
	abs, err := filepath.Abs(filepath.Join("testdata", "audit-report.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := Audit{
		Binary: filepath.Join("testdata", "fake-beianwatch.sh"), Config: "unused.yaml", Only: "footer,shell",
		Concurrency: 4, Report: filepath.Join(t.TempDir(), "audit.json"), Sites: 2, Scenario: ScenarioBaseline,
		Env: append(os.Environ(), "FAKE_REPORT="+abs, "FAKE_EXIT=1"),
		Expect: func(domain, check string) (string, []string, bool) {
			if domain == "b.farm.test" && check == "footer" {
				return "fail", []string{"footer_link_obsolete"}, true
			}
			if domain == "a.farm.test" && check == "shell" {
				return "fail", []string{"shell_placeholder"}, true // the fake report disagrees
			}
			return "pass", nil, true
		},
	}
	r, err := RunAudit(context.Background(), a)
	if err != nil {
		t.Fatalf("exit status 1 (violations found) must not be an error: %v", err)
	}
	if r.Outcomes["pass"] != 3 || r.Outcomes["fail"] != 1 {
		t.Errorf("outcomes %v, want 3 pass and 1 fail", r.Outcomes)
	}
	if r.Compared != 4 || r.Agree != 3 {
		t.Errorf("agreement %d of %d, want 3 of 4", r.Agree, r.Compared)
	}
	if r.LatencyP50MS != 20 || r.LatencyP99MS != 40 || r.LatencySamples != 4 {
		t.Errorf("latency p50 %v p99 %v over %d, want 20, 40 over 4", r.LatencyP50MS, r.LatencyP99MS, r.LatencySamples)
	}
	if r.WallSeconds <= 0 || r.SitesPerSecond <= 0 || r.PeakRSSMB <= 0 {
		t.Errorf("wall %v, sites/s %v, RSS %v: want all measured", r.WallSeconds, r.SitesPerSecond, r.PeakRSSMB)
	}

	a.Env = append(os.Environ(), "FAKE_REPORT="+abs, "FAKE_EXIT=2")
	if _, err := RunAudit(context.Background(), a); err == nil {
		t.Error("exit status 2 (usage error) was not reported")
	}
}

func TestSummarizeAndTable(t *testing.T) {
	rep := &Report{Results: []Result{
		{Tool: ToolBeianwatch, Scenario: ScenarioBaseline, Sites: 1000, Concurrency: 10, WallSeconds: 5, SitesPerSecond: 200},
		{Tool: ToolBlackbox, Scenario: ScenarioBaseline, Sites: 1000, Concurrency: 10, WallSeconds: 10, SitesPerSecond: 100},
		{Tool: ToolBeianwatch, Scenario: ScenarioSlow, Sites: 1000, Concurrency: 10, WallSeconds: 9},
	}}
	rep.Summarize(100, time.Second)
	if rep.Ratio != 2 || rep.SlowGrowthSeconds != 4 || rep.SlowBudgetSeconds != 10 {
		t.Errorf("ratio %v, growth %v, budget %v; want 2, 4, 10", rep.Ratio, rep.SlowGrowthSeconds, rep.SlowBudgetSeconds)
	}
	var b bytes.Buffer
	rep.WriteTable(&b)
	for _, want := range []string{"blackbox_exporter", "ratio beianwatch sites/s ÷ blackbox targets/s (baseline): 2.00", "grew 4.00 s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	path := filepath.Join(t.TempDir(), "out", "results.json")
	if err := rep.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	var back Report
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &back); err != nil || back.Ratio != 2 || len(back.Results) != 3 {
		t.Errorf("results.json does not read back: %v %+v", err, back)
	}
}

func TestBlackboxConfig(t *testing.T) {
	b := Blackbox{Targets: []Target{{Domain: "a.farm.test", Addr: "127.0.0.1"}, {Domain: "b.farm.test"}},
		HTTPPort: 8080, DNSServer: "127.0.0.1:5353", Timeout: 3 * time.Second}
	var buf bytes.Buffer
	if err := b.WriteConfig(&buf); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Modules map[string]struct {
			Prober  string        `yaml:"prober"`
			Timeout time.Duration `yaml:"timeout"`
			HTTP    struct {
				Regexps []string `yaml:"fail_if_body_not_matches_regexp"`
			} `yaml:"http"`
			DNS struct {
				QueryName string `yaml:"query_name"`
			} `yaml:"dns"`
		} `yaml:"modules"`
	}
	if err := yaml.Unmarshal(buf.Bytes(), &cfg); err != nil {
		t.Fatalf("blackbox.yml is not YAML: %v\n%s", err, buf.String())
	}
	if len(cfg.Modules) != 3 || cfg.Modules["http_footer"].Prober != "http" || cfg.Modules["dns_1"].DNS.QueryName != "b.farm.test" {
		t.Errorf("modules %+v: want http_footer and dns_0, dns_1", cfg.Modules)
	}
	if got := cfg.Modules["http_footer"].HTTP.Regexps; len(got) != 1 || got[0] != FilingNumberRegexp {
		t.Errorf("regexp %q did not survive YAML quoting", got)
	}
	hp, dp := b.probeURLs("http://x", 1)
	if !strings.Contains(hp, "hostname=b.farm.test%3A8080") || !strings.Contains(hp, "target=http%3A%2F%2F127.0.0.1%3A8080%2F") {
		t.Errorf("http probe URL %s", hp)
	}
	if !strings.Contains(dp, "module=dns_1") || !strings.Contains(dp, "target=127.0.0.1%3A5353") {
		t.Errorf("dns probe URL %s", dp)
	}
}

func TestProbeSucceeded(t *testing.T) {
	for in, want := range map[string]bool{
		"# HELP probe_success x\nprobe_success 1\n":     true,
		"probe_duration_seconds 0.1\nprobe_success 0\n": false,
	} {
		if got, err := ProbeSucceeded([]byte(in)); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	if _, err := ProbeSucceeded([]byte("probe_duration_seconds 1\n")); err == nil {
		t.Error("an answer without probe_success was accepted")
	}
}

// TestBlackboxSmoke runs the real exporter over a small farm: the blackbox
// side of `make bench` on 40 sites.
func TestBlackboxSmoke(t *testing.T) {
	const bin = "/usr/bin/prometheus-blackbox-exporter"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("blackbox_exporter is required: %v", err)
		}
		t.Skip("blackbox_exporter not installed")
	}
	f, err := farm.Generate(farm.Options{Sites: 40, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := farm.Start(f, farm.ServeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	targets := make([]Target, len(f.Sites))
	wantHTTP := 0
	for i, s := range f.Sites {
		targets[i] = Target{Domain: s.Domain, Addr: s.Addr()}
		// The regex finds a filing number on served UTF-8 pages that show
		// one, whatever its link; GBK bytes and pages without one fail.
		switch s.State {
		case farm.CompliantGBK, farm.ICPMissing, farm.Placeholder:
		default:
			if s.Served() {
				wantHTTP++
			}
		}
	}
	r, _, err := RunBlackbox(context.Background(), Blackbox{Binary: bin, Dir: t.TempDir(), Targets: targets,
		HTTPPort: srv.HTTPPort, DNSServer: srv.DNSAddr, Concurrency: 4, Timeout: 3 * time.Second, Scenario: ScenarioBaseline})
	if err != nil {
		t.Fatal(err)
	}
	resolving := 0
	for _, s := range f.Sites {
		if s.Resolves() {
			resolving++
		}
	}
	if r.Errors != 0 || r.Outcomes["http_success"] != wantHTTP || r.Outcomes["dns_success"] != resolving {
		t.Errorf("outcomes %v errors %d; want http_success %d and dns_success %d", r.Outcomes, r.Errors, wantHTTP, resolving)
	}
	if r.SitesPerSecond <= 0 || r.PeakRSSMB <= 0 || r.LatencySamples != 2*len(targets) {
		t.Errorf("result not measured: %+v", r)
	}
}

func TestSummarizeScalingAndCheck(t *testing.T) {
	bw := func(sc, checks string, conc int, perSec float64) Result {
		return Result{Tool: ToolBeianwatch, Scenario: sc, Checks: checks, Concurrency: conc, SitesPerSecond: perSec}
	}
	bb := func(sc string, perSec float64) Result {
		return Result{Tool: ToolBlackbox, Scenario: sc, Concurrency: 64, SitesPerSecond: perSec}
	}
	tests := []struct {
		name       string
		results    []Result
		ratios     map[string]float64 // scenario/kind/checks -> value
		minRatio   float64
		minScaling float64
		failures   int
	}{
		{"healthy", []Result{
			bw(ScenarioBaseline, "footer,shell,dns", 64, 900), bb(ScenarioBaseline, 300),
			bw(ScenarioNSD, "footer,shell", 64, 600), bw(ScenarioNSD, "footer", 64, 900),
			bw(ScenarioNSD, "footer,shell", 8, 500), bw(ScenarioNSD, "footer,shell", 64, 580),
			bw(ScenarioNSD, "footer,shell", 8, 400), bb(ScenarioNSD, 400),
			bw(ScenarioMix, "footer,shell", 64, 200), bb(ScenarioMix, 400),
		}, map[string]float64{
			"nsd/over_blackbox/footer,shell": 1.5, "nsd/over_blackbox/footer": 2.25,
			// The best run of each concurrency: 600 ÷ 500.
			"nsd/scaling/footer,shell": 1.2, "mix/over_blackbox/footer,shell": 0.5,
		}, 1.2, 0.8, 0},
		{"collapse as concurrency rises", []Result{
			bw(ScenarioNSD, "footer,shell", 64, 90), bw(ScenarioNSD, "footer,shell", 8, 250), bb(ScenarioNSD, 300),
		}, map[string]float64{"nsd/over_blackbox/footer,shell": 0.3, "nsd/scaling/footer,shell": 0.36}, 1.2, 0.8, 2},
		{"report only", []Result{
			bw(ScenarioNSD, "footer,shell", 64, 90), bw(ScenarioNSD, "footer,shell", 8, 250), bb(ScenarioNSD, 300),
		}, map[string]float64{"nsd/over_blackbox/footer,shell": 0.3, "nsd/scaling/footer,shell": 0.36}, 0, 0, 0},
		{"scaling asked for but not measured", []Result{bw(ScenarioShared, "footer,shell", 64, 90), bb(ScenarioShared, 100)},
			map[string]float64{"shared/over_blackbox/footer,shell": 0.9}, 0, 0.8, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Results: tt.results}
			rep.SummarizeScaling(8, 64)
			got := map[string]float64{}
			for _, r := range rep.Ratios {
				got[r.Scenario+"/"+r.Kind+"/"+r.Checks] = r.Value
			}
			if len(got) != len(tt.ratios) {
				t.Errorf("ratios %v, want %v", got, tt.ratios)
			}
			for k, v := range tt.ratios {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if f := rep.Check(tt.minRatio, tt.minScaling); len(f) != tt.failures {
				t.Errorf("failures %q, want %d", f, tt.failures)
			}
			var b bytes.Buffer
			rep.WriteTable(&b)
			if len(rep.Ratios) > 0 && !strings.Contains(b.String(), "ratio "+rep.Ratios[0].Scenario+": ") {
				t.Errorf("the table does not print the ratios:\n%s", b.String())
			}
		})
	}
}
