package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/lanyardhq/lanyard/internal/errs"
)

// DB is Lanyard's database, SQLite or PostgreSQL. It is safe for concurrent use, also by several
// servers sharing one PostgreSQL database.
type DB struct {
	sql *sql.DB
	// pgcfg is the PostgreSQL connection's configuration, for the LISTEN connection of
	// WatchChanges (notify.go); nil for SQLite.
	pgcfg *pgx.ConnConfig

	d *dialect
	// hot holds the statements of hotPool, prepared once: the reads of the token, RBAC and vault
	// hot paths, and the audit insert. Keyed by the rebound query.
	hot sync.Map // query → *sql.Stmt
	// writer admits one SQLite write transaction at a time. SQLite has a single writer anyway;
	// queueing here instead of in SQLite's busy handler (which polls with sleeps of up to 100 ms)
	// keeps writers in order and their latency low under load. nil for PostgreSQL.
	writer chan struct{}

	// BeforeCommit is a failure-injection hook for tests; production leaves it nil. When set, every
	// write transaction calls it just before committing, with the name of the operation, which is
	// the name of the method: "CreateTenant", "UpdateSigningKeys", "AppendAudit", "CreateCA",
	// "ReplaceSealed", "TryLease", "ReleaseLease". If it returns an error the transaction is rolled
	// back and the method returns that error, so a test can prove that a multi-step operation
	// leaves nothing behind when it fails. Set it before the DB is shared between goroutines; it
	// may be called from several goroutines at once. Migrations run inside Open, before any hook
	// can be set, and never call it.
	BeforeCommit func(op string) error

	// journal takes the audit chain's appends on SQLite when Options.AuditJournal is set
	// (auditjournal.go); nil otherwise.
	journal *auditJournal
	// journalLock is the journal's lock file, held shared, when the database is open without
	// the journal (auditjournal.go).
	journalLock *os.File
	// mintMemo is what mints read at the latest mint generation seen (mintmemo.go).
	mintMemo atomic.Pointer[mintMemo]
	// sqlitePath and sqliteFull are the SQLite database's file and whether it syncs every
	// commit (synchronous full).
	sqlitePath string
	sqliteFull bool
}

const dsnHelp = "(use sqlite:PATH or postgres://...)"

// sqlitePragmas are applied to every SQLite connection: write-ahead log, foreign keys, wait up to
// 10s for the write lock, fsync at checkpoints only, and BEGIN IMMEDIATE so that a write
// transaction holds the single writer's lock from its start (no upgrade deadlocks, and the
// transaction is the installation-wide lock that UpdateSigningKeys and AppendAudit need).
const sqlitePragmas = "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
	"&_txlock=immediate&_pragma=synchronous("

// Options adjust how Open connects.
type Options struct {
	// SQLiteSynchronous is SQLite's synchronous setting, "normal" (the default: WAL commits
	// survive a crash of the process, the last ones may be lost on a power loss) or "full" (the
	// WAL is synced at every commit). PostgreSQL ignores it: its durability is the server's
	// (synchronous_commit).
	SQLiteSynchronous string
	// AuditJournal makes audit appends go to a journal next to the SQLite database, folded into
	// it in the background (auditjournal.go), instead of a transaction each. One process at a
	// time may hold a database's journal, and no other process may use the database meanwhile.
	// PostgreSQL ignores it. Without it, a journal left by an earlier process is still folded in
	// when the database is opened.
	AuditJournal bool
}

