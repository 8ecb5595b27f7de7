package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestChaos is the chaos test of issue 15: three servers (the real binary) on one PostgreSQL
// behind one public name, two agents each given all three, a bounded load of token requests
// through the agents (first mints and cached ones) and of writes through the servers. Each server
// in turn is killed with SIGKILL and brought back; the signing key is rotated immediately in the
// middle. Then: no token request failed, no acknowledged write is missing, every token issued
// validates against every server's published keys (and the management ones on every server's
// ARM), and the audit chain verifies.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	dsn := lanyardtest.PostgresDSN(t)
	bin := lanyardBin(t)
	dir, err := os.MkdirTemp("", "lyc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	if err := os.WriteFile(filepath.Join(dir, "kek"), kek, 0o600); err != nil {
		t.Fatal(err)
	}

	// The servers: one store, one KEK, one public URL (the first's), each its own listener.
	const nServers = 3
	ports := make([]int, nServers)
	for i := range ports {
		ports[i] = freePort(t)
	}
	public := fmt.Sprintf("https://localhost:%d", ports[0])
	servers := make([]*stack, nServers)
	var live [nServers]atomic.Bool
	opts := stackOptions{store: dsn, publicURL: public, kek: filepath.Join(dir, "kek")}
	startServer := func(i int) {
		if servers[i] == nil {
			servers[i] = &stack{t: t, dir: filepath.Join(dir, fmt.Sprint("s", i)), port: ports[i]}
		}
		servers[i].startServer(opts)
		live[i].Store(true)
	}
	for i := range nServers {
		startServer(i)
	}
	ctx := context.Background()
	a := servers[0]
	// The subscription, read once: restarting server 0 writes a.sub again while the writer below runs.
	sub := a.sub
	// 20 hot resources (cached after their first mint) and the management API; the rest are
	// fresh ones, each asked for once per agent during the chaos: a first mint, through a server.
	registered := a.registerResources(320)
	resources := append(registered[:20:20], "https://management.azure.com/")
	fresh := registered[20:]
	var nextFresh atomic.Int64

	// Two agents, each given the three servers.
	const nAgents = 2
	agentURLs := make([]string, nAgents)
	for i := range nAgents {
		name := fmt.Sprint("node", i)
		jt, err := a.admin.CreateJoinToken(ctx, name, "1h")
		if err != nil {
			t.Fatal(err)
		}
		adir := filepath.Join(dir, name)
		if err := os.MkdirAll(adir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(adir, "join"), []byte(jt.Token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		port := freePort(t)
		cfg := fmt.Sprintf("server: https://localhost:%d\nservers:\n  - https://localhost:%d\n  - https://localhost:%d\nca_file: %s\n"+
			"join_token_file: %s\nstate_dir: %s\nnode_name: %s\nlisten: 127.0.0.1:%d\nmiss_rate: 100000\nmiss_concurrency: 32\nhit_rate: 1000000\n",
			ports[i%nServers], ports[(i+1)%nServers], ports[(i+2)%nServers], a.caFile, filepath.Join(adir, "join"),
			filepath.Join(adir, "state"), name, port)
		if err := os.WriteFile(filepath.Join(adir, "agent.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		p := start(t, filepath.Join(adir, "agent.log"), bin, "agent", "--config", filepath.Join(adir, "agent.yaml"))
		agentURLs[i] = fmt.Sprintf("http://127.0.0.1:%d", port)
		a.waitFor("agent "+name, p, func() bool {
			resp, err := http.Get(agentURLs[i] + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == 200
		})
	}

	// The load: token requests through the agents, writes through whichever servers are up.
	var (
		requests, failures atomic.Int64
		mints              atomic.Int64 // requests for a resource the agent had not cached
		worstNanos         atomic.Int64
		mu                 sync.Mutex
		tokens             []string // every 7th token, and every management token, for the checks below
		failed             []string
		acked              []string // resource groups whose PUT was answered 2xx
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loadStart := time.Now()
	for c := range 8 {
		wg.Go(func() {
			for n := c; ; n += 8 {
				select {
				case <-stop:
					return
				default:
				}
				resource := resources[n%len(resources)]
				agentN := n % nAgents
				if c == 0 && n%16 == 0 { // first mints at a steady pace through the whole chaos (~13 s)
					if f := nextFresh.Load(); f < int64(len(fresh)*nAgents) && time.Since(loadStart) > time.Duration(f)*20*time.Millisecond {
						nextFresh.Add(1)
						resource, agentN = fresh[f/nAgents], int(f%nAgents)
						mints.Add(1)
					}
				}
				url := agentURLs[agentN] + "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" + resource
				start := time.Now()
				tok, err := imds(url)
				if d := time.Since(start).Nanoseconds(); d > worstNanos.Load() {
					worstNanos.Store(d) // racy max: good enough for a figure
				}
				requests.Add(1)
				mu.Lock()
				switch {
				case err != nil:
					failures.Add(1)
					if len(failed) < 10 {
						failed = append(failed, err.Error())
					}
				case n%7 == 0 || strings.HasPrefix(resource, "https://management"):
					tokens = append(tokens, tok)
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			name := fmt.Sprintf("chaos-%d", n)
			for i := range nServers {
				s := servers[(n+i)%nServers]
				if !live[(n+i)%nServers].Load() {
					continue
				}
				err := s.admin.ARM(context.Background(), http.MethodPut, client.ResourceGroupPath(sub, name), client.APIVersionResourceGroups,
					map[string]string{"location": "local"}, nil)
				if err == nil {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
				break // an unacknowledged write is the client's to retry; it is not counted
			}
		}
	})

	// The chaos: each server killed and restarted in turn; an immediate rotation in the middle.
	var kills []string
	for i := range nServers {
		time.Sleep(2 * time.Second)
		live[i].Store(false)
		killed := time.Now()
		servers[i].server.kill()
		time.Sleep(1500 * time.Millisecond)
		startServer(i)
		kills = append(kills, fmt.Sprintf("server %d down %.1fs", i, time.Since(killed).Seconds()))
		if i == 0 {
			if _, err := servers[1].admin.RotateSigningKey(ctx, true); err != nil {
				t.Fatalf("immediate rotation: %v", err)
			}
		}
	}
	time.Sleep(2 * time.Second)
	// The first mints are paced (one each 20 ms, ~12 s in all); on a fast machine the kills and
	// restarts are over sooner, so the load goes on until the last of them has been asked for.
	for deadline := time.Now().Add(30 * time.Second); nextFresh.Load() < int64(len(fresh)*nAgents) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	t.Logf("%d token requests through %d agents (%d of them first mints), %d failed, worst %.0f ms; %d writes acknowledged; %s",
		requests.Load(), nAgents, mints.Load(), failures.Load(), float64(worstNanos.Load())/1e6, len(acked), strings.Join(kills, ", "))
	if failures.Load() != 0 {
		t.Errorf("%d token requests failed, e.g. %v", failures.Load(), failed)
	}
	if requests.Load() < 1000 || mints.Load() < int64(len(fresh)*nAgents) {
		t.Errorf("only %d token requests (%d first mints) were made: the load did not run through the chaos", requests.Load(), mints.Load())
	}

	// Every acknowledged write is there, on every server.
	for i, s := range servers {
		var groups struct {
			Value []struct {
				Name string `json:"name"`
			} `json:"value"`
		}
		if err := s.admin.ARM(ctx, http.MethodGet, "/subscriptions/"+sub+"/resourcegroups", client.APIVersionResourceGroups, nil, &groups); err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, g := range groups.Value {
			have[g.Name] = true
		}
		lost := 0
		for _, name := range acked {
			if !have[name] {
				lost++
			}
		}
		if lost > 0 || len(acked) == 0 {
			t.Errorf("server %d: %d of %d acknowledged writes missing", i, lost, len(acked))
		}
	}

	// Every token validates against every server's published keys; the management ones are
	// accepted by every server's ARM (403 at most: the node's identity holds no role).
	for i, s := range servers {
		keys := jwks(t, s, a.tenant)
		bad := 0
		for _, tok := range tokens {
			jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
			if err != nil || len(jws.Signatures) != 1 {
				bad++
				continue
			}
			ks := keys.Key(jws.Signatures[0].Header.KeyID)
			if len(ks) == 0 {
				bad++
				continue
			}
			if _, err := jws.Verify(ks[0]); err != nil {
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("server %d: %d of %d tokens do not validate against its keys", i, bad, len(tokens))
		}
		hc := s.client("localhost", 4)
		refused := 0
		checked := 0
		for _, tok := range tokens {
			if claim(tok, "aud") != "https://management.azure.com/" && claim(tok, "aud") != "https://management.azure.com" {
				continue
			}
			checked++
			req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://localhost:%d/subscriptions?api-version=2022-12-01", s.port), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				refused++
			}
		}
		if refused > 0 || checked == 0 {
			t.Errorf("server %d's ARM refused %d of %d management tokens with 401", i, refused, checked)
		}
	}
	v, err := servers[2].admin.VerifyAudit(ctx)
	if err != nil || !v.OK {
		t.Errorf("audit verify: %+v %v", v, err)
	}
	t.Logf("%d tokens validated on each of %d servers; audit chain of %d events verifies", len(tokens), nServers, v.Events)
}

// imds gets a token from an agent's IMDS-style endpoint.
func imds(url string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Metadata", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &out) != nil || out.AccessToken == "" {
		return "", fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	return out.AccessToken, nil
}

// jwks reads the tenant's published keys from server s itself (its own port).
func jwks(t *testing.T, s *stack, tenant string) jose.JSONWebKeySet {
	t.Helper()
	hc := s.client("localhost", 1)
	get := func(path string, out any) {
		resp, err := hc.Get(fmt.Sprintf("https://localhost:%d%s", s.port, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(out) != nil {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	get("/"+tenant+"/v2.0/.well-known/openid-configuration", &disc)
	path := disc.JWKSURI[strings.Index(disc.JWKSURI[len("https://"):], "/")+len("https://"):]
	var set jose.JSONWebKeySet
	get(path, &set)
	if len(set.Keys) == 0 {
		t.Fatal("no keys published")
	}
	return set
}
