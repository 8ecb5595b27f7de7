package appservice

import (
	"context"
	"encoding/json"
	"time"
)

// Key scopes as the store keeps them: the master key, host function keys, system keys, and a
// function's keys (ScopeFunction + its name in lower case).
const (
	ScopeMaster   = "master"
	ScopeHost     = "host"
	ScopeSystem   = "system"
	ScopeFunction = "function:"
)

// The names Azure gives the keys it makes (functions.md §2.2).
const (
	MasterKeyName  = "_master"
	DefaultKeyName = "default"
)

// SealTable and SealPurpose are the associated data of a sealed key: its table and purpose (the
// row's id is the third part).
const (
	SealTable   = "site_function_keys"
	SealPurpose = "value"
)

// FunctionKey is one key of a function app as the store keeps it: sealed.
type FunctionKey struct {
	ID      string // a GUID: the sealed value's AD id
	Scope   string
	Name    string
	KEKID   string
	Sealed  []byte
	Created time.Time
}

// Config document names (lower case) of migration 0010 this package writes.
const (
	configAppSettings = "appsettings"
	configDeployment  = "deployment"
)

// Store is what the package needs from storage (internal/store implements it).
type Store interface {
	// GetSiteConfig returns a site's config document (errs.NotFound when never written).
	GetSiteConfig(ctx context.Context, tenantID, siteKey, name string) (json.RawMessage, error)
	// PutSiteConfig replaces it and tells the tenant's agents (EventSiteChanged).
	PutSiteConfig(ctx context.Context, tenantID, siteKey, name string, body json.RawMessage, at time.Time) error
	// VaultGeneration is raised by every change to any vault or its access policies.
	VaultGeneration(ctx context.Context) (int64, error)
	// RBACGeneration is raised by every change to the tenant's role assignments.
	RBACGeneration(ctx context.Context, tenantID string) (int64, error)

	// DeploySitePackage, in one transaction: stores body as the tenant's package digest unless
	// it has it; records it as the site's newest deployment and doc as the site's config
	// document "deployment"; forgets all but the keep newest deployments of the site; deletes
	// the tenant's packages no deployment names; tells the tenant's agents (EventSiteChanged).
	// errs.NotFound when the tenant has no resource siteKey.
	DeploySitePackage(ctx context.Context, tenantID, siteKey, digest string, body []byte, doc json.RawMessage, keep int, at time.Time) error

	// ListFunctionKeys returns the site's keys, by scope and name.
	ListFunctionKeys(ctx context.Context, tenantID, siteKey string) ([]FunctionKey, error)
	// AddFunctionKey inserts k unless the site has a key of its scope and name (added false).
	AddFunctionKey(ctx context.Context, tenantID, siteKey string, k FunctionKey) (added bool, err error)
	// PutFunctionKey inserts k, replacing a key of its scope and name (created false then).
	PutFunctionKey(ctx context.Context, tenantID, siteKey string, k FunctionKey) (created bool, err error)
	// DeleteFunctionKey deletes a key; found false when there was none.
	DeleteFunctionKey(ctx context.Context, tenantID, siteKey, scope, name string, now time.Time) (found bool, err error)

	// PruneSitePackages deletes the packages no deployment names (those of deleted sites).
	PruneSitePackages(ctx context.Context) (int64, error)
}