// Open connects to the database dsn names and brings its schema up to date.
//
// dsn is either sqlite:PATH (the file is created, mode 0600, with its parent directory, mode
// 0700, when missing) or a PostgreSQL URL, postgres://... or postgresql://... (any pgx
// parameter, such as sslmode or search_path, may be given). A malformed DSN is errs.Invalid, as
// is a database whose schema is newer than this binary knows; an unreachable database is
// errs.Unavailable.
func Open(ctx context.Context, dsn string) (*DB, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (*DB, error) {
	db, err := open(dsn, o)
	if err != nil {
		return nil, err
	}
	exclusive := false
	if db.sqlitePath != "" {
		if db.journalLock, exclusive, err = lockJournal(db.sqlitePath, o.AuditJournal); err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.backfillNameKeys(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if db.journalLock != nil {
		if db.journal, err = openJournal(ctx, db, db.sqlitePath, db.journalLock, exclusive, db.sqliteFull, o.AuditJournal); err != nil {
			db.Close()
			return nil, err
		}
		if db.journal != nil {
			db.journalLock = nil // the journal holds it
		}
	}
	return db, nil
}

func open(dsn string, o Options) (*DB, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	switch {
	case strings.TrimSpace(dsn) == "":
		return nil, errs.E(errs.Invalid, "store: empty DSN %s", dsnHelp)
	case !ok:
		return nil, errs.E(errs.Invalid, "store: DSN has no scheme %s", dsnHelp)
	case scheme == "sqlite":
		return openSQLite(rest, o.SQLiteSynchronous)
	case scheme == "postgres" || scheme == "postgresql":
		return openPostgres(dsn)
	}
	return nil, errs.E(errs.Invalid, "store: unsupported DSN scheme %q %s", scheme, dsnHelp)
}

func openSQLite(path, synchronous string) (*DB, error) {
	switch strings.ToLower(synchronous) {
	case "", "normal":
		synchronous = "NORMAL"
	case "full":
		synchronous = "FULL"
	default:
		return nil, errs.E(errs.Invalid, "store: SQLite synchronous must be normal or full, not %q", synchronous)
	}
	switch {
	case path == "":
		return nil, errs.E(errs.Invalid, "store: sqlite DSN has no path (use sqlite:PATH)")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, errs.E(errs.Invalid, "store: sqlite DSN must name a file path, not %q", path)
	case strings.Contains(path, "?"):
		return nil, errs.E(errs.Invalid, "store: sqlite path must not contain '?' (Lanyard sets the connection options itself)")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "store: cannot create the database directory")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "store: cannot open the database file")
	}
	f.Close()
	// The file may predate us with a laxer mode. SQLite gives the -wal and -shm files the mode of
	// the database file.
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "store: cannot restrict the database file's mode")
	}
	sdb, err := sql.Open("sqlite", path+sqlitePragmas+synchronous+")")
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "store: cannot open SQLite database")
	}
	// Opening a connection runs the pragmas and reads the schema: keep enough idle ones for a
	// busy server (database/sql keeps 2), so that concurrent requests do not open and close one each.
	sdb.SetMaxIdleConns(16)
	return &DB{sql: sdb, d: sqliteDialect, writer: make(chan struct{}, 1), sqlitePath: path, sqliteFull: synchronous == "FULL"}, nil
}

func openPostgres(dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "store: cannot parse the PostgreSQL DSN")
	}
	sdb := stdlib.OpenDB(*cfg)
	sdb.SetMaxIdleConns(8)
	sdb.SetConnMaxIdleTime(5 * time.Minute)
	return &DB{sql: sdb, d: postgresDialect, pgcfg: cfg}, nil
}

// Close folds the audit journal's events into the database (what it cannot fold is folded at the
// next open) and closes every connection.
func (db *DB) Close() error {
	var jerr error
	if db.journal != nil {
		jerr = db.journal.close() // appends after this are refused
	}
	err := db.sql.Close()
	if db.journalLock != nil {
		db.journalLock.Close()
		db.journalLock = nil
	}
	return errors.Join(jerr, err)
}

// Ping checks that the database answers; errs.Unavailable if not.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return errs.Wrap(errs.Unavailable, err, "store: cannot reach the database")
	}
	return nil
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.name }

// Lock names for dialect.lock. On PostgreSQL each becomes an advisory lock key, scoped to the
// current schema so that installations sharing one database do not wait on each other.
const (
	lockMigrate     = "migrate"
	lockSigningKeys = "signing-keys"
)

