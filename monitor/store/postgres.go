package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// rebindConnector opens pgx connections whose statements are rebound from
// `?` to `$n` (see rebind). Rebinding in the driver, not in the store's
// methods, means every statement on the pool and on its *sql.Tx goes
// through it, whoever writes it, and River's own statements (already $n)
// pass unchanged.
type rebindConnector struct {
	inner driver.Connector
}

func (c rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := conn.(*stdlib.Conn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("postgres connection: unexpected driver connection %T", conn)
	}
	return rebindConn{pc}, nil
}

func (c rebindConnector) Driver() driver.Driver { return c.inner.Driver() }

// rebindConn is a pgx stdlib connection with rebinding. Embedding keeps
// every optional interface pgx implements (BeginTx, Ping, ResetSession,
// CheckNamedValue, ...).
type rebindConn struct {
	*stdlib.Conn
}

func (c rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	q, _ := rebind(query, -1)
	return c.Conn.PrepareContext(ctx, q)
}

func (c rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	q, ours := rebind(query, len(args))
	if ours {
		args = intBools(args)
	}
	return c.Conn.ExecContext(ctx, q, args)
}

func (c rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ours := rebind(query, len(args))
	if ours {
		args = intBools(args)
	}
	return c.Conn.QueryContext(ctx, q, args)
}

// intBools passes Go booleans as 0/1: the portable schema keeps booleans
// in INTEGER columns, which SQLite's driver fills from a bool and
// PostgreSQL refuses to.
func intBools(args []driver.NamedValue) []driver.NamedValue {
	var out []driver.NamedValue
	for i, a := range args {
		b, ok := a.Value.(bool)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]driver.NamedValue(nil), args...)
		}
		out[i].Value = int64(0)
		if b {
			out[i].Value = int64(1)
		}
	}
	if out == nil {
		return args
	}
	return out
}

// openPostgres opens a pool on dsn (a libpq URL or key=value string) with
// rebinding.
func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the connection string, password
		// included: say what is wrong without it.
		return nil, fmt.Errorf("parse the PostgreSQL connection string: %s", redactParseError(err))
	}
	return sql.OpenDB(rebindConnector{stdlib.GetConnector(*cfg)}), nil
}

// redactParseError keeps the reason of a DSN parse error and drops the
// DSN, which pgconn quotes as "cannot parse `<dsn>`: <reason>".
func redactParseError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "`: "); i >= 0 {
		return "cannot parse connection string: " + msg[i+3:]
	}
	return "cannot parse connection string"
}
