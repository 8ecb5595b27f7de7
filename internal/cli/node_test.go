package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/agent"
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
