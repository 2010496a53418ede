package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// Audit describes one timed `beianwatch audit` over a farm's inventory.
type Audit struct {
	Binary      string // the beianwatch binary
	Config      string // the farm's generated configuration
	Only        string // checks, e.g. "footer,shell,dns"
	Concurrency int
	Report      string   // where the JSON report goes
	Env         []string // the child's whole environment
	Sites       int
	Scenario    string
	// Log receives the child's stdout and stderr; nil discards them.
	Log io.Writer
	// Extra are more arguments for the audit (e.g. its hidden profiling
	// flag).
	Extra []string
	// Expect, when set, says what the farm expects of (domain, check); the
	// report is compared with it.
	Expect func(domain, check string) (outcome string, codes []string, ok bool)
}

// Args are the command-line arguments of the audit.
func (a Audit) Args() []string {
	return append([]string{"audit", "--config", a.Config, "--report", a.Report, "--format", "json",
		"--only", a.Only, "--concurrency", strconv.Itoa(a.Concurrency)}, a.Extra...)
}

// Command is the audit as a shell command line, for the report.
func (a Audit) Command() string { return shellQuote(append([]string{a.Binary}, a.Args()...)) }

// RunAudit runs the audit and measures it. Exit status 1 (violations found)
// and 3 (something inconclusive) are the audit working; anything else is an
// error.
func RunAudit(ctx context.Context, a Audit) (Result, error) {
	r := Result{Tool: ToolBeianwatch, Scenario: a.Scenario, Checks: a.Only, Sites: a.Sites, Concurrency: a.Concurrency, Outcomes: map[string]int{}}
	os.Remove(a.Report)
	cmd := exec.CommandContext(ctx, a.Binary, a.Args()...)
	cmd.Env = a.Env
	log := a.Log
	if log == nil {
		log = io.Discard
	}
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && (ee.ExitCode() == 1 || ee.ExitCode() == 3):
	default:
		return r, fmt.Errorf("running %s: %w", a.Command(), err)
	}
	var ru *syscall.Rusage
	if cmd.ProcessState != nil {
		ru, _ = cmd.ProcessState.SysUsage().(*syscall.Rusage)
	}
	cpu, rss := usage(ru)

	data, err := os.ReadFile(a.Report)
	if err != nil {
		return r, fmt.Errorf("reading the audit report: %w", err)
	}
	sites, err := ParseAuditReport(data)
	if err != nil {
		return r, err
	}
	var lat []float64
	for _, s := range sites {
		for _, c := range s.Results {
			r.Outcomes[c.Outcome]++
			if c.Outcome != "not_applicable" {
				// A check that does not apply returns at once; counting it
				// would halve the median.
				lat = append(lat, float64(c.DurationMS))
			}
			if a.Expect == nil {
				continue
			}
			want, codes, ok := a.Expect(s.Domain, c.Check)
			if !ok {
				continue
			}
			r.Compared++
			var got []string
			for _, f := range c.Findings {
				got = append(got, f.Code)
			}
			slices.Sort(got)
			if c.Outcome == want && slices.Equal(got, codes) {
				r.Agree++
			}
		}
	}
	if len(sites) != a.Sites {
		r.Note = fmt.Sprintf("the report lists %d sites, the farm has %d", len(sites), a.Sites)
		r.Errors++
	}
	finish(&r, wall, cpu, rss, lat)
	return r, nil
}

// AuditSite is one site of an audit report as the bench reads it.
type AuditSite struct {
	Domain  string        `json:"domain"`
	Results []AuditResult `json:"results"`
}

// AuditResult is one check result (the `beianwatch check` JSON shape).
type AuditResult struct {
	Check      string `json:"check"`
	Outcome    string `json:"outcome"`
	DurationMS int64  `json:"duration_ms"`
	Findings   []struct {
		Code string `json:"code"`
	} `json:"findings"`
}

// ParseAuditReport finds the per-site results in an audit JSON report. It
// accepts the shapes the report may take: a list of sites, or an object
// holding one under any key ("sites", "results"), each site shaped like
// `beianwatch check --output json` (domain and results).
func ParseAuditReport(data []byte) ([]AuditSite, error) {
	var root any
	if err := json.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("the audit report is not JSON: %w", err)
	}
	var out []AuditSite
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["domain"].(string); ok {
				if _, ok := x["results"].([]any); ok {
					b, _ := json.Marshal(x)
					var s AuditSite
					if json.Unmarshal(b, &s) == nil {
						out = append(out, s)
						return
					}
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(root)
	if len(out) == 0 {
		return nil, errors.New("the audit report lists no site with results (want objects with \"domain\" and \"results\")")
	}
	return out, nil
}
