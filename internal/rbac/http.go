package rbac

import (
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// APIVersions are the Microsoft.Authorization api-versions the routes accept.
var APIVersions = []string{"2022-04-01", "2020-10-01-preview", "2020-04-01-preview", "2018-09-01-preview", "2018-01-01-preview", "2015-07-01"}

// TenantHeader lets an administrator on the admin socket name the tenant of a request.
const TenantHeader = "X-Lanyard-Tenant"

const (
	authorizationNamespace     = "Microsoft.Authorization"
	roleAssignmentsType        = "roleAssignments"
	roleDefinitionsType        = "roleDefinitions"
	roleAssignmentResourceType = authorizationNamespace + "/" + roleAssignmentsType
)

// Routes mounts the routes whose scope is a subscription or a resource group, in ARM's casing,
// and the tenant-level role definitions. Every pattern starts with a literal segment and names
// its method, so that it is more specific than any wildcard pattern of the management API it
// overlaps (GET /subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name} and the
// like) and never conflicts with one. Routes at resource scopes have no fixed depth, and ids may
// come in any case: the management API's router sends any path MatchPath accepts to Handler.
func (s *Service) Routes(mux *http.ServeMux) {
	h := s.Handler()
	const ns = "/providers/" + authorizationNamespace + "/"
	for _, scope := range []string{"/subscriptions/{sub}", "/subscriptions/{sub}/resourceGroups/{rg}"} {
		mux.Handle("GET "+scope+ns+roleAssignmentsType, h)
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			mux.Handle(m+" "+scope+ns+roleAssignmentsType+"/{name}", h)
		}
		mux.Handle("GET "+scope+ns+roleDefinitionsType, h)
		mux.Handle("GET "+scope+ns+roleDefinitionsType+"/{name}", h)
	}
	mux.Handle("GET "+ns+roleDefinitionsType, h)
	mux.Handle("GET "+ns+roleDefinitionsType+"/{name}", h)
}

// MatchPath reports whether Handler serves path: {scope}/providers/Microsoft.Authorization/
// roleAssignments[/{name}] or .../roleDefinitions[/{name}] on any scope, keywords in any case.
func MatchPath(path string) bool {
	_, _, _, ok := splitPath(path)
	return ok
}

// splitPath finds the Microsoft.Authorization collection at the end of path: the scope before it
// ("" for the root), whether it is roleDefinitions, and the name after it ("" for the collection).
func splitPath(path string) (scope string, defs bool, name string, ok bool) {
	p := strings.TrimSuffix(path, "/")
	segs := strings.Split(p, "/")
	n := len(segs)
	for _, tail := range []int{3, 4} { // providers/ns/type or providers/ns/type/name
		if n < tail+1 {
			continue
		}
		i := n - tail
		if !strings.EqualFold(segs[i], "providers") || !strings.EqualFold(segs[i+1], authorizationNamespace) {
			continue
		}
		switch {
		case strings.EqualFold(segs[i+2], roleAssignmentsType):
		case strings.EqualFold(segs[i+2], roleDefinitionsType):
			defs = true
		default:
			continue
		}
		if tail == 4 {
			name = segs[i+3]
			if name == "" {
				return "", false, "", false
			}
		}
		return strings.Join(segs[:i], "/"), defs, name, true
	}
	return "", false, "", false
}

// Handler serves every roleAssignments and roleDefinitions route, on any scope.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scopePath, defs, name, ok := splitPath(r.URL.Path)
		if !ok {
			httpx.WriteError(w, r, s.shape(), arm.E(errs.NotFound, arm.CodeResourceNotFound,
				"No HTTP resource was found that matches the request URI '%s'.", clip(r.URL.Path)))
			return
		}
		scope := arm.Root()
		if scopePath != "" {
			var err error
			if scope, err = arm.Parse(scopePath); err != nil {
				httpx.WriteError(w, r, s.shape(), err)
				return
			}
		}
		if defs {
			s.ServeRoleDefinitions(w, r, scope, name)
		} else {
			s.ServeRoleAssignments(w, r, scope, name)
		}
	})
}

