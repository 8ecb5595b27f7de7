package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// BenchmarkDirectoryAtScale measures the directory lookups a token needs (resolve the resource by
// name, the principal by id, its roles on the resource: directory.Service.TokenRequest) and a
// service principal lookup by appId, in a SQLite store holding 100,000 service principals and
// 1,000,000 app role assignments, beside a primary-key read of one tenant in the same run. It reports
// p50 and p99 latency per operation (no assertion; see docs/performance.md).
//
//	go test -run '^$' -bench DirectoryAtScale -benchtime 20000x ./internal/store
func BenchmarkDirectoryAtScale(b *testing.B) {
	const principals, resources = 100_000, 10
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "scale.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	tid := "11111111-0000-4000-8000-000000000001"
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: tid, Name: "scale", Default: true, Created: time.Now()}); err != nil {
		b.Fatal(err)
	}
	dir := &directory.Service{Store: db, Now: time.Now, Rand: rand.Reader, PublicURL: "https://localhost:8443", VaultDomain: "vault.localhost"}
	// Ten APIs with one app role each, created through the directory's own rules.
	var resIDs, roleIDs, uris []string
	for r := range resources {
		uri := fmt.Sprintf("api://scale-%d", r)
		role := directory.AppRole{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", r+1), Value: "Do", DisplayName: "Do",
			Description: "d", AllowedMemberTypes: []string{"Application"}, IsEnabled: true, Origin: "Application"}
		app := directory.Application{ID: fmt.Sprintf("a0000000-0000-4000-8000-%012d", r), TenantID: tid, AppID: fmt.Sprintf("b0000000-0000-4000-8000-%012d", r),
			DisplayName: uri, IdentifierURIs: []string{uri}, AppRoles: []directory.AppRole{role}, SignInAudience: "AzureADMyOrg", Created: time.Now()}
		sp := directory.ServicePrincipal{ID: fmt.Sprintf("c0000000-0000-4000-8000-%012d", r), TenantID: tid, AppID: app.AppID, ApplicationID: app.ID,
			Type: "Application", DisplayName: uri, AccountEnabled: true, AppRoles: app.AppRoles, Created: time.Now()}
		if err := db.CreateApplication(ctx, app, &sp); err != nil {
			b.Fatal(err)
		}
		resIDs, roleIDs, uris = append(resIDs, sp.ID), append(roleIDs, role.ID), append(uris, uri)
	}
	// 100,000 managed identities and ten assignments each, in bulk.
	start := time.Now()
	if _, err := db.sql.ExecContext(ctx, `
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO directory_service_principals (id, tenant_id, app_id, application_id, sp_type, display_name,
			service_principal_names, alternative_names, app_roles, account_enabled, app_role_assignment_required, builtin, created_at)
		SELECT printf('d0000000-0000-4000-8000-%012d', i), ?, printf('e0000000-0000-4000-8000-%012d', i), NULL, 'ManagedIdentity',
			'mi-' || i, '[]', '["isExplicit=True"]', '[]', 1, 0, 0, 0 FROM n`, principals, tid); err != nil {
		b.Fatal(err)
	}
	for r := range resources {
		if _, err := db.sql.ExecContext(ctx, `
			WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO directory_app_role_assignments (id, tenant_id, principal_id, resource_id, app_role_id, created_at)
			SELECT printf('as-%d-%d', ?, i), ?, printf('d0000000-0000-4000-8000-%012d', i), ?, ?, 0 FROM n`,
			principals, r, tid, resIDs[r], roleIDs[r]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.sql.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d service principals and %d assignments in %s", principals, principals*resources, time.Since(start).Round(time.Millisecond))

	measure := func(b *testing.B, op func(i int) error) {
		var d []time.Duration
		i := 0
		for b.Loop() {
			t0 := time.Now()
			if err := op(i); err != nil {
				b.Fatal(err)
			}
			d = append(d, time.Since(t0))
			i++
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
	}
	b.Run("baseline-GetTenant", func(b *testing.B) {
		measure(b, func(int) error { _, err := db.GetTenant(ctx, tid); return err })
	})
	b.Run("GetServicePrincipal-by-appId", func(b *testing.B) {
		measure(b, func(i int) error {
			_, err := db.GetServicePrincipal(ctx, tid, directory.Key{AppID: fmt.Sprintf("e0000000-0000-4000-8000-%012d", i%principals+1)})
			return err
		})
	})
	b.Run("TokenRequest", func(b *testing.B) {
		measure(b, func(i int) error {
			req, err := dir.TokenRequest(ctx, tid, fmt.Sprintf("d0000000-0000-4000-8000-%012d", (i*7919)%principals+1), uris[i%resources])
			if err == nil && len(req.Roles) != 1 {
				err = fmt.Errorf("roles %v", req.Roles)
			}
			return err
		})
	})
}
