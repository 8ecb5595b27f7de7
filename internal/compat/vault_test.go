package compat

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/vault"
)

// Key Vault built-in roles (rbac/builtin.go).
const (
	secretsUserRoleID    = "4633458b-17de-408a-b874-0445c86b69e6"
	secretsOfficerRoleID = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
)

// wantCode fails unless err is a Key Vault error with the status and code.
func wantCode(t *testing.T, err error, status int, code, what string) *azcore.ResponseError {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("%s: %v, want %d %s", what, err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("%s: %d %q, want %d %q (%v)", what, re.StatusCode, re.ErrorCode, status, code, err)
	}
	return re
}

// TestVaultSecretLifecycle walks every operation of azure-wire.md §6.2 with the unmodified Go
// client, as a managed identity holding an access policy with every secret permission.
func TestVaultSecretLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newVaultEnv(t, lanyardtest.Options{})
	mi := e.identity("app")
	e.createVault("kv-life", map[string]any{"accessPolicies": []any{e.policy(mi, "get", "list", "set", "delete", "recover", "backup", "restore", "purge")}})
	cred := &mintCredential{e: e, principal: mi}
	c := e.secretsWith("kv-life", cred)

	// Set: the first request is the unauthenticated challenge; the client then asks for a token
	// for the challenge's resource in its tenant and resends.
	set, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{
		Value: to.Ptr("s3cret-1"), ContentType: to.Ptr("text/plain"), Tags: map[string]*string{"env": to.Ptr("dev")},
	}, nil)
	if err != nil {
		t.Fatalf("SetSecret: %v", err)
	}
	if !slices.Equal(cred.scopes, []string{e.resource + "/.default"}) || !slices.Equal(cred.tenants, []string{e.tenant}) {
		t.Fatalf("token asked for scopes %v tenants %v, want %s/.default in %s", cred.scopes, cred.tenants, e.resource, e.tenant)
	}
	v1 := set.ID.Version()
	if len(v1) != 32 || set.ID.Name() != "db-password" || *set.Value != "s3cret-1" || !*set.Attributes.Enabled ||
		*set.Attributes.RecoveryLevel != "Recoverable+Purgeable" || *set.Attributes.RecoverableDays != 90 ||
		*set.Tags["env"] != "dev" || *set.ContentType != "text/plain" || set.Attributes.Created == nil {
		t.Fatalf("SetSecret answer: %+v %+v", set.Secret, *set.Attributes)
	}
	if !strings.HasPrefix(string(*set.ID), e.vaultURL("kv-life")+"/secrets/db-password/") {
		t.Fatalf("id %s", *set.ID)
	}
	set2, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("s3cret-2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v2 := set2.ID.Version()

	// Get: latest (GET /secrets/{name}/) and by version.
	got, err := c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *got.Value != "s3cret-2" || got.ID.Version() != v2 {
		t.Fatalf("GetSecret latest: %v %+v", err, got)
	}
	got, err = c.GetSecret(ctx, "DB-Password", v1, nil)
	if err != nil || *got.Value != "s3cret-1" || got.ID.Version() != v1 || *got.Tags["env"] != "dev" {
		t.Fatalf("GetSecret v1: %v %+v", err, got)
	}
	if len(cred.scopes) != 1 {
		t.Fatalf("the client asked for %d tokens, want 1 (the tenant was learned from the challenge)", len(cred.scopes))
	}

	// Update the attributes of a version.
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	up, err := c.UpdateSecretProperties(ctx, "db-password", v1, azsecrets.UpdateSecretPropertiesParameters{
		ContentType: to.Ptr("application/x-pw"), Tags: map[string]*string{"env": to.Ptr("prod")},
		SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
	}, nil)
	if err != nil || *up.ContentType != "application/x-pw" || !up.Attributes.Expires.Equal(exp) || *up.Tags["env"] != "prod" || up.Value != nil {
		t.Fatalf("UpdateSecretProperties: %v %+v", err, up)
	}
	if _, err := c.UpdateSecretProperties(ctx, "db-password", "", azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(false)}}, nil); err != nil {
		t.Fatalf("UpdateSecretProperties latest: %v", err)
	}
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	if re := wantCode(t, err, http.StatusForbidden, "Forbidden", "get disabled"); !strings.Contains(re.Error(), "SecretDisabled") {
		t.Fatalf("get disabled: %v", re)
	}
	if _, err := c.UpdateSecretProperties(ctx, "db-password", v2, azsecrets.UpdateSecretPropertiesParameters{
		SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true)}}, nil); err != nil {
		t.Fatal(err)
	}

	// List versions (paged by the client: 30 versions, 25 a page).
	for i := 3; i <= 30; i++ {
		if _, err := c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr(fmt.Sprintf("s3cret-%d", i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var versions []string
	for pager := c.NewListSecretPropertiesVersionsPager("db-password", nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("versions page: %v", err)
		}
		for _, p := range page.Value {
			versions = append(versions, p.ID.Version())
		}
	}
	if len(versions) != 30 || versions[0] != v1 || versions[1] != v2 || len(slices.Compact(slices.Clone(versions))) != 30 {
		t.Fatalf("versions: %d %v", len(versions), versions)
	}

	// List over 60 secrets: three pages, unversioned ids, no values.
	for i := range 61 {
		if _, err := c.SetSecret(ctx, fmt.Sprintf("bulk-%02d", i), azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pages := 0
	for pager := c.NewListSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list page: %v", err)
		}
		pages++
		for _, p := range page.Value {
			if p.ID.Version() != "" {
				t.Fatalf("list id is versioned: %s", *p.ID)
			}
			names = append(names, p.ID.Name())
		}
	}
	if pages != 3 || len(names) != 62 || names[0] != "bulk-00" || names[61] != "db-password" {
		t.Fatalf("list: %d pages, %d names %v", pages, len(names), names)
	}

	// Backup, delete (soft), get and list deleted, name reuse refused, recover.
	backup, err := c.BackupSecret(ctx, "db-password", nil)
	if err != nil || len(backup.Value) < 100 {
		t.Fatalf("BackupSecret: %v (%d bytes)", err, len(backup.Value))
	}
	if strings.Contains(string(backup.Value), "s3cret") {
		t.Fatal("the backup blob holds a value in clear")
	}
	del, err := c.DeleteSecret(ctx, "db-password", nil)
	if err != nil || *del.RecoveryID != e.vaultURL("kv-life")+"/deletedsecrets/db-password" || del.DeletedDate == nil ||
		del.ScheduledPurgeDate.Sub(*del.DeletedDate) != 90*24*time.Hour {
		t.Fatalf("DeleteSecret: %v %+v", err, del)
	}
	_, err = c.GetSecret(ctx, "db-password", "", nil)
	wantCode(t, err, http.StatusNotFound, "SecretNotFound", "get deleted secret")
	_, err = c.SetSecret(ctx, "db-password", azsecrets.SetSecretParameters{Value: to.Ptr("reuse")}, nil)
	if re := wantCode(t, err, http.StatusConflict, "Conflict", "set a deleted name"); !strings.Contains(re.Error(), "ObjectIsDeletedButRecoverable") {
		t.Fatalf("set a deleted name: %v", re)
	}
	gd, err := c.GetDeletedSecret(ctx, "db-password", nil)
	if err != nil || gd.ID.Version() != versions[29] || gd.Value != nil {
		t.Fatalf("GetDeletedSecret: %v %+v", err, gd)
	}
	var deleted []string
	for pager := c.NewListDeletedSecretPropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			deleted = append(deleted, p.ID.Name())
		}
	}
	if !slices.Equal(deleted, []string{"db-password"}) {
		t.Fatalf("deleted: %v", deleted)
	}
	rec, err := c.RecoverDeletedSecret(ctx, "db-password", nil)
	if err != nil || rec.ID.Version() != versions[29] {
		t.Fatalf("RecoverDeletedSecret: %v", err)
	}
	got, err = c.GetSecret(ctx, "db-password", "", nil)
	if err != nil || *got.Value != "s3cret-30" {
		t.Fatalf("get after recover: %v", err)
	}
	_, err = c.GetDeletedSecret(ctx, "db-password", nil)
	wantCode(t, err, http.StatusNotFound, "SecretNotFound", "get deleted after recover")

	// Restore into the same vault is refused while the name is taken; delete and purge, then restore.
	_, err = c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	wantCode(t, err, http.StatusConflict, "Conflict", "restore over a live secret")
	if _, err := c.DeleteSecret(ctx, "db-password", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "db-password", nil); err != nil {
		t.Fatalf("PurgeDeletedSecret: %v", err)
	}
	_, err = c.GetDeletedSecret(ctx, "db-password", nil)
	wantCode(t, err, http.StatusNotFound, "SecretNotFound", "get deleted after purge")
	res, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil)
	if err != nil || res.ID.Name() != "db-password" || res.ID.Version() != versions[29] {
		t.Fatalf("RestoreSecret: %v %+v", err, res)
	}
	got, err = c.GetSecret(ctx, "db-password", v1, nil)
	if err != nil || *got.Value != "s3cret-1" || *got.ContentType != "application/x-pw" {
		t.Fatalf("get a restored version: %v %+v", err, got)
	}

	// A backup restores into another vault of the tenant, not of another tenant.
	e.createVault("kv-life2", map[string]any{"accessPolicies": []any{e.policy(mi, "get", "restore")}})
	c2 := e.secrets("kv-life2", mi)
	if _, err := c2.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil); err != nil {
		t.Fatalf("restore into another vault: %v", err)
	}
	if got, err := c2.GetSecret(ctx, "db-password", "", nil); err != nil || *got.Value != "s3cret-30" {
		t.Fatalf("get from the other vault: %v", err)
	}
}

