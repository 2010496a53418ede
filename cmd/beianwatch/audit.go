package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/alerts"
	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor"
	"github.com/beianwatch/beianwatch/monitor/audit"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// recordTimeout bounds one batch's transaction; it runs on a context
// that survives Ctrl-C, so what was checked is still recorded.
const recordTimeout = time.Minute

// auditFlags is audit's command line, checked.
type auditFlags struct {
	configPath, only, reportPath, format, lang string
	concurrency                                int
	concurrencySet                             bool // --concurrency given: it overrides checks.concurrency
	record, quiet                              bool
	every                                      time.Duration
	profileDir                                 string // developers: CPU, block and mutex profiles of the run
}

func cmdAudit(ctx context.Context, e *env, args []string) int {
	fl, status, done := parseAuditFlags(e, args)
	if done {
		return status
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
		return exitUsage
	}
	names, explicit, err := parseOnly(fl.only)
	if err != nil {
		return fail(err)
	}

	cfg, err := config.Load(fl.configPath)
	if err != nil {
		return fail(err)
	}
	if fl.lang == "" {
		fl.lang = cfg.Notices.Language
	}
	if fl.lang != "zh" && fl.lang != "en" {
		return fail(usagef("--lang must be zh or en, not %q", fl.lang))
	}
	if !fl.concurrencySet {
		fl.concurrency = cfg.Checks.Concurrency
	}
	inv, lint, err := inventory.Load(cfg.Inventory.Path)
	if err != nil {
		return fail(fmt.Errorf("loading the inventory: %w", err))
	}
	reportLint(e.stderr, lint)

	// An audit holds every site's results until the report is written.
	tuneGC(e.getenv, slog.New(slog.DiscardHandler))
	built, err := monitor.NewCheckers(cfg, monitor.CheckerOptions{Getenv: e.getenv})
	if err != nil {
		return fail(err)
	}
	defer built.Close()
	for _, w := range built.Warnings {
		fmt.Fprintf(e.stderr, "beianwatch audit: warning: %s\n", w)
	}
	var fixes audit.FixTexts
	if fl.format == "html" {
		r, err := alerts.NewRenderer(alerts.RendererOptions{OverrideDir: cfg.Notices.TemplatesDir, Language: fl.lang, TimeZone: cfg.Notices.Timezone})
		if err != nil {
			return fail(fmt.Errorf("loading notice templates for the fix texts: %w", err))
		}
		fixes = r
	}
	// Open the output before the long part: a typo in --report should
	// not cost an hour of checking.
	out, err := openReport(fl.reportPath, e.stdout)
	if err != nil {
		return fail(err)
	}
	defer out.abort()

	var rec *recorder
	if fl.record {
		logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		r, err := monitor.OpenRecorder(ctx, cfg, logger, nil)
		if err != nil {
			return fail(err)
		}
		defer r.Close()
		rec = startRecorder(ctx, r, cfg.Checks.BatchSize)
	}

	// Exemptions in force are marked in the report (the findings are
	// reported all the same).
	exempt, err := monitor.ActiveExemptions(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now())
	if err != nil {
		return fail(err)
	}

	rep, err := runAudit(ctx, e, fl, cfg, inv, built, names, explicit, rec, exempt)
	if err != nil {
		return fail(err)
	}
	defer rep.Close()

	status = rep.ExitStatus()
	if rec != nil {
		if err := rec.finish(); err != nil {
			fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
			status = exitUsage
		} else {
			fmt.Fprintf(e.stderr, "recorded %d results of %d sites: %d transitions, %d notices for the daemon to deliver\n",
				rec.results, rec.sites, rec.transitions, rec.notices)
		}
	}

	werr := writeAuditReport(out, rep, fl, cfg, fixes)
	if werr == nil {
		werr = out.commit()
	}
	if werr != nil {
		fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", werr)
		return exitUsage
	}
	writeAuditSummary(e.stderr, rep, fl.reportPath)
	return status
}

