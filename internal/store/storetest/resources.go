package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/rbac"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/tenant"
)

// RunResources runs the resources domain's part of the suite (resources.Store): default
// subscriptions, groups, resources with their identities written in one transaction with their
// service principals, optimistic versions, vault names unique in the installation, cascading
// deletes, rollback and races. open is as for Run.
func RunResources(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Subscriptions", testResSubscriptions},
		{"SubscriptionRace", testResSubscriptionRace},
		{"Groups", testResGroups},
		{"Identities", testResIdentities},
		{"Versions", testResVersions},
		{"VaultNames", testResVaultNames},
		{"DeleteCascade", testResDeleteCascade},
		{"GroupCascade", testResGroupCascade},
		{"Rollback", testResRollback},
		{"SiteConfig", testResSiteConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

const (
	resTenant = "7e000000-0000-4000-8000-0000000000a1"
	resOther  = "7e000000-0000-4000-8000-0000000000b2"
	resSub    = "5c000000-0000-4000-8000-0000000000a1"
	resSubB   = "5c000000-0000-4000-8000-0000000000b2"
)

// resFixture makes two tenants, a subscription in each, and group "G" in the first.
func resFixture(t *testing.T, db *store.DB) {
	t.Helper()
	for i, id := range []string{resTenant, resOther} {
		must(t, db.CreateTenant(ctx, tenant.Tenant{ID: id, Name: id, Created: t0}), "CreateTenant")
		_, err := db.EnsureDefaultSubscription(ctx, resources.Subscription{TenantID: id, ID: []string{resSub, resSubB}[i],
			DisplayName: resources.DefaultSubscriptionName, State: resources.StateEnabled, Default: true, Created: t0})
		must(t, err, "EnsureDefaultSubscription")
	}
	_, err := db.PutResourceGroup(ctx, resources.Group{TenantID: resTenant, SubscriptionID: resSub, Name: "G", Location: "local", Created: t0})
	must(t, err, "PutResourceGroup")
}

// resID is the id of a resource of type typ named name in group G.
func resID(typ, name string) string {
	return "/subscriptions/" + resSub + "/resourceGroups/G/providers/" + typ + "/" + name
}

// resSP is a managed identity's service principal for the resource id.
func resSP(t *testing.T, n int, id string, explicit bool) directory.ServicePrincipal {
	alt := "isExplicit=False"
	if explicit {
		alt = "isExplicit=True"
	}
	return directory.ServicePrincipal{
		TenantID: resTenant, ID: fmt.Sprintf("6e000000-0000-4000-8000-%012d", n), AppID: fmt.Sprintf("6f000000-0000-4000-8000-%012d", n),
		Type: directory.TypeManagedIdentity, DisplayName: "mi", AlternativeNames: []string{alt, id}, AccountEnabled: true, Created: t0,
	}
}

// resource returns a resource of group G ready to be stored.
func resource(typ, name string) *resources.Resource {
	return &resources.Resource{
		TenantID: resTenant, ID: resID(typ, name), Type: typ, Name: name, Location: "local",
		Properties: json.RawMessage(`{"a":1}`), Created: t0, Changed: t0,
	}
}

// put stores r (created when version is 0) with sps created, and returns it as read back.
func put(t *testing.T, db *store.DB, r *resources.Resource, version int64, sps ...directory.ServicePrincipal) resources.Resource {
	t.Helper()
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(r.ID), Version: version, Put: r, CreateSPs: sps}),
		"ApplyResourceChange "+r.ID)
	got, err := db.GetResource(ctx, resTenant, strings.ToLower(r.ID))
	must(t, err, "GetResource "+r.ID)
	return got
}

