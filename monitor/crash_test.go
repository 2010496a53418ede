package monitor

import (
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/freeport"
	"github.com/beianwatch/beianwatch/internal/syncbuf"

	_ "modernc.org/sqlite"

	"github.com/beianwatch/beianwatch/internal/testbin"
)

// daemonProcess is a real `beianwatch run` child process.
type daemonProcess struct {
	cmd  *exec.Cmd
	addr string
	log  *syncbuf.Buffer // stdout and stderr
}

func startProcess(t *testing.T, bin string, h *harness, addr string) *daemonProcess {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", h.cfgPath)
	cmd.Env = append(os.Environ(), "API_TOKEN="+testToken, "OWNER_SECRET=owner-secret", "OPS_SECRET=ops-secret")
	log := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProcess{cmd: cmd, addr: addr, log: log}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %v\n%s", err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCrashKill9 kills a real `beianwatch run` with SIGKILL in the middle
// of a cycle, then starts it again on the same database: the file passes
// integrity_check, no committed transition is lost, no notice is sent
// twice, and the cycle completes. A final SIGTERM exits 0.
func TestCrashKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	const n = 240
	var sites []fixtureSite
	for i := range n {
		s := fixtureSite{Domain: fmt.Sprintf("site%03d.example.cn", i)}
		if i%2 == 1 {
			s.Footer = oldFooter
		}
		sites = append(sites, s)
	}
	h := newHarness(t, sites)
	addr := freeport.Addr(t)
	cfg, err := os.ReadFile(h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(cfg), "listen: 127.0.0.1:1", "listen: "+addr, 1)
	conf = strings.Replace(conf, `footer: "@every 1h"`, `footer: "@every 4s"`, 1)
	conf = strings.Replace(conf, "failure_threshold: 2", "failure_threshold: 1", 1)
	writeFile(t, h.cfgPath, conf)
	dbPath := filepath.Join(h.dir, "bw.db")

	bin := testbin.Build(t, "./cmd/beianwatch")
	p := startProcess(t, bin, h, addr)
	db := openReadOnly(t, dbPath)
	waitCount(t, db, "SELECT COUNT(*) FROM transitions", 30, 40*time.Second, p)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	// What was committed before the kill, read after it: the process is
	// gone, so nothing more can commit.
	committed := ids(t, db, "SELECT id FROM transitions")
	noticesBefore := count(t, db, "SELECT COUNT(*) FROM notices")
	db.Close()

	db = openReadOnly(t, dbPath)
	var integrity string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity_check after kill -9: %q %v", integrity, err)
	}
	db.Close()

	p = startProcess(t, bin, h, addr)
	db = openReadOnly(t, dbPath)
	defer db.Close()
	// The cycle completes: every site gets a footer result.
	waitCount(t, db, "SELECT COUNT(*) FROM results WHERE check_name = 'footer'", n, 60*time.Second, p)
	after := ids(t, db, "SELECT id FROM transitions")
	for id := range committed {
		if !after[id] {
			t.Errorf("transition %d committed before the kill is gone", id)
		}
	}
	if got := count(t, db, "SELECT COUNT(*) FROM transitions"); got != n/2 {
		t.Errorf("%d transitions, want exactly one opening for each of the %d broken sites", got, n/2)
	}
	if dup := count(t, db, `SELECT COUNT(*) FROM (SELECT domain FROM notices WHERE kind = 'owner' GROUP BY domain HAVING COUNT(*) > 1)`); dup != 0 {
		t.Errorf("%d sites have more than one owner notice", dup)
	}
	if got := count(t, db, "SELECT COUNT(*) FROM notices"); got < noticesBefore {
		t.Errorf("notices went from %d to %d", noticesBefore, got)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.log.String())
	}
}

func openReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func ids(t *testing.T, db *sql.DB, q string) map[int64]bool {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	return out
}

func waitCount(t *testing.T, db *sql.DB, q string, want int, within time.Duration, p *daemonProcess) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var n int
		err := db.QueryRow(q).Scan(&n)
		if err == nil && n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d after %v, want >= %d (%v)\n%s", q, n, within, want, err, tail(p.log.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestKill9DuringDelivery kills a real daemon while a notice is on the
// wire (the receiver holds the request), then starts it again: the notice,
// left "sending", is delivered again with the same id within 60 s of the
// restart, not after River's stuck-job rescue (which waits out the longest
// job timeout).
func TestKill9DuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	h := newHarness(t, []fixtureSite{{Domain: "broken.example.cn", Footer: oldFooter}})
	addr := freeport.Addr(t)
	rewriteConfig(t, h,
		"listen: 127.0.0.1:1", "listen: "+addr,
		`footer: "@every 1h"`, `footer: "@every 2s"`,
		"failure_threshold: 2", "failure_threshold: 1")
	cut := make(chan string, 1)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	var mu sync.Mutex
	var ids []string
	h.mu.Lock()
	h.onHook = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasPrefix(r.URL.Path, "/owner/") {
			return false
		}
		id := r.Header.Get("X-Beianwatch-Notice-Id")
		mu.Lock()
		ids = append(ids, id)
		first := len(ids) == 1
		mu.Unlock()
		if first {
			cut <- id
			select { // hold the first delivery until the daemon dies
			case <-hang:
			case <-r.Context().Done():
			}
			return true
		}
		return false // later deliveries are answered 204
	}
	h.mu.Unlock()

	bin := testbin.Build(t, "./cmd/beianwatch")
	p := startProcess(t, bin, h, addr)
	var id string
	select {
	case id = <-cut:
	case <-time.After(60 * time.Second):
		t.Fatalf("no delivery began\n%s", tail(p.log.String(), 3000))
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	db := openReadOnly(t, filepath.Join(h.dir, "bw.db"))
	defer db.Close()
	if n := count(t, db, "SELECT COUNT(*) FROM notices WHERE state = 'sending'"); n != 1 {
		t.Fatalf("%d notices sending after the kill, want the one cut off", n)
	}

	restart := time.Now()
	p = startProcess(t, bin, h, addr)
	deadline := restart.Add(60 * time.Second)
	for {
		var state string
		db.QueryRow("SELECT state FROM notices WHERE id = ?", id).Scan(&state)
		if state == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notice %s is %q 60 s after the restart, want delivered\n%s", id, state, tail(p.log.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(restart)
	mu.Lock()
	got := append([]string(nil), ids...)
	mu.Unlock()
	if len(got) != 2 || got[1] != id {
		t.Fatalf("owner deliveries %v, want the cut one and its redelivery with the same id %s", got, id)
	}
	t.Logf("redelivered %s after the restart", took.Round(100*time.Millisecond))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, tail(p.log.String(), 3000))
	}
}
