package compat

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestARMPythonClients runs Debian's python3-azure management clients (azure-mgmt-resource,
// azure-mgmt-msi, azure-mgmt-authorization), unmodified, as an app of the real agent whose
// system-assigned identity is Owner of the subscription: a group, a user-assigned identity and a
// role assignment, created, read, listed and deleted (testdata/python-arm/arm.py).
func TestARMPythonClients(t *testing.T) {
	python := requirePython(t)
	n := startNode(t, "py-arm")
	assignRole(t, n.env, n.sub, "/subscriptions/"+n.sub, ownerRoleID, n.site.Identity.PrincipalID)
	env := n.app(t, n.site.ID)
	script, err := filepath.Abs("testdata/python-arm/arm.py")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, script)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "ARM_URL=" + n.env.URL, "SUBSCRIPTION_ID=" + n.sub, "VAULT_NAME=kv-py-arm"}, env.List()...)
	out, err := cmd.CombinedOutput()
	t.Logf("python:\n%s", out)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "done") {
		t.Fatalf("python: %v", err)
	}
}
