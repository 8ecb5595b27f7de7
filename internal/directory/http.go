package directory

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory/odata"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// TenantHeader lets an administrator on the admin socket act in a tenant other than the default.
const TenantHeader = "X-Lanyard-Tenant"

// route is one operation of the API.
type route struct {
	action string // audit action after "directory.", such as "appRoleAssignment.create"
	access access // what the caller needs (policy)
	handle func(s *Service, c *call) error
}

// routes maps a path's shape (lower-case names, {} for a key, $ref) and a method to its route.
var routes = map[string]map[string]route{
	"applications": {
		http.MethodGet:  {"application.list", readApplications, (*Service).listApplications},
		http.MethodPost: {"application.create", writeApplications, (*Service).postApplication},
	},
	"applications/{}": {
		http.MethodGet:    {"application.get", readApplications, (*Service).getApplicationRoute},
		http.MethodPatch:  {"application.update", writeApplications, (*Service).patchApplication},
		http.MethodDelete: {"application.delete", writeApplications, (*Service).deleteApplicationRoute},
	},
	"serviceprincipals": {
		http.MethodGet:  {"servicePrincipal.list", readApplications, (*Service).listServicePrincipals},
		http.MethodPost: {"servicePrincipal.create", writeApplications, (*Service).postServicePrincipal},
	},
	"serviceprincipals/{}": {
		http.MethodGet:    {"servicePrincipal.get", readApplications, (*Service).getServicePrincipalRoute},
		http.MethodDelete: {"servicePrincipal.delete", writeApplications, (*Service).deleteServicePrincipalRoute},
	},
	"serviceprincipals/{}/approleassignedto": {
		http.MethodGet:  {"appRoleAssignment.list", readApplications, assignments(true).list},
		http.MethodPost: {"appRoleAssignment.create", writeAssignments, assignments(true).create},
	},
	"serviceprincipals/{}/approleassignedto/{}": {
		http.MethodGet:    {"appRoleAssignment.get", readApplications, assignments(true).get},
		http.MethodDelete: {"appRoleAssignment.delete", writeAssignments, assignments(true).delete},
	},
	"serviceprincipals/{}/approleassignments": {
		http.MethodGet:  {"appRoleAssignment.list", readApplications, assignments(false).list},
		http.MethodPost: {"appRoleAssignment.create", writeAssignments, assignments(false).create},
	},
	"serviceprincipals/{}/approleassignments/{}": {
		http.MethodGet:    {"appRoleAssignment.get", readApplications, assignments(false).get},
		http.MethodDelete: {"appRoleAssignment.delete", writeAssignments, assignments(false).delete},
	},
	"groups": {
		http.MethodGet:  {"group.list", readGroups, (*Service).listGroups},
		http.MethodPost: {"group.create", writeGroups, (*Service).postGroup},
	},
	"groups/{}": {
		http.MethodGet:    {"group.get", readGroups, (*Service).getGroupRoute},
		http.MethodDelete: {"group.delete", writeGroups, (*Service).deleteGroupRoute},
	},
	"groups/{}/members": {
		http.MethodGet: {"group.member.list", readGroups, (*Service).listMembers},
	},
	"groups/{}/members/$ref": {
		http.MethodPost: {"group.member.add", writeGroups, (*Service).addMember},
	},
	"groups/{}/members/{}/$ref": {
		http.MethodDelete: {"group.member.remove", writeGroups, (*Service).removeMember},
	},
	"directoryobjects/getbyids": {
		http.MethodPost: {"directoryObject.getByIds", readApplications, (*Service).getByIds},
	},
	"rolemanagement/directory/roleassignments": {
		http.MethodGet:  {"roleAssignment.list", readRoleAssignments, (*Service).listRoleAssignments},
		http.MethodPost: {"roleAssignment.create", writeRoleAssignments, (*Service).postRoleAssignment},
	},
	"rolemanagement/directory/roleassignments/{}": {
		http.MethodGet:    {"roleAssignment.get", readRoleAssignments, (*Service).getRoleAssignmentRoute},
		http.MethodDelete: {"roleAssignment.delete", writeRoleAssignments, (*Service).deleteRoleAssignmentRoute},
	},
}

// call is one request on its way through the API.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context
	p      authn.Principal
	tenant string
	path   odata.Path
	rt     route
}

// seg returns the i-th segment of the call's path.
func (c *call) seg(i int) odata.Segment { return c.path.Segments[i] }

// Handler serves the Graph-compatible API: every request whose path starts with /v1.0/. It
// parses the path itself (odata.ParsePath) and dispatches on its shape, so that the server mounts
// it once, for the whole prefix.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if httpx.RequestID(r.Context()) == "" && w.Header().Get("request-id") == "" {
		if id, err := s.newGUID(); err == nil {
			w.Header().Set("request-id", id)
		}
	}
	if id := r.Header.Get("client-request-id"); id != "" && len(id) <= 128 {
		w.Header().Set("client-request-id", id)
	}
	if err := s.serve(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) error {
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1.0/")
	if !ok {
		return notFound(r.URL.Path)
	}
	p, err := s.Auth.Authenticate(r)
	if err != nil {
		return err
	}
	c := &call{w: w, r: r, ctx: r.Context(), p: p}
	if c.tenant, err = s.tenantOf(r, p); err != nil {
		return err
	}
	if c.path, err = odata.ParsePath(rest); err != nil {
		return err
	}
	if c.rt, err = match(r.Method, c.path); err != nil {
		return err
	}
	if err := s.authorize(c.ctx, p, c.tenant, c.rt.access); err != nil {
		if errs.Is(err, errs.Denied) {
			if aerr := s.record(c, audit.Denied, c.path.String(), ""); aerr != nil {
				return aerr
			}
		}
		return err
	}
	return c.rt.handle(s, c)
}

