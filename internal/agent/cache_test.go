package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// waitFor polls cond; it fails the test if cond is still false after a generous while (a hang
// guard, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSingleFlight(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	hold := make(chan struct{})
	s.mu.Lock()
	s.hold = hold
	s.mu.Unlock()
	const n = 100
	u := a.URL() + PathAppService + "?api-version=2019-08-01&resource=" + url.QueryEscape("https://vault.azure.net")
	tokens := make([]string, n)
	errors := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", u, nil)
			req.Header.Set("X-IDENTITY-HEADER", env["IDENTITY_HEADER"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errors[i] = err
				return
			}
			defer resp.Body.Close()
			var body struct {
				AccessToken string `json:"access_token"`
			}
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || json.Unmarshal(raw, &body) != nil {
				errors[i] = fmt.Errorf("%d %s", resp.StatusCode, raw)
			}
			tokens[i] = body.AccessToken
		})
	}
	waitFor(t, "100 requests waiting for one mint", func() bool { return a.cache.waiting.Load() == n })
	close(hold)
	wg.Wait()
	for i := range n {
		if errors[i] != nil || tokens[i] != tokens[0] {
			t.Fatalf("request %d: %v (token %.20s vs %.20s)", i, errors[i], tokens[i], tokens[0])
		}
	}
	if calls := s.tokenCalls.Load(); calls != 1 {
		t.Errorf("%d concurrent misses made %d calls to the server, want 1", n, calls)
	}
}

func TestIdentityChangedDropsTokens(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	env := startApp(t, a, siteA, "app-a")
	h := env["IDENTITY_HEADER"]
	sys := url.Values{"resource": {"https://vault.azure.net"}}
	ua := url.Values{"resource": {"https://vault.azure.net"}, "client_id": {"c0000000-0000-0000-0000-0000000000ab"}}
	first := appToken(t, a, h, sys).body["access_token"]
	appToken(t, a, h, ua)
	if again := appToken(t, a, h, sys).body["access_token"]; again != first || s.tokenCalls.Load() != 2 {
		t.Fatalf("not cached: %d calls", s.tokenCalls.Load())
	}
	s.emit(agentapi.EventIdentityChanged, "00000000-0000-0000-0000-000000000001")
	waitFor(t, "the event", func() bool {
		return testutil.ToFloat64(a.met.events.WithLabelValues(agentapi.EventIdentityChanged)) == 1
	})
	if next := appToken(t, a, h, sys).body["access_token"]; next == first || s.tokenCalls.Load() != 3 {
		t.Errorf("after identity-changed the token was served from the cache (%d calls)", s.tokenCalls.Load())
	}
	// The other principal's token stays.
	appToken(t, a, h, ua)
	if s.tokenCalls.Load() != 3 {
		t.Errorf("an event about another principal dropped this one (%d calls)", s.tokenCalls.Load())
	}
}

// memMint is a mint function over a map of identities, counting calls and optionally blocking.
type memMint struct {
	calls atomic.Int64
	hold  chan struct{}
	life  time.Duration
	now   func() time.Time
	err   error
}

func (m *memMint) mint(ctx context.Context, req agentapi.TokenRequest) (agentapi.TokenResponse, error) {
	n := m.calls.Add(1)
	if m.hold != nil {
		<-m.hold
	}
	if m.err != nil {
		return agentapi.TokenResponse{}, m.err
	}
	now := m.now()
	return agentapi.TokenResponse{
		AccessToken: fmt.Sprintf("eyJ.%d.%s.%s", n, req.Resource, tokenPad), ExpiresOn: now.Add(m.life).Unix(), NotBefore: now.Unix(),
		Resource: req.Resource, ClientID: "c1", ObjectID: "o1",
	}, nil
}