func testResSubscriptions(t *testing.T, db *store.DB) {
	resFixture(t, db)
	again, err := db.EnsureDefaultSubscription(ctx, resources.Subscription{TenantID: resTenant, ID: "5c000000-0000-4000-8000-0000000000ff",
		DisplayName: "x", State: "Enabled", Default: true, Created: t0})
	must(t, err, "EnsureDefaultSubscription again")
	if again.ID != resSub || again.TenantID != resTenant || again.DisplayName != resources.DefaultSubscriptionName || !again.Default {
		t.Fatalf("second EnsureDefaultSubscription = %+v, want the first", again)
	}
	sameTime(t, "subscription Created", again.Created, t0)
	got, err := db.GetSubscription(ctx, resSubB)
	must(t, err, "GetSubscription")
	if got.TenantID != resOther {
		t.Fatalf("GetSubscription = %+v", got)
	}
	list, err := db.ListSubscriptions(ctx, resTenant)
	must(t, err, "ListSubscriptions")
	if len(list) != 1 || list[0].ID != resSub {
		t.Fatalf("ListSubscriptions = %+v", list)
	}
	_, err = db.GetSubscription(ctx, "5c000000-0000-4000-8000-0000000000ee")
	wantKind(t, err, errs.NotFound, "GetSubscription of an unknown id")
	_, err = db.EnsureDefaultSubscription(ctx, resources.Subscription{TenantID: "7e000000-0000-4000-8000-0000000000ee", ID: "5c000000-0000-4000-8000-0000000000ee", Created: t0})
	wantKind(t, err, errs.NotFound, "EnsureDefaultSubscription of an unknown tenant")
}

// testResSubscriptionRace is several servers ensuring a new tenant's subscription at once.
func testResSubscriptionRace(t *testing.T, db *store.DB) {
	must(t, db.CreateTenant(ctx, tenant.Tenant{ID: resTenant, Name: "R", Created: t0}), "CreateTenant")
	got := make([]string, workers)
	waitAll(t, parallel(workers, func(i int) error {
		s, err := db.EnsureDefaultSubscription(ctx, resources.Subscription{TenantID: resTenant, ID: fmt.Sprintf("5c000000-0000-4000-8000-%012d", i),
			DisplayName: "d", State: "Enabled", Default: true, Created: t0})
		got[i] = s.ID
		return err
	}), "EnsureDefaultSubscription")
	slices.Sort(got)
	if len(slices.Compact(got)) != 1 {
		t.Fatalf("workers saw different default subscriptions: %v", got)
	}
}

func testResGroups(t *testing.T, db *store.DB) {
	resFixture(t, db)
	created, err := db.PutResourceGroup(ctx, resources.Group{TenantID: resTenant, SubscriptionID: resSub, Name: "g", Location: "elsewhere",
		Tags: map[string]string{"k": "v"}, Created: t0})
	must(t, err, "PutResourceGroup again")
	if created {
		t.Fatal("PutResourceGroup of an existing name (other case) created a group")
	}
	g, err := db.GetResourceGroup(ctx, resTenant, resSub, "g")
	must(t, err, "GetResourceGroup")
	if g.Name != "G" || g.Location != "local" || g.Tags["k"] != "v" {
		t.Fatalf("group after update = %+v, want name and location kept, tags changed", g)
	}
	_, err = db.GetResourceGroup(ctx, resOther, resSub, "G")
	wantKind(t, err, errs.NotFound, "GetResourceGroup from another tenant")
	_, err = db.PutResourceGroup(ctx, resources.Group{TenantID: resOther, SubscriptionID: resSub, Name: "X", Location: "l", Created: t0})
	wantKind(t, err, errs.NotFound, "PutResourceGroup in another tenant's subscription")
	_, err = db.PutResourceGroup(ctx, resources.Group{TenantID: resTenant, SubscriptionID: resSub, Name: "a", Location: "l", Created: t0})
	must(t, err, "PutResourceGroup a")
	list, err := db.ListResourceGroups(ctx, resTenant, resSub, "", 0)
	must(t, err, "ListResourceGroups")
	if len(list) != 2 || list[0].Name != "a" || list[1].Name != "G" {
		t.Fatalf("ListResourceGroups = %+v", list)
	}
	wantKind(t, db.DeleteResourceGroup(ctx, resTenant, resSub, "nope"), errs.NotFound, "DeleteResourceGroup of an unknown group")
}

