package resources

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// ResourceInput is the body of a resource PUT or PATCH. Nil or false means not given.
type ResourceInput struct {
	Location   *string
	Tags       map[string]string
	TagsGiven  bool
	Kind       *string
	Identity   *IdentityInput
	Properties json.RawMessage
}

// maxApplyAttempts bounds the retries of a write that lost a race with another write.
const maxApplyAttempts = 10

// ResourceNotFound is ARM's 404 for a resource that does not exist.
func ResourceNotFound(id arm.ID) error {
	return arm.E(errs.NotFound, arm.CodeResourceNotFound,
		"The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
		id.ResourceType(), id.Name(), id.ResourceGroupName())
}

// target checks what every operation on the resource id needs first: a type the API serves and
// the subscription (404 SubscriptionNotFound). The type's naming rule is checked by writes only,
// as ARM does: reading or deleting a name no resource can have finds nothing.
func (s *Service) target(ctx context.Context, tenantID string, id arm.ID) (*Type, error) {
	if _, err := s.subscription(ctx, tenantID, id.SubscriptionID()); err != nil {
		return nil, err
	}
	t := TypeOf(id.ResourceType())
	if t == nil || id.Kind() != arm.KindResource || id.Parent().Kind() != arm.KindResourceGroup {
		return nil, invalidType(id.Namespace(), strings.TrimPrefix(id.ResourceType(), id.Namespace()+"/"))
	}
	return t, nil
}

// group returns the group a resource id is in: 404 ResourceGroupNotFound when there is none.
func (s *Service) group(ctx context.Context, tenantID string, id arm.ID) (Group, error) {
	g, err := s.Store.GetResourceGroup(ctx, tenantID, id.SubscriptionID(), id.ResourceGroupName())
	if errs.Is(err, errs.NotFound) {
		return Group{}, groupNotFound(id.ResourceGroupName())
	}
	return g, err
}

// Get returns the resource id, which p must be allowed to read.
func (s *Service) Get(ctx context.Context, p authn.Principal, tenantID string, id arm.ID) (Resource, error) {
	t, err := s.target(ctx, tenantID, id)
	if err != nil {
		return Resource{}, err
	}
	if err := s.Access.Check(ctx, p, tenantID, t.Action("read"), id); err != nil {
		return Resource{}, err
	}
	if _, err := s.group(ctx, tenantID, id); err != nil {
		return Resource{}, err
	}
	r, err := s.Store.GetResource(ctx, tenantID, id.Key())
	if errs.Is(err, errs.NotFound) {
		return Resource{}, ResourceNotFound(id)
	}
	return r, err
}