func TestDropDuringMintIsNotCached(t *testing.T) {
	m := &memMint{hold: make(chan struct{}), life: time.Hour, now: time.Now}
	c := newCache(time.Now, m.mint, time.Minute, DefaultMaxTokens, DefaultMaxTokenBytes)
	sys := agentapi.Selector{Kind: agentapi.SelectorSystem}
	done := make(chan error)
	go func() {
		_, _, err := c.get(context.Background(), "app", sys, "r", nil)
		done <- err
	}()
	waitFor(t, "the mint", func() bool { return c.waiting.Load() == 1 })
	c.drop("O1") // the principal changed while its token was being minted
	close(m.hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, hit, _ := c.get(context.Background(), "app", sys, "r", nil); hit || m.calls.Load() != 2 {
		t.Errorf("a token minted across an identity change was cached (%d calls)", m.calls.Load())
	}
	if _, hit, _ := c.get(context.Background(), "app", sys, "r", nil); !hit {
		t.Error("the next token was not cached")
	}
	c.dropAll()
	if c.len() != 0 || c.lookup("app", sys, "r") != nil {
		t.Error("dropAll left tokens")
	}
}

func TestMaintainRefreshesRecentlyUsed(t *testing.T) {
	clk := &clock{frozen: time.Unix(1_900_000_000, 0)}
	m := &memMint{life: time.Hour, now: clk.Now}
	c := newCache(clk.Now, m.mint, time.Minute, DefaultMaxTokens, DefaultMaxTokenBytes)
	sel := agentapi.Selector{Kind: agentapi.SelectorSystem}
	ctx := context.Background()
	used, _, _ := c.get(ctx, "app", sel, "used", nil)
	idle, _, _ := c.get(ctx, "app", sel, "idle", nil)
	if used.refreshAt != clk.Now().Unix()+1800 {
		t.Errorf("refresh point %d s after the mint, want half the lifetime", used.refreshAt-clk.Now().Unix())
	}
	clk.Advance(25 * time.Minute)
	c.get(ctx, "app", sel, "used", nil) // a hit: marks it used
	clk.Advance(4*time.Minute + 30*time.Second)
	c.maintain(ctx)
	if m.calls.Load() != 3 {
		t.Fatalf("%d mints: the used token was not refreshed ahead of its refresh point, or the idle one was", m.calls.Load())
	}
	if e := c.lookup("app", sel, "used"); e == used || e.stored != clk.Now().Unix() {
		t.Error("the refreshed token did not replace the old one")
	}
	if c.lookup("app", sel, "idle") != idle {
		t.Error("the idle token was replaced")
	}
	clk.Advance(31 * time.Minute) // idle has expired
	c.maintain(ctx)
	if c.lookup("app", sel, "idle") != nil || c.len() != 1 {
		t.Errorf("expired tokens were kept (%d cached)", c.len())
	}
	// A 6-minute token is fresh for one minute (5 minutes before expiry beats half its life).
	m.life = 6 * time.Minute
	short, _, _ := c.get(ctx, "app", sel, "short", nil)
	if short.refreshAt-short.stored != 60 {
		t.Errorf("a 6-minute token is fresh for %d s, want 60", short.refreshAt-short.stored)
	}
}

func TestUpstreamDown(t *testing.T) {
	s := newStub(t)
	clk := &clock{}
	a := startAgent(t, s, func(c *Config) { c.Now = clk.Now })
	env := startApp(t, a, siteA, "app-a")
	h := env["IDENTITY_HEADER"]
	cached := url.Values{"resource": {"https://vault.azure.net"}}
	tok := appToken(t, a, h, cached).body["access_token"]
	s.stop()

	if r := appToken(t, a, h, cached); r.status != 200 || r.body["access_token"] != tok {
		t.Errorf("a cached token with the server down: %d %s", r.status, r.raw)
	}
	r := appToken(t, a, h, url.Values{"resource": {"https://graph.microsoft.com"}})
	if r.status != 503 || !strings.Contains(r.body["error_description"].(string), "unreachable") {
		t.Errorf("an uncached token with the server down: %d %s", r.status, r.raw)
	}
	// Past its refresh point the token is still served while the server is away...
	clk.Advance(40 * time.Minute)
	r = appToken(t, a, h, cached)
	if r.status != 200 || r.body["access_token"] != tok {
		t.Errorf("a token past its refresh point with the server down: %d %s", r.status, r.raw)
	}
	// ...but not once it expired.
	clk.Advance(21 * time.Minute)
	if r := appToken(t, a, h, cached); r.status != 503 {
		t.Errorf("an expired token with the server down: %d %s", r.status, r.raw)
	}
	if !strings.Contains(a.logs.String(), "cached tokens are still served") {
		t.Error("the agent did not log that the events are unreachable")
	}
}

func TestThrottling(t *testing.T) {
	s := newStub(t)
	clk := &clock{frozen: time.Now()}
	a := startAgent(t, s, func(c *Config) { c.Now = clk.Now; c.MissRate = 1; c.HitRate = 3 })
	env := startApp(t, a, siteA, "app-a")
	h := env["IDENTITY_HEADER"]
	r1 := url.Values{"resource": {"https://vault.azure.net"}}
	if r := appToken(t, a, h, r1); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.raw)
	}
	r := appToken(t, a, h, url.Values{"resource": {"https://graph.microsoft.com"}})
	if r.status != 429 || r.header.Get("Retry-After") != "1" || r.body["error_description"] == "" {
		t.Errorf("a second miss within a second at 1/s: %d Retry-After %q %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if r := appToken(t, a, h, r1); r.status != 200 {
		t.Errorf("a hit while misses are throttled: %d %s", r.status, r.raw)
	}
	r = appToken(t, a, h, r1)
	if r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("a fourth request at 3/s: %d %s", r.status, r.raw)
	}
	// Other apps and the node have budgets of their own.
	envB := startApp(t, a, siteB, "app-b")
	if r := appToken(t, a, envB["IDENTITY_HEADER"], r1); r.status != 200 {
		t.Errorf("another app: %d %s", r.status, r.raw)
	}
	clk.Advance(time.Second)
	if r := appToken(t, a, h, r1); r.status != 200 {
		t.Errorf("a second later: %d %s", r.status, r.raw)
	}
	if testutil.ToFloat64(a.met.throttled.WithLabelValues(epAppService, "misses")) != 1 ||
		testutil.ToFloat64(a.met.throttled.WithLabelValues(epAppService, "requests")) != 1 {
		t.Error("throttled requests were not counted")
	}
}

