package server

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// openCheckpoints loads the audit checkpoint signing key (made and sealed under the KEK on the
// first start of the first server; every server of a store shares it) and builds the
// checkpointer that Serve runs.
func (s *Server) openCheckpoints(ctx context.Context) error {
	open := func(id string, sealed []byte) (ed25519.PrivateKey, error) {
		seed, err := s.KEK.Open(sealed, seal.AD{Table: "audit_checkpoint_keys", ID: id, Purpose: "private-key"})
		if err != nil {
			return nil, err
		}
		if len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("the sealed key is %d bytes, not %d", len(seed), ed25519.SeedSize)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	id, _, sealed, err := s.DB.AuditCheckpointKey(ctx, func() (string, []byte, string, []byte, error) {
		pub, priv, err := ed25519.GenerateKey(s.rand)
		if err != nil {
			return "", nil, "", nil, err
		}
		id := audit.CheckpointKeyID(pub)
		blob, err := s.KEK.Seal(s.rand, priv.Seed(), seal.AD{Table: "audit_checkpoint_keys", ID: id, Purpose: "private-key"})
		return id, pub, s.KEK.ID(), blob, err
	})
	if err != nil {
		return fmt.Errorf("audit checkpoint key: %w", err)
	}
	key, err := open(id, sealed)
	if err != nil {
		return fmt.Errorf("audit checkpoint key %s: %w", id, err)
	}
	s.Checkpoints = &audit.Checkpointer{Store: s.DB, Key: key, Interval: s.cfg.Audit.CheckpointInterval.Std(), Log: s.log, Now: s.now}
	return nil
}

// openRetention builds audit retention and the event stream from the configuration.
func (s *Server) openRetention() error {
	c := s.cfg.Audit
	dir := c.ExportDir
	if dir == "" {
		dir = filepath.Join(s.cfg.DataDir, "audit")
	}
	host, _ := os.Hostname()
	s.Retention = &audit.Retention{
		Store: s.DB, Dir: dir, MaxAge: c.RetentionMaxAge.Std(), MaxEvents: c.RetentionMaxEvents,
		Signer: s.Checkpoints, Server: host, Log: s.log, Now: s.now,
	}
	if c.Stream != "" {
		st, err := audit.OpenStream(c.Stream, s.log)
		if err != nil {
			return err
		}
		s.Audit.Stream = st
	}
	return nil
}
