package tenant

import (
	"net/http"

	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Routes mounts the administrator's tenant routes.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.Handle("GET /admin/v1/tenants", httpx.With(httpx.Plain, func(w http.ResponseWriter, r *http.Request) error {
		ts, err := s.List(r.Context())
		if err != nil {
			return err
		}
		if ts == nil {
			ts = []Tenant{}
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"value": ts})
		return nil
	}))
	mux.Handle("POST /admin/v1/tenants", httpx.With(httpx.Plain, func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Name string `json:"name"`
		}
		if err := httpx.DecodeJSON(r, &in); err != nil {
			return err
		}
		t, err := s.Create(r.Context(), in.Name)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusCreated, t)
		return nil
	}))
}
