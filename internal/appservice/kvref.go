package appservice

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/resources"
)

// Key Vault references in app settings (functions.md §7, Azure's behaviour): a setting whose
// value is @Microsoft.KeyVault(SecretUri=https://{vault}.{domain}/secrets/{name}[/{version}]) or
// @Microsoft.KeyVault(VaultName={vault};SecretName={name}[;SecretVersion={version}]) is given to
// the app as the secret's value, read with the site's system-assigned identity, or with the
// user-assigned identity properties.keyVaultReferenceIdentity names. A reference that cannot be
// resolved stays the literal text. Resolved values are kept per site and read again on any
// configuration change (app settings, the site) and every 24 h (Azure's); Lanyard also reads
// them again on any change to a vault, an access policy or the tenant's role assignments, so
// that a revoked grant takes effect at once.

// refPrefix starts a Key Vault reference (compared without case).
const refPrefix = "@Microsoft.KeyVault("

// Ref is a parsed Key Vault reference.
type Ref struct {
	VaultName     string
	SecretName    string
	SecretVersion string // "" for the latest
}

// The statuses of a reference (Azure's ResolveStatus values that Lanyard gives).
const (
	StatusResolved              = "Resolved"
	StatusInvalidSyntax         = "InvalidSyntax"
	StatusMSINotEnabled         = "MSINotEnabled"
	StatusVaultNotFound         = "VaultNotFound"
	StatusSecretNotFound        = "SecretNotFound"
	StatusSecretVersionNotFound = "SecretVersionNotFound"
	StatusAccessToKeyVaultDeny  = "AccessToKeyVaultDenied"
	StatusOtherReasons          = "OtherReasons"
)

