package token_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/token"
)

// verifyWith checks raw against a key set as go-oidc would at time at: the key named by the
// token's kid, issuer, audience, expiry.
func verifyWith(t *testing.T, e *env, set jose.JSONWebKeySet, raw string, at time.Time) error {
	t.Helper()
	kid, _ := header(t, raw)["kid"].(string)
	var keys []crypto.PublicKey
	for _, k := range set.Key(kid) {
		keys = append(keys, k.Key)
	}
	v := oidc.NewVerifier(e.svc.Issuer(tenantID), &oidc.StaticKeySet{PublicKeys: keys},
		&oidc.Config{ClientID: vaultAud, Now: func() time.Time { return at }, SupportedSigningAlgs: []string{"RS256", "ES256"}})
	_, err := v.Verify(context.Background(), raw)
	return err
}

func mintKid(t *testing.T, e *env) (token.Token, string) {
	tok := e.mint(t, vaultAud)
	return tok, header(t, tok.Raw)["kid"].(string)
}

func TestRotationTimeline(t *testing.T) {
	e := newEnv(t, opts{}) // 1h tokens, 720h rotation, 24h lead
	_, a := mintKid(t, e)
	if got := kids(e.jwks(t)); !slices.Equal(got, []string{a}) {
		t.Fatalf("at start JWKS %v, want {active %s}", got, a)
	}
	if s := states(e.svc); s != "pending=0 active=1 retired=0 gone=0" {
		t.Errorf("at start: %s", s)
	}

	// One second before the successor is due, nothing changes.
	e.clock.Set(t0.Add(696*time.Hour - time.Second))
	e.tick(t)
	if got := kids(e.jwks(t)); len(got) != 1 {
		t.Fatalf("before rotation-lead JWKS %v", got)
	}

	// At rotation - lead the successor is published, not signing.
	e.clock.Set(t0.Add(696 * time.Hour))
	e.tick(t)
	set := e.jwks(t)
	if len(set.Keys) != 2 || set.Keys[0].KeyID != a {
		t.Fatalf("after rotation-lead JWKS %v, want {active %s, pending}", kids(set), a)
	}
	b := set.Keys[1].KeyID
	if s := states(e.svc); s != "pending=1 active=1 retired=0 gone=0" {
		t.Errorf("after rotation-lead: %s", s)
	}
	if _, kid := mintKid(t, e); kid != a {
		t.Errorf("pending key %s signs", kid)
	}
	e.tick(t) // a second step schedules nothing more
	if got := kids(e.jwks(t)); len(got) != 2 {
		t.Fatalf("second step: JWKS %v", got)
	}

	// The last token of the old key.
	e.clock.Set(t0.Add(720*time.Hour - time.Minute))
	old, kid := mintKid(t, e)
	if kid != a {
		t.Fatalf("signer before activation %s", kid)
	}

	// At activation the successor signs and the old key is retired but published. No reload:
	// the snapshot follows the clock.
	activate := t0.Add(720 * time.Hour)
	e.clock.Set(activate)
	if _, kid := mintKid(t, e); kid != b {
		t.Fatalf("after activation %s signs, want %s", kid, b)
	}
	set = e.jwks(t)
	if got := kids(set); !slices.Equal(got, []string{b, a}) {
		t.Fatalf("after activation JWKS %v, want {%s, %s}", got, b, a)
	}
	if s := states(e.svc); s != "pending=0 active=1 retired=1 gone=0" {
		t.Errorf("after activation: %s", s)
	}
	// The old token verifies with the JWKS published after the rotation until it expires.
	if err := verifyWith(t, e, set, old.Raw, old.ExpiresAt.Add(-time.Second)); err != nil {
		t.Errorf("old token with the new JWKS: %v", err)
	}
	if err := verifyWith(t, e, set, old.Raw, old.ExpiresAt.Add(time.Second)); err == nil {
		t.Error("old token verifies after its expiry")
	}

	// The old key leaves JWKS at retire + lifetime + skew, and not a second earlier.
	drop := activate.Add(time.Hour + token.DropSkew)
	e.clock.Set(drop.Add(-time.Second))
	if got := kids(e.jwks(t)); len(got) != 2 {
		t.Fatalf("just before drop JWKS %v", got)
	}
	e.clock.Set(drop)
	if got := kids(e.jwks(t)); !slices.Equal(got, []string{b}) {
		t.Fatalf("after drop JWKS %v, want {%s}", got, b)
	}
	e.tick(t)
	if s := states(e.svc); s != "pending=0 active=1 retired=0 gone=1" {
		t.Errorf("after drop: %s", s)
	}

	// The successor rotates on its own schedule, counted from its activation.
	e.clock.Set(activate.Add(696*time.Hour - time.Second))
	e.tick(t)
	if n := len(e.jwks(t).Keys); n != 1 {
		t.Fatalf("successor rotated early: %d keys", n)
	}
	e.clock.Set(activate.Add(696 * time.Hour))
	e.tick(t)
	if n := len(e.jwks(t).Keys); n != 2 {
		t.Fatalf("successor did not rotate: %d keys", n)
	}
}

