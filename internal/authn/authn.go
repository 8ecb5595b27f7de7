package authn

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"syscall"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Principal is an authenticated caller.
type Principal struct {
	Admin    bool     // an administrator on the admin socket: Global Administrator and Owner at the root
	Actor    string   // how audit records name the caller
	TenantID string   // for token callers
	ObjectID string   // service principal object id, for token callers
	AppID    string   // client id, for token callers
	Roles    []string // app roles on the API's service principal, for token callers
}

type ctxKey int

const (
	keyPrincipal ctxKey = iota
	keyPeer
)

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, keyPrincipal, p)
}

// From returns the principal of ctx, if any.
func From(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(keyPrincipal).(Principal)
	return p, ok
}

// RequireAdmin returns nil for an administrator, Unauthenticated when nobody is authenticated and
// Denied otherwise.
func RequireAdmin(ctx context.Context) error {
	p, ok := From(ctx)
	switch {
	case !ok:
		return errs.E(errs.Unauthenticated, "this operation needs an administrator: use the admin socket on the server host")
	case !p.Admin:
		return errs.E(errs.Denied, "this operation needs an administrator")
	}
	return nil
}

// Peer is what the kernel says about the process at the other end of a unix socket.
type Peer struct {
	UID, GID uint32
	PID      int32
}

// PeerConnContext is an http.Server ConnContext for a unix listener: it records the peer's
// credentials (SO_PEERCRED) in the connection's context. A connection whose credentials cannot be
// read carries none and is treated as anonymous.
func PeerConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return ctx
	}
	return context.WithValue(ctx, keyPeer, Peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid})
}

// PeerFrom returns the admin-socket peer of ctx, if any.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(keyPeer).(Peer)
	return p, ok
}

// SkipAuthorizationHeader: see AdminSocket (client.SkipAuthorizationHeader is the same name).
const SkipAuthorizationHeader = "X-Lanyard-Skip-Authorization"

// AdminSocket authenticates requests on the admin socket: a peer whose uid is 0 or serverUID is an
// administrator; any other peer is anonymous (and so refused by every admin route).
//
// A request with the header SkipAuthorizationHeader is served as one with no credentials (the
// admin's authority is not given): the CLI's answer to az rest's --skip-authorization-header.
func AdminSocket(serverUID uint32, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(SkipAuthorizationHeader) != "" { // `lanyard rest --skip-authorization-header`
			r.Header.Del(SkipAuthorizationHeader)
			next.ServeHTTP(w, r)
			return
		}
		if peer, ok := PeerFrom(r.Context()); ok && (peer.UID == 0 || peer.UID == serverUID) {
			r = r.WithContext(WithPrincipal(r.Context(), Principal{Admin: true, Actor: fmt.Sprintf("admin-socket:uid=%d", peer.UID)}))
		}
		next.ServeHTTP(w, r)
	})
}
