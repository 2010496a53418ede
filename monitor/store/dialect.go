package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Dialect is the SQL engine behind a Store. The store's SQL is written once,
// in the subset both engines accept (see docs/operations.md, "Several
// nodes"): `?` placeholders, ON CONFLICT, RETURNING, times as Unix
// microseconds in INTEGER columns, booleans as 0/1. What still differs is
// handled here: placeholders are rebound and migrations translated for
// PostgreSQL, and row locking is spelled per dialect.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// sqlSegment is a run of SQL text that is either code or something the
// rewriters must not touch (a quoted string or identifier, a comment).
type sqlSegment struct {
	text string
	code bool
}

// splitSQL cuts q into code and non-code segments. It knows '...' strings
// (a doubled quote escapes one), "..." identifiers, -- line comments and /* */ block
// comments; that is all the store's SQL uses.
func splitSQL(q string) []sqlSegment {
	var out []sqlSegment
	start := 0
	flush := func(end int, code bool) {
		if end > start {
			out = append(out, sqlSegment{text: q[start:end], code: code})
		}
		start = end
	}
	for i := 0; i < len(q); {
		var end int
		switch {
		case q[i] == '\'' || q[i] == '"':
			quote := q[i]
			end = i + 1
			for end < len(q) {
				if q[end] == quote {
					if end+1 < len(q) && q[end+1] == quote {
						end += 2
						continue
					}
					end++
					break
				}
				end++
			}
		case strings.HasPrefix(q[i:], "--"):
			end = strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q)
			} else {
				end += i
			}
		case strings.HasPrefix(q[i:], "/*"):
			end = strings.Index(q[i+2:], "*/")
			if end < 0 {
				end = len(q)
			} else {
				end += i + 4
			}
		default:
			i++
			continue
		}
		flush(i, true)
		flush(end, false)
		i = end
	}
	flush(len(q), true)
	return out
}

var dollarParam = regexp.MustCompile(`\$[0-9]`)

