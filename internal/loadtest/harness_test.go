package loadtest

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// fetch GETs u with header h and returns the body of a 200.
func fetch(t testing.TB, hc *http.Client, u string, h http.Header, host string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header = h.Clone()
	if host != "" {
		req.Host = host
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	return body
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestLoad is the harness (see the package doc). Settings: LANYARD_LOAD_DURATION (each run,
// default 3s), LANYARD_LOAD_ROUNDS (interleaved rounds, default 3), LANYARD_LOAD_RESOURCES
// (registered resources the cold mints cycle through, default 256), LANYARD_LOAD_RSS=1 (also
// the agent's RSS with 10,000 and 20,000 cached tokens: registers 20,000 resources, a minute
// or two more), LANYARD_LOAD_ONLY (targets whose names contain one of these |-separated words),
// LANYARD_LOAD_PROFILE (a directory: CPU profiles of the server during the first 16-client runs,
// and of a cold mint's agent with perf when it is installed),
// LANYARD_LOAD_OUT (a file for the table), LANYARD_LOAD_LOG_LEVEL (the servers' log level, for the
// log bytes per read at another level than the default), LANYARD_LOAD_BASELINE_BIN (another
// lanyard binary, e.g. built from the commit before a change: its vault reads and cold mints are
// measured too, interleaved with this tree's, as the "baseline bin" rows).
func TestLoad(t *testing.T) {
	if os.Getenv("LANYARD_LOAD") == "" {
		t.Skip("the load harness runs only with LANYARD_LOAD=1 (it takes minutes and wants the machine to itself)")
	}
	dur := envDuration("LANYARD_LOAD_DURATION", 3*time.Second)
	rounds := envInt("LANYARD_LOAD_ROUNDS", 3)
	nres := envInt("LANYARD_LOAD_RESOURCES", 256)

	// Raw signing, the floor of a cold mint: measured in every round, next to the mints.
	rsSign, esSign := signer("RS256"), signer("ES256")
	var rsRates, esRates []float64
	var rsEaches, esEaches []time.Duration

	// Two stacks: RS256 (cached tokens, vault, cold RS256) and ES256 (cold ES256). The agents
	// keep one token, so that cycling through nres resources makes every request a miss.
	rs := startStack(t, stackOptions{alg: "RS256", maxTokens: 1})
	es := startStack(t, stackOptions{alg: "ES256", maxTokens: 1})
	resRS, resES := rs.registerResources(nres), es.registerResources(nres)
	t.Logf("pids: RS256 server %d agent %d, ES256 server %d agent %d", rs.server.pid(), rs.agent.pid(), es.server.pid(), es.agent.pid())

	vaultTok, err := rs.imdsToken("https://vault.azure.net")
	if err != nil {
		t.Fatal(err)
	}
	vaultHost := rs.createVault("kvbench", claim(vaultTok, "oid"))
	vaultPath := "/secrets/conn?api-version=7.4"
	vaultHeader := http.Header{"Authorization": {"Bearer " + vaultTok}}
	vaultClient := func(c int) *http.Client { return rs.client(strings.Split(vaultHost, ":")[0], c) }
	vaultBody := fetch(t, vaultClient(1), "https://"+vaultHost+vaultPath, vaultHeader, "")

	imdsPath := "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
	metadata := http.Header{"Metadata": {"true"}}
	plain := func(c int) *http.Client {
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true}, Timeout: 30 * time.Second}
	}
	cachedURL := rs.agentURL + imdsPath + url.QueryEscape("https://vault.azure.net")
	cachedBody := fetch(t, plain(1), cachedURL, metadata, "")

	bareHTTP, bareTLS := startBare(t, cachedBody), startBare(t, vaultBody)
	cold := func(s *stack, res []string) func(int64) string {
		return func(i int64) string { return s.agentURL + imdsPath + url.QueryEscape(res[i%int64(len(res))]) }
	}
	fixed := func(u string) func(int64) string { return func(int64) string { return u } }
	targets := []target{
		{name: "cached token (agent)", client: plain, url: fixed(cachedURL), header: metadata, pids: []int{rs.agent.pid()}},
		{name: "bare HTTP, same body", client: plain, url: fixed(bareHTTP.httpURL + imdsPath + "x"), header: metadata, pids: []int{bareHTTP.cmd.Process.Pid}},
		{name: "vault GET (server)", client: vaultClient, url: fixed("https://" + vaultHost + vaultPath), header: vaultHeader, pids: []int{rs.server.pid()}, server: rs},
		{name: "bare TLS, same body", client: bareTLS.tlsClient, url: fixed("https://" + bareTLS.tlsAddr + vaultPath), header: vaultHeader, pids: []int{bareTLS.cmd.Process.Pid}},
		{name: "cold mint RS256 (agent+server)", client: plain, url: cold(rs, resRS), header: metadata, pids: []int{rs.server.pid(), rs.agent.pid()}, stk: rs, server: rs},
		{name: "cold mint ES256 (agent+server)", client: plain, url: cold(es, resES), header: metadata, pids: []int{es.server.pid(), es.agent.pid()}, stk: es, server: es},
	}
	// The same targets served by another binary (LANYARD_LOAD_BASELINE_BIN, e.g. built from the
	// commit before a change), interleaved with this tree's: a change measured in one run.
	if bin := os.Getenv("LANYARD_LOAD_BASELINE_BIN"); bin != "" {
		brs := startStack(t, stackOptions{alg: "RS256", maxTokens: 1, bin: bin})
		bes := startStack(t, stackOptions{alg: "ES256", maxTokens: 1, bin: bin})
		bresRS, bresES := brs.registerResources(nres), bes.registerResources(nres)
		btok, err := brs.imdsToken("https://vault.azure.net")
		if err != nil {
			t.Fatal(err)
		}
		bvaultHost := brs.createVault("kvbench", claim(btok, "oid"))
		bvaultHeader := http.Header{"Authorization": {"Bearer " + btok}}
		bvaultClient := func(c int) *http.Client { return brs.client(strings.Split(bvaultHost, ":")[0], c) }
		fetch(t, bvaultClient(1), "https://"+bvaultHost+vaultPath, bvaultHeader, "")
		t.Logf("baseline binary %s: pids RS256 server %d agent %d, ES256 server %d agent %d", bin, brs.server.pid(), brs.agent.pid(), bes.server.pid(), bes.agent.pid())
		targets = append(targets,
			target{name: "vault GET (server, baseline bin)", client: bvaultClient, url: fixed("https://" + bvaultHost + vaultPath), header: bvaultHeader, pids: []int{brs.server.pid()}},
			target{name: "cold mint RS256 (baseline bin)", client: plain, url: cold(brs, bresRS), header: metadata, pids: []int{brs.server.pid(), brs.agent.pid()}, stk: brs},
			target{name: "cold mint ES256 (baseline bin)", client: plain, url: cold(bes, bresES), header: metadata, pids: []int{bes.server.pid(), bes.agent.pid()}, stk: bes},
		)
	}
	if only := os.Getenv("LANYARD_LOAD_ONLY"); only != "" {
		targets = slices.DeleteFunc(targets, func(tg target) bool {
			return !slices.ContainsFunc(strings.Split(only, "|"), func(o string) bool { return strings.Contains(tg.name, o) })
		})
	}
	clients := []int{1, 16}
	type key struct {
		target string
		c      int
	}
	results := map[key][]result{}
	misses := map[key][]float64{} // share of cold requests that were misses
	var vaultReads, logBytes, storeBytes int64
	storeSize := func() int64 {
		db := filepath.Join(rs.dir, "data", "lanyard.db")
		return fileSize(db) + fileSize(db+"-wal")
	}
	for round := range rounds {
		rsRate, rsEach := rawSigning(rsSign, time.Second)
		esRate, esEach := rawSigning(esSign, time.Second)
		rsRates, rsEaches, esRates, esEaches = append(rsRates, rsRate), append(rsEaches, rsEach), append(esRates, esRate), append(esEaches, esEach)
		t.Logf("round %d raw signing: RS256 %v of CPU each (%.0f/s on every core), ES256 %v (%.0f/s)", round+1, rsEach, rsRate, esEach, esRate)
		for _, tg := range targets {
			for _, c := range clients {
				stk := tg.stk
				var m0, h0 float64
				if stk != nil {
					m0, h0 = stk.agentMetric("lanyard_agent_token_cache_misses_total"), stk.agentMetric("lanyard_agent_token_cache_hits_total")
				}
				log0, store0 := fileSize(filepath.Join(rs.dir, "server.log")), storeSize()
				var prof chan []byte
				if dir := os.Getenv("LANYARD_LOAD_PROFILE"); dir != "" && c == 16 && round == 0 && tg.server != nil {
					prof = make(chan []byte, 1)
					srv := tg.server
					name := filepath.Join(dir, strings.Fields(tg.name)[0]+"-"+strings.Fields(tg.name)[len(strings.Fields(tg.name))-2]+".pprof")
					go func() { prof <- srv.profile(dur) }()
					// The agent serves no profiles (it has no admin socket): a cold mint's agent is
					// sampled with perf when the machine has it (Go keeps frame pointers, so the
					// stacks are whole): perf report -i cold-ES256-agent.perf.data --no-children.
					if perf, err := exec.LookPath("perf"); err == nil && tg.stk != nil {
						rec := exec.Command(perf, "record", "-F", "999", "-g", "-o", strings.TrimSuffix(name, ".pprof")+"-agent.perf.data",
							"-p", strconv.Itoa(tg.stk.agent.pid()), "--", "sleep", strconv.FormatFloat(dur.Seconds(), 'f', 1, 64))
						if rec.Start() == nil {
							defer rec.Wait()
						}
					}
					defer func() {
						_ = os.WriteFile(name, <-prof, 0o644)
						if resp, err := srv.admin.Send(context.Background(), http.MethodGet, "/debug/pprof/allocs", nil, nil); err == nil {
							_ = os.WriteFile(strings.TrimSuffix(name, ".pprof")+"-allocs.pprof", resp.Body, 0o644)
						}
					}()
				}
				r := drive(t, tg, c, dur)
				if tg.name == "vault GET (server)" {
					vaultReads += r.n
					logBytes += fileSize(filepath.Join(rs.dir, "server.log")) - log0
					storeBytes += storeSize() - store0
				}
				if stk != nil {
					dm := stk.agentMetric("lanyard_agent_token_cache_misses_total") - m0
					dh := stk.agentMetric("lanyard_agent_token_cache_hits_total") - h0
					if dm+dh > 0 {
						misses[key{tg.name, c}] = append(misses[key{tg.name, c}], dm/(dm+dh))
					}
				}
				results[key{tg.name, c}] = append(results[key{tg.name, c}], r)
				t.Logf("round %d %-32s c=%-2d %8.0f req/s p50 %7v p99 %7v cpu/req %v %v", round+1, tg.name, c, r.rate,
					r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.cpu.Round(time.Microsecond), r.cpuEach)
			}
		}
	}

	// The table: medians over the rounds, and the median of the per-round ratios.
	rsRate, rsEach, esRate, esEach := median(rsRates), median(rsEaches), median(esRates), median(esEaches)
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d rounds of %v per run, interleaved; medians. Raw signing (CPU per signature, measured in each round, and the rate every core allows at that): RS256 %.0f/s (%.0f µs each), ES256 %.0f/s (%.0f µs each).\n\n",
		rounds, dur, rsRate, us(rsEach), esRate, us(esEach))
	fmt.Fprintf(&b, "| target | clients | req/s | p50 | p99 | CPU/req | ratio |\n|---|---|---|---|---|---|---|\n")
	baseline := map[string]string{"cached token (agent)": "bare HTTP, same body", "vault GET (server)": "bare TLS, same body",
		"vault GET (server, baseline bin)": "bare TLS, same body"}
	for _, tg := range targets {
		for _, c := range clients {
			rr := results[key{tg.name, c}]
			var rates, ratios []float64
			var p50, p99, cpu []time.Duration
			for i, r := range rr {
				rates, p50, p99, cpu = append(rates, r.rate), append(p50, r.p50), append(p99, r.p99), append(cpu, r.cpu)
				switch {
				case baseline[tg.name] != "" && len(results[key{baseline[tg.name], c}]) > i:
					ratios = append(ratios, r.rate/results[key{baseline[tg.name], c}][i].rate)
				case strings.Contains(tg.name, "RS256"):
					ratios = append(ratios, r.rate/rsRates[i])
				}
			}
			ratio := ""
			if len(ratios) > 0 {
				ratio = fmt.Sprintf("%.2f×", median(ratios))
				if strings.Contains(tg.name, "RS256") {
					ratio += " of raw RS256"
				}
			}
			if m := misses[key{tg.name, c}]; len(m) > 0 {
				sig := map[bool]time.Duration{true: rsEach, false: esEach}[strings.Contains(tg.name, "RS256")]
				ratio += fmt.Sprintf(" (%.1f%% misses; CPU beyond the signature %.0f µs; the signature is %.0f%% of the CPU)",
					100*median(m), us(median(cpu))-us(sig), 100*us(sig)/us(median(cpu)))
			}
			fmt.Fprintf(&b, "| %s | %d | %.0f | %.2f ms | %.2f ms | %.0f µs | %s |\n", tg.name, c, median(rates),
				ms(median(p50)), ms(median(p99)), us(median(cpu)), ratio)
		}
	}
	if vaultReads > 0 {
		fmt.Fprintf(&b, "\nVault reads: %d; server log %.1f MB and store (database + WAL) %.1f MB per million reads (log level %q).\n",
			vaultReads, float64(logBytes)/float64(vaultReads), float64(storeBytes)/float64(vaultReads), cmp.Or(os.Getenv("LANYARD_LOAD_LOG_LEVEL"), "info"))
	}
	fmt.Fprintf(&b, "Agent RSS (one cached token allowed): %.1f MB (RS256), %.1f MB (ES256).\n", float64(rs.agent.rss())/(1<<20), float64(es.agent.rss())/(1<<20))
	if os.Getenv("LANYARD_LOAD_RSS") != "" {
		b.WriteString(agentRSS(t))
	}
	t.Log(b.String())
	if out := os.Getenv("LANYARD_LOAD_OUT"); out != "" {
		_ = os.WriteFile(out, []byte(b.String()), 0o644)
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// agentRSS fills an agent with the default bounds with 10,000 and then 20,000 tokens for distinct
// resources and reads its resident memory each time.
func agentRSS(t *testing.T) string {
	s := startStack(t, stackOptions{alg: "ES256"})
	res := s.registerResources(20_000)
	var b strings.Builder
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	next := 0
	for _, upto := range []int{10_000, 20_000} {
		work := make(chan string)
		done := make(chan struct{})
		for range 16 {
			go func() {
				for r := range work {
					req, _ := http.NewRequest(http.MethodGet, s.agentURL+"/metadata/identity/oauth2/token?api-version=2018-02-01&resource="+url.QueryEscape(r), nil)
					req.Header.Set("Metadata", "true")
					if resp, err := hc.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				done <- struct{}{}
			}()
		}
		for ; next < upto; next++ {
			work <- res[next]
		}
		close(work)
		for range 16 {
			<-done
		}
		fmt.Fprintf(&b, "Agent with %d requests for distinct resources: %.0f cached tokens, RSS %.1f MB.\n",
			upto, s.agentMetric("lanyard_agent_cached_tokens"), float64(s.agent.rss())/(1<<20))
	}
	return b.String()
}
