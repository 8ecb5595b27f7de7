package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// ControlSocket is the name of the control socket in the state directory (`lanyard dev`).
const ControlSocket = "agent.sock"

// RegisterRequest is the body of POST /apps on the control socket: an app whose process another
// program runs (`lanyard app run`, `lanyard dev env`).
type RegisterRequest struct {
	Site    string `json:"site"`              // the site's ARM id
	Name    string `json:"name"`              // default: the last segment of Site
	Sandbox string `json:"sandbox,omitempty"` // auto, on or off; default the agent's
}

// RegisterResponse is the answer to POST /apps: the environment the app's process needs.
type RegisterResponse struct {
	Name    string       `json:"name"`
	Env     Env          `json:"env"`
	Sandbox *SandboxInfo `json:"sandbox,omitempty"` // nil: the app runs without one
	// HostEnv is the environment a process outside the sandbox needs (`lanyard dev env`): the
	// agent's loopback endpoint and the host's CA bundle; Env when the app has no sandbox.
	HostEnv Env `json:"hostEnv"`
}

// SandboxInfo is what a program that runs an app's process itself needs to run it in the app's
// sandbox (sandbox.Command): its network namespace and the files it covers.
type SandboxInfo struct {
	Netns string         `json:"netns"`
	Binds []sandbox.Bind `json:"binds"`
}

// ListenControl opens the control socket at path (mode 0600). A socket left behind by an agent
// that is gone is replaced; one that answers is an error.
func ListenControl(path string) (net.Listener, error) {
	ln, err := authn.ListenSocket(path)
	if errors.Is(err, authn.ErrSocketInUse) {
		return nil, errs.E(errs.Conflict, "another agent serves the control socket %s", path)
	}
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "the control socket")
	}
	return ln, nil
}

// ServeControl serves the control API on ln (from ListenControl) until ctx is done. Only a peer
// running as this process's user (or root) is answered: it can register apps, and so read their
// headers.
//
//	POST /apps {"site": ARM id, "name": NAME} → {"name": NAME, "env": {...}}
//
// An app registered this way is served until the agent stops; registering the same name again
// returns its current environment.
func (a *Agent) ServeControl(ctx context.Context, ln net.Listener) error {
	uid := uint32(os.Getuid())
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apps", a.serveRegister)
	srv := newServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := authn.PeerFrom(r.Context()); !ok || (p.UID != 0 && p.UID != uid) {
			writeControlError(w, http.StatusForbidden, "only the agent's own user may use its control socket")
			return
		}
		mux.ServeHTTP(w, r)
	}), a.log)
	srv.ConnContext = authn.PeerConnContext
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *Agent) serveRegister(w http.ResponseWriter, r *http.Request) {
	var req RegisterRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeControlError(w, http.StatusBadRequest, "the body is not a JSON object {site, name}")
		return
	}
	cfg := AppConfig{Site: req.Site, Name: req.Name, Sandbox: req.Sandbox}.withDefaults()
	if err := cfg.validate(false); err != nil {
		writeControlError(w, http.StatusBadRequest, errs.Message(err))
		return
	}
	env, err := a.register(cfg)
	if err != nil {
		status := http.StatusInternalServerError
		if errs.KindOf(err) == errs.Conflict {
			status = http.StatusConflict
		}
		writeControlError(w, status, errs.Message(err))
		return
	}
	a.log.Info("app registered on the control socket", slog.String("app", cfg.Name), slog.String("site", cfg.Site))
	out := RegisterResponse{Name: cfg.Name, Env: env, HostEnv: env}
	if ns, binds, ok := a.SandboxOf(cfg.Name); ok {
		out.Sandbox = &SandboxInfo{Netns: ns, Binds: binds}
		if ap := a.apps.get(cfg.Name); ap != nil {
			out.HostEnv = a.hostEnv(ap)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// register serves cfg's identity, or returns the environment of the app of that name when it is
// served already for the same site.
func (a *Agent) register(cfg AppConfig) (Env, error) {
	for range 2 {
		if ap := a.apps.get(cfg.Name); ap != nil {
			if ap.cfg.Site != cfg.Site {
				return nil, errs.E(errs.Conflict, "the app %s is registered for another site (%s)", cfg.Name, ap.cfg.Site)
			}
			return a.env(ap), nil
		}
		env, err := a.StartApp(a.life, cfg)
		if err == nil {
			a.saveRemembered()
		}
		if err == nil || errs.KindOf(err) != errs.Conflict {
			return env, err
		}
		// registered by a concurrent request in between: answer with that one
	}
	return nil, errs.E(errs.Conflict, "the app %s is being registered and removed concurrently", cfg.Name)
}

func writeControlError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"message": msg}})
}

// OpenAppLog opens, for appending, the bounded log of app name in stateDir (LogPath), as the
// agent keeps it for the apps it runs; `lanyard app run` writes its command's output there too.
func OpenAppLog(stateDir, name string) (io.WriteCloser, error) {
	return openAppLog(LogPath(stateDir, name), maxAppLog)
}
