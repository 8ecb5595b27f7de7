package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeIdentity is an App Service identity endpoint and a Key Vault, on loopback.
type fakeIdentity struct {
	mu       sync.Mutex
	secrets  map[string]string // "vault/name" or "vault/name/version" → value
	tokens   []string          // the identity query of each token request
	denied   bool              // the vault answers 403
	endpoint *httptest.Server
	vault    *httptest.Server
}

func newFakeIdentity(t testing.TB) *fakeIdentity {
	f := &fakeIdentity{secrets: map[string]string{}}
	f.endpoint = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Header.Get("X-IDENTITY-HEADER") != "id-secret" || q.Get("api-version") != "2019-08-01" || q.Get("resource") != "https://vault.azure.net" {
			w.WriteHeader(400)
			_, _ = fmt.Fprint(w, `{"error":{"code":"BadRequest","message":"bad identity request"}}`)
			return
		}
		who := "system"
		if c := q.Get("client_id"); c != "" {
			who = "client:" + c
		} else if m := q.Get("mi_res_id"); m != "" {
			who = "res:" + m
		}
		f.mu.Lock()
		f.tokens = append(f.tokens, who)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": "tok-" + who, "expires_on": fmt.Sprint(time.Now().Add(time.Hour).Unix()), "resource": "https://vault.azure.net", "token_type": "Bearer"})
	}))
	f.vault = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vault := strings.TrimPrefix(r.Header.Get("X-Test-Vault"), "")
		if r.URL.Query().Get("api-version") != "7.4" || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer tok-") {
			w.WriteHeader(401)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.denied {
			w.WriteHeader(403)
			_, _ = fmt.Fprint(w, `{"error":{"code":"Forbidden","message":"The user does not have secrets get permission"}}`)
			return
		}
		// paths: /{vault}/secrets/{name}[/{version}] (the fake serves every vault under its name)
		v, ok := f.secrets[strings.TrimPrefix(strings.Replace(r.URL.Path, "/secrets/", "/", 1), "/")]
		_ = vault
		if !ok {
			w.WriteHeader(404)
			_, _ = fmt.Fprint(w, `{"error":{"code":"SecretNotFound","message":"A secret with (name/id) was not found in this key vault."}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"value": v, "id": "x"})
	}))
	t.Cleanup(f.endpoint.Close)
	t.Cleanup(f.vault.Close)
	return f
}

func (f *fakeIdentity) reader() *MSISecretReader {
	return &MSISecretReader{Endpoint: f.endpoint.URL + "/msi/token", Header: "id-secret",
		VaultURL: func(name string) (string, error) { return f.vault.URL + "/" + name, nil }}
}

func (f *fakeIdentity) set(k, v string) { f.mu.Lock(); f.secrets[k] = v; f.mu.Unlock() }

func TestMSISecretReader(t *testing.T) {
	f := newFakeIdentity(t)
	f.set("vault1/s1", "value-1")
	f.set("vault1/s1/v0", "old")
	m := f.reader()
	ctx := context.Background()
	for _, tc := range []struct {
		ref  SecretRef
		want string
	}{
		{SecretRef{Identity: "system", Vault: "vault1", Name: "s1"}, "value-1"},
		{SecretRef{Identity: "", Vault: "https://vault1.vault.azure.net/", Name: "s1", Version: "v0"}, "old"},
		{SecretRef{Identity: "00000000-0000-0000-0000-000000000001", Vault: "vault1", Name: "s1"}, "value-1"},
		{SecretRef{Identity: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u", Vault: "vault1", Name: "s1"}, "value-1"},
	} {
		got, err := m.ReadSecret(ctx, tc.ref)
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q %v", tc.ref, got, err)
		}
	}
	// a new value is read at once: values are never cached; tokens are
	f.set("vault1/s1", "value-2")
	if got, _ := m.ReadSecret(ctx, SecretRef{Vault: "vault1", Name: "s1"}); got != "value-2" {
		t.Errorf("after the rotation: %q", got)
	}
	f.mu.Lock()
	tokens := strings.Join(f.tokens, " ")
	f.mu.Unlock()
	if tokens != "system client:00000000-0000-0000-0000-000000000001 res:/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u" {
		t.Errorf("token requests: %s", tokens)
	}
	_, err := m.ReadSecret(ctx, SecretRef{Vault: "vault1", Name: "nope"})
	if err == nil || err.Error() != "reading secret 'nope' from vault 'vault1': 404 Not Found (SecretNotFound: A secret with (name/id) was not found in this key vault.)" {
		t.Errorf("missing: %v", err)
	}
	bad := &MSISecretReader{Endpoint: f.endpoint.URL, Header: "wrong"}
	_, err = bad.ReadSecret(ctx, SecretRef{Vault: "vault1", Name: "s1"})
	if err == nil || !strings.Contains(err.Error(), "the identity endpoint answered 400 Bad Request (BadRequest: bad identity request)") {
		t.Errorf("bad header: %v", err)
	}
	// a token near its expiry is not used
	m2 := f.reader()
	m2.Now = func() time.Time { return time.Now().Add(58 * time.Minute) }
	for range 2 {
		_, _ = m2.ReadSecret(ctx, SecretRef{Vault: "vault1", Name: "s1"})
	}
	f.mu.Lock()
	n := len(f.tokens)
	f.mu.Unlock()
	if n != 5 {
		t.Errorf("%d token requests, want 5", n)
	}
}

// The keyVault input binding through the host: read at each invocation; a failed read fails
// the invocation (500) and the log says why, without the value.
func TestKeyVaultBinding(t *testing.T) {
	f := newFakeIdentity(t)
	f.set("vault1/db-password", "hunter2")
	root := app(t, "", map[string]string{
		"secret": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"},{"type":"http","direction":"out","name":"res"},
			{"type":"keyVault","direction":"in","name":"mySecret","secretName":"db-password","vaultName":"https://vault1.vault.azure.net/","identity":"user","identityId":"cid-1"}]}`,
	})
	var log logBuf
	h := startHost(t, Config{Root: root, Secrets: f.reader(), FunctionLog: &log}, nil)
	read := func() (int, string) {
		w := do(h, "GET", "/api/secret", "", nil)
		var body struct {
			Data map[string]json.RawMessage `json:"Data"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		var s string
		_ = json.Unmarshal(body.Data["mySecret"], &s)
		return w.Code, s
	}
	if code, s := read(); code != 200 || s != "hunter2" {
		t.Errorf("%d %q", code, s)
	}
	f.set("vault1/db-password", "rotated")
	if code, s := read(); code != 200 || s != "rotated" {
		t.Errorf("after the rotation: %d %q", code, s)
	}
	f.mu.Lock()
	f.denied = true
	f.mu.Unlock()
	if code, _ := read(); code != 500 {
		t.Errorf("denied: %d", code)
	}
	l := log.String()
	want := "Exception: keyVault binding 'mySecret': secret 'db-password' in vault 'https://vault1.vault.azure.net/' could not be read: reading secret 'db-password' from vault 'vault1': 403 Forbidden (Forbidden: The user does not have secrets get permission)"
	if !strings.Contains(l, want) {
		t.Errorf("log lacks %q:\n%s", want, l)
	}
	if strings.Contains(l, "hunter2") || strings.Contains(l, "rotated") {
		t.Errorf("a secret value in the log:\n%s", l)
	}
	f.mu.Lock()
	n := len(f.tokens)
	f.mu.Unlock()
	if n != 1 || f.tokens[0] != "client:cid-1" {
		t.Errorf("token requests %v", f.tokens)
	}
	// without a reader the invocation fails with a clear error
	var log2 logBuf
	h2 := startHost(t, Config{Root: root, FunctionLog: &log2}, nil)
	if w := do(h2, "GET", "/api/secret", "", nil); w.Code != 500 {
		t.Errorf("no reader: %d", w.Code)
	}
	if !strings.Contains(log2.String(), "keyVault binding 'mySecret': this host has no secret reader") {
		t.Errorf("log:\n%s", log2.String())
	}
}

func TestVaultName(t *testing.T) {
	for in, want := range map[string]string{
		"myvault": "myvault", "https://MyVault.vault.azure.net/": "MyVault", "https://kv-1.vault.localhost:8443": "kv-1",
	} {
		if got, err := VaultName(in); err != nil || got != want {
			t.Errorf("VaultName(%q) = %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "my_vault", "https://", "../etc", "vault.evil.example/x", "ftp://v.vault.azure.net"} {
		if got, err := VaultName(in); err == nil {
			t.Errorf("VaultName(%q) = %q, want an error", in, got)
		}
	}
}
