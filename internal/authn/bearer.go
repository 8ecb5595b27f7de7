package authn

import (
	"net/http"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Claims are what a verified access token says.
type Claims struct {
	Issuer    string
	Audience  string
	TenantID  string
	AppID     string
	ObjectID  string
	Roles     []string
	MIResID   string
	ID        string // uti
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// Verifier checks a token minted by this Lanyard: its signature against a published key, its
// algorithm, its issuer (the v1 issuer of the tenant it names) and its validity window. It does
// not check the audience; Bearer does, per API.
type Verifier interface {
	VerifyToken(raw string) (Claims, error)
}

// Bearer authenticates requests to one API by bearer token.
type Bearer struct {
	Verifier  Verifier
	Audiences []string // the identifiers of the API's service principal (any trailing "/" is ignored)
}

// NormalizeAudience makes "https://x/" and "https://x" the same audience, and ignores case, as the
// directory does when it resolves a resource to its service principal (directory.NameKey).
func NormalizeAudience(a string) string { return strings.ToLower(strings.TrimRight(a, "/")) }

// Authenticate returns the caller of r: the principal already in its context (the admin socket),
// or the subject of a valid bearer token for this API. Failures are errs.Unauthenticated with a
// message that says what is wrong (never the token).
func (b *Bearer) Authenticate(r *http.Request) (Principal, error) {
	if p, ok := From(r.Context()); ok {
		return p, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, errs.E(errs.Unauthenticated, "Access token is empty.")
	}
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return Principal{}, errs.E(errs.Unauthenticated, "Authorization header must be 'Bearer <token>'.")
	}
	c, err := b.Verifier.VerifyToken(strings.TrimSpace(raw))
	if err != nil {
		return Principal{}, err
	}
	aud := NormalizeAudience(c.Audience)
	for _, a := range b.Audiences {
		if NormalizeAudience(a) == aud {
			return Principal{
				Actor: "sp:" + c.ObjectID, TenantID: c.TenantID, ObjectID: c.ObjectID, AppID: c.AppID, Roles: c.Roles,
			}, nil
		}
	}
	return Principal{}, errs.E(errs.Unauthenticated, "Invalid audience: the token is for %q, not for this API.", c.Audience)
}

// HasRole reports whether p holds any of roles (application permissions from its token).
func (p Principal) HasRole(roles ...string) bool {
	for _, have := range p.Roles {
		for _, want := range roles {
			if have == want {
				return true
			}
		}
	}
	return false
}
