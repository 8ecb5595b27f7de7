package agent

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

const (
	// refreshBeforeExpiry: a token is fresh until half its lifetime or this long before it
	// expires, whichever is earlier.
	refreshBeforeExpiry = 5 * time.Minute
	// expiryMargin: a token that expires sooner than this is never served.
	expiryMargin = 10 * time.Second
	// recentUse: the background refresh renews only tokens used within this long.
	recentUse = 10 * time.Minute
	// refreshLead: the background refresh renews a token this long before its refresh point.
	refreshLead = time.Minute
	// refreshParallel bounds the background refresh's concurrent mints.
	refreshParallel = 4
	// downBackoff: how long stale tokens are served without asking a server that failed.
	downBackoff = time.Second
	// entryOverhead is what a cached token costs beyond its strings: the entry, its map slot and
	// the key's string headers (TestMemoryTenThousandTokens measures ~1,360 bytes per 1.1 kB token).
	entryOverhead = 256
	// evictSample: eviction compares this many entries and drops the least useful of them.
	evictSample = 8
	// aliasesPerToken bounds the selector aliases (at most four per identity: system, client id,
	// object id, resource id) relative to the token bound.
	aliasesPerToken = 4
)

// selKey is how a workload named an identity: for an app, a selector. Values are normalised as
// the server compares them (selectorValue).
type selKey struct {
	app   string
	kind  agentapi.SelectorKind
	value string
}

// tokKey is a cached token's key: an app, the identity's object id and the resource normalised as
// the server matches it to a service principal (resourceKey), so that every spelling of one
// resource shares one entry.
type tokKey struct {
	app, oid, resource string
}

// size is what k and e are counted as against the cache's byte bound.
func (k tokKey) size(e *entry) int64 {
	return int64(len(k.app) + len(k.oid) + len(k.resource) + len(e.resource) + len(e.access) + len(e.clientID) + entryOverhead)
}

// entry is a cached token: the raw string and the few fields the endpoints answer with.
type entry struct {
	resource  string // as the request that minted it spelled it (a renewal asks for the same)
	access    string
	clientID  string
	expiresOn int64 // unix seconds
	notBefore int64
	stored    int64 // when the agent got it
	refreshAt int64 // fresh before this
	lastUsed  atomic.Int64
	size      int64 // counted against the byte bound
}

// servable says whether e may still be answered with at now (unix seconds), fresh or not.
func (e *entry) servable(now int64) bool { return now < e.expiresOn-int64(expiryMargin/time.Second) }

// mintFunc asks the server for a token.
type mintFunc func(ctx context.Context, req agentapi.TokenRequest) (agentapi.TokenResponse, error)

// cache holds tokens per (app, identity, resource). The selectors a workload used resolve to the
// identity's object id once the server has named it, so that every way of naming an identity
// shares its tokens and an event about a principal finds them all. Resources and selector values
// are normalised as the server matches them, so a workload cannot make two entries for what the
// server treats as one; and the cache holds at most maxTokens tokens and maxBytes bytes: past
// either, the least useful entry is evicted (expired first, then the least recently used of a
// sample), and a request for it later is simply a miss.
type cache struct {
	now       func() time.Time
	mint      mintFunc
	timeout   time.Duration
	maxTokens int
	maxBytes  int64
	observe   func(d time.Duration, err error) // each mint, for metrics

	mu      sync.RWMutex
	aliases map[selKey]string
	tokens  map[tokKey]*entry
	bytes   int64  // the sum of the entries' sizes
	gen     uint64 // bumped by every drop: a mint that started before a drop is not cached

	evictions atomic.Uint64 // entries dropped to stay within the bounds

	// downUntil (unix nanoseconds): after the server could not be reached, tokens past their
	// refresh point are served without asking again until then.
	downUntil atomic.Int64

	flight  singleflight.Group
	waiting atomic.Int64 // requests waiting for a mint (tests watch it)
}

// newCache returns an empty cache holding at most maxTokens tokens of maxBytes bytes in all.
func newCache(now func() time.Time, mint mintFunc, timeout time.Duration, maxTokens int, maxBytes int64) *cache {
	return &cache{now: now, mint: mint, timeout: timeout, maxTokens: maxTokens, maxBytes: maxBytes,
		observe: func(time.Duration, error) {}, aliases: map[selKey]string{}, tokens: map[tokKey]*entry{}}
}

func newSelKey(app string, sel agentapi.Selector) selKey {
	return selKey{app: app, kind: sel.Kind, value: selectorValue(sel)}
}

// selectorValue is a selector's value as the server compares it (nodes' pick): without
// surrounding spaces, in lower case, and for a resource id without trailing slashes.
func selectorValue(sel agentapi.Selector) string {
	v := lower(strings.TrimSpace(sel.Value))
	if sel.Kind == agentapi.SelectorResourceID {
		v = strings.TrimRight(v, "/")
	}
	return v
}