func testResIdentities(t *testing.T, db *store.DB) {
	resFixture(t, db)
	uami := resource(resources.TypeUserAssigned, "U")
	usp := resSP(t, 1, uami.ID, true)
	uami.PrincipalID, uami.ClientID = usp.ID, usp.AppID
	gotU := put(t, db, uami, 0, usp)
	if gotU.Version != 1 || gotU.PrincipalID != usp.ID || gotU.ClientID != usp.AppID || gotU.Type != resources.TypeUserAssigned || gotU.Group != "G" || gotU.Name != "U" {
		t.Fatalf("identity as read back = %+v", gotU)
	}
	sp, err := db.GetServicePrincipal(ctx, resTenant, directory.Key{ID: usp.ID})
	must(t, err, "the identity's service principal")
	if sp.MIResourceID() != uami.ID {
		t.Fatalf("service principal names %q", sp.MIResourceID())
	}
	site := resource(resources.TypeSite, "S")
	ssp := resSP(t, 2, site.ID, false)
	site.Kind, site.SystemAssigned, site.PrincipalID, site.ClientID = "app", true, ssp.ID, ssp.AppID
	site.UserAssigned = []resources.UserAssignedRef{{ID: strings.ToUpper(uami.ID[:14]) + uami.ID[14:]}}
	site.Tags = map[string]string{"t": "1"}
	got := put(t, db, site, 0, ssp)
	want := []resources.UserAssignedRef{{ID: uami.ID, PrincipalID: usp.ID, ClientID: usp.AppID}}
	if !got.SystemAssigned || got.PrincipalID != ssp.ID || !slices.Equal(got.UserAssigned, want) || got.Kind != "app" || got.Tags["t"] != "1" ||
		string(got.Properties) != `{"a":1}` {
		t.Fatalf("site as read back = %+v", got)
	}
	sameTime(t, "site Created", got.Created, t0)
	// The same with its identities only, in one statement (a token's hot path).
	ids, err := db.GetResourceIdentities(ctx, resTenant, got.Key())
	must(t, err, "GetResourceIdentities")
	if ids.ID != got.ID || !ids.SystemAssigned || ids.PrincipalID != ssp.ID || !slices.Equal(ids.UserAssigned, want) || string(ids.Properties) != string(got.Properties) {
		t.Errorf("GetResourceIdentities = %+v, want %+v", ids, got)
	}
	if u, err := db.GetResourceIdentities(ctx, resTenant, strings.ToLower(uami.ID)); err != nil || len(u.UserAssigned) != 0 || u.PrincipalID != usp.ID {
		t.Errorf("GetResourceIdentities of the identity itself = %+v, %v", u, err)
	}
	_, err = db.GetResourceIdentities(ctx, resTenant, got.Key()+"x")
	wantKind(t, err, errs.NotFound, "GetResourceIdentities of no resource")
	// Turning the system-assigned identity off deletes its principal in the same change.
	off := got
	off.SystemAssigned, off.PrincipalID, off.ClientID = false, "", ""
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: got.Key(), Version: got.Version, Put: &off, DeleteSPs: []string{ssp.ID}}), "identity off")
	_, err = db.GetServicePrincipal(ctx, resTenant, directory.Key{ID: ssp.ID})
	wantKind(t, err, errs.NotFound, "the system-assigned principal after it was turned off")
	// A link to an identity that is not one (or is gone) is refused.
	bad := resource(resources.TypeSite, "S2")
	bad.UserAssigned = []resources.UserAssignedRef{{ID: resID(resources.TypeUserAssigned, "nope")}}
	err = db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(bad.ID), Put: bad})
	if !errors.Is(err, resources.ErrNoIdentity) {
		t.Fatalf("link to a missing identity: %v", err)
	}
	_, err = db.GetResource(ctx, resTenant, strings.ToLower(bad.ID))
	wantKind(t, err, errs.NotFound, "the refused site")
	// Lists.
	list, err := db.ListResources(ctx, resources.Query{TenantID: resTenant, SubscriptionID: resSub})
	must(t, err, "ListResources")
	if len(list) != 2 || list[0].Name != "U" || list[1].Name != "S" || len(list[1].UserAssigned) != 1 {
		t.Fatalf("ListResources = %+v", list)
	}
	list, err = db.ListResources(ctx, resources.Query{TenantID: resTenant, SubscriptionID: resSub, GroupKey: "g", TypeKey: "microsoft.web/sites"})
	must(t, err, "ListResources by type")
	if len(list) != 1 || list[0].Name != "S" {
		t.Fatalf("ListResources of sites = %+v", list)
	}
	list, err = db.ListResources(ctx, resources.Query{TenantID: resOther, SubscriptionID: resSub})
	must(t, err, "ListResources of another tenant")
	if len(list) != 0 {
		t.Fatalf("another tenant lists %+v", list)
	}
}

