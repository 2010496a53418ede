// Command beianwatch watches websites filed under China's ICP filing system
// and tells their owners what to put right before the regulator does.
//
//	beianwatch run       the daemon
//	beianwatch check     one site, now
//	beianwatch audit     the whole inventory, now, with a report
//	beianwatch version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Exit statuses, shared by check and audit (docs/operations.md).
const (
	exitOK           = 0
	exitViolation    = 1
	exitUsage        = 2
	exitInconclusive = 3

	// exitRejected is validate's: the configuration loads, but inventory
	// records would be skipped.
	exitRejected = 1
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// env is what a command may touch of the outside world, so that tests can
// run commands in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	isTerminal     bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: os.Getenv, isTerminal: isTerminal(stdout)}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, e, args[1:])
	case "check":
		return cmdCheck(ctx, e, args[1:])
	case "audit":
		return cmdAudit(ctx, e, args[1:])
	case "validate":
		return cmdValidate(e, args[1:])
	case "notify":
		return cmdNotify(ctx, e, args[1:])
	case "exempt":
		return cmdExempt(ctx, e, args[1:])
	case "dossier":
		return cmdDossier(ctx, e, args[1:])
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help", "--help", "-h":
		usage(stdout)
		return exitOK
	default:
		fmt.Fprintf(stderr, "beianwatch: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: beianwatch COMMAND [flags]

commands:
  run            the daemon: check the inventory on schedule, notify owners
  check DOMAIN   check one site now, no daemon, no database
  audit          check the whole inventory once, now, and write a report
  validate       check a configuration file and its inventory
  notify test    send a sample notice through a site's channel
  exempt         add, list or remove exemptions (豁免), with an audit trail
  dossier        write a site's record (整改记录) as HTML or PDF
  version        print the version

Run "beianwatch COMMAND --help" for a command's flags.
`)
}

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "beianwatch " + v
}
