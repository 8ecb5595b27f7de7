package vault

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
)

// PurgeLease is the lease one server at a time holds to purge.
const PurgeLease = "vault-purge"

// purgeBatch bounds one purge transaction.
const purgeBatch = 100

// RunPurge purges, every interval, the deleted secrets whose retention period has ended, on the
// server that holds the purge lease, until ctx ends. Each purge is audited as the system's.
func (s *Service) RunPurge(ctx context.Context, interval time.Duration) error {
	if s.holder == "" {
		var b [8]byte
		if _, err := io.ReadFull(s.rand(), b[:]); err != nil {
			return err
		}
		s.holder = hex.EncodeToString(b[:])
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.PurgeOnce(ctx, interval); err != nil && ctx.Err() == nil && s.Log != nil {
			s.Log.LogAttrs(ctx, slog.LevelWarn, "vault purge failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// PurgeOnce takes (or renews) the purge lease, for three intervals, and if it got it purges
// every deleted secret that is due. It returns how many it purged.
func (s *Service) PurgeOnce(ctx context.Context, interval time.Duration) (int, error) {
	if s.holder == "" {
		s.holder = "single"
	}
	now := s.now()
	ok, err := s.Store.TryLease(ctx, PurgeLease, s.holder, 3*interval, now)
	if err != nil || !ok {
		return 0, err
	}
	n := 0
	for {
		done, err := s.Store.PurgeDueSecrets(ctx, now, purgeBatch)
		if err != nil {
			return n, err
		}
		for _, v := range done {
			if s.Audit != nil {
				_, _ = s.Audit.Record(ctx, audit.Event{Actor: "system", Action: "vault.secret.purge", Target: v.VaultKey + "/secrets/" + v.Name,
					Result: audit.Success, Detail: "retention period ended"})
			}
		}
		n += len(done)
		if len(done) < purgeBatch {
			return n, nil
		}
	}
}