// resourceKey is the resource as the server matches it to a service principal (directory's
// TokenRequest): one "/.default" trimmed; a GUID is an appId, in lower case; anything else an
// identifier URI compared in lower case without trailing slashes (directory.NameKey). A name
// that looks like a GUID only once its slashes are trimmed keeps one, so that it does not share
// the entry of the appId it resembles (the server looks the two up differently).
// TestResourceKeyMatchesServer checks it against the server's own functions.
func resourceKey(resource string) string {
	r := strings.TrimSuffix(resource, "/.default")
	if guid.Valid(r) {
		return lower(r)
	}
	k := lower(strings.TrimRight(r, "/"))
	if guid.Valid(k) {
		k += "/"
	}
	return k
}

// lower is strings.ToLower without the allocation when s is lower case already.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// lookup returns the cached token for the request, if any.
func (c *cache) lookup(app string, sel agentapi.Selector, resource string) *entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	oid, ok := c.aliases[newSelKey(app, sel)]
	if !ok {
		return nil
	}
	return c.tokens[tokKey{app: app, oid: oid, resource: resourceKey(resource)}]
}

// get answers a token request: from the cache while the token is fresh; otherwise from one
// call to the server shared by every concurrent request for the same key (admitted by lim, when
// not nil). When the server cannot be reached, or the app is throttled, a token that is past
// its refresh point but not expired is still served. hit says whether no mint was waited for.
func (c *cache) get(ctx context.Context, app string, sel agentapi.Selector, resource string, lim *limiter) (e *entry, hit bool, err error) {
	now := c.now()
	cached := c.lookup(app, sel, resource)
	if cached != nil && now.Unix() < cached.refreshAt {
		cached.lastUsed.Store(now.Unix())
		return cached, true, nil
	}
	if cached != nil && now.UnixNano() < c.downUntil.Load() && cached.servable(now.Unix()) {
		cached.lastUsed.Store(now.Unix())
		return cached, true, nil
	}
	c.waiting.Add(1)
	v, err, _ := c.flight.Do(flightKey(app, sel, resource), func() (any, error) {
		if lim != nil {
			release, err := lim.miss(c.now())
			if err != nil {
				return nil, err
			}
			defer release()
		}
		return c.fetch(ctx, app, sel, resource)
	})
	c.waiting.Add(-1)
	if err == nil {
		e := v.(*entry)
		e.lastUsed.Store(c.now().Unix())
		return e, false, nil
	}
	if cached != nil && (errs.Is(err, errs.Unavailable) || errs.Is(err, errs.TooMany)) && cached.servable(c.now().Unix()) {
		cached.lastUsed.Store(c.now().Unix())
		return cached, true, nil
	}
	if errs.Is(err, errs.Invalid) || errs.Is(err, errs.Denied) {
		c.forget(app, sel, resource)
	}
	return nil, false, err
}

func flightKey(app string, sel agentapi.Selector, resource string) string {
	return app + "\x00" + string(sel.Kind) + "\x00" + selectorValue(sel) + "\x00" + resourceKey(resource)
}

// fetch mints a token and caches it, unless an identity changed while it was being minted.
// The mint runs apart from the caller's cancellation: others may be waiting for it.
func (c *cache) fetch(ctx context.Context, app string, sel agentapi.Selector, resource string) (*entry, error) {
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	start := c.now()
	resp, err := c.mint(ctx, agentapi.TokenRequest{App: app, Selector: sel, Resource: resource})
	c.observe(c.now().Sub(start), err)
	if errs.Is(err, errs.Unavailable) {
		c.downUntil.Store(c.now().Add(downBackoff).UnixNano())
	}
	if err != nil {
		return nil, err
	}
	now := c.now().Unix()
	life := resp.ExpiresOn - now
	fresh := min(life/2, life-int64(refreshBeforeExpiry/time.Second))
	e := &entry{
		resource:  resource,
		access:    resp.AccessToken,
		clientID:  resp.ClientID,
		expiresOn: resp.ExpiresOn,
		notBefore: resp.NotBefore,
		stored:    now,
		refreshAt: now + max(fresh, 0),
	}
	if !e.servable(now) {
		return nil, &errs.Error{Kind: errs.Unavailable, Code: "service_unavailable",
			Msg: "the Lanyard control plane answered with a token that is already expired (are the clocks of node and server apart?)"}
	}
	oid := lower(resp.ObjectID)
	k := tokKey{app: app, oid: oid, resource: resourceKey(resource)}
	e.size = k.size(e)
	c.mu.Lock()
	if c.gen == gen && e.size <= c.maxBytes {
		if len(c.aliases) >= aliasesPerToken*c.maxTokens {
			c.pruneAliases()
		}
		c.aliases[newSelKey(app, sel)] = oid
		c.aliases[selKey{app: app, kind: agentapi.SelectorObjectID, value: oid}] = oid
		if resp.ClientID != "" {
			c.aliases[selKey{app: app, kind: agentapi.SelectorClientID, value: lower(resp.ClientID)}] = oid
		}
		if rid := strings.TrimRight(lower(resp.IdentityResourceID), "/"); strings.Contains(rid, "/providers/microsoft.managedidentity/userassignedidentities/") {
			c.aliases[selKey{app: app, kind: agentapi.SelectorResourceID, value: rid}] = oid
		}
		c.put(k, e)
	}
	c.mu.Unlock()
	return e, nil
}

