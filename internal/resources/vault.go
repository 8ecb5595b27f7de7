package resources

import (
	"encoding/json"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// Limits and defaults of vaults, as Azure's.
const (
	MaxAccessPolicies       = 1024
	DefaultRetentionDays    = 90
	minRetentionDays        = 7
	maxRetentionDays        = 90
	accessPoliciesProperty  = "accessPolicies"
	vaultURIProperty        = "vaultUri"
	skuFamilyA              = "A"
	accessPolicyKindAdd     = "add"
	accessPolicyKindReplace = "replace"
	accessPolicyKindRemove  = "remove"
)

// secretPermissions are the permissions on secrets Key Vault defines; "all" grants every one.
var secretPermissions = []string{"all", "get", "list", "set", "delete", "recover", "backup", "restore", "purge"}

// otherPermissions are the permissions Key Vault defines on keys, certificates and storage
// accounts. Lanyard's vault serves secrets only; the others are kept as given.
var otherPermissions = map[string][]string{
	"keys": {"all", "encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify", "get", "list", "create", "update",
		"import", "delete", "backup", "restore", "recover", "purge", "release", "rotate", "getrotationpolicy", "setrotationpolicy"},
	"certificates": {"all", "get", "list", "delete", "create", "import", "update", "managecontacts", "getissuers", "listissuers",
		"setissuers", "deleteissuers", "manageissuers", "recover", "purge", "backup", "restore"},
	"storage": {"all", "get", "list", "delete", "set", "update", "regeneratekey", "recover", "purge", "backup", "restore",
		"setsas", "listsas", "getsas", "deletesas"},
}

// vaultComputed are properties Lanyard computes; a value sent for one is ignored.
var vaultComputed = []string{vaultURIProperty, "provisioningState", "hsmPoolResourceId", "privateEndpointConnections"}

// vaultProperties validates a vault's properties (a JSON object with ARM's members) for a vault of
// tenantID, fills in the defaults, and splits them into what is stored as the resource's
// properties and its access policies. old is the vault's stored properties, nil on create.
func vaultProperties(tenantID string, props map[string]json.RawMessage, old map[string]json.RawMessage) (json.RawMessage, []AccessPolicy, error) {
	for _, k := range vaultComputed {
		delete(props, k)
	}
	var tid string
	if err := getJSON(props, "tenantId", &tid); err != nil || tid == "" {
		return nil, nil, invalidContent("The vault's 'properties.tenantId' is required: the id of the tenant the vault belongs to.")
	}
	if !strings.EqualFold(tid, tenantID) {
		return nil, nil, invalidContent("The vault's 'properties.tenantId' must be the tenant of its subscription, '%s'.", tenantID)
	}
	props["tenantId"] = mustJSON(strings.ToLower(tid))
	var sku struct {
		Family string `json:"family"`
		Name   string `json:"name"`
	}
	if err := getJSON(props, "sku", &sku); err != nil || sku.Name == "" {
		return nil, nil, invalidContent("The vault's 'properties.sku' is required: {\"family\": \"A\", \"name\": \"standard\" or \"premium\"}.")
	}
	name := strings.ToLower(sku.Name)
	if name != "standard" && name != "premium" || sku.Family != "" && !strings.EqualFold(sku.Family, skuFamilyA) {
		return nil, nil, invalidContent("The vault's sku must have family 'A' and name 'standard' or 'premium'.")
	}
	props["sku"] = mustJSON(map[string]string{"family": skuFamilyA, "name": name})
	for _, b := range []string{"enableRbacAuthorization", "enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment", "enableSoftDelete", "enablePurgeProtection"} {
		var v *bool
		if err := getJSON(props, b, &v); err != nil {
			return nil, nil, invalidContent("The vault's 'properties.%s' must be true or false.", b)
		}
		if v == nil {
			delete(props, b)
		}
	}
	if _, ok := props["enableRbacAuthorization"]; !ok {
		props["enableRbacAuthorization"] = mustJSON(false)
	}
	var soft *bool
	_ = getJSON(props, "enableSoftDelete", &soft)
	if soft != nil && !*soft {
		return nil, nil, invalidContent("Soft delete cannot be turned off: 'properties.enableSoftDelete' must be true.")
	}
	props["enableSoftDelete"] = mustJSON(true)
	var purge, oldPurge *bool
	_ = getJSON(props, "enablePurgeProtection", &purge)
	_ = getJSON(old, "enablePurgeProtection", &oldPurge)
	if oldPurge != nil && *oldPurge && (purge == nil || !*purge) {
		return nil, nil, invalidContent("Purge protection cannot be turned off once it is on: 'properties.enablePurgeProtection' must stay true.")
	}
	if purge != nil && !*purge {
		delete(props, "enablePurgeProtection") // ARM leaves it out unless it is on
	}
	var days *int
	if err := getJSON(props, "softDeleteRetentionInDays", &days); err != nil {
		return nil, nil, invalidContent("The vault's 'properties.softDeleteRetentionInDays' must be a whole number of days.")
	}
	if days == nil {
		d := DefaultRetentionDays
		days = &d
	}
	if *days < minRetentionDays || *days > maxRetentionDays {
		return nil, nil, invalidContent("The vault's 'properties.softDeleteRetentionInDays' must be between %d and %d.", minRetentionDays, maxRetentionDays)
	}
	props["softDeleteRetentionInDays"] = mustJSON(*days)
	var raw []json.RawMessage
	if err := getJSON(props, accessPoliciesProperty, &raw); err != nil {
		return nil, nil, invalidContent("The vault's 'properties.accessPolicies' must be an array of access policies.")
	}
	delete(props, accessPoliciesProperty)
	policies, err := parseAccessPolicies(tenantID, raw)
	if err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(props)
	if err != nil {
		return nil, nil, errs.Wrap(errs.Internal, err, "encode vault properties")
	}
	return out, policies, nil
}

// parseAccessPolicies validates access policies given in a request.
func parseAccessPolicies(tenantID string, raw []json.RawMessage) ([]AccessPolicy, error) {
	if len(raw) > MaxAccessPolicies {
		return nil, invalidContent("A vault can have at most %d access policies.", MaxAccessPolicies)
	}
	out := make([]AccessPolicy, 0, len(raw))
	for i, r := range raw {
		var p struct {
			TenantID      string                     `json:"tenantId"`
			ObjectID      string                     `json:"objectId"`
			ApplicationID *string                    `json:"applicationId"`
			Permissions   map[string]json.RawMessage `json:"permissions"`
		}
		if err := json.Unmarshal(r, &p); err != nil {
			return nil, invalidContent("Access policy %d is not valid: %s.", i, clip(err.Error()))
		}
		if !guid.Valid(p.TenantID) || !strings.EqualFold(p.TenantID, tenantID) {
			return nil, invalidContent("Access policy %d: 'tenantId' must be the vault's tenant, '%s'.", i, tenantID)
		}
		if !guid.Valid(p.ObjectID) {
			return nil, invalidContent("Access policy %d: 'objectId' must be the object id (a GUID) of a principal.", i)
		}
		ap := AccessPolicy{TenantID: strings.ToLower(p.TenantID), ObjectID: strings.ToLower(p.ObjectID)}
		if p.ApplicationID != nil && *p.ApplicationID != "" {
			if !guid.Valid(*p.ApplicationID) {
				return nil, invalidContent("Access policy %d: 'applicationId' must be a GUID.", i)
			}
			ap.ApplicationID = strings.ToLower(*p.ApplicationID)
		}
		for kind, v := range p.Permissions {
			var perms []string
			if err := json.Unmarshal(v, &perms); err != nil {
				return nil, invalidContent("Access policy %d: 'permissions.%s' must be an array of strings.", i, clip(kind))
			}
			allowed := secretPermissions
			if kind != "secrets" {
				var ok bool
				if allowed, ok = otherPermissions[kind]; !ok {
					return nil, invalidContent("Access policy %d: unknown permission kind '%s'; the kinds are keys, secrets, certificates and storage.", i, clip(kind))
				}
			}
			var canon []string
			for _, x := range perms {
				lx := strings.ToLower(x)
				if !slices.Contains(allowed, lx) {
					return nil, invalidContent("Access policy %d: '%s' is not a permission on %s.", i, clip(x), kind)
				}
				if !slices.Contains(canon, lx) {
					canon = append(canon, lx)
				}
			}
			*ap.Permissions.of(kind) = canon
		}
		if i := slices.IndexFunc(out, func(q AccessPolicy) bool { return q.sameEntry(ap) }); i >= 0 {
			return nil, invalidContent("Access policy %d names the same principal as access policy %d.", len(out), i)
		}
		out = append(out, ap)
	}
	return out, nil
}

// of returns the list of permissions of one kind.
func (p *Permissions) of(kind string) *[]string {
	switch kind {
	case "keys":
		return &p.Keys
	case "certificates":
		return &p.Certificates
	case "storage":
		return &p.Storage
	}
	return &p.Secrets
}

func (p Permissions) empty() bool {
	return len(p.Keys)+len(p.Secrets)+len(p.Certificates)+len(p.Storage) == 0
}

// sameEntry reports whether a and b are the entry of the same principal (and application).
func (a AccessPolicy) sameEntry(b AccessPolicy) bool {
	return a.TenantID == b.TenantID && a.ObjectID == b.ObjectID && a.ApplicationID == b.ApplicationID
}

// updateAccessPolicies applies ARM's accessPolicies/{kind} operation to policies: add merges the
// given permissions into the principal's entry (adding the entry if there is none); replace sets
// the entry's permissions to the given ones (adding it if there is none); remove takes the given
// permissions out of the entry and drops an entry left with none, or the whole entry when the
// given one lists no permissions.
func updateAccessPolicies(policies []AccessPolicy, kind string, given []AccessPolicy) ([]AccessPolicy, error) {
	out := slices.Clone(policies)
	for _, g := range given {
		i := slices.IndexFunc(out, func(p AccessPolicy) bool { return p.sameEntry(g) })
		switch kind {
		case accessPolicyKindAdd:
			if i < 0 {
				out = append(out, g)
				continue
			}
			for _, k := range []string{"keys", "secrets", "certificates", "storage"} {
				dst := out[i].Permissions.of(k)
				for _, x := range *g.Permissions.of(k) {
					if !slices.Contains(*dst, x) {
						*dst = append(slices.Clone(*dst), x)
					}
				}
			}
		case accessPolicyKindReplace:
			if i < 0 {
				out = append(out, g)
			} else {
				out[i].Permissions = g.Permissions
			}
		case accessPolicyKindRemove:
			if i < 0 {
				continue
			}
			if g.Permissions.empty() {
				out = slices.Delete(out, i, i+1)
				continue
			}
			for _, k := range []string{"keys", "secrets", "certificates", "storage"} {
				dst := out[i].Permissions.of(k)
				*dst = slices.DeleteFunc(slices.Clone(*dst), func(x string) bool { return slices.Contains(*g.Permissions.of(k), x) })
				if len(*dst) == 0 {
					*dst = nil
				}
			}
			if out[i].Permissions.empty() {
				out = slices.Delete(out, i, i+1)
			}
		default:
			return nil, invalidContent("The access policy operation '%s' is not valid: it must be add, replace or remove.", clip(kind))
		}
	}
	if len(out) > MaxAccessPolicies {
		return nil, invalidContent("A vault can have at most %d access policies.", MaxAccessPolicies)
	}
	return out, nil
}

// VaultURI returns https://{name}.{vaultDomain}[:port]/: the port of the vault domain, or of
// publicURL when the vault domain has none, unless it is 443.
func VaultURI(name, vaultDomain, publicURL string) string {
	host, port, err := net.SplitHostPort(vaultDomain)
	if err != nil {
		host = vaultDomain
		if u, err := url.Parse(publicURL); err == nil {
			port = u.Port()
		}
	}
	h := strings.ToLower(name) + "." + host
	if port != "" && port != "443" {
		h = net.JoinHostPort(h, port)
	}
	return "https://" + h + "/"
}

// getJSON decodes props[key] into v when it is present and not null.
func getJSON(props map[string]json.RawMessage, key string, v any) error {
	raw, ok := props[key]
	if !ok || string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, v)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
