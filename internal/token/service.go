package token

import (
	"context"
	"crypto"
	"crypto/rand"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// Signing algorithms.
const (
	RS256 = "RS256" // RSA-2048, PKCS #1 v1.5, SHA-256 (the default; what Entra uses)
	ES256 = "ES256" // ECDSA P-256, SHA-256
)

// Config holds the token service's settings. Zero fields take the defaults.
type Config struct {
	TokenLifetime  time.Duration // lifetime of a minted token; default 1h
	RotationPeriod time.Duration // how long a key signs; default 720h
	PrePublish     time.Duration // how long a successor is published before it signs; default 24h
	Alg            string        // algorithm of new keys, RS256 (default) or ES256
	ReloadInterval time.Duration // how often Run rotates and reloads; default 1m
	// WatchInterval is how often Run reads the stored keys' version, and reloads when it moved:
	// a key created or retired on any server is published, and a retired key stops signing, on
	// every server within about this much time. Default 250ms.
	WatchInterval time.Duration
}

// Defaults.
const (
	DefaultTokenLifetime  = time.Hour
	DefaultRotationPeriod = 720 * time.Hour
	DefaultPrePublish     = 24 * time.Hour
	DefaultReloadInterval = time.Minute
	DefaultWatchInterval  = 250 * time.Millisecond
	// LookAgainEvery bounds how often a token signed by a key this service does not know makes
	// it read the keys from the store before refusing the token (VerifyToken): a key another
	// server created a moment ago is found at once, and a flood of made-up key ids costs the store
	// at most one read this often.
	LookAgainEvery = 100 * time.Millisecond
	// DropSkew is added to a retired key's last token expiry before it leaves JWKS, for clock skew
	// between Lanyard and the verifiers.
	DropSkew = 5 * time.Minute
	// MaxTokenLifetime bounds TokenLifetime.
	MaxTokenLifetime = 24 * time.Hour
)

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.TokenLifetime == 0 {
		c.TokenLifetime = DefaultTokenLifetime
	}
	if c.RotationPeriod == 0 {
		c.RotationPeriod = DefaultRotationPeriod
	}
	if c.PrePublish == 0 {
		c.PrePublish = DefaultPrePublish
	}
	if c.Alg == "" {
		c.Alg = RS256
	}
	if c.ReloadInterval == 0 {
		c.ReloadInterval = DefaultReloadInterval
	}
	if c.WatchInterval == 0 {
		c.WatchInterval = DefaultWatchInterval
	}
	return c
}

// Validate checks c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	switch {
	case c.Alg != RS256 && c.Alg != ES256:
		return errs.E(errs.Invalid, "token signing algorithm must be %s or %s, not %q", RS256, ES256, c.Alg)
	case c.TokenLifetime < time.Minute || c.TokenLifetime > MaxTokenLifetime:
		return errs.E(errs.Invalid, "token lifetime must be between 1m and %s, not %s", MaxTokenLifetime, c.TokenLifetime)
	case c.PrePublish < 0:
		return errs.E(errs.Invalid, "key pre-publication lead must not be negative")
	case c.RotationPeriod <= c.PrePublish:
		return errs.E(errs.Invalid, "key rotation period (%s) must be longer than the pre-publication lead (%s)", c.RotationPeriod, c.PrePublish)
	case c.ReloadInterval <= 0 || c.ReloadInterval > DropSkew:
		// A replica that has not reloaded yet may sign with a key another replica retired; the
		// skew added before a retired key leaves JWKS covers that only if reloads are frequent.
		return errs.E(errs.Invalid, "key reload interval must be between 0 and %s", DropSkew)
	case c.WatchInterval <= 0 || c.WatchInterval > time.Second:
		return errs.E(errs.Invalid, "key watch interval must be between 0 and 1s, not %s", c.WatchInterval)
	}
	return nil
}

// Sealer seals and opens private keys; *seal.KEK implements it.
type Sealer interface {
	Seal(rand io.Reader, plaintext []byte, ad seal.AD) ([]byte, error)
	Open(blob []byte, ad seal.AD) ([]byte, error)
	ID() string
}

var _ Sealer = (*seal.KEK)(nil)

// Recorder records audit events; *audit.Recorder implements it.
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) (audit.Event, error)
}

// Tenants says whether a tenant exists; *tenant.Service implements it. A malformed id is simply
// not a tenant.
type Tenants interface {
	Exists(ctx context.Context, id string) (bool, error)
}

