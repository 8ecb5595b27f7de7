package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Migrations are numbered SQL files, one directory per dialect: migrations/{sqlite,postgres}/
// NNNN_name.sql, numbered 1, 2, 3 ... without gaps, the same numbers and names in both. Each is
// applied in its own transaction, under the migration lock, and recorded in schema_version. A
// migration, once released, is never edited: a change is a new file.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int
	name    string // file name without the number and .sql
	sql     string
}

const opMigrate = "migrate"

const createSchemaVersion = `CREATE TABLE IF NOT EXISTS schema_version (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at BIGINT  NOT NULL
)`

// migrations returns the dialect's migrations in order.
func migrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration file %s/%s is not named NNNN_name.sql", dir, e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations in %s: want version %d, found %d", dir, i+1, m.version)
		}
	}
	return ms, nil
}

// migrate applies the migrations the database lacks, one transaction each. Every step takes the
// migration lock and re-reads the version, so servers opening one PostgreSQL database at the same
// time apply each migration once, in order.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations(db.d.name)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "store: embedded migrations")
	}
	latest := len(ms)
	for {
		done := false
		err := db.inTx(ctx, opMigrate, lockMigrate, func(c conn) error {
			if _, err := c.exec(ctx, createSchemaVersion); err != nil {
				return fail(err, "create schema_version")
			}
			cur, err := schemaVersion(ctx, c)
			if err != nil {
				return err
			}
			if cur > latest {
				return errs.E(errs.Invalid, "store: database schema version %d is newer than this lanyard knows (%d); upgrade lanyard", cur, latest)
			}
			if cur == latest {
				done = true
				return nil
			}
			m := ms[cur]
			// Not through c.exec: a migration is run as written, never rebound.
			if _, err := c.q.ExecContext(ctx, m.sql); err != nil {
				return fail(err, fmt.Sprintf("apply migration %04d_%s", m.version, m.name))
			}
			if _, err := c.exec(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMicro()); err != nil {
				return fail(err, "record schema version")
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

func schemaVersion(ctx context.Context, c conn) (int, error) {
	var v int
	if err := c.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return 0, fail(err, "read schema version")
	}
	return v, nil
}

// SchemaVersion returns the number of the last migration applied to the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, db.pool())
}
