package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/store"
	"github.com/lanyardhq/lanyard/internal/vault"
)

// RunVault runs the vault domain's part of the suite (vault.Store): vaults found by name with
// their access policies, secret versions, soft delete, recovery, purge (by name and when due),
// restore, the cascade from the vault resource, rollback and concurrent writers. open is as for
// Run.
func RunVault(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"VaultByName", testVaultByName},
		{"Versions", testVaultVersions},
		{"SoftDelete", testVaultSoftDelete},
		{"Restore", testVaultRestore},
		{"Generation", testVaultGeneration},
		{"BackupKey", testVaultBackupKey},
		{"Cascade", testVaultCascade},
		{"Rollback", testVaultRollback},
		{"Concurrent", testVaultConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

const vaultPolicyOID = "6e000000-0000-4000-8000-0000000000ff"

// vaultFixture makes the resources fixture and vault "KV1" in group G, and returns its key.
func vaultFixture(t *testing.T, db *store.DB) string {
	t.Helper()
	resFixture(t, db)
	r := resource(resources.TypeVault, "KV1")
	r.Properties = []byte(`{"enableRbacAuthorization":false,"softDeleteRetentionInDays":7}`)
	r.AccessPolicies = []resources.AccessPolicy{{TenantID: resTenant, ObjectID: vaultPolicyOID,
		Permissions: resources.Permissions{Secrets: []string{"get", "list"}, Keys: []string{"get"}}}}
	put(t, db, r, 0)
	return strings.ToLower(r.ID)
}

// ver is version n of secret name in the vault, created at t0+n s.
func ver(key, name string, n int) vault.Version {
	at := t0.Add(time.Duration(n) * time.Second).UTC().Truncate(time.Second)
	return vault.Version{VaultKey: key, Name: name, Version: fmt.Sprintf("%032x", n), ContentType: "text/plain",
		Tags: map[string]string{"n": fmt.Sprint(n)}, Enabled: true, Created: at, Updated: at, KEKID: "kek1",
		Sealed: []byte(fmt.Sprintf("sealed-%s-%d", name, n))}
}

func testVaultByName(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	put(t, db, resource(resources.TypeUserAssigned, "kv2"), 0) // not a vault
	v, err := db.VaultByName(ctx, "kv1")
	must(t, err, "VaultByName")
	if v.Key != key || v.TenantID != resTenant || v.Name != "kv1" || !strings.HasSuffix(v.ID, "/vaults/KV1") ||
		!strings.Contains(string(v.Properties), `"softDeleteRetentionInDays":7`) {
		t.Fatalf("vault %+v", v)
	}
	if len(v.Policies) != 1 || v.Policies[0].ObjectID != vaultPolicyOID || strings.Join(v.Policies[0].Secrets, ",") != "get,list" {
		t.Fatalf("policies %+v", v.Policies)
	}
	_, err = db.VaultByName(ctx, "kv2")
	wantKind(t, err, errs.NotFound, "VaultByName of an identity's name")
	_, err = db.VaultByName(ctx, "nope")
	wantKind(t, err, errs.NotFound, "VaultByName unknown")
}

// testVaultGeneration: every change to a vault or its access policies raises the vault
// generation in its transaction; other resources, secrets and rolled back changes do not.
func testVaultGeneration(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	gen := func(step string) int64 {
		t.Helper()
		g, err := db.VaultGeneration(ctx)
		must(t, err, "VaultGeneration "+step)
		return g
	}
	g0 := gen("at first")
	v, err := db.VaultByName(ctx, "kv1")
	must(t, err, "VaultByName")
	if v.Gen != g0 {
		t.Fatalf("VaultByName read generation %d, VaultGeneration says %d", v.Gen, g0)
	}
	put(t, db, resource(resources.TypeUserAssigned, "mi"), 0)
	must(t, db.PutSecretVersion(ctx, ver(key, "s", 1)), "PutSecretVersion")
	if g := gen("after other changes"); g != g0 {
		t.Errorf("an identity and a secret moved the vault generation from %d to %d", g0, g)
	}

	r, err := db.GetResource(ctx, resTenant, key)
	must(t, err, "GetResource")
	r.AccessPolicies = nil
	db.BeforeCommit = func(string) error { return errInjected }
	if err := db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: key, Version: r.Version, Put: &r}); !errors.Is(err, errInjected) {
		t.Fatalf("ApplyResourceChange with a failing commit = %v", err)
	}
	db.BeforeCommit = nil
	if g := gen("after a rolled back change"); g != g0 {
		t.Errorf("a rolled back change moved the vault generation from %d to %d", g0, g)
	}
	put(t, db, &r, r.Version)
	g1 := gen("after the policy's removal")
	// The secret read with the generation: the same secret as GetSecret, at the generation now.
	sg, sec, x, err := db.GetSecretWithGeneration(ctx, key, "S", "")
	must(t, err, "GetSecretWithGeneration")
	sec2, x2, err := db.GetSecret(ctx, key, "s", "")
	must(t, err, "GetSecret")
	if sg != g1 || x.Version != x2.Version || string(x.Sealed) != string(x2.Sealed) || sec.Latest.Version != sec2.Latest.Version {
		t.Errorf("GetSecretWithGeneration: generation %d (want %d), version %s (GetSecret: %s)", sg, g1, x.Version, x2.Version)
	}
	// No such secret, or version: NotFound, with the generation all the same (one statement).
	ng, _, _, err := db.GetSecretWithGeneration(ctx, key, "nope", "")
	wantKind(t, err, errs.NotFound, "GetSecretWithGeneration of no secret")
	if ng != g1 {
		t.Errorf("GetSecretWithGeneration of no secret: generation %d, want %d", ng, g1)
	}
	ng, _, _, err = db.GetSecretWithGeneration(ctx, key, "s", fmt.Sprintf("%032x", 77))
	wantKind(t, err, errs.NotFound, "GetSecretWithGeneration of no version")
	if ng != g1 {
		t.Errorf("GetSecretWithGeneration of no version: generation %d, want %d", ng, g1)
	}
	vg, _, x3, err := db.GetSecretWithGeneration(ctx, key, "s", x2.Version)
	must(t, err, "GetSecretWithGeneration of a version")
	if vg != g1 || x3.Version != x2.Version || string(x3.Sealed) != string(x2.Sealed) {
		t.Errorf("GetSecretWithGeneration of version %s: generation %d, version %s", x2.Version, vg, x3.Version)
	}
	v, err = db.VaultByName(ctx, "kv1")
	must(t, err, "VaultByName after the policy's removal")
	if g1 <= g0 || v.Gen != g1 || len(v.Policies) != 0 {
		t.Errorf("after the policy's removal: generation %d (was %d), vault read at %d with %d policies", g1, g0, v.Gen, len(v.Policies))
	}
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: key, Version: -1}), "delete the vault")
	if g := gen("after the vault's deletion"); g <= g1 {
		t.Errorf("deleting the vault left the generation at %d", g)
	}
}

