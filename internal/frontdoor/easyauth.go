package frontdoor

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Auth is a site's Easy Auth as the front door enforces it (the server checked it; the field
// names follow authsettingsV2's).
type Auth struct {
	RequireAuthentication bool
	Action                string // AllowAnonymous, Return401, Return403
	ExcludedPaths         []string
	RequireHTTPS          bool
	ClientID              string // the registration's client id: always an allowed audience
	Tenant                string // tokens must be issued by this tenant
	AllowedAudiences      []string
	AllowedApplications   []string // appid or azp
	AllowedIdentities     []string // oid
}

// The unauthenticated client actions the front door knows.
const (
	ActionAllowAnonymous = "AllowAnonymous"
	ActionReturn401      = "Return401"
	ActionReturn403      = "Return403"
)

// Claim types of the principal, as App Service writes them (functions.md §9: short JWT names are
// mapped to these URIs; roles stay "roles", one claim per role).
const (
	nameType = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	roleType = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
)

var claimURIs = map[string]string{
	"tid": "http://schemas.microsoft.com/identity/claims/tenantid",
	"oid": "http://schemas.microsoft.com/identity/claims/objectidentifier",
	"sub": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
	"idp": "http://schemas.microsoft.com/identity/claims/identityprovider",
}

// authPath is the prefix of the platform's own routes (App Service's routes.apiPrefix default).
const authPath = "/.auth"

// easyAuth runs App Service Authentication for r: it reports whether the request goes on to the
// app (with the principal headers set when the caller is authenticated), having answered it
// otherwise. Client copies of the principal headers were removed before.
func (f *FrontDoor) easyAuth(w http.ResponseWriter, r *http.Request, e *entry, info *reqInfo) bool {
	a := e.Auth
	if a.RequireHTTPS && r.TLS == nil {
		// App Service redirects plain HTTP to HTTPS when requireHttps is on; an API client is
		// better served by a refusal that says why (Lanyard's choice).
		plain(w, http.StatusForbidden, "403 Forbidden: this site requires HTTPS.")
		return false
	}
	me := r.URL.Path == authPath+"/me"
	if strings.HasPrefix(r.URL.Path, authPath+"/") && !me {
		plain(w, http.StatusNotFound, "404 Not Found: "+clipHost(r.URL.Path)+" needs an interactive sign-in, which Lanyard does not offer; call the API with a bearer token.")
		return false
	}
	if !me && excluded(a.ExcludedPaths, r.URL.Path) {
		return true
	}
	raw, hasToken, err := bearer(r)
	var c *verified
	if err == nil && hasToken {
		c, err = f.auth.verify(r.Context(), raw, a.Tenant)
		if err == nil && !audienceOK(a, c.audiences) {
			err = errors.New("the bearer token is not for this site (its audience is neither the registration's client id nor an allowed audience)")
		}
	}
	if errors.Is(err, errKeysUnavailable) {
		// Not the caller's fault: the tenant's keys could not be read yet.
		f.cfg.Log.Warn("front door: cannot verify tokens", "site", e.Name, "request_id", info.id, "error", err.Error())
		w.Header().Set("Retry-After", "5")
		plain(w, http.StatusServiceUnavailable, "503 Service Unavailable: the tenant's signing keys cannot be read now; try again.")
		return false
	}
	if err != nil {
		// An invalid token is refused whatever the action: a caller that presents one expects
		// to be authenticated (the status is U on Azure; 401 is what clients retry on).
		challenge(w, r, err.Error())
		return false
	}
	if c == nil {
		if me {
			challenge(w, r, "")
			return false
		}
		if !a.RequireAuthentication || a.Action == ActionAllowAnonymous {
			return true
		}
		if a.Action == ActionReturn403 {
			plain(w, http.StatusForbidden, "403 Forbidden: this site requires an authenticated caller.")
			return false
		}
		challenge(w, r, "")
		return false
	}
	// The built-in authorization policy: the applications and the identities lists are each
	// checked when not empty, and both must pass (functions.md §9). App roles are the app's.
	if len(a.AllowedApplications) > 0 && !containsFold(a.AllowedApplications, c.appID) {
		plain(w, http.StatusForbidden, "403 Forbidden: the calling application is not allowed to access this site.")
		return false
	}
	if len(a.AllowedIdentities) > 0 && !containsFold(a.AllowedIdentities, c.oid) {
		plain(w, http.StatusForbidden, "403 Forbidden: the calling identity is not allowed to access this site.")
		return false
	}
	info.caller = c.oid
	if me {
		writeMe(w, c, principalOf(c))
		return false
	}
	setPrincipal(r.Header, c)
	return true
}

