package server

import (
	"context"
	"time"

	"github.com/lanyardhq/lanyard/internal/store"
)

// Changes made on one server reach the others through the store. On PostgreSQL the store
// announces them (LISTEN/NOTIFY): node events wake the events long polls at once, and a change
// of the signing keys makes the token service read them at once; polling stays only as a
// fallback. On SQLite, one server owns the file and polls it (nodes.PollEvery, the keys' watch).

// notifiedPoll is how often the node events are polled when the store announces changes: only
// to cover notifications lost while the listening connection was down (it also re-reads
// everything when it reconnects).
const notifiedPoll = 5 * time.Second

// watchChanges dispatches the store's change notifications until ctx is done; on a store that
// does not announce changes it returns at once.
func (s *Server) watchChanges(ctx context.Context) error {
	if !s.DB.Notifies() {
		return nil
	}
	return s.DB.WatchChanges(ctx, s.log, func(kind string) {
		switch kind {
		case store.ChangeNodeEvents:
			s.Nodes.Changed()
		case store.ChangeSigningKeys:
			s.Tokens.KeysChanged()
		case store.ChangeAny:
			s.Nodes.Changed()
			s.Tokens.KeysChanged()
		}
	})
}
