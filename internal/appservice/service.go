package appservice

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// Sites checks a caller's access to a site and serves the common part of an ARM route
// (resources.Service does).
type Sites interface {
	SiteFor(ctx context.Context, p authn.Principal, tenantID string, site arm.ID, action string) (resources.Resource, error)
	ServeSiteRoute(w http.ResponseWriter, r *http.Request, methods string, op func(p authn.Principal, tenantID string) error)
}

// SecretReader reads a secret as a principal, through the vault's own authorization
// (vault.Service.ReadSecretAs).
type SecretReader interface {
	ReadSecretAs(ctx context.Context, p authn.Principal, vaultName, name, version string) (value, version2 string, err error)
}

// Recorder is the audit dependency.
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) (audit.Event, error)
}

// Service holds the rules of app settings, keys and packages and serves them in ARM's shape.
type Service struct {
	Store Store
	Sites Sites
	KEK   *seal.KEK
	Vault SecretReader
	Audit Recorder
	Log   *slog.Logger
	Now   func() time.Time
	Rand  io.Reader
	// SiteDomain is the domain of sites' host names, {name}.{SiteDomain}.
	SiteDomain string
	// MaxPackageSize bounds a deployment package; default DefaultMaxPackageSize.
	MaxPackageSize int64
	// Shape renders errors; nil: httpx.ARMShape("").
	Shape httpx.Shape
	// FollowLog asks a node's agent for a site's output for the reader actor (the caller's audit
	// actor, whose streams of one site are bounded: nodes.Service.FollowLog); nil: the log stream
	// route answers that it is not available.
	FollowLog func(tenantID, actor, node, app, after string, tail int) (LogStream, error)
	// LogStreamMax is how long one log stream stays open before the server ends it and the
	// reader reconnects, resuming where it was; default DefaultLogStreamMax.
	LogStreamMax time.Duration

	randMu sync.Mutex
	refs   refCache
}

// DefaultMaxPackageSize is the default bound of a package: 100 MiB.
const DefaultMaxPackageSize = 100 << 20

// The ARM actions this package checks (Azure's names).
const (
	actionRead             = "Microsoft.Web/sites/read"
	actionConfigRead       = "Microsoft.Web/sites/config/read"
	actionConfigWrite      = "Microsoft.Web/sites/config/write"
	actionConfigList       = "Microsoft.Web/sites/config/list/action"
	actionPublish          = "Microsoft.Web/sites/publish/Action"
	actionHostListKeys     = "Microsoft.Web/sites/host/listkeys/action"
	actionFunctionListKeys = "Microsoft.Web/sites/functions/listkeys/action"
	actionFunctionSecrets  = "Microsoft.Web/sites/functions/listsecrets/action"
	actionFunctionKeyWrite = "Microsoft.Web/sites/functions/keys/write"
	actionFunctionKeyDel   = "Microsoft.Web/sites/functions/keys/delete"
)

// hostKeyAction is the action of writing or deleting a host-level key of kind (functionKeys,
// systemKeys, masterKey): Microsoft.Web/sites/host/{kind}/{write|delete}.
func hostKeyAction(kind, verb string) string {
	return "Microsoft.Web/sites/host/" + kind + "/" + verb
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// random fills b from Rand (crypto/rand by default).
func (s *Service) random(b []byte) error {
	s.randMu.Lock()
	defer s.randMu.Unlock()
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return errs.Wrap(errs.Internal, err, "read random bytes")
	}
	return nil
}

func (s *Service) newID() (string, error) {
	var b [16]byte
	if err := s.random(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b).String(), nil
}

func (s *Service) shape() httpx.Shape {
	if s.Shape != nil {
		return s.Shape
	}
	return httpx.ARMShape("")
}

func (s *Service) maxPackage() int64 {
	if s.MaxPackageSize > 0 {
		return s.MaxPackageSize
	}
	return DefaultMaxPackageSize
}

func (s *Service) siteDomain() string {
	if s.SiteDomain != "" {
		return strings.ToLower(s.SiteDomain)
	}
	return "sites.localhost"
}

// hostName is a site's defaultHostName.
func (s *Service) hostName(site resources.Resource) string {
	return strings.ToLower(site.Name) + "." + s.siteDomain()
}

// record writes an audit event of a write (never a value); its failure is returned.
func (s *Service) record(ctx context.Context, p authn.Principal, action, target, detail string, err error) error {
	if s.Audit == nil {
		return err
	}
	result := audit.Success
	if err != nil {
		if errs.KindOf(err) == errs.Denied { // denials are audited where they are decided
			return err
		}
		result = audit.Failure
		detail = strings.TrimSpace(detail + " error=" + errs.KindOf(err).String())
	}
	_, aerr := s.Audit.Record(ctx, audit.Event{Actor: actorOf(p), Action: action, Target: target, Result: result, RequestID: httpx.RequestID(ctx), Detail: detail})
	if err != nil {
		return err
	}
	if aerr != nil {
		return errs.Wrap(errs.Unavailable, aerr, "The change was made but could not be audited.")
	}
	return nil
}

// isFunctionApp says whether a site's kind is a function app's.
func isFunctionApp(r resources.Resource) bool {
	return strings.Contains(strings.ToLower(r.Kind), "functionapp")
}

func invalid(format string, args ...any) error {
	return arm.E(errs.Invalid, "BadRequest", format, args...)
}
