// Package store keeps the daemon's state in one database, an embedded
// SQLite file or a PostgreSQL shared by several daemons: the latest
// and past check results, the violation lifecycle, the transition history,
// notices and their delivery attempts, the dispatcher's progress and the
// phone-status cache. The River job tables live in the same database, so a
// state change and the job that announces it commit together.
//
// One code path serves both engines: River's database/sql drivers
// (riversqlite, riverdatabasesql over pgx's stdlib) both work on *sql.Tx,
// statements keep `?` placeholders (rebound for PostgreSQL by the
// connection, see postgres.go) and migrations are written for SQLite and
// translated (see dialect.go).
//
// Concurrency rule (measured with River on SQLite and one connection): a
// transaction must never wait for a second connection. Methods that take a
// *sql.Tx do all their work through it; methods without one use the pool
// and must not be called while the caller holds a transaction. Network I/O
// never happens inside a transaction.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the daemon's database. It is safe for concurrent use. On SQLite
// all statements share one connection (see Open); on PostgreSQL it is a
// pool (see OpenPostgres).
type Store struct {
	db      *sql.DB
	path    string // the SQLite file, or "postgres" (never the DSN)
	dialect Dialect
	// listener is a small pgx pool River takes LISTEN connections from
	// (PostgreSQL only), so jobs are picked up on NOTIFY, not on polls.
	listener *pgxpool.Pool
	logger   *slog.Logger
	onError  func(op string, err error)
}

// Option adjusts Open.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	synchronous string
	maxConns    int
	driver      string
}

// WithDriver opens the database through the database/sql driver
// registered as name instead of "sqlite". It must be SQLite underneath;
// tests register a wrapper that injects faults (a full disk).
func WithDriver(name string) Option { return func(o *options) { o.driver = name } }

// WithMaxConns bounds the PostgreSQL pool (default 16). SQLite always uses
// one connection.
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithLogger sets the logger for migration messages (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithSynchronousFull makes every commit wait for fsync of the WAL. The
// default, NORMAL, is already safe against a killed process (kill -9, OOM,
// panic): a commit is in the WAL before COMMIT returns, and the WAL is
// replayed at the next open. What NORMAL can lose is the last commits
// before a power cut or kernel crash, since the WAL is synced only at
// checkpoints. FULL closes that gap at the cost of one fsync per
// transaction (per batch of results, so affordable).
func WithSynchronousFull() Option { return func(o *options) { o.synchronous = "FULL" } }

// Open opens (creating it and its directory if needed) the database at
// path and applies River's and our own migrations.
//
// The pool is limited to one connection: SQLite allows one writer, and
// River's SQLite driver documents that several connections produce
// SQLITE_BUSY errors under its parallel internal operations. With one
// connection, Go's pool serialises access instead, and busy_timeout covers
// other processes (a CLI audit) touching the same file.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{synchronous: "NORMAL", driver: "sqlite"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if path == "" {
		return nil, errors.New("open store: empty database path")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("open store %q: want a file path (the daemon's state must survive restarts)", path)
	}
	// The driver cuts the name at the first '?' to read its parameters.
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open store %q: the path must not contain '?' or '#'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open store: create directory for %q: %w", path, err)
		}
	}
	dsn := path + "?_pragma=busy_timeout(10000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + o.synchronous + ")" +
		// Take the write lock at BEGIN: a deferred transaction that
		// later upgrades to writing fails at once with SQLITE_BUSY when
		// another process writes, instead of waiting busy_timeout.
		"&_txlock=immediate"
	db, err := sql.Open(o.driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s := &Store{db: db, path: path, dialect: SQLite, logger: o.logger}
	if err := pingSQLite(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// pingSQLite opens the first connection. Its journal_mode(WAL) pragma
// needs the file to itself for a moment, and SQLite answers SQLITE_BUSY at
// once, without its busy handler, when another process is opening or
// migrating the same new file; so a busy answer is retried for up to about
// ten seconds, as busy_timeout would have waited.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// OpenPostgres connects to the PostgreSQL database at dsn and applies
// River's and our own migrations, under an advisory lock so that daemons
// starting together on an empty database do not race. The schema is the
// connection's current schema (set search_path in the DSN to use another
// than public). Errors never quote the DSN: it may hold a password.
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{maxConns: 16}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("open postgres store: empty connection string")
	}
	db, err := openPostgres(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	db.SetMaxOpenConns(max(o.maxConns, 2))
	db.SetMaxIdleConns(max(o.maxConns, 2))
	db.SetConnMaxIdleTime(5 * time.Minute)
	lcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: parse the connection string for the listener: %s", redactParseError(err))
	}
	// One LISTEN connection per River client, hijacked from this pool.
	lcfg.MaxConns, lcfg.MinConns = 1, 0
	listener, err := pgxpool.NewWithConfig(ctx, lcfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres store: listener pool: %w", err)
	}
	s := &Store{db: db, path: "postgres", dialect: Postgres, listener: listener, logger: o.logger}
	if err := db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// DB is the underlying pool, for River's driver (see RiverDriver) and
// tests. Everyone else goes through Store's methods.
func (s *Store) DB() *sql.DB { return s.db }

// OwnsQueue reports whether the process that opened this store is the only
// one working its job queue. On SQLite it is: one daemon owns a database
// file (an audit --record beside it records, but works no jobs), so at
// start every job still marked running was left so by a process that died
// and can be retried at once. On PostgreSQL several nodes share the queue:
// a job running at start may be another node's, and only River's rescuer
// may take it back.
func (s *Store) OwnsQueue() bool { return s.dialect != Postgres }

// Dialect is the engine behind the store.
func (s *Store) Dialect() Dialect { return s.dialect }

// RiverDriver is River's driver on this store's pool. Both are
// riverdriver.Driver[*sql.Tx], so the engine's River client and the
// store's transactions are the same types on both engines. On PostgreSQL
// River takes LISTEN connections from a small pgx pool of its own: new
// jobs and leadership changes arrive by NOTIFY instead of waiting for the
// next poll.
func (s *Store) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if s.dialect == Postgres {
		return riverdatabasesql.NewWithPgxListener(s.db, s.listener)
	}
	return riversqlite.New(s.db)
}