// Put creates or replaces the resource id (PUT; created reports which), or updates it (patch:
// PATCH, which needs it to exist: tags replace the resource's when given, properties are merged
// as a JSON merge patch, identity follows ARM's rules, see applyIdentity). p needs the type's
// write action on the resource, and the assign action on every user-assigned identity it
// attaches (403 LinkedAuthorizationFailed otherwise). Turning the system-assigned identity on
// creates its service principal, turning it off deletes it and everything it held; the
// resource, its identities and its access policies change in one transaction.
func (s *Service) Put(ctx context.Context, p authn.Principal, tenantID string, id arm.ID, in ResourceInput, patch bool) (r Resource, created bool, err error) {
	t, err := s.target(ctx, tenantID, id)
	if err != nil {
		return Resource{}, false, err
	}
	write := t.Action("write")
	if err := s.Access.Check(ctx, p, tenantID, write, id); err != nil {
		return Resource{}, false, err
	}
	if err := t.checkName(id.Name()); err != nil {
		return Resource{}, false, err
	}
	detail := ""
	defer func() { err = s.recordWrite(ctx, p, "resource.write", id.String(), detail, err) }()
	g, err := s.group(ctx, tenantID, id)
	if err != nil {
		return Resource{}, false, err
	}
	for range maxApplyAttempts {
		old, err := s.Store.GetResource(ctx, tenantID, id.Key())
		var oldp *Resource
		switch {
		case err == nil:
			oldp = &old
		case !errs.Is(err, errs.NotFound):
			return Resource{}, false, err
		case patch:
			return Resource{}, false, ResourceNotFound(id)
		}
		change, linked, err := s.plan(tenantID, t, g, id, oldp, in, patch)
		if err != nil {
			return Resource{}, false, err
		}
		for _, u := range linked {
			if err := s.checkLinked(ctx, p, tenantID, write, id, u); err != nil {
				return Resource{}, false, err
			}
		}
		if err := s.checkIdentitiesExist(ctx, tenantID, linked); err != nil {
			return Resource{}, false, err
		}
		detail = changeDetail(change, oldp)
		err = s.Store.ApplyResourceChange(ctx, change)
		switch {
		case IsStale(err):
			continue
		case errors.Is(err, ErrVaultNameTaken):
			return Resource{}, false, arm.E(errs.Conflict, CodeVaultAlreadyExists,
				"The vault name '%s' is already in use. Vault names are globally unique so it is possible that the name is already taken.", id.Name())
		case errors.Is(err, ErrNoGroup):
			return Resource{}, false, groupNotFound(id.ResourceGroupName())
		case errors.Is(err, ErrNoIdentity):
			return Resource{}, false, invalidIdentity("A user-assigned identity of the request was deleted while the request was served.")
		case err != nil:
			return Resource{}, false, err
		}
		r, err = s.Store.GetResource(ctx, tenantID, id.Key())
		return r, oldp == nil, err
	}
	return Resource{}, false, arm.E(errs.Conflict, arm.CodeConflict, "The resource '%s' is being changed by other requests; try again.", id)
}

// changeDetail summarises a change for the audit record: the identity principals it creates
// and deletes.
func changeDetail(c Change, old *Resource) string {
	var parts []string
	if old == nil {
		parts = append(parts, "created")
	}
	for _, sp := range c.CreateSPs {
		parts = append(parts, "principal+="+sp.ID)
	}
	for _, id := range c.DeleteSPs {
		parts = append(parts, "principal-="+id)
	}
	return strings.Join(parts, " ")
}

// checkLinked asks for the assign action on a user-assigned identity the request attaches: a
// denial is ARM's LinkedAuthorizationFailed.
func (s *Service) checkLinked(ctx context.Context, p authn.Principal, tenantID, action string, id, identity arm.ID) error {
	err := s.Access.Check(ctx, p, tenantID, ActionAssignIdentity, identity)
	if errs.Is(err, errs.Denied) {
		return arm.E(errs.Denied, CodeLinkedAuthorizationFailed,
			"The client '%s' with object id '%s' has permission to perform action '%s' on scope '%s'; however, it does not have "+
				"permission to perform action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.",
			p.ObjectID, p.ObjectID, action, id, ActionAssignIdentity, identity)
	}
	return err
}

