package cli_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFunctionAppSettingsCLI: appsettings set, list and delete in az's shapes (set and delete
// print the names with the values redacted, list the values); the webapp noun has them too.
func TestFunctionAppSettingsCLI(t *testing.T) {
	_, sock := server(t)
	must(t, sock, "group", "create", "--name", "rg", "--location", "local")
	must(t, sock, "functionapp", "create", "--name", "func", "--resource-group", "rg")
	out, errs, code := run(t, sock, "functionapp", "config", "appsettings", "set", "-n", "func", "-g", "rg", "--settings", "MODE=prod", "GREETING=hello, world")
	if code != 0 || !strings.Contains(errs, "redacted") {
		t.Fatalf("set: exit %d: %s", code, errs)
	}
	var redacted []map[string]any
	if err := json.Unmarshal([]byte(out), &redacted); err != nil || len(redacted) != 2 || redacted[0]["name"] != "GREETING" || redacted[0]["value"] != nil || redacted[0]["slotSetting"] != false {
		t.Fatalf("set prints %s", out)
	}
	got := must(t, sock, "functionapp", "config", "appsettings", "list", "-n", "func", "-g", "rg")
	var list []struct {
		Name        string `json:"name"`
		Value       string `json:"value"`
		SlotSetting bool   `json:"slotSetting"`
	}
	if err := json.Unmarshal([]byte(got), &list); err != nil || len(list) != 2 || list[0].Name != "GREETING" || list[0].Value != "hello, world" || list[1].Value != "prod" {
		t.Fatalf("list: %s", got)
	}
	must(t, sock, "functionapp", "config", "appsettings", "set", "-n", "func", "-g", "rg", "--settings", "mode=dev")
	if got := must(t, sock, "functionapp", "config", "appsettings", "list", "-n", "func", "-g", "rg", "--query", "[?name=='mode'].value", "-o", "tsv"); got != "dev\n" {
		t.Errorf("a setting set again in another case: %q", got)
	}
	must(t, sock, "functionapp", "config", "appsettings", "delete", "-n", "func", "-g", "rg", "--setting-names", "GREETING")
	if got := must(t, sock, "functionapp", "config", "appsettings", "list", "-n", "func", "-g", "rg", "--query", "[].name", "-o", "tsv"); got != "mode\n" {
		t.Errorf("after delete: %q", got)
	}
	if _, errs, code := run(t, sock, "functionapp", "config", "appsettings", "set", "-n", "func", "-g", "rg", "--settings", "NOVALUE"); code == 0 || !strings.Contains(errs, "KEY=VALUE") {
		t.Errorf("a setting without '=': exit %d %s", code, errs)
	}
	must(t, sock, "webapp", "create", "--name", "web", "--resource-group", "rg")
	must(t, sock, "webapp", "config", "appsettings", "set", "-n", "web", "-g", "rg", "--settings", "W=1")
	if got := must(t, sock, "webapp", "config", "appsettings", "list", "-n", "web", "-g", "rg", "--query", "[0].value", "-o", "tsv"); got != "1\n" {
		t.Errorf("webapp list: %q", got)
	}
}

// TestFunctionAppZipDeployCLI: deployment source config-zip uploads the package and prints the
// deployment, with the package's digest.
func TestFunctionAppZipDeployCLI(t *testing.T) {
	_, sock := server(t)
	must(t, sock, "group", "create", "--name", "rg", "--location", "local")
	must(t, sock, "functionapp", "create", "--name", "func", "--resource-group", "rg")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("host.json")
	w.Write([]byte(`{"version":"2.0"}`))
	zw.Close()
	src := filepath.Join(t.TempDir(), "app.zip")
	if err := os.WriteFile(src, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, sock, "functionapp", "deployment", "source", "config-zip", "-n", "func", "-g", "rg", "--src", src, "--query", "[status, complete, digest]", "-o", "tsv")
	sum := sha256.Sum256(buf.Bytes())
	if code != 0 || out != "4\ntrue\nsha256:"+hex.EncodeToString(sum[:])+"\n" || !strings.Contains(errs, "status code 200") {
		t.Fatalf("config-zip: exit %d: %q %s", code, out, errs)
	}
	notZip := filepath.Join(t.TempDir(), "x.zip")
	os.WriteFile(notZip, []byte("plain text"), 0o600)
	if _, errs, code := run(t, sock, "functionapp", "deployment", "source", "config-zip", "-n", "func", "-g", "rg", "--src", notZip); code == 0 || !strings.Contains(errs, "not a zip") {
		t.Errorf("not a zip: exit %d %s", code, errs)
	}
	if _, errs, code := run(t, sock, "functionapp", "deployment", "source", "config-zip", "-n", "func", "-g", "rg", "--src", filepath.Join(t.TempDir(), "missing.zip")); code == 0 || !strings.Contains(errs, "--src") {
		t.Errorf("a missing file: exit %d %s", code, errs)
	}
}

