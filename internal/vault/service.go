package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// Authenticator says who is calling: the principal the admin socket put in the request's
// context, or the subject of a bearer token for the vault resource.
type Authenticator interface {
	Authenticate(r *http.Request) (authn.Principal, error)
}

// Access answers RBAC's question for vaults that use RBAC: may the principal perform the data
// action at scope?
type Access interface {
	Allowed(ctx context.Context, tenantID, principalID, action string, scope arm.ID, data bool) (bool, error)
}

// Service is the vault data plane.
type Service struct {
	Store  Store
	KEK    *seal.KEK
	Auth   Authenticator
	Access Access
	Audit  *audit.Recorder
	Now    func() time.Time
	Rand   io.Reader
	Log    *slog.Logger
	// VaultDomain is the domain vaults are served under, as configured (a port may follow).
	VaultDomain string
	// Port is the port vault URLs carry ("" for 443): VaultDomain's, else the public URL's.
	Port string
	// Authority is the token service's base URL: a challenge names {Authority}/{tenantId}.
	Authority string

	holderOnce sync.Once
	holder     string // this server's purge-lease holder id

	vaults vaultCache
}

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

// domainHost is VaultDomain without a port, in lower case.
func (s *Service) domainHost() string {
	if h, _, err := net.SplitHostPort(s.VaultDomain); err == nil {
		return strings.ToLower(h)
	}
	return strings.ToLower(s.VaultDomain)
}

// VaultName returns the vault a request's Host names: the first label of {name}.{vaultDomain},
// the port stripped, without case. ok is false for any other host.
func (s *Service) VaultName(host string) (name string, ok bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	name, ok = strings.CutSuffix(host, "."+s.domainHost())
	if !ok || name == "" || strings.Contains(name, ".") {
		return "", false
	}
	return name, true
}

// HostOf is a vault's host as its URLs carry it: {name}.{domain}[:port].
func (s *Service) HostOf(name string) string {
	h := name + "." + s.domainHost()
	if s.Port != "" && s.Port != "443" {
		h = net.JoinHostPort(h, s.Port)
	}
	return h
}

// Resource is the challenge's resource: https://{vaultDomain}[:port], the audience clients ask
// tokens for, and a suffix of every vault's host, as the clients' verification demands.
func (s *Service) Resource() string {
	h := s.domainHost()
	if s.Port != "" && s.Port != "443" {
		h = net.JoinHostPort(h, s.Port)
	}
	return "https://" + h
}

// vaultURL is https://{host} without a trailing slash.
func (s *Service) vaultURL(v Vault) string { return "https://" + s.HostOf(v.Name) }

// newVersion returns 32 random lower-case hex digits.
func (s *Service) newVersion() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.rand(), b[:]); err != nil {
		return "", errs.Wrap(errs.Internal, err, "random version")
	}
	return hex.EncodeToString(b[:]), nil
}

func sealAD(vaultKey, name, version string) seal.AD {
	return seal.AD{Table: SealTable, ID: SealID(vaultKey, name, version), Purpose: SealPurpose}
}

// caller is an authenticated request's principal, for the vault it is addressed to.
type caller struct {
	authn.Principal
}

// action is one data-plane operation: its access-policy permission and its RBAC data action.
type action struct {
	name       string // audit action suffix and Key Vault's operation name
	permission string
	dataAction string
}

