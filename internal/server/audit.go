package server

import (
	"context"
	"os"
	"path/filepath"

	"github.com/lanyardhq/lanyard/internal/audit"
)

// openCheckpoints builds the checkpointer that Serve runs, with the installation's checkpoint
// key (audit.LoadOrCreateCheckpointKey).
func (s *Server) openCheckpoints(ctx context.Context) error {
	key, err := audit.LoadOrCreateCheckpointKey(ctx, s.DB, s.KEK, s.rand)
	if err != nil {
		return err
	}
	s.Checkpoints = &audit.Checkpointer{Store: s.DB, Key: key, Interval: s.cfg.Audit.CheckpointInterval.Std(), Log: s.log, Now: s.now}
	return nil
}

// openRetention builds audit retention, the fold of the audit log's filter keys and the event
// stream from the configuration.
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
	s.Folder = &audit.Folder{Store: s.DB, Log: s.log}
	if c.Stream != "" {
		st, err := audit.OpenStream(c.Stream, s.log)
		if err != nil {
			return err
		}
		s.Audit.Stream = st
	}
	return nil
}
