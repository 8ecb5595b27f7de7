package tenant

import "context"

// Store is what the tenant domain needs from storage.
type Store interface {
	// CreateTenant inserts t; errs.Conflict if the id exists, or if t.Default and a default
	// tenant exists already.
	CreateTenant(ctx context.Context, t Tenant) error
	// GetTenant returns errs.NotFound for an unknown id.
	GetTenant(ctx context.Context, id string) (Tenant, error)
	// ListTenants returns every tenant, oldest first.
	ListTenants(ctx context.Context) ([]Tenant, error)
	// DefaultTenant returns the default tenant, errs.NotFound if none exists yet.
	DefaultTenant(ctx context.Context) (Tenant, error)
}