// checkIdentitiesExist checks that the user-assigned identities a request attaches are
// user-assigned identities of the tenant.
func (s *Service) checkIdentitiesExist(ctx context.Context, tenantID string, ids []arm.ID) error {
	for _, u := range ids {
		r, err := s.Store.GetResource(ctx, tenantID, u.Key())
		if errs.Is(err, errs.NotFound) || err == nil && r.Type != TypeUserAssigned {
			return invalidIdentity("The user-assigned identity '%s' was not found.", u)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// plan computes the change a PUT or PATCH makes to old (nil: absent), and the user-assigned
// identities it newly attaches.
func (s *Service) plan(tenantID string, t *Type, g Group, id arm.ID, old *Resource, in ResourceInput, patch bool) (Change, []arm.ID, error) {
	r := Resource{
		TenantID: tenantID, ID: resourceID(g.SubscriptionID, g.Name, t, id.Name()), SubscriptionID: g.SubscriptionID,
		Group: g.Name, Type: t.Name, Name: id.Name(), Location: DefaultLocation, Created: s.now(),
	}
	if old != nil {
		r = *old
		r.UserAssigned, r.AccessPolicies = nil, nil
		if !patch {
			r.Tags, r.Kind = nil, ""
		}
	}
	r.Changed = s.now()
	if in.Location != nil {
		loc, err := normalizeLocation(*in.Location)
		if err != nil {
			return Change{}, nil, err
		}
		if old != nil && loc != old.Location {
			return Change{}, nil, arm.E(errs.Conflict, "InvalidResourceLocation",
				"The resource '%s/%s' already exists in location '%s' in resource group '%s'. A resource with the same name cannot be created in location '%s'.",
				t.Name, r.Name, old.Location, g.Name, loc)
		}
		r.Location = loc
	}
	if in.TagsGiven {
		if err := checkTags(in.Tags); err != nil {
			return Change{}, nil, err
		}
		r.Tags = in.Tags
	}
	if t.Name == TypeSite {
		if in.Kind != nil {
			k, err := siteKind(*in.Kind)
			if err != nil {
				return Change{}, nil, err
			}
			r.Kind = k
		}
		if r.Kind == "" {
			r.Kind = "app"
		}
	}
	props, err := s.properties(tenantID, t, old, in.Properties, patch)
	if err != nil {
		return Change{}, nil, err
	}
	r.Properties = props.raw
	r.AccessPolicies = props.policies
	cur := identityOf(old)
	next, err := applyIdentity(t, cur, in.Identity, patch)
	if err != nil {
		return Change{}, nil, err
	}
	c := Change{TenantID: tenantID, Key: id.Key(), Put: &r}
	if old != nil {
		c.Version = old.Version
	}
	if t.Name == TypeUserAssigned && old == nil {
		sp, err := s.Identities.NewManagedIdentitySP(tenantID, directory.ManagedIdentityInput{DisplayName: r.Name, ResourceID: r.ID, Explicit: true})
		if err != nil {
			return Change{}, nil, err
		}
		c.CreateSPs = append(c.CreateSPs, sp)
		r.PrincipalID, r.ClientID = sp.ID, sp.AppID
	}
	switch {
	case next.System && !cur.System:
		sp, err := s.Identities.NewManagedIdentitySP(tenantID, directory.ManagedIdentityInput{DisplayName: r.Name, ResourceID: r.ID})
		if err != nil {
			return Change{}, nil, err
		}
		c.CreateSPs = append(c.CreateSPs, sp)
		r.PrincipalID, r.ClientID = sp.ID, sp.AppID
	case !next.System && cur.System:
		if old.PrincipalID != "" {
			c.DeleteSPs = append(c.DeleteSPs, old.PrincipalID)
		}
		r.PrincipalID, r.ClientID = "", ""
	}
	r.SystemAssigned = next.System
	var linked []arm.ID
	for _, u := range next.User {
		r.UserAssigned = append(r.UserAssigned, UserAssignedRef{ID: u.String()})
		if !slices.ContainsFunc(cur.User, u.Equal) {
			linked = append(linked, u)
		}
	}
	return c, linked, nil
}

// siteKind checks a site's kind: comma-separated, one of app and functionapp, with any of
// linux, windows, container, kubernetes.
func siteKind(kind string) (string, error) {
	main := 0
	for _, part := range strings.Split(strings.ToLower(kind), ",") {
		switch strings.TrimSpace(part) {
		case "app", "functionapp":
			main++
		case "linux", "windows", "container", "kubernetes":
		default:
			main = 2
		}
	}
	if main != 1 {
		return "", invalidContent("The site kind '%s' is not supported: use 'app' or 'functionapp' (optionally with ',linux' or ',container').", clip(kind))
	}
	return kind, nil
}

// Delete deletes the resource id (found false: there was none, which is not an error): with it,
// its system-assigned identity's service principal, or, for a user-assigned identity, its own,
// and everything they held; the role assignments at or below the resource; and, for a
// user-assigned identity, its attachment to every resource. User-assigned identities the
// resource held are not touched. All in one transaction.
func (s *Service) Delete(ctx context.Context, p authn.Principal, tenantID string, id arm.ID) (found bool, err error) {
	t, err := s.target(ctx, tenantID, id)
	if err != nil {
		return false, err
	}
	if err := s.Access.Check(ctx, p, tenantID, t.Action("delete"), id); err != nil {
		return false, err
	}
	if _, err := s.group(ctx, tenantID, id); err != nil {
		return false, err
	}
	old, err := s.Store.GetResource(ctx, tenantID, id.Key())
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	detail := ""
	if old.PrincipalID != "" {
		detail = "principal-=" + old.PrincipalID
	}
	err = s.Store.ApplyResourceChange(ctx, Change{TenantID: tenantID, Key: id.Key(), Version: -1})
	if errs.Is(err, errs.NotFound) { // deleted meanwhile
		return false, nil
	}
	return true, s.recordWrite(ctx, p, "resource.delete", old.ID, detail, err)
}

// List returns the resources of a subscription, or of one of its groups (group not ""), of one
// type (t not nil) or all, that p may read: all of them when p may read them at the list's
// scope, else those p may read one by one. A list of one type that p may read nothing of is
// 403, as ARM answers. With pg.Top, one page of them in id order after pg.After, and the key to
// continue after ("" at the end).
func (s *Service) List(ctx context.Context, p authn.Principal, tenantID, subID, group string, t *Type, pg arm.Paging) ([]Resource, string, error) {
	sub, err := s.subscription(ctx, tenantID, subID)
	if err != nil {
		return nil, "", err
	}
	scope := arm.MustParse("/subscriptions/" + sub.ID)
	q := Query{TenantID: tenantID, SubscriptionID: sub.ID}
	if group != "" {
		if err := arm.ValidateResourceGroupName(group); err != nil {
			return nil, "", err
		}
		scope = arm.MustParse("/subscriptions/" + sub.ID + "/resourceGroups/" + group)
		q.GroupKey = strings.ToLower(group)
	}
	if t != nil {
		q.TypeKey = t.Key()
	}
	atScope := map[string]bool{}
	for _, typ := range Types {
		if t == nil || typ == t {
			ok, err := s.allowed(ctx, p, tenantID, typ.Action("read"), scope)
			if err != nil {
				return nil, "", err
			}
			atScope[typ.Name] = ok
		}
	}
	if group != "" && (t == nil || atScope[t.Name]) {
		if _, err := s.group(ctx, tenantID, scope); err != nil {
			return nil, "", err
		}
	}
	out, next, err := pageOf(pg, func(after string, n int) ([]Resource, error) {
		q.AfterKey, q.Limit = after, n
		return s.Store.ListResources(ctx, q)
	}, Resource.Key, func(r Resource) (bool, error) {
		if atScope[r.Type] {
			return true, nil
		}
		return s.allowed(ctx, p, tenantID, TypeOf(r.Type).Action("read"), arm.MustParse(r.ID))
	})
	if err != nil {
		return nil, "", err
	}
	if t != nil && !atScope[t.Name] && len(out) == 0 && pg.After == "" {
		return nil, "", s.Access.Check(ctx, p, tenantID, t.Action("read"), scope)
	}
	return out, next, nil
}

// UpdateAccessPolicies applies ARM's access policy operation (kind add, replace or remove, see
// updateAccessPolicies) to the vault id, for p, who needs accessPolicies/write on it. It returns
// the policies as given, as ARM answers.
func (s *Service) UpdateAccessPolicies(ctx context.Context, p authn.Principal, tenantID string, id arm.ID, kind string, given []json.RawMessage) (vault Resource, out []AccessPolicy, err error) {
	t, err := s.target(ctx, tenantID, id)
	if err != nil {
		return Resource{}, nil, err
	}
	if t.Name != TypeVault {
		return Resource{}, nil, invalidType(id.Namespace(), "vaults/accessPolicies")
	}
	if err := s.Access.Check(ctx, p, tenantID, ActionAccessPolicesWrite, id); err != nil {
		return Resource{}, nil, err
	}
	defer func() {
		err = s.recordWrite(ctx, p, "vault.accesspolicy", id.String(), "operation="+clip(strings.ToLower(kind)), err)
	}()
	if _, err := s.group(ctx, tenantID, id); err != nil {
		return Resource{}, nil, err
	}
	kind = strings.ToLower(kind)
	if kind != accessPolicyKindAdd && kind != accessPolicyKindReplace && kind != accessPolicyKindRemove {
		return Resource{}, nil, invalidContent("The access policy operation '%s' is not valid: it must be add, replace or remove.", clip(kind))
	}
	policies, err := parseAccessPolicies(tenantID, given)
	if err != nil {
		return Resource{}, nil, err
	}
	for range maxApplyAttempts {
		v, err := s.Store.GetResource(ctx, tenantID, id.Key())
		if errs.Is(err, errs.NotFound) {
			return Resource{}, nil, ResourceNotFound(id)
		}
		if err != nil {
			return Resource{}, nil, err
		}
		next, err := updateAccessPolicies(v.AccessPolicies, kind, policies)
		if err != nil {
			return Resource{}, nil, err
		}
		put := v
		put.AccessPolicies, put.Changed = next, s.now()
		err = s.Store.ApplyResourceChange(ctx, Change{TenantID: tenantID, Key: id.Key(), Version: v.Version, Put: &put})
		if IsStale(err) {
			continue
		}
		return put, policies, err
	}
	return Resource{}, nil, arm.E(errs.Conflict, arm.CodeConflict, "The vault '%s' is being changed by other requests; try again.", id)
}

// propertiesOut is what properties() makes: the properties to store and a vault's policies.
type propertiesOut struct {
	raw      json.RawMessage
	policies []AccessPolicy
}

// properties validates the properties of a PUT (given, or {}) or a PATCH (merged into old's as
// a JSON merge patch) for type t.
func (s *Service) properties(tenantID string, t *Type, old *Resource, given json.RawMessage, patch bool) (propertiesOut, error) {
	props, err := objectOf(given, "properties")
	if err != nil {
		return propertiesOut{}, err
	}
	var oldProps map[string]json.RawMessage
	if old != nil {
		if oldProps, err = objectOf(old.Properties, "stored properties"); err != nil {
			return propertiesOut{}, err
		}
		if t.Name == TypeVault {
			oldProps[accessPoliciesProperty] = mustJSON(nonNilPolicies(old.AccessPolicies))
		}
	}
	if patch {
		merged := mergePatch(cloneObject(oldProps), props)
		props = merged
	}
	switch t.Name {
	case TypeVault:
		raw, policies, err := vaultProperties(tenantID, props, oldProps)
		return propertiesOut{raw: raw, policies: policies}, err
	case TypeSite:
		delete(props, "state")
		delete(props, "defaultHostName")
		if err := checkPlacement(props); err != nil {
			return propertiesOut{}, err
		}
		if err := checkKeyVaultReferenceIdentity(props); err != nil {
			return propertiesOut{}, err
		}
	case TypeUserAssigned:
		for _, k := range []string{"principalId", "clientId", "tenantId"} {
			delete(props, k)
		}
		var scope string
		if err := getJSON(props, "isolationScope", &scope); err != nil || scope != "" && scope != "None" && scope != "Regional" {
			return propertiesOut{}, invalidContent("'properties.isolationScope' must be 'None' or 'Regional'.")
		}
	}
	raw, err := json.Marshal(props)
	if err != nil {
		return propertiesOut{}, errs.Wrap(errs.Internal, err, "encode properties")
	}
	return propertiesOut{raw: raw}, nil
}

// PlacementProperty is Lanyard's extension of a site's properties: {"lanyard": {"node": NAME}}
// places the site on the node NAME, whose agent runs it and may get tokens for its identities;
// {"lanyard": {"nodes": [NAME, …]}} places it on several nodes, each of whose agents runs its own
// copy (and serves it at the site's host name).
const PlacementProperty = "lanyard"

// maxPlacement bounds the nodes a site is placed on.
const maxPlacement = 16

// checkPlacement checks properties.lanyard: an object whose only member is node (a node name) or
// nodes (a list of node names).
func checkPlacement(props map[string]json.RawMessage) error {
	raw, ok := props[PlacementProperty]
	if !ok || string(raw) == "null" {
		delete(props, PlacementProperty)
		return nil
	}
	var p struct {
		Node  string   `json:"node,omitempty"`
		Nodes []string `json:"nodes,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return invalidContent("'properties.lanyard' must be {\"node\": NAME} or {\"nodes\": [NAME, …]}: %s.", clip(err.Error()))
	}
	if p.Node != "" && len(p.Nodes) > 0 {
		return invalidContent("'properties.lanyard' names node and nodes: give one of them.")
	}
	if len(p.Nodes) > maxPlacement {
		return invalidContent("'properties.lanyard.nodes' names more than %d nodes.", maxPlacement)
	}
	names := p.Nodes
	if p.Node != "" {
		names = []string{p.Node}
	}
	for _, n := range names {
		if err := TypeOf(TypeMachine).checkName(n); err != nil {
			return invalidContent("'properties.lanyard' must name nodes by their names: %s", errs.Message(err))
		}
	}
	if p.Node == "" && len(p.Nodes) == 0 {
		props[PlacementProperty] = json.RawMessage(`{"node":""}`)
		return nil
	}
	props[PlacementProperty] = mustJSON(p)
	return nil
}

// SiteNodes returns the nodes a site is placed on (properties.lanyard.node or .nodes).
func SiteNodes(r Resource) []string {
	var props struct {
		Lanyard struct {
			Node  string   `json:"node"`
			Nodes []string `json:"nodes"`
		} `json:"lanyard"`
	}
	_ = json.Unmarshal(r.Properties, &props)
	if props.Lanyard.Node != "" {
		return []string{props.Lanyard.Node}
	}
	return props.Lanyard.Nodes
}

// SiteNode returns the node a site is placed on, the first when it is on several, or "".
func SiteNode(r Resource) string {
	if n := SiteNodes(r); len(n) > 0 {
		return n[0]
	}
	return ""
}

// PlacedOn reports whether site r is placed on the node named node.
func PlacedOn(r Resource, node string) bool {
	for _, n := range SiteNodes(r) {
		if strings.EqualFold(n, node) {
			return true
		}
	}
	return false
}

// objectOf decodes a JSON object (null or empty: an empty one).
func objectOf(raw json.RawMessage, what string) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return m, nil
	}
	if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, invalidContent("'%s' must be a JSON object.", what)
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	return m, nil
}

func cloneObject(m map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// mergePatch applies patch to target as RFC 7386 does: null removes a member, an object merges
// into an object, anything else replaces.
func mergePatch(target, patch map[string]json.RawMessage) map[string]json.RawMessage {
	for k, v := range patch {
		v = bytes.TrimSpace(v)
		if string(v) == "null" {
			delete(target, k)
			continue
		}
		var b map[string]json.RawMessage
		if len(v) > 0 && v[0] == '{' && json.Unmarshal(v, &b) == nil {
			var a map[string]json.RawMessage
			if old := bytes.TrimSpace(target[k]); len(old) == 0 || old[0] != '{' || json.Unmarshal(old, &a) != nil || a == nil {
				a = map[string]json.RawMessage{}
			}
			target[k] = mustJSON(mergePatch(a, b))
			continue
		}
		target[k] = v
	}
	return target
}

func nonNilPolicies(p []AccessPolicy) []AccessPolicy {
	if p == nil {
		return []AccessPolicy{}
	}
	return p
}
