package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// TestBackfillNameKeys: rows written before migration 0016 (display_name_key NULL) get their
// key when the store is opened, in batches, and are then found by name.
func TestBackfillNameKeys(t *testing.T) {
	ctx := context.Background()
	path := "sqlite:" + filepath.Join(t.TempDir(), "b.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	const tid = "7d1f0c2a-0000-4000-8000-0000000000a1"
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: tid, Name: "T", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for i := range 1200 { // more than one batch
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		sp := directory.ServicePrincipal{TenantID: tid, ID: id, AppID: fmt.Sprintf("10000000-0000-4000-8000-%012d", i),
			Type: directory.TypeManagedIdentity, DisplayName: fmt.Sprintf("Ǆ-name-%d", i), Created: time.Now()}
		if _, err := db.CreateServicePrincipal(ctx, sp, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.sql.ExecContext(ctx, `UPDATE directory_service_principals SET display_name_key = NULL`); err != nil {
		t.Fatal(err)
	}
	// Before the backfill every row is a candidate (the directory checks the names).
	if got, _ := db.ListServicePrincipalsByName(ctx, tid, "ǆ-NAME-1199", "", 10); len(got) != 10 {
		t.Fatalf("candidates before the backfill: %d, want a full page", len(got))
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var null int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM directory_service_principals WHERE display_name_key IS NULL`).Scan(&null); err != nil || null != 0 {
		t.Fatalf("%d rows without a key after open (%v)", null, err)
	}
	got, err := db.ListServicePrincipalsByName(ctx, tid, "ǅ-NAME-1199", "", 10)
	if err != nil || len(got) != 1 || got[0].DisplayName != "Ǆ-name-1199" {
		t.Errorf("after the backfill: %v, %v", got, err)
	}
}
