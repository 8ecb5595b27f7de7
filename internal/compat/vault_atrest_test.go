package compat

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/vault"
)

// syncBuffer is a log sink several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestVaultValueNotAtRest: a secret's value, written, read, updated, backed up, restored and
// deleted, cannot be found in the SQLite file, its WAL, the audit log or the server's log, in
// any encoding it could leak in; every one of those operations is in the audit log with the
// caller, the vault, the secret and the version; the token is in no log either.
func TestVaultValueNotAtRest(t *testing.T) {
	ctx := context.Background()
	logs := &syncBuffer{}
	e := newVaultEnv(t, lanyardtest.Options{Log: logs})
	mi := e.identity("app")
	vaultID := e.createVault("kv-rest", map[string]any{"accessPolicies": []any{e.policy(mi, "all")}})
	cred := &mintCredential{e: e, principal: mi}
	c := e.secretsWith("kv-rest", cred)

	const value = "pw-7f3a9c1e5b2d8064-the-secret-value"
	set, err := c.SetSecret(ctx, "db", azsecrets.SetSecretParameters{Value: to.Ptr(value)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSecret(ctx, "db", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateSecretProperties(ctx, "db", "", azsecrets.UpdateSecretPropertiesParameters{ContentType: to.Ptr("text/plain")}, nil); err != nil {
		t.Fatal(err)
	}
	backup, err := c.BackupSecret(ctx, "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSecret(ctx, "db", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedSecret(ctx, "db", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RestoreSecret(ctx, azsecrets.RestoreSecretParameters{SecretBackup: backup.Value}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetSecret(ctx, "db", "", nil); err != nil || *got.Value != value {
		t.Fatalf("get after restore: %v", err)
	}
	// A second value after the WAL has started, so both files hold secret rows.
	if _, err := c.SetSecret(ctx, "db", azsecrets.SetSecretParameters{Value: to.Ptr(value + "-2")}, nil); err != nil {
		t.Fatal(err)
	}

	evs, err := e.env.Admin.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	auditJSON, _ := json.Marshal(evs)
	var ops []string
	for _, ev := range evs {
		if strings.HasPrefix(ev.Action, "vault.secret.") {
			if ev.Actor != "sp:"+mi || !strings.HasPrefix(ev.Target, vaultID+"/secrets/db") || ev.Result != "success" {
				t.Errorf("audit event %+v", ev)
			}
			ops = append(ops, strings.TrimPrefix(ev.Action, "vault.secret."))
		}
	}
	if got := strings.Join(ops, ","); got != "set,get,update,backup,delete,purge,restore,get,set" {
		t.Fatalf("audited operations %s", got)
	}
	if want := vaultID + "/secrets/db/" + set.ID.Version(); !strings.Contains(string(auditJSON), want) {
		t.Fatalf("the audit log does not name the version %s", want)
	}

	haystacks := map[string][]byte{"audit log": auditJSON, "server log": logs.Bytes()}
	for _, name := range []string{"lanyard.db", "lanyard.db-wal"} {
		b, err := os.ReadFile(filepath.Join(e.env.DataDir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		haystacks[name] = b
	}
	if len(haystacks["lanyard.db-wal"]) == 0 || len(haystacks["server log"]) == 0 {
		t.Fatal("the WAL or the log is empty: the test would not search it")
	}
	needles := map[string][]byte{
		"value":           []byte(value),
		"value (base64)":  []byte(base64.StdEncoding.EncodeToString([]byte(value))[:32]),
		"value (hex)":     []byte(hex.EncodeToString([]byte(value))),
		"value (utf-16)":  utf16(value),
		"value fragment":  []byte("the-secret-value"),
		"token signature": []byte(cred.lastToken(t)[len(cred.lastToken(t))-40:]),
	}
	for hn, h := range haystacks {
		for nn, n := range needles {
			if bytes.Contains(h, n) {
				t.Errorf("the %s holds the %s", hn, nn)
			}
		}
	}
}

func utf16(s string) []byte {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r), 0)
	}
	return b
}

// TestVaultKEKRotation: KEK rotation rewraps every secret version (they are registered sealed
// values), and each still opens, under the new KEK only, with its own identity as associated data.
func TestVaultKEKRotation(t *testing.T) {
	ctx := context.Background()
	e := newVaultEnv(t, lanyardtest.Options{})
	vaultID := e.createVault("kv-kek", nil)
	for _, v := range []string{"one", "two"} {
		e.adminSetSecret("kv-kek", "s", v)
	}
	db, old := e.env.Server.DB, e.env.Server.KEK
	next, err := seal.ParseKEK(bytes.Repeat([]byte{0x5a}, 32))
	if err != nil {
		t.Fatal(err)
	}
	n, err := seal.Rotate(ctx, db, old, next, nil)
	if err != nil || n < 2 {
		t.Fatalf("Rotate: %d values, %v", n, err)
	}
	key := strings.ToLower(vaultID)
	vs, err := db.ListSecretVersions(ctx, key, "s", "", 0)
	if err != nil || len(vs) != 2 {
		t.Fatalf("versions: %v %d", err, len(vs))
	}
	for i, v := range vs {
		ad := seal.AD{Table: vault.SealTable, ID: vault.SealID(key, "s", v.Version), Purpose: vault.SealPurpose}
		plain, err := next.Open(v.Sealed, ad)
		if err != nil || string(plain) != []string{"one", "two"}[i] {
			t.Fatalf("version %d under the new KEK: %q %v", i, plain, err)
		}
		if _, err := old.Open(v.Sealed, ad); err == nil {
			t.Fatalf("version %d still opens under the old KEK", i)
		}
		other := ad
		other.ID = vault.SealID(key, "t", v.Version)
		if _, err := next.Open(v.Sealed, other); err == nil {
			t.Fatalf("version %d opens as another secret's", i)
		}
	}
}
