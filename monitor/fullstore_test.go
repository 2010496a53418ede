package monitor

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/beianwatch/beianwatch/monitor/store"
)

// errDiskFull is what SQLite says when its file or WAL cannot grow: the
// driver's errors carry SQLite's result code, here SQLITE_FULL.
var errDiskFull error = sqliteError{code: 13, msg: "database or disk is full (13)"}

type sqliteError struct {
	code int
	msg  string
}

func (e sqliteError) Error() string { return e.msg }
func (e sqliteError) Code() int     { return e.code }

// fullDriver wraps the SQLite driver and, while full is set, fails every
// statement that writes and every commit of a transaction that wrote, as
// SQLite on a full disk does. Reads go through.
type fullDriver struct {
	inner driver.Driver
	full  *atomic.Bool
}

var fullDrivers atomic.Int64

// registerFullDriver registers a fullDriver for this test and returns its
// name for store.WithDriver.
func registerFullDriver(t *testing.T, full *atomic.Bool) string {
	t.Helper()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	inner := db.Driver()
	db.Close()
	name := fmt.Sprintf("sqlite-full-%d", fullDrivers.Add(1))
	sql.Register(name, &fullDriver{inner: inner, full: full})
	return name
}

func (d *fullDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &fullConn{inner: c, full: d.full}, nil
}

type fullConn struct {
	inner driver.Conn
	full  *atomic.Bool
	wrote bool // a write ran in the open transaction
}

func writes(query string) bool {
	q := strings.ToUpper(strings.TrimSpace(query))
	for _, p := range []string{"INSERT", "UPDATE", "DELETE", "REPLACE"} {
		if strings.HasPrefix(q, p) {
			return true
		}
	}
	return false
}

func (c *fullConn) check(query string) error {
	if !writes(query) {
		return nil
	}
	if c.full.Load() {
		return errDiskFull
	}
	c.wrote = true
	return nil
}

func (c *fullConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *fullConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.inner.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &fullStmt{inner: s, c: c, query: query}, nil
}

func (c *fullConn) Close() error { return c.inner.Close() }

func (c *fullConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *fullConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.inner.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.wrote = false
	return &fullTx{inner: tx, c: c}, nil
}

func (c *fullConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if err := c.check(query); err != nil {
		return nil, err
	}
	return c.inner.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (c *fullConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if err := c.check(query); err != nil {
		return nil, err
	}
	return c.inner.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (c *fullConn) Ping(ctx context.Context) error { return c.inner.(driver.Pinger).Ping(ctx) }

func (c *fullConn) ResetSession(ctx context.Context) error {
	return c.inner.(driver.SessionResetter).ResetSession(ctx)
}

func (c *fullConn) IsValid() bool { return c.inner.(driver.Validator).IsValid() }

type fullTx struct {
	inner driver.Tx
	c     *fullConn
}

func (t *fullTx) Commit() error {
	if t.c.wrote && t.c.full.Load() {
		t.inner.Rollback()
		return errDiskFull
	}
	return t.inner.Commit()
}

func (t *fullTx) Rollback() error { return t.inner.Rollback() }

type fullStmt struct {
	inner driver.Stmt
	c     *fullConn
	query string
}

func (s *fullStmt) Close() error  { return s.inner.Close() }
func (s *fullStmt) NumInput() int { return s.inner.NumInput() }

func (s *fullStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("fullStmt: Exec without context is not used")
}

func (s *fullStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("fullStmt: Query without context is not used")
}

func (s *fullStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.c.check(s.query); err != nil {
		return nil, err
	}
	return s.inner.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *fullStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.check(s.query); err != nil {
		return nil, err
	}
	return s.inner.(driver.StmtQueryContext).QueryContext(ctx, args)
}

// TestFullDisk: the store's disk fills just as a notice is delivered, so
// the delivery cannot be recorded. /readyz says 503 while the disk is full
// and 200 once it has room; the notice is then recorded as delivered
// without being sent a second time, and the violation and its transition
// are all there.
func TestFullDisk(t *testing.T) {
	h := newHarness(t, []fixtureSite{{Domain: "broken.example.cn", Footer: oldFooter}})
	rewriteConfig(t, h, "failure_threshold: 2", "failure_threshold: 1")
	var full atomic.Bool
	h.storeOptions = []store.Option{store.WithDriver(registerFullDriver(t, &full))}
	delivered := make(chan struct{})
	var once sync.Once
	var owner atomic.Int32
	h.mu.Lock()
	h.onHook = func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/owner/") {
			owner.Add(1)
			full.Store(true) // the disk fills while the receiver answers
			once.Do(func() { close(delivered) })
		}
		return false
	}
	h.mu.Unlock()
	h.start()
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + h.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	h.runCheckNoWait("footer", "broken.example.cn")
	<-delivered
	code, body := readyz()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "full") {
		t.Fatalf("/readyz %d %q while the disk is full, want 503 saying why", code, body)
	}
	// The daemon retries meanwhile; give it time to (wrongly) send again.
	h.waitFor("failed writes", func() bool { return h.storeErrors() >= 3 })

	full.Store(false)
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz %d %q after the disk has room, want 200", code, body)
	}
	var state string
	h.waitFor("the delivery recorded", func() bool {
		h.d.store.DB().QueryRow(`SELECT state FROM notices WHERE kind = 'owner'`).Scan(&state)
		return state == "delivered"
	})
	if n := owner.Load(); n != 1 {
		t.Fatalf("the owner got the notice %d times, want once", n)
	}
	var trs, vio, attempts int
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM transitions`).Scan(&trs)
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM violations WHERE status = 'open'`).Scan(&vio)
	h.d.store.DB().QueryRow(`SELECT COUNT(*) FROM notice_attempts`).Scan(&attempts)
	if trs != 1 || vio != 1 || attempts != 1 {
		t.Fatalf("%d transitions, %d open violations, %d recorded attempts; want 1, 1, 1", trs, vio, attempts)
	}
}
