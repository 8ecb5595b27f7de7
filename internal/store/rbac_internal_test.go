package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrincipalGrantsPlan: the authorization question reads the tenant's RBAC generation by its
// primary key, and one principal's assignments from the (tenant_id, principal_id, ...) index
// alone, without touching the table.
func TestPrincipalGrantsPlan(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	plan := func(query string, args ...any) string {
		rows, err := db.sql.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(plan, "\n")
	}
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