var (
	refVaultName  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`)
	refSecretName = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)
	refVersion    = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

// IsReference reports whether an app setting's value is meant as a Key Vault reference: it
// starts with @Microsoft.KeyVault( (without case). Such a value that ParseRef refuses has the
// status InvalidSyntax.
func IsReference(v string) bool {
	return len(v) >= len(refPrefix) && strings.EqualFold(v[:len(refPrefix)], refPrefix)
}

// ParseRef parses a Key Vault reference in either of Azure's two syntaxes. Parameter names are
// compared without case; a SecretUri's host must be the vault's, {vault}.{domain} (the first
// label names the vault whatever the domain: Lanyard's vault names are unique in the
// installation, so a reference written for vault.azure.net finds the vault of that name).
func ParseRef(v string) (Ref, error) {
	bad := func(why string) (Ref, error) { return Ref{}, errs.E(errs.Invalid, "%s", why) }
	if !IsReference(v) {
		return bad("not a Key Vault reference: it must start with @Microsoft.KeyVault(")
	}
	body, ok := strings.CutSuffix(v[len(refPrefix):], ")")
	if !ok {
		return bad("the reference does not end with ')'")
	}
	params := map[string]string{}
	for _, part := range strings.Split(body, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return bad("'" + arm.Clip(part) + "' is not Name=Value")
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := params[k]; dup {
			return bad("the parameter " + arm.Clip(k) + " is given twice")
		}
		params[k] = strings.TrimSpace(val)
	}
	var r Ref
	if uri, ok := params["secreturi"]; ok {
		if len(params) != 1 {
			return bad("SecretUri cannot be combined with other parameters")
		}
		u, err := url.Parse(uri)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return bad("SecretUri must be https://{vault}.vault.azure.net/secrets/{name}[/{version}]")
		}
		host := u.Hostname()
		r.VaultName, _, _ = strings.Cut(host, ".")
		segs := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(segs) < 2 || len(segs) > 3 || !strings.EqualFold(segs[0], "secrets") || !strings.Contains(host, ".") {
			return bad("SecretUri must be https://{vault}.vault.azure.net/secrets/{name}[/{version}]")
		}
		r.SecretName = segs[1]
		if len(segs) == 3 {
			r.SecretVersion = segs[2]
		}
	} else {
		for k := range params {
			if k != "vaultname" && k != "secretname" && k != "secretversion" {
				return bad("unknown parameter " + arm.Clip(k) + ": use SecretUri, or VaultName, SecretName and SecretVersion")
			}
		}
		r.VaultName, r.SecretName, r.SecretVersion = params["vaultname"], params["secretname"], params["secretversion"]
		if r.VaultName == "" || r.SecretName == "" {
			return bad("VaultName and SecretName are required")
		}
	}
	switch {
	case !refVaultName.MatchString(r.VaultName):
		return bad("the vault name '" + arm.Clip(r.VaultName) + "' is not valid")
	case !refSecretName.MatchString(r.SecretName):
		return bad("the secret name '" + arm.Clip(r.SecretName) + "' is not valid")
	case r.SecretVersion != "" && !refVersion.MatchString(r.SecretVersion):
		return bad("the secret version '" + arm.Clip(r.SecretVersion) + "' is not valid")
	}
	r.VaultName = strings.ToLower(r.VaultName)
	r.SecretVersion = strings.ToLower(r.SecretVersion)
	return r, nil
}

// RefStatus is one reference's resolution, as config/configreferences/appsettings shows it.
type RefStatus struct {
	Key           string // the app setting's name
	Reference     string // the literal
	Status        string
	VaultName     string
	SecretName    string
	SecretVersion string
	IdentityType  string // SystemAssigned or UserAssigned
	Details       string
	ActiveVersion string
}

// resolved is a site's resolved settings and the references' statuses.
type resolved struct {
	fingerprint string
	at          time.Time
	settings    map[string]string
	refs        []RefStatus
}

// refCache keeps each site's resolved settings. The zero value is ready to use.
type refCache struct {
	mu     sync.Mutex
	bySite map[string]resolved
}

// maxCachedSites bounds the cache; past it, it starts again empty.
const maxCachedSites = 10000

// RefreshInterval is how long resolved values are kept without a configuration change
// (functions.md §7: every 24 h).
const RefreshInterval = 24 * time.Hour

func (c *refCache) get(key, fingerprint string, now time.Time) (resolved, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.bySite[key]
	if !ok || r.fingerprint != fingerprint || now.Sub(r.at) >= RefreshInterval || now.Before(r.at) {
		return resolved{}, false
	}
	return r, true
}

func (c *refCache) put(key string, r resolved) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bySite == nil || len(c.bySite) >= maxCachedSites {
		c.bySite = map[string]resolved{}
	}
	c.bySite[key] = r
}

func (c *refCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.bySite, key)
}

// ResolvedSettings returns site's app settings with their Key Vault references resolved, and the
// references' statuses, from the cache when nothing in the configuration changed since they were
// resolved (the app settings, the site resource, any vault or access policy, the tenant's role
// assignments) and they are less than 24 h old. site is the stored resource (with its identities).
func (s *Service) ResolvedSettings(ctx context.Context, site resources.Resource) (map[string]string, []RefStatus, error) {
	settings, raw, err := s.appSettings(ctx, site.TenantID, site.Key())
	if err != nil {
		return nil, nil, err
	}
	hasRef := false
	for _, v := range settings {
		if IsReference(v) {
			hasRef = true
			break
		}
	}
	if !hasRef {
		return settings, nil, nil
	}
	gen, err := s.Store.VaultGeneration(ctx)
	if err != nil {
		return nil, nil, err
	}
	rbacGen, err := s.Store.RBACGeneration(ctx, site.TenantID)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	h.Write(raw)
	h.Write([]byte("\x00" + strconv.FormatInt(site.Version, 10) + "\x00" + strconv.FormatInt(gen, 10) + "\x00" + strconv.FormatInt(rbacGen, 10)))
	// The identity references are read with, spelled out: the cache is right even for a caller
	// whose read of the site carries no version.
	p, idType, problem := s.referencePrincipal(site)
	h.Write([]byte("\x00" + p.ObjectID + "\x00" + idType + "\x00" + problem))
	fp := hex.EncodeToString(h.Sum(nil))
	now := s.now()
	if r, ok := s.refs.get(site.Key(), fp, now); ok {
		return r.settings, r.refs, nil
	}
	out, refs := s.resolve(ctx, site, settings)
	s.refs.put(site.Key(), resolved{fingerprint: fp, at: now, settings: out, refs: refs})
	return out, refs, nil
}

// resolve resolves every reference among settings.
func (s *Service) resolve(ctx context.Context, site resources.Resource, settings map[string]string) (map[string]string, []RefStatus) {
	out := make(map[string]string, len(settings))
	var refs []RefStatus
	p, idType, idErr := s.referencePrincipal(site)
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := settings[k]
		out[k] = v
		if !IsReference(v) {
			continue
		}
		st := RefStatus{Key: k, Reference: v, IdentityType: idType}
		ref, err := ParseRef(v)
		switch {
		case err != nil:
			st.Status, st.Details = StatusInvalidSyntax, "The reference is not valid: "+errs.Message(err)+"."
		case idErr != "":
			st.VaultName, st.SecretName, st.SecretVersion = ref.VaultName, ref.SecretName, ref.SecretVersion
			st.Status, st.Details = StatusMSINotEnabled, idErr
		default:
			st.VaultName, st.SecretName, st.SecretVersion = ref.VaultName, ref.SecretName, ref.SecretVersion
			value, ver, err := s.Vault.ReadSecretAs(ctx, p, ref.VaultName, ref.SecretName, ref.SecretVersion)
			if err == nil {
				out[k] = value
				st.Status, st.ActiveVersion = StatusResolved, ver
				break
			}
			st.Status, st.Details = refStatusOf(err, ref)
			if st.Status == StatusOtherReasons && s.Log != nil {
				s.Log.WarnContext(ctx, "key vault reference not resolved", "site", site.ID, "setting", k, "error", err.Error())
			}
		}
		refs = append(refs, st)
	}
	return out, refs
}

// refStatusOf maps the vault's refusal to Azure's status and a detail that holds no value.
func refStatusOf(err error, ref Ref) (status, details string) {
	code := errs.CodeOf(err)
	switch {
	case code == "VaultNotFound":
		return StatusVaultNotFound, "The vault '" + ref.VaultName + "' does not exist."
	case errs.Is(err, errs.NotFound) && ref.SecretVersion != "":
		return StatusSecretVersionNotFound, "The version '" + ref.SecretVersion + "' of the secret '" + ref.SecretName + "' does not exist."
	case errs.Is(err, errs.NotFound):
		return StatusSecretNotFound, "The secret '" + ref.SecretName + "' does not exist in the vault '" + ref.VaultName + "'."
	case errs.Is(err, errs.Denied) && strings.HasPrefix(code, "Forbidden:Secret"):
		return StatusOtherReasons, "The secret cannot be read now: " + errs.Message(err)
	case errs.Is(err, errs.Denied):
		return StatusAccessToKeyVaultDeny, "The identity may not get secrets from the vault '" + ref.VaultName + "' (access policy or RBAC)."
	}
	return StatusOtherReasons, "The secret could not be read."
}

// referencePrincipal is the identity references are read with: the site's system-assigned
// identity, or the user-assigned one properties.keyVaultReferenceIdentity names (it must be
// attached to the site). A non-empty problem says why there is none (MSINotEnabled).
func (s *Service) referencePrincipal(site resources.Resource) (p authn.Principal, identityType, problem string) {
	if want := resources.KeyVaultReferenceIdentity(site); want != "" {
		for _, ua := range site.UserAssigned {
			if strings.EqualFold(ua.ID, want) {
				return authn.Principal{TenantID: site.TenantID, ObjectID: ua.PrincipalID, AppID: ua.ClientID, Actor: "sp:" + ua.PrincipalID},
					"UserAssigned", ""
			}
		}
		return authn.Principal{}, "UserAssigned", "The user-assigned identity keyVaultReferenceIdentity names is not attached to the site."
	}
	if !site.SystemAssigned || site.PrincipalID == "" {
		return authn.Principal{}, "SystemAssigned", "The site's system-assigned identity is not enabled."
	}
	return authn.Principal{TenantID: site.TenantID, ObjectID: site.PrincipalID, AppID: site.ClientID, Actor: "sp:" + site.PrincipalID},
		"SystemAssigned", ""
}

// serveConfigRefs serves GET .../config/configreferences/appsettings[/{key}] (config/read; no
// value is shown, only the references and their statuses).
func (s *Service) serveConfigRefs(w http.ResponseWriter, r *http.Request, p authn.Principal, tenantID string, id arm.ID, key string) error {
	ctx := r.Context()
	site, err := s.Sites.SiteFor(ctx, p, tenantID, id, actionConfigRead)
	if err != nil {
		return err
	}
	_, refs, err := s.ResolvedSettings(ctx, site)
	if err != nil {
		return err
	}
	render := func(st RefStatus) map[string]any {
		return map[string]any{
			"id":   site.ID + "/config/configreferences/appsettings/" + st.Key,
			"name": st.Key, "type": resources.TypeSite + "/config/configreferences", "location": site.Location,
			"properties": map[string]any{
				"reference": st.Reference, "status": st.Status, "vaultName": st.VaultName, "secretName": st.SecretName,
				"secretVersion": st.SecretVersion, "identityType": st.IdentityType, "details": st.Details,
				"source": "KeyVault", "activeVersion": st.ActiveVersion,
			},
		}
	}
	if key != "" {
		for _, st := range refs {
			if strings.EqualFold(st.Key, key) {
				httpx.WriteJSON(w, http.StatusOK, render(st))
				return nil
			}
		}
		return arm.E(errs.NotFound, arm.CodeResourceNotFound, "The app setting '%s' is not a Key Vault reference of the site.", arm.Clip(key))
	}
	out := make([]map[string]any, 0, len(refs))
	for _, st := range refs {
		out = append(out, render(st))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func sortedStrings(v []string) []string {
	sort.Strings(v)
	return v
}
