package agent

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/directory"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/token"
)

// spell returns a spelling of resource that the server matches to the same service principal:
// letters in random case, up to three trailing slashes (not after an appId, which the server
// would look up as an identifier URI then), sometimes "/.default".
func spell(r *rand.Rand, resource string) string {
	s := spellID(r, resource)
	if guid.Valid(resource) {
		s = strings.TrimRight(s, "/")
	}
	if r.IntN(4) == 0 {
		s = strings.TrimRight(s, "/") + "/.default"
	}
	return s
}

// spellID returns a spelling of an ARM id that the server takes as the same: letters in random
// case, up to three trailing slashes.
func spellID(r *rand.Rand, resource string) string {
	b := []byte(resource)
	for i, c := range b {
		if 'a' <= c && c <= 'z' && r.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b) + strings.Repeat("/", r.IntN(4))
}

// TestCacheSpellings asks the agent for 10,000 spellings of 100 resources (and of the identity's
// selectors): they leave at most 100 entries and make 100 mints.
func TestCacheSpellings(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, func(c *Config) { c.HitRate = 1e9; c.MissRate = 1e9 })
	env := startApp(t, a, siteA, "app-a")
	h := env["IDENTITY_HEADER"]
	rnd := rand.New(rand.NewPCG(1, 2))
	resources := make([]string, 100)
	for i := range resources {
		resources[i] = fmt.Sprintf("api://resource-%d.example", i)
		if i%10 == 0 { // an appId
			resources[i] = fmt.Sprintf("c0ffee00-0000-4000-8000-%012d", i)
		}
	}
	for i := range 10_000 {
		q := url.Values{"resource": {spell(rnd, resources[i%100])}}
		if (i/100)%2 == 1 { // the user-assigned identity, named by another spelling of its id
			q.Set("mi_res_id", spellID(rnd, strings.ToLower(uaResID)))
			if (i/100)%4 == 1 {
				q.Del("mi_res_id")
				q.Set("client_id", "  "+strings.ToUpper("c0000000-0000-0000-0000-0000000000ab"))
			}
		}
		if r := appToken(t, a, h, q); r.status != 200 {
			t.Fatalf("request %d (%v): %d %s", i, q, r.status, r.raw)
		}
	}
	// Two identities × 100 resources.
	if n := a.cache.len(); n > 200 {
		t.Errorf("10,000 spellings of 100 resources for 2 identities left %d entries, want at most 200", n)
	}
	if calls := s.tokenCalls.Load(); calls != 200 {
		t.Errorf("%d mints for 2 identities × 100 resources", calls)
	}
	a.cache.mu.RLock()
	aliases := len(a.cache.aliases)
	a.cache.mu.RUnlock()
	if aliases > 2*aliasesPerToken {
		t.Errorf("%d selector aliases for 2 identities", aliases)
	}

	// One identity alone: at most 100 entries.
	b := startAgent(t, s, func(c *Config) { c.HitRate = 1e9; c.MissRate = 1e9 })
	envB := startApp(t, b, siteA, "app-a")
	for i := range 10_000 {
		if r := appToken(t, b, envB["IDENTITY_HEADER"], url.Values{"resource": {spell(rnd, resources[i%100])}}); r.status != 200 {
			t.Fatalf("request %d: %d %s", i, r.status, r.raw)
		}
	}
	if n := b.cache.len(); n > 100 {
		t.Errorf("10,000 spellings of 100 resources left %d entries, want at most 100", n)
	}
}

// TestResourceKeyMatchesServer checks that two resources share an entry exactly when the
// server's TokenRequest looks up the same service principal for them.
func TestResourceKeyMatchesServer(t *testing.T) {
	server := func(resource string) string {
		aud := token.Resource(resource)
		if guid.Valid(aud) {
			return "appId:" + strings.ToLower(aud)
		}
		return "name:" + directory.NameKey(aud)
	}
	base := []string{
		"https://vault.azure.net", "https://Vault.Azure.Net/", "https://vault.azure.net//", "https://vault.azure.net/.default",
		"HTTPS://VAULT.AZURE.NET/.default", "https://vault.azure.net/.DEFAULT", "api://x", "API://X///", "api://x/.default/",
		"c0ffee00-0000-4000-8000-000000000001", "C0FFEE00-0000-4000-8000-000000000001", "c0ffee00-0000-4000-8000-000000000001/",
		"c0ffee00-0000-4000-8000-000000000001/.default", "c0ffee00-0000-4000-8000-000000000001//.default",
		"https://x/Ü", "https://x/ü", "https://x/\u212a", "https://x/k", "/", "//", "",
	}
	for _, a := range base {
		for _, b := range base {
			if same, want := resourceKey(a) == resourceKey(b), server(a) == server(b); same != want {
				t.Errorf("%q and %q: share an entry %v, the server matches them to the same principal %v (keys %q, %q)",
					a, b, same, want, resourceKey(a), resourceKey(b))
			}
		}
	}
}

