package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestVaultAccessPolicyLive: a managed identity reads a secret through an access policy; the
// policy is removed and its very next read (same client, same cached token) is 403 Forbidden;
// the policy is granted again and it reads again.
func TestVaultAccessPolicyLive(t *testing.T) {
	ctx := context.Background()
	e := newVaultEnv(t, lanyardtest.Options{})
	mi := e.identity("reader")
	vaultID := e.createVault("kv-policy", map[string]any{"accessPolicies": []any{e.policy(mi, "get")}})
	// The secret is written by the administrator (admin socket), as an operator would.
	e.adminSetSecret("kv-policy", "conn", "Server=db;Password=hunter2")

	cred := &mintCredential{e: e, principal: mi}
	c := e.secretsWith("kv-policy", cred)
	read := func() error {
		got, err := c.GetSecret(ctx, "conn", "", nil)
		if err == nil && *got.Value != "Server=db;Password=hunter2" {
			t.Fatalf("read %q", *got.Value)
		}
		return err
	}
	if err := read(); err != nil {
		t.Fatalf("read with the policy: %v", err)
	}
	// get does not grant list or set.
	_, err := c.SetSecret(ctx, "conn", azsecrets.SetSecretParameters{Value: to.Ptr("x")}, nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden", "set with get only")

	e.accessPolicies(vaultID, "remove", e.policy(mi))
	re := wantCode(t, read(), http.StatusForbidden, "Forbidden", "read after the policy is removed")
	if !strings.Contains(re.Error(), "AccessDenied") || !strings.Contains(re.Error(), mi) {
		t.Fatalf("denial: %v", re)
	}
	e.accessPolicies(vaultID, "add", e.policy(mi, "get"))
	if err := read(); err != nil {
		t.Fatalf("read after re-granting: %v", err)
	}
	if len(cred.scopes) != 1 {
		t.Fatalf("%d tokens minted, want 1: the decisions were made on one token", len(cred.scopes))
	}
}

// TestVaultRBAC: on a vault with enableRbacAuthorization, Key Vault Secrets User reads but does
// not write, Secrets Officer writes, an identity without a role (even one named in an access
// policy, which RBAC vaults ignore) reads nothing.
func TestVaultRBAC(t *testing.T) {
	ctx := context.Background()
	e := newVaultEnv(t, lanyardtest.Options{})
	user, officer, nobody := e.identity("user"), e.identity("officer"), e.identity("nobody")
	vaultID := e.createVault("kv-rbac", map[string]any{"enableRbacAuthorization": true,
		"accessPolicies": []any{e.policy(nobody, "all")}})
	assignRole(t, e.env, e.sub, vaultID, secretsUserRoleID, user)
	assignRole(t, e.env, e.sub, vaultID, secretsOfficerRoleID, officer)

	co, cu, cn := e.secrets("kv-rbac", officer), e.secrets("kv-rbac", user), e.secrets("kv-rbac", nobody)
	if _, err := co.SetSecret(ctx, "api-key", azsecrets.SetSecretParameters{Value: to.Ptr("k-123")}, nil); err != nil {
		t.Fatalf("officer sets: %v", err)
	}
	if got, err := cu.GetSecret(ctx, "api-key", "", nil); err != nil || *got.Value != "k-123" {
		t.Fatalf("user reads: %v", err)
	}
	if got, err := co.GetSecret(ctx, "api-key", "", nil); err != nil || *got.Value != "k-123" {
		t.Fatalf("officer reads: %v", err)
	}
	_, err := cu.SetSecret(ctx, "api-key", azsecrets.SetSecretParameters{Value: to.Ptr("mine")}, nil)
	if re := wantCode(t, err, http.StatusForbidden, "Forbidden", "user sets"); !strings.Contains(re.Error(), "ForbiddenByRbac") ||
		!strings.Contains(re.Error(), "Microsoft.KeyVault/vaults/secrets/setSecret/action") {
		t.Fatalf("user sets: %v", re)
	}
	_, err = cn.GetSecret(ctx, "api-key", "", nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden", "nobody reads")
	// A role at the resource group reaches the vault too, and its removal is seen at once.
	e.accessPolicies(vaultID, "remove", e.policy(nobody)) // irrelevant under RBAC, and harmless
	assignment := assignRole(t, e.env, e.sub, "/subscriptions/"+e.sub+"/resourceGroups/rg", secretsUserRoleID, nobody)
	if _, err := cn.GetSecret(ctx, "api-key", "", nil); err != nil {
		t.Fatalf("group-scoped Secrets User reads: %v", err)
	}
	admin(t, e.env, http.MethodDelete, assignment, "2022-04-01", nil, nil)
	_, err = cn.GetSecret(ctx, "api-key", "", nil)
	wantCode(t, err, http.StatusForbidden, "Forbidden", "read after the role assignment is deleted")
}

// kvAnswer is a raw data-plane answer.
type kvAnswer struct {
	status int
	header http.Header
	code   string
	inner  string
	msg    string
}

// raw sends one data-plane request with an optional bearer token.
func (e *vaultEnv) raw(method, vault, path, token string, body any) kvAnswer {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.vaultURL(vault)+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return kvAnswer{status: resp.StatusCode, header: resp.Header, code: out.Error.Code, inner: out.Error.InnerError.Code, msg: out.Error.Message}
}

func (a kvAnswer) want(t *testing.T, status int, code, inner, what string) {
	t.Helper()
	if a.status != status || a.code != code || a.inner != inner {
		t.Fatalf("%s: %d %s/%s (%s), want %d %s/%s", what, a.status, a.code, a.inner, a.msg, status, code, inner)
	}
	if a.header.Get("x-ms-error-code") != code {
		t.Fatalf("%s: x-ms-error-code %q", what, a.header.Get("x-ms-error-code"))
	}
}

// TestVaultRefusals: each refusal with Key Vault's status, code and (where Azure sends one)
// inner code.
func TestVaultRefusals(t *testing.T) {
	ctx := context.Background()
	e := newVaultEnv(t, lanyardtest.Options{})
	mi := e.identity("app")
	e.createVault("kv-refuse", map[string]any{"accessPolicies": []any{e.policy(mi, "all")}})
	e.createVault("kv-protect", map[string]any{"enablePurgeProtection": true, "softDeleteRetentionInDays": 7,
		"accessPolicies": []any{e.policy(mi, "all")}})
	token := mint(t, e.env, mi, e.resource)
	const latest = "/secrets/s1/?api-version=7.6"
	e.adminSetSecret("kv-refuse", "s1", "value-1")

	// No token: the exact challenge of §6.6.
	a := e.raw(http.MethodGet, "kv-refuse", latest, "", nil)
	a.want(t, http.StatusUnauthorized, "Unauthorized", "", "no token")
	wantChallenge := `Bearer authorization="` + e.env.URL + "/" + e.tenant + `", resource="` + e.resource + `"`
	if got := a.header.Get("WWW-Authenticate"); got != wantChallenge || !strings.HasPrefix(a.msg, "AKV10000:") {
		t.Fatalf("challenge %q (%s), want %q", got, a.msg, wantChallenge)
	}
	// The token is good: the same request with it succeeds; tokens for https://vault.azure.net too.
	if a := e.raw(http.MethodGet, "kv-refuse", latest, token, nil); a.status != http.StatusOK {
		t.Fatalf("with the token: %d %s", a.status, a.msg)
	}
	if a := e.raw(http.MethodGet, "kv-refuse", latest, mint(t, e.env, mi, "https://vault.azure.net"), nil); a.status != http.StatusOK {
		t.Fatalf("with a token for https://vault.azure.net: %d %s", a.status, a.msg)
	}
	// Wrong audience, tampered token, another tenant's token: 401 with the challenge.
	a = e.raw(http.MethodGet, "kv-refuse", latest, mint(t, e.env, mi, "https://graph.microsoft.com"), nil)
	a.want(t, http.StatusUnauthorized, "Unauthorized", "", "wrong audience")
	if a.header.Get("WWW-Authenticate") != wantChallenge {
		t.Fatal("wrong audience: no challenge")
	}
	e.raw(http.MethodGet, "kv-refuse", latest, token[:len(token)-4]+"AAAA", nil).want(t, http.StatusUnauthorized, "Unauthorized", "", "tampered token")
	other, err := e.env.Admin.CreateTenant(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	otherSP := e.otherTenantPrincipal(other.ID)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	graph(t, e.env, http.MethodPost, "/admin/v1/tokens", map[string]any{"principalId": otherSP, "resource": e.resource, "tenantId": other.ID}, &out)
	a = e.raw(http.MethodGet, "kv-refuse", latest, out.AccessToken, nil)
	a.want(t, http.StatusUnauthorized, "Unauthorized", "", "another tenant's token")
	if !strings.Contains(a.msg, "AKV10032") || a.header.Get("WWW-Authenticate") != wantChallenge {
		t.Fatalf("another tenant's token: %s", a.msg)
	}
	// The three refused tokens are audited in aggregate for their source (this test's address):
	// the first as an event of its own, with its reason, the other two in one summary with
	// theirs (listing the audit closes the window); never a token. The request without a
	// token (every client's first leg) is not audited.
	evs, err := e.env.Admin.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, ev := range evs {
		if strings.Contains(ev.Detail, token[:40]) || strings.Contains(ev.Detail, out.AccessToken[:40]) {
			t.Fatalf("a token in the audit log: %+v", ev)
		}
		if strings.HasPrefix(ev.Action, "authn.refused") {
			if ev.Result != "denied" || ev.Actor != "unidentified:127.0.0.1" || !strings.HasPrefix(ev.Target, "kv-refuse.") {
				t.Errorf("refused token's audit event %+v", ev)
			}
			reasons = append(reasons, ev.Action+" "+ev.Detail)
		}
	}
	if len(reasons) != 2 || !strings.HasPrefix(reasons[0], "authn.refused reason=Invalid audience") ||
		!strings.HasPrefix(reasons[1], "authn.refused.summary count=2 throttled=0 ") ||
		!strings.Contains(reasons[1], `reason="Signature validation failed.`) || !strings.Contains(reasons[1], `reason="AKV10032`) {
		t.Errorf("refused tokens audited as %q", reasons)
	}

	// Disabled, expired and not-yet-valid secrets: 403 with the reason.
	c := e.secrets("kv-refuse", mi)
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, s := range []struct {
		name, inner string
		attrs       azsecrets.SecretAttributes
	}{
		{"disabled", "SecretDisabled", azsecrets.SecretAttributes{Enabled: to.Ptr(false)}},
		{"expired", "SecretExpired", azsecrets.SecretAttributes{Expires: &past}},
		{"early", "SecretNotYetValid", azsecrets.SecretAttributes{NotBefore: &future}},
	} {
		if _, err := c.SetSecret(ctx, s.name, azsecrets.SetSecretParameters{Value: to.Ptr("v"), SecretAttributes: &s.attrs}, nil); err != nil {
			t.Fatalf("set %s: %v", s.name, err)
		}
		e.raw(http.MethodGet, "kv-refuse", "/secrets/"+s.name+"?api-version=7.6", token, nil).want(t, http.StatusForbidden, "Forbidden", s.inner, s.name)
		// Its metadata stays readable and writable: that is how it is fixed.
		if _, err := c.UpdateSecretProperties(ctx, s.name, "", azsecrets.UpdateSecretPropertiesParameters{
			SecretAttributes: &azsecrets.SecretAttributes{Enabled: to.Ptr(true), Expires: &future, NotBefore: &past}}, nil); err != nil {
			t.Fatalf("fix %s: %v", s.name, err)
		}
		if _, err := c.GetSecret(ctx, s.name, "", nil); err != nil {
			t.Fatalf("get %s once fixed: %v", s.name, err)
		}
	}

	// Name reuse while deleted; purge under purge protection.
	if _, err := c.DeleteSecret(ctx, "s1", nil); err != nil {
		t.Fatal(err)
	}
	e.raw(http.MethodPut, "kv-refuse", "/secrets/s1?api-version=7.6", token, map[string]string{"value": "again"}).
		want(t, http.StatusConflict, "Conflict", "ObjectIsDeletedButRecoverable", "reuse a deleted name")
	cp := e.secrets("kv-protect", mi)
	set, err := cp.SetSecret(ctx, "p1", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	if err != nil || *set.Attributes.RecoveryLevel != "CustomizedRecoverable" || *set.Attributes.RecoverableDays != 7 {
		t.Fatalf("set in a protected vault: %v %+v", err, set)
	}
	if _, err := cp.DeleteSecret(ctx, "p1", nil); err != nil {
		t.Fatal(err)
	}
	e.raw(http.MethodDelete, "kv-protect", "/deletedsecrets/p1?api-version=7.6", token, nil).
		want(t, http.StatusForbidden, "Forbidden", "PurgeProtectionEnabled", "purge under purge protection")
	if _, err := cp.RecoverDeletedSecret(ctx, "p1", nil); err != nil {
		t.Fatalf("recover under purge protection: %v", err)
	}

	// Malformed input: 400 BadParameter, never 500.
	for _, bad := range []struct{ method, path string }{
		{http.MethodPut, "/secrets/bad_name?api-version=7.6"},
		{http.MethodPut, "/secrets/" + strings.Repeat("a", 128) + "?api-version=7.6"},
		{http.MethodGet, "/secrets/s%2F1?api-version=7.6"},
		{http.MethodGet, "/secrets/ok/not-a-version?api-version=7.6"},
		{http.MethodGet, "/secrets/ok/?api-version=banana"},
		{http.MethodGet, "/secrets/ok/"},
		{http.MethodGet, "/secrets?api-version=7.6&maxresults=26"},
		{http.MethodGet, "/secrets?api-version=7.6&$skiptoken=!!"},
		{http.MethodGet, "/secrets?api-version=7.6&api-version=7.5"},
	} {
		e.raw(bad.method, "kv-refuse", bad.path, token, map[string]string{"value": "v"}).want(t, http.StatusBadRequest, "BadParameter", "", bad.method+" "+bad.path)
	}
	_, err = c.SetSecret(ctx, "bad.name", azsecrets.SetSecretParameters{Value: to.Ptr("v")}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter", "Go client, malformed name")
	_, err = c.SetSecret(ctx, "big", azsecrets.SetSecretParameters{Value: to.Ptr(strings.Repeat("x", 25*1024+1))}, nil)
	wantCode(t, err, http.StatusBadRequest, "BadParameter", "oversized value")
	if _, err := c.SetSecret(ctx, "big", azsecrets.SetSecretParameters{Value: to.Ptr(strings.Repeat("x", 25*1024))}, nil); err != nil {
		t.Fatalf("a 25 KB value: %v", err)
	}
	e.raw(http.MethodPut, "kv-refuse", "/secrets/nobody?api-version=7.6", token, map[string]int{"value": 1}).want(t, http.StatusBadRequest, "BadParameter", "", "value not a string")
	e.raw(http.MethodPut, "kv-refuse", "/secrets/?api-version=7.6", token, map[string]string{"value": "v"}).want(t, http.StatusMethodNotAllowed, "MethodNotAllowed", "", "PUT /secrets/")
	e.raw(http.MethodGet, "kv-refuse", "/keys?api-version=7.6", token, nil).want(t, http.StatusNotFound, "NotFound", "", "keys")
	// The JS client's percent-encoded query key is api-version.
	if a := e.raw(http.MethodGet, "kv-refuse", "/secrets/big/?api%2Dversion=2026-04-01", token, nil); a.status != http.StatusOK {
		t.Fatalf("api%%2Dversion: %d %s", a.status, a.msg)
	}

	// Unknown vault host: 404 VaultNotFound, with or without a token, through the Go client too.
	e.raw(http.MethodGet, "nosuchvault", latest, token, nil).want(t, http.StatusNotFound, "VaultNotFound", "", "unknown vault")
	_, err = e.secrets("nosuchvault", mi).GetSecret(ctx, "s1", "", nil)
	wantCode(t, err, http.StatusNotFound, "VaultNotFound", "Go client, unknown vault")
}

// otherTenantPrincipal registers an application and its service principal in another tenant.
func (e *vaultEnv) otherTenantPrincipal(tenantID string) string {
	e.t.Helper()
	c := *e.env.Admin
	c.Tenant = tenantID
	var app struct {
		AppID string `json:"appId"`
	}
	if err := c.Do(context.Background(), http.MethodPost, "/v1.0/applications", map[string]any{"displayName": "stranger"}, &app); err != nil {
		e.t.Fatal(err)
	}
	var sp struct {
		ID string `json:"id"`
	}
	if err := c.Do(context.Background(), http.MethodPost, "/v1.0/servicePrincipals", map[string]any{"appId": app.AppID}, &sp); err != nil {
		e.t.Fatal(err)
	}
	return sp.ID
}
