package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// copyFirst are tables that must be copied in this order for their
// foreign keys (notices before the transitions and attempts that name
// them); every other table of ours follows, by name. River's tables are not
// copied: queued notices get their delivery jobs again from the engine's
// orphan rescue, and the dispatcher's progress is in dispatch_state.
var copyFirst = []string{"results", "runs", "violations", "notices", "transitions", "notice_attempts"}

// tables lists our tables (not River's, not schema_migrations) in copy
// order.
func (s *Store) tables(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if s.dialect == Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	have := map[string]bool{}
	var rest []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if strings.HasPrefix(t, "river_") || strings.HasPrefix(t, "sqlite_") || t == "schema_migrations" {
			continue
		}
		have[t] = true
		if !slices.Contains(copyFirst, t) {
			rest = append(rest, t)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	sort.Strings(rest)
	var out []string
	for _, t := range copyFirst {
		if have[t] {
			out = append(out, t)
		}
	}
	return append(out, rest...), nil
}

// CopyTo copies the daemon's state, history and audit trail (violations,
// transitions, notices and their attempts, runs, results, the storm and
// dispatch memory, the phone cache) from s into dst, in one transaction on
// dst, keeping ids. dst must have no violations, notices or transitions
// yet: a copy never merges two histories. It returns the rows copied per
// table. Stop every daemon on s first.
func (s *Store) CopyTo(ctx context.Context, dst *Store) (map[string]int64, error) {
	for _, t := range []string{"violations", "notices", "transitions"} {
		var n int
		if err := dst.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("copy store: inspect the target's %s: %w", t, err)
		}
		if n > 0 {
			return nil, fmt.Errorf("copy store: the target already holds %d rows in %s; copy into a new database", n, t)
		}
	}
	sv, err := s.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy store: %w", err)
	}
	dv, err := dst.SchemaVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy store: %w", err)
	}
	if sv != dv {
		return nil, fmt.Errorf("copy store: the source's schema is version %d, the target's %d; open the source with this binary first", sv, dv)
	}
	tables, err := s.tables(ctx)
	if err != nil {
		return nil, fmt.Errorf("copy store: %w", err)
	}
	out := map[string]int64{}
	err = dst.InTx(ctx, func(tx *sql.Tx) error {
		for _, t := range tables {
			// The target was just migrated: forget what start-up wrote
			// (nothing today), so the copy is the whole state.
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+t); err != nil {
				return fmt.Errorf("copy %s: clear the target: %w", t, err)
			}
			n, err := copyTable(ctx, s.db, tx, t)
			if err != nil {
				return fmt.Errorf("copy %s: %w", t, err)
			}
			out[t] = n
		}
		if dst.dialect == Postgres {
			ids, err := tx.QueryContext(ctx, `SELECT table_name FROM information_schema.columns
				WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'`)
			if err != nil {
				return fmt.Errorf("copy store: find id counters: %w", err)
			}
			var identity []string
			for ids.Next() {
				var t string
				if err := ids.Scan(&t); err != nil {
					ids.Close()
					return fmt.Errorf("copy store: find id counters: %w", err)
				}
				identity = append(identity, t)
			}
			ids.Close()
			for _, t := range identity {
				if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'),
					(SELECT COALESCE(MAX(id), 0) + 1 FROM `+t+`), false)`); err != nil {
					return fmt.Errorf("copy %s: move its id counter past the copied rows: %w", t, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func copyTable(ctx context.Context, from *sql.DB, to *sql.Tx, table string) (int64, error) {
	rows, err := from.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, fmt.Errorf("read: %w", err)
	}
	ins, err := to.PrepareContext(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (?`+
		strings.Repeat(", ?", len(cols)-1)+`)`)
	if err != nil {
		return 0, fmt.Errorf("prepare: %w", err)
	}
	defer ins.Close()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("read row %d: %w", n+1, err)
		}
		for i, v := range vals {
			// SQLite hands TEXT back as string, but a driver may give
			// []byte; every copied column is TEXT or INTEGER.
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return n, fmt.Errorf("write row %d: %w", n+1, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("read: %w", err)
	}
	return n, nil
}