// Path is the database file, or "postgres".
func (s *Store) Path() string { return s.path }

// Close closes the database. River clients using it must be stopped first.
func (s *Store) Close() error {
	if s.listener != nil {
		s.listener.Close()
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %q: %w", s.path, err)
	}
	return nil
}

// InTx runs fn in one transaction and commits if fn returns nil. fn must
// do all its database work through tx (see the package comment).
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.failed(OpBegin, err)
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		if isDBError(err) {
			s.failed(OpWrite, err)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		s.failed(OpCommit, err)
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// migrate applies River's migrations and then ours so that a second
// process starting on the same database at the same moment waits, then
// finds everything applied.
//
// On SQLite everything runs in one transaction, which holds the write lock
// from BEGIN; a crash leaves the schema as it was. On PostgreSQL River's
// migrations cannot share one transaction (one adds an enum value that a
// later one uses), so the whole run holds a session advisory lock per
// schema instead; River applies each of its versions in a transaction,
// and ours run in one.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations(migrationFS)
	if err != nil {
		return err
	}
	migrator, err := rivermigrate.New(s.RiverDriver(), &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return fmt.Errorf("migrate job queue schema: %w", err)
	}
	var res *rivermigrate.MigrateResult
	var applied []migration
	if s.dialect == Postgres {
		unlock, err := s.migrationLock(ctx)
		if err != nil {
			return err
		}
		defer unlock()
		if res, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("migrate job queue schema: %w", err)
		}
		err = s.InTx(ctx, func(tx *sql.Tx) (err error) {
			applied, err = s.applyMigrations(ctx, tx, ms)
			return err
		})
		if err != nil {
			return err
		}
	} else {
		err = s.InTx(ctx, func(tx *sql.Tx) (err error) {
			// On SQLite the single write transaction is the lock that keeps two
			// processes opening a new file from migrating it twice; River's
			// SQLite migrations run fine inside it.
			//lint:ignore SA1019 one transaction is the migration lock on SQLite
			if res, err = migrator.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil); err != nil {
				return fmt.Errorf("migrate job queue schema: %w", err)
			}
			applied, err = s.applyMigrations(ctx, tx, ms)
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, v := range res.Versions {
		s.logger.Info("applied job queue migration", "version", v.Version, "name", v.Name)
	}
	for _, m := range applied {
		s.logger.Info("applied migration", "version", m.version, "name", m.name)
	}
	return nil
}

// migrationLock takes a session advisory lock, per schema, on a connection
// of its own and holds it until unlock.
func (s *Store) migrationLock(ctx context.Context) (unlock func(), err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: connection for the migration lock: %w", err)
	}
	const key = `hashtextextended('beianwatch.migrate.' || current_schema(), 0)`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+key+`)`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	return func() {
		// A fresh context: the lock must go even when ctx is done. If
		// the unlock fails, discarding the session releases it.
		uctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock(`+key+`)`); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %q: name must be NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		ms = append(ms, migration{version: v, name: m[2], sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	// Versions are numbered by whoever adds a migration, on branches
	// merged in any order: a version may be missing from a build (it is
	// applied when it arrives) but never used twice.
	for i, m := range ms {
		if m.version < 1 || i > 0 && m.version == ms[i-1].version {
			return nil, fmt.Errorf("migration %04d_%s: versions must be positive and unique", m.version, m.name)
		}
	}
	return ms, nil
}

// applyMigrations applies in tx, in order, each migration not yet
// recorded in schema_migrations, and returns those it applied.
func (s *Store) applyMigrations(ctx context.Context, tx *sql.Tx, ms []migration) ([]migration, error) {
	// The version is given, never generated: a plain key on both engines.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT  PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	current := 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read schema version: %w", err)
		}
		applied[v] = true
		current = max(current, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].version
	}
	if current > known {
		return nil, fmt.Errorf("database schema version %d is newer than this program knows (%d): refusing to run an older binary on it", current, known)
	}
	var done []migration
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		body := m.sql
		if s.dialect == Postgres {
			t, err := translateMigration(body)
			if err != nil {
				return nil, fmt.Errorf("apply migration %04d_%s: %w", m.version, m.name, err)
			}
			body = t
		}
		if _, err := tx.ExecContext(ctx, body); err != nil {
			return nil, fmt.Errorf("apply migration %04d_%s: %w", m.version, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return nil, fmt.Errorf("apply migration %04d_%s: %w", m.version, m.name, err)
		}
		done = append(done, m)
	}
	return done, nil
}

// SchemaVersion is the highest applied migration of our own schema.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Times are stored as Unix microseconds; NULL is the zero time.

func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}
