package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/admin"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Callers that do not authenticate: every API sits behind one guard that throttles them per
// source (limits.*) and records the refusals of the credentials they present in aggregate
// (audit.refusal_window), so that a flood of bad tokens neither fills the audit log nor takes
// the server's time from everyone else.

// openGuard builds the guard and the refusals' aggregate.
func (s *Server) openGuard() {
	s.Refusals = &audit.Refusals{Recorder: s.Audit, Window: s.cfg.Audit.RefusalWindow.Std(), Now: s.now, Log: s.log}
	s.guard = &httpx.Guard{
		Limiter:    &httpx.SourceLimiter{Rate: s.cfg.Limits.UnauthenticatedRate, Burst: s.cfg.Limits.UnauthenticatedBurst, Now: s.now},
		Credential: s.hasCredential,
		OnRefusal: func(ctx context.Context, f httpx.Refusal) {
			if f.Anonymous && !f.Throttled {
				// The challenge to a request without credentials is the first leg of every
				// client's flow and identifies nobody: it counts against the limit, and is not
				// audited. Throttled ones are.
				return
			}
			err := s.Refusals.Note(ctx, audit.Refusal{Source: f.Source, Target: f.Target, Reason: f.Reason, RequestID: f.RequestID, Throttled: f.Throttled})
			if err != nil {
				httpx.Logger(ctx).LogAttrs(ctx, slog.LevelError, "recording a refusal", slog.String("error", err.Error()))
			}
		},
	}
}

// hasCredential reports whether r carries a credential that verifies: the admin socket's peer,
// a client certificate the TLS handshake verified (agents), or a bearer token this server minted
// and still publishes the key of (for any API: the API checks the audience).
func (s *Server) hasCredential(r *http.Request) bool {
	if _, ok := authn.From(r.Context()); ok {
		return true
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	_, err := s.Tokens.VerifyToken(strings.TrimSpace(raw))
	return err == nil
}

// flushingAudit is the audit store as the admin API lists it: the refusals counted so far are
// recorded first, so that `lanyard audit list` is up to date.
type flushingAudit struct {
	admin.AuditStore
	refusals *audit.Refusals
}

// AuditBase is the store's, so that verify starts where retention left the chain.
func (f flushingAudit) AuditBase(ctx context.Context) (int64, string, error) {
	if b, ok := f.AuditStore.(interface {
		AuditBase(context.Context) (int64, string, error)
	}); ok {
		return b.AuditBase(ctx)
	}
	return 0, "", nil
}

func (f flushingAudit) ListAudit(ctx context.Context, after int64, limit int) ([]audit.Event, error) {
	if err := f.refusals.Flush(ctx); err != nil {
		return nil, err
	}
	return f.AuditStore.ListAudit(ctx, after, limit)
}

func (f flushingAudit) QueryAudit(ctx context.Context, q audit.Query) ([]audit.Event, error) {
	if err := f.refusals.Flush(ctx); err != nil {
		return nil, err
	}
	return f.AuditStore.QueryAudit(ctx, q)
}