// testVaultBackupKey: a tenant's backup key is made once, by the first caller; later calls (and
// a concurrent second maker) get the same; KEK rotation lists it among the sealed values.
func testVaultBackupKey(t *testing.T, db *store.DB) {
	resFixture(t, db)
	made := 0
	create := func(b string) func() (string, []byte, error) {
		return func() (string, []byte, error) { made++; return "kek1", []byte(b), nil }
	}
	first, err := db.VaultBackupKey(ctx, strings.ToUpper(resTenant), create("sealed-1"))
	must(t, err, "VaultBackupKey")
	again, err := db.VaultBackupKey(ctx, resTenant, create("sealed-2"))
	must(t, err, "VaultBackupKey again")
	if string(first) != "sealed-1" || string(again) != "sealed-1" || made != 1 {
		t.Fatalf("backup keys %q then %q, made %d times; want sealed-1 twice, made once", first, again, made)
	}
	_, err = db.VaultBackupKey(ctx, resTenant, nil) // not called: the key exists
	must(t, err, "VaultBackupKey without a maker")
	_, err = db.VaultBackupKey(ctx, "6e000000-0000-4000-8000-000000000099", func() (string, []byte, error) { return "", nil, errInjected })
	if !errors.Is(err, errInjected) {
		t.Errorf("VaultBackupKey whose maker fails = %v", err)
	}
	// Makers racing for a new tenant: all get the key stored first.
	other := "6e000000-0000-4000-8000-000000000098"
	got := make([]string, workers)
	for i, err := range parallel(workers, func(i int) error {
		k, err := db.VaultBackupKey(ctx, other, func() (string, []byte, error) { return "kek1", []byte(fmt.Sprint("racer-", i)), nil })
		got[i] = string(k)
		return err
	}) {
		must(t, err, fmt.Sprint("racing VaultBackupKey ", i))
	}
	for _, k := range got {
		if k != got[0] || !strings.HasPrefix(k, "racer-") {
			t.Fatalf("racing makers got different keys: %q", got)
		}
	}
	sealed, err := db.ListSealedNotUnder(ctx, "kek2", 100)
	must(t, err, "ListSealedNotUnder")
	found := false
	for _, s := range sealed {
		found = found || s.Table == "vault_backup_keys" && s.ID == strings.ToLower(resTenant) && string(s.Blob) == "sealed-1"
	}
	if !found {
		t.Errorf("KEK rotation does not list the backup key: %+v", sealed)
	}
}