func testResVersions(t *testing.T, db *store.DB) {
	resFixture(t, db)
	r := put(t, db, resource(resources.TypeMachine, "M"), 0)
	again := resource(resources.TypeMachine, "M")
	err := db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: r.Key(), Version: 0, Put: again})
	if !resources.IsStale(err) {
		t.Fatalf("create of an existing resource: %v, want ErrStale", err)
	}
	err = db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: r.Key(), Version: r.Version + 1, Put: again})
	if !resources.IsStale(err) {
		t.Fatalf("write at a version not stored: %v, want ErrStale", err)
	}
	// Of the writers that read version 1, exactly one wins.
	errList := parallel(workers, func(i int) error {
		w := r
		w.Tags = map[string]string{"w": fmt.Sprint(i)}
		return db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: r.Key(), Version: r.Version, Put: &w})
	})
	won := 0
	for i, err := range errList {
		switch {
		case err == nil:
			won++
		case !resources.IsStale(err):
			t.Errorf("worker %d: %v", i, err)
		}
	}
	got, err := db.GetResource(ctx, resTenant, r.Key())
	must(t, err, "GetResource")
	if won != 1 || got.Version != 2 {
		t.Fatalf("%d writers won, version %d; want 1 and 2", won, got.Version)
	}
	wantKind(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: "/subscriptions/x/nope", Version: -1}), errs.NotFound, "delete of a missing resource")
	orphan := resource(resources.TypeSite, "O")
	orphan.ID = strings.Replace(orphan.ID, "/G/", "/NoGroup/", 1)
	err = db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(orphan.ID), Put: orphan})
	if !errors.Is(err, resources.ErrNoGroup) {
		t.Fatalf("resource in a missing group: %v, want ErrNoGroup", err)
	}
}

func testResVaultNames(t *testing.T, db *store.DB) {
	resFixture(t, db)
	_, err := db.PutResourceGroup(ctx, resources.Group{TenantID: resOther, SubscriptionID: resSubB, Name: "H", Location: "local", Created: t0})
	must(t, err, "PutResourceGroup H")
	v := resource(resources.TypeVault, "Vault-1")
	v.AccessPolicies = []resources.AccessPolicy{
		{TenantID: resTenant, ObjectID: dirGUID(1), Permissions: resources.Permissions{Secrets: []string{"get"}}},
		{TenantID: resTenant, ObjectID: dirGUID(2), ApplicationID: dirGUID(3), Permissions: resources.Permissions{Secrets: []string{"list", "set"}, Keys: []string{"get"}}},
	}
	got := put(t, db, v, 0)
	if !slices.EqualFunc(got.AccessPolicies, v.AccessPolicies, func(a, b resources.AccessPolicy) bool {
		return a.ObjectID == b.ObjectID && a.ApplicationID == b.ApplicationID && slices.Equal(a.Permissions.Secrets, b.Permissions.Secrets) && slices.Equal(a.Permissions.Keys, b.Permissions.Keys)
	}) {
		t.Fatalf("access policies = %+v", got.AccessPolicies)
	}
	// The same name, in another case, in another tenant's group.
	other := &resources.Resource{TenantID: resOther, ID: "/subscriptions/" + resSubB + "/resourceGroups/H/providers/Microsoft.KeyVault/vaults/vault-1",
		Type: resources.TypeVault, Name: "vault-1", Location: "local", Created: t0, Changed: t0}
	err = db.ApplyResourceChange(ctx, resources.Change{TenantID: resOther, Key: strings.ToLower(other.ID), Put: other})
	if !errors.Is(err, resources.ErrVaultNameTaken) {
		t.Fatalf("a second vault of the same name: %v, want ErrVaultNameTaken", err)
	}
	// Replacing the vault itself is no conflict; its policies are replaced.
	got.AccessPolicies = got.AccessPolicies[1:]
	got = put(t, db, &got, got.Version)
	if len(got.AccessPolicies) != 1 || got.AccessPolicies[0].ObjectID != dirGUID(2) {
		t.Fatalf("access policies after replace = %+v", got.AccessPolicies)
	}
	// Two tenants racing for a free name: one gets it.
	ids := []string{
		"/subscriptions/" + resSub + "/resourceGroups/G/providers/Microsoft.KeyVault/vaults/race",
		"/subscriptions/" + resSubB + "/resourceGroups/H/providers/Microsoft.KeyVault/vaults/race",
	}
	tenants := []string{resTenant, resOther}
	waitAll(t, parallel(workers, func(i int) error {
		r := &resources.Resource{TenantID: tenants[i%2], ID: ids[i%2], Type: resources.TypeVault, Name: "race", Location: "local", Created: t0, Changed: t0}
		err := db.ApplyResourceChange(ctx, resources.Change{TenantID: tenants[i%2], Key: strings.ToLower(r.ID), Put: r})
		if resources.IsStale(err) || errors.Is(err, resources.ErrVaultNameTaken) {
			return nil // created by another worker of its tenant, or taken by the other tenant
		}
		return err
	}), "racing vault creates")
	found := 0
	for i, id := range ids {
		if _, err := db.GetResource(ctx, tenants[i], strings.ToLower(id)); err == nil {
			found++
		}
	}
	if found != 1 {
		t.Fatalf("%d vaults named race exist, want 1", found)
	}
}

