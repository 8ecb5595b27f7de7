package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/cli"
)

func TestNodeJoinTokenEnrollsOnce(t *testing.T) {
	env, sock := server(t)
	out := must(t, sock, "node", "join-token", "create", "--name", "node1", "--ttl", "10m")
	if strings.Count(out, "\n") != 1 || strings.Contains(out, "{") {
		t.Fatalf("join-token create prints the token alone on its line: %q", out)
	}
	dir := t.TempDir()
	caFile, tokFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node1.token")
	if err := os.WriteFile(caFile, []byte(must(t, sock, "ca", "export")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enr, err := agent.Enroll(ctx, env.URL, caFile, tokFile, filepath.Join(dir, "a"))
	if err != nil || enr.NodeID == "" {
		t.Fatalf("enrolling with the printed token: %+v %v", enr, err)
	}
	if _, err := agent.Enroll(ctx, env.URL, caFile, tokFile, filepath.Join(dir, "b")); err == nil {
		t.Fatal("a join token enrolled a second node")
	}

	var jt struct {
		Token, Node, ExpiresAt string
	}
	if err := json.Unmarshal([]byte(must(t, sock, "node", "join-token", "create", "--name", "node2", "-o", "json")), &jt); err != nil ||
		jt.Node != "node2" || jt.Token == "" || jt.ExpiresAt == "" {
		t.Fatalf("-o json: %+v %v", jt, err)
	}
	if got := must(t, sock, "node", "list", "--query", "[].name", "-o", "tsv"); got != "node1\n" {
		t.Fatalf("node list: %q", got)
	}
	must(t, sock, "node", "delete", "--name", "node1")
	if got := must(t, sock, "node", "list", "--query", "length(@)"); got != "0\n" {
		t.Fatalf("node list after delete: %q", got)
	}
}

func TestAgentCommand(t *testing.T) {
	env, sock := server(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", must(t, sock, "ca", "export"))
	tokFile := write("token", must(t, sock, "node", "join-token", "create", "--name", "edge1"))
	cfgFile := write("agent.yaml", "listen: 127.0.0.1:0\nnode_name: from-yaml\nstate_dir: "+filepath.Join(dir, "ignored")+"\n")
	stateDir := filepath.Join(dir, "state")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"agent", "--config", cfgFile, "--server", env.URL, "--ca-file", caFile,
			"--join-token-file", tokFile, "--state-dir", stateDir, "--node-name", "edge1", "--log-level", "warn"}, &out, &errb)
	}()
	// Enrolled: the server lists the node, and the agent has written its enrollment (after the
	// server's answer, so a moment later).
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, statErr := os.Stat(filepath.Join(stateDir, "node.json"))
		if got := must(t, sock, "node", "list", "--query", "[].name", "-o", "tsv"); got == "edge1\n" && statErr == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("lanyard agent exited %d: %s", code, errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not enroll: %s", errb.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "ignored", "node.json")); err == nil {
		t.Fatal("the agent used the config file's state_dir, not --state-dir")
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("lanyard agent exited %d after its context ended: %s", code, errb.String())
	}

	bad := write("bad.yaml", "server: https://localhost:1\nbogus: 1\n")
	if _, errs, code := run(t, "agent", "--config", bad); code != 1 || !strings.Contains(errs, "bogus") {
		t.Fatalf("an unknown key: exit %d: %q", code, errs)
	}
}
