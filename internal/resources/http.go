package resources

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// routeKind says what a management path names.
type routeKind int

const (
	routeSubscriptions routeKind = iota // /subscriptions
	routeSubscription                   // /subscriptions/{s}
	routeGroups                         // /subscriptions/{s}/resourcegroups
	routeGroup                          // /subscriptions/{s}/resourcegroups/{g}
	routeAll                            // /subscriptions/{s}[/resourcegroups/{g}]/resources
	routeType                           // /subscriptions/{s}[/resourcegroups/{g}]/providers/{ns}/{type}
	routeResource                       // /subscriptions/{s}/resourcegroups/{g}/providers/{ns}/{type}/{name}
	routePolicies                       // .../providers/Microsoft.KeyVault/vaults/{name}/accessPolicies/{kind}
	routeSiteConfig                     // .../providers/Microsoft.Web/sites/{name}/config/authsettingsV2[/list]
)

// route is a parsed management path.
type route struct {
	kind      routeKind
	sub       string
	group     string // "" when the path names none
	ns, typ   string // as written
	name      string
	operation string // routePolicies: add, replace or remove
}

// parseRoute recognises the paths Handler serves; keywords match in any case.
func parseRoute(path string) (route, bool) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	is := func(i int, kw string) bool { return i < len(segs) && strings.EqualFold(segs[i], kw) }
	if !is(0, "subscriptions") {
		return route{}, false
	}
	for _, s := range segs {
		if s == "" {
			return route{}, false
		}
	}
	n := len(segs)
	if n == 1 {
		return route{kind: routeSubscriptions}, true
	}
	rt := route{kind: routeSubscription, sub: segs[1]}
	i := 2
	if is(i, "resourcegroups") {
		if n == 3 {
			rt.kind = routeGroups
			return rt, true
		}
		rt.group, rt.kind, i = segs[3], routeGroup, 4
	}
	switch {
	case i == n:
		return rt, true
	case is(i, "resources") && n == i+1:
		rt.kind = routeAll
		return rt, true
	case !is(i, "providers") || n < i+3:
		return route{}, false
	}
	rt.ns, rt.typ = segs[i+1], segs[i+2]
	switch rest := segs[i+3:]; {
	case len(rest) == 0:
		rt.kind = routeType
	case rt.group == "":
		return route{}, false
	case len(rest) == 1:
		rt.kind, rt.name = routeResource, rest[0]
	case len(rest) == 3 && strings.EqualFold(rest[1], "accessPolicies"):
		rt.kind, rt.name, rt.operation = routePolicies, rest[0], rest[2]
	case (len(rest) == 3 || len(rest) == 4 && strings.EqualFold(rest[3], "list")) && strings.EqualFold(rest[1], "config") &&
		strings.EqualFold(rest[2], AuthSettingsName):
		rt.kind, rt.name, rt.operation = routeSiteConfig, rest[0], ""
		if len(rest) == 4 {
			rt.operation = "list"
		}
	default:
		return route{}, false
	}
	return rt, true
}

// MatchPath reports whether Handler serves path.
func MatchPath(path string) bool {
	_, ok := parseRoute(path)
	return ok
}

// Handler serves the management API's subscription, resource group and resource routes, in
// ARM's shapes, for paths whose keywords come in any case. Role assignments and definitions are
// rbac's; the server's front door sends their paths there.
func (s *Service) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := parseRoute(r.URL.Path)
		if !ok {
			httpx.WriteError(w, r, s.shape(), arm.E(errs.NotFound, arm.CodeResourceNotFound,
				"No HTTP resource was found that matches the request URI '%s'.", clip(r.URL.Path)))
			return
		}
		var t *Type
		versions := ResourcesVersions
		methods := "GET"
		switch rt.kind {
		case routeSubscriptions, routeSubscription:
			versions = SubscriptionVersions
		case routeGroup:
			methods = "GET, HEAD, PUT, PATCH, DELETE"
		case routeType, routeResource, routePolicies, routeSiteConfig:
			methods = "GET"
			if rt.kind == routeResource {
				methods = "GET, HEAD, PUT, PATCH, DELETE"
			}
			if rt.kind == routePolicies {
				methods = "PUT"
			}
			if rt.kind == routeSiteConfig {
				methods = "GET, PUT"
				if rt.operation == "list" {
					methods = "GET, POST"
				}
			}
			if t = TypeOf(rt.ns + "/" + rt.typ); t == nil {
				httpx.WriteError(w, r, s.shape(), invalidType(rt.ns, rt.typ))
				return
			}
			versions = t.Versions
		}
		s.serve(w, r, methods, versions, func(p authn.Principal, tenantID string) error {
			return s.dispatch(w, r, p, tenantID, rt, t)
		})
	})
}

