package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// dialect is what differs between SQLite and PostgreSQL. Everything else, including every
// statement, is shared: the SQL is written once, with ? placeholders.
type dialect struct {
	name string
	// numbered placeholders: ? becomes $1, $2, ...
	numbered bool
	// lock takes a transaction-scoped lock named by its one argument; "" when BEGIN already
	// excludes every other writer (SQLite's BEGIN IMMEDIATE).
	lock string
	// forUpdate is appended to a SELECT whose rows the transaction goes on to update, so that
	// concurrent transactions queue on them; "" when BEGIN already did that.
	forUpdate string
	// indexed is true when the dialect takes "INDEXED BY" (SQLite), so that a query can insist on
	// an index its planner, without statistics, passes over (see indexedBy).
	indexed bool
	// binary follows a text column that is compared by ranges in code point order: "" where that
	// is already the order (SQLite's BINARY), ` COLLATE "C"` on PostgreSQL.
	binary string

	rebound sync.Map // query with ? → query with $n
}

var (
	sqliteDialect   = &dialect{name: "sqlite", indexed: true}
	postgresDialect = &dialect{
		name:     "postgres",
		numbered: true,
		lock: "SELECT pg_advisory_xact_lock(hashtextextended(" +
			"'lanyard.' || CAST(? AS text) || '.' || coalesce(current_schema(), ''), 0))",
		forUpdate: " FOR UPDATE",
		binary:    ` COLLATE "C"`,
	}
)

// indexedBy is " INDEXED BY index" where the dialect has it, "" elsewhere: PostgreSQL's planner
// chooses by its statistics.
func (d *dialect) indexedBy(index string) string {
	if !d.indexed {
		return ""
	}
	return " INDEXED BY " + index
}

// rebind turns the ? placeholders of query into the dialect's, leaving quoted text alone.
func (d *dialect) rebind(query string) string {
	if !d.numbered || !strings.Contains(query, "?") {
		return query
	}
	if q, ok := d.rebound.Load(query); ok {
		return q.(string)
	}
	var b strings.Builder
	n := 0
	var quote byte // the quote character we are inside, or 0
	for i := 0; i < len(query); i++ {
		ch := query[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(ch)
	}
	q := b.String()
	d.rebound.Store(query, q)
	return q
}

// fail wraps a driver error as an errs.Error: Unavailable when the database could not be reached
// or was too busy (worth retrying), Internal otherwise. what says what was being done.
func fail(err error, what string) error {
	if kindOf(err) == errs.Unavailable {
		return errs.Wrap(errs.Unavailable, err, "store: "+what+": database unavailable")
	}
	return errs.Wrap(errs.Internal, err, "store: "+what)
}

func kindOf(err error) errs.Kind {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return errs.Unavailable
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "40"), // serialization failure, deadlock: retry
			strings.HasPrefix(pe.Code, "53"), // insufficient resources
			strings.HasPrefix(pe.Code, "57"): // operator intervention (shutdown, cancel)
			return errs.Unavailable
		}
		return errs.Internal
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) {
		return errs.Unavailable
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY:
			return errs.Unavailable
		}
	}
	return errs.Internal
}
