package main

import (
	"bufio"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the test reads the shared database

	"github.com/beianwatch/beianwatch/farm"
	"github.com/beianwatch/beianwatch/internal/pgtest"
	"github.com/beianwatch/beianwatch/internal/syncbuf"
	"github.com/beianwatch/beianwatch/internal/testbin"
)

// node is one `beianwatch run` process of the cluster.
type node struct {
	name, cfg, addr string
	cmd             *exec.Cmd
	log             *syncbuf.Buffer
}

func (n *node) start(t *testing.T, bin string, env []string) {
	t.Helper()
	n.log = &syncbuf.Buffer{}
	n.cmd = exec.Command(bin, "run", "--config", n.cfg)
	n.cmd.Env = append(os.Environ(), env...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.name, err)
	}
	cmd := n.cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}

// gauge scrapes one unlabelled series from the node's /metrics; ok is
// false when the node does not answer.
func (n *node) gauge(name string) (v float64, ok bool) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + n.addr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			fmt.Sscan(f[1], &v)
			return v, true
		}
	}
	return 0, false
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("after %s: %s", d, what)
	return 0
}

// leaders says which nodes report beianwatch_leader 1.
func leaders(nodes []*node) []string {
	var out []string
	for _, n := range nodes {
		if n.cmd.ProcessState != nil {
			continue
		}
		if v, ok := n.gauge("beianwatch_leader"); ok && v == 1 {
			out = append(out, n.name)
		}
	}
	return out
}