// TestFunctionAppKeysCLI: keys list/set/delete and function keys list/set/delete in az's shapes.
func TestFunctionAppKeysCLI(t *testing.T) {
	_, sock := server(t)
	must(t, sock, "group", "create", "--name", "rg", "--location", "local")
	must(t, sock, "functionapp", "create", "--name", "func", "--resource-group", "rg")
	var keys struct {
		MasterKey    string            `json:"masterKey"`
		FunctionKeys map[string]string `json:"functionKeys"`
		SystemKeys   map[string]string `json:"systemKeys"`
	}
	if err := json.Unmarshal([]byte(must(t, sock, "functionapp", "keys", "list", "-n", "func", "-g", "rg")), &keys); err != nil || keys.MasterKey == "" || keys.FunctionKeys["default"] == "" || keys.SystemKeys == nil {
		t.Fatalf("keys list: %+v %v", keys, err)
	}
	if got := must(t, sock, "functionapp", "keys", "set", "-n", "func", "-g", "rg", "--key-type", "functionKeys", "--key-name", "ci", "--key-value", "ci-key-0123456789abcdef", "--query", "[name, value]", "-o", "tsv"); got != "ci\nci-key-0123456789abcdef\n" {
		t.Errorf("keys set: %q", got)
	}
	if got := must(t, sock, "functionapp", "keys", "set", "-n", "func", "-g", "rg", "--key-type", "systemkeys", "--key-name", "ext", "--query", "length(value)"); got != "56\n" {
		t.Errorf("a generated system key: %q", got)
	}
	if got := must(t, sock, "functionapp", "keys", "list", "-n", "func", "-g", "rg", "--query", "[functionKeys.ci, length(systemKeys.ext)]", "-o", "tsv"); got != "ci-key-0123456789abcdef\n56\n" {
		t.Errorf("keys list after set: %q", got)
	}
	must(t, sock, "functionapp", "keys", "delete", "-n", "func", "-g", "rg", "--key-type", "functionKeys", "--key-name", "ci")
	if got := must(t, sock, "functionapp", "keys", "list", "-n", "func", "-g", "rg", "--query", "functionKeys.ci"); strings.TrimSpace(got) != "" && strings.TrimSpace(got) != "null" {
		t.Errorf("a deleted key: %q", got)
	}
	if _, errs, code := run(t, sock, "functionapp", "keys", "set", "-n", "func", "-g", "rg", "--key-type", "bogus", "--key-name", "x"); code == 0 || !strings.Contains(errs, "--key-type") {
		t.Errorf("a bad key type: exit %d %s", code, errs)
	}
	def := strings.TrimSpace(must(t, sock, "functionapp", "function", "keys", "list", "-n", "func", "-g", "rg", "--function-name", "hello", "--query", "default", "-o", "tsv"))
	if len(def) != 56 {
		t.Errorf("function default key %q", def)
	}
	must(t, sock, "functionapp", "function", "keys", "set", "-n", "func", "-g", "rg", "--function-name", "hello", "--key-name", "partner", "--key-value", "partner-key-0123456789")
	if got := must(t, sock, "functionapp", "function", "keys", "list", "-n", "func", "-g", "rg", "--function-name", "hello", "--query", "[default, partner]", "-o", "tsv"); got != def+"\npartner-key-0123456789\n" {
		t.Errorf("function keys after set: %q", got)
	}
	must(t, sock, "functionapp", "function", "keys", "delete", "-n", "func", "-g", "rg", "--function-name", "hello", "--key-name", "partner")
	if got := must(t, sock, "functionapp", "function", "keys", "list", "-n", "func", "-g", "rg", "--function-name", "hello", "--query", "length(@)"); got != "1\n" {
		t.Errorf("function keys after delete: %q", got)
	}
	// A web app has no keys command.
	if _, _, code := run(t, sock, "webapp", "keys", "list", "-n", "x", "-g", "rg"); code == 0 {
		t.Error("webapp keys: exit 0")
	}
}
