package vault

import (
	"context"
	"encoding/hex"
	"errors"
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
	holder, err := s.leaseHolder()
	if err != nil {
		return 0, err
	}
	now := s.now()
	ok, err := s.Store.TryLease(ctx, PurgeLease, holder, 3*interval, now)
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

// leaseHolder is this service's random purge-lease holder id, made once.
func (s *Service) leaseHolder() (string, error) {
	s.holderOnce.Do(func() {
		var b [8]byte
		if _, err := io.ReadFull(s.rand(), b[:]); err == nil {
			s.holder = hex.EncodeToString(b[:])
		}
	})
	if s.holder == "" {
		return "", errors.New("vault: no randomness for the purge lease holder id")
	}
	return s.holder, nil
}