// resSetup stores: identity U (in G), a site S with a system-assigned identity holding U, a role
// assignment of S's principal at the subscription, a role assignment of U's principal on S, an
// app role assignment of S's principal, and vault V with access policies for both principals.
func resSetup(t *testing.T, db *store.DB) (uSP, sSP directory.ServicePrincipal) {
	t.Helper()
	resFixture(t, db)
	u := resource(resources.TypeUserAssigned, "U")
	uSP = resSP(t, 1, u.ID, true)
	u.PrincipalID, u.ClientID = uSP.ID, uSP.AppID
	put(t, db, u, 0, uSP)
	s := resource(resources.TypeSite, "S")
	sSP = resSP(t, 2, s.ID, false)
	s.SystemAssigned, s.PrincipalID, s.ClientID = true, sSP.ID, sSP.AppID
	s.UserAssigned = []resources.UserAssignedRef{{ID: u.ID}}
	put(t, db, s, 0, sSP)
	must(t, db.CreateRoleAssignment(ctx, rbac.Assignment{TenantID: resTenant, ID: "a-sub", Scope: "/subscriptions/" + resSub,
		RoleDefinitionID: rbac.Reader, PrincipalID: sSP.ID, PrincipalType: rbac.PrincipalTypeServicePrincipal, Created: t0}), "role assignment a-sub")
	must(t, db.CreateRoleAssignment(ctx, rbac.Assignment{TenantID: resTenant, ID: "a-site", Scope: strings.ToUpper(s.ID) + "/providers/Microsoft.Insights/diagnosticSettings/d",
		RoleDefinitionID: rbac.Reader, PrincipalID: uSP.ID, PrincipalType: rbac.PrincipalTypeServicePrincipal, Created: t0}), "role assignment a-site")
	must(t, db.CreateRoleAssignment(ctx, rbac.Assignment{TenantID: resTenant, ID: "a-site2", Scope: s.ID,
		RoleDefinitionID: rbac.Owner, PrincipalID: uSP.ID, PrincipalType: rbac.PrincipalTypeServicePrincipal, Created: t0}), "role assignment a-site2")
	_, err := db.CreateAppRoleAssignment(ctx, directory.AppRoleAssignment{TenantID: resTenant, ID: "ara", AppRoleID: directory.DefaultAccessRole,
		PrincipalID: sSP.ID, ResourceID: uSP.ID, Created: t0})
	must(t, err, "CreateAppRoleAssignment")
	v := resource(resources.TypeVault, "V")
	v.AccessPolicies = []resources.AccessPolicy{
		{TenantID: resTenant, ObjectID: sSP.ID, Permissions: resources.Permissions{Secrets: []string{"get"}}},
		{TenantID: resTenant, ObjectID: uSP.ID, Permissions: resources.Permissions{Secrets: []string{"get"}}},
	}
	put(t, db, v, 0)
	return uSP, sSP
}