var (
	opSet         = action{"set", PermSet, "Microsoft.KeyVault/vaults/secrets/setSecret/action"}
	opGet         = action{"get", PermGet, "Microsoft.KeyVault/vaults/secrets/getSecret/action"}
	opUpdate      = action{"update", PermSet, "Microsoft.KeyVault/vaults/secrets/update/action"}
	opList        = action{"list", PermList, "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}
	opListVersion = action{"listversions", PermList, "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}
	opDelete      = action{"delete", PermDelete, "Microsoft.KeyVault/vaults/secrets/delete"}
	opGetDeleted  = action{"getdeleted", PermList, "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}
	opListDeleted = action{"listdeleted", PermList, "Microsoft.KeyVault/vaults/secrets/readMetadata/action"}
	opRecover     = action{"recover", PermRecover, "Microsoft.KeyVault/vaults/secrets/recover/action"}
	opPurge       = action{"purge", PermPurge, "Microsoft.KeyVault/vaults/secrets/purge/action"}
	opBackup      = action{"backup", PermBackup, "Microsoft.KeyVault/vaults/secrets/backup/action"}
	opRestore     = action{"restore", PermRestore, "Microsoft.KeyVault/vaults/secrets/restore/action"}
)

// authorize decides, from the store's current state, whether the request's caller may perform op
// on its vault: an administrator may do anything; a token caller must be of the vault's tenant and
// hold the permission in an access policy, or, when the vault uses RBAC, the data action at the
// vault.
func (s *Service) authorize(ctx context.Context, rq *request, op action) error {
	c, v := rq.c, rq.v
	if c.Admin {
		return nil
	}
	if !strings.EqualFold(c.TenantID, v.TenantID) {
		return errs.E(errs.Denied, "The caller's tenant is not the vault's tenant.")
	}
	if rq.set.RBAC {
		scope, err := arm.Parse(v.ID)
		if err != nil {
			return errs.Wrap(errs.Internal, err, "vault id")
		}
		ok, err := s.Access.Allowed(ctx, v.TenantID, c.ObjectID, op.dataAction, scope, true)
		if err != nil {
			return err
		}
		if !ok {
			return &errs.Error{Kind: errs.Denied, Code: "Forbidden:ForbiddenByRbac", Msg: "Caller is not authorized to perform action on resource.\r\n" +
				"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
				"Caller: appid=" + c.AppID + ";oid=" + c.ObjectID + "\r\nAction: '" + op.dataAction + "'\r\nResource: '" + strings.ToLower(v.ID) + "'"}
		}
		return nil
	}
	for _, p := range v.Policies {
		if strings.EqualFold(p.ObjectID, c.ObjectID) && strings.EqualFold(p.TenantID, v.TenantID) &&
			(p.ApplicationID == "" || strings.EqualFold(p.ApplicationID, c.AppID)) && p.allows(op.permission) {
			return nil
		}
	}
	return &errs.Error{Kind: errs.Denied, Code: "Forbidden:AccessDenied", Msg: "The user, group or application 'appid=" + c.AppID +
		";oid=" + c.ObjectID + "' does not have secrets " + op.permission + " permission on key vault '" + v.Name +
		"'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287"}
}

// record audits one operation: who, which vault and secret (and version), the result. Never
// a value.
func (s *Service) record(ctx context.Context, c caller, v Vault, op action, name, version string, err error) error {
	if s.Audit == nil {
		return nil
	}
	result := audit.Success
	switch {
	case errs.Is(err, errs.Denied) || errs.Is(err, errs.Unauthenticated):
		result = audit.Denied
	case err != nil:
		result = audit.Failure
	}
	target := v.ID
	if name != "" {
		target += "/secrets/" + name
		if version != "" {
			target += "/" + version
		}
	}
	detail := ""
	if err != nil {
		detail = "status=" + http.StatusText(httpx.Status(errs.KindOf(err)))
		if code := errs.CodeOf(err); code != "" {
			detail += " code=" + code
		}
		if errs.Is(err, errs.Unauthenticated) {
			detail += " reason=" + clip(errs.Message(err))
		}
	}
	actor := c.Actor
	if actor == "" {
		actor = "anonymous"
	}
	_, aerr := s.Audit.Record(ctx, audit.Event{
		Actor: actor, Action: "vault.secret." + op.name, Target: target, Result: result,
		RequestID: httpx.RequestID(ctx), Detail: detail,
	})
	return aerr
}

// notFound is Key Vault's 404 for a secret (or one of its versions).
func notFound(name, version string) error {
	id := name
	if version != "" {
		id += "/" + version
	}
	return &errs.Error{Kind: errs.NotFound, Code: "SecretNotFound",
		Msg: "A secret with (name/id) " + id + " was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"}
}

func deletedNotFound(name string) error {
	return &errs.Error{Kind: errs.NotFound, Code: "SecretNotFound", Msg: "Deleted Secret not found: " + name}
}

func deletedConflict(name string) error {
	return &errs.Error{Kind: errs.Conflict, Code: "Conflict:ObjectIsDeletedButRecoverable",
		Msg: "Secret " + name + " is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."}
}

func badParameter(format string, args ...any) error {
	e := errs.E(errs.Invalid, format, args...)
	e.Code = "BadParameter"
	return e
}

// mapStore turns the store's sentinel errors into Key Vault's.
func mapStore(err error, name string) error {
	switch {
	case errors.Is(err, ErrDeleted):
		return deletedConflict(name)
	case errors.Is(err, ErrExists):
		return &errs.Error{Kind: errs.Conflict, Code: "Conflict", Msg: "Secret " + name + " already exists: a backup restores only a secret whose name is free."}
	}
	return err
}
