package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/monitor/config"
	"github.com/beianwatch/beianwatch/monitor/inventory"
)

// cmdValidate checks a configuration and its inventory without starting
// anything. Its exit status is for pre-deploy scripts: 0 all good, 1 the
// configuration loads but inventory records would be skipped, 2 the
// configuration or the inventory file is unusable.
func cmdValidate(e *env, args []string) int {
	fs := pflag.NewFlagSet("validate", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configPath := fs.String("config", "", "configuration file to validate (default: $BEIANWATCH_CONFIG, else /etc/beianwatch/beianwatch.yaml when it exists, else the built-in defaults)")
	acceptShrink := fs.Bool("accept-shrink", false, "confirm that the inventory as it is now may drop more sites than inventory.max_shrink: writes a marker the running daemon reads on its next reload")
	fs.Usage = func() {
		fmt.Fprint(e.stderr, `usage: beianwatch validate [--config FILE] [--accept-shrink]

Checks a configuration file and its inventory without starting anything:
every key, every inventory record (with its line and the reason it would be
skipped), and the environment variables the files name (by name; values are
never printed). The configuration is found as `+"`run`"+` finds it.

flags:
`)
		fs.PrintDefaults()
		fmt.Fprint(e.stderr, `
Exit status: 0 all good; 1 the configuration loads but inventory records
would be skipped; 2 usage error, or the configuration or the inventory file
is unusable.
`)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "beianwatch validate: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "beianwatch validate: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	src, err := findConfig(e, *configPath)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch validate: %v\n", err)
		return exitUsage
	}
	name := src.Path
	if name == "" {
		name = config.DefaultFileName
	}
	cfg, err := loadFound(src)
	if err != nil {
		var errs config.Errors
		if errors.As(err, &errs) {
			for _, er := range errs {
				fmt.Fprintln(e.stderr, er.Error())
			}
		} else {
			fmt.Fprintln(e.stderr, err)
		}
		return exitUsage
	}
	status := exitOK
	for _, ref := range cfg.SecretRefs() {
		if e.getenv(ref.Env) == "" {
			fmt.Fprintf(e.stdout, "%s: warning: %s names variable %s, which is not set here\n", name, ref.Key, ref.Env)
		}
	}
	if cfg.Inventory.Path == "" {
		fmt.Fprintf(e.stdout, "%s: no inventory (inventory.path is empty): the daemon would watch 0 sites\n", name)
	} else if inv, lint, err := inventory.Load(cfg.Inventory.Path); err != nil {
		fmt.Fprintf(e.stderr, "%s: %v\n", cfg.Inventory.Path, err)
		status = exitUsage
	} else {
		// An owner secret missing at run time makes that owner's
		// deliveries fail; say so now, once per variable.
		unset := map[string]int{}
		var order []string
		for _, s := range inv.Sites {
			if v := s.Owner.SecretEnv; v != "" && e.getenv(v) == "" {
				if unset[v] == 0 {
					order = append(order, v)
				}
				unset[v]++
			}
		}
		for _, v := range order {
			sites := "sites"
			if unset[v] == 1 {
				sites = "site"
			}
			fmt.Fprintf(e.stdout, "%s: warning: owner_secret_env %s (%d %s) is not set here\n", cfg.Inventory.Path, v, unset[v], sites)
		}
		for _, l := range lint {
			fmt.Fprintf(e.stdout, "%s: %s\n", cfg.Inventory.Path, l.Error())
		}
		if len(lint) > 0 {
			fmt.Fprintf(e.stdout, "%d inventory records rejected\n", len(lint))
			status = exitRejected
		}
		if inv.Len() == 0 && len(lint) > 0 {
			fmt.Fprintf(e.stderr, "%s: %d records, %v: the daemon refuses this file\n", cfg.Inventory.Path, len(lint), inventory.ErrNoGoodRecords)
			status = exitUsage
		}
		if *acceptShrink && status != exitUsage {
			// Bound to this file's digest: a later, different file is
			// not accepted by it.
			digest, err := inventory.AcceptShrink(cfg.Inventory.Path)
			if err != nil {
				fmt.Fprintf(e.stderr, "%s: %v\n", cfg.Inventory.Path, err)
				return exitUsage
			}
			fmt.Fprintf(e.stdout, "%s: accepted as it is now (%d sites, sha256 %s) even if it drops more than inventory.max_shrink; the daemon takes it on its next reload (marker %s)\n",
				cfg.Inventory.Path, inv.Len(), digest[:12], inventory.ShrinkMarker(cfg.Inventory.Path))
		}
	}
	switch status {
	case exitOK:
		fmt.Fprintf(e.stdout, "%s: ok\n", name)
	case exitRejected:
		fmt.Fprintf(e.stdout, "%s: ok; the daemon would skip the rejected records\n", name)
	}
	return status
}
