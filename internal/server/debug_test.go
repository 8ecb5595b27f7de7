package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
)

// TestProfilingNeedsAdministrator: on the admin socket a peer that is not an administrator (another
// uid) is refused the profiles and still reaches the API behind.
func TestProfilingNeedsAdministrator(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := withProfiling(next)
	for _, tc := range []struct {
		path  string
		admin bool
		want  int
	}{
		{"/debug/pprof/cmdline", false, http.StatusForbidden},
		{"/debug/pprof", false, http.StatusForbidden},
		{"/debug/pprof/cmdline", true, http.StatusOK},
		{"/admin/v1/tenants", false, http.StatusTeapot},
		{"/debug/pprofx", true, http.StatusTeapot},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.admin {
			r = r.WithContext(authn.WithPrincipal(r.Context(), authn.Principal{Admin: true, Actor: "admin-socket:uid=0"}))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("GET %s (admin %v): %d, want %d", tc.path, tc.admin, w.Code, tc.want)
		}
	}
}

func TestAuditLogLevel(t *testing.T) {
	for _, tc := range []struct {
		action, result string
		want           slog.Level
	}{
		{"vault.secret.get", audit.Success, slog.LevelDebug},
		{"vault.secret.list", audit.Success, slog.LevelDebug},
		{"vault.secret.get", audit.Denied, slog.LevelInfo},
		{"vault.secret.set", audit.Success, slog.LevelInfo},
		{"token.mint", audit.Success, slog.LevelInfo},
		{"tenant.create", audit.Success, slog.LevelInfo},
	} {
		if got := auditLogLevel(audit.Event{Action: tc.action, Result: tc.result}); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.action, tc.result, got, tc.want)
		}
	}
}