// TestCacheNeverPastItsBound mints tokens for 200,000 distinct resources from 8 workloads at once
// and checks after every answer that the cache is within its bounds; the Go heap with the
// default bounds full stays under the agent's 64 MB.
func TestCacheNeverPastItsBound(t *testing.T) {
	for _, bound := range []struct {
		name   string
		tokens int
		bytes  int64
	}{
		{"by-count", 1_000, DefaultMaxTokenBytes},
		{"by-bytes", DefaultMaxTokens, 500 << 10},
		{"defaults", DefaultMaxTokens, DefaultMaxTokenBytes},
	} {
		t.Run(bound.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m := &memMint{life: time.Hour, now: time.Now}
			c := newCache(time.Now, m.mint, time.Minute, bound.tokens, bound.bytes)
			sel := agentapi.Selector{Kind: agentapi.SelectorSystem}
			const total, workers = 200_000, 8
			var wg sync.WaitGroup
			var mu sync.Mutex
			var worst int
			var worstBytes int64
			for w := range workers {
				wg.Go(func() {
					app := fmt.Sprintf("/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/app%d", w)
					for i := w; i < total; i += workers {
						if _, _, err := c.get(context.Background(), app, sel, fmt.Sprintf("https://resource-%d.example.com", i), nil); err != nil {
							t.Error(err)
							return
						}
						n, b := c.len(), c.size()
						mu.Lock()
						worst, worstBytes = max(worst, n), max(worstBytes, b)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if worst > bound.tokens || worstBytes > bound.bytes {
				t.Errorf("the cache held up to %d tokens and %d bytes; its bounds are %d and %d", worst, worstBytes, bound.tokens, bound.bytes)
			}
			if c.len() == 0 || c.evictions.Load() == 0 || uint64(c.len())+c.evictions.Load() != total {
				t.Errorf("%d cached + %d evicted, want %d minted", c.len(), c.evictions.Load(), total)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			t.Logf("%d tokens (%d bytes counted) after %d mints: %.1f MB of heap", c.len(), c.size(), total, float64(heap)/(1<<20))
			if heap > 64<<20 {
				t.Errorf("the full cache takes %d MB of heap, over the 64 MB the agent may use", heap>>20)
			}
			runtime.KeepAlive(c)
		})
	}
}

// TestEvictedIsMintedAgain: with room for two tokens, the least recently used is evicted and the
// next request for it is a miss that mints it again; the others stay hits.
func TestEvictedIsMintedAgain(t *testing.T) {
	clk := &clock{frozen: time.Unix(1_900_000_000, 0)}
	m := &memMint{life: time.Hour, now: clk.Now}
	c := newCache(clk.Now, m.mint, time.Minute, 2, DefaultMaxTokenBytes)
	sel := agentapi.Selector{Kind: agentapi.SelectorSystem}
	ctx := context.Background()
	get := func(r string) (*entry, bool) {
		t.Helper()
		e, hit, err := c.get(ctx, "app", sel, r, nil)
		if err != nil || e == nil || !strings.Contains(e.access, "."+r+".") {
			t.Fatalf("%s: %v %v", r, e, err)
		}
		clk.Advance(time.Second)
		return e, hit
	}
	get("r1")
	get("r2")
	get("r1") // r2 is now the least recently used
	if _, hit := get("r3"); hit || c.len() != 2 || c.evictions.Load() != 1 {
		t.Fatalf("r3: hit %v, %d cached, %d evicted", hit, c.len(), c.evictions.Load())
	}
	if c.lookup("app", sel, "r2") != nil || c.lookup("app", sel, "r1") == nil {
		t.Error("not the least recently used token was evicted")
	}
	calls := m.calls.Load()
	if _, hit := get("r2"); hit || m.calls.Load() != calls+1 {
		t.Errorf("the evicted token: hit %v, %d mints", hit, m.calls.Load()-calls)
	}
	if _, hit := get("r2"); !hit {
		t.Error("the token minted again was not cached")
	}
	// An expired token goes before a recently used one.
	c2 := newCache(clk.Now, m.mint, time.Minute, 2, DefaultMaxTokenBytes)
	m.life = 2 * time.Minute
	c2.get(ctx, "app", sel, "short", nil)
	m.life = time.Hour
	c2.get(ctx, "app", sel, "long", nil)
	clk.Advance(5 * time.Minute)
	c2.get(ctx, "app", sel, "long", nil)
	c2.get(ctx, "app", sel, "new", nil)
	if c2.lookup("app", sel, "short") != nil || c2.lookup("app", sel, "long") == nil {
		t.Error("an expired token was kept over a live one")
	}
	// A token larger than the byte bound is answered, not cached.
	c3 := newCache(clk.Now, m.mint, time.Minute, 10, 4<<10)
	e, _, err := c3.get(ctx, "app", sel, strings.Repeat("r", 5000), nil)
	if err != nil || e == nil || c3.len() != 0 || c3.size() != 0 {
		t.Errorf("a token over the byte bound: %v, %d cached, %d bytes", err, c3.len(), c3.size())
	}
}

// TestCacheMetrics: the size, bytes and evictions are exported.
func TestCacheMetrics(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, func(c *Config) { c.TokenCache.MaxTokens = 3; c.MissRate = 1e9 })
	env := startApp(t, a, siteA, "app-a")
	for i := range 5 {
		if r := appToken(t, a, env["IDENTITY_HEADER"], url.Values{"resource": {fmt.Sprintf("api://r%d", i)}}); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	}
	resp, err := http.Get(a.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"lanyard_agent_cached_tokens 3", "lanyard_agent_token_cache_evictions_total 2",
		fmt.Sprintf("lanyard_agent_token_cache_bytes %d", a.cache.size())} {
		if !strings.Contains(string(raw), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if a.cache.size() < 3*int64(len(tokenPad)) {
		t.Errorf("3 tokens of over %d bytes counted as %d bytes", len(tokenPad), a.cache.size())
	}
}