// parseAuditFlags reads audit's command line. done is set when the
// command stops here, with its exit status: --help, or a usage error
// already reported.
func parseAuditFlags(e *env, args []string) (fl auditFlags, status int, done bool) {
	fs := pflag.NewFlagSet("audit", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.StringVar(&fl.configPath, "config", "", "settings and inventory (required)")
	fs.StringVar(&fl.only, "only", "", "checks to run: footer,shell,dns,contact (default: those that apply to each site)")
	fs.IntVar(&fl.concurrency, "concurrency", 0, "sites checked at once (default checks.concurrency); the per-address limit checks.per_ip_concurrency still holds")
	fs.StringVar(&fl.reportPath, "report", "", "write the report to this file (default: standard output)")
	fs.StringVar(&fl.format, "format", "", "report format: json, csv or html (default: from the --report extension, else json)")
	fs.StringVar(&fl.lang, "lang", "", "language of the HTML report: zh or en (default notices.language)")
	fs.BoolVar(&fl.record, "record", false, "record the results in the daemon's store as ordinary check runs (safe while the daemon runs)")
	fs.BoolVar(&fl.quiet, "quiet", false, "no progress bar: a plain progress line now and then on standard error")
	fs.DurationVar(&fl.every, "progress-every", 5*time.Second, "interval of the plain progress line")
	fs.StringVar(&fl.profileDir, "profile-dir", "", "write CPU, block and mutex profiles of the run into this directory (for developers)")
	_ = fs.MarkHidden("profile-dir")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: beianwatch audit --config FILE [flags]")
		fmt.Fprintln(e.stderr, "Checks every site of the inventory once, now, and writes a report.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return fl, exitOK, true
		}
		fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
		return fl, exitUsage, true
	}
	fail := func(err error) (auditFlags, int, bool) {
		fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
		return fl, exitUsage, true
	}
	fl.concurrencySet = fs.Changed("concurrency")
	switch {
	case fs.NArg() != 0:
		return fail(usagef("unexpected arguments %q (the sites come from the inventory)", fs.Args()))
	case fl.configPath == "":
		return fail(usagef("--config is required: the inventory and settings come from it"))
	case fl.concurrencySet && fl.concurrency < 1:
		return fail(usagef("--concurrency must be at least 1, got %d", fl.concurrency))
	case fl.every <= 0:
		return fail(usagef("--progress-every must be positive"))
	}
	if fl.format == "" {
		fl.format = "json"
		if ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(fl.reportPath)), "."); slices.Contains(audit.Formats(), ext) {
			fl.format = ext
		} else if ext == "htm" {
			fl.format = "html"
		}
	}
	if !slices.Contains(audit.Formats(), fl.format) {
		return fail(usagef("--format must be json, csv or html, not %q", fl.format))
	}
	return fl, 0, false
}

// runAudit checks every site of the inventory once, feeding the report
// builder (whose results wait on disk next to the report), the progress
// display and the recorder when there is one, and returns the finished
// report: partial when the run was interrupted. exempt are the exemptions
// in force, by domain, whose codes the report marks.
func runAudit(ctx context.Context, e *env, fl auditFlags, cfg *config.Config, inv *inventory.Inventory, built *monitor.Checkers,
	names []string, explicit bool, rec *recorder, exempt map[string][]store.Exemption) (*audit.Report, error) {
	sites := make([]*checks.Site, len(inv.Sites))
	for i, s := range inv.Sites {
		site := s.Site
		sites[i] = &site
	}

	start := time.Now()
	spoolDir := ""
	if fl.reportPath != "" && fl.reportPath != "-" {
		spoolDir = filepath.Dir(fl.reportPath)
	}
	builder, err := audit.NewBuilder(start, len(sites), names, spoolDir)
	if err != nil {
		return nil, err
	}
	defer builder.Abort() // a no-op once Finish has handed the spool over
	if fl.profileDir != "" {
		p, err := startProfiles(fl.profileDir)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err := p.stop(); err != nil {
				fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
			}
		}()
	}
	prog := newProgress(e, len(sites), start, fl.quiet, fl.every)
	runner := monitor.NewRunner(built.ByName, monitor.RunnerOptions{Concurrency: fl.concurrency, KeepNotApplicable: explicit,
		PerHost: cfg.Checks.PerIPConcurrency})
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	_, runErr := runner.Run(runCtx, sites, names, func(o monitor.SiteOutcome) {
		keepScreenshots(e.stderr, fl.reportPath, o.Site.Domain, o.Results)
		sr := audit.SiteReport{Domain: o.Site.Domain, Status: o.Site.Status, Entity: o.Site.Entity, Results: o.Results}
		for _, r := range o.Results {
			sr.Exempt = append(sr.Exempt, monitor.ExemptCodes(r, exempt[o.Site.Domain], start)...)
		}
		if o.Site.ICP != nil {
			sr.ICP = o.Site.ICP.String()
		}
		if o.Site.PSB != nil {
			sr.PSB = o.Site.PSB.String()
		}
		if err := builder.Add(sr); err != nil {
			// A full disk: checking on would produce results nobody sees.
			stopRun(err)
			return
		}
		prog.site(sr.Verdict())
		if rec != nil {
			rec.add(o)
		}
	})
	if cause := context.Cause(runCtx); cause != nil && !errors.Is(cause, context.Canceled) && ctx.Err() == nil {
		runErr = cause
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, context.DeadlineExceeded) {
		prog.stop(true)
		return nil, runErr
	}
	partial := runErr != nil || builder.Len() < len(sites)
	prog.stop(partial)
	return builder.Finish(time.Now(), partial)
}