func testVaultVersions(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	_, _, err := db.GetSecret(ctx, key, "s", "")
	wantKind(t, err, errs.NotFound, "GetSecret before any")
	for n := 1; n <= 3; n++ {
		v := ver(key, "Secret-A", n)
		if n == 2 {
			v.NotBefore, v.Expires = t0.Truncate(time.Second).UTC(), t0.Add(time.Hour).Truncate(time.Second).UTC()
		}
		must(t, db.PutSecretVersion(ctx, v), "PutSecretVersion")
	}
	must(t, db.PutSecretVersion(ctx, ver(key, "b", 9)), "PutSecretVersion b")
	wantKind(t, db.PutSecretVersion(ctx, ver(key, "secret-a", 2)), errs.Conflict, "PutSecretVersion of an existing version")
	wantKind(t, db.PutSecretVersion(ctx, ver(strings.Replace(key, "kv1", "kv9", 1), "x", 1)), errs.NotFound, "PutSecretVersion in no vault")

	sec, v, err := db.GetSecret(ctx, key, "SECRET-a", "")
	must(t, err, "GetSecret latest")
	if sec.Deleted() || v.Version != fmt.Sprintf("%032x", 3) || sec.Latest.Version != v.Version || v.Name != "Secret-A" ||
		string(v.Sealed) != "sealed-Secret-A-3" || v.KEKID != "kek1" || v.Tags["n"] != "3" || !v.Created.Equal(ver(key, "x", 3).Created) {
		t.Fatalf("latest %+v %+v", sec, v)
	}
	sec, v, err = db.GetSecret(ctx, key, "secret-a", fmt.Sprintf("%032x", 2))
	must(t, err, "GetSecret v2")
	if sec.Latest.Version != fmt.Sprintf("%032x", 3) || string(v.Sealed) != "sealed-Secret-A-2" || !v.NotBefore.Equal(t0.Truncate(time.Second)) ||
		!v.Expires.Equal(t0.Add(time.Hour).Truncate(time.Second)) || v.NotBefore.Location() != time.UTC {
		t.Fatalf("v2 %+v %+v", sec, v)
	}
	_, _, err = db.GetSecret(ctx, key, "secret-a", fmt.Sprintf("%032x", 9))
	wantKind(t, err, errs.NotFound, "GetSecret of another secret's version")

	v.Enabled, v.ContentType, v.Tags, v.Expires = false, "x/y", nil, time.Time{}
	v.Updated = t0.Add(time.Minute).UTC().Truncate(time.Second)
	must(t, db.UpdateSecretVersion(ctx, v), "UpdateSecretVersion")
	_, got, err := db.GetSecret(ctx, key, "secret-a", v.Version)
	must(t, err, "GetSecret after update")
	if got.Enabled || got.ContentType != "x/y" || got.Tags != nil || !got.Expires.IsZero() || !got.Updated.Equal(v.Updated) || string(got.Sealed) != "sealed-Secret-A-2" {
		t.Fatalf("updated %+v", got)
	}
	missing := v
	missing.Version = fmt.Sprintf("%032x", 77)
	wantKind(t, db.UpdateSecretVersion(ctx, missing), errs.NotFound, "UpdateSecretVersion of no version")

	all, err := db.ListSecretVersions(ctx, key, "secret-a", "", 0)
	must(t, err, "ListSecretVersions")
	page, err := db.ListSecretVersions(ctx, key, "secret-a", fmt.Sprintf("%032x", 1), 1)
	must(t, err, "ListSecretVersions page")
	if len(all) != 3 || all[0].Version != fmt.Sprintf("%032x", 1) || all[2].Version != fmt.Sprintf("%032x", 3) ||
		len(page) != 1 || page[0].Version != fmt.Sprintf("%032x", 2) || string(page[0].Sealed) != "sealed-Secret-A-2" {
		t.Fatalf("versions %d, page %+v", len(all), page)
	}
	_, err = db.ListSecretVersions(ctx, key, "nope", "", 0)
	wantKind(t, err, errs.NotFound, "ListSecretVersions of no secret")

	list, err := db.ListSecrets(ctx, key, false, "", 10)
	must(t, err, "ListSecrets")
	if len(list) != 2 || list[0].Latest.Name != "b" || list[1].Latest.Name != "Secret-A" || list[1].Latest.Sealed != nil {
		t.Fatalf("list %+v", list)
	}
	list, err = db.ListSecrets(ctx, key, false, "b", 10)
	must(t, err, "ListSecrets after b")
	if len(list) != 1 || list[0].Latest.Name != "Secret-A" {
		t.Fatalf("list after b %+v", list)
	}
}