// resState says what of resSetup remains.
func resState(t *testing.T, db *store.DB) string {
	t.Helper()
	var parts []string
	for _, id := range []string{resID(resources.TypeUserAssigned, "U"), resID(resources.TypeSite, "S"), resID(resources.TypeVault, "V")} {
		r, err := db.GetResource(ctx, resTenant, strings.ToLower(id))
		if err != nil {
			continue
		}
		s := r.Name
		if len(r.UserAssigned) > 0 {
			s += "+U"
		}
		for _, p := range r.AccessPolicies {
			s += "+p" + p.ObjectID[len(p.ObjectID)-1:]
		}
		parts = append(parts, s)
	}
	for _, id := range []string{"6e000000-0000-4000-8000-000000000001", "6e000000-0000-4000-8000-000000000002"} {
		if _, err := db.GetServicePrincipal(ctx, resTenant, directory.Key{ID: id}); err == nil {
			parts = append(parts, "sp"+id[len(id)-1:])
		}
	}
	for _, id := range []string{"a-sub", "a-site", "a-site2"} {
		if _, err := db.GetRoleAssignment(ctx, resTenant, id); err == nil {
			parts = append(parts, id)
		}
	}
	if _, err := db.GetAppRoleAssignment(ctx, resTenant, "ara"); err == nil {
		parts = append(parts, "ara")
	}
	return strings.Join(parts, " ")
}

const resAll = "U S+U V+p2+p1 sp1 sp2 a-sub a-site a-site2 ara"

func testResDeleteCascade(t *testing.T, db *store.DB) {
	resSetup(t, db)
	if got := resState(t, db); got != resAll {
		t.Fatalf("after setup: %q, want %q", got, resAll)
	}
	// Deleting the site: its principal and what it held go; the identity it held stays.
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(resID(resources.TypeSite, "S")), Version: -1}), "delete site")
	if got, want := resState(t, db), "U V+p1 sp1"; got != want {
		t.Fatalf("after deleting the site: %q, want %q", got, want)
	}
	// Deleting the identity: its principal and its access policy go.
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(resID(resources.TypeUserAssigned, "U")), Version: -1}), "delete identity")
	if got, want := resState(t, db), "V"; got != want {
		t.Fatalf("after deleting the identity: %q, want %q", got, want)
	}
}

func testResGroupCascade(t *testing.T, db *store.DB) {
	resSetup(t, db)
	// A site in another group holding U is detached from it.
	_, err := db.PutResourceGroup(ctx, resources.Group{TenantID: resTenant, SubscriptionID: resSub, Name: "Other", Location: "local", Created: t0})
	must(t, err, "PutResourceGroup Other")
	o := resource(resources.TypeSite, "O")
	o.ID = strings.Replace(o.ID, "/G/", "/Other/", 1)
	o.UserAssigned = []resources.UserAssignedRef{{ID: resID(resources.TypeUserAssigned, "U")}}
	put(t, db, o, 0)
	must(t, db.DeleteResourceGroup(ctx, resTenant, resSub, "g"), "DeleteResourceGroup")
	if got, want := resState(t, db), ""; got != want {
		t.Fatalf("after deleting the group: %q, want %q", got, want)
	}
	got, err := db.GetResource(ctx, resTenant, strings.ToLower(o.ID))
	must(t, err, "GetResource O")
	if len(got.UserAssigned) != 0 {
		t.Fatalf("site in another group still holds %+v", got.UserAssigned)
	}
	_, err = db.GetResourceGroup(ctx, resTenant, resSub, "G")
	wantKind(t, err, errs.NotFound, "the deleted group")
}

