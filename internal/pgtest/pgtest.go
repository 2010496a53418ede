// Package pgtest gives each test its own PostgreSQL schema on the server
// named by BEIANWATCH_TEST_DATABASE_URL, so that suites run against
// PostgreSQL in parallel without seeing each other's rows.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvURL names the variable holding the test server's connection string.
const EnvURL = "BEIANWATCH_TEST_DATABASE_URL"

// Available says whether PostgreSQL tests can run.
func Available() bool { return os.Getenv(EnvURL) != "" }

// Skip skips t when no test server is configured, or fails it when the
// integration tests are required (CI).
func Skip(t testing.TB) {
	t.Helper()
	if Available() {
		return
	}
	if os.Getenv("BEIANWATCH_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("%s is not set and BEIANWATCH_REQUIRE_INTEGRATION=1", EnvURL)
	}
	t.Skipf("%s not set: PostgreSQL tests skipped", EnvURL)
}

// Schema creates an empty schema, dropped with everything in it when t
// ends, and returns a connection string whose search_path is that schema.
func Schema(t testing.TB) string {
	t.Helper()
	Skip(t)
	base := os.Getenv(EnvURL)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create test schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("drop test schema: %v", err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `DROP SCHEMA `+name+` CASCADE`); err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
		}
	})
	return WithSearchPath(t, base, name)
}

// WithSearchPath returns dsn (URL or key=value form) with its search_path
// set to schema.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("%s is not a valid URL", EnvURL)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}
