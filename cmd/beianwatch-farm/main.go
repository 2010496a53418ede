// Command beianwatch-farm is a development tool, not part of the product: it
// serves simulated filed sites on loopback (HTTP virtual hosts, DNS, a
// number-status provider and a webhook receiver) for the demo and the
// benchmark.
//
//	beianwatch-farm serve   serve a farm and write its inventory and config
//	beianwatch-farm demo    a farm plus `beianwatch run`, supervised; Ctrl-C stops both
//	beianwatch-farm bench   beianwatch against blackbox_exporter on one farm
//	beianwatch-farm faults  fault trials against `beianwatch run`
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/farm"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(ctx, args[1:], stdout, stderr)
	case "bench":
		return cmdBench(ctx, args[1:], stdout, stderr)
	case "faults":
		return cmdFaults(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "beianwatch-farm: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: beianwatch-farm COMMAND [flags]

commands:
  serve   serve simulated sites and write sites.csv, beianwatch.yaml, farm.env
  demo    serve a small farm and run the daemon against it; Ctrl-C stops both
  bench   time beianwatch audit and blackbox_exporter on the same farm
  faults  fault trials against beianwatch run: kill -9, inventory rewrite,
          resolver failure, slow receiver; counts lost, duplicate and late notices

Run "beianwatch-farm COMMAND --help" for a command's flags.
`)
}

// farmFlags are the flags every command shares.
type farmFlags struct {
	sites     int
	seed      uint64
	slowShare float64
	slowDelay time.Duration
	hangShare float64
	scripted  float64
	dir       string
}

func (f *farmFlags) register(fs *pflag.FlagSet, sites int, slowShare float64, dir string) {
	fs.IntVar(&f.sites, "sites", sites, "number of simulated sites")
	fs.Uint64Var(&f.seed, "seed", 1, "seed: the same seed gives the same farm")
	fs.Float64Var(&f.slowShare, "slow-share", slowShare, "fraction of served sites that answer after --slow-delay")
	fs.DurationVar(&f.slowDelay, "slow-delay", 2*time.Second, "delay of the slow sites")
	fs.Float64Var(&f.hangShare, "hang-share", 0.3, "fraction of the slow sites that never finish the body")
	fs.Float64Var(&f.scripted, "script-share", 0, "fraction of the sites with a footer whose footer an inline script draws (needs a browser)")
	fs.StringVar(&f.dir, "dir", dir, "where the inventory, configuration and farm.env are written")
}

func (f *farmFlags) options() farm.Options {
	return farm.Options{Sites: f.sites, Seed: f.seed, SlowShare: f.slowShare, SlowDelay: f.slowDelay, HangShare: f.hangShare, ScriptShare: f.scripted}
}

func parse(fs *pflag.FlagSet, args []string, stderr io.Writer) (ok bool, code int) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return false, 0
		}
		fmt.Fprintf(stderr, "beianwatch-farm %s: %v\n", fs.Name(), err)
		return false, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "beianwatch-farm %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return false, 2
	}
	return true, 0
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	var ff farmFlags
	ff.register(fs, 30, 0.1, filepath.Join("data", "farm"))
	listen := fs.String("listen", "127.0.0.1:9470", "the daemon's listen address written into beianwatch.yaml")
	schedule := fs.String("schedule", "@every 1m", "every check's schedule in beianwatch.yaml")
	quiet := fs.Bool("quiet", false, "count notices without printing them")
	if ok, code := parse(fs, args, stderr); !ok {
		return code
	}
	f, err := farm.Generate(ff.options())
	if err != nil {
		fmt.Fprintf(stderr, "beianwatch-farm serve: %v\n", err)
		return 2
	}
	var notices io.Writer = stdout
	if *quiet {
		notices = nil
	}
	srv, err := farm.Start(f, farm.ServeConfig{Notices: notices})
	if err != nil {
		fmt.Fprintf(stderr, "beianwatch-farm serve: %v\n", err)
		return 1
	}
	defer srv.Close()
	files, err := srv.WriteFiles(ff.dir, farm.ConfigParams{Listen: *listen, Schedule: *schedule}, randomToken())
	if err != nil {
		fmt.Fprintf(stderr, "beianwatch-farm serve: %v\n", err)
		return 1
	}
	f.WriteSummary(stdout)
	fmt.Fprintf(stdout, `
sites     http://DOMAIN:%d/ on %s and %s
dns       %s (UDP and TCP)
phone     %s
receiver  %s/hook/0..%d and %s/ops
files     %s, %s, %s

run the daemon against it:
  . %s && bin/beianwatch run --config %s

Ctrl-C stops the farm.
`, srv.HTTPPort, farm.ProviderAddr, farm.OffProviderAddr, srv.DNSAddr, srv.PhoneURL, srv.ReceiverURL, farm.OwnerGroups-1,
		srv.ReceiverURL, files.Inventory, files.Config, files.Env, files.Env, files.Config)
	<-ctx.Done()
	st := srv.Receiver.Stats()
	fmt.Fprintf(stdout, "\nfarm stopped: %d notices received, %d duplicates, %d bad signatures\n", st.Notices, st.Duplicates, st.BadSignature)
	return 0
}
