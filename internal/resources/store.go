package resources

import (
	"context"
	"encoding/json"
	"time"
)

// Store is what the resources domain needs from storage. Every method but GetSubscription is
// scoped by a tenant id; an object of another tenant does not exist. Unknown objects are
// errs.NotFound. Lists are ordered by lower-cased id (resources) or name (groups).
type Store interface {
	// EnsureDefaultSubscription inserts s as its tenant's default subscription unless the tenant
	// has one, and returns the tenant's default subscription. Safe to run from several servers.
	EnsureDefaultSubscription(ctx context.Context, s Subscription) (Subscription, error)
	// GetSubscription finds a subscription by id, in any tenant (the caller checks the tenant).
	GetSubscription(ctx context.Context, id string) (Subscription, error)
	ListSubscriptions(ctx context.Context, tenantID string) ([]Subscription, error)

	// PutResourceGroup inserts g, or updates the group of that name (compared without case) in
	// place, keeping its name, location and creation time; created says which.
	PutResourceGroup(ctx context.Context, g Group) (created bool, err error)
	// GetResourceGroup finds a group by name, compared without case.
	GetResourceGroup(ctx context.Context, tenantID, subscriptionID, name string) (Group, error)
	// ListResourceGroups returns the subscription's groups whose lower-cased name is after
	// afterKey, up to limit of them (0: all).
	ListResourceGroups(ctx context.Context, tenantID, subscriptionID, afterKey string, limit int) ([]Group, error)
	// DeleteResourceGroup deletes the group and, in the same transaction, every resource in it as
	// ApplyResourceChange deletes one (with its managed identity's service principal, and the
	// role assignments at or below it), and the role assignments at or below the group.
	DeleteResourceGroup(ctx context.Context, tenantID, subscriptionID, name string) error

	// GetResource finds a resource by its lower-cased ARM id, with its attached user-assigned
	// identities and, for a vault, its access policies.
	GetResource(ctx context.Context, tenantID, key string) (Resource, error)
	// ListResources returns the resources q selects, as GetResource returns them.
	ListResources(ctx context.Context, q Query) ([]Resource, error)
	// ApplyResourceChange applies c in one transaction: the service principals it creates, the
	// resource row (insert, replace or delete), its user-assigned identity links and access
	// policies, the service principals it deletes (and everything that cascades from them), and,
	// when the resource is deleted, its own principal, the links of other resources to it and the
	// role assignments at or below it. ErrStale, ErrVaultNameTaken, ErrNoGroup, ErrNoIdentity.
	ApplyResourceChange(ctx context.Context, c Change) error

	// GetSiteConfig returns the config document name (lower case) of the site siteKey:
	// errs.NotFound when it was never written.
	GetSiteConfig(ctx context.Context, tenantID, siteKey, name string) (json.RawMessage, error)
	// PutSiteConfig writes (replaces) it: errs.NotFound when the tenant has no resource siteKey.
	// It goes when the site is deleted.
	PutSiteConfig(ctx context.Context, tenantID, siteKey, name string, body json.RawMessage, at time.Time) error
}
