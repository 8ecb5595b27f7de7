package nodes

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Routes mounts the agent API (/agent/v1) and the administrator's node routes (/admin/v1/nodes).
func (s *Service) Routes(mux *http.ServeMux) {
	mux.Handle("POST "+agentapi.PathEnroll, httpx.With(httpx.Plain, s.serveEnroll))
	node := func(fn func(w http.ResponseWriter, r *http.Request, n Node) error) http.Handler {
		return httpx.With(httpx.Plain, func(w http.ResponseWriter, r *http.Request) error {
			n, err := s.nodeOf(r)
			if err != nil {
				return err
			}
			return fn(w, r, n)
		})
	}
	mux.Handle("POST "+agentapi.PathRenew, node(s.serveRenew))
	mux.Handle("POST "+agentapi.PathToken, httpx.With(httpx.Plain, s.serveToken))
	mux.Handle("GET "+agentapi.PathEvents, node(s.serveEvents))
	mux.Handle("POST "+agentapi.PathSites, node(s.serveSites))
	mux.Handle("GET "+agentapi.PathPackages+"/{digest}", node(s.servePackage))
	mux.Handle("POST "+agentapi.PathTimerClaim, node(s.serveTimerClaim))
	mux.Handle("GET "+agentapi.PathLogFollows, node(s.serveLogFollows))
	mux.Handle("POST "+agentapi.PathLogLines, node(s.serveLogLines))
	mux.Handle("GET "+agentapi.PathSandboxCA, node(func(w http.ResponseWriter, r *http.Request, _ Node) error {
		if s.SandboxCAPEM == nil {
			return errs.E(errs.NotFound, "this server has no sandbox CA")
		}
		httpx.WriteJSON(w, http.StatusOK, agentapi.SandboxCAResponse{Certificate: string(s.SandboxCAPEM())})
		return nil
	}))
	admin := func(fn httpx.Handler) http.Handler {
		return httpx.With(httpx.Plain, func(w http.ResponseWriter, r *http.Request) error {
			if err := authn.RequireAdmin(r.Context()); err != nil {
				return err
			}
			return fn(w, r)
		})
	}
	mux.Handle("POST /admin/v1/nodes/join-tokens", admin(s.serveCreateJoinToken))
	mux.Handle("GET /admin/v1/nodes", admin(s.serveListNodes))
	mux.Handle("DELETE /admin/v1/nodes/{name}", admin(s.serveDeleteNode))
}

// errNotEnrolled refuses a client certificate whose node is gone.
var errNotEnrolled = &errs.Error{Kind: errs.Denied, Code: agentapi.CodeForbidden,
	Msg: "this node is no longer enrolled (it was enrolled again, or its machine deleted): enroll it with a new join token"}

// nodeOf authenticates the agent API's caller by its client certificate, which the TLS layer
// has verified against Lanyard's CA for client authentication: its common name names the node.
func (s *Service) nodeOf(r *http.Request) (Node, error) {
	id, err := certNodeID(r)
	if err != nil {
		return Node{}, err
	}
	n, err := s.Store.GetNode(r.Context(), id)
	if errs.Is(err, errs.NotFound) {
		return Node{}, errNotEnrolled
	}
	return n, err
}

// certNodeID is the id of the node the request's verified client certificate names.
func certNodeID(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", &errs.Error{Kind: errs.Unauthenticated, Code: "client_certificate_required",
			Msg: "the agent API needs the node's client certificate (mutual TLS): enroll the node with 'lanyard agent --join-token-file'"}
	}
	cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
	id, ok := strings.CutPrefix(cn, CertPrefix)
	if !ok {
		return "", &errs.Error{Kind: errs.Denied, Code: agentapi.CodeForbidden, Msg: "the client certificate is not a node's"}
	}
	return id, nil
}

