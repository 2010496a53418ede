package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/bench"
	"github.com/beianwatch/beianwatch/checks/render"
	"github.com/beianwatch/beianwatch/farm"
)

// cmdBench times `beianwatch audit` and blackbox_exporter on the same farm,
// scenario by scenario, each side by side in one run:
//
//	baseline  every site prompt, the farm's own DNS, per-IP limit lifted
//	slow      a share of slow sites
//	shared    every site on one shared host, the daemon's default per-IP limit
//	nsd       the shared host with its zone served by Debian's NSD (as
//	          providers run NSD, Knot or BIND in front of their sites), at
//	          two concurrencies so that throughput can be compared
//	mix       a provider's mix: many hosts, one of them carrying a large
//	          share of the sites first in the inventory
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
	scenarios := fs.String("scenarios", "baseline,slow,shared,nsd,mix,render", "scenarios to run: baseline, slow, shared, nsd, mix, render")
	scriptShare := fs.Float64("script-share", 0.1, "share of sites with a footer drawn by script in the render scenario")
	tools := fs.String("tools", "beianwatch,blackbox", "tools to measure: beianwatch, blackbox")
	scaling := fs.IntSlice("scaling", []int{8, 64}, "the nsd scenario also runs footer,shell at these two concurrencies and reports the throughput ratio")
	minScaling := fs.Float64("min-scaling", 0, "fail when the nsd scenario's throughput at the higher --scaling concurrency is below this share of the lower one's (0: report only)")
	minRatio := fs.Float64("min-ratio", 0, "fail when beianwatch's footer,shell sites/s in the nsd scenario is below this multiple of blackbox's targets/s (0: report only)")
	hosts := fs.Int("mix-hosts", 0, "hosts of the mix scenario (default: one per 50 sites, at least 2)")
	bigShare := fs.Float64("mix-big-share", 0.05, "share of the mix scenario's sites on its one big host")
	dnsServer := fs.String("dns", "farm", "who serves the zone in baseline, slow, shared and mix: farm (its own server) or nsd")
	profileDir := fs.String("profile-dir", "", "have each audit write CPU, block and mutex profiles under this directory")
	_ = fs.MarkHidden("profile-dir")
	if ok, code := parse(fs, args, stderr); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "beianwatch-farm bench: %v\n", err)
		return 1
	}
	switch {
	case len(*scaling) != 2 || (*scaling)[0] < 1 || (*scaling)[1] <= (*scaling)[0]:
		return fail(fmt.Errorf("--scaling wants two concurrencies, low then high, got %v", *scaling))
	case *dnsServer != "farm" && *dnsServer != "nsd":
		return fail(fmt.Errorf("--dns must be farm or nsd, not %q", *dnsServer))
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
	for _, sc := range strings.Split(*scenarios, ",") {
		if !slices.Contains(bench.Scenarios, strings.TrimSpace(sc)) {
			return fail(fmt.Errorf("unknown scenario %q (want %s)", sc, strings.Join(bench.Scenarios, ", ")))
		}
	}
	if *hosts == 0 {
		*hosts = max(2, *sites/50)
	}

	rep := &bench.Report{
		Date:    time.Now().UTC().Format(time.RFC3339),
		Machine: bench.Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Kernel: kernel()},
		Farm:    bench.FarmInfo{Seed: *seed, Sites: *sites, SlowShare: *slowShare, SlowDelay: slowDelay.String()},
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.Machine.LoadAverage = strings.Join(strings.Fields(string(load))[:3], " ")
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
	for _, sc := range bench.Scenarios {
		if !want(*scenarios, sc) {
			continue
		}
		plan := planScenario(sc, *conc, *scaling, *dnsServer)
		opts := farm.Options{Sites: *sites, Seed: *seed}
		switch sc {
		case bench.ScenarioSlow:
			// Slow, not hanging: the target is about delay, and a hung
			// body costs the fetch timeout instead.
			opts.SlowShare, opts.SlowDelay = *slowShare, *slowDelay
		case bench.ScenarioMix:
			opts.Hosts, opts.BigHostShare = *hosts, *bigShare
			rep.Farm.MixHosts, rep.Farm.MixBigShare = *hosts, *bigShare
		case bench.ScenarioRender:
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
		var nsd *farm.NSD
		if plan.nsd {
			if nsd, err = farm.StartNSD(farm.FindNSD(), f, filepath.Join(scDir, "nsd")); err != nil {
				srv.Close()
				return fail(fmt.Errorf("scenario %s: %w", sc, err))
			}
			srv.DNSAddr = nsd.Addr
		}
		stop := func() {
			nsd.Close()
			srv.Close()
		}
		apiToken := randomToken()
		files, err := srv.WriteFiles(scDir, farm.ConfigParams{Timeout: *timeout, Concurr: *conc, PerIP: plan.perIP, LogLevel: "warn"}, apiToken)
		if err != nil {
			stop()
			return fail(err)
		}
		fmt.Fprintf(stderr, "bench %s: farm of %d sites on %d host(s) up (%d slow), DNS %s; files in %s\n",
			sc, *sites, max(opts.Hosts, 1), f.Tally().Slow, plan.dnsName(), scDir)

		if want(*tools, "beianwatch") {
			env := os.Environ()
			for k, v := range srv.Env(apiToken) {
				env = append(env, k+"="+v)
			}
			for i, run := range plan.runs {
				logf, _ := os.Create(filepath.Join(scDir, fmt.Sprintf("beianwatch-%d.log", i)))
				a := bench.Audit{Binary: *bin, Config: files.Config, Only: run.only, Concurrency: run.conc,
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
				if *profileDir != "" {
					a.Extra = []string{"--profile-dir", filepath.Join(*profileDir, sc, fmt.Sprintf("%s-%d", strings.ReplaceAll(run.only, ",", "+"), run.conc))}
				}
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
					failures = append(failures, fmt.Sprintf("beianwatch %s: %v (log: %s)", sc, err, logf.Name()))
				} else {
					rep.Results = append(rep.Results, r)
				}
				if ctx.Err() != nil {
					break
				}
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
		stop()
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
	}
	rep.Summarize(slowSites, *slowDelay)
	rep.SummarizeScaling((*scaling)[0], (*scaling)[1])
	failures = append(failures, rep.Check(*minRatio, *minScaling)...)
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

// scenarioPlan is what one scenario runs.
type scenarioPlan struct {
	nsd   bool
	perIP int // checks.per_ip_concurrency; 0 keeps the daemon's default
	runs  []auditRun
}

type auditRun struct {
	only string
	conc int
}

func (p scenarioPlan) dnsName() string {
	if p.nsd {
		return "NSD"
	}
	return "the farm's own server"
}

// planScenario says which audits a scenario runs and how its farm is
// served.
func planScenario(sc string, conc int, scaling []int, dnsServer string) scenarioPlan {
	switch sc {
	case bench.ScenarioBaseline, bench.ScenarioSlow, bench.ScenarioRender:
		// The developer farm as it always was: the per-IP limit raised to
		// the concurrency, so that concurrency means what it says.
		return scenarioPlan{nsd: dnsServer == "nsd", perIP: conc, runs: []auditRun{{"footer,shell,dns", conc}}}
	case bench.ScenarioShared, bench.ScenarioMix:
		// What a new user gets: the daemon's default per-IP limit.
		return scenarioPlan{nsd: dnsServer == "nsd", runs: []auditRun{{"footer,shell", conc}, {"footer", conc}}}
	}
	// The scaling pair runs twice, low and high in turn, and the better
	// of each counts: one busy moment of a shared machine should not
	// decide the ratio.
	runs := []auditRun{{"footer,shell", conc}, {"footer", conc}}
	for range 2 {
		for _, c := range scaling {
			runs = append(runs, auditRun{"footer,shell", c})
		}
	}
	return scenarioPlan{nsd: true, runs: runs}
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
