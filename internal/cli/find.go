package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// How the CLI finds the server it talks to (the admin socket of a server on this host), first
// match wins:
//
//  1. --admin-socket;
//  2. LANYARD_ADMIN_SOCKET, then LANYARD_DATA_DIR (its admin.sock);
//  3. ./.lanyard/admin.sock, when it exists (a `lanyard dev` started in this directory);
//  4. the running `lanyard dev` recorded in devRecordPath() (any directory), when its socket
//     exists;
//  5. /var/lib/lanyard/admin.sock, `lanyard server`'s default.

// defaultServerSocket is the admin socket of a `lanyard server` with the default data directory.
const defaultServerSocket = "/var/lib/lanyard/admin.sock"

// devRecord is what a running `lanyard dev` records in devRecordPath(), for the CLI in other
// directories to find it. It holds addresses and paths only, never a secret.
type devRecord struct {
	PID         int    `json:"pid"`
	AdminSocket string `json:"admin_socket"`
	DataDir     string `json:"data_dir"`
	PublicURL   string `json:"public_url"`
	CAFile      string `json:"ca_file"`
}

// devRecordPath is where `lanyard dev` records itself: $XDG_RUNTIME_DIR/lanyard/dev.json when
// that is set (a per-user directory), else the user's cache directory (~/.cache/lanyard/dev.json).
func devRecordPath() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(d, "lanyard", "dev.json")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "lanyard", "dev.json")
	}
	return ""
}

// readDevRecord reads the record of the running `lanyard dev`, if there is one.
func readDevRecord() (devRecord, bool) {
	var r devRecord
	p := devRecordPath()
	if p == "" {
		return r, false
	}
	raw, err := os.ReadFile(p)
	if err != nil || json.Unmarshal(raw, &r) != nil || !filepath.IsAbs(r.AdminSocket) {
		return r, false
	}
	return r, true
}

// writeDevRecord records this `lanyard dev` (replacing another's record: the newest start wins)
// and returns a function that removes the record if it is still this process's.
func writeDevRecord(r devRecord) (remove func(), err error) {
	p := devRecordPath()
	if p == "" {
		return func() {}, errors.New("no per-user directory to record the dev server in (set XDG_RUNTIME_DIR or HOME)")
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return func() {}, err
	}
	r.PID = os.Getpid()
	raw, _ := json.MarshalIndent(r, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o600); err != nil {
		return func() {}, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return func() {}, err
	}
	return func() {
		if cur, ok := readDevRecord(); ok && cur.PID == r.PID {
			_ = os.Remove(p)
		}
	}, nil
}

// socketChoice is the admin socket the CLI talks to and why.
type socketChoice struct {
	path  string
	why   string   // what named it
	tried []string // the places looked at before it, and what was found there
}

// chooseSocket decides which admin socket the CLI uses (see the order above).
func (g *globals) chooseSocket() socketChoice {
	if g.choice != nil {
		return *g.choice
	}
	c := pickSocket(g.adminSocket)
	g.choice = &c
	return c
}

func pickSocket(flag string) socketChoice {
	if flag != "" {
		return socketChoice{path: flag, why: "--admin-socket"}
	}
	if s := os.Getenv("LANYARD_ADMIN_SOCKET"); s != "" {
		return socketChoice{path: s, why: "LANYARD_ADMIN_SOCKET"}
	}
	if d := os.Getenv("LANYARD_DATA_DIR"); d != "" {
		return socketChoice{path: filepath.Join(d, "admin.sock"), why: "LANYARD_DATA_DIR"}
	}
	var tried []string
	local := filepath.Join(".lanyard", "admin.sock")
	if _, err := os.Stat(local); err == nil {
		if abs, err := filepath.Abs(local); err == nil {
			local = abs
		}
		return socketChoice{path: local, why: "./.lanyard/admin.sock in the current directory"}
	}
	tried = append(tried, "./.lanyard/admin.sock (none in this directory)")
	rec := devRecordPath()
	if r, ok := readDevRecord(); ok {
		if _, err := os.Stat(r.AdminSocket); err == nil {
			return socketChoice{path: r.AdminSocket, why: "the running `lanyard dev` recorded in " + rec, tried: tried}
		}
		tried = append(tried, rec+" (its socket "+r.AdminSocket+" is gone)")
	} else if rec != "" {
		tried = append(tried, rec+" (no `lanyard dev` recorded)")
	}
	return socketChoice{path: defaultServerSocket, why: "the default of `lanyard server`", tried: tried}
}

// explainNoServer turns the error of a connection to the admin socket that nobody answers into
// one that says which socket was tried, why, and how to name another; other errors pass.
func (g *globals) explainNoServer(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || op.Net != "unix" {
		return err
	}
	c := g.chooseSocket()
	what := "nothing listens there"
	switch {
	case errors.Is(err, syscall.ENOENT):
		what = "it does not exist"
	case errors.Is(err, syscall.EACCES):
		what = "permission denied: run as the server's user or root"
	}
	msg := fmt.Sprintf("no Lanyard server answers on the admin socket %s (%s; chosen by %s)", c.path, what, c.why)
	if len(c.tried) > 0 {
		msg += "; looked first at " + strings.Join(c.tried, ", ")
	}
	return errors.New(msg + ". Start one with `lanyard dev`, or point the CLI at a server with --admin-socket PATH or LANYARD_ADMIN_SOCKET=PATH")
}
