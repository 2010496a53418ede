package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/monitor"
)

// cmdNotify is `beianwatch notify test`: one sample notice through a
// site's owner channel (or the ops channel), sent by the daemon's own
// notifier, so that an operator can see the wiring work.
func cmdNotify(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] != "test" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			notifyUsage(e, nil)
			return exitOK
		}
		fmt.Fprintln(e.stderr, "beianwatch notify: want the subcommand \"test\"")
		notifyUsage(e, nil)
		return exitUsage
	}
	fs := pflag.NewFlagSet("notify test", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	configPath := fs.String("config", "", "configuration file (default: $BEIANWATCH_CONFIG, else /etc/beianwatch/beianwatch.yaml): its inventory names the site's owner channel")
	site := fs.String("site", "", "the inventory site whose owner channel to try")
	ops := fs.Bool("ops", false, "try the provider's ops channel instead (--site then only names the site in the text)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up on the attempt after this long")
	fs.Usage = func() { notifyUsage(e, fs) }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "beianwatch notify test: %v\n", err)
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(e.stderr, "beianwatch notify test: "+format+"\n", a...)
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected arguments %q", fs.Args())
	case *site == "" && !*ops:
		return fail("--site DOMAIN is required (or --ops for the ops channel)")
	case *timeout <= 0:
		return fail("--timeout must be positive")
	}
	src, err := findConfig(e, *configPath)
	if err != nil {
		return fail("%v", err)
	}
	cfg, err := loadFound(src)
	if err != nil {
		return fail("%v", err)
	}
	if !*ops && cfg.Inventory.Path == "" {
		return fail("no inventory to find --site in: pass --config FILE (or set $BEIANWATCH_CONFIG) naming one with inventory.path")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := monitor.SendSampleNotice(ctx, cfg, monitor.SampleOptions{Domain: *site, Ops: *ops, Getenv: e.getenv})
	if err != nil {
		return fail("%v", err)
	}
	a := res.Attempt
	w := e.stdout
	fmt.Fprintf(w, "notice    %s (a test notice, marked %s)\n", res.NoticeID, monitor.SampleMarker)
	fmt.Fprintf(w, "to        %s via %s\n", res.Audience, orDash(a.Channel))
	fmt.Fprintf(w, "target    %s\n", orDash(a.Target))
	if a.StatusCode > 0 {
		fmt.Fprintf(w, "status    HTTP %d\n", a.StatusCode)
	} else {
		fmt.Fprintln(w, "status    no response")
	}
	fmt.Fprintf(w, "duration  %s\n", a.Duration.Round(time.Millisecond))
	if a.Response != "" {
		fmt.Fprintf(w, "response  %s\n", a.Response)
	}
	if res.Err != nil {
		fmt.Fprintf(w, "result    not delivered (%s): %v\n", orDash(string(a.Result)), res.Err)
		if a.RetryAfter > 0 {
			fmt.Fprintf(w, "          the receiver asked to wait %s\n", a.RetryAfter)
		}
		return 1
	}
	fmt.Fprintln(w, "result    delivered")
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func notifyUsage(e *env, fs *pflag.FlagSet) {
	fmt.Fprint(e.stderr, `usage: beianwatch notify test --config FILE --site DOMAIN [--ops]

Sends one sample notice, marked as a test, through the site's owner channel
(or with --ops the provider's ops channel), with the daemon's notifier and
egress rules. Exit status: 0 delivered, 1 not delivered, 2 usage or
configuration error.
`)
	if fs != nil {
		fs.PrintDefaults()
	}
}