func testVaultSoftDelete(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	for n, name := range []string{"a", "b", "c"} {
		must(t, db.PutSecretVersion(ctx, ver(key, name, n+1)), "PutSecretVersion")
	}
	_, err := db.DeleteSecret(ctx, key, "nope", t0, t0)
	wantKind(t, err, errs.NotFound, "DeleteSecret of no secret")
	for i, name := range []string{"a", "b"} {
		sec, err := db.DeleteSecret(ctx, key, strings.ToUpper(name), t0, t0.Add(time.Duration(i+1)*time.Hour))
		must(t, err, "DeleteSecret")
		if !sec.Deleted() || !sec.DeletedAt.Equal(t0) || sec.Latest.Name != name {
			t.Fatalf("deleted %+v", sec)
		}
	}
	_, err = db.DeleteSecret(ctx, key, "a", t0, t0)
	wantKind(t, err, errs.NotFound, "DeleteSecret twice")
	if err := db.PutSecretVersion(ctx, ver(key, "a", 7)); !errors.Is(err, vault.ErrDeleted) {
		t.Fatalf("PutSecretVersion of a deleted name: %v", err)
	}
	wantKind(t, db.UpdateSecretVersion(ctx, ver(key, "a", 1)), errs.NotFound, "UpdateSecretVersion of a deleted secret")
	_, err = db.ListSecretVersions(ctx, key, "a", "", 0)
	wantKind(t, err, errs.NotFound, "ListSecretVersions of a deleted secret")
	sec, _, err := db.GetSecret(ctx, key, "a", "")
	must(t, err, "GetSecret of a deleted secret")
	if !sec.Deleted() || !sec.PurgeAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("deleted state %+v", sec)
	}
	live, err := db.ListSecrets(ctx, key, false, "", 10)
	must(t, err, "ListSecrets live")
	dead, err := db.ListSecrets(ctx, key, true, "", 10)
	must(t, err, "ListSecrets deleted")
	if len(live) != 1 || live[0].Latest.Name != "c" || len(dead) != 2 || !dead[1].PurgeAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("live %+v deleted %+v", live, dead)
	}

	_, err = db.RecoverSecret(ctx, key, "c")
	wantKind(t, err, errs.NotFound, "RecoverSecret of a live secret")
	sec, err = db.RecoverSecret(ctx, key, "A")
	must(t, err, "RecoverSecret")
	if sec.Deleted() || !sec.PurgeAt.IsZero() {
		t.Fatalf("recovered %+v", sec)
	}
	wantKind(t, db.PurgeSecret(ctx, key, "a"), errs.NotFound, "PurgeSecret of a live secret")
	_, err = db.DeleteSecret(ctx, key, "a", t0, t0.Add(3*time.Hour))
	must(t, err, "DeleteSecret again")
	must(t, db.PurgeSecret(ctx, key, "a"), "PurgeSecret")
	_, _, err = db.GetSecret(ctx, key, "a", "")
	wantKind(t, err, errs.NotFound, "GetSecret after purge")
	must(t, db.PutSecretVersion(ctx, ver(key, "a", 8)), "PutSecretVersion of a purged name")

	// b is due at t0+2h, c is live.
	done, err := db.PurgeDueSecrets(ctx, t0.Add(time.Hour), 10)
	must(t, err, "PurgeDueSecrets early")
	if len(done) != 0 {
		t.Fatalf("purged early: %+v", done)
	}
	done, err = db.PurgeDueSecrets(ctx, t0.Add(2*time.Hour), 10)
	must(t, err, "PurgeDueSecrets")
	if len(done) != 1 || done[0].Name != "b" || done[0].VaultKey != key {
		t.Fatalf("purged %+v", done)
	}
	if _, _, err := db.GetSecret(ctx, key, "b", ""); !errs.Is(err, errs.NotFound) {
		t.Fatalf("b after the due purge: %v", err)
	}
}