// serve runs what every route does first: the method, authentication, api-version and the
// caller's tenant; then op.
func (s *Service) serve(w http.ResponseWriter, r *http.Request, methods string, versions []string, op func(p authn.Principal, tenantID string) error) {
	if !strings.Contains(", "+methods+",", ", "+r.Method+",") {
		w.Header().Set("Allow", methods)
		s.shape()(w, r, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			"The requested method '"+clip(r.Method)+"' is not allowed for this resource; allowed: "+methods+".")
		return
	}
	err := func() error {
		if s.Auth == nil {
			return errs.E(errs.Internal, "resources: no authenticator configured")
		}
		p, err := s.Auth.Authenticate(r)
		if err != nil {
			return err
		}
		if err := arm.RequireAPIVersion(r, versions); err != nil {
			return err
		}
		tenantID, err := s.tenantOf(r, p)
		if err != nil {
			return err
		}
		return op(p, tenantID)
	}()
	if err != nil {
		httpx.WriteError(w, r, s.shape(), err)
	}
}

func (s *Service) dispatch(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, rt route, t *Type) error {
	ctx := r.Context()
	switch rt.kind {
	case routeSubscriptions:
		subs, err := s.ListSubscriptions(ctx, p, tenantID)
		if err != nil {
			return err
		}
		out := make([]subscriptionJSON, len(subs))
		for i, sub := range subs {
			out[i] = renderSubscription(sub)
		}
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"value": out, "count": map[string]any{"type": "Total", "value": len(out)}})
		return nil
	case routeSubscription:
		sub, err := s.GetSubscription(ctx, p, tenantID, rt.sub)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, renderSubscription(sub))
		return nil
	case routeGroups:
		pg, err := arm.ParsePaging(r)
		if err != nil {
			return err
		}
		gs, next, err := s.ListGroups(ctx, p, tenantID, rt.sub, pg)
		if err != nil {
			return err
		}
		out := make([]groupJSON, len(gs))
		for i, g := range gs {
			out[i] = renderGroup(g)
		}
		body := map[string]any{"value": out}
		if next != "" {
			body["nextLink"] = arm.NextLink(r, next)
		}
		httpx.WriteJSON(w, http.StatusOK, body)
		return nil
	case routeGroup:
		return s.serveGroup(w, r, p, tenantID, rt)
	case routeAll, routeType:
		if rt.kind == routeAll {
			var err error
			if t, err = typeFilter(r.URL.Query().Get("$filter")); err != nil {
				return err
			}
		}
		pg, err := arm.ParsePaging(r)
		if err != nil {
			return err
		}
		list, next, err := s.List(ctx, p, tenantID, rt.sub, rt.group, t, pg)
		if err != nil {
			return err
		}
		out := make([]resourceJSON, len(list))
		for i, res := range list {
			out[i] = s.render(res)
			if rt.kind == routeAll {
				// ARM's generic list (Resources - List) carries no properties: az and the SDKs
				// read "properties": null (az resource list -o table counts on it).
				out[i].Properties = json.RawMessage("null")
			}
		}
		body := map[string]any{"value": out}
		if next != "" {
			body["nextLink"] = arm.NextLink(r, next)
		}
		httpx.WriteJSON(w, http.StatusOK, body)
		return nil
	}
	id, err := arm.Parse("/subscriptions/" + rt.sub + "/resourceGroups/" + rt.group + "/providers/" + rt.ns + "/" + rt.typ + "/" + rt.name)
	if err != nil {
		return err
	}
	if rt.kind == routePolicies {
		return s.servePolicies(w, r, p, tenantID, id, rt.operation)
	}
	if rt.kind == routeSiteConfig {
		return s.serveAuthSettings(w, r, p, tenantID, id, rt.operation == "list")
	}
	return s.serveResource(w, r, p, tenantID, id)
}

var typeFilterRE = regexp.MustCompile(`(?i)^\s*resourceType\s+eq\s+'([^']*)'\s*$`)

