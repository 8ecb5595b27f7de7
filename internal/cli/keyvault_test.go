package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyVault walks the az-shaped vault commands against a real server: the vault and its
// access policies through the management API, every secret command through the data plane on the
// admin socket.
func TestKeyVault(t *testing.T) {
	env, sock := server(t)
	managementWired(t, env)
	str := tsv(t, sock)
	dir := t.TempDir()

	str("group", "create", "--name", "rg")
	uri := str("keyvault", "create", "--name", "kv1", "--resource-group", "rg", "--retention-days", "7", "--query", "properties.vaultUri")
	if !strings.HasPrefix(uri, "https://kv1.vault.localhost:") {
		t.Fatalf("vaultUri %q", uri)
	}
	if got := str("keyvault", "show", "--name", "kv1", "--query", "[properties.softDeleteRetentionInDays, properties.enableRbacAuthorization]"); got != "7\nfalse" {
		t.Fatalf("show: %q", got)
	}
	str("keyvault", "create", "-n", "kv2", "-g", "rg", "--enable-rbac-authorization", "--enable-purge-protection")
	if got := str("keyvault", "list", "--query", "sort_by(@, &name)[].name"); got != "kv1\nkv2" {
		t.Fatalf("list: %q", got)
	}

	// Access policies: set (twice: the second replaces the secret permissions), then delete.
	mi := str("identity", "create", "-n", "app", "-g", "rg", "--query", "principalId")
	str("keyvault", "set-policy", "--name", "kv1", "--object-id", mi, "--secret-permissions", "get", "list", "set")
	str("keyvault", "set-policy", "--name", "kv1", "--object-id", mi, "--secret-permissions", "get,list")
	if got := str("keyvault", "show", "-n", "kv1", "--query", "properties.accessPolicies[0].[objectId, join(',', permissions.secrets)]"); got != mi+"\nget,list" {
		t.Fatalf("policy: %q", got)
	}
	// An object id that names nothing is accepted, as Azure accepts it, with a warning; so is an
	// appId given for an object id, with a warning that names the object id.
	if _, errs, code := run(t, sock, "keyvault", "set-policy", "--name", "kv1", "--object-id", "0c5a4f1e-3d2b-4c1a-9f8e-7d6c5b4a3921", "--secret-permissions", "get"); code != 0 ||
		!strings.Contains(errs, "warning: no service principal or group") {
		t.Fatalf("set-policy for an unknown object: exit %d %q", code, errs)
	}
	clientID := str("identity", "show", "-n", "app", "-g", "rg", "--query", "clientId")
	if _, errs, code := run(t, sock, "keyvault", "set-policy", "--name", "kv1", "--object-id", clientID, "--secret-permissions", "get"); code != 0 ||
		!strings.Contains(errs, "is the appId") || !strings.Contains(errs, mi) {
		t.Fatalf("set-policy with a client id: exit %d %q", code, errs)
	}
	if _, errs, code := run(t, sock, "keyvault", "set-policy", "--name", "kv1", "--object-id", mi, "--secret-permissions", "get,list"); code != 0 || errs != "" {
		t.Fatalf("set-policy for a real principal warned: %q", errs)
	}
	for _, id := range []string{mi, clientID, "0c5a4f1e-3d2b-4c1a-9f8e-7d6c5b4a3921"} {
		str("keyvault", "delete-policy", "--name", "kv1", "--object-id", id)
	}
	if got := str("keyvault", "show", "-n", "kv1", "--query", "length(properties.accessPolicies)"); got != "0" {
		t.Fatalf("policies after delete-policy: %q", got)
	}

	// Secrets, as the administrator.
	pw := filepath.Join(dir, "pw.txt")
	if err := os.WriteFile(pw, []byte("from-a-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := str("keyvault", "secret", "set", "--vault-name", "kv1", "--name", "db", "--value", "v1", "--tags", "env=dev", "--query", "[id, value]")
	if !strings.HasPrefix(out, uri+"secrets/db/") || strings.Contains(out, "v1\n") {
		t.Fatalf("set printed %q (the id, never the value)", out)
	}
	v1 := out[strings.LastIndex(out, "/")+1:]
	str("keyvault", "secret", "set", "--vault-name", "kv1", "--name", "db", "--file", pw, "--content-type", "text/plain")
	if got := str("keyvault", "secret", "show", "--vault-name", "kv1", "--name", "db", "--query", "[value, contentType]"); got != "from-a-file\ntext/plain" {
		t.Fatalf("show latest: %q", got)
	}
	if got := str("keyvault", "secret", "show", "--vault-name", "kv1", "-n", "db", "--version", v1, "--query", "[value, tags.env]"); got != "v1\ndev" {
		t.Fatalf("show v1: %q", got)
	}
	if got := str("keyvault", "secret", "list-versions", "--vault-name", "kv1", "--name", "db", "--query", "length(@)"); got != "2" {
		t.Fatalf("list-versions: %q", got)
	}
	str("keyvault", "secret", "set", "--vault-name", "kv1", "--name", "api", "--value", "k", "--expires", "2099-01-01T00:00:00Z")
	if got := str("keyvault", "secret", "list", "--vault-name", "kv1", "--query", "[].id"); got != uri+"secrets/api\n"+uri+"secrets/db" {
		t.Fatalf("list: %q", got)
	}
	if got := str("keyvault", "secret", "show", "--vault-name", "kv1", "-n", "api", "--query", "attributes.exp"); got != "4070908800" {
		t.Fatalf("expires: %q", got)
	}

	// A disabled secret is refused to the administrator too; set-attributes fixes it.
	str("keyvault", "secret", "set-attributes", "--vault-name", "kv1", "--name", "db", "--enabled", "false")
	if errs := fails(t, sock, "keyvault", "secret", "show", "--vault-name", "kv1", "--name", "db"); !strings.Contains(errs, "403 Forbidden") || !strings.Contains(errs, "disabled") {
		t.Fatalf("show disabled: %s", errs)
	}
	str("keyvault", "secret", "set-attributes", "--vault-name", "kv1", "--name", "db", "--enabled", "true")

	// Backup, delete, list-deleted, recover, delete and purge, restore.
	bak := filepath.Join(dir, "db.bak")
	str("keyvault", "secret", "backup", "--vault-name", "kv1", "--name", "db", "--file", bak)
	if b, err := os.ReadFile(bak); err != nil || strings.Contains(string(b), "from-a-file") || len(b) < 100 {
		t.Fatalf("backup file: %v, %d bytes", err, len(b))
	}
	if got := str("keyvault", "secret", "delete", "--vault-name", "kv1", "--name", "db", "--query", "recoveryId"); got != uri+"deletedsecrets/db" {
		t.Fatalf("delete: %q", got)
	}
	if errs := fails(t, sock, "keyvault", "secret", "set", "--vault-name", "kv1", "--name", "db", "--value", "x"); !strings.Contains(errs, "409") {
		t.Fatalf("set a deleted name: %s", errs)
	}
	if got := str("keyvault", "secret", "list-deleted", "--vault-name", "kv1", "--query", "[].id"); got != uri+"secrets/db" {
		t.Fatalf("list-deleted: %q", got)
	}
	str("keyvault", "secret", "recover", "--vault-name", "kv1", "--name", "db")
	if got := str("keyvault", "secret", "show", "--vault-name", "kv1", "-n", "db", "--query", "value"); got != "from-a-file" {
		t.Fatalf("after recover: %q", got)
	}
	str("keyvault", "secret", "delete", "--vault-name", "kv1", "--name", "db")
	str("keyvault", "secret", "purge", "--vault-name", "kv1", "--name", "db")
	if got := str("keyvault", "secret", "list-deleted", "--vault-name", "kv1", "--query", "length(@)"); got != "0" {
		t.Fatalf("list-deleted after purge: %q", got)
	}
	str("keyvault", "secret", "restore", "--vault-name", "kv2", "--file", bak)
	if got := str("keyvault", "secret", "show", "--vault-name", "kv2", "-n", "db", "--version", v1, "--query", "value"); got != "v1" {
		t.Fatalf("restored into kv2: %q", got)
	}
	// Purge protection (kv2).
	str("keyvault", "secret", "delete", "--vault-name", "kv2", "--name", "db")
	if errs := fails(t, sock, "keyvault", "secret", "purge", "--vault-name", "kv2", "--name", "db"); !strings.Contains(errs, "purge protection") {
		t.Fatalf("purge under purge protection: %s", errs)
	}

	// Bad input is refused before anything is sent.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"keyvault", "create", "-n", "x", "-g", "rg"}, "3 to 24"},
		{[]string{"keyvault", "create", "-n", "kv3", "-g", "rg", "--retention-days", "5"}, "between 7 and 90"},
		{[]string{"keyvault", "secret", "set", "--vault-name", "kv1", "-n", "bad_name", "--value", "v"}, "letters, digits and '-'"},
		{[]string{"keyvault", "secret", "set", "--vault-name", "kv1", "-n", "a", "--value", "v", "--file", pw}, "exactly one"},
		{[]string{"keyvault", "secret", "set", "--vault-name", "kv1", "-n", "a", "--value", strings.Repeat("x", 25*1024+1)}, "at most 25600"},
		{[]string{"keyvault", "secret", "set", "--vault-name", "kv1", "-n", "a", "--value", "v", "--expires", "tomorrow"}, "RFC 3339"},
		{[]string{"keyvault", "secret", "show", "--vault-name", "nosuchvault", "-n", "a"}, "no vault named"},
		{[]string{"keyvault", "set-policy", "-n", "kv1", "--object-id", "me", "--secret-permissions", "get"}, "object-id"},
	} {
		if errs := fails(t, append([]string{sock}, c.args...)...); !strings.Contains(errs, c.want) {
			t.Errorf("lanyard %s: %s, want %q", strings.Join(c.args, " "), errs, c.want)
		}
	}

	str("keyvault", "delete", "--name", "kv1")
	if got := str("keyvault", "list", "--query", "[].name"); got != "kv2" {
		t.Fatalf("list after delete: %q", got)
	}
}
