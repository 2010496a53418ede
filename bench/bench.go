// Package bench measures beianwatch against Prometheus's blackbox_exporter
// on the same simulated sites (package farm), in the same run, and reports
// both side by side. `make bench` drives it through `beianwatch-farm bench`.
//
// beianwatch is measured as a whole process: `beianwatch audit` over the
// farm's inventory, timed from exec to exit, its CPU and peak RSS read from
// the child's rusage. blackbox_exporter is measured the way a provider would
// use it: one exporter process, a driver scraping /probe for every site (an
// http module that looks for a filing number by regex, a dns module per
// site), at the same concurrency; its CPU and peak RSS are the exporter's
// rusage. The driver's own CPU is not counted for either side.
package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Result is one tool's run over one scenario.
type Result struct {
	Tool     string `json:"tool"`     // beianwatch or blackbox_exporter
	Scenario string `json:"scenario"` // one of Scenarios
	// Checks are the checks beianwatch ran (--only); empty for blackbox.
	Checks      string  `json:"checks,omitempty"`
	Sites       int     `json:"sites"`
	Concurrency int     `json:"concurrency"`
	WallSeconds float64 `json:"wall_seconds"`
	// SitesPerSecond: sites fully checked (beianwatch: footer, shell and dns
	// as they apply; blackbox: the http and the dns probe) per second.
	SitesPerSecond float64 `json:"sites_per_second"`
	// Latency of one check (beianwatch, from the report's duration_ms) or
	// one probe (blackbox, as the driver timed it), in milliseconds.
	LatencyP50MS   float64 `json:"latency_p50_ms"`
	LatencyP99MS   float64 `json:"latency_p99_ms"`
	LatencySamples int     `json:"latency_samples"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	CPUPer1000     float64 `json:"cpu_seconds_per_1000_sites"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	// Outcomes counts check outcomes (beianwatch) or probe results
	// (blackbox: http_success, http_failure, dns_success, ...).
	Outcomes map[string]int `json:"outcomes"`
	// Agreement: for beianwatch, how many (site, check) results equal the
	// farm's expectation, out of how many were compared.
	Agree    int `json:"agree,omitempty"`
	Compared int `json:"compared,omitempty"`
	Errors   int `json:"errors"`
	// FarmHTTPRequests and FarmDNSQueries are what the farm served during
	// the run: how much work the tool asked of the sites.
	FarmHTTPRequests int64  `json:"farm_http_requests"`
	FarmDNSQueries   int64  `json:"farm_dns_queries"`
	Note             string `json:"note,omitempty"`
	// Render scenario: footers rendered in the browser, per second of the
	// run, and the peak proportional memory of the browser trees.
	Rendered          int     `json:"rendered,omitempty"`
	RendersPerSecond  float64 `json:"renders_per_second,omitempty"`
	BrowserPeakPSSMB  float64 `json:"browser_peak_pss_mb,omitempty"`
	BrowserPeakProcs  int     `json:"browser_peak_processes,omitempty"`
	ScriptedSites     int     `json:"scripted_sites,omitempty"`
	StillNeedRenderer int     `json:"still_needs_rendering,omitempty"`
}

// Report is what bench/results.json holds.
type Report struct {
	Date    string   `json:"date"`
	Machine Machine  `json:"machine"`
	Farm    FarmInfo `json:"farm"`
	Results []Result `json:"results"`
	// Ratio is beianwatch sites/s ÷ blackbox targets/s in the baseline.
	Ratio float64 `json:"ratio_beianwatch_over_blackbox"`
	// Ratios are the other scenarios' ratios, each measured in one run:
	// beianwatch over blackbox per set of checks, and the nsd scenario's
	// throughput at a high concurrency over a low one.
	Ratios []Ratio `json:"ratios,omitempty"`
	// SlowGrowthSeconds is how much the beianwatch cycle grew with slow
	// sites; SlowBudgetSeconds the target: the slow sites' own delay
	// divided by the concurrency.
	SlowGrowthSeconds float64  `json:"slow_growth_seconds"`
	SlowBudgetSeconds float64  `json:"slow_budget_seconds"`
	Commands          []string `json:"commands"`
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel,omitempty"`
	// LoadAverage is /proc/loadavg's three averages when the bench began:
	// a loaded machine makes absolute figures noisy, ratios less so.
	LoadAverage string `json:"load_average,omitempty"`
	Blackbox    string `json:"blackbox_version,omitempty"`
}

// FarmInfo describes the farm the bench ran against.
type FarmInfo struct {
	Seed      uint64  `json:"seed"`
	Sites     int     `json:"sites"`
	SlowShare float64 `json:"slow_share"`
	SlowDelay string  `json:"slow_delay"`
	SlowSites int     `json:"slow_sites"`
	// MixHosts and MixBigShare shape the mix scenario's farm.
	MixHosts    int     `json:"mix_hosts,omitempty"`
	MixBigShare float64 `json:"mix_big_share,omitempty"`
}

