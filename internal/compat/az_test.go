package compat

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent"
)

// requireAz returns the path of Debian's az (azure-cli), or skips (fails under CI) without it.
func requireAz(t *testing.T) string {
	t.Helper()
	az, err := exec.LookPath("az")
	if err != nil {
		missing(t, "LANYARD_REQUIRE_AZ", "Debian's azure-cli is not installed (apt-get install azure-cli)")
	}
	return az
}

// TestAzCLI runs Debian's az (azure-cli 2.45), unmodified, as an app of the real agent: the
// cloud registration `lanyard dev` prints (az cloud register with the resource manager's URL,
// which reads Lanyard's cloud metadata document), az cloud set, az login --identity with the
// app's system-assigned identity (Reader on the subscription), az group list, az resource list
// -o table (which needs ARM's "properties": null in the generic list) and az account
// get-access-token for the management and Graph resources.
func TestAzCLI(t *testing.T) {
	az := requireAz(t)
	n := startNode(t, "az-node")
	assignRole(t, n.env, n.sub, "/subscriptions/"+n.sub, readerRoleID, n.site.Identity.PrincipalID)
	env := n.app(t, n.site.ID)
	run := azRunner(t, az, env, n.env.URL)

	var accounts []struct {
		ID, TenantID, EnvironmentName string
		User                          struct{ Type, AssignedIdentityInfo string }
	}
	if err := json.Unmarshal([]byte(run("login", "--identity", "--allow-no-subscriptions", "-o", "json")), &accounts); err != nil {
		t.Fatal(err)
	}
	if len(accounts) != 1 || accounts[0].ID != n.sub || accounts[0].TenantID != n.env.Server.Default.ID ||
		accounts[0].EnvironmentName != "Lanyard" || accounts[0].User.AssignedIdentityInfo != "MSI" {
		t.Fatalf("az login --identity: %+v", accounts)
	}

	if groups := run("group", "list", "--query", "[].name", "-o", "tsv"); !strings.Contains(groups, "apps\n") {
		t.Errorf("az group list: %q", groups)
	}
	table := run("resource", "list", "-o", "table")
	if !strings.Contains(table, "app-a") || !strings.Contains(table, "Microsoft.Web/sites") {
		t.Errorf("az resource list -o table:\n%s", table)
	}

	for resource, aud := range map[string]string{
		"":                            "https://management.core.windows.net/", // the cloud's active_directory_resource_id
		"https://graph.microsoft.com": "https://graph.microsoft.com",
	} {
		args := []string{"account", "get-access-token", "-o", "json"}
		if resource != "" {
			args = append(args, "--resource", resource)
		}
		var tok struct {
			AccessToken, TokenType, Subscription, Tenant string
		}
		if err := json.Unmarshal([]byte(run(args...)), &tok); err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.Tenant != n.env.Server.Default.ID {
			t.Fatalf("az account get-access-token %s: %+v", resource, tok)
		}
		claims := n.verify(t, tok.AccessToken, aud)
		if claims["oid"] != n.site.Identity.PrincipalID {
			t.Errorf("token for %q: oid %v, want the app's identity %s", aud, claims["oid"], n.site.Identity.PrincipalID)
		}
	}
}

// azRunner returns a function that runs Debian's az with the app's environment env (its
// identity) and a configuration directory of its own, failing t on an error, after registering
// Lanyard's cloud (its ARM at url) and setting it as az's.
func azRunner(t *testing.T, az string, env agent.Env, url string) func(args ...string) string {
	cfgDir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, az, args...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + cfgDir, "AZURE_CONFIG_DIR=" + cfgDir,
			"AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_NO_COLOR=true"}, env.List()...)
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("az %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return string(out)
	}
	run("cloud", "register", "--name", "Lanyard", "--endpoint-resource-manager", url)
	run("cloud", "set", "--name", "Lanyard")
	return run
}