func TestRotateOnDemand(t *testing.T) {
	e := newEnv(t, opts{})
	ctx := context.Background()
	_, a := mintKid(t, e)
	e.clock.Advance(10 * 24 * time.Hour)

	b, err := e.svc.Rotate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := kids(e.jwks(t)); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("JWKS %v, want {%s, pending %s}", got, a, b)
	}
	if again, err := e.svc.Rotate(ctx, false); err != nil || again != b {
		t.Fatalf("a second rotation scheduled %s (%v), want the pending %s", again, err, b)
	}
	if _, kid := mintKid(t, e); kid != a {
		t.Fatalf("%s signs before the lead", kid)
	}
	e.clock.Advance(token.DefaultPrePublish)
	if _, kid := mintKid(t, e); kid != b {
		t.Fatalf("%s signs after the lead, want %s", kid, b)
	}
}

func TestRotateImmediately(t *testing.T) {
	e := newEnv(t, opts{})
	ctx := context.Background()
	old, a := mintKid(t, e)
	e.clock.Advance(10 * time.Minute)

	b, err := e.svc.Rotate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, kid := mintKid(t, e); kid != b || b == a {
		t.Fatalf("after immediate rotation %s signs, want the new %s", kid, b)
	}
	set := e.jwks(t)
	if got := kids(set); !slices.Equal(got, []string{b, a}) {
		t.Fatalf("JWKS %v, want {%s, retired %s}", got, b, a)
	}
	if s := states(e.svc); s != "pending=0 active=1 retired=1 gone=0" {
		t.Errorf("states %s", s)
	}
	if err := verifyWith(t, e, set, old.Raw, e.clock.Now()); err != nil {
		t.Errorf("a token of the replaced key no longer verifies: %v", err)
	}
	// The replaced key stays until its last token has expired.
	e.clock.Advance(time.Hour + token.DropSkew - time.Second)
	if n := len(e.jwks(t).Keys); n != 2 {
		t.Fatalf("replaced key dropped early: %d keys", n)
	}
	e.clock.Advance(time.Second)
	if got := kids(e.jwks(t)); !slices.Equal(got, []string{b}) {
		t.Fatalf("JWKS %v, want {%s}", got, b)
	}

	// An immediate rotation while a successor is scheduled: the new key signs now, and the
	// scheduled successor still takes over at its time.
	c, err := e.svc.Rotate(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.Rotate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, kid := mintKid(t, e); kid != d {
		t.Fatalf("%s signs, want %s", kid, d)
	}
	e.clock.Advance(token.DefaultPrePublish)
	if _, kid := mintKid(t, e); kid != c {
		t.Fatalf("%s signs after the scheduled activation, want %s", kid, c)
	}
	if s := states(e.svc); s != "pending=0 active=1 retired=1 gone=2" {
		t.Errorf("states %s", s)
	}
}

// Two replicas on one store: steps running at once create one key.
func TestConcurrentStepsCreateOneKey(t *testing.T) {
	first := newEnv(t, opts{noInit: true})
	second := newEnv(t, opts{noInit: true, db: first.db})
	second.clock = first.clock
	second.svc.Now = first.clock.Now
	ctx := context.Background()

	run := func() {
		var wg sync.WaitGroup
		for _, e := range []*env{first, second, first, second} {
			wg.Go(func() {
				if err := e.svc.Step(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	count := func() int {
		keys, err := first.db.ListSigningKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}

	run()
	if n := count(); n != 1 {
		t.Fatalf("a new installation got %d keys", n)
	}
	first.clock.Set(t0.Add(700 * time.Hour))
	run()
	if n := count(); n != 2 {
		t.Fatalf("a due rotation made %d keys in all, want 2", n)
	}
	for _, e := range []*env{first, second} {
		if err := e.svc.Reload(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, k1 := mintKid(t, first)
	_, k2 := mintKid(t, second)
	if k1 != k2 {
		t.Errorf("replicas sign with %s and %s", k1, k2)
	}
}

// Changing the configured algorithm schedules a successor of the new algorithm.
func TestAlgorithmChange(t *testing.T) {
	e := newEnv(t, opts{})
	e.svc.Config.Alg = token.ES256
	e.clock.Advance(time.Hour)
	e.tick(t)
	set := e.jwks(t)
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS %v", kids(set))
	}
	if _, ok := set.Keys[1].Key.(*ecdsa.PublicKey); !ok {
		t.Fatalf("the successor is a %T", set.Keys[1].Key)
	}
	e.clock.Advance(token.DefaultPrePublish)
	tok, _ := mintKid(t, e)
	if h := header(t, tok.Raw); h["alg"] != "ES256" {
		t.Fatalf("after the lead the header is %v", h)
	}
	if err := verifyWith(t, e, e.jwks(t), tok.Raw, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	w := e.get(t, "/"+tenantID+"/.well-known/openid-configuration")
	if !strings.Contains(w.Body.String(), `"id_token_signing_alg_values_supported":["RS256","ES256"]`) {
		t.Errorf("discovery while both kinds are published: %s", w.Body)
	}
}

// A key sealed under another KEK is reported and left out; nothing else breaks.
func TestReloadReportsKeysItCannotOpen(t *testing.T) {
	e := newEnv(t, opts{noInit: true})
	other := newEnv(t, opts{noInit: true, db: e.db})
	other.svc.KEK = testKEK(t, 8)
	ctx := context.Background()
	if err := other.svc.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Reload(ctx); err == nil {
		t.Fatal("Reload hid a key it could not open")
	} else {
		t.Log(err)
	}
	if err := e.svc.Ready(); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Ready: %v", err)
	}
	if _, err := e.svc.Mint(ctx, token.MintRequest{TenantID: tenantID, Audience: vaultAud, AppID: appID, ObjectID: objectID}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("Mint without a usable key: %v", err)
	}
}

func TestMintBeforeLoad(t *testing.T) {
	e := newEnv(t, opts{noInit: true})
	_, err := e.svc.Mint(context.Background(), token.MintRequest{TenantID: tenantID, Audience: vaultAud, AppID: appID, ObjectID: objectID})
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("got %v", err)
	}
	if w := e.get(t, "/"+tenantID+"/discovery/keys"); w.Code != 503 {
		t.Errorf("JWKS before load: %d %s", w.Code, w.Body)
	}
}

// countingStore tells when Run's second reload starts, which means the first tick is done.
type countingStore struct {
	token.Store
	mu    sync.Mutex
	lists int
	ready chan struct{}
}

func (s *countingStore) ListSigningKeys(ctx context.Context) ([]token.KeyRecord, error) {
	s.mu.Lock()
	s.lists++
	if s.lists == 2 {
		close(s.ready)
	}
	s.mu.Unlock()
	return s.Store.ListSigningKeys(ctx)
}

func TestRun(t *testing.T) {
	e := newEnv(t, opts{noInit: true, cfg: token.Config{ReloadInterval: time.Millisecond}})
	cs := &countingStore{Store: e.db, ready: make(chan struct{})}
	e.svc.Store = cs
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.svc.Run(ctx) }()
	<-cs.ready
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if err := e.svc.Ready(); err != nil {
		t.Fatalf("after Run: %v", err)
	}
}

// Key creation and scheduled retirement are audited, with the key id and never the key.
func TestRotationIsAudited(t *testing.T) {
	e := newEnv(t, opts{noInit: true})
	e.svc.Audit = &audit.Recorder{Store: e.db, Log: e.svc.Log, Now: e.clock.Now}
	ctx := context.Background()
	if err := e.svc.Init(ctx); err != nil {
		t.Fatal(err)
	}
	_, a := mintKid(t, e)
	b, err := e.svc.Rotate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := e.db.ListAudit(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Actor != "system" || ev.Result != audit.Success {
			t.Errorf("event %+v", ev)
		}
		got = append(got, ev.Action+" "+ev.Target)
	}
	want := []string{"signing-key.create " + a, "signing-key.create " + b, "signing-key.retire " + a}
	if !slices.Equal(got, want) {
		t.Errorf("audit %q, want %q", got, want)
	}
}
