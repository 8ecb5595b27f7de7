package token

import (
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Routes mounts each tenant's discovery documents and key sets.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.Handle("GET /{tenant}/.well-known/openid-configuration", s.serve(discoveryV1))
	mux.Handle("GET /{tenant}/v2.0/.well-known/openid-configuration", s.serve(discoveryV2))
	mux.Handle("GET /{tenant}/discovery/keys", s.serve(jwksV1))
	mux.Handle("GET /{tenant}/discovery/v2.0/keys", s.serve(jwksV2))
}

func (s *Service) serve(kind docKind) http.Handler {
	return httpx.With(httpx.OAuth2, func(w http.ResponseWriter, r *http.Request) error {
		tenant, err := s.tenant(r)
		if err != nil {
			return err
		}
		p, err := s.current(s.now())
		if err != nil {
			return err
		}
		b := s.document(p, tenant, kind)
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(b)
		return nil
	})
}

// tenant returns the request's tenant id, lower case, after checking that it exists.
func (s *Service) tenant(r *http.Request) (string, error) {
	id := r.PathValue("tenant")
	if !guid.Valid(id) {
		return "", &errs.Error{Kind: errs.Invalid, Code: "invalid_tenant",
			Msg: "the tenant in the path must be a tenant id (a GUID)"}
	}
	id = strings.ToLower(id)
	ok, err := s.Tenants.Exists(r.Context(), id)
	switch {
	case err != nil:
		return "", errs.Wrap(errs.Unavailable, err, "cannot look up the tenant")
	case !ok:
		return "", &errs.Error{Kind: errs.NotFound, Code: "invalid_tenant",
			Msg: "tenant " + id + " does not exist in this Lanyard installation"}
	}
	return id, nil
}