// typeFilter reads the $filter of a /resources list: none, or resourceType eq '{type}'.
func typeFilter(f string) (*Type, error) {
	if f == "" {
		return nil, nil
	}
	m := typeFilterRE.FindStringSubmatch(f)
	if m == nil {
		return nil, arm.E(errs.Invalid, arm.CodeInvalidQueryParameterValue,
			"The $filter '%s' is not supported: use resourceType eq '{namespace}/{type}'.", clip(f))
	}
	t := TypeOf(m[1])
	if t == nil {
		ns, typ, _ := strings.Cut(m[1], "/")
		return nil, invalidType(ns, typ)
	}
	return t, nil
}

func (s *Service) serveGroup(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, rt route) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		g, err := s.GetGroup(ctx, p, tenantID, rt.sub, rt.group)
		if r.Method == http.MethodHead {
			if errs.Is(err, errs.NotFound) {
				w.WriteHeader(http.StatusNotFound)
				return nil
			}
			if err == nil {
				w.WriteHeader(http.StatusNoContent)
			}
			return err
		}
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, renderGroup(g))
	case http.MethodPut, http.MethodPatch:
		in, err := decodeGroup(r)
		if err != nil {
			return err
		}
		g, created, err := s.PutGroup(ctx, p, tenantID, rt.sub, rt.group, in, r.Method == http.MethodPatch)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, statusOf(created), renderGroup(g))
	case http.MethodDelete:
		if err := s.DeleteGroup(ctx, p, tenantID, rt.sub, rt.group); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