func TestLimiterConcurrency(t *testing.T) {
	l := newLimiter(Config{MissRate: 1000, MissConcurrency: 2, HitRate: 1000})
	now := time.Now()
	r1, err1 := l.miss(now)
	r2, err2 := l.miss(now)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := l.miss(now); !errs.Is(err, errs.TooMany) {
		t.Errorf("a third concurrent miss: %v", err)
	}
	r1()
	if r3, err := l.miss(now); err != nil {
		t.Errorf("after one finished: %v", err)
	} else {
		r3()
	}
	r2()
	if l.inflight.Load() != 0 {
		t.Errorf("%d in flight", l.inflight.Load())
	}
}

// TestMemoryTenThousandTokens measures the Go heap that 10,000 cached tokens of a realistic size
// take; the issue allows the agent 64 MB in all.
func TestMemoryTenThousandTokens(t *testing.T) {
	m := &memMint{life: time.Hour, now: time.Now}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := newCache(time.Now, m.mint, time.Minute, DefaultMaxTokens, DefaultMaxTokenBytes)
	sel := agentapi.Selector{Kind: agentapi.SelectorSystem}
	for i := range 10_000 {
		if _, _, err := c.get(context.Background(), "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/app"+fmt.Sprint(i%50),
			sel, fmt.Sprintf("https://resource-%d.example.com", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if c.len() != 10_000 {
		t.Fatalf("%d cached", c.len())
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("10,000 cached tokens of %d bytes: %.1f MB of heap (%.0f bytes per token)", len(c.lookup(
		"/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/app0", sel, "https://resource-0.example.com").access),
		float64(heap)/(1<<20), float64(heap)/10_000)
	if heap > 64<<20 {
		t.Errorf("10,000 tokens take %d MB of heap, over the 64 MB the agent may use", heap>>20)
	}
	runtime.KeepAlive(c)
}