// rebind turns the `?` placeholders of q into PostgreSQL's $1, $2, ...
// Text that already uses $n placeholders is left alone: River's own
// queries go through the same connections and use them, and PostgreSQL's
// jsonb `?` operator must keep its meaning there. nargs guards the same
// case for a River query without parameters: q is rebound only when its
// `?` count equals the number of arguments (nargs < 0: unknown, as when
// preparing). The second result says whether q is a rebound store query.
func rebind(q string, nargs int) (string, bool) {
	if !strings.Contains(q, "?") {
		return q, false
	}
	segs := splitSQL(q)
	n := 0
	for _, s := range segs {
		if !s.code {
			continue
		}
		if dollarParam.MatchString(s.text) {
			return q, false
		}
		n += strings.Count(s.text, "?")
	}
	if n == 0 || (nargs >= 0 && n != nargs) {
		return q, false
	}
	var b strings.Builder
	b.Grow(len(q) + n*2)
	k := 0
	for _, s := range segs {
		if !s.code {
			b.WriteString(s.text)
			continue
		}
		for _, r := range s.text {
			if r == '?' {
				k++
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(k))
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String(), true
}

// Migration translation: our migrations are written for SQLite; these are
// the only constructs that differ for PostgreSQL. Anything else either
// means the same on both or is refused below, so a migration that would
// only work on one engine fails its test instead of a deployment.
var (
	pgRowidKey   = regexp.MustCompile(`(?i)\bINTEGER\s+PRIMARY\s+KEY\b`)
	pgInteger    = regexp.MustCompile(`(?i)\bINTEGER\b`)
	pgBlob       = regexp.MustCompile(`(?i)\bBLOB\b`)
	pgReal       = regexp.MustCompile(`(?i)\bREAL\b`)
	pgWithoutRow = regexp.MustCompile(`(?i)\)\s*WITHOUT\s+ROWID\b`)
	// Constructs with no portable meaning in a migration.
	unportable = []struct {
		re  *regexp.Regexp
		why string
	}{
		{regexp.MustCompile(`(?i)\bAUTOINCREMENT\b`), "AUTOINCREMENT (an id INTEGER PRIMARY KEY is enough)"},
		{regexp.MustCompile(`(?i)\bINSERT\s+OR\b`), "INSERT OR ... (use ON CONFLICT)"},
		{regexp.MustCompile(`(?i)\bREPLACE\s+INTO\b`), "REPLACE INTO (use ON CONFLICT ... DO UPDATE)"},
		{regexp.MustCompile(`(?i)\b(datetime|strftime|julianday|unixepoch)\s*\(`), "SQLite date functions (times are Unix microseconds)"},
		{regexp.MustCompile(`(?i)\bPRAGMA\b`), "PRAGMA"},
		{regexp.MustCompile(`(?i)\bSERIAL\b|\bBIGSERIAL\b|::`), "PostgreSQL-only syntax"},
	}
)

// translateMigration rewrites a migration written for SQLite into
// PostgreSQL: a rowid alias `INTEGER PRIMARY KEY` becomes an identity
// column (both hand out ids when the insert leaves id out), INTEGER becomes
// BIGINT (times are Unix microseconds and overflow int4), BLOB becomes
// BYTEA, REAL DOUBLE PRECISION, and WITHOUT ROWID goes. Comments and
// string literals are kept as they are.
func translateMigration(q string) (string, error) {
	if err := checkPortable(q); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, s := range splitSQL(q) {
		if !s.code {
			b.WriteString(s.text)
			continue
		}
		t := pgRowidKey.ReplaceAllString(s.text, "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
		t = pgWithoutRow.ReplaceAllString(t, ")")
		t = pgInteger.ReplaceAllString(t, "BIGINT")
		t = pgBlob.ReplaceAllString(t, "BYTEA")
		t = pgReal.ReplaceAllString(t, "DOUBLE PRECISION")
		b.WriteString(t)
	}
	return b.String(), nil
}

// checkPortable refuses, in the code parts of q, what only one engine
// understands.
func checkPortable(q string) error {
	for _, s := range splitSQL(q) {
		if !s.code {
			continue
		}
		for _, u := range unportable {
			if u.re.MatchString(s.text) {
				return fmt.Errorf("not portable between SQLite and PostgreSQL: %s", u.why)
			}
		}
	}
	return nil
}

// lockSites takes the locks of domains (see loadStates) in one order, up
// front: two batches sharing sites (a footer and a shell batch of the same
// sites) would otherwise deadlock by taking them in different orders.
func (s *Store) lockSites(ctx context.Context, tx *sql.Tx, domains []string) error {
	if s.dialect != Postgres {
		return nil
	}
	sorted := slices.Clone(domains)
	slices.Sort(sorted)
	for _, d := range slices.Compact(sorted) {
		if err := s.lockTx(ctx, tx, "site", d); err != nil {
			return err
		}
	}
	return nil
}

// lockTx serialises, until tx ends, the transactions that name the same
// (kind, key), across every node on the database. On SQLite it does
// nothing: a write transaction there holds the database's one write lock
// from BEGIN (see Open's _txlock=immediate).
func (s *Store) lockTx(ctx context.Context, tx *sql.Tx, kind, key string) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, "beianwatch."+kind+"."+key); err != nil {
		return fmt.Errorf("lock %s %s: %w", kind, key, err)
	}
	return nil
}

// JSONField is the SQL expression for the text of key in the JSON column
// col (River keeps job args as JSON: text on SQLite, jsonb on PostgreSQL).
// key must be a plain identifier written by the program, never input.
func (d Dialect) JSONField(col, key string) string {
	if d == Postgres {
		return col + "->>'" + key + "'"
	}
	return "json_extract(" + col + ", '$." + key + "')"
}