// put stores e under k and evicts until the cache is within its bounds again. c.mu is held.
func (c *cache) put(k tokKey, e *entry) {
	if old, ok := c.tokens[k]; ok {
		c.bytes -= old.size
	}
	c.tokens[k] = e
	c.bytes += e.size
	for len(c.tokens) > c.maxTokens || c.bytes > c.maxBytes {
		if !c.evictOne(k) {
			break
		}
	}
}

// del removes the entry under k, if any. c.mu is held.
func (c *cache) del(k tokKey) bool {
	e, ok := c.tokens[k]
	if ok {
		delete(c.tokens, k)
		c.bytes -= e.size
	}
	return ok
}

// evictOne drops the least useful of a sample of entries other than keep: one that can no longer
// be served, else the one used least recently (then the one expiring first). Go's map iteration
// starts at a random place, so the sample moves over the whole cache. c.mu is held.
func (c *cache) evictOne(keep tokKey) bool {
	now := c.now().Unix()
	var victim tokKey
	var worst *entry
	n := 0
	for k, e := range c.tokens {
		if k == keep {
			continue
		}
		if !e.servable(now) {
			victim, worst = k, e
			break
		}
		if worst == nil || e.lastUsed.Load() < worst.lastUsed.Load() ||
			e.lastUsed.Load() == worst.lastUsed.Load() && e.expiresOn < worst.expiresOn {
			victim, worst = k, e
		}
		if n++; n == evictSample {
			break
		}
	}
	if worst == nil {
		return false
	}
	c.del(victim)
	c.evictions.Add(1)
	return true
}

// pruneAliases drops the aliases of identities that have no cached token left; if that is not
// enough (a workload that found many spellings the server takes as one), it drops them all: they
// are only a shortcut, and the next request of each selector is a miss that sets its alias again.
// c.mu is held.
func (c *cache) pruneAliases() {
	live := make(map[string]bool, len(c.tokens))
	for k := range c.tokens {
		live[k.app+"\x00"+k.oid] = true
	}
	for k, oid := range c.aliases {
		if !live[k.app+"\x00"+oid] {
			delete(c.aliases, k)
		}
	}
	if len(c.aliases) >= aliasesPerToken*c.maxTokens*3/4 {
		clear(c.aliases)
	}
}

// forget drops the token a request resolved to, after the server refused it.
func (c *cache) forget(app string, sel agentapi.Selector, resource string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if oid, ok := c.aliases[newSelKey(app, sel)]; ok {
		c.del(tokKey{app: app, oid: oid, resource: resourceKey(resource)})
	}
}

// drop forgets every token of the principal (and how selectors resolved to it).
func (c *cache) drop(principalID string) int {
	oid := lower(principalID)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	n := 0
	for k := range c.tokens {
		if k.oid == oid {
			c.del(k)
			n++
		}
	}
	for k, v := range c.aliases {
		if v == oid {
			delete(c.aliases, k)
		}
	}
	return n
}

// dropAll forgets everything.
func (c *cache) dropAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.tokens)
	clear(c.aliases)
	c.bytes = 0
}

// len is the number of cached tokens.
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.tokens)
}

// size is the bytes the cached tokens are counted as.
func (c *cache) size() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.bytes
}

// maintain evicts expired tokens, and renews those used recently that are near their refresh
// point, so that the requests after it are still hits. It is one pass; refreshLoop repeats it.
func (c *cache) maintain(ctx context.Context) {
	now := c.now()
	t := now.Unix()
	type renewal struct {
		app, oid, resource string
	}
	var renew []renewal
	c.mu.Lock()
	for k, e := range c.tokens {
		switch {
		case !e.servable(t):
			c.del(k)
		case t >= e.refreshAt-int64(refreshLead/time.Second) && t >= e.stored+(e.refreshAt-e.stored)/2 &&
			e.lastUsed.Load() >= t-int64(recentUse/time.Second):
			renew = append(renew, renewal{app: k.app, oid: k.oid, resource: e.resource})
		}
	}
	c.pruneAliases()
	c.mu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(refreshParallel)
	for _, k := range renew {
		g.Go(func() error {
			sel := agentapi.Selector{Kind: agentapi.SelectorObjectID, Value: k.oid}
			_, err, _ := c.flight.Do(flightKey(k.app, sel, k.resource), func() (any, error) {
				return c.fetch(gctx, k.app, sel, k.resource)
			})
			if err != nil && gctx.Err() == nil && (errs.Is(err, errs.Invalid) || errs.Is(err, errs.Denied)) {
				c.forget(k.app, sel, k.resource)
			}
			return nil
		})
	}
	_ = g.Wait()
}

// refreshLoop runs maintain every period until ctx is done.
func (c *cache) refreshLoop(ctx context.Context, period time.Duration) error {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.maintain(ctx)
		}
	}
}
