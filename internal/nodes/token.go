package nodes

import (
	"context"
	"strings"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// identity is one identity a resource holds.
type identity struct {
	principalID, clientID string
	resourceID            string // the user-assigned identity's ARM id, or the owner's for system-assigned
	system                bool
}

// identitiesOf lists r's identities: the system-assigned one first (when on), then the
// user-assigned ones.
func identitiesOf(r resources.Resource) []identity {
	var out []identity
	if r.SystemAssigned && r.PrincipalID != "" {
		out = append(out, identity{principalID: r.PrincipalID, clientID: r.ClientID, resourceID: r.ID, system: true})
	}
	for _, ua := range r.UserAssigned {
		out = append(out, identity{principalID: ua.PrincipalID, clientID: ua.ClientID, resourceID: ua.ID})
	}
	return out
}

// pick finds the identity sel names among ids.
func pick(ids []identity, sel agentapi.Selector) (identity, bool) {
	v := strings.ToLower(strings.TrimSpace(sel.Value))
	for _, id := range ids {
		var ok bool
		switch sel.Kind {
		case agentapi.SelectorSystem:
			ok = id.system
		case agentapi.SelectorClientID:
			ok = strings.EqualFold(id.clientID, v)
		case agentapi.SelectorObjectID:
			ok = strings.EqualFold(id.principalID, v)
		case agentapi.SelectorResourceID:
			ok = !id.system && strings.EqualFold(strings.TrimRight(id.resourceID, "/"), strings.TrimRight(v, "/"))
		}
		if ok {
			return id, true
		}
	}
	return identity{}, false
}

var errForbiddenApp = &errs.Error{Kind: errs.Denied, Code: agentapi.CodeForbidden,
	Msg: "this node may not act for that app: it is not placed on this node"}

// tokenForNode mints a token for an identity that the node whose id a client certificate names
// may act for: an identity of its machine (req.App empty) or of a site placed on it; refusals
// are audited. The node and the identities' owner are read in one statement (the agent API's hot
// path).
func (s *Service) tokenForNode(ctx context.Context, nodeID string, req agentapi.TokenRequest) (agentapi.TokenResponse, error) {
	ownerKey, err := checkTokenRequest(req)
	if err != nil {
		return agentapi.TokenResponse{}, err
	}
	ctx, err = s.Store.MintSnapshot(ctx)
	if err != nil {
		return agentapi.TokenResponse{}, err
	}
	n, owner, found, err := s.Store.GetNodeAndResource(ctx, nodeID, ownerKey)
	if errs.Is(err, errs.NotFound) {
		return agentapi.TokenResponse{}, errNotEnrolled
	}
	if err != nil {
		return agentapi.TokenResponse{}, err
	}
	return s.tokenFor(ctx, n, owner, found, req)
}

// checkTokenRequest checks req and returns the key of the resource whose identity it asks for:
// the app's, or "" for the node's machine.
func checkTokenRequest(req agentapi.TokenRequest) (string, error) {
	switch req.Selector.Kind {
	case agentapi.SelectorSystem:
	case agentapi.SelectorClientID, agentapi.SelectorObjectID, agentapi.SelectorResourceID:
		if req.Selector.Value == "" || len(req.Selector.Value) > 1024 {
			return "", &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "selector " + string(req.Selector.Kind) + " needs a value of at most 1024 characters"}
		}
	default:
		return "", &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "unknown selector kind " + clip(string(req.Selector.Kind))}
	}
	if req.Resource == "" {
		return "", &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "the request names no resource"}
	}
	if req.App == "" {
		return "", nil
	}
	id, err := arm.Parse(req.App)
	if err != nil || !strings.EqualFold(id.ResourceType(), resources.TypeSite) {
		return "", &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidRequest, Msg: "app must be a site's ARM id (/subscriptions/…/providers/Microsoft.Web/sites/NAME), not " + clip(req.App)}
	}
	return id.Key(), nil
}

// tokenFor mints for req as node n, owner being the resource whose identity it asks for (found
// false: there is none).
func (s *Service) tokenFor(ctx context.Context, n Node, owner resources.Resource, found bool, req agentapi.TokenRequest) (agentapi.TokenResponse, error) {
	actor := CertPrefix + n.ID
	switch {
	case !found && req.App != "":
		s.record(ctx, actor, "node.token", clip(req.App), audit.Denied, "no such app")
		return agentapi.TokenResponse{}, errForbiddenApp
	case !found:
		return agentapi.TokenResponse{}, &errs.Error{Kind: errs.Denied, Code: agentapi.CodeForbidden, Msg: "this node's machine resource is gone: enroll it again"}
	}
	if req.App != "" && !resources.PlacedOn(owner, n.Name) {
		s.record(ctx, actor, "node.token", owner.ID, audit.Denied, "the app is placed on node(s) '"+strings.Join(resources.SiteNodes(owner), ",")+"'")
		return agentapi.TokenResponse{}, errForbiddenApp
	}
	ident, ok := pick(identitiesOf(owner), req.Selector)
	if !ok {
		return agentapi.TokenResponse{}, &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeIdentityNotFound,
			Msg: "Identity not found: " + owner.ID + " has no identity for " + describe(req.Selector)}
	}
	tok, err := s.Mint(ctx, n.TenantID, ident.principalID, req.Resource)
	if err != nil {
		return agentapi.TokenResponse{}, mintError(err)
	}
	return agentapi.TokenResponse{
		AccessToken: tok.Raw, ExpiresOn: tok.ExpiresAt.Unix(), NotBefore: tok.IssuedAt.Unix(), Resource: req.Resource,
		ClientID: ident.clientID, ObjectID: ident.principalID, IdentityResourceID: ident.resourceID,
	}, nil
}

// describe names a selector in a message.
func describe(sel agentapi.Selector) string {
	if sel.Kind == agentapi.SelectorSystem {
		return "its system-assigned identity (it has none)"
	}
	return string(sel.Kind) + " " + clip(sel.Value)
}

// mintError gives the directory's refusals the agent API's codes.
func mintError(err error) error {
	switch {
	case errs.CodeOf(err) == "invalid_resource":
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeInvalidResource, Msg: errs.Message(err)}
	case errs.Is(err, errs.NotFound):
		return &errs.Error{Kind: errs.Invalid, Code: agentapi.CodeIdentityNotFound, Msg: "Identity not found: " + errs.Message(err)}
	case errs.Is(err, errs.Denied):
		return &errs.Error{Kind: errs.Denied, Code: agentapi.CodeForbidden, Msg: errs.Message(err)}
	}
	return err
}