func testResRollback(t *testing.T, db *store.DB) {
	resSetup(t, db)
	var ops []string
	db.BeforeCommit = func(op string) error {
		ops = append(ops, op)
		return errInjected
	}
	err := db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(resID(resources.TypeSite, "S")), Version: -1})
	if !errors.Is(err, errInjected) {
		t.Fatalf("delete with a failing commit: %v", err)
	}
	if err := db.DeleteResourceGroup(ctx, resTenant, resSub, "G"); !errors.Is(err, errInjected) {
		t.Fatalf("group delete with a failing commit: %v", err)
	}
	n := resource(resources.TypeSite, "N")
	nsp := resSP(t, 9, n.ID, false)
	n.SystemAssigned, n.PrincipalID, n.ClientID = true, nsp.ID, nsp.AppID
	if err := db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: strings.ToLower(n.ID), Put: n, CreateSPs: []directory.ServicePrincipal{nsp}}); !errors.Is(err, errInjected) {
		t.Fatalf("create with a failing commit: %v", err)
	}
	db.BeforeCommit = nil
	if want := []string{"ApplyResourceChange", "DeleteResourceGroup", "ApplyResourceChange"}; !slices.Equal(ops, want) {
		t.Errorf("BeforeCommit saw %v, want %v", ops, want)
	}
	if got := resState(t, db); got != resAll {
		t.Fatalf("after the rolled back deletes: %q, want %q", got, resAll)
	}
	_, err = db.GetServicePrincipal(ctx, resTenant, directory.Key{ID: nsp.ID})
	wantKind(t, err, errs.NotFound, "the principal of a rolled back create")
}

// testResSiteConfig: a site's config document is written, replaced, read only in its tenant,
// refused for a missing site, and deleted with the site (and with its group).
func testResSiteConfig(t *testing.T, db *store.DB) {
	resFixture(t, db)
	site := put(t, db, resource(resources.TypeSite, "S"), 0)
	key := strings.ToLower(site.ID)
	_, err := db.GetSiteConfig(ctx, resTenant, key, "authsettingsv2")
	wantKind(t, err, errs.NotFound, "GetSiteConfig before any write")
	must(t, db.PutSiteConfig(ctx, resTenant, key, "authsettingsv2", json.RawMessage(`{"platform":{"enabled":true}}`), t0), "PutSiteConfig")
	must(t, db.PutSiteConfig(ctx, resTenant, key, "authsettingsv2", json.RawMessage(`{"platform":{"enabled":false}}`), t0.Add(time.Second)), "PutSiteConfig again")
	got, err := db.GetSiteConfig(ctx, resTenant, key, "authsettingsv2")
	must(t, err, "GetSiteConfig")
	if string(got) != `{"platform":{"enabled":false}}` {
		t.Errorf("GetSiteConfig: %s", got)
	}
	_, err = db.GetSiteConfig(ctx, resOther, key, "authsettingsv2")
	wantKind(t, err, errs.NotFound, "GetSiteConfig from another tenant")
	wantKind(t, db.PutSiteConfig(ctx, resOther, key, "authsettingsv2", json.RawMessage(`{}`), t0), errs.NotFound, "PutSiteConfig from another tenant")
	wantKind(t, db.PutSiteConfig(ctx, resTenant, strings.ToLower(resID(resources.TypeSite, "missing")), "authsettingsv2", json.RawMessage(`{}`), t0),
		errs.NotFound, "PutSiteConfig of a missing site")
	// Replacing the site keeps its config; deleting it takes the config along.
	put(t, db, resource(resources.TypeSite, "S"), site.Version)
	if _, err := db.GetSiteConfig(ctx, resTenant, key, "authsettingsv2"); err != nil {
		t.Errorf("after replacing the site: %v", err)
	}
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: key, Version: -1}), "delete site")
	_, err = db.GetSiteConfig(ctx, resTenant, key, "authsettingsv2")
	wantKind(t, err, errs.NotFound, "GetSiteConfig after deleting the site")
	// A site made again under the same name starts with no config.
	put(t, db, resource(resources.TypeSite, "S"), 0)
	_, err = db.GetSiteConfig(ctx, resTenant, key, "authsettingsv2")
	wantKind(t, err, errs.NotFound, "GetSiteConfig of the new site")
	must(t, db.PutSiteConfig(ctx, resTenant, key, "authsettingsv2", json.RawMessage(`{}`), t0), "PutSiteConfig of the new site")
	must(t, db.DeleteResourceGroup(ctx, resTenant, resSub, "G"), "DeleteResourceGroup")
	_, err = db.GetSiteConfig(ctx, resTenant, key, "authsettingsv2")
	wantKind(t, err, errs.NotFound, "GetSiteConfig after deleting the group")
}