// ServeRoleAssignments serves {scope}/providers/Microsoft.Authorization/roleAssignments (GET,
// the list) and .../roleAssignments/{name} (PUT, GET, DELETE).
func (s *Service) ServeRoleAssignments(w http.ResponseWriter, r *http.Request, scope arm.ID, name string) {
	methods := "GET, PUT, DELETE"
	if name == "" {
		methods = "GET"
	}
	s.serve(w, r, methods, func(r *http.Request, tenantID string) error {
		ctx := r.Context()
		switch {
		case name == "":
			f, err := ParseAssignmentFilter(r.URL.Query().Get("$filter"))
			if err != nil {
				return err
			}
			top, after, err := parsePaging(r)
			if err != nil {
				return err
			}
			list, next, err := s.ListRoleAssignmentsPage(ctx, tenantID, scope, f, after, top)
			if err != nil {
				return err
			}
			out := make([]assignmentJSON, len(list))
			for i, a := range list {
				out[i] = toAssignmentJSON(a)
			}
			body := map[string]any{"value": out}
			if next != nil {
				body["nextLink"] = nextLink(r, next)
			}
			httpx.WriteJSON(w, http.StatusOK, body)
		case isGet(r):
			a, err := s.GetRoleAssignment(ctx, tenantID, scope, name)
			if err != nil {
				return err
			}
			httpx.WriteJSON(w, http.StatusOK, toAssignmentJSON(a))
		case r.Method == http.MethodPut:
			in, err := decodeAssignment(r, scope)
			if err != nil {
				return err
			}
			a, created, err := s.CreateRoleAssignment(ctx, tenantID, scope, name, in)
			if err != nil {
				return err
			}
			status := http.StatusOK
			if created {
				status = http.StatusCreated
			}
			httpx.WriteJSON(w, status, toAssignmentJSON(a))
		case r.Method == http.MethodDelete:
			a, found, err := s.DeleteRoleAssignment(ctx, tenantID, scope, name)
			if err != nil {
				return err
			}
			if !found {
				w.WriteHeader(http.StatusNoContent)
				return nil
			}
			httpx.WriteJSON(w, http.StatusOK, toAssignmentJSON(a))
		}
		return nil
	})
}

// ServeRoleDefinitions serves {scope}/providers/Microsoft.Authorization/roleDefinitions (GET,
// the list, with $filter=roleName eq '…') and .../roleDefinitions/{name} (GET). The built-in
// roles cannot be changed and custom roles are not supported: other methods are 405.
func (s *Service) ServeRoleDefinitions(w http.ResponseWriter, r *http.Request, scope arm.ID, name string) {
	s.serve(w, r, "GET", func(r *http.Request, tenantID string) error {
		ctx := r.Context()
		if name != "" {
			d, err := s.RoleDefinition(ctx, tenantID, scope, name)
			if err != nil {
				return err
			}
			httpx.WriteJSON(w, http.StatusOK, toDefinitionJSON(d, scope))
			return nil
		}
		f, err := ParseDefinitionFilter(r.URL.Query().Get("$filter"))
		if err != nil {
			return err
		}
		list, err := s.ListRoleDefinitions(ctx, tenantID, scope, f)
		if err != nil {
			return err
		}
		out := make([]definitionJSON, len(list))
		for i, d := range list {
			out[i] = toDefinitionJSON(d, scope)
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"value": out})
		return nil
	})
}

// serve runs what every route does first: the method, authentication, api-version and the
// caller's tenant; then op with the principal in the request's context.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, methods string, op func(r *http.Request, tenantID string) error) {
	shape := s.shape()
	m := r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	if !strings.Contains(", "+methods+",", ", "+m+",") {
		w.Header().Set("Allow", methods)
		shape(w, r, http.StatusMethodNotAllowed, "MethodNotAllowed",
			"The requested method '"+clip(r.Method)+"' is not allowed for this resource; allowed: "+methods+".")
		return
	}
	err := func() error {
		if s.Auth == nil {
			return errs.E(errs.Internal, "rbac: no authenticator configured")
		}
		p, err := s.Auth.Authenticate(r)
		if err != nil {
			return err
		}
		if err := arm.RequireAPIVersion(r, APIVersions); err != nil {
			return err
		}
		tenantID, err := s.tenantOf(r, p)
		if err != nil {
			return err
		}
		return op(r.WithContext(authn.WithPrincipal(r.Context(), p)), tenantID)
	}()
	if err != nil {
		httpx.WriteError(w, r, shape, err)
	}
}

