package loadtest

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHotPathsWriteNoLogLines: at the default log level, 200 vault reads and 200 cold token mints
// (each a call of the agent to the server) add no line to the server's or the agent's log.
func TestHotPathsWriteNoLogLines(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	s := startStack(t, stackOptions{alg: "ES256", maxTokens: 1})
	res := s.registerResources(4)
	tok, err := s.imdsToken("https://vault.azure.net")
	if err != nil {
		t.Fatal(err)
	}
	host := s.createVault("kvlogs", claim(tok, "oid"))
	hc := s.client(strings.Split(host, ":")[0], 1)
	lines := func(name string) int {
		raw, _ := os.ReadFile(filepath.Join(s.dir, name))
		return strings.Count(string(raw), "\n")
	}
	server0, agent0 := lines("server.log"), lines("agent.log")
	for i := range 200 {
		body := fetch(t, hc, "https://"+host+"/secrets/conn?api-version=7.4", http.Header{"Authorization": {"Bearer " + tok}}, "")
		if !strings.Contains(string(body), "ssss") {
			t.Fatalf("read %d: %s", i, body)
		}
		// A new resource each time, and the agent keeps one token: every request is a mint.
		fetch(t, http.DefaultClient, s.agentURL+"/metadata/identity/oauth2/token?api-version=2018-02-01&resource="+url.QueryEscape(res[i%len(res)]),
			http.Header{"Metadata": {"true"}}, "")
	}
	if m := s.agentMetric("lanyard_agent_token_cache_misses_total"); m < 200 {
		t.Fatalf("%v misses: the mints did not reach the server", m)
	}
	if n := lines("server.log") - server0; n != 0 {
		raw, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		t.Errorf("the server logged %d lines for 200 reads and 200 mints:\n%s", n, raw)
	}
	if n := lines("agent.log") - agent0; n != 0 {
		raw, _ := os.ReadFile(filepath.Join(s.dir, "agent.log"))
		t.Errorf("the agent logged %d lines for 200 mints:\n%s", n, raw)
	}
}
