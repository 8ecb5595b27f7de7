package store

import (
	"strings"
	"testing"
)

// TestHotPathPlans: the single statements of a vault read and of a mint (issue 17) find their rows
// by index: no table is scanned.
func TestHotPathPlans(t *testing.T) {
	db := planDB(t)
	for name, q := range map[string]string{
		"secret (GetSecret)":             secretQueries[0],
		"node and resource":              nodeAndResourceQuery,
		"secret with generation":         secretWithGenQueries[0],
		"secret version with generation": secretWithGenQueries[1],
		"token facts by appId": `SELECT ` + tokenFactsColumns + ` FROM directory_service_principals AS r` + tokenFactsJoins +
			` WHERE r.tenant_id = ? AND r.app_id = ? ORDER BY a.app_role_id`,
		"token facts by name": `SELECT ` + tokenFactsColumns + ` FROM directory_identifier_uris AS n
			JOIN directory_service_principals AS r ON r.application_id = n.application_id` + tokenFactsJoins +
			` WHERE n.tenant_id = ? AND n.name = ? ORDER BY a.app_role_id`,
	} {
		args := []any{"a", "b", "c"}
		if strings.Count(q, "?") == 2 {
			args = args[:2]
		}
		joined := queryPlan(t, db, q, args...)
		if joined == "" || strings.Contains(joined, "SCAN") && !strings.Contains(joined, "SCAN CONSTANT ROW") {
			t.Errorf("%s scans a table:\n%s", name, joined)
		}
		t.Logf("%s:\n%s", name, joined)
	}
}

// TestNameSearchPlans: startswith(displayName,…) reads a range of the name index (migration
// 0016), not every row of the tenant in id order.
func TestNameSearchPlans(t *testing.T) {
	db := planDB(t)
	for table, cols := range map[string]string{"directory_service_principals": spColumns, "directory_applications": appColumns} {
		index := table + "_name"
		q, args := byNameQuery(db.d, cols, table, "t", "app-0999", "", 26)
		joined := queryPlan(t, db, q, args...)
		if !strings.Contains(joined, index+" (tenant_id=? AND display_name_key>? AND display_name_key<?)") {
			t.Errorf("%s: the name search does not read a range of %s:\n%s", table, index, joined)
		}
		if !strings.Contains(joined, index+" (tenant_id=? AND display_name_key=?") {
			t.Errorf("%s: the rows without a name key are not read through %s:\n%s", table, index, joined)
		}
		if strings.Contains(joined, "SCAN "+table) {
			t.Errorf("%s: the name search scans the table:\n%s", table, joined)
		}
		t.Logf("%s:\n%s", table, joined)
	}
}
