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
	// PrincipalGrants returns the tenant's RBAC generation and the scope and role of every
	// assignment of principalID as of that generation, in one statement (the hot path of an
	// authorization decision that has not seen the principal at this generation).
	PrincipalGrants(ctx context.Context, tenantID, principalID string) (gen int64, grants []Grant, err error)
	// RBACGeneration returns the tenant's RBAC generation: a number that every change to the
	// tenant's role assignments raises in the transaction of the change; 0 before the first.
	RBACGeneration(ctx context.Context, tenantID string) (int64, error)
}
