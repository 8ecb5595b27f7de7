package nodes

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/token"
)

// Signer issues client certificates (internal/pki's CA).
type Signer interface {
	SignClientCSR(csrDER []byte, commonName string, lifetime time.Duration) ([]byte, error)
	SignServingCSR(csrDER []byte, dnsNames []string, lifetime time.Duration) ([]byte, error)
	CertPEM() []byte
}

// Machines makes sure a node's machine resource exists, with its system-assigned identity on,
// and returns it.
type Machines func(ctx context.Context, tenantID, name string) (resources.Resource, error)

// Minter mints a token for a service principal of the tenant and a resource (the directory
// decides the claims, the token service signs).
type Minter func(ctx context.Context, tenantID, principalID, resource string) (token.Token, error)

// Apps gives what a node hosting a site needs beyond its front door's settings
// (appservice.Service does): its app settings with Key Vault references resolved and, for a
// function app, its package and keys. site is the stored resource, placed on the node.
type Apps interface {
	HostedSite(ctx context.Context, site resources.Resource) (map[string]string, *agentapi.SiteFunctions, error)
}

// Service is the server's side of the node agent: join tokens, enrollment, certificate renewal,
// minting for agents, and the events long poll.
type Service struct {
	Store    Store
	Signer   Signer
	Machines Machines
	Mint     Minter
	// Apps fills sites' settings and function apps' packages and keys; nil: none are given.
	Apps  Apps
	Audit *audit.Recorder
	Log   *slog.Logger
	Now   func() time.Time
	Rand  io.Reader
	// DefaultTenant is the tenant join tokens are for when the request names none.
	DefaultTenant func() string
	// CertLifetime is the lifetime of the client certificates; default 24 h.
	CertLifetime time.Duration
	// SandboxCAPEM is the sandbox CA's certificate, which agents put in their sandboxes' trust
	// stores; nil: the agents' sandboxes cannot start.
	SandboxCAPEM func() []byte
	// SiteDomain is the domain of sites' host names, {name}.{SiteDomain} (their defaultHostName).
	SiteDomain string
	// EventRetention is how long events are kept for agents that were away; default 1 h.
	EventRetention time.Duration
	// PollInterval is how often Run reads the newest event's seq; default PollEvery. A server
	// whose store announces changes (PostgreSQL) calls Changed on each and polls only as a
	// fallback.
	PollInterval time.Duration

	watch    watcher
	logs     logHub // the log follows this server holds (logs.go)
	wakeOnce sync.Once
	wake     chan struct{}
}

// The defaults and limits.
const (
	DefaultCertLifetime   = 24 * time.Hour
	DefaultJoinTokenTTL   = 15 * time.Minute
	MaxJoinTokenTTL       = 7 * 24 * time.Hour
	DefaultEventRetention = time.Hour
	// CertPrefix starts the common name of a node's client certificate; the node's id follows.
	CertPrefix = "lanyard-node:"
	// joinTokenPrefix starts every join token, so that one is recognisable in a file or a leak scan.
	joinTokenPrefix = "lyj_"
)

var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) rand() io.Reader {
	if s.Rand == nil {
		return rand.Reader
	}
	return s.Rand
}

func (s *Service) certLifetime() time.Duration {
	if s.CertLifetime <= 0 {
		return DefaultCertLifetime
	}
	return s.CertLifetime
}

// CheckNodeName checks a node's name: 1 to 63 letters, digits, '.', '_' and '-', starting with
// a letter or digit (a host name's first label fits; so does a machine resource's name).
func CheckNodeName(name string) error {
	if !nodeNameRE.MatchString(name) {
		return errs.E(errs.Invalid, "node name %q is not valid: use 1 to 63 letters, digits, '.', '_' and '-', starting with a letter or digit", clip(name))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// hashJoinToken is the store's key of a join token.
func hashJoinToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// CreateJoinToken makes a single-use join token for the node name, valid for ttl (default 15
// minutes), and returns it; the store keeps only its hash.
func (s *Service) CreateJoinToken(ctx context.Context, p authn.Principal, tenantID, name string, ttl time.Duration) (string, time.Time, error) {
	if err := authn.RequireAdmin(ctx); err != nil {
		return "", time.Time{}, err
	}
	if err := CheckNodeName(name); err != nil {
		return "", time.Time{}, err
	}
	if ttl == 0 {
		ttl = DefaultJoinTokenTTL
	}
	if ttl < time.Minute || ttl > MaxJoinTokenTTL {
		return "", time.Time{}, errs.E(errs.Invalid, "a join token's ttl must be between 1m and %s, not %s", MaxJoinTokenTTL, ttl)
	}
	if tenantID == "" {
		tenantID = s.DefaultTenant()
	}
	tenantID = strings.ToLower(tenantID)
	if !guid.Valid(tenantID) {
		return "", time.Time{}, errs.E(errs.Invalid, "tenant id %q is not a GUID", clip(tenantID))
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(s.rand(), raw); err != nil {
		return "", time.Time{}, errs.Wrap(errs.Internal, err, "join token")
	}
	tok := joinTokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	jt := JoinToken{Hash: hashJoinToken(tok), TenantID: tenantID, NodeName: name, Created: now, Expires: now.Add(ttl), CreatedBy: p.Actor}
	if err := s.Store.CreateJoinToken(ctx, jt); err != nil {
		return "", time.Time{}, err
	}
	s.record(ctx, p.Actor, "node.join-token.create", "node/"+name, audit.Success, "expires "+jt.Expires.UTC().Format(time.RFC3339))
	return tok, jt.Expires, nil
}

// record appends an audit event; a failure is logged (the action it describes stands).
func (s *Service) record(ctx context.Context, actor, action, target, result, detail string) {
	if s.Audit == nil {
		return
	}
	if _, err := s.Audit.Record(ctx, audit.Event{Actor: actor, Action: action, Target: target, Result: result, Detail: detail, RequestID: httpx.RequestID(ctx)}); err != nil && s.Log != nil {
		s.Log.Error("audit", slog.String("error", err.Error()))
	}
}

// chainPEM is the client certificate's PEM followed by the CA's.
func (s *Service) chainPEM(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})) + string(s.Signer.CertPEM())
}
