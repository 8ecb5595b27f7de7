package tenant

import (
	"context"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
)

// Recorder is the audit dependency.
type Recorder interface {
	Record(ctx context.Context, ev audit.Event) (audit.Event, error)
}

// Service holds the rules for tenants.
type Service struct {
	Store Store
	Audit Recorder
	Now   func() time.Time
	Rand  io.Reader
	// OnCreate runs after a tenant is stored, for domains that create objects in every tenant
	// (built-in service principals, the default subscription).
	OnCreate []func(ctx context.Context, t Tenant) error
}

// DefaultName is the display name of the tenant created on first start.
const DefaultName = "Default Directory"

// EnsureDefault returns the default tenant, creating it on first start (created reports that).
func (s *Service) EnsureDefault(ctx context.Context) (t Tenant, created bool, err error) {
	t, err = s.Store.DefaultTenant(ctx)
	if err == nil || !errs.Is(err, errs.NotFound) {
		return t, false, err
	}
	t, err = s.create(ctx, DefaultName, true)
	if errs.Is(err, errs.Conflict) { // another server created it first
		t, err = s.Store.DefaultTenant(ctx)
		return t, false, err
	}
	return t, err == nil, err
}

// Create makes a new tenant named name. The caller must be an administrator.
func (s *Service) Create(ctx context.Context, name string) (Tenant, error) {
	if err := authn.RequireAdmin(ctx); err != nil {
		return Tenant{}, err
	}
	if err := ValidateName(name); err != nil {
		return Tenant{}, err
	}
	return s.create(ctx, name, false)
}

func (s *Service) create(ctx context.Context, name string, isDefault bool) (Tenant, error) {
	id, err := uuid.NewRandomFromReader(s.Rand)
	if err != nil {
		return Tenant{}, errs.Wrap(errs.Internal, err, "generate tenant id")
	}
	t := Tenant{ID: id.String(), Name: name, Default: isDefault, Created: s.Now().UTC().Truncate(time.Microsecond)}
	if err := s.Store.CreateTenant(ctx, t); err != nil {
		return Tenant{}, err
	}
	for _, f := range s.OnCreate {
		if err := f(ctx, t); err != nil {
			return Tenant{}, err
		}
	}
	if _, err := s.Audit.Record(ctx, audit.Event{
		Actor: actor(ctx), Action: "tenant.create", Target: t.ID, Result: audit.Success,
		RequestID: httpx.RequestID(ctx), Detail: "name=" + name,
	}); err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// List returns every tenant. The caller must be an administrator.
func (s *Service) List(ctx context.Context) ([]Tenant, error) {
	if err := authn.RequireAdmin(ctx); err != nil {
		return nil, err
	}
	return s.Store.ListTenants(ctx)
}

// Exists reports whether id names a tenant; a malformed id is simply not one.
func (s *Service) Exists(ctx context.Context, id string) (bool, error) {
	if !guid.Valid(id) {
		return false, nil
	}
	_, err := s.Store.GetTenant(ctx, strings.ToLower(id))
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	return err == nil, err
}

// ValidateName checks a tenant display name: 1 to 256 printable characters.
func ValidateName(name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 256 {
		return errs.E(errs.Invalid, "tenant name must be 1 to 256 characters")
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return errs.E(errs.Invalid, "tenant name must contain only printable characters")
		}
	}
	return nil
}

// actor names the caller of ctx for audit records.
func actor(ctx context.Context) string {
	if p, ok := authn.From(ctx); ok {
		return p.Actor
	}
	return "system"
}
