package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/beianwatch/beianwatch/monitor/store"
)

// cmdMigrateStore copies a SQLite deployment's state and record into a new
// PostgreSQL database, so that several daemons can take over without
// losing open violations, notice history or the audit trail. Exit 0 copied,
// 1 the copy failed (nothing was written: it is one transaction), 2 usage.
func cmdMigrateStore(ctx context.Context, e *env, args []string) int {
	fs := pflag.NewFlagSet("migrate-store", pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	from := fs.String("from", "", "the SQLite store to copy, as sqlite:PATH (stop its daemon first)")
	to := fs.String("to", "", "where to copy it: postgres (a new, empty database)")
	dsnEnv := fs.String("dsn-env", "BEIANWATCH_DATABASE_URL", "the variable holding the PostgreSQL connection string")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: beianwatch migrate-store --from sqlite:PATH --to postgres [--dsn-env NAME]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	path, ok := strings.CutPrefix(*from, "sqlite:")
	if !ok || path == "" {
		fmt.Fprintln(e.stderr, "beianwatch migrate-store: --from must be sqlite:PATH")
		return exitUsage
	}
	if *to != "postgres" {
		fmt.Fprintln(e.stderr, "beianwatch migrate-store: --to must be postgres")
		return exitUsage
	}
	dsn := e.getenv(*dsnEnv)
	if dsn == "" {
		fmt.Fprintf(e.stderr, "beianwatch migrate-store: %s is not set: it must hold the PostgreSQL connection string\n", *dsnEnv)
		return exitUsage
	}
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(e.stderr, "beianwatch migrate-store: %v\n", err)
		return exitUsage
	}
	src, err := store.Open(ctx, path)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch migrate-store: %v\n", err)
		return exitViolation
	}
	defer src.Close()
	dst, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch migrate-store: PostgreSQL from %s: %v\n", *dsnEnv, err)
		return exitViolation
	}
	defer dst.Close()
	n, err := src.CopyTo(ctx, dst)
	if err != nil {
		fmt.Fprintf(e.stderr, "beianwatch migrate-store: %v\n", err)
		return exitViolation
	}
	tables := make([]string, 0, len(n))
	for t := range n {
		tables = append(tables, t)
	}
	sort.Strings(tables)
	for _, t := range tables {
		fmt.Fprintf(e.stdout, "%-16s %d rows\n", t, n[t])
	}
	fmt.Fprintf(e.stdout, "copied %s to PostgreSQL; queued notices get their delivery jobs at the daemons' first tick\n", path)
	return exitOK
}