// writeAuditReport writes the report in the chosen format.
func writeAuditReport(out io.Writer, rep *audit.Report, fl auditFlags, cfg *config.Config, fixes audit.FixTexts) error {
	switch fl.format {
	case "json":
		return audit.WriteJSON(out, rep)
	case "csv":
		return audit.WriteCSV(out, rep)
	case "html":
		return audit.WriteHTML(out, rep, audit.HTMLOptions{Lang: fl.lang, Fixes: fixes, Provider: cfg.Provider.Name, Location: cfg.Notices.Location})
	}
	return fmt.Errorf("unknown report format %q", fl.format)
}

// reportLint says which inventory records were skipped; the audit goes on
// with the good ones, as the daemon does.
func reportLint(w io.Writer, lint []inventory.LintError) {
	if len(lint) == 0 {
		return
	}
	fmt.Fprintf(w, "inventory: %d record(s) skipped:\n", len(lint))
	for i, l := range lint {
		if i == 5 {
			fmt.Fprintf(w, "  ... and %d more (beianwatch validate lists them all)\n", len(lint)-5)
			break
		}
		fmt.Fprintf(w, "  %v\n", l)
	}
}

func writeAuditSummary(w io.Writer, rep *audit.Report, path string) {
	s := rep.Summary
	state := "complete"
	if s.Partial {
		state = "PARTIAL (interrupted)"
	}
	fmt.Fprintf(w, "audit %s: %d of %d sites in %s: %d fail, %d inconclusive, %d pass",
		state, s.SitesChecked, s.SitesTotal, (time.Duration(s.DurationMS) * time.Millisecond).Round(time.Millisecond),
		s.Sites[checks.Fail], s.Sites[checks.Inconclusive], s.Sites[checks.Pass])
	if path != "" {
		fmt.Fprintf(w, "; report: %s", path)
	}
	fmt.Fprintln(w)
}

// reportOutput writes to a temporary file renamed into place at the end,
// so an interrupted or failed write never leaves half a report under the
// requested name; or to standard output when no file was named.
type reportOutput struct {
	io.Writer
	tmp  *os.File
	path string
}

func openReport(path string, stdout io.Writer) (*reportOutput, error) {
	if path == "" || path == "-" {
		return &reportOutput{Writer: stdout}, nil
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, usagef("--report: directory %s does not exist", dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	return &reportOutput{Writer: tmp, tmp: tmp, path: path}, nil
}

func (o *reportOutput) commit() error {
	if o.tmp == nil {
		return nil
	}
	tmp := o.tmp
	o.tmp = nil
	if err := tmp.Chmod(0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the report: %w", err)
	}
	if err := os.Rename(tmp.Name(), o.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// abort removes the temporary file unless commit ran.
func (o *reportOutput) abort() {
	if o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
		o.tmp = nil
	}
}

// progress shows how far the audit is: a live bar on a terminal, else a
// plain line every so often. It writes to standard error only, so that
// standard output (the report) stays clean.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	bar   *progressbar.ProgressBar

	done, pass, fail, inconclusive atomic.Int64

	quit chan struct{}
	wg   sync.WaitGroup
}

func newProgress(e *env, total int, start time.Time, quiet bool, every time.Duration) *progress {
	p := &progress{w: e.stderr, total: total, start: start, quit: make(chan struct{})}
	if !quiet && e.isTerminal && isTerminal(e.stderr) {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription(p.counts()),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("sites"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }),
		)
		return p
	}
	p.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintln(p.w, p.line())
			case <-p.quit:
				return
			}
		}
	})
	return p
}