// bearer reads the Authorization header: no header is no token; anything but one Bearer token
// is an error.
func bearer(r *http.Request) (string, bool, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", false, nil
	}
	scheme, tok, ok := strings.Cut(vals[0], " ")
	if len(vals) != 1 || !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false, errors.New("the Authorization header is not one Bearer token")
	}
	return strings.TrimSpace(tok), true, nil
}

func audienceOK(a *Auth, auds []string) bool {
	for _, aud := range auds {
		if a.ClientID != "" && strings.EqualFold(aud, a.ClientID) {
			return true
		}
		for _, allowed := range a.AllowedAudiences {
			if strings.TrimSuffix(aud, "/") == strings.TrimSuffix(allowed, "/") {
				return true
			}
		}
	}
	return false
}

// excluded reports whether path is one of the excluded paths: equal, or under one that ends in
// "/*" (Lanyard reads a trailing /* as "and below"; Azure's matching rule is not documented).
func excluded(paths []string, path string) bool {
	for _, p := range paths {
		if p == path || strings.HasSuffix(p, "/*") && strings.HasPrefix(path, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

func containsFold(list []string, v string) bool {
	if v == "" {
		return false
	}
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(strings.TrimSpace(x), v) })
}

// challenge answers 401 with a Bearer challenge naming the site (RFC 6750; App Service's exact
// value is not documented). desc, when set, says which check failed.
func challenge(w http.ResponseWriter, r *http.Request, desc string) {
	v := `Bearer realm="` + sanitize(r.Host) + `"`
	msg := "401 Unauthorized: this site requires a bearer token."
	if desc != "" {
		v += `, error="invalid_token", error_description="` + sanitize(desc) + `"`
		msg = "401 Unauthorized: " + desc + "."
	}
	w.Header().Set("WWW-Authenticate", v)
	plain(w, http.StatusUnauthorized, msg)
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r > 0x7e {
			return -1
		}
		return r
	}, clipHost(s))
}

// claim is one claim of the principal.
type claim struct {
	Typ string `json:"typ"`
	Val string `json:"val"`
}

// principal is the decoded X-MS-CLIENT-PRINCIPAL.
type principal struct {
	AuthTyp string  `json:"auth_typ"`
	Claims  []claim `json:"claims"`
	NameTyp string  `json:"name_typ"`
	RoleTyp string  `json:"role_typ"`
}

// principalOf maps a token's claims as App Service does: short names to URIs where it maps them,
// one "roles" claim per role, numbers as their decimal text, in the order of the claims' names.
func principalOf(c *verified) principal {
	p := principal{AuthTyp: "aad", NameTyp: nameType, RoleTyp: roleType}
	names := make([]string, 0, len(c.claims))
	for k := range c.claims {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		typ := k
		if u, ok := claimURIs[k]; ok {
			typ = u
		}
		switch v := c.claims[k].(type) {
		case []any:
			for _, x := range v {
				p.Claims = append(p.Claims, claim{typ, text(x)})
			}
		default:
			p.Claims = append(p.Claims, claim{typ, text(v)})
		}
	}
	return p
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// name is the -NAME header's value: the token's name or preferred_username, else (an
// application's token, which has neither) its appid. Azure's value for a service principal is
// not documented.
func (c *verified) name() string {
	for _, k := range []string{"preferred_username", "upn", "name"} {
		if s, ok := c.claims[k].(string); ok && s != "" {
			return s
		}
	}
	return c.appID
}

// setPrincipal adds the four headers App Service adds for an authenticated caller. The Node
// library's request.user needs all of them (functions.md §9). The tokens themselves
// (X-MS-TOKEN-AAD-*) are not passed on: they belong to the token store, which Lanyard has not.
func setPrincipal(h http.Header, c *verified) {
	h.Set("X-MS-CLIENT-PRINCIPAL", c.principalHeader())
	h.Set("X-MS-CLIENT-PRINCIPAL-ID", c.oid)
	h.Set("X-MS-CLIENT-PRINCIPAL-NAME", c.name())
	h.Set("X-MS-CLIENT-PRINCIPAL-IDP", "aad")
}

// principalHeader is the X-MS-CLIENT-PRINCIPAL value of c, made once per verified token (a
// token presented again costs no JSON encoding).
func (c *verified) principalHeader() string {
	c.once.Do(func() {
		b, _ := json.Marshal(principalOf(c))
		c.header = base64.StdEncoding.EncodeToString(b)
	})
	return c.header
}

// writeMe answers /.auth/me as App Service does for a signed-in caller: an array of one entry
// per provider. Without a token store there is no access_token or id_token in it.
func writeMe(w http.ResponseWriter, c *verified, p principal) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode([]map[string]any{{
		"provider_name": "aad",
		"user_id":       c.name(),
		"user_claims":   p.Claims,
		"expires_on":    c.exp.UTC().Format("2006-01-02T15:04:05.0000000Z"),
	}})
}
