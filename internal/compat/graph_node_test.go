package compat

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// nodeGraphDir holds the Node half of the test: graph.cjs and its pinned dependencies.
const nodeGraphDir = "testdata/node-graph"

// TestGraphNodeClient is the managed-identity bootstrap with the unmodified Node
// @microsoft/microsoft-graph-client 3.0.7 and @azure/identity 4.14.1, as an app of the real agent:
// the app's system-assigned identity holds AppRoleAssignment.ReadWrite.All and
// Application.Read.All; the client, given only Lanyard's base URL (and its host as a custom
// host, so that it sends its token there) and the app's environment, reads the directory's app
// roles with $select, grants two of them to another identity, lists the grants with $filter and
// pages through every service principal with its PageIterator (following @odata.nextLink).
func TestGraphNodeClient(t *testing.T) {
	node := requireNode(t, nodeGraphDir, "@microsoft/microsoft-graph-client")
	n := startNode(t, "node-graph")
	graphSP := builtin(t, n.env, graphAppID)
	deployer := sp{ID: n.site.Identity.PrincipalID}
	grant(t, n.env, deployer, graphSP, "AppRoleAssignment.ReadWrite.All")
	grant(t, n.env, deployer, graphSP, "Application.Read.All")
	fn := newApp(t, n.env, "func-identity", nil)
	env := n.app(t, n.site.ID)

	script, err := filepath.Abs(filepath.Join(nodeGraphDir, "graph.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = nodeGraphDir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"GRAPH_BASE_URL=" + n.env.URL, "FN_PRINCIPAL_ID=" + fn.ID}, env.List()...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	var out struct {
		SPID                string   `json:"spId"`
		DisplayNameSelected bool     `json:"displayNameSelected"`
		Assigned            []string `json:"assigned"`
		Listed              []string `json:"listed"`
		FirstPage           int      `json:"firstPage"`
		FirstHadNextLink    bool     `json:"firstHadNextLink"`
		Paged               []string `json:"paged"`
		Error               string   `json:"error"`
	}
	if jerr := json.Unmarshal(stdout, &out); jerr != nil || err != nil || out.Error != "" {
		t.Fatalf("node: %v %v %s\nstdout %s\nstderr %s", err, jerr, out.Error, stdout, stderr.String())
	}
	if out.SPID != graphSP.ID || out.DisplayNameSelected {
		t.Errorf("directory service principal %q (displayName returned: %v), want %s without it", out.SPID, out.DisplayNameSelected, graphSP.ID)
	}
	wantRoles := []string{graphSP.roleID(t, "Directory.Read.All"), graphSP.roleID(t, "Group.Read.All")}
	if len(out.Assigned) != 2 || !sameSet(out.Listed, wantRoles) {
		t.Errorf("assigned %v, listed roles %v, want %v", out.Assigned, out.Listed, wantRoles)
	}
	// Every service principal once, over pages of two.
	var all struct {
		Value []sp `json:"value"`
	}
	graph(t, n.env, http.MethodGet, "/v1.0/servicePrincipals?$select=id&$top=999", nil, &all)
	var ids []string
	for _, s := range all.Value {
		ids = append(ids, s.ID)
	}
	if out.FirstPage != 2 || !out.FirstHadNextLink || !sameSet(out.Paged, ids) || len(out.Paged) != len(ids) {
		t.Errorf("paging: first page %d (nextLink %v), %d ids, want 2, a nextLink and the %d service principals", out.FirstPage, out.FirstHadNextLink, len(out.Paged), len(ids))
	}
	// The next token minted for the function's identity carries the roles granted.
	if r := roles(t, mint(t, n.env, fn.ID, graphURI)); !slices.Equal(r, []string{"Directory.Read.All", "Group.Read.All"}) {
		t.Errorf("roles in the function's token: %v", r)
	}
}

// sameSet says whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
