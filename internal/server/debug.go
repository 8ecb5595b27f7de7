package server

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// pprofPrefix is where the admin socket serves Go's profiles (net/http/pprof). The HTTPS
// listener never does: its handler has no such route.
const pprofPrefix = "/debug/pprof/"

// withProfiling serves /debug/pprof/ to administrators of the admin socket and everything else
// with next. It sits behind authn.AdminSocket, which names the administrators.
func withProfiling(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(pprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(pprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(pprofPrefix+"trace", pprof.Trace)
	mux.HandleFunc(pprofPrefix, pprof.Index) // heap, allocs, goroutine, block, mutex, threadcreate
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != strings.TrimSuffix(pprofPrefix, "/") && !strings.HasPrefix(r.URL.Path, pprofPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		if p, ok := authn.From(r.Context()); !ok || !p.Admin {
			httpx.Plain(w, r, http.StatusForbidden, "Forbidden", "profiles are for administrators of the admin socket")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// auditLogLevel mirrors successful reads to the log at debug and everything else (changes,
// refusals, failures, tokens minted by an administrator) at info: a vault read writes no log line
// at the default level, and its audit event is in the store all the same.
func auditLogLevel(ev audit.Event) slog.Level {
	if ev.Result != audit.Success {
		return slog.LevelInfo
	}
	action := ev.Action[strings.LastIndexByte(ev.Action, '.')+1:]
	switch action {
	case "get", "list", "listversions", "getdeleted", "listdeleted":
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
