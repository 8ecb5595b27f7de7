package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrincipalGrantsPlan: the authorization question reads one principal's assignments from
// the (tenant_id, principal_id, ...) index alone, without touching the table.
func TestPrincipalGrantsPlan(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.sql.QueryContext(ctx, `EXPLAIN QUERY PLAN `+principalGrantsQuery, "t", "p")
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
	want := "SEARCH rbac_role_assignments USING COVERING INDEX rbac_role_assignments_principal (tenant_id=? AND principal_id=?)"
	if len(plan) != 1 || plan[0] != want {
		t.Errorf("query plan:\n%s\nwant:\n%s", strings.Join(plan, "\n"), want)
	}
}