// Ratio is one ratio of two results of the same run.
type Ratio struct {
	Scenario string `json:"scenario"`
	// Kind is RatioBlackbox (beianwatch sites/s over blackbox targets/s)
	// or RatioScaling (sites/s at a high concurrency over a low one).
	Kind   string  `json:"kind"`
	Checks string  `json:"checks"`
	What   string  `json:"what"`
	Value  float64 `json:"value"`
}

// Kinds of Ratio.
const (
	RatioBlackbox = "over_blackbox"
	RatioScaling  = "scaling"
)

// Find returns the result of tool in scenario, nil if there is none.
func (r *Report) Find(tool, scenario string) *Result {
	for i := range r.Results {
		if r.Results[i].Tool == tool && r.Results[i].Scenario == scenario {
			return &r.Results[i]
		}
	}
	return nil
}

// best returns the fastest beianwatch result of scenario with the given
// checks and concurrency, nil if there is none.
func (r *Report) best(scenario, checks string, conc int) *Result {
	var out *Result
	for i := range r.Results {
		x := &r.Results[i]
		if x.Tool == ToolBeianwatch && x.Scenario == scenario && x.Checks == checks && x.Concurrency == conc &&
			(out == nil || x.SitesPerSecond > out.SitesPerSecond) {
			out = x
		}
	}
	return out
}

// SummarizeScaling fills in Ratios for the scenarios beyond baseline and
// slow: every beianwatch result over blackbox's at the same concurrency,
// and the nsd scenario's footer,shell throughput at concurrency high over
// low (the best run of each).
func (r *Report) SummarizeScaling(low, high int) {
	seen := map[string]bool{}
	for _, bw := range r.Results {
		key := fmt.Sprintf("%s/%s/%d", bw.Scenario, bw.Checks, bw.Concurrency)
		if bw.Tool != ToolBeianwatch || bw.Scenario == ScenarioBaseline || bw.Scenario == ScenarioSlow || seen[key] {
			continue
		}
		seen[key] = true
		bb := r.Find(ToolBlackbox, bw.Scenario)
		if bb == nil || bb.SitesPerSecond <= 0 || bb.Concurrency != bw.Concurrency {
			continue
		}
		r.Ratios = append(r.Ratios, Ratio{Scenario: bw.Scenario, Kind: RatioBlackbox, Checks: bw.Checks,
			What:  fmt.Sprintf("beianwatch --only %s sites/s ÷ blackbox targets/s, concurrency %d", bw.Checks, bw.Concurrency),
			Value: round(bw.SitesPerSecond/bb.SitesPerSecond, 2)})
	}
	lo, hi := r.best(ScenarioNSD, "footer,shell", low), r.best(ScenarioNSD, "footer,shell", high)
	if lo != nil && hi != nil && lo.SitesPerSecond > 0 {
		r.Ratios = append(r.Ratios, Ratio{Scenario: ScenarioNSD, Kind: RatioScaling, Checks: "footer,shell",
			What:  fmt.Sprintf("beianwatch --only footer,shell sites/s at concurrency %d ÷ at %d", high, low),
			Value: round(hi.SitesPerSecond/lo.SitesPerSecond, 2)})
	}
}

// Check says which ratios fall short: the nsd scenario's footer,shell
// over blackbox below minRatio (the scenario shaped like a provider's
// real DNS, where a rate-limited resolver once cost a DNS timeout per
// site), scaling below minScaling. A zero bound is not checked.
func (r *Report) Check(minRatio, minScaling float64) []string {
	var out []string
	for _, x := range r.Ratios {
		switch {
		case x.Kind == RatioBlackbox && x.Scenario == ScenarioNSD && x.Checks == "footer,shell" && minRatio > 0 && x.Value < minRatio:
			out = append(out, fmt.Sprintf("%s: %s is %.2f, below %.2f", x.Scenario, x.What, x.Value, minRatio))
		case x.Kind == RatioScaling && minScaling > 0 && x.Value < minScaling:
			out = append(out, fmt.Sprintf("%s: %s is %.2f, below %.2f: throughput falls as concurrency rises", x.Scenario, x.What, x.Value, minScaling))
		}
	}
	if minScaling > 0 && !slices.ContainsFunc(r.Ratios, func(x Ratio) bool { return x.Kind == RatioScaling }) {
		out = append(out, "no scaling ratio measured: the nsd scenario did not run or failed")
	}
	return out
}

// Summarize fills in the ratio and the slow-scenario growth.
func (r *Report) Summarize(slowSites int, slowDelay time.Duration) {
	bw, bb := r.Find(ToolBeianwatch, ScenarioBaseline), r.Find(ToolBlackbox, ScenarioBaseline)
	if bw != nil && bb != nil && bb.SitesPerSecond > 0 {
		r.Ratio = round(bw.SitesPerSecond/bb.SitesPerSecond, 2)
	}
	slow := r.Find(ToolBeianwatch, ScenarioSlow)
	if bw != nil && slow != nil {
		r.SlowGrowthSeconds = round(slow.WallSeconds-bw.WallSeconds, 2)
		if slow.Concurrency > 0 {
			r.SlowBudgetSeconds = round(float64(slowSites)*slowDelay.Seconds()/float64(slow.Concurrency), 2)
		}
	}
}