// inTx runs fn in one write transaction, holding the named lock if lock is not "", and commits
// unless fn or BeforeCommit fails. fn's error is returned as it is.
func (db *DB) inTx(ctx context.Context, op, lock string, fn func(c conn) error) (err error) {
	if db.writer != nil {
		select {
		case db.writer <- struct{}{}:
			defer func() { <-db.writer }()
		case <-ctx.Done():
			return fail(ctx.Err(), op+": wait to write")
		}
	}
	if op == "AppendAudit" { // the hot write: one per group of audited requests
		ctx = db.uncancelled(ctx)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fail(err, op+": begin")
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	c := conn{q: tx, d: db.d}
	if lock != "" && db.d.lock != "" {
		if _, err := c.exec(ctx, db.d.lock, lock); err != nil {
			return fail(err, op+": lock "+lock)
		}
	}
	if err := fn(c); err != nil {
		return err
	}
	// The journal's fold runs in the background, where tests change BeforeCommit: it never reads it.
	if op != opMigrate && op != opFoldJournal && db.BeforeCommit != nil {
		if err := db.BeforeCommit(op); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fail(err, op+": commit")
	}
	return nil
}

// querier runs SQL: *sql.DB, *sql.Tx or preparedQ.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs SQL written with ? placeholders on the pool or in a transaction.
type conn struct {
	q querier
	d *dialect
}

func (db *DB) pool() conn { return conn{q: db.sql, d: db.d} }

// hotPool is pool with every statement prepared once per DB and kept: for the reads of the token
// hot paths, where parsing a query each time costs about as much as running it. Only fixed query
// strings belong here (the cache is never pruned).
func (db *DB) hotPool() conn { return conn{q: preparedQ{db: db}, d: db.d} }

// hotTx is c with every statement prepared once per DB and kept, as in hotPool, when c is a
// transaction: the statements are bound to it (database/sql prepares each once per connection
// and closes the bound copies with the transaction). Only fixed query strings belong here.
func (db *DB) hotTx(c conn) conn {
	if tx, ok := c.q.(*sql.Tx); ok {
		return conn{q: preparedQ{db: db, tx: tx}, d: c.d}
	}
	return c
}

// preparedQ runs already-rebound queries as the DB's cached prepared statements, on the pool or,
// when tx is set, bound to that transaction; a query that cannot be prepared runs unprepared (and
// the error, if it persists, comes from that run).
type preparedQ struct {
	db *DB
	tx *sql.Tx
}

// stmt returns query's cached statement (bound to tx when there is one), or nil.
func (p preparedQ) stmt(ctx context.Context, query string) *sql.Stmt {
	st := p.db.prepared(ctx, query)
	if st != nil && p.tx != nil {
		return p.tx.StmtContext(ctx, st)
	}
	return st
}

// prepared returns query prepared on the pool, once per DB, or nil if it cannot be prepared.
func (db *DB) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := db.hot.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := db.sql.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := db.hot.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

// direct is what runs a query that could not be prepared: the transaction, else the pool.
func (p preparedQ) direct() querier {
	if p.tx != nil {
		return p.tx
	}
	return p.db.sql
}

// uncancelled is ctx without its cancellation on SQLite, for the hot statements: the SQLite
// driver starts a goroutine per statement to watch a cancellable context (and database/sql one
// per transaction), which costs more than these statements, each well under a millisecond
// (writes wait for the busy timeout at most). PostgreSQL keeps ctx.
func (db *DB) uncancelled(ctx context.Context) context.Context {
	if db.writer == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

func (p preparedQ) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = p.db.uncancelled(ctx)
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.direct().ExecContext(ctx, query, args...)
}

func (p preparedQ) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = p.db.uncancelled(ctx)
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.direct().QueryContext(ctx, query, args...)
}

func (p preparedQ) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = p.db.uncancelled(ctx)
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.direct().QueryRowContext(ctx, query, args...)
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, c.d.rebind(query), args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// execOne runs a statement that must change exactly one row; it reports whether it did.
func (c conn) execOne(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n > 1 {
		return false, errors.New("statement changed more than one row")
	}
	return n == 1, nil
}

// Times are unix microseconds. The zero time.Time is 0 in NOT NULL columns (micros) and NULL in
// the others (nullMicros); both read back as the zero time.Time.

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid || v.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}
