package server_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestAgentWithSeveralServers is item 2 of issue 15: an agent given two servers of one control
// plane spreads its mints over both; when one stops in the middle of a load of token requests
// (cached and not), no request fails (the agent goes on to the other), the agent never takes its
// "control plane unreachable" path, and a role change made through the remaining server still
// reaches its tokens.
func TestAgentWithSeveralServers(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAgentWithSeveralServers(t, "") })
	t.Run("postgres", func(t *testing.T) { testAgentWithSeveralServers(t, lanyardtest.PostgresDSN(t)) })
}

func testAgentWithSeveralServers(t *testing.T, dsn string) {
	rs := startReplicas(t, 2, dsn)
	a, b := rs[0], rs[1]
	const apis = 40
	site, api := nodeFixture(t, a, apis)
	logs := &syncBuffer{}
	// The agent's own throttling (20 mints a second per app by default) is not under test.
	ag := b.env.StartAgent(t, "node1", agent.Config{ServerURL: a.base, Servers: []string{b.base},
		MissRate: 10000, MissConcurrency: 16, HitRate: 100000,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	actx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	env, err := ag.StartApp(actx, agent.AppConfig{Site: site.id})
	if err != nil {
		t.Fatal(err)
	}
	token := func(resource string) (int, []string) {
		req, _ := http.NewRequest(http.MethodGet, env["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource="+resource, nil)
		req.Header.Set("X-IDENTITY-HEADER", env["IDENTITY_HEADER"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, rolesOf(t, body.AccessToken)
	}
	minted := func(r replica) int {
		resp, err := r.env.HTTP.Get(r.base + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "lanyard_tokens_minted_total "); ok {
				n, _ := strconv.ParseFloat(v, 64)
				return int(n)
			}
		}
		return -1
	}
	// The first half of the APIs: uncached mints, spread over both servers.
	for i := range apis / 2 {
		if s, _ := token("api://replicas-" + strconv.Itoa(i)); s != http.StatusOK {
			t.Fatalf("token %d: %d", i, s)
		}
	}
	ma, mb := minted(a), minted(b)
	t.Logf("%d uncached mints with both servers up: %d by the first, %d by the second", apis/2, ma, mb)
	if ma < apis/8 || mb < apis/8 {
		t.Errorf("mints %d and %d: not spread over the two servers", ma, mb)
	}
	// Load: 4 clients asking for every API (the first half cached, the second not) while the
	// first server stops.
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures, requests := 0, 0
	stop := make(chan struct{})
	for c := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s, _ := token("api://replicas-" + strconv.Itoa((c*7+i)%apis))
				mu.Lock()
				requests++
				if s != http.StatusOK {
					failures++
					t.Errorf("a token request failed with %d while a server stopped", s)
				}
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	if err := a.env.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d token requests from 4 clients, the first server stopped %v before the end: %d failed", requests, time.Since(stopped).Round(time.Millisecond), failures)
	// Every API, cached or not, still gets a token.
	for i := range apis {
		if s, _ := token("api://replicas-" + strconv.Itoa(i)); s != http.StatusOK {
			t.Errorf("token %d after the stop: %d", i, s)
		}
	}
	// A role change made through the remaining server reaches the agent's tokens: its events come
	// from there now.
	if err := b.env.Admin.Graph(context.Background(), http.MethodPost, "/v1.0/servicePrincipals/"+api[0]+"/appRoleAssignedTo",
		map[string]any{"principalId": site.principalID, "resourceId": api[0], "appRoleId": fixtureRoleID}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, roles := token("api://replicas-0")
		if len(roles) == 1 && roles[0] == "Jobs.Run" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("10 s after a grant through the remaining server, the agent's token lacks the role")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, bad := range []string{"events are not reachable", "control plane is unreachable", "did not answer in time"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("the agent logged %q while a server was up:\n%s", bad, tail(logs.String(), 20))
		}
	}
}

// rolesOf reads a token's roles claim.
func rolesOf(t *testing.T, raw string) []string {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("a token of %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.Roles
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
