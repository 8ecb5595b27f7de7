package resources

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// Subscription is a tenant's subscription: every resource group is in one. Each tenant has a
// default subscription, created with it.
type Subscription struct {
	TenantID    string
	ID          string // a GUID, lower case
	DisplayName string
	State       string // "Enabled"
	Default     bool
	Created     time.Time
}

// The default subscription's display name and state.
const (
	DefaultSubscriptionName = "Lanyard Default"
	StateEnabled            = "Enabled"
)

// Group is a resource group.
type Group struct {
	TenantID       string
	SubscriptionID string
	Name           string // as first written; compared without case
	Location       string
	Tags           map[string]string
	ManagedBy      string
	Created        time.Time
}

// ID returns the group's ARM id.
func (g Group) ID() string {
	return "/subscriptions/" + g.SubscriptionID + "/resourceGroups/" + g.Name
}

// Resource is a resource of one of the types in Types.
type Resource struct {
	TenantID       string
	ID             string // canonical ARM id: the group's name as stored, the type in ARM's casing
	SubscriptionID string
	Group          string // the group's name as it appears in ID
	Type           string // "Microsoft.Web/sites", ARM's casing
	Name           string
	Kind           string // sites: "app", "functionapp", "app,linux", ...; "" for the other types
	Location       string
	Tags           map[string]string
	// Properties is the resource's properties as a JSON object, as the domain keeps them: for
	// sites and machines what the caller gave; for vaults what Lanyard validated and keeps,
	// without the access policies (AccessPolicies); for user-assigned identities what the caller
	// gave apart from the read-only ids. Computed properties are added when it is rendered.
	Properties json.RawMessage
	// SystemAssigned says the resource's system-assigned identity is on; its service principal is
	// PrincipalID/ClientID. For a user-assigned identity, PrincipalID/ClientID are its own.
	SystemAssigned bool
	PrincipalID    string
	ClientID       string
	// UserAssigned are the user-assigned identities attached to the resource, by id order.
	UserAssigned   []UserAssignedRef
	AccessPolicies []AccessPolicy // vaults only, in order
	Version        int64          // increases with every write; 0 for a resource not stored yet
	Created        time.Time
	Changed        time.Time
}

// Key returns the lower-cased id: the resource's identity for comparisons.
func (r Resource) Key() string { return strings.ToLower(r.ID) }

// UserAssignedRef is a user-assigned identity attached to a resource.
type UserAssignedRef struct {
	ID          string // the identity's canonical ARM id
	PrincipalID string
	ClientID    string
}

// AccessPolicy is one entry of a vault's access policies.
type AccessPolicy struct {
	TenantID      string      `json:"tenantId"`
	ObjectID      string      `json:"objectId"`
	ApplicationID string      `json:"applicationId,omitempty"`
	Permissions   Permissions `json:"permissions"`
}

// Permissions are the data-plane permissions an access policy grants, per kind of object, in
// lower case.
type Permissions struct {
	Keys         []string `json:"keys,omitempty"`
	Secrets      []string `json:"secrets,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
	Storage      []string `json:"storage,omitempty"`
}

// Query selects resources for a list: those of a subscription, of one group (GroupKey, the
// group's name in lower case) when it is not "", of one type (TypeKey, "microsoft.web/sites")
// when it is not "".
type Query struct {
	TenantID       string
	SubscriptionID string
	GroupKey       string
	TypeKey        string
	AfterKey       string // only resources whose lower-cased id is after this
	Limit          int    // at most this many (0: all)
}

// Change is one write of a resource with everything that goes with it, applied by the store in a
// single transaction.
type Change struct {
	TenantID string
	// Key is the resource's lower-cased ARM id.
	Key string
	// Version is the version of the resource the change was computed from: 0 when it did not
	// exist. If the stored resource is at another version (or exists, or is gone), the store
	// returns ErrStale and changes nothing; the caller reads again and retries. Deletes pass -1
	// to delete whatever is there.
	Version int64
	// Put is the resource as it is to be stored (nil: delete it). Its Version is ignored: the
	// store writes Version+1. Its UserAssigned ids name the attached identities (only ID is
	// read); AccessPolicies replace the vault's.
	Put *Resource
	// CreateSPs are managed identities' service principals to insert before the resource is
	// written (directory.Service.NewManagedIdentitySP made them).
	CreateSPs []directory.ServicePrincipal
	// DeleteSPs are service principals to delete after the resource no longer refers to them;
	// their app role assignments, role assignments, group memberships and access policies go
	// with them. A resource deleted (Put nil) takes its own principal with it without being told.
	DeleteSPs []string
}

// Errors the store returns for ApplyResourceChange.
var (
	// ErrStale: the resource is not at the version the change expected.
	ErrStale = errs.E(errs.Conflict, "the resource changed while the request was served")
	// ErrVaultNameTaken: another vault of the installation has the name.
	ErrVaultNameTaken = errs.E(errs.Conflict, "the vault name is in use")
	// ErrNoGroup: the resource group of the resource is gone.
	ErrNoGroup = errs.E(errs.NotFound, "the resource group is gone")
	// ErrNoIdentity: a user-assigned identity the resource names is gone.
	ErrNoIdentity = errs.E(errs.NotFound, "a user-assigned identity is gone")
)

// IsStale reports whether err is ErrStale.
func IsStale(err error) bool { return errors.Is(err, ErrStale) }

// resourceID builds the canonical id of a resource: the group as stored, the type in ARM's casing.
func resourceID(sub, group string, t *Type, name string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + group + "/providers/" + t.Name + "/" + name
}

// clip makes caller input safe to repeat in a message.
func clip(s string) string {
	const max = 300
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, s)
	if n := []rune(s); len(n) > max {
		return string(n[:max]) + "..."
	}
	return s
}
