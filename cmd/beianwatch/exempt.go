package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/monitor"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/store"
)

// cmdExempt is `beianwatch exempt add|list|remove`: exemptions (豁免) in
// the daemon's store, each change in the audit trail with who and why.
func cmdExempt(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		exemptUsage(e.stderr)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	fs := pflag.NewFlagSet("exempt "+sub, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configPath := fs.String("config", "", "configuration file (required): its store holds the exemptions")
	var req monitor.ExemptionRequest
	var id, output string
	var all bool
	switch sub {
	case "add":
		fs.StringVar(&req.Site, "site", "", "the inventory site to exempt (required)")
		fs.StringVar(&req.Code, "code", "", "the finding code to exempt (e.g. footer_link_missing)")
		fs.StringVar(&req.Check, "check", "", "exempt every code of this check instead (footer, shell, dns, contact)")
		fs.StringVar(&req.Until, "until", "", "end: a date (2027-01-31: through that day, notices.timezone) or an RFC 3339 time (required)")
		fs.StringVar(&req.Reason, "reason", "", "why (required; in the audit trail)")
		fs.StringVar(&req.By, "by", "", "who grants it (required; in the audit trail)")
	case "remove":
		fs.StringVar(&id, "id", "", "the exemption's id, as exempt list shows it (required)")
		fs.StringVar(&req.Reason, "reason", "", "why it ends early (required; in the audit trail)")
		fs.StringVar(&req.By, "by", "", "who removes it (required; in the audit trail)")
	case "list":
		fs.StringVar(&req.Site, "site", "", "only this site's exemptions")
		fs.BoolVar(&all, "all", false, "also list removed and expired exemptions")
		fs.StringVarP(&output, "output", "o", "text", "text or json")
	case "help", "--help", "-h":
		exemptUsage(e.stdout)
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "beianwatch exempt: unknown subcommand %q\n", sub)
		exemptUsage(e.stderr)
		return exitUsage
	}
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: beianwatch exempt %s --config FILE [flags]\n\n", sub)
		fs.PrintDefaults()
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(e.stderr, "beianwatch exempt %s: "+format+"\n", append([]any{sub}, a...)...)
		return code
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return fail(exitUsage, "%v", err)
	}
	if fs.NArg() > 0 {
		return fail(exitUsage, "unexpected arguments %q", fs.Args())
	}
	if *configPath == "" {
		return fail(exitUsage, "--config FILE is required")
	}
	if output != "" && output != "text" && output != "json" {
		return fail(exitUsage, "--output must be text or json")
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	x, closeStore, err := monitor.OpenExemptions(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	defer closeStore()
	loc := cfg.Notices.Location
	switch sub {
	case "add":
		ex, trs, err := x.Add(ctx, req)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		fmt.Fprintf(e.stdout, "exemption #%d: %s on %s until %s, by %s\n", ex.ID, ex.Scope(), ex.Domain, ex.Until.In(loc).Format(time.RFC3339), ex.CreatedBy)
		for _, t := range trs {
			fmt.Fprintf(e.stdout, "closed %s %s as exempted (was %s; the owner is not told)\n", t.Domain, t.Code, t.From)
		}
	case "remove":
		n, err := store.ParseExemptionID(id)
		if id == "" {
			err = errors.New("--id is required")
		}
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		ex, err := x.Remove(ctx, n, req.By, req.Reason)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		fmt.Fprintf(e.stdout, "exemption #%d (%s on %s) removed by %s; its codes are judged again from the next run\n", ex.ID, ex.Scope(), ex.Domain, ex.RemovedBy)
	case "list":
		site := req.Site
		list, err := x.List(ctx, site, !all)
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		if output == "json" {
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			if list == nil {
				list = []store.Exemption{}
			}
			enc.Encode(list)
			return exitOK
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSITE\tSCOPE\tUNTIL\tSTATE\tBY\tREASON")
		now := x.Now()
		for _, ex := range list {
			state := "active"
			switch {
			case !ex.RemovedAt.IsZero():
				state = "removed by " + ex.RemovedBy
			case !ex.Active(now):
				state = "expired"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ex.ID, ex.Domain, ex.Scope(), ex.Until.In(loc).Format(time.RFC3339), state, ex.CreatedBy, ex.Reason)
		}
		tw.Flush()
	}
	return exitOK
}

func exemptUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  beianwatch exempt add    --config FILE --site DOMAIN [--code CODE|--check CHECK] --until DATE --reason TEXT --by NAME
  beianwatch exempt list   --config FILE [--site DOMAIN] [--all] [-o text|json]
  beianwatch exempt remove --config FILE --id ID --reason TEXT --by NAME

An exempted code is still checked and recorded, but opens no violation and
sends the owner nothing until the exemption ends; adding one closes the
site's open violations it covers as "exempted", without telling the owner.
DATE is 2027-01-31 (through that day in notices.timezone) or RFC 3339.
Every add, removal and expiry is in the audit trail.

exit status: 0 done, 2 usage, configuration or store error
`)
}
