package compat

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// BenchmarkAgentMemory measures the resident memory of a real `lanyard agent` process (the
// built binary) with its front door on: with no site, then with 100 sites placed on its node,
// each an app the agent supervises (`sleep`, which never listens: its site answers 503) and
// serves at {name}.sites.localhost with its own access log. It reports both RSS figures and
// the cost per site (docs/performance.md):
//
//	go test -run '^$' -bench AgentMemory -benchtime 1x ./internal/compat
func BenchmarkAgentMemory(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "lanyard")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/lanyard").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	env := lanyardtest.Start(b, lanyardtest.Options{})
	sub, err := env.Admin.DefaultSubscription(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	group := "/subscriptions/" + sub.SubscriptionID + "/resourceGroups/mem"
	if err := env.Admin.ARM(context.Background(), http.MethodPut, group, vRG, map[string]any{"location": "local"}, nil); err != nil {
		b.Fatal(err)
	}
	const sites = 100
	var ids []string
	for i := range sites {
		var r armRes
		if err := env.Admin.ARM(context.Background(), http.MethodPut, fmt.Sprintf("%s/providers/Microsoft.Web/sites/site-%03d", group, i), vWeb, map[string]any{
			"location": "local", "kind": "app", "identity": map[string]any{"type": "SystemAssigned"},
			"properties": map[string]any{"lanyard": map[string]string{"node": "mem-100"}},
		}, &r); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	rss0 := agentRSS(b, env, bin, "mem-0", nil, "")
	rss100 := agentRSS(b, env, bin, "mem-100", ids, fmt.Sprintf("site-%03d", sites-1))
	b.ReportMetric(float64(rss0)/1024, "MiB-0-sites")
	b.ReportMetric(float64(rss100)/1024, "MiB-100-sites")
	b.ReportMetric(float64(rss100-rss0)/sites, "KiB/site")
}

// agentRSS runs the agent for node with an app per site id, waits until its front door serves
// the site last (when given), and returns its VmRSS in KiB.
func agentRSS(b *testing.B, env *lanyardtest.Env, bin, node string, sites []string, last string) int {
	dir := b.TempDir()
	jt, err := env.Admin.CreateJoinToken(context.Background(), node, "")
	if err != nil {
		b.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "ca.pem"), env.Server.CA.CertPEM(), 0o644))
	must(os.WriteFile(filepath.Join(dir, "join"), []byte(jt.Token), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	httpAddr := ln.Addr().String()
	ln.Close()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "server: %s\nca_file: %s\njoin_token_file: %s\nstate_dir: %s\nnode_name: %s\n", env.URL, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "join"), filepath.Join(dir, "state"), node)
	fmt.Fprintf(&cfg, "front_door:\n  listen: 127.0.0.1:0\n  listen_http: %s\n", httpAddr)
	if len(sites) > 0 {
		cfg.WriteString("apps:\n")
		for _, id := range sites {
			fmt.Fprintf(&cfg, "  - site: %s\n    command: [sleep, \"3600\"]\n", id)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(cfg.String()), 0o600))
	cmd := exec.Command(bin, "agent", "--config", filepath.Join(dir, "agent.yaml"))
	cmd.Stderr, cmd.Stdout = nil, nil
	must(cmd.Start())
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for last != "" {
		req, _ := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/", nil)
		req.Host = last + ".sites.localhost"
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("the agent does not serve %s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // settle: certificate, first syncs, the apps started
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
	must(err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			must(err)
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
