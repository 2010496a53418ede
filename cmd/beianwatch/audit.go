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
	"github.com/beianwatch/beianwatch/monitor/inventory"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// recordTimeout bounds one batch's transaction; it runs on a context
// that survives Ctrl-C, so what was checked is still recorded.
const recordTimeout = time.Minute

func cmdAudit(ctx context.Context, e *env, args []string) int {
	fs := pflag.NewFlagSet("audit", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var (
		configPath  = fs.String("config", "", "settings and inventory (default: $BEIANWATCH_CONFIG, else /etc/beianwatch/beianwatch.yaml)")
		only        = fs.String("only", "", "checks to run: footer,shell,dns,contact (default: those that apply to each site)")
		concurrency = fs.Int("concurrency", 0, "sites checked at once (default checks.concurrency); the per-address limit checks.per_ip_concurrency still holds")
		reportPath  = fs.String("report", "", "write the report to this file (default: standard output)")
		format      = fs.String("format", "", "report format: json, csv or html (default: from the --report extension, else json)")
		lang        = fs.String("lang", "", "language of the HTML report: zh or en (default notices.language)")
		record      = fs.Bool("record", false, "record the results in the daemon's store as ordinary check runs (safe while the daemon runs)")
		quiet       = fs.Bool("quiet", false, "no progress bar: a plain progress line now and then on standard error")
		every       = fs.Duration("progress-every", 5*time.Second, "interval of the plain progress line")
		profileDir  = fs.String("profile-dir", "", "write CPU, block and mutex profiles of the run into this directory (for developers)")
	)
	_ = fs.MarkHidden("profile-dir")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: beianwatch audit [--config FILE] [flags]")
		fmt.Fprintln(e.stderr, "Checks every site of the inventory once, now, and writes a report.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
		return exitUsage
	}
	switch {
	case fs.NArg() != 0:
		return fail(usagef("unexpected arguments %q (the sites come from the inventory)", fs.Args()))
	case fs.Changed("concurrency") && *concurrency < 1:
		return fail(usagef("--concurrency must be at least 1, got %d", *concurrency))
	case *every <= 0:
		return fail(usagef("--progress-every must be positive"))
	}
	if *format == "" {
		*format = "json"
		if ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(*reportPath)), "."); slices.Contains(audit.Formats(), ext) {
			*format = ext
		} else if ext == "htm" {
			*format = "html"
		}
	}
	if !slices.Contains(audit.Formats(), *format) {
		return fail(usagef("--format must be json, csv or html, not %q", *format))
	}
	names, explicit, err := parseOnly(*only)
	if err != nil {
		return fail(err)
	}

	src, err := findConfig(e, *configPath)
	if err != nil {
		return fail(err)
	}
	cfg, err := loadFound(src)
	if err != nil {
		return fail(err)
	}
	if cfg.Inventory.Path == "" {
		return fail(usagef("no inventory to audit: pass --config FILE (or set $BEIANWATCH_CONFIG) naming one with inventory.path"))
	}
	if *lang == "" {
		*lang = cfg.Notices.Language
	}
	if *lang != "zh" && *lang != "en" {
		return fail(usagef("--lang must be zh or en, not %q", *lang))
	}
	if !fs.Changed("concurrency") {
		*concurrency = cfg.Checks.Concurrency
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
	if *format == "html" || *format == "csv" {
		r, err := alerts.NewRenderer(alerts.RendererOptions{OverrideDir: cfg.Notices.TemplatesDir, Language: *lang, TimeZone: cfg.Notices.Timezone})
		if err != nil {
			return fail(fmt.Errorf("loading notice templates for the fix texts: %w", err))
		}
		fixes = r
	}
	// Open the output before the long part: a typo in --report should
	// not cost an hour of checking.
	out, err := openReport(*reportPath, e.stdout)
	if err != nil {
		return fail(err)
	}
	defer out.abort()

	var rec *recorder
	if *record {
		logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		r, err := monitor.OpenRecorder(ctx, cfg, logger, nil)
		if err != nil {
			return fail(err)
		}
		defer r.Close()
		r.SetInventory(inv)
		rec = startRecorder(ctx, r, cfg.Checks.BatchSize)
	}

	// Exemptions in force are marked in the report (the findings are
	// reported all the same).
	exempt, err := monitor.ActiveExemptions(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now())
	if err != nil {
		return fail(err)
	}

	sites := make([]*checks.Site, len(inv.Sites))
	entities := make(map[string]string, len(inv.Sites))
	for i, s := range inv.Sites {
		site := s.Site
		sites[i] = &site
		entities[site.Domain] = site.Entity
	}

	start := time.Now()
	// Results wait on disk, next to the report, until it is written.
	spoolDir := ""
	if *reportPath != "" && *reportPath != "-" {
		spoolDir = filepath.Dir(*reportPath)
	}
	builder, err := audit.NewBuilder(start, len(sites), names, spoolDir)
	if err != nil {
		return fail(err)
	}
	defer builder.Abort()
	if *profileDir != "" {
		p, err := startProfiles(*profileDir)
		if err != nil {
			return fail(err)
		}
		defer func() {
			if err := p.stop(); err != nil {
				fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
			}
		}()
	}
	prog := newProgress(e, len(sites), start, *quiet, *every)
	runner := monitor.NewRunner(built.ByName, monitor.RunnerOptions{Concurrency: *concurrency, KeepNotApplicable: explicit,
		PerHost: cfg.Checks.PerIPConcurrency})
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	_, runErr := runner.Run(runCtx, sites, names, func(o monitor.SiteOutcome) {
		keepScreenshots(e.stderr, *reportPath, o.Site.Domain, o.Results)
		sr := audit.SiteReport{Domain: o.Site.Domain, Status: o.Site.Status, Entity: o.Site.Entity, Results: o.Results}
		for _, r := range o.Results {
			sr.Exempt = append(sr.Exempt, monitor.ExemptCodes(r, exempt[o.Site.Domain], start)...)
		}
		if is := inv.Lookup(o.Site.Domain); is != nil {
			sr.OwnerChannel = is.Owner.Kind
			if len(is.Tags) > 0 {
				sr.Tags = make(map[string]string, len(is.Tags))
				for _, tag := range is.Tags {
					sr.Tags[tag.Key] = tag.Value
				}
			}
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
		return fail(runErr)
	}
	partial := runErr != nil || builder.Len() < len(sites)
	prog.stop(partial)
	rep, err := builder.Finish(time.Now(), partial)
	if err != nil {
		return fail(err)
	}
	defer rep.Close()

	status := rep.ExitStatus()
	if rec != nil {
		if err := rec.finish(); err != nil {
			fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", err)
			status = exitUsage
		} else {
			fmt.Fprintf(e.stderr, "recorded %d results of %d sites: %d transitions, %d notices for the daemon to deliver\n",
				rec.results, rec.sites, rec.transitions, rec.notices)
		}
	}

	var werr error
	switch *format {
	case "json":
		werr = audit.WriteJSON(out, rep)
	case "csv":
		werr = audit.WriteCSV(out, rep, audit.CSVOptions{Fixes: fixes, Lang: *lang})
	case "html":
		werr = audit.WriteHTML(out, rep, audit.HTMLOptions{Lang: *lang, Fixes: fixes, Provider: cfg.Provider.Name, Location: cfg.Notices.Location})
	}
	if werr == nil {
		werr = out.commit()
	}
	if werr != nil {
		fmt.Fprintf(e.stderr, "beianwatch audit: %v\n", werr)
		return exitUsage
	}
	writeAuditSummary(e.stderr, rep, *reportPath)
	return status
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
