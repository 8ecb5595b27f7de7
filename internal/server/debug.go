package server

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"
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

// serverGCPercent is the garbage collector's target for a `lanyard server` process: its live heap
// is small (tens of MB) and every request allocates, so with Go's default (100) it collects
// several times a second under load; at 400 the vault read measured 102 µs of CPU instead of 151
// (docs/performance.md), for a heap up to five times the live one.
const serverGCPercent = 400

// TuneGC sets the server process's GC target, unless the operator set GOGC. `lanyard server`
// calls it; `lanyard dev`, which also runs an agent, and tests keep Go's default.
func TuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serverGCPercent)
	}
}
