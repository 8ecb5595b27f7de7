package resources_test

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

const tenantID = "7f000000-0000-4000-8000-000000000001"

// allowAll is an Access that allows everything: these tests are about the lifecycle, the server's
// tests about authorization.
type allowAll struct{}

func (allowAll) Check(context.Context, authn.Principal, string, string, arm.ID) error { return nil }
func (allowAll) Allowed(context.Context, string, string, string, arm.ID, bool) (bool, error) {
	return true, nil
}

func newService(t *testing.T) (*resources.Service, *store.DB, string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+t.TempDir()+"/r.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateTenant(ctx, tenant.Tenant{ID: tenantID, Name: "T", Default: true, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dir := &directory.Service{Store: db, Now: time.Now, Rand: rand.Reader}
	s := &resources.Service{Store: db, Identities: dir, Access: allowAll{}, Now: time.Now, Rand: rand.Reader, VaultDomain: "vault.localhost"}
	sub, err := s.EnsureDefaultSubscription(ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PutGroup(ctx, admin, tenantID, sub.ID, "g", resources.GroupInput{}, false); err != nil {
		t.Fatal(err)
	}
	return s, db, sub.ID
}

var admin = authn.Principal{Admin: true, Actor: "test"}

// TestConcurrentIdentityOn: requests racing to turn on the same site's system-assigned identity
// leave it with exactly one service principal, the one the site names.
func TestConcurrentIdentityOn(t *testing.T) {
	s, db, sub := newService(t)
	ctx := context.Background()
	id := arm.MustParse("/subscriptions/" + sub + "/resourceGroups/g/providers/Microsoft.Web/sites/app")
	in := resources.ResourceInput{Identity: &resources.IdentityInput{Type: resources.IdentitySystem}}
	const n = 8
	var wg sync.WaitGroup
	errList := make([]error, n)
	for i := range n {
		wg.Go(func() { _, _, errList[i] = s.Put(ctx, admin, tenantID, id, in, false) })
	}
	wg.Wait()
	for i, err := range errList {
		if err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	r, err := s.Get(ctx, admin, tenantID, id)
	if err != nil {
		t.Fatal(err)
	}
	sps, err := db.ListServicePrincipals(ctx, tenantID, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, sp := range sps {
		if sp.Type == directory.TypeManagedIdentity {
			mine = append(mine, sp.ID)
		}
	}
	if len(mine) != 1 || mine[0] != r.PrincipalID {
		t.Fatalf("managed identity principals %v, site names %s", mine, r.PrincipalID)
	}
}

// TestVaultDefaults: a vault created with the least ARM accepts gets Azure's defaults, and purge
// protection cannot be turned off again.
func TestVaultDefaults(t *testing.T) {
	s, _, sub := newService(t)
	ctx := context.Background()
	id := arm.MustParse("/subscriptions/" + sub + "/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv1")
	props := `{"tenantId":"` + tenantID + `","sku":{"name":"Premium"},"enablePurgeProtection":true}`
	r, _, err := s.Put(ctx, admin, tenantID, id, resources.ResourceInput{Properties: []byte(props)}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"enablePurgeProtection":true,"enableRbacAuthorization":false,"enableSoftDelete":true,"sku":{"family":"A","name":"premium"},"softDeleteRetentionInDays":90,"tenantId":"` + tenantID + `"}`
	if string(r.Properties) != want {
		t.Fatalf("stored properties\n%s\nwant\n%s", r.Properties, want)
	}
	off := `{"enablePurgeProtection":false}`
	if _, _, err := s.Put(ctx, admin, tenantID, id, resources.ResourceInput{Properties: []byte(off)}, true); err == nil {
		t.Fatal("purge protection was turned off")
	}
}