// Service signs tokens and publishes the keys that verify them.
//
// Set the fields, then call Reload (or Init) before serving; Run keeps the keys rotated and
// reloaded. A Service must not be copied after first use.
type Service struct {
	Store   Store
	KEK     Sealer
	Tenants Tenants
	BaseURL string // public URL of the control plane, such as https://localhost:8443 (no trailing slash needed)
	Config  Config
	Now     func() time.Time // default time.Now
	Rand    io.Reader        // default crypto/rand.Reader; must be safe for concurrent use
	Log     *slog.Logger     // default slog.Default()
	// Audit, if set, records every key created and every retirement scheduled ("signing-key.create",
	// "signing-key.retire", actor "system"). A key is stored before its event is recorded; a failure
	// to record is returned.
	Audit Recorder
	// OnMint, if set, is called once per minted token (for a counter).
	OnMint func()
	// OnMinted, if set, is called once per minted token with its request (for the console's
	// dashboard: who got a token for what). It must not block.
	OnMinted func(MintRequest)

	// generateKey makes a new private key for alg; tests replace it to get fixed keys.
	generateKey func(alg string) (crypto.Signer, error)

	reloadMu sync.Mutex // serialises Reload, so an older read never replaces a newer one
	snap     atomic.Pointer[snapshot]
	version  string // the stored keys' version read before the last Reload's list (under reloadMu)

	lookMu   sync.Mutex // one look again at a time (lookAgain)
	lastLook time.Time

	wakeOnce sync.Once
	wake     chan struct{} // KeysChanged

	verified verifiedCache // tokens whose signature and claims checked out (verify.go)
}

// Init runs one rotation step (creating the first key of a new installation) and loads the keys.
// Call it before serving.
func (s *Service) Init(ctx context.Context) error {
	if err := s.Config.Validate(); err != nil {
		return err
	}
	if err := s.Step(ctx); err != nil {
		return err
	}
	return s.Reload(ctx)
}

// Run is a long-running task: every Config.ReloadInterval it runs a rotation step and reloads the
// keys from the store, so that replicas converge on the keys one of them created; every
// Config.WatchInterval it reads the stored keys' version and reloads when it moved, so that a
// change made on any server (an immediate rotation above all) reaches this one within that
// time. Failures are logged and retried at the next tick, so a store outage does not stop the
// server. Run returns nil when ctx is done.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Config.Validate(); err != nil {
		return err
	}
	cfg := s.cfg()
	t := time.NewTicker(cfg.ReloadInterval)
	defer t.Stop()
	w := time.NewTicker(cfg.WatchInterval)
	defer w.Stop()
	s.tick(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.tick(ctx) // it reloads: nothing more to look at this round
			continue
		case <-w.C:
		case <-s.wakeChan():
		}
		if err := s.ReloadIfChanged(ctx); err != nil && ctx.Err() == nil {
			s.log().LogAttrs(ctx, slog.LevelError, "signing key reload failed", slog.String("error", err.Error()))
		}
	}
}

// KeysChanged tells Run that the stored keys may have changed (the store announced it): Run
// reads their version at once instead of at its next watch.
func (s *Service) KeysChanged() {
	select {
	case s.wakeChan() <- struct{}{}:
	default:
	}
}

func (s *Service) wakeChan() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// ReloadIfChanged reloads the keys if their stored version moved since the last Reload.
func (s *Service) ReloadIfChanged(ctx context.Context) error {
	v, err := s.Store.SigningKeysVersion(ctx)
	if err != nil {
		return err
	}
	s.reloadMu.Lock()
	same := v == s.version && s.snap.Load() != nil
	s.reloadMu.Unlock()
	if same {
		return nil
	}
	return s.Reload(ctx)
}

func (s *Service) tick(ctx context.Context) {
	if err := s.Step(ctx); err != nil && ctx.Err() == nil {
		s.log().LogAttrs(ctx, slog.LevelError, "signing key rotation failed", slog.String("error", err.Error()))
	}
	if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
		s.log().LogAttrs(ctx, slog.LevelError, "signing key reload failed", slog.String("error", err.Error()))
	}
}

// Ready reports whether the service has a key to sign with now.
func (s *Service) Ready() error {
	p, err := s.current(s.now())
	if err != nil {
		return err
	}
	if p.signer == nil {
		return errNoKey
	}
	return nil
}

func (s *Service) cfg() Config { return s.Config.WithDefaults() }

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) rand() io.Reader {
	if s.Rand != nil {
		return s.Rand
	}
	return rand.Reader
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