// TestMultiNode runs three daemons on one PostgreSQL against the farm:
// one leader dispatches, every node checks; a node killed with SIGKILL and
// restarted later loses nothing; SIGTERM on the leader hands leadership
// over and dispatching goes on. Then, from the shared database and the
// farm's receiver: every site was checked in every interval, each expected
// violation opened once, each notice was delivered by id once, with no
// second notice for one transition.
//
// The short form (CI) runs 150 sites for about a minute and a half;
// BEIANWATCH_MULTINODE_LONG=1 runs 500 sites for longer.
func TestMultiNode(t *testing.T) {
	dsn := pgtest.Schema(t)
	sites, interval, rounds := 150, 15*time.Second, 8
	if os.Getenv("BEIANWATCH_MULTINODE_LONG") == "1" {
		sites, interval, rounds = 500, 20*time.Second, 12
	}
	bin := testbin.Build(t, "./cmd/beianwatch")
	f, err := farm.Generate(farm.Options{Sites: sites, Seed: 13})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := farm.Start(f, farm.ServeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	files, err := srv.WriteFiles(dir, farm.ConfigParams{
		Schedule: fmt.Sprintf("@every %s", interval), Timeout: 2 * time.Second, Concurr: 16, PerIP: 16,
		// A storm guard that stays out of the way: the farm's mix has
		// many violating sites by design.
		StormShare: 1,
	}, "multinode-token")
	if err != nil {
		t.Fatal(err)
	}
	base, err := os.ReadFile(files.Config)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range srv.Env("multinode-token") {
		env = append(env, k+"="+v)
	}
	env = append(env, "BEIANWATCH_DATABASE_URL="+dsn)
	var nodes []*node
	for i := range 3 {
		n := &node{name: fmt.Sprintf("node%d", i+1), addr: freeLoopback(t), cfg: filepath.Join(dir, fmt.Sprintf("node%d.yaml", i+1))}
		cfg := string(base)
		cfg = strings.Replace(cfg, "listen: 127.0.0.1:9470", "listen: "+n.addr, 1)
		cfg = strings.Replace(cfg, "  driver: sqlite\n  path: \"data/beianwatch.db\"\n", "  driver: postgres\n  dsn_env: BEIANWATCH_DATABASE_URL\n", 1)
		// Notices go out as soon as the storm guard's settle time allows:
		// keep it short so that deliveries happen within the test.
		cfg = strings.Replace(cfg, "    window: 15m\n", "    window: 15m\n    settle: 2s\n", 1)
		if !strings.Contains(cfg, "driver: postgres") || !strings.Contains(cfg, n.addr) || !strings.Contains(cfg, "settle: 2s") {
			t.Fatalf("cannot turn the farm's configuration into a PostgreSQL node's:\n%s", cfg)
		}
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	// All three at once, on an empty database: the migrations must not race.
	for _, n := range nodes {
		n.start(t, bin, env)
	}
	dumpLogs := func() {
		for _, n := range nodes {
			var bad []string
			for _, l := range strings.Split(n.log.String(), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					bad = append(bad, l)
				}
			}
			t.Logf("--- %s log, warnings and errors ---\n%s", n.name, tailOf(strings.Join(bad, "\n"), 6000))
		}
	}
	defer func() {
		if t.Failed() {
			dumpLogs()
		}
	}()
	waitFor(t, 90*time.Second, "three nodes up, one of them leading", func() bool {
		for _, n := range nodes {
			if _, ok := n.gauge("beianwatch_leader"); !ok {
				return false
			}
		}
		return len(leaders(nodes)) == 1
	})
	started := time.Now()

	// A check asked for through the API works on a node that is not the
	// leader.
	lead := leaders(nodes)[0]
	var follower *node
	for _, n := range nodes {
		if n.name != lead {
			follower = n
			break
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+follower.addr+"/api/v1/sites/"+f.Sites[0].Domain+"/check", nil)
	req.Header.Set("Authorization", "Bearer multinode-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("POST check on follower %s: %s", follower.name, resp.Status)
	}

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string, args ...any) int {
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	// Mid-way, kill -9 a follower while it works; restart it later.
	time.Sleep(2 * interval)
	victim := follower
	victim.cmd.Process.Signal(syscall.SIGKILL)
	victim.cmd.Wait()
	killed := time.Now()
	runsAtKill := count(`SELECT COUNT(*) FROM runs`)
	pickup := waitFor(t, 2*interval, "checks recorded by the surviving nodes after the kill", func() bool {
		return count(`SELECT COUNT(*) FROM runs`) > runsAtKill
	})
	t.Logf("kill -9 of %s: other nodes recorded new checks %s later", victim.name, pickup.Round(100*time.Millisecond))

	// SIGTERM on the leader: another node takes over and dispatches.
	var leader *node
	for _, n := range nodes {
		if n.name == lead {
			leader = n
		}
	}
	time.Sleep(interval)
	leader.cmd.Process.Signal(syscall.SIGTERM)
	handover := waitFor(t, 45*time.Second, "a new leader after SIGTERM on the old one", func() bool {
		l := leaders(nodes)
		return len(l) == 1 && l[0] != leader.name
	})
	t.Logf("SIGTERM on leader %s: %v leads %s later", leader.name, leaders(nodes), handover.Round(100*time.Millisecond))
	leader.cmd.Wait()
	dispatchedBefore := count(`SELECT COALESCE(MAX(through), 0) FROM dispatch_state`)
	waitFor(t, 2*interval, "dispatching to go on under the new leader", func() bool {
		return count(`SELECT COALESCE(MAX(through), 0) FROM dispatch_state`) > dispatchedBefore
	})

	// Restart both stopped nodes and let the cluster run its rounds.
	victim.start(t, bin, env)
	leader.start(t, bin, env)
	time.Sleep(time.Until(started.Add(time.Duration(rounds) * interval)))
	end := time.Now()
	for _, n := range nodes {
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		n.cmd.Wait()
	}

	// Every site was checked in every interval: after the first two
	// intervals (the dispatcher's start-up window), the gap between two
	// runs of one check on one site is at most the interval plus half an
	// interval (the dispatcher runs every quarter interval, then the batch
	// waits in the queue). Across the kill, one more interval is allowed:
	// the killed node's in-flight batch waits for River's rescue, and the
	// next interval's batch checks its sites anyway.
	from := started.Add(2 * interval)
	to := end.Add(-interval)
	rows, err := db.Query(`SELECT domain, check_name, checked_at FROM runs
		WHERE checked_at >= $1 AND checked_at < $2 AND outcome <> 'not_applicable'
		ORDER BY domain, check_name, checked_at`, from.Add(-2*interval).UnixMicro(), to.UnixMicro())
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ domain, check string }
	runsOf := map[key][]time.Time{}
	for rows.Next() {
		var k key
		var at int64
		rows.Scan(&k.domain, &k.check, &at)
		runsOf[k] = append(runsOf[k], time.UnixMicro(at))
	}
	rows.Close()
	slack := interval + interval/2
	missing := 0
	for k, ats := range runsOf {
		prev := from
		for _, at := range append(ats, to) {
			if at.Before(from) {
				continue
			}
			allowed := slack
			if !killed.Before(prev) && !killed.After(at) || killed.Before(prev) && prev.Sub(killed) < interval {
				allowed += interval
			}
			if gap := at.Sub(prev); gap > allowed {
				missing++
				if missing <= 5 {
					t.Errorf("%s %s: no run for %s (from %s), want at most %s", k.domain, k.check,
						gap.Round(100*time.Millisecond), prev.Format(time.StampMilli), allowed)
				}
			}
			prev = at
		}
	}
	if len(runsOf) < sites {
		t.Errorf("%d (site, check) pairs checked, want at least one per site (%d)", len(runsOf), sites)
	}
	slots := int(to.Sub(from) / interval)
	if missing > 0 {
		t.Errorf("%d gaps longer than an interval between two runs of a site's check", missing)
		jrows, err := db.Query(`SELECT kind, state, attempt, COALESCE(array_to_string(attempted_by, ','), ''), errors::text,
			attempted_at, finalized_at, scheduled_at FROM river_job WHERE state <> 'completed' OR attempt > 1 ORDER BY id`)
		if err == nil {
			for jrows.Next() {
				var kind, state, by string
				var attempt int
				var errs sql.NullString
				var at, fin, sched sql.NullTime
				jrows.Scan(&kind, &state, &attempt, &by, &errs, &at, &fin, &sched)
				t.Logf("job %s %s attempt %d by %s attempted %v finalized %v scheduled %v errors %s", kind, state, attempt, by, at.Time, fin.Time, sched.Time, tailOf(errs.String, 300))
			}
			jrows.Close()
		}
		t.Logf("started %s killed %s end %s", started.Format(time.StampMilli), killed.Format(time.StampMilli), end.Format(time.StampMilli))
	}

	// Each violation opened once; each transition in at most one notice.
	if n := count(`SELECT COUNT(*) FROM (SELECT domain, code FROM transitions WHERE kind = 'opened'
		GROUP BY domain, code HAVING COUNT(*) > 1) d`); n != 0 {
		t.Errorf("%d violations opened more than once", n)
	}
	opened := count(`SELECT COUNT(*) FROM transitions WHERE kind = 'opened'`)
	if opened == 0 {
		t.Error("no violation opened: the farm's violating sites were not seen")
	}
	// Each expected violation of the farm is open.
	want := 0
	for _, s := range f.Sites {
		for _, c := range []string{"footer", "shell", "dns"} {
			e := farm.Expect(s, c)
			for _, code := range e.Codes {
				want++
				if count(`SELECT COUNT(*) FROM violations WHERE domain = $1 AND code = $2 AND status IN ('open', 'escalated')`, s.Domain, code) != 1 {
					if want <= 5 {
						t.Errorf("%s: expected violation %s is not open", s.Domain, code)
					}
				}
			}
		}
	}
	// Every owner notice was delivered, once per id.
	delivered := count(`SELECT COUNT(*) FROM notices WHERE state = 'delivered'`)
	undelivered := count(`SELECT COUNT(*) FROM notices WHERE state NOT IN ('delivered', 'dropped')`)
	st := srv.Receiver.Stats()
	if st.Notices != delivered {
		t.Errorf("receiver got %d distinct notices, the database says %d delivered", st.Notices, delivered)
	}
	if undelivered != 0 {
		t.Errorf("%d notices still undelivered at the end", undelivered)
	}
	if st.BadSignature != 0 || st.Malformed != 0 {
		t.Errorf("receiver rejected %d bad signatures and %d malformed bodies", st.BadSignature, st.Malformed)
	}
	// Prometheus-style totals add up: the check runs the nodes counted
	// are the runs the database holds (the killed node's counters die
	// with it, so only the last stretch is compared through the log).
	t.Logf("%d sites, %d intervals of %s, %d checks recorded, %d violations opened (%d expected open), %d notices delivered, %d resends of an id",
		sites, slots, interval, count(`SELECT COUNT(*) FROM runs`), opened, want, delivered, st.Duplicates)
}

func tailOf(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
