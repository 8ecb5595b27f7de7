package store

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// The kinds of change WatchChanges announces.
const (
	ChangeAny         = ""             // (re)connected: anything may have changed meanwhile
	ChangeNodeEvents  = "node-events"  // node events were written (role assignments, identities, ...)
	ChangeSigningKeys = "signing-keys" // UpdateSigningKeys wrote a change
)

// changesChannel is the channel PostgreSQL notifies (migration 0011, UpdateSigningKeys); the
// payload is "{schema}:{kind}".
const changesChannel = "lanyard_changes"

// ErrNoNotifications is WatchChanges' answer on a store that does not announce changes
// (SQLite): its users poll.
var ErrNoNotifications = errs.E(errs.Unavailable, "store: this store does not announce changes; poll it")

// Notifies reports whether WatchChanges works on this store (PostgreSQL).
func (db *DB) Notifies() bool { return db.pgcfg != nil }

// WatchChanges calls fn with the kind of every change committed to this installation's schema
// by any server, as PostgreSQL announces it (LISTEN/NOTIFY), until ctx is done; then it returns
// nil. It holds one connection of its own and reconnects after a failure (with backoff, logged);
// each time it (re)connects it calls fn(ChangeAny), since what was announced while it was away
// is lost. On SQLite it returns ErrNoNotifications at once.
func (db *DB) WatchChanges(ctx context.Context, log *slog.Logger, fn func(kind string)) error {
	if db.pgcfg == nil {
		return ErrNoNotifications
	}
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := db.listen(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > time.Minute {
			backoff = 100 * time.Millisecond
		}
		if log != nil {
			log.Warn("listening for the store's change notifications; reconnecting",
				slog.String("error", err.Error()), slog.Duration("retry_in", backoff))
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// listen runs one LISTEN connection until it fails or ctx is done.
func (db *DB) listen(ctx context.Context, fn func(kind string)) error {
	conn, err := pgx.ConnectConfig(ctx, db.pgcfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var schema string
	if err := conn.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+changesChannel); err != nil {
		return err
	}
	fn(ChangeAny)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if s, kind, ok := strings.Cut(n.Payload, ":"); ok && s == schema {
			fn(kind)
		}
	}
}

// notifyQuery announces a change of kind to every server of this installation when its
// transaction commits (PostgreSQL only).
const notifyQuery = `SELECT pg_notify('` + changesChannel + `', coalesce(current_schema(), '') || ':' || ?)`
