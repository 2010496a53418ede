package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/dossier"
)

// cmdDossier is `beianwatch dossier`: a site's record (整改记录) as one
// printable HTML or PDF document.
func cmdDossier(ctx context.Context, e *env, args []string) int {
	fs := pflag.NewFlagSet("dossier", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configPath := fs.String("config", "", "configuration file (required): its store holds the record, its inventory the filing")
	site := fs.String("site", "", "the site (required)")
	fromS := fs.String("from", "", "start of the period: a date (2026-01-01, Asia/Shanghai) or RFC 3339; default: the beginning")
	toS := fs.String("to", "", "end of the period, inclusive for a date; default: now")
	out := fs.String("out", "", "output file, FILE.html or FILE.pdf (PDF needs Chromium) (required)")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `usage: beianwatch dossier --config FILE --site DOMAIN [--from DATE] [--to DATE] --out FILE.html|FILE.pdf

Writes the site's record for the period: the filing, each violation with its
evidence as first seen, each notice as sent with its delivery attempts
(time, channel, HTTP status, notice id, signature), reminders, escalation,
resolution or exemption, times in Asia/Shanghai, and a footer line with the
SHA-256 of the document's data.

exit status: 0 written, 2 usage, configuration, store or browser error

flags:
`)
		fs.PrintDefaults()
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "beianwatch dossier: "+format+"\n", a...)
		return exitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return fail("%v", err)
	}
	ext := strings.ToLower(filepath.Ext(*out))
	switch {
	case fs.NArg() > 0:
		return fail("unexpected arguments %q", fs.Args())
	case *configPath == "":
		return fail("--config FILE is required")
	case *site == "":
		return fail("--site DOMAIN is required")
	case *out == "":
		return fail("--out FILE.html or FILE.pdf is required")
	case ext != ".html" && ext != ".htm" && ext != ".pdf":
		return fail("--out %s: the format follows the extension, want .html or .pdf", *out)
	}
	domain, err := checks.NormalizeDomain(*site)
	if err != nil {
		return fail("--site: %v", err)
	}
	var from, to time.Time
	if *fromS != "" {
		if from, err = parseDay(*fromS, false); err != nil {
			return fail("--from: %v", err)
		}
	}
	if *toS != "" {
		if to, err = parseDay(*toS, true); err != nil {
			return fail("--to: %v", err)
		}
	}
	if !to.IsZero() && !from.Before(to) {
		return fail("--from must be before --to")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fail("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	data, err := monitor.BuildDossier(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), domain, from, to)
	if err != nil {
		return fail("%v", err)
	}
	html, err := dossier.HTML(data, time.Now())
	if err != nil {
		return fail("%v", err)
	}
	body := html
	if ext == ".pdf" {
		if body, err = dossier.PDF(ctx, dossier.Browser(e.getenv), html); err != nil {
			return fail("%v", err)
		}
	}
	if err := os.WriteFile(*out, body, 0o640); err != nil {
		return fail("write %s: %v", *out, err)
	}
	hash, _ := dossier.Hash(data)
	fmt.Fprintf(e.stdout, "wrote %s: %d violations, %d notices, %d exemptions; SHA-256 of the data %s\n",
		*out, len(data.Violations), len(data.Notices), len(data.Exemptions), hash)
	return exitOK
}

// parseDay reads RFC 3339 or a date in Asia/Shanghai; an end date means
// the end of that day.
func parseDay(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseInLocation("2006-01-02", s, dossier.Shanghai)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date like 2026-01-31 or an RFC 3339 time", s)
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