// TestVaultPurgeTask: a deleted secret is kept for the vault's retention period, then purged by
// the server holding the purge lease (another server's purge task does nothing meanwhile); its
// name is free again afterwards.
func TestVaultPurgeTask(t *testing.T) {
	ctx := context.Background()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	e := newVaultEnv(t, lanyardtest.Options{Now: now})
	e.createVault("kv-purge", map[string]any{"softDeleteRetentionInDays": 7})
	kv := e.env.Admin.Vault("kv-purge.vault.localhost:" + e.port)
	for _, name := range []string{"old", "young"} {
		if _, err := kv.SetSecret(ctx, name, client.SecretSet{Value: "v-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.DeleteSecret(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(6 * 24 * time.Hour))
	if _, err := kv.DeleteSecret(ctx, "young"); err != nil {
		t.Fatal(err)
	}
	srv, other := e.env.Server.Vault, &vault.Service{Store: e.env.Server.DB, Now: now} // another server: its own holder id
	purge := func(s *vault.Service, at time.Duration, want int, what string) {
		t.Helper()
		offset.Store(int64(at))
		if n, err := s.PurgeOnce(ctx, time.Minute); err != nil || n != want {
			t.Fatalf("%s: purged %d, want %d (%v)", what, n, want, err)
		}
	}
	day := 24 * time.Hour
	purge(srv, 6*day, 0, "before the retention period ends")
	purge(srv, 7*day+time.Minute, 1, "after 7 days")
	deleted, err := kv.ListDeletedSecrets(ctx)
	if err != nil || len(deleted) != 1 || !strings.HasSuffix(deleted[0].ID, "/secrets/young") {
		t.Fatalf("deleted after the purge: %v %+v", err, deleted)
	}
	// "young" is due at 13 days. The server renews its lease (for 3 intervals) just before; the
	// other server, whose task runs when it is due, does not get the lease; the holder purges.
	purge(srv, 13*day-time.Minute, 0, "renewing the lease")
	purge(other, 13*day+time.Minute, 0, "another server while the lease is held")
	purge(srv, 13*day+time.Minute, 1, "the holder")
	// Once the holder stops renewing, the lease passes to the other server.
	purge(other, 20*day, 0, "the other server after the lease expired")
	if ok, err := e.env.Server.DB.TryLease(ctx, vault.PurgeLease, "someone-else", time.Minute, now()); err != nil || ok {
		t.Fatalf("the other server does not hold the lease: %v %v", ok, err)
	}
	if deleted, err := kv.ListDeletedSecrets(ctx); err != nil || len(deleted) != 0 {
		t.Fatalf("deleted after both purges: %v %+v", err, deleted)
	}
	if _, err := kv.SetSecret(ctx, "old", client.SecretSet{Value: "new"}); err != nil {
		t.Fatalf("the purged name is not free: %v", err)
	}
	evs, err := e.env.Admin.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(evs, func(ev client.AuditEvent) bool {
		return ev.Actor == "system" && ev.Action == "vault.secret.purge" && strings.HasSuffix(ev.Target, "/secrets/old")
	}) {
		t.Fatal("the purge is not audited")
	}
}

// TestVaultAPIVersions: every api-version the clients send (azure-wire.md §6.1) is served.
func TestVaultAPIVersions(t *testing.T) {
	ctx := context.Background()
	e := newVaultEnv(t, lanyardtest.Options{})
	mi := e.identity("app")
	e.createVault("kv-versions", map[string]any{"accessPolicies": []any{e.policy(mi, "get", "set", "list")}})
	for _, v := range []string{"7.0", "7.1", "7.2", "7.3", "7.4", "7.4-preview.1", "7.5", "7.6", "2025-07-01", "2026-04-01"} {
		var sent []string
		seen := policyFunc(func(req *policy.Request) (*http.Response, error) {
			sent = append(sent, req.Raw().URL.Query().Get("api-version"))
			return req.Next()
		})
		c, err := azsecrets.NewClient(e.vaultURL("kv-versions"), &mintCredential{e: e, principal: mi}, &azsecrets.ClientOptions{
			ClientOptions: azcore.ClientOptions{Transport: e.http, APIVersion: v, PerRetryPolicies: []policy.Policy{seen}},
		})
		if err != nil {
			t.Fatal(err)
		}
		name := "s-" + strings.NewReplacer(".", "-").Replace(v)
		if _, err := c.SetSecret(ctx, name, azsecrets.SetSecretParameters{Value: to.Ptr(v)}, nil); err != nil {
			t.Fatalf("api-version %s: set: %v", v, err)
		}
		if got, err := c.GetSecret(ctx, name, "", nil); err != nil || *got.Value != v {
			t.Fatalf("api-version %s: get: %v", v, err)
		}
		pager := c.NewListSecretPropertiesPager(nil)
		if _, err := pager.NextPage(ctx); err != nil {
			t.Fatalf("api-version %s: list: %v", v, err)
		}
		if len(sent) < 4 || slices.ContainsFunc(sent, func(s string) bool { return s != v }) {
			t.Fatalf("api-version %s: the client sent %v", v, sent)
		}
	}
}

// policyFunc is a pipeline policy made of a function.
type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }
