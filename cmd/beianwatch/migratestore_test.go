package main

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/internal/pgtest"
	"github.com/beianwatch/beianwatch/monitor/lifecycle"
	"github.com/beianwatch/beianwatch/monitor/store"
)

func TestMigrateStoreUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--from", "old.db", "--to", "postgres"}, nil, "sqlite:PATH"},
		{[]string{"--from", "sqlite:old.db", "--to", "mysql"}, nil, "--to must be postgres"},
		{[]string{"--from", "sqlite:old.db", "--to", "postgres"}, nil, "BEIANWATCH_DATABASE_URL is not set"},
		{[]string{"--from", "sqlite:" + filepath.Join(t.TempDir(), "absent.db"), "--to", "postgres"},
			map[string]string{"BEIANWATCH_DATABASE_URL": "postgres://u:hunter2@127.0.0.1:1/x"}, "absent.db"},
	} {
		var out, errb bytes.Buffer
		e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return tc.env[k] }}
		if code := cmdMigrateStore(context.Background(), e, tc.args); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitUsage)
		}
		if !strings.Contains(errb.String(), tc.want) || strings.Contains(errb.String(), "hunter2") {
			t.Errorf("%v: stderr %q, want it to mention %q and never the password", tc.args, errb.String(), tc.want)
		}
	}
}

// TestMigrateStoreToPostgres copies a store with an open violation and
// its notice into a new PostgreSQL schema.
func TestMigrateStoreToPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	src, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	cfg := lifecycle.DefaultConfig()
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for i := range 2 {
		err := src.InTx(ctx, func(tx *sql.Tx) error {
			_, err := src.RecordResults(ctx, tx, store.Batch{Now: now.Add(time.Duration(i) * time.Hour), Lifecycle: cfg,
				Results: []store.SiteResult{{Domain: "a.cn", At: now.Add(time.Duration(i) * time.Hour), Result: checks.Result{
					Check: "footer", Outcome: checks.Fail,
					Findings: []checks.Finding{{Code: "footer_link_missing", Severity: checks.Violation}}}}}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	src.Close()

	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string {
		if k == "BEIANWATCH_DATABASE_URL" {
			return dsn
		}
		return ""
	}}
	if code := cmdMigrateStore(ctx, e, []string{"--from", "sqlite:" + path, "--to", "postgres"}); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "violations       1 rows") || !strings.Contains(out.String(), "notices          1 rows") {
		t.Errorf("output %q does not report the copied violation and notice", out.String())
	}
	dst, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	vs, err := dst.Violations(ctx, store.ViolationFilter{Statuses: []lifecycle.Status{lifecycle.StatusOpen}})
	if err != nil || len(vs) != 1 || vs[0].Domain != "a.cn" {
		t.Errorf("open violations on PostgreSQL: %+v, %v", vs, err)
	}
	// Running it again refuses to merge into a database with a history.
	errb.Reset()
	if code := cmdMigrateStore(ctx, e, []string{"--from", "sqlite:" + path, "--to", "postgres"}); code != exitViolation ||
		!strings.Contains(errb.String(), "already holds") {
		t.Errorf("second copy: exit %d, %q; want a refusal", code, errb.String())
	}
}
