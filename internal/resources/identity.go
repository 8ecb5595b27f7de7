package resources

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// The values of identity.type, in ARM's canonical form.
const (
	IdentityNone   = "None"
	IdentitySystem = "SystemAssigned"
	IdentityUser   = "UserAssigned"
	IdentityBoth   = "SystemAssigned, UserAssigned"
)

// IdentityInput is the identity property of a request body.
type IdentityInput struct {
	// Type is one of the Identity* constants. ParseIdentity accepts it in any case and with or
	// without the space after the comma.
	Type string
	// UserAssigned are the entries of userAssignedIdentities, one per identity (ids compared
	// without case), sorted by key.
	UserAssigned []UserAssignedInput
}

// UserAssignedInput is one entry of userAssignedIdentities: a user-assigned identity to attach
// ({} or an object with its read-only principalId and clientId), or, in a PATCH, to detach (null).
type UserAssignedInput struct {
	ID     arm.ID
	Remove bool
}

// System reports whether the type includes SystemAssigned.
func (in IdentityInput) System() bool { return in.Type == IdentitySystem || in.Type == IdentityBoth }

// User reports whether the type includes UserAssigned.
func (in IdentityInput) User() bool { return in.Type == IdentityUser || in.Type == IdentityBoth }

// identityTypes maps the lower-cased type, without spaces, to its canonical form.
var identityTypes = map[string]string{
	"none":                        IdentityNone,
	"systemassigned":              IdentitySystem,
	"userassigned":                IdentityUser,
	"systemassigned,userassigned": IdentityBoth,
}

// maxUserAssigned bounds the user-assigned identities of one resource.
const maxUserAssigned = 64

