package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/console"
	"github.com/lanyardhq/lanyard/internal/token"
)

// openConsole builds the web console. It serves its pages by calling this server's own HTTPS
// handler in-process, as the session's principal (s.handler is read at request time: it is built
// by mount, after this).
func (s *Server) openConsole() error {
	s.Activity = &console.Activity{Now: s.now}
	s.Console = &console.Console{
		Store: s.DB, Audit: s.Audit, Log: s.log, Now: s.now, Rand: s.rand,
		PublicURL: s.cfg.PublicURL, DefaultTenant: func() string { return s.Default.ID }, Activity: s.Activity,
		API: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }),
		// The files of this host's apps are read under the API's log stream rule.
		LogAccess: func(ctx context.Context, p authn.Principal, tenantID, site string) error {
			_, err := s.Apps.CheckLogStream(ctx, p, tenantID, site)
			return err
		},
	}
	s.Tokens.OnMinted = func(req token.MintRequest) { s.Activity.Minted(req.ObjectID, req.Audience) }
	return s.Console.Init()
}

// isConsolePath reports whether a path is the console's (or "/", which sends browsers to it).
func isConsolePath(p string) bool {
	return p == "/" || strings.HasPrefix(p, console.Prefix) || p == "/console"
}

// consoleFront serves the console's paths on the HTTPS listener: "/" and "/console" redirect to
// the console.
func (s *Server) consoleFront() http.Handler {
	pages := s.Console.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.URL.Path == "/console" {
			http.Redirect(w, r, console.Prefix, http.StatusFound)
			return
		}
		pages.ServeHTTP(w, r)
	})
}
