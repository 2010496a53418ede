package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor"
	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/inventory"
)

// checkReport is the JSON shape of `beianwatch check` (docs/operations.md). Other
// tools read it: add fields, never rename them.
type checkReport struct {
	Domain  string          `json:"domain"`
	ICP     string          `json:"icp,omitempty"`
	PSB     string          `json:"psb,omitempty"`
	Status  checks.Status   `json:"status"`
	Results []checks.Result `json:"results"`
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func cmdCheck(ctx context.Context, e *env, args []string) int {
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	var (
		configPath = fs.String("config", "", "settings file (resolvers, timeouts, provider ranges); a site in its inventory supplies its filing")
		icp        = fs.String("icp", "", "expected ICP filing number")
		psb        = fs.String("psb", "", "expected PSB filing number")
		status     = fs.String("status", "", "filing status: filed, first_filing_pending, change_pending, access_pending, cancelled (default filed)")
		pageURL    = fs.String("url", "", "homepage to fetch instead of https://DOMAIN/")
		ipRanges   = fs.StringArray("ip-range", nil, "filed IP range, CIDR or A-B (repeatable)")
		contacts   = fs.StringArray("contact", nil, "contact to check, ROLE:PHONE (repeatable)")
		resolvers  = fs.StringArray("resolver", nil, "use only this DNS server, HOST:PORT (repeatable); skips the authoritative walk")
		phoneAPI   = fs.String("phone-api", "", "number-status provider URL (token from BEIANWATCH_PHONE_API_TOKEN)")
		only       = fs.String("only", "", "checks to run: footer,shell,dns,contact (default: those that apply)")
		allowPriv  = fs.Bool("allow-private", false, "allow loopback and private targets (testing)")
		reveal     = fs.Bool("reveal-contacts", false, "show whole phone numbers in JSON output")
		renderMode = fs.String("render", "auto", "auto (render only pages that need a browser, when one is installed), always, never")
		output     = fs.StringP("output", "o", "text", "output format: text or json")
	)
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: beianwatch check [flags] DOMAIN")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "beianwatch check: %v\n", err)
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintf(e.stderr, "beianwatch check: %v\n", err)
		return exitUsage
	}
	if fs.NArg() != 1 {
		return fail(usagef("want exactly one DOMAIN, got %d arguments", fs.NArg()))
	}
	if *output != "text" && *output != "json" {
		return fail(usagef("--output must be text or json, not %q", *output))
	}

	cfg := config.Default()
	var site *checks.Site
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			return fail(err)
		}
		// Other records' problems are not this command's business; an
		// unreadable inventory only means the flags alone describe the site.
		if inv, _, err := inventory.Load(cfg.Inventory.Path); err != nil {
			fmt.Fprintf(e.stderr, "beianwatch check: warning: inventory not used: %v\n", err)
		} else if s := inv.Lookup(fs.Arg(0)); s != nil {
			cp := s.Site
			site = &cp
		}
	} else {
		cfg.DNS.Resolvers = nil // the machine's own resolvers
	}
	domain, err := checks.NormalizeDomain(fs.Arg(0))
	if err != nil {
		return fail(err)
	}
	if site == nil {
		site = &checks.Site{Domain: domain, Status: checks.StatusFiled}
	}
	if err := applyCheckFlags(site, fs, *icp, *psb, *status, *pageURL, *ipRanges, *contacts); err != nil {
		return fail(err)
	}
	if len(*resolvers) > 0 {
		cfg.DNS.Resolvers = *resolvers
		cfg.DNS.Authoritative = false
	}
	if *allowPriv {
		cfg.AllowPrivate = true
	}
	if *phoneAPI != "" {
		cfg.PhoneAPI.URL = *phoneAPI
		if cfg.PhoneAPI.TokenEnv == "" {
			cfg.PhoneAPI.TokenEnv = "BEIANWATCH_PHONE_API_TOKEN"
		}
	}
	if _, err := checks.ParseRenderMode(*renderMode); err != nil || *renderMode == "" {
		return fail(usagef("--render must be auto, always or never, not %q", *renderMode))
	}
	if fs.Changed("render") || *configPath == "" {
		cfg.Render.Enabled = *renderMode
	}
	names, explicit, err := parseOnly(*only)
	if err != nil {
		return fail(err)
	}
	built, err := monitor.NewCheckers(cfg, monitor.CheckerOptions{Getenv: e.getenv, RevealContacts: *reveal})
	if err != nil {
		return fail(err)
	}
	defer built.Close()
	for _, w := range built.Warnings {
		fmt.Fprintf(e.stderr, "beianwatch check: warning: %s\n", w)
	}

	rep := checkReport{Domain: site.Domain, Status: site.Status, Results: []checks.Result{}}
	if site.ICP != nil {
		rep.ICP = site.ICP.String()
	}
	if site.PSB != nil {
		rep.PSB = site.PSB.String()
	}
	for _, name := range names {
		c := built.ByName[name]
		if ok, _ := c.Applies(site); !ok && !explicit {
			continue
		}
		rep.Results = append(rep.Results, checks.Run(ctx, c, site))
	}

	if *output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(e.stderr, "beianwatch check: writing JSON: %v\n", err)
			return exitUsage
		}
	} else {
		writeCheckText(e.stdout, rep, e.isTerminal)
	}
	return exitStatus(rep.Results)
}