// isGet reports whether r is a GET, or a HEAD, which is served like one.
func isGet(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }

// tenantOf returns the tenant a request acts in: the token's, or for an administrator the
// default tenant unless the X-Lanyard-Tenant header names another.
func (s *Service) tenantOf(r *http.Request, p authn.Principal) (string, error) {
	if !p.Admin {
		if p.TenantID == "" {
			return "", errs.E(errs.Unauthenticated, "The access token names no tenant.")
		}
		return strings.ToLower(p.TenantID), nil
	}
	if h := r.Header.Get(TenantHeader); h != "" {
		if !guid.Valid(h) {
			return "", arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "The %s header must be a tenant id (a GUID).", TenantHeader)
		}
		return strings.ToLower(h), nil
	}
	if s.DefaultTenant != nil {
		if t := s.DefaultTenant(); t != "" {
			return t, nil
		}
	}
	return "", errs.E(errs.Unavailable, "the default tenant is not ready yet")
}

func (s *Service) shape() httpx.Shape {
	if s.Shape != nil {
		return s.Shape
	}
	return httpx.ARMShape("")
}

// assignmentJSON is ARM's roleAssignment.
type assignmentJSON struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties assignmentProperties `json:"properties"`
}

type assignmentProperties struct {
	RoleDefinitionID                   string  `json:"roleDefinitionId"`
	PrincipalID                        string  `json:"principalId"`
	PrincipalType                      string  `json:"principalType"`
	Scope                              string  `json:"scope"`
	Description                        *string `json:"description"`
	Condition                          *string `json:"condition"`
	ConditionVersion                   *string `json:"conditionVersion"`
	CreatedOn                          string  `json:"createdOn"`
	UpdatedOn                          string  `json:"updatedOn"`
	CreatedBy                          string  `json:"createdBy"`
	UpdatedBy                          string  `json:"updatedBy"`
	DelegatedManagedIdentityResourceID *string `json:"delegatedManagedIdentityResourceId"`
}

// assignmentARMID is the ARM id of a: {scope}/providers/Microsoft.Authorization/roleAssignments/{name}.
func assignmentARMID(a Assignment) string {
	return strings.TrimSuffix(a.Scope, "/") + "/providers/" + roleAssignmentResourceType + "/" + a.ID
}

// definitionARMID is the id of the role definition as seen at scope: subscription-level under a
// subscription, tenant-level otherwise, as ARM writes them.
func definitionARMID(roleID string, scope arm.ID) string {
	id := "/providers/" + authorizationNamespace + "/" + roleDefinitionsType + "/" + roleID
	if sub := scope.SubscriptionID(); sub != "" {
		id = "/subscriptions/" + sub + id
	}
	return id
}

func toAssignmentJSON(a Assignment) assignmentJSON {
	scope, _ := arm.Parse(a.Scope)
	created := a.Created.UTC().Format(time.RFC3339Nano)
	var desc *string
	if a.Description != "" {
		desc = &a.Description
	}
	return assignmentJSON{
		ID: assignmentARMID(a), Name: a.ID, Type: roleAssignmentResourceType,
		Properties: assignmentProperties{
			RoleDefinitionID: definitionARMID(a.RoleDefinitionID, scope),
			PrincipalID:      a.PrincipalID, PrincipalType: a.PrincipalType, Scope: a.Scope, Description: desc,
			CreatedOn: created, UpdatedOn: created, CreatedBy: a.CreatedBy, UpdatedBy: a.CreatedBy,
		},
	}
}

