package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // reads the SQLite node's database

	"github.com/beianwatch/beianwatch/farm"
	"github.com/beianwatch/beianwatch/internal/pgtest"
	"github.com/beianwatch/beianwatch/internal/testbin"
)

// TestThroughputFigures measures checks recorded per second on one farm
// by one node on SQLite, one node on PostgreSQL and three nodes on
// PostgreSQL, with a schedule that asks for more than the nodes can do,
// so the rate is the capacity. It only runs with BEIANWATCH_THROUGHPUT=1
// (minutes of CPU; not for CI) and a test PostgreSQL, and logs the
// figures: on one machine they show the overhead of the shared database,
// not scaling.
func TestThroughputFigures(t *testing.T) {
	if os.Getenv("BEIANWATCH_THROUGHPUT") != "1" {
		t.Skip("set BEIANWATCH_THROUGHPUT=1 to measure")
	}
	pgtest.Skip(t)
	bin := testbin.Build(t, "./cmd/beianwatch")
	f, err := farm.Generate(farm.Options{Sites: 1000, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := farm.Start(f, farm.ServeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct {
		name     string
		postgres bool
		nodes    int
	}{{"1 node SQLite", false, 1}, {"1 node PostgreSQL", true, 1}, {"3 nodes PostgreSQL", true, 3}} {
		dir := t.TempDir()
		files, err := srv.WriteFiles(dir, farm.ConfigParams{Schedule: "@every 5s", Timeout: 2 * time.Second,
			Concurr: 16, PerIP: 16, StormShare: 1}, "tp-token")
		if err != nil {
			t.Fatal(err)
		}
		base, _ := os.ReadFile(files.Config)
		env := []string{}
		for k, v := range srv.Env("tp-token") {
			env = append(env, k+"="+v)
		}
		var dsn string
		if tc.postgres {
			dsn = pgtest.Schema(t)
			env = append(env, "BEIANWATCH_DATABASE_URL="+dsn)
		}
		var nodes []*node
		for i := range tc.nodes {
			n := &node{name: fmt.Sprintf("node%d", i+1), addr: freeLoopback(t), cfg: filepath.Join(dir, fmt.Sprintf("n%d.yaml", i))}
			cfg := strings.Replace(string(base), "listen: 127.0.0.1:9470", "listen: "+n.addr, 1)
			if tc.postgres {
				cfg = strings.Replace(cfg, "  driver: sqlite\n  path: \"data/beianwatch.db\"\n", "  driver: postgres\n  dsn_env: BEIANWATCH_DATABASE_URL\n", 1)
			}
			os.WriteFile(n.cfg, []byte(cfg), 0o644)
			n.start(t, bin, env)
			nodes = append(nodes, n)
		}
		var db *sql.DB
		if tc.postgres {
			db, _ = sql.Open("pgx", dsn)
		} else {
			db, _ = sql.Open("sqlite", filepath.Join(dir, "data", "beianwatch.db")+"?mode=ro&_pragma=busy_timeout(10000)")
		}
		runs := func() int {
			var n int
			if err := db.QueryRow(`SELECT COUNT(*) FROM runs`).Scan(&n); err != nil {
				return -1
			}
			return n
		}
		// Warm up past the first interval, then count for 40 s.
		waitFor(t, 90*time.Second, tc.name+": first checks recorded", func() bool { return runs() > 0 })
		time.Sleep(15 * time.Second)
		r0, t0 := runs(), time.Now()
		time.Sleep(40 * time.Second)
		r1, t1 := runs(), time.Now()
		t.Logf("%s: %.0f checks/s (%d checks in %s)", tc.name, float64(r1-r0)/t1.Sub(t0).Seconds(), r1-r0, t1.Sub(t0).Round(time.Second))
		for _, n := range nodes {
			n.cmd.Process.Signal(syscall.SIGTERM)
			n.cmd.Wait()
		}
		db.Close()
	}
}
