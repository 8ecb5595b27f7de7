package rbac

import "context"

// Store is what RBAC needs from storage. Every method is scoped by a tenant id. Role definitions
// are built in and not stored.
type Store interface {
	// CreateRoleAssignment inserts a. errs.Conflict when the tenant has an assignment with a's
	// id, or one of the same principal, role definition and scope (compared by scope key);
	// errs.NotFound when a's principal is not a service principal of the tenant.
	CreateRoleAssignment(ctx context.Context, a Assignment) error
	// GetRoleAssignment returns errs.NotFound for an unknown id.
	GetRoleAssignment(ctx context.Context, tenantID, id string) (Assignment, error)
	// DeleteRoleAssignment deletes the assignment and returns it; errs.NotFound for an unknown id.
	DeleteRoleAssignment(ctx context.Context, tenantID, id string) (Assignment, error)
	// ListRoleAssignments returns the assignments q selects, by scope then id.
	ListRoleAssignments(ctx context.Context, tenantID string, q AssignmentQuery) ([]Assignment, error)
	// PrincipalGrants returns the scope and role of every assignment of principalID in one
	// indexed lookup (the hot path of every authorization decision).
	PrincipalGrants(ctx context.Context, tenantID, principalID string) ([]Grant, error)
}