// assignmentBody is the body of a PUT: ARM's roleAssignment, whose read-only fields a client
// may send back and which are then ignored (except a scope, which must be the URL's).
type assignmentBody struct {
	ID         *string `json:"id"`
	Name       *string `json:"name"`
	Type       *string `json:"type"`
	Properties *struct {
		RoleDefinitionID                   string  `json:"roleDefinitionId"`
		PrincipalID                        string  `json:"principalId"`
		PrincipalType                      string  `json:"principalType"`
		Description                        *string `json:"description"`
		Condition                          *string `json:"condition"`
		ConditionVersion                   *string `json:"conditionVersion"`
		DelegatedManagedIdentityResourceID *string `json:"delegatedManagedIdentityResourceId"`
		CanDelegate                        *bool   `json:"canDelegate"`
		Scope                              *string `json:"scope"`
		CreatedOn                          *string `json:"createdOn"`
		UpdatedOn                          *string `json:"updatedOn"`
		CreatedBy                          *string `json:"createdBy"`
		UpdatedBy                          *string `json:"updatedBy"`
	} `json:"properties"`
}

func decodeAssignment(r *http.Request, scope arm.ID) (AssignmentInput, error) {
	var b assignmentBody
	if err := httpx.DecodeJSON(r, &b); err != nil {
		return AssignmentInput{}, arm.E(errs.Invalid, arm.CodeInvalidRequestContent, "%s", errs.Message(err))
	}
	p := b.Properties
	invalid := func(format string, args ...any) (AssignmentInput, error) {
		return AssignmentInput{}, arm.E(errs.Invalid, arm.CodeInvalidRequestContent, format, args...)
	}
	switch {
	case p == nil:
		return invalid("The request content must have 'properties' with 'roleDefinitionId' and 'principalId'.")
	case p.RoleDefinitionID == "":
		return invalid("The request content is missing the required property 'properties.roleDefinitionId'.")
	case p.PrincipalID == "":
		return invalid("The request content is missing the required property 'properties.principalId'.")
	case p.Condition != nil && *p.Condition != "" || p.ConditionVersion != nil && *p.ConditionVersion != "":
		return invalid("Role assignment conditions are not supported.")
	case p.DelegatedManagedIdentityResourceID != nil && *p.DelegatedManagedIdentityResourceID != "":
		return invalid("Delegated managed identities are not supported.")
	case p.CanDelegate != nil && *p.CanDelegate:
		return invalid("Delegation of role assignments is not supported.")
	}
	if p.Scope != nil && *p.Scope != "" {
		if id, err := arm.Parse(*p.Scope); err != nil || !id.Equal(scope) {
			return invalid("The scope '%s' in the request content is not the scope of the request URI, '%s'.", clip(*p.Scope), scope)
		}
	}
	in := AssignmentInput{RoleDefinitionID: p.RoleDefinitionID, PrincipalID: p.PrincipalID, PrincipalType: p.PrincipalType}
	if p.Description != nil {
		in.Description = *p.Description
	}
	return in, nil
}

// definitionJSON is ARM's roleDefinition.
type definitionJSON struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties definitionProperties `json:"properties"`
}

type definitionProperties struct {
	RoleName         string       `json:"roleName"`
	Type             string       `json:"type"`
	Description      string       `json:"description"`
	AssignableScopes []string     `json:"assignableScopes"`
	Permissions      []Permission `json:"permissions"`
}

func toDefinitionJSON(d RoleDefinition, scope arm.ID) definitionJSON {
	perms := make([]Permission, len(d.Permissions))
	for i, p := range d.Permissions {
		perms[i] = Permission{
			Actions: nonNil(p.Actions), NotActions: nonNil(p.NotActions),
			DataActions: nonNil(p.DataActions), NotDataActions: nonNil(p.NotDataActions),
		}
	}
	return definitionJSON{
		ID: definitionARMID(d.ID, scope), Name: d.ID, Type: roleDefinitionsResourceType,
		Properties: definitionProperties{
			RoleName: d.Name, Type: roleTypeBuiltIn, Description: d.Description,
			AssignableScopes: []string{"/"}, Permissions: perms,
		},
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
