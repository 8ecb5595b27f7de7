package token_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/token"
)

// readCounter counts the store reads a service makes.
type readCounter struct {
	token.Store
	lists, versions atomic.Int64
}

func (s *readCounter) ListSigningKeys(ctx context.Context) ([]token.KeyRecord, error) {
	s.lists.Add(1)
	return s.Store.ListSigningKeys(ctx)
}

func (s *readCounter) SigningKeysVersion(ctx context.Context) (string, error) {
	s.versions.Add(1)
	return s.Store.SigningKeysVersion(ctx)
}

// Two replicas on one store: an immediate rotation on the first reaches the second at its next
// watch (ReloadIfChanged), which reads the keys only when they changed; from then on the
// retired key signs nothing on either, and each accepts the other's tokens.
func TestImmediateRotationReachesTheOtherReplica(t *testing.T) {
	first := newEnv(t, opts{})
	second := newEnv(t, opts{db: first.db})
	second.svc.Now = first.clock.Now
	rc := &readCounter{Store: first.db}
	second.svc.Store = rc
	ctx := context.Background()

	_, old := mintKid(t, second)
	for range 3 {
		if err := second.svc.ReloadIfChanged(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := rc.lists.Load(); n != 0 {
		t.Fatalf("the watch read the keys %d times while nothing changed", n)
	}
	fresh, err := first.svc.Rotate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.svc.ReloadIfChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rc.lists.Load(); n != 1 {
		t.Fatalf("after the rotation the watch read the keys %d times, want 1", n)
	}
	for _, e := range []*env{first, second} {
		if !strings.Contains(strings.Join(kids(e.jwks(t)), " "), fresh) {
			t.Errorf("JWKS lacks the new key %s", fresh)
		}
		for range 5 {
			if _, kid := mintKid(t, e); kid != fresh {
				t.Fatalf("a replica signs with %s after the immediate rotation, want %s (retired: %s)", kid, fresh, old)
			}
		}
	}
	for _, from := range []*env{first, second} {
		tok := from.mint(t, vaultAud)
		for _, on := range []*env{first, second} {
			if _, err := on.svc.VerifyToken(tok.Raw); err != nil {
				t.Errorf("a token of one replica refused by the other: %v", err)
			}
		}
	}
}

// A token signed by a key the replica has not loaded yet makes it look in the store before
// refusing: the other replica's new key is found at once. Made-up key ids cost at most one read
// of the keys' version per LookAgainEvery, however many arrive.
func TestUnknownKidLooksAgain(t *testing.T) {
	first := newEnv(t, opts{})
	second := newEnv(t, opts{db: first.db})
	second.svc.Now = first.clock.Now
	rc := &readCounter{Store: first.db}
	second.svc.Store = rc
	ctx := context.Background()

	fresh, err := first.svc.Rotate(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	tok, kid := mintKid(t, first)
	if kid != fresh {
		t.Fatalf("the rotating replica signs with %s, want %s", kid, fresh)
	}
	// No watch has run on the second replica: the token's kid is unknown to it until it looks.
	if _, err := second.svc.VerifyToken(tok.Raw); err != nil {
		t.Fatalf("a token signed by the other replica's new key: %v", err)
	}
	if _, kid := mintKid(t, second); kid != fresh {
		t.Errorf("after looking again the replica signs with %s, want %s", kid, fresh)
	}

	// A flood of made-up key ids, at once and from many goroutines, at one instant of the clock.
	first.clock.Advance(token.LookAgainEvery)
	before := rc.versions.Load()
	forged := forgeKid(t, tok.Raw, "bm90LWEta2V5LWlkLWF0LWFsbA")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				if _, err := second.svc.VerifyToken(forged); !errs.Is(err, errs.Unauthenticated) ||
					!strings.Contains(errs.Message(err), "is not one of the keys this issuer publishes") {
					t.Errorf("a made-up kid: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := rc.versions.Load() - before; n != 1 {
		t.Errorf("200 made-up kids read the keys' version %d times, want 1", n)
	}
	first.clock.Advance(token.LookAgainEvery)
	if _, err := second.svc.VerifyToken(forged); err == nil {
		t.Fatal("a made-up kid was accepted")
	}
	if n := rc.versions.Load() - before; n != 2 {
		t.Errorf("after LookAgainEvery the made-up kid read the version %d times in all, want 2", n)
	}
}

// forgeKid returns raw with its header's kid replaced (the signature no longer matters: the key
// is looked up first).
func forgeKid(t *testing.T, raw, kid string) string {
	t.Helper()
	h := header(t, raw)
	h["kid"] = kid
	parts := strings.SplitN(raw, ".", 2)
	return enc(t, h) + "." + parts[1]
}
