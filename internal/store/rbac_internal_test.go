package store

import (
	"testing"
)

// TestPrincipalGrantsPlan: the authorization question reads the tenant's RBAC generation by its
// primary key, and one principal's assignments from the (tenant_id, principal_id, ...) index
// alone, without touching the table.
func TestPrincipalGrantsPlan(t *testing.T) {
	db := planDB(t)
	plan := func(query string, args ...any) string { return queryPlan(t, db, query, args...) }
	want := "SEARCH g USING PRIMARY KEY (tenant_id=?)\n" +
		"SEARCH a USING COVERING INDEX rbac_role_assignments_principal (tenant_id=? AND principal_id=?) LEFT-JOIN"
	if got := plan(principalGrantsQuery, "p", "t"); got != want {
		t.Errorf("grants query plan:\n%s\nwant:\n%s", got, want)
	}
	want = "SEARCH rbac_generations USING PRIMARY KEY (tenant_id=?)"
	if got := plan(rbacGenerationQuery, "t"); got != want {
		t.Errorf("generation query plan:\n%s\nwant:\n%s", got, want)
	}
}
