package rbac

import (
	"context"
	"sync"
)

// maxKeptPrincipals bounds how many principals' grants a tenant's grantIndex keeps; past it the
// tenant's entries are dropped and filled again by the decisions that follow.
const maxKeptPrincipals = 16384

// grantIndex keeps principals' grants as read from the store, with the tenant's RBAC generation
// they were read at (store migration 0007: every change to a tenant's role assignments raises it
// in the transaction of the change, on whichever server made it). A decision reads the current
// generation from the store and uses kept grants only when they were read at that generation;
// otherwise it reads the principal's grants again, and a newer generation drops everything kept
// for the tenant. So every decision rests on the store's state at the time of the request,
// never on a copy that another server's change has made stale; what the index saves is reading
// every assignment of the principal again. The zero value is ready to use.
type grantIndex struct {
	mu      sync.RWMutex
	tenants map[string]*tenantGrants
}

type tenantGrants struct {
	gen         int64
	byPrincipal map[string][]Grant
}

// grants returns principalID's grants in tenantID as of the store's current RBAC generation.
func (x *grantIndex) grants(ctx context.Context, st Store, tenantID, principalID string) ([]Grant, error) {
	if kept, gen, ok := x.lookup(tenantID, principalID); ok {
		now, err := st.RBACGeneration(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		if now == gen {
			return kept, nil
		}
	}
	gen, grants, err := st.PrincipalGrants(ctx, tenantID, principalID)
	if err != nil {
		return nil, err
	}
	x.keep(tenantID, principalID, gen, grants)
	return grants, nil
}

func (x *grantIndex) lookup(tenantID, principalID string) ([]Grant, int64, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	t := x.tenants[tenantID]
	if t == nil {
		return nil, 0, false
	}
	g, ok := t.byPrincipal[principalID]
	return g, t.gen, ok
}

// keep records grants read at gen. Grants read at an older generation than the tenant's kept
// ones are not kept (a slower reader lost a race with a faster one); a newer generation
// replaces everything kept for the tenant.
func (x *grantIndex) keep(tenantID, principalID string, gen int64, grants []Grant) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.tenants == nil {
		x.tenants = make(map[string]*tenantGrants)
	}
	t := x.tenants[tenantID]
	switch {
	case t == nil || gen > t.gen || len(t.byPrincipal) >= maxKeptPrincipals:
		t = &tenantGrants{gen: gen, byPrincipal: make(map[string][]Grant)}
		x.tenants[tenantID] = t
	case gen < t.gen:
		return
	}
	t.byPrincipal[principalID] = grants
}