func (s *Service) serveEnroll(w http.ResponseWriter, r *http.Request) error {
	var req agentapi.EnrollRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	resp, err := s.Enroll(r.Context(), req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Service) serveRenew(w http.ResponseWriter, r *http.Request, n Node) error {
	var req agentapi.RenewRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	resp, err := s.Renew(r.Context(), n, req)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// serveToken is Token for the node of the client certificate; the node and the identities' owner
// are read in one statement.
func (s *Service) serveToken(w http.ResponseWriter, r *http.Request) error {
	id, err := certNodeID(r)
	if err != nil {
		return err
	}
	var req agentapi.TokenRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: errs.Message(err)}
	}
	resp, err := s.tokenForNode(r.Context(), id, req)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Service) serveEvents(w http.ResponseWriter, r *http.Request, n Node) error {
	q := r.URL.Query()
	var after int64
	raw, hasAfter := q[agentapi.QueryAfter]
	if hasAfter {
		v, err := strconv.ParseInt(firstOf(raw), 10, 64)
		if err != nil || v < 0 {
			return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "after must be a sequence number"}
		}
		after = v
	}
	wait := 30 * time.Second
	if v := q.Get(agentapi.QueryWait); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "wait must be a duration such as 30s"}
		}
		wait = d
	}
	resp, err := s.Events(r.Context(), n, after, hasAfter, wait)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// JoinTokenRequest is the body of POST /admin/v1/nodes/join-tokens.
type JoinTokenRequest struct {
	Name     string `json:"name"`
	TTL      string `json:"ttl,omitempty"` // a Go duration; default 15m
	TenantID string `json:"tenantId,omitempty"`
}

// JoinTokenResponse carries the token: shown once, never stored.
type JoinTokenResponse struct {
	Token     agentapi.Secret `json:"token"`
	Node      string          `json:"node"`
	TenantID  string          `json:"tenantId"`
	ExpiresAt time.Time       `json:"expiresAt"`
}

func (s *Service) serveCreateJoinToken(w http.ResponseWriter, r *http.Request) error {
	var req JoinTokenRequest
	if err := httpx.DecodeJSON(r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			return errs.E(errs.Invalid, "ttl %q is not a duration such as 15m or 2h", clip(req.TTL))
		}
		ttl = d
	}
	p, _ := authn.From(r.Context())
	tenantID := req.TenantID
	if tenantID == "" {
		tenantID = s.tenantOf(r)
	}
	tok, exp, err := s.CreateJoinToken(r.Context(), p, tenantID, req.Name, ttl)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, http.StatusCreated, JoinTokenResponse{Token: agentapi.Secret(tok), Node: req.Name, TenantID: strings.ToLower(tenantID), ExpiresAt: exp.UTC()})
	return nil
}

// NodeInfo is a node as the administrator's API shows it.
type NodeInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	TenantID  string    `json:"tenantId"`
	MachineID string    `json:"machineResourceId"`
	Created   time.Time `json:"enrolledAt"`
	Renewed   time.Time `json:"certificateIssuedAt"`
}

func (s *Service) serveListNodes(w http.ResponseWriter, r *http.Request) error {
	tenantID := s.tenantOf(r)
	list, err := s.Store.ListNodes(r.Context(), strings.ToLower(tenantID))
	if err != nil {
		return err
	}
	out := make([]NodeInfo, 0, len(list))
	for _, n := range list {
		out = append(out, NodeInfo{ID: n.ID, Name: n.Name, TenantID: n.TenantID, MachineID: n.MachineID, Created: n.Created.UTC(), Renewed: n.Renewed.UTC()})
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Service) serveDeleteNode(w http.ResponseWriter, r *http.Request) error {
	tenantID := s.tenantOf(r)
	name := r.PathValue("name")
	if err := s.Store.DeleteNode(r.Context(), strings.ToLower(tenantID), name); err != nil {
		return err
	}
	p, _ := authn.From(r.Context())
	s.record(r.Context(), p.Actor, "node.delete", "node/"+name, audit.Success, "its certificates are no longer accepted")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// TenantHeader lets an administrator name the tenant of a request (the default tenant otherwise).
const TenantHeader = "X-Lanyard-Tenant"

// tenantOf is the tenant an administrator's request acts in.
func (s *Service) tenantOf(r *http.Request) string {
	if t := r.Header.Get(TenantHeader); t != "" {
		return strings.ToLower(t)
	}
	return s.DefaultTenant()
}