func (s *Service) serveResource(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, id arm.ID) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		res, err := s.Get(ctx, p, tenantID, id)
		if r.Method == http.MethodHead {
			if errs.Is(err, errs.NotFound) {
				w.WriteHeader(http.StatusNotFound)
				return nil
			}
			if err == nil {
				w.WriteHeader(http.StatusNoContent)
			}
			return err
		}
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, s.render(res))
	case http.MethodPut, http.MethodPatch:
		in, err := decodeResource(r)
		if err != nil {
			return err
		}
		res, created, err := s.Put(ctx, p, tenantID, id, in, r.Method == http.MethodPatch)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if t := TypeOf(id.ResourceType()); t != nil {
			status = t.PutStatus(created)
		}
		httpx.WriteJSON(w, status, s.render(res))
	case http.MethodDelete:
		found, err := s.Delete(ctx, p, tenantID, id)
		if err != nil {
			return err
		}
		if !found {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

func (s *Service) servePolicies(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, id arm.ID, operation string) error {
	var body struct {
		Properties *struct {
			AccessPolicies *[]json.RawMessage `json:"accessPolicies"`
		} `json:"properties"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Properties == nil || body.Properties.AccessPolicies == nil {
		return invalidContent("The request content must be {\"properties\": {\"accessPolicies\": [...]}}.")
	}
	vault, policies, err := s.UpdateAccessPolicies(r.Context(), p, tenantID, id, operation, *body.Properties.AccessPolicies)
	if err != nil {
		return err
	}
	op := strings.ToLower(operation)
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"id": vault.ID + "/accessPolicies/" + op, "name": op, "type": TypeVault + "/accessPolicies", "location": vault.Location,
		"properties": map[string]any{"accessPolicies": nonNilPolicies(policies)},
	})
	return nil
}

func statusOf(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}

// decodeBody reads a JSON body of at most httpx.MaxBody bytes into v. Members v does not name
// are ignored, as ARM ignores them (read-only members a client sends back, systemData, etag).
func decodeBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, httpx.MaxBody))
	if err != nil {
		return invalidContent("The request content could not be read: it must be a JSON object of at most %d bytes.", httpx.MaxBody)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return invalidContent("The request content must be a JSON object.")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return invalidContent("The request content was invalid and could not be deserialized: %s.", clip(err.Error()))
	}
	return nil
}

// bodyJSON is the members of a resource or group body Lanyard reads.
type bodyJSON struct {
	Location   *string         `json:"location"`
	Tags       json.RawMessage `json:"tags"`
	Kind       *string         `json:"kind"`
	Identity   json.RawMessage `json:"identity"`
	Properties json.RawMessage `json:"properties"`
	ManagedBy  *string         `json:"managedBy"`
}

func decodeTags(raw json.RawMessage) (map[string]string, bool, error) {
	if raw == nil {
		return nil, false, nil
	}
	var tags map[string]string
	if err := json.Unmarshal(raw, &tags); err != nil {
		return nil, false, invalidContent("'tags' must be an object whose values are strings.")
	}
	return tags, true, nil
}

func decodeResource(r *http.Request) (ResourceInput, error) {
	var b bodyJSON
	if err := decodeBody(r, &b); err != nil {
		return ResourceInput{}, err
	}
	tags, given, err := decodeTags(b.Tags)
	if err != nil {
		return ResourceInput{}, err
	}
	ident, err := ParseIdentity(b.Identity)
	if err != nil {
		return ResourceInput{}, err
	}
	return ResourceInput{Location: b.Location, Tags: tags, TagsGiven: given, Kind: b.Kind, Identity: ident, Properties: b.Properties}, nil
}

func decodeGroup(r *http.Request) (GroupInput, error) {
	var b bodyJSON
	if err := decodeBody(r, &b); err != nil {
		return GroupInput{}, err
	}
	tags, given, err := decodeTags(b.Tags)
	if err != nil {
		return GroupInput{}, err
	}
	return GroupInput{Location: b.Location, Tags: tags, TagsGiven: given, ManagedBy: b.ManagedBy}, nil
}

// Rendering.

type subscriptionJSON struct {
	ID                   string            `json:"id"`
	AuthorizationSource  string            `json:"authorizationSource"`
	ManagedByTenants     []any             `json:"managedByTenants"`
	SubscriptionID       string            `json:"subscriptionId"`
	TenantID             string            `json:"tenantId"`
	DisplayName          string            `json:"displayName"`
	State                string            `json:"state"`
	SubscriptionPolicies map[string]string `json:"subscriptionPolicies"`
}

func renderSubscription(s Subscription) subscriptionJSON {
	return subscriptionJSON{
		ID: "/subscriptions/" + s.ID, AuthorizationSource: "RoleBased", ManagedByTenants: []any{},
		SubscriptionID: s.ID, TenantID: s.TenantID, DisplayName: s.DisplayName, State: s.State,
		SubscriptionPolicies: map[string]string{"locationPlacementId": "Public_2014-09-01", "quotaId": "Lanyard_2026-01-01", "spendingLimit": "Off"},
	}
}

type groupJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	ManagedBy  string            `json:"managedBy,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties map[string]string `json:"properties"`
}

func renderGroup(g Group) groupJSON {
	return groupJSON{
		ID: g.ID(), Name: g.Name, Type: TypeGroup, Location: g.Location, ManagedBy: g.ManagedBy, Tags: g.Tags,
		Properties: map[string]string{"provisioningState": "Succeeded"},
	}
}

// resourceJSON is ARM's tracked resource.
type resourceJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Kind       string            `json:"kind,omitempty"`
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags"`
	Identity   *identityJSON     `json:"identity,omitempty"`
	Properties json.RawMessage   `json:"properties"`
}

// render returns r in ARM's shape, with the properties Lanyard computes: a site's state and
// defaultHostName, a user-assigned identity's tenantId, principalId and clientId, a vault's
// vaultUri, access policies and provisioningState.
func (s *Service) render(r Resource) resourceJSON {
	props, err := objectOf(r.Properties, "properties")
	if err != nil {
		props = map[string]json.RawMessage{}
	}
	switch r.Type {
	case TypeSite:
		props["state"] = mustJSON("Running")
		props["defaultHostName"] = mustJSON(strings.ToLower(r.Name) + "." + s.siteDomain())
	case TypeUserAssigned:
		props["tenantId"] = mustJSON(r.TenantID)
		props["principalId"] = mustJSON(r.PrincipalID)
		props["clientId"] = mustJSON(r.ClientID)
	case TypeVault:
		props[vaultURIProperty] = mustJSON(VaultURI(r.Name, s.VaultDomain, s.PublicURL))
		props[accessPoliciesProperty] = mustJSON(nonNilPolicies(r.AccessPolicies))
		props["provisioningState"] = mustJSON("Succeeded")
	}
	tags := r.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	return resourceJSON{
		ID: r.ID, Name: r.Name, Type: r.Type, Kind: r.Kind, Location: r.Location, Tags: tags,
		Identity: renderIdentity(r), Properties: mustJSON(props),
	}
}

func (s *Service) siteDomain() string {
	if s.SiteDomain != "" {
		return s.SiteDomain
	}
	return "localhost"
}