func (p *progress) site(v checks.Outcome) {
	p.done.Add(1)
	switch v {
	case checks.Pass:
		p.pass.Add(1)
	case checks.Fail:
		p.fail.Add(1)
	case checks.Inconclusive:
		p.inconclusive.Add(1)
	}
	if p.bar != nil {
		p.bar.Describe(p.counts())
		_ = p.bar.Add(1)
	}
}

func (p *progress) counts() string {
	return fmt.Sprintf("fail %d · inconclusive %d · pass %d", p.fail.Load(), p.inconclusive.Load(), p.pass.Load())
}

func (p *progress) line() string {
	done := p.done.Load()
	elapsed := time.Since(p.start)
	rate := float64(done) / max(elapsed.Seconds(), 1e-3)
	eta := "?"
	if rate > 0 && done > 0 {
		eta = (time.Duration(float64(int64(p.total)-done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(done) / float64(p.total)
	}
	return fmt.Sprintf("audit: %d/%d sites (%.0f%%), %.1f sites/s, ETA %s; %s",
		done, p.total, pct, rate, eta, p.counts())
}

func (p *progress) stop(partial bool) {
	close(p.quit)
	p.wg.Wait()
	if p.bar != nil {
		if partial {
			_ = p.bar.Exit()
			fmt.Fprintln(p.w)
		} else {
			_ = p.bar.Finish()
		}
		return
	}
	fmt.Fprintln(p.w, p.line())
}

// recorder writes results to the store in batches from its own goroutine,
// so a daemon holding the write lock slows recording, not checking.
type recorder struct {
	r     *monitor.ResultRecorder
	ctx   context.Context
	batch int
	buf   []store.SiteResult
	nbuf  int
	in    chan []store.SiteResult
	done  chan struct{}
	err   error

	sites, results, transitions, notices int
}

func startRecorder(ctx context.Context, r *monitor.ResultRecorder, batch int) *recorder {
	rec := &recorder{r: r, ctx: context.WithoutCancel(ctx), batch: max(batch, 1),
		in: make(chan []store.SiteResult, 4), done: make(chan struct{})}
	go func() {
		defer close(rec.done)
		for b := range rec.in {
			if rec.err != nil {
				continue // keep draining so checking never blocks
			}
			ctx, cancel := context.WithTimeout(rec.ctx, recordTimeout)
			got, err := r.Record(ctx, b)
			cancel()
			if err != nil {
				rec.err = err
				continue
			}
			rec.results += len(b)
			rec.transitions += len(got.Transitions)
			rec.notices += len(got.QueuedIDs())
		}
	}()
	return rec
}

// add queues a site's results; called from the runner's callback only.
func (rec *recorder) add(o monitor.SiteOutcome) {
	for _, r := range o.Results {
		rec.buf = append(rec.buf, store.SiteResult{Domain: o.Site.Domain, Result: r, At: o.Finished})
	}
	rec.sites++
	rec.nbuf++
	if rec.nbuf >= rec.batch {
		rec.in <- rec.buf
		rec.buf, rec.nbuf = nil, 0
	}
}

// finish records what is left and waits.
func (rec *recorder) finish() error {
	if len(rec.buf) > 0 {
		rec.in <- rec.buf
		rec.buf = nil
	}
	close(rec.in)
	<-rec.done
	if rec.err != nil {
		return fmt.Errorf("recording results in the store (%d of them recorded before the error): %w", rec.results, rec.err)
	}
	return nil
}

// keepScreenshots writes the footer screenshots of failing rendered runs
// next to the report (REPORT-screenshots/DOMAIN-CHECK.png) and names the
// file in the result's details, which the HTML report links. A report on
// standard output has nowhere to put them.
func keepScreenshots(stderr io.Writer, reportPath, domain string, results []checks.Result) {
	for i := range results {
		r := &results[i]
		if len(r.Screenshot) == 0 {
			continue
		}
		if r.Details == nil {
			r.Details = map[string]string{}
		}
		if reportPath == "" || reportPath == "-" {
			r.Details[audit.DetailScreenshot+"_note"] = "screenshot not kept: the report goes to standard output"
			continue
		}
		dirName := strings.TrimSuffix(filepath.Base(reportPath), filepath.Ext(reportPath)) + "-screenshots"
		dir := filepath.Join(filepath.Dir(reportPath), dirName)
		name := domain + "-" + r.Check + ".png"
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), r.Screenshot, 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "beianwatch audit: warning: keeping the screenshot of %s: %v\n", domain, err)
			continue
		}
		r.Details[audit.DetailScreenshot] = dirName + "/" + name
	}
}