func testVaultRestore(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	vs := []vault.Version{ver(key, "r", 1), ver(key, "r", 2)}
	must(t, db.RestoreSecret(ctx, vs), "RestoreSecret")
	sec, v, err := db.GetSecret(ctx, key, "r", "")
	must(t, err, "GetSecret restored")
	if v.Version != vs[1].Version || sec.Deleted() {
		t.Fatalf("restored latest %+v", v)
	}
	if err := db.RestoreSecret(ctx, vs); !errors.Is(err, vault.ErrExists) {
		t.Fatalf("RestoreSecret over a live secret: %v", err)
	}
	_, err = db.DeleteSecret(ctx, key, "r", t0, t0)
	must(t, err, "DeleteSecret")
	if err := db.RestoreSecret(ctx, vs); !errors.Is(err, vault.ErrDeleted) {
		t.Fatalf("RestoreSecret over a deleted secret: %v", err)
	}
	mixed := []vault.Version{ver(key, "m", 1), ver(key, "other", 2)}
	wantKind(t, db.RestoreSecret(ctx, mixed), errs.Invalid, "RestoreSecret of two secrets")
	if _, _, err := db.GetSecret(ctx, key, "m", ""); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a refused restore left %v", err)
	}
}

func testVaultCascade(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	must(t, db.PutSecretVersion(ctx, ver(key, "a", 1)), "PutSecretVersion")
	_, err := db.DeleteSecret(ctx, key, "a", t0, t0)
	must(t, err, "DeleteSecret")
	must(t, db.PutSecretVersion(ctx, ver(key, "b", 2)), "PutSecretVersion")
	must(t, db.ApplyResourceChange(ctx, resources.Change{TenantID: resTenant, Key: key, Version: -1}), "delete the vault")
	// A vault of the same name again: empty.
	put(t, db, resource(resources.TypeVault, "KV1"), 0)
	for _, name := range []string{"a", "b"} {
		if _, _, err := db.GetSecret(ctx, key, name, ""); !errs.Is(err, errs.NotFound) {
			t.Fatalf("secret %s outlived its vault: %v", name, err)
		}
	}
	if done, err := db.PurgeDueSecrets(ctx, t0.Add(time.Hour), 10); err != nil || len(done) != 0 {
		t.Fatalf("PurgeDueSecrets after the cascade: %v %+v", err, done)
	}
}

func testVaultRollback(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	must(t, db.PutSecretVersion(ctx, ver(key, "a", 1)), "PutSecretVersion")
	db.BeforeCommit = func(op string) error { return errors.New("injected") }
	if err := db.PutSecretVersion(ctx, ver(key, "a", 2)); err == nil {
		t.Fatal("PutSecretVersion committed despite the failure")
	}
	if err := db.PutSecretVersion(ctx, ver(key, "new", 3)); err == nil {
		t.Fatal("PutSecretVersion committed despite the failure")
	}
	if _, err := db.DeleteSecret(ctx, key, "a", t0, t0); err == nil {
		t.Fatal("DeleteSecret committed despite the failure")
	}
	db.BeforeCommit = nil
	sec, v, err := db.GetSecret(ctx, key, "a", "")
	must(t, err, "GetSecret")
	if sec.Deleted() || v.Version != fmt.Sprintf("%032x", 1) {
		t.Fatalf("after rolled-back writes: %+v %+v", sec, v)
	}
	if _, _, err := db.GetSecret(ctx, key, "new", ""); !errs.Is(err, errs.NotFound) {
		t.Fatalf("a rolled-back new secret exists: %v", err)
	}
}

// testVaultConcurrent: writers adding versions to one new name at once all succeed, each
// version once, in one order, the latest being the last created.
func testVaultConcurrent(t *testing.T, db *store.DB) {
	key := vaultFixture(t, db)
	const perWorker = 5
	var wg sync.WaitGroup
	errc := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				if err := db.PutSecretVersion(ctx, ver(key, "hot", 1+w*perWorker+i)); err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("concurrent PutSecretVersion: %v", err)
	}
	vs, err := db.ListSecretVersions(ctx, key, "hot", "", 0)
	must(t, err, "ListSecretVersions")
	seen := map[string]bool{}
	for _, v := range vs {
		seen[v.Version] = true
	}
	_, latest, err := db.GetSecret(ctx, key, "hot", "")
	must(t, err, "GetSecret")
	if len(vs) != workers*perWorker || len(seen) != len(vs) || latest.Version != vs[len(vs)-1].Version {
		t.Fatalf("%d versions (%d distinct), latest %s, last listed %s", len(vs), len(seen), latest.Version, vs[len(vs)-1].Version)
	}
}
