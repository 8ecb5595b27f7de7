package compat

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// v4Modules is where the pinned @azure/functions 4.x is installed (npm ci in CI).
const v4Modules = "../functions/nodeworker/testdata/v4app/node_modules"

// TestSeed000V4InSandbox: seed 000's function as a v4 app with the real npm @azure/functions,
// its code as the seed wrote it (graph.microsoft.com, the identity endpoint, the IMDS fallback),
// zip-deployed to a function app whose agent runs it in the app's sandbox, called through the
// front door with its function key: Graph answers 403 before the app role grant and 200 with
// the groups after, through the function.
func TestSeed000V4InSandbox(t *testing.T) {
	if err := sandbox.Check(); err != nil {
		t.Skipf("this host does not allow sandboxes: %v", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(v4Modules, "@azure", "functions", "package.json")); err != nil {
		missing(t, "LANYARD_REQUIRE_NODE", "@azure/functions is not installed: npm ci --prefix internal/functions/nodeworker/testdata/v4app")
	}
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	site := newSite(t, env, "seed000", "graph-func", "functionapp,linux", "s0-node", "node")
	resp, err := env.Admin.Send(ctx, http.MethodPost, site.ID+"/extensions/zipdeploy?api-version="+vWeb,
		http.Header{"Content-Type": {"application/zip"}}, seed000Package(t))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("zipdeploy: %v %v", resp, err)
	}
	var keys struct {
		FunctionKeys map[string]string `json:"functionKeys"`
	}
	armDo(t, env, http.MethodPost, site.ID+"/host/default/listkeys", vWeb, nil, &keys)
	ag := env.StartAgent(t, "s0-node", agent.Config{Sandbox: agent.SandboxOn, FrontDoor: agent.FrontDoorConfig{ListenHTTP: "127.0.0.1:0"}})
	appCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := ag.StartApp(appCtx, agent.AppConfig{Site: site.ID}); err != nil {
		t.Fatal(err)
	}
	call := func(key string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, ag.FrontDoorHTTPURL()+"/api/groups", nil)
		req.Host = "graph-func.sites.localhost"
		if key != "" {
			req.Header.Set("x-functions-key", key)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	appLog := func() string {
		raw, _ := os.ReadFile(agent.LogPath(ag.Config.StateDir, "graph-func"))
		return string(raw)
	}
	key := keys.FunctionKeys["default"]
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := call(key)
		if code == http.StatusForbidden {
			break // Graph's answer before the grant, passed on by the function
		}
		if time.Now().After(deadline) {
			t.Fatalf("before the grant: %d %s, want Graph's 403 through the function\napp log:\n%s", code, body, appLog())
		}
		_ = ag.SyncSites(ctx)
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := call(""); code != http.StatusUnauthorized || body != "" {
		t.Errorf("without the key: %d %q, want 401 with an empty body", code, body)
	}
	graph(t, env, http.MethodPost, "/v1.0/groups", map[string]any{"displayName": "seed-000-readers", "mailEnabled": false,
		"mailNickname": "seed000", "securityEnabled": true}, nil)
	grant(t, env, sp{ID: site.Identity.PrincipalID}, builtin(t, env, graphAppID), "Group.Read.All")
	deadline = time.Now().Add(30 * time.Second)
	for {
		code, body := call(key)
		var groups struct {
			Value []struct {
				DisplayName string `json:"displayName"`
			} `json:"value"`
		}
		if code == http.StatusOK {
			if json.Unmarshal([]byte(body), &groups) != nil || len(groups.Value) != 1 || groups.Value[0].DisplayName != "seed-000-readers" {
				t.Fatalf("after the grant the function answered %s", body)
			}
			break
		}
		if time.Now().After(deadline) { // the token cached before the grant expires first, as Azure's
			t.Fatalf("after the grant: %d %s\napp log:\n%s", code, body, appLog())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// seed000Package zips testdata/seed000v4 with the pinned node_modules.
func seed000Package(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(root, prefix string) {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			w, err := zw.Create(filepath.ToSlash(filepath.Join(prefix, rel)))
			if err != nil {
				return err
			}
			_, err = w.Write(raw)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("testdata/seed000v4", "")
	add(v4Modules, "node_modules")
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