// tenantOf is the tenant a request acts in: the token's, or for an administrator the default
// tenant unless TenantHeader names another.
func (s *Service) tenantOf(r *http.Request, p authn.Principal) (string, error) {
	if !p.Admin {
		if !guid.Valid(p.TenantID) {
			return "", errs.E(errs.Unauthenticated, "The access token names no tenant.")
		}
		return strings.ToLower(p.TenantID), nil
	}
	h := r.Header.Get(TenantHeader)
	if h == "" {
		if s.DefaultTenant == nil || s.DefaultTenant() == "" {
			return "", errs.E(errs.Unavailable, "the directory has no default tenant yet")
		}
		return s.DefaultTenant(), nil
	}
	if !guid.Valid(h) {
		return "", badRequest("The %s header must be a tenant id (a GUID).", TenantHeader)
	}
	id := strings.ToLower(h)
	if s.Tenants != nil {
		ok, err := s.Tenants.Exists(r.Context(), id)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", notFound(id)
		}
	}
	return id, nil
}

// shapeOf returns the shape of a path for the routes table. Alternate keys are allowed only where
// Graph has them: applications(appId='…') and servicePrincipals(appId='…').
func shapeOf(p odata.Path) (string, error) {
	var b strings.Builder
	for i, seg := range p.Segments {
		name := strings.ToLower(seg.Name)
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(name)
		switch {
		case seg.AltKeyName != "":
			if i != 0 || !strings.EqualFold(seg.AltKeyName, "appId") || (name != "applications" && name != "serviceprincipals") {
				return "", badRequest("The alternate key '%s' is not supported on '%s'.", seg.AltKeyName, seg.Name)
			}
			b.WriteString("/{}")
		case seg.Key != "":
			b.WriteString("/{}")
		}
	}
	if p.Ref {
		b.WriteString("/$ref")
	}
	// The action getByIds, bare (as the SDKs send it, parsed as a key) or namespace-qualified.
	if shape := b.String(); len(p.Segments) <= 2 && (shape == "directoryobjects/{}" && strings.EqualFold(p.Segments[0].Key, "getByIds") ||
		shape == "directoryobjects/microsoft.graph.getbyids") {
		return "directoryobjects/getbyids", nil
	}
	return b.String(), nil
}

// match finds the route of method on path: 400 for a path the API does not have, 405 for a method
// its path does not allow.
func match(method string, p odata.Path) (route, error) {
	shape, err := shapeOf(p)
	if err != nil {
		return route{}, err
	}
	methods, ok := routes[shape]
	if !ok {
		last := p.Segments[len(p.Segments)-1].Name
		return route{}, badRequest("Resource not found for the segment '%s'.", last)
	}
	rt, ok := methods[method]
	if !ok {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		return route{}, &statusError{status: http.StatusMethodNotAllowed, allow: strings.Join(allow, ", "),
			msg: "The HTTP method '" + method + "' is not allowed for the request URI."}
	}
	return rt, nil
}

// statusError is an answer whose status no errs.Kind has (405, 415).
type statusError struct {
	status int
	code   string // "": the Graph shape's default for the status
	msg    string
	allow  string // the Allow header of a 405
}

func (e *statusError) Error() string { return e.msg }

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	shape := httpx.Graph(s.Now)
	var se *statusError
	if errors.As(err, &se) {
		if se.allow != "" {
			w.Header().Set("Allow", se.allow)
		}
		shape(w, r, se.status, se.code, se.msg)
		return
	}
	if errs.Is(err, errs.Unauthenticated) {
		w.Header().Set("WWW-Authenticate", s.challenge())
	}
	httpx.WriteError(w, r, shape, err)
}

// challenge is the WWW-Authenticate header of a 401, as Graph sends it.
func (s *Service) challenge() string {
	tenant := "common"
	if s.DefaultTenant != nil && s.DefaultTenant() != "" {
		tenant = s.DefaultTenant()
	}
	return `Bearer realm="", authorization_uri="` + s.PublicURL + "/" + tenant + `/oauth2/authorize", client_id="` + DirectoryAppID + `"`
}

// record appends an audit event for the call: result, the target's ids and detail (never a token).
func (s *Service) record(c *call, result, target, detail string) error {
	actor := c.p.Actor
	if actor == "" {
		actor = "sp:" + c.p.ObjectID
	}
	if detail != "" {
		detail = " " + detail
	}
	_, err := s.Audit.Record(c.ctx, audit.Event{
		Actor: actor, Action: "directory." + c.rt.action, Target: target, Result: result,
		RequestID: httpx.RequestID(c.ctx), Detail: "tenant=" + c.tenant + detail,
	})
	return err
}
