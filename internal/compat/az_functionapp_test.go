package compat

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestAzFunctionApp runs Debian's az (azure-cli 2.45), unmodified, against a function app's app
// settings and keys, as an app of the real agent logged in with its system-assigned identity
// (Reader of the subscription, so that az login finds it, and Owner of the group): az functionapp config appsettings set/list/delete, az functionapp keys
// list/set/delete and az functionapp function keys list/set.
func TestAzFunctionApp(t *testing.T) {
	az := requireAz(t)
	n := startNode(t, "az-fn-node")
	assignRole(t, n.env, n.sub, "/subscriptions/"+n.sub, readerRoleID, n.site.Identity.PrincipalID)
	assignRole(t, n.env, n.sub, n.group, ownerRoleID, n.site.Identity.PrincipalID)
	armDo(t, n.env, http.MethodPut, n.group+"/providers/Microsoft.Web/sites/fa-az", vWeb, map[string]any{
		"location": "local", "kind": "functionapp,linux", "properties": map[string]any{},
	}, nil)
	env := n.app(t, n.site.ID)
	run := azRunner(t, az, env, n.env.URL)
	run("login", "--identity", "--allow-no-subscriptions", "-o", "none")
	app := []string{"-g", "apps", "-n", "fa-az"}
	with := func(args ...string) []string { return append(append([]string{}, args...), app...) }

	run(with("functionapp", "config", "appsettings", "set", "--settings", "MODE=prod", "GREETING=hello", "-o", "none")...)
	var settings []struct {
		Name        string `json:"name"`
		Value       string `json:"value"`
		SlotSetting bool   `json:"slotSetting"`
	}
	if err := json.Unmarshal([]byte(run(with("functionapp", "config", "appsettings", "list", "-o", "json")...)), &settings); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range settings {
		got[s.Name] = s.Value
	}
	if len(got) != 2 || got["MODE"] != "prod" || got["GREETING"] != "hello" {
		t.Errorf("az functionapp config appsettings list: %+v", settings)
	}
	run(with("functionapp", "config", "appsettings", "delete", "--setting-names", "GREETING", "-o", "none")...)
	if names := run(with("functionapp", "config", "appsettings", "list", "--query", "[].name", "-o", "tsv")...); names != "MODE\n" {
		t.Errorf("after delete: %q", names)
	}

	var keys struct {
		MasterKey    string            `json:"masterKey"`
		FunctionKeys map[string]string `json:"functionKeys"`
	}
	if err := json.Unmarshal([]byte(run(with("functionapp", "keys", "list", "-o", "json")...)), &keys); err != nil {
		t.Fatal(err)
	}
	if keys.MasterKey == "" || keys.FunctionKeys["default"] == "" {
		t.Errorf("az functionapp keys list: %+v", keys)
	}
	run(with("functionapp", "keys", "set", "--key-type", "functionKeys", "--key-name", "ci", "--key-value", "ci-key-0123456789abcdef", "-o", "none")...)
	if v := run(with("functionapp", "keys", "list", "--query", "functionKeys.ci", "-o", "tsv")...); v != "ci-key-0123456789abcdef\n" {
		t.Errorf("after az functionapp keys set: %q", v)
	}
	run(with("functionapp", "keys", "delete", "--key-type", "functionKeys", "--key-name", "ci")...)
	if v := run(with("functionapp", "function", "keys", "list", "--function-name", "hello", "--query", "default", "-o", "tsv")...); len(strings.TrimSpace(v)) != 56 {
		t.Errorf("az functionapp function keys list: %q", v)
	}
	run(with("functionapp", "function", "keys", "set", "--function-name", "hello", "--key-name", "partner", "--key-value", "partner-key-0123456789", "-o", "none")...)
	if v := run(with("functionapp", "function", "keys", "list", "--function-name", "hello", "--query", "partner", "-o", "tsv")...); v != "partner-key-0123456789\n" {
		t.Errorf("after az functionapp function keys set: %q", v)
	}
}