// ParseIdentity parses the JSON of an identity property: {"type": …, "userAssignedIdentities":
// {ARM id: {} | null}}. Read-only members (principalId, tenantId, and principalId/clientId in the
// entries) are accepted and ignored, so that what a GET returned can be sent back. A null
// property is (nil, nil). Errors are errs.Invalid with ARM's codes.
func ParseIdentity(raw []byte) (*IdentityInput, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var body struct {
		Type        *string                    `json:"type"`
		PrincipalID json.RawMessage            `json:"principalId"`
		TenantID    json.RawMessage            `json:"tenantId"`
		UserIDs     map[string]json.RawMessage `json:"userAssignedIdentities"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		return nil, invalidIdentity("The 'identity' property is not valid: %s.", clip(err.Error()))
	}
	if dec.More() {
		return nil, invalidIdentity("The 'identity' property is not valid: unexpected data after it.")
	}
	if body.Type == nil {
		return nil, invalidIdentity("The 'identity' property must have a 'type': one of 'None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned'.")
	}
	typ, ok := identityTypes[strings.ToLower(strings.ReplaceAll(*body.Type, " ", ""))]
	if !ok || strings.Count(*body.Type, " ") > 1 || strings.Contains(*body.Type, " ") && !strings.Contains(*body.Type, ", ") {
		return nil, invalidIdentity("The identity type '%s' is not valid: it must be one of 'None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned'.", clip(*body.Type))
	}
	in := &IdentityInput{Type: typ}
	if len(body.UserIDs) > maxUserAssigned {
		return nil, invalidIdentity("At most %d user-assigned identities can be given.", maxUserAssigned)
	}
	seen := map[string]bool{}
	for k, v := range body.UserIDs {
		id, err := arm.Parse(k)
		if err != nil || id.Kind() != arm.KindResource || !strings.EqualFold(id.ResourceType(), TypeUserAssigned) ||
			id.ResourceGroupName() == "" || id.Parent().Kind() != arm.KindResourceGroup {
			return nil, invalidIdentity("The user-assigned identity '%s' is not a valid id: it must be "+
				"/subscriptions/{subscriptionId}/resourceGroups/{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}.", clip(k))
		}
		if seen[id.Key()] {
			return nil, invalidIdentity("The user-assigned identity '%s' is given more than once.", clip(k))
		}
		seen[id.Key()] = true
		remove := false
		switch v := bytes.TrimSpace(v); {
		case len(v) == 0 || string(v) == "null":
			remove = true
		default:
			var entry struct {
				PrincipalID json.RawMessage `json:"principalId"`
				ClientID    json.RawMessage `json:"clientId"`
			}
			d := json.NewDecoder(bytes.NewReader(v))
			d.DisallowUnknownFields()
			if err := d.Decode(&entry); err != nil {
				return nil, invalidIdentity("The value of the user-assigned identity '%s' must be {} or null.", clip(k))
			}
		}
		in.UserAssigned = append(in.UserAssigned, UserAssignedInput{ID: id, Remove: remove})
	}
	slices.SortFunc(in.UserAssigned, func(a, b UserAssignedInput) int { return strings.Compare(a.ID.Key(), b.ID.Key()) })
	return in, nil
}

func invalidIdentity(format string, args ...any) error {
	return arm.E(errs.Invalid, CodeInvalidIdentity, format, args...)
}

// identityState is what a resource's identity is: system-assigned on or off, and the keys of
// the user-assigned identities attached, sorted.
type identityState struct {
	System bool
	User   []arm.ID
}

// identityOf returns the state of r.
func identityOf(r *Resource) identityState {
	var st identityState
	if r == nil {
		return st
	}
	st.System = r.SystemAssigned
	for _, u := range r.UserAssigned {
		if id, err := arm.Parse(u.ID); err == nil {
			st.User = append(st.User, id)
		}
	}
	return st
}

// applyIdentity returns the identity state a resource of type t has after a request: a PUT
// (patch false) sets it to in (nil: None); a PATCH leaves it when in is nil, else takes in's
// type, and attaches and detaches the user-assigned identities in's entries name on top of those
// attached now, as ARM does.
func applyIdentity(t *Type, cur identityState, in *IdentityInput, patch bool) (identityState, error) {
	if in == nil {
		if patch {
			return cur, nil
		}
		return identityState{}, nil
	}
	switch {
	case t.identity == identityNone && in.Type != IdentityNone:
		return identityState{}, invalidIdentity("The resource type '%s' does not support managed identities: its 'identity' must be absent or of type 'None'.", t.Name)
	case t.identity == identitySystemOnly && in.User():
		return identityState{}, invalidIdentity("The resource type '%s' supports only a system-assigned identity.", t.Name)
	}
	next := identityState{System: in.System()}
	if in.User() && patch {
		next.User = slices.Clone(cur.User)
	}
	for _, u := range in.UserAssigned {
		i := slices.IndexFunc(next.User, func(x arm.ID) bool { return x.Equal(u.ID) })
		switch {
		case u.Remove && i >= 0:
			next.User = slices.Delete(next.User, i, i+1)
		case u.Remove:
		case !in.User():
			return identityState{}, invalidIdentity("The identity type '%s' does not allow user-assigned identities; use '%s' or '%s'.", in.Type, IdentityUser, IdentityBoth)
		case i < 0:
			next.User = append(next.User, u.ID)
		}
	}
	if in.User() && len(next.User) == 0 {
		return identityState{}, invalidIdentity("The identity type '%s' needs at least one user-assigned identity in 'userAssignedIdentities'.", in.Type)
	}
	if len(next.User) > maxUserAssigned {
		return identityState{}, invalidIdentity("A resource can have at most %d user-assigned identities.", maxUserAssigned)
	}
	slices.SortFunc(next.User, func(a, b arm.ID) int { return strings.Compare(a.Key(), b.Key()) })
	return next, nil
}

// identityTypeOf returns the canonical identity.type of a state.
func identityTypeOf(system bool, users int) string {
	switch {
	case system && users > 0:
		return IdentityBoth
	case system:
		return IdentitySystem
	case users > 0:
		return IdentityUser
	}
	return IdentityNone
}

// identityJSON is ARM's ManagedServiceIdentity.
type identityJSON struct {
	Type                   string                      `json:"type"`
	PrincipalID            string                      `json:"principalId,omitempty"`
	TenantID               string                      `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]userAssignedJSON `json:"userAssignedIdentities,omitempty"`
}

type userAssignedJSON struct {
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
}

// renderIdentity returns r's identity property, or nil when it has none.
func renderIdentity(r Resource) *identityJSON {
	t := TypeOf(r.Type)
	if t == nil || t.identity == identityNone {
		return nil
	}
	typ := identityTypeOf(r.SystemAssigned, len(r.UserAssigned))
	if typ == IdentityNone {
		return nil
	}
	out := &identityJSON{Type: typ}
	if r.SystemAssigned {
		out.PrincipalID, out.TenantID = r.PrincipalID, r.TenantID
	}
	if len(r.UserAssigned) > 0 {
		out.UserAssignedIdentities = make(map[string]userAssignedJSON, len(r.UserAssigned))
		for _, u := range r.UserAssigned {
			out.UserAssignedIdentities[u.ID] = userAssignedJSON{PrincipalID: u.PrincipalID, ClientID: u.ClientID}
		}
	}
	return out
}