// Tools and scenarios.
const (
	ToolBeianwatch   = "beianwatch"
	ToolBlackbox     = "blackbox_exporter"
	ScenarioBaseline = "baseline"
	ScenarioSlow     = "slow"
	ScenarioShared   = "shared"
	ScenarioNSD      = "nsd"
	ScenarioMix      = "mix"
	// ScenarioRender: a share of the sites draw their footer by script,
	// rendered in headless Chromium.
	ScenarioRender = "render"
)

// Scenarios in the order they run.
var Scenarios = []string{ScenarioBaseline, ScenarioSlow, ScenarioShared, ScenarioNSD, ScenarioMix, ScenarioRender}

// WriteTable prints the side-by-side table.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tscenario\tchecks\tsites\tconc\twall s\tsites/s\tp50 ms\tp99 ms\tCPU s\tCPU s/1k\tpeak RSS MB\terrors\t")
	for _, x := range r.Results {
		checks := x.Checks
		if checks == "" {
			checks = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t%.2f\t%.3f\t%.1f\t%d\t\n", x.Tool, x.Scenario, checks, x.Sites,
			x.Concurrency, x.WallSeconds, x.SitesPerSecond, x.LatencyP50MS, x.LatencyP99MS, x.CPUSeconds, x.CPUPer1000, x.PeakRSSMB, x.Errors)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Ratio > 0 {
		fmt.Fprintf(w, "\nratio beianwatch sites/s ÷ blackbox targets/s (baseline): %.2f\n", r.Ratio)
	}
	for _, x := range r.Ratios {
		fmt.Fprintf(w, "ratio %s: %s: %.2f\n", x.Scenario, x.What, x.Value)
	}
	if slow := r.Find(ToolBeianwatch, ScenarioSlow); slow != nil {
		fmt.Fprintf(w, "slow scenario: the beianwatch cycle grew %.2f s; budget (slow sites × delay ÷ concurrency) %.2f s\n",
			r.SlowGrowthSeconds, r.SlowBudgetSeconds)
	}
	for _, x := range r.Results {
		if x.Compared > 0 {
			fmt.Fprintf(w, "%s %s %s@%d: %d of %d results equal the farm's expectation\n", x.Tool, x.Scenario, x.Checks, x.Concurrency, x.Agree, x.Compared)
		}
		if x.FarmHTTPRequests > 0 && x.Sites > 0 {
			fmt.Fprintf(w, "%s %s: the farm served %.2f HTTP requests and %.2f DNS queries per site\n", x.Tool, x.Scenario,
				float64(x.FarmHTTPRequests)/float64(x.Sites), float64(x.FarmDNSQueries)/float64(x.Sites))
		}
		if x.Rendered > 0 || x.ScriptedSites > 0 {
			fmt.Fprintf(w, "%s %s: %d of %d sites draw their footer by script; %d footers rendered (%.2f renders/s), %d still needs_rendering; browser peak PSS %.0f MB in %d processes\n",
				x.Tool, x.Scenario, x.ScriptedSites, x.Sites, x.Rendered, x.RendersPerSecond, x.StillNeedRenderer, x.BrowserPeakPSSMB, x.BrowserPeakProcs)
		}
		if x.Note != "" {
			fmt.Fprintf(w, "%s %s: %s\n", x.Tool, x.Scenario, x.Note)
		}
	}
	return nil
}

// WriteJSON writes the report to path, creating its directory.
func (r *Report) WriteJSON(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the report directory: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// Percentile is the p-th percentile (0..100) of xs by the nearest-rank
// method; 0 for no samples. xs is sorted in place.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	if !sort.Float64sAreSorted(xs) {
		slices.Sort(xs)
	}
	rank := int(math.Ceil(p / 100 * float64(len(xs))))
	rank = min(max(rank, 1), len(xs))
	return xs[rank-1]
}

// usage reads CPU seconds and peak RSS (MB) from a finished child's rusage.
func usage(ru *syscall.Rusage) (cpu, rssMB float64) {
	if ru == nil {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	// Linux reports ru_maxrss in KiB.
	return cpu, float64(ru.Maxrss) / 1024
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

func finish(r *Result, wall time.Duration, cpu, rss float64, latencies []float64) {
	r.WallSeconds = round(wall.Seconds(), 3)
	if wall > 0 {
		r.SitesPerSecond = round(float64(r.Sites)/wall.Seconds(), 1)
	}
	r.CPUSeconds = round(cpu, 3)
	if r.Sites > 0 {
		r.CPUPer1000 = round(cpu*1000/float64(r.Sites), 3)
	}
	r.PeakRSSMB = round(rss, 1)
	r.LatencySamples = len(latencies)
	r.LatencyP50MS = round(Percentile(latencies, 50), 1)
	r.LatencyP99MS = round(Percentile(latencies, 99), 1)
}

func shellQuote(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " '\"$\\*?&;|<>()") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