// applyCheckFlags lays the command-line filing over the site (flags win
// over the inventory).
func applyCheckFlags(site *checks.Site, fs *pflag.FlagSet, icp, psb, status, pageURL string, ranges, contacts []string) error {
	if fs.Changed("icp") {
		n, err := checks.ParseICP(icp)
		if err != nil {
			return usagef("--icp: %v", err)
		}
		site.ICP = &n
	}
	if fs.Changed("psb") {
		p, err := checks.ParsePSB(psb)
		if err != nil {
			return usagef("--psb: %v", err)
		}
		site.PSB = &p
	}
	if fs.Changed("status") {
		st, ok := checks.ParseStatus(status)
		if !ok {
			return usagef("--status: unknown filing status %q (want one of %s)", status, statusList())
		}
		site.Status = st
	}
	if fs.Changed("url") {
		if !strings.HasPrefix(pageURL, "http://") && !strings.HasPrefix(pageURL, "https://") {
			return usagef("--url: want an http:// or https:// URL, not %q", pageURL)
		}
		site.URL = pageURL
	}
	if fs.Changed("ip-range") {
		site.IPRanges = nil
		for _, s := range ranges {
			r, err := checks.ParseIPRange(s)
			if err != nil {
				return usagef("--ip-range: %v", err)
			}
			site.IPRanges = append(site.IPRanges, r)
		}
	}
	if fs.Changed("contact") {
		site.Contacts = nil
		for _, s := range contacts {
			c, err := checks.ParseContactFlag(s)
			if err != nil {
				return usagef("--contact: %v", err)
			}
			site.Contacts = append(site.Contacts, c)
		}
	}
	return nil
}

func statusList() string {
	var s []string
	for _, st := range checks.Statuses {
		s = append(s, string(st))
	}
	return strings.Join(s, ", ")
}

// parseOnly reads --only; explicit says the user chose, so checks that do
// not apply are reported as not applicable instead of left out.
func parseOnly(s string) (names []string, explicit bool, err error) {
	if strings.TrimSpace(s) == "" {
		return checks.AllChecks, false, nil
	}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		if !slices.Contains(checks.AllChecks, n) {
			return nil, false, usagef("--only: unknown check %q (want footer, shell, dns or contact)", n)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names, true, nil
}

// exitStatus: 1 when anything violated, else 3 when anything was
// inconclusive, else 0.
func exitStatus(results []checks.Result) int {
	code := exitOK
	for _, r := range results {
		switch r.Outcome {
		case checks.Fail:
			return exitViolation
		case checks.Inconclusive:
			code = exitInconclusive
		}
	}
	return code
}
