package rbac_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

// BenchmarkAllowed asks "may P do A at S?" of a SQLite store holding 10,000 role assignments of
// 1,000 principals (10 each, at groups, resources and child resources of one subscription), and
// reports the p50 and p99 of single calls: Allowed as a server asks it (the tenant's RBAC
// generation read from the store every time, the principal's grants only when it changed), and
// AllowedFirstSight, where the grants are read too. The baseline is the cheapest store read there is, a
// tenant by primary key, timed the same way in the same run.
func BenchmarkAllowed(b *testing.B) {
	e := newEnv(b)
	const principals, perPrincipal, groups = 1000, 10, 50
	ps := make([]string, principals)
	for i := range ps {
		ps[i] = e.principal(b, tenantID)
	}
	roles := rbac.BuiltinRoles()
	resource := func(k int) string {
		return fmt.Sprintf("%s/resourceGroups/g%d/providers/Microsoft.Web/sites/app%d", sub, k%groups, k)
	}
	for i, p := range ps {
		for j := range perPrincipal {
			k := i*perPrincipal + j
			scope := resource(k)
			switch {
			case j < 2:
				scope = fmt.Sprintf("%s/resourceGroups/g%d", sub, k%groups)
			case j >= 8:
				scope += "/slots/staging"
			}
			e.assign(b, p, roles[(i+j)%len(roles)].ID, scope)
		}
	}
	actions := []struct {
		name string
		data bool
	}{
		{"Microsoft.Web/sites/read", false},
		{"Microsoft.Web/sites/write", false},
		{"Microsoft.Authorization/roleAssignments/write", false},
		{"Microsoft.KeyVault/vaults/secrets/getSecret/action", true},
	}
	scopes := make([]arm.ID, 997)
	for i := range scopes {
		scopes[i] = arm.MustParse(resource(i * 7))
	}

	measure := func(b *testing.B, call func(i int) error) {
		var (
			ds []time.Duration
			i  int
		)
		for b.Loop() {
			start := time.Now()
			if err := call(i); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			i++
		}
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(ds[len(ds)*99/100].Nanoseconds()), "p99-ns")
	}
	allowed := 0
	b.Run("Allowed", func(b *testing.B) {
		measure(b, func(i int) error {
			a := actions[i%len(actions)]
			ok, err := e.svc.Allowed(ctx, tenantID, ps[(i*31)%principals], a.name, scopes[i%len(scopes)], a.data)
			if ok {
				allowed++
			}
			return err
		})
	})
	// The first question about a principal since its tenant's assignments last changed: a
	// server that has kept nothing for it (a new Service each time) reads its grants.
	b.Run("AllowedFirstSight", func(b *testing.B) {
		measure(b, func(i int) error {
			a := actions[i%len(actions)]
			fresh := &rbac.Service{Store: e.db}
			_, err := fresh.Allowed(ctx, tenantID, ps[(i*31)%principals], a.name, scopes[i%len(scopes)], a.data)
			return err
		})
	})
	b.Run("baseline=GetTenant", func(b *testing.B) {
		measure(b, func(int) error {
			_, err := e.db.GetTenant(ctx, tenantID)
			return err
		})
	})
	if allowed == 0 {
		b.Error("no question was answered yes: the benchmark measures nothing but denials")
	}
}
