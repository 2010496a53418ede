package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/bench"
	"github.com/beianwatch/beianwatch/checks/render"
	"github.com/beianwatch/beianwatch/farm"
)

// cmdBench times `beianwatch audit` and blackbox_exporter on the same farm,
// first with every site prompt, then with a share of slow sites.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	sites := fs.Int("sites", 10000, "number of simulated sites")
	seed := fs.Uint64("seed", 1, "farm seed")
	conc := fs.Int("concurrency", 32, "sites checked (beianwatch) and targets probed (blackbox) at once")
	slowShare := fs.Float64("slow-share", 0.1, "share of slow sites in the slow scenario")
	slowDelay := fs.Duration("slow-delay", time.Second, "delay of a slow site")
	timeout := fs.Duration("timeout", 5*time.Second, "fetch timeout (beianwatch) and probe timeout (blackbox)")
	bin := fs.String("beianwatch", filepath.Join("bin", "beianwatch"), "the beianwatch binary")
	bbBin := fs.String("blackbox", "/usr/bin/prometheus-blackbox-exporter", "the blackbox_exporter binary")
	outPath := fs.String("out", filepath.Join("bench", "results.json"), "where the JSON results go")
	dir := fs.String("dir", "", "work directory for configs, reports and logs (default: a new temporary directory)")
	scenarios := fs.String("scenarios", "baseline,slow,render", "scenarios to run: baseline, slow, render")
	scriptShare := fs.Float64("script-share", 0.1, "share of sites with a footer drawn by script in the render scenario")
	tools := fs.String("tools", "beianwatch,blackbox", "tools to measure: beianwatch, blackbox")
	if ok, code := parse(fs, args, stderr); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "beianwatch-farm bench: %v\n", err)
		return 1
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "beianwatch-bench-")
		if err != nil {
			return fail(err)
		}
		*dir = d
	}
	want := func(list, x string) bool {
		for _, s := range strings.Split(list, ",") {
			if strings.TrimSpace(s) == x {
				return true
			}
		}
		return false
	}

	rep := &bench.Report{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: bench.Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Kernel: kernel()},
		Farm:    bench.FarmInfo{Seed: *seed, Sites: *sites, SlowShare: *slowShare, SlowDelay: slowDelay.String()},
	}
	if want(*tools, "blackbox") {
		if v, err := exec.Command(*bbBin, "--version").CombinedOutput(); err == nil {
			rep.Machine.Blackbox = strings.TrimSpace(strings.SplitN(string(v), "\n", 2)[0])
		} else {
			return fail(fmt.Errorf("blackbox_exporter %s: %v (install Debian's prometheus-blackbox-exporter, or --tools beianwatch)", *bbBin, err))
		}
	}
	var failures []string
	slowSites := 0
	// Without a browser, script-drawn footers stay inconclusive, and the
	// render scenario compares against that.
	_, haveBrowser := render.FindBrowser()
	for _, sc := range []string{bench.ScenarioBaseline, bench.ScenarioSlow, bench.ScenarioRender} {
		if !want(*scenarios, sc) {
			continue
		}
		opts := farm.Options{Sites: *sites, Seed: *seed}
		if sc == bench.ScenarioSlow {
			// Slow, not hanging: the target is about delay, and a hung body
			// costs the fetch timeout instead.
			opts.SlowShare, opts.SlowDelay = *slowShare, *slowDelay
		}
		if sc == bench.ScenarioRender {
			opts.ScriptShare = *scriptShare
		}
		f, err := farm.Generate(opts)
		if err != nil {
			return fail(err)
		}
		if sc == bench.ScenarioSlow {
			slowSites = f.Tally().Slow
			rep.Farm.SlowSites = slowSites
		}
		srv, err := farm.Start(f, farm.ServeConfig{})
		if err != nil {
			return fail(err)
		}
		scDir := filepath.Join(*dir, sc)
		apiToken := randomToken()
		files, err := srv.WriteFiles(scDir, farm.ConfigParams{Timeout: *timeout, Concurr: *conc, PerIP: *conc, LogLevel: "warn"}, apiToken)
		if err != nil {
			srv.Close()
			return fail(err)
		}
		fmt.Fprintf(stderr, "bench %s: farm of %d sites up (%d slow); files in %s\n", sc, *sites, f.Tally().Slow, scDir)

		if want(*tools, "beianwatch") {
			env := os.Environ()
			for k, v := range srv.Env(apiToken) {
				env = append(env, k+"="+v)
			}
			logf, _ := os.Create(filepath.Join(scDir, "beianwatch.log"))
			a := bench.Audit{Binary: *bin, Config: files.Config, Only: "footer,shell,dns", Concurrency: *conc,
				Report: filepath.Join(scDir, "audit.json"), Env: env, Sites: *sites, Scenario: sc, Log: logf,
				Expect: func(domain, check string) (string, []string, bool) {
					s := f.Lookup(domain)
					if s == nil {
						return "", nil, false
					}
					e := farm.Expect(s, check)
					if !haveBrowser {
						e = farm.ExpectStatic(s, check)
					}
					return string(e.Outcome), e.Codes, true
				}}
			rep.Commands = append(rep.Commands, a.Command())
			fmt.Fprintf(stderr, "bench %s: %s\n", sc, a.Command())
			before := srv.Counters()
			var sampler *browserSampler
			if sc == bench.ScenarioRender {
				sampler = startBrowserSampler(250 * time.Millisecond)
			}
			r, err := bench.RunAudit(ctx, a)
			countFarm(&r, before, srv.Counters())
			if sampler != nil {
				sampler.Stop()
				r.ScriptedSites = f.Tally().Scripted
				r.BrowserPeakPSSMB, r.BrowserPeakProcs = float64(sampler.peakPSS)/(1<<20), sampler.peakProc
				if n, still, cerr := renderedCounts(a.Report); cerr == nil {
					r.Rendered, r.StillNeedRenderer = n, still
					if r.WallSeconds > 0 {
						r.RendersPerSecond = float64(n) / r.WallSeconds
					}
				} else if err == nil {
					err = cerr
				}
			}
			if logf != nil {
				logf.Close()
			}
			if err != nil {
				failures = append(failures, fmt.Sprintf("beianwatch %s: %v (log: %s)", sc, err, filepath.Join(scDir, "beianwatch.log")))
			} else {
				rep.Results = append(rep.Results, r)
			}
		}
		// blackbox_exporter renders nothing: the render scenario is ours.
		if want(*tools, "blackbox") && ctx.Err() == nil && sc != bench.ScenarioRender {
			targets := make([]bench.Target, len(f.Sites))
			for i, s := range f.Sites {
				targets[i] = bench.Target{Domain: s.Domain, Addr: s.Addr()}
			}
			logf, _ := os.Create(filepath.Join(scDir, "blackbox.log"))
			b := bench.Blackbox{Binary: *bbBin, Dir: scDir, Targets: targets, HTTPPort: srv.HTTPPort, DNSServer: srv.DNSAddr,
				Concurrency: *conc, Timeout: *timeout, Scenario: sc, Log: logf}
			before := srv.Counters()
			r, command, err := bench.RunBlackbox(ctx, b)
			countFarm(&r, before, srv.Counters())
			if logf != nil {
				logf.Close()
			}
			rep.Commands = append(rep.Commands, command+"  # driven by beianwatch-farm bench, "+fmt.Sprint(*conc)+" at once")
			if err != nil {
				failures = append(failures, fmt.Sprintf("blackbox %s: %v", sc, err))
			} else {
				rep.Results = append(rep.Results, r)
			}
		}
		srv.Close()
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
	}
	rep.Summarize(slowSites, *slowDelay)
	if err := rep.WriteJSON(*outPath); err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout)
	rep.WriteTable(stdout)
	fmt.Fprintf(stdout, "\nresults: %s\n", *outPath)
	for _, f := range failures {
		fmt.Fprintf(stderr, "beianwatch-farm bench: %s\n", f)
	}
	if len(failures) > 0 {
		return 1
	}
	return 0
}

func countFarm(r *bench.Result, before, after farm.Counters) {
	r.FarmHTTPRequests = after.HTTPRequests - before.HTTPRequests
	r.FarmDNSQueries = after.DNSQueries - before.DNSQueries
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
