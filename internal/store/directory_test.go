package store_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/store/storetest"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// TestDirectoryConformance runs the directory's part of the conformance suite on every dialect.
func TestDirectoryConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			d.fresh(t) // skip early if the dialect is not available
			storetest.RunDirectory(t, func(t *testing.T) *store.DB { return open(t, d.fresh(t)) })
		})
	}
}

// TestDirectoryByNameWithoutKey: a row written during a rolling upgrade by a server of a release
// before migration 0016 has no name key (NULL) until a server starts and fills it in. The name
// search returns it as a candidate of every prefix, in its place in id order, so that
// startswith(displayName,…) does not miss it meanwhile (the directory checks the names).
func TestDirectoryByNameWithoutKey(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := open(t, d.fresh(t))
			const tid = "7d1f0c2a-0000-4000-8000-0000000000b1"
			if err := db.CreateTenant(ctx, tenant.Tenant{ID: tid, Name: "T", Created: time.Now()}); err != nil {
				t.Fatal(err)
			}
			id := func(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }
			for i, name := range []string{"alpha", "Beta old", "beta", "alphabet", "gamma"} {
				sp := directory.ServicePrincipal{TenantID: tid, ID: id(i), AppID: fmt.Sprintf("10000000-0000-4000-8000-%012d", i),
					Type: directory.TypeManagedIdentity, DisplayName: name, Created: time.Now()}
				if _, err := db.CreateServicePrincipal(ctx, sp, nil); err != nil {
					t.Fatal(err)
				}
			}
			app := directory.Application{TenantID: tid, ID: id(10), AppID: id(11), DisplayName: "Billing", Created: time.Now()}
			if err := db.CreateApplication(ctx, app, nil); err != nil {
				t.Fatal(err)
			}
			// As an older server writes them: no key.
			if err := db.ExecForTest(ctx, `UPDATE directory_service_principals SET display_name_key = NULL WHERE id IN (?, ?)`, id(1), id(4)); err != nil {
				t.Fatal(err)
			}
			if err := db.ExecForTest(ctx, `UPDATE directory_applications SET display_name_key = NULL WHERE id = ?`, app.ID); err != nil {
				t.Fatal(err)
			}
			for prefix, want := range map[string][]string{
				"BETA":  {id(1), id(2), id(4)},
				"alpha": {id(0), id(1), id(3), id(4)},
				"zeta":  {id(1), id(4)},
			} {
				for _, limit := range []int{1, 2, 100} {
					var got []string
					after := ""
					for {
						page, err := db.ListServicePrincipalsByName(ctx, tid, prefix, after, limit)
						if err != nil {
							t.Fatal(err)
						}
						for _, sp := range page {
							got, after = append(got, sp.ID), sp.ID
						}
						if len(page) < limit {
							break
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("ListServicePrincipalsByName(%q) by %d: %v, want %v", prefix, limit, got, want)
					}
				}
			}
			if apps, err := db.ListApplicationsByName(ctx, tid, "bill", "", 10); err != nil || len(apps) != 1 || apps[0].ID != app.ID {
				t.Errorf("ListApplicationsByName: %+v, %v", apps, err)
			}
		})
	}
}
