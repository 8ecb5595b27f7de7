package frontdoor

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// KeySource gives the issuer and the published signing key kid of a tenant. JWKS is the one the
// agent uses.
type KeySource interface {
	Key(ctx context.Context, tenantID, kid string) (issuer string, key *jose.JSONWebKey, err error)
}

// JWKS reads tenants' published keys the way any relying party does: the tenant's OpenID
// discovery document (for the issuer) and its JWKS, over HTTPS from the token service.
//
// Why the public JWKS rather than the agent API: these are the documents Azure's Easy Auth reads
// (openIdIssuer's metadata), they need no credential, they are what every other relying party of
// Lanyard trusts, and the server already publishes the next key before it signs with it and keeps
// a retired one until its tokens expire, so a copy refreshed every RefreshEvery, and at once when
// a token names an unknown kid (at most once per MissEvery), never refuses a valid token. A
// control plane that is unreachable leaves the last keys in force.
type JWKS struct {
	BaseURL string       // the server, https://host:port
	Client  *http.Client // trusts Lanyard's CA
	// Source, when set, gives the client and base URL at each fetch instead (an agent with
	// several servers answers with one that is up).
	Source       func() (*http.Client, string)
	RefreshEvery time.Duration
	MissEvery    time.Duration
	Now          func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantKeys
}

// tenantKeys is one tenant's keys as last fetched.
type tenantKeys struct {
	mu      sync.Mutex // one fetch at a time
	issuer  string
	keys    jose.JSONWebKeySet
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
}

// Defaults of JWKS.
const (
	DefaultKeyRefresh = 10 * time.Minute
	DefaultKeyMiss    = 10 * time.Second
	maxDocument       = 1 << 20
)

var errUnknownKey = errors.New("the token's signing key is not one the tenant publishes")

// Key returns tenantID's issuer and its key kid, fetching the documents when they are old or do
// not have kid.
func (j *JWKS) Key(ctx context.Context, tenantID, kid string) (string, *jose.JSONWebKey, error) {
	now := j.now()
	j.mu.Lock()
	if j.tenants == nil {
		j.tenants = map[string]*tenantKeys{}
	}
	t := j.tenants[tenantID]
	if t == nil {
		t = &tenantKeys{}
		j.tenants[tenantID] = t
	}
	j.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	key := find(t.keys, kid)
	stale := now.Sub(t.fetched) > j.every(j.RefreshEvery, DefaultKeyRefresh)
	missing := key == nil && now.Sub(t.tried) > j.every(j.MissEvery, DefaultKeyMiss)
	if t.issuer == "" || stale || missing {
		t.tried = now
		issuer, keys, err := j.fetch(ctx, tenantID)
		switch {
		case err == nil:
			t.issuer, t.keys, t.fetched = issuer, keys, now
			key = find(keys, kid)
		case t.issuer == "":
			return "", nil, err
		}
		// A failed refresh keeps the keys held.
	}
	if key == nil {
		return t.issuer, nil, errUnknownKey
	}
	return t.issuer, key, nil
}

func (j *JWKS) every(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (j *JWKS) now() time.Time {
	if j.Now != nil {
		return j.Now()
	}
	return time.Now()
}

func find(set jose.JSONWebKeySet, kid string) *jose.JSONWebKey {
	for i := range set.Keys {
		if set.Keys[i].KeyID == kid && set.Keys[i].Use != "enc" {
			return &set.Keys[i]
		}
	}
	return nil
}

// fetch reads the tenant's v1 discovery document (its issuer is the iss of the tokens the agent
// hands out) and the JWKS it names. The JWKS is read from BaseURL with the path of jwks_uri: the
// server's public URL may not be the address the agent reaches it at.
func (j *JWKS) fetch(ctx context.Context, tenantID string) (string, jose.JSONWebKeySet, error) {
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	client, base := j.Client, j.BaseURL
	if j.Source != nil {
		client, base = j.Source()
	}
	base = strings.TrimSuffix(base, "/")
	if err := j.get(ctx, client, base+"/"+url.PathEscape(tenantID)+"/.well-known/openid-configuration", &disc); err != nil {
		return "", jose.JSONWebKeySet{}, err
	}
	u, err := url.Parse(disc.JWKSURI)
	if disc.Issuer == "" || err != nil || u.Path == "" {
		return "", jose.JSONWebKeySet{}, fmt.Errorf("the discovery document of tenant %s has no issuer or jwks_uri", tenantID)
	}
	var set jose.JSONWebKeySet
	if err := j.get(ctx, client, base+u.EscapedPath(), &set); err != nil {
		return "", jose.JSONWebKeySet{}, err
	}
	return disc.Issuer, set, nil
}

func (j *JWKS) get(ctx context.Context, client *http.Client, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxDocument)).Decode(out)
}

// verifier checks tokens against a KeySource and remembers the ones that verified.
type verifier struct {
	keys KeySource
	now  func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]*verified
}

// verified is a token whose signature and issuer were checked: what remains to check on each
// request is its lifetime (against now) and the site's audience and policies.
type verified struct {
	tenant, issuer string
	claims         map[string]any
	audiences      []string
	appID, oid     string
	exp, nbf       time.Time

	once   sync.Once
	header string // X-MS-CLIENT-PRINCIPAL, see principalHeader
}

// The lifetime checks' clock skew, as Microsoft.IdentityModel's default (the library Easy Auth
// is built on).
const clockSkew = 5 * time.Minute

// maxVerified bounds the verified-token cache.
const maxVerified = 10000

func newVerifier(keys KeySource, now func() time.Time) *verifier {
	return &verifier{keys: keys, now: now, cache: map[[32]byte]*verified{}}
}

// Token verification failures: the front door's 401 carries the message (never the token).
var (
	errMalformed = errors.New("the bearer token is malformed")
	errSignature = errors.New("the bearer token's signature is invalid")
	errIssuer    = errors.New("the bearer token was not issued by the expected tenant")
	errExpired   = errors.New("the bearer token is expired")
	errNotYet    = errors.New("the bearer token is not valid yet")
	// errKeysUnavailable: the tenant's keys could not be fetched (503, not the caller's fault).
	errKeysUnavailable = errors.New("the tenant's signing keys cannot be read now")
)

// verify checks raw's signature (a key tenantID publishes) and issuer (tenantID's), and its
// lifetime with clockSkew. A token seen before skips the signature and the parse.
func (v *verifier) verify(ctx context.Context, raw, tenantID string) (*verified, error) {
	if len(raw) > 16<<10 {
		return nil, errMalformed
	}
	sum := sha256.Sum256([]byte(raw))
	v.mu.Lock()
	c := v.cache[sum]
	v.mu.Unlock()
	if c == nil {
		var err error
		if c, err = v.parse(ctx, raw, tenantID); err != nil {
			return nil, err
		}
		v.put(sum, c)
	}
	if c.tenant != tenantID {
		return nil, errIssuer
	}
	now := v.now()
	if !c.exp.IsZero() && now.Add(-clockSkew).After(c.exp) {
		return nil, errExpired
	}
	if !c.nbf.IsZero() && now.Add(clockSkew).Before(c.nbf) {
		return nil, errNotYet
	}
	return c, nil
}

func (v *verifier) parse(ctx context.Context, raw, tenantID string) (*verified, error) {
	if v.keys == nil {
		return nil, errSignature
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, errMalformed
	}
	issuer, key, err := v.keys.Key(ctx, tenantID, tok.Headers[0].KeyID)
	if err != nil {
		if errors.Is(err, errUnknownKey) {
			return nil, errSignature
		}
		return nil, fmt.Errorf("%w: %w", errKeysUnavailable, err)
	}
	var std jwt.Claims
	all := map[string]any{}
	if err := tok.Claims(key.Key, &std, &all); err != nil {
		return nil, errSignature
	}
	if std.Issuer != issuer {
		return nil, errIssuer
	}
	c := &verified{tenant: tenantID, issuer: issuer, claims: all, audiences: std.Audience}
	if std.Expiry == nil {
		return nil, errMalformed
	}
	c.exp = std.Expiry.Time()
	if std.NotBefore != nil {
		c.nbf = std.NotBefore.Time()
	}
	c.appID, _ = all["appid"].(string)
	if c.appID == "" {
		c.appID, _ = all["azp"].(string)
	}
	c.oid, _ = all["oid"].(string)
	return c, nil
}

func (v *verifier) put(sum [32]byte, c *verified) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= maxVerified {
		now := v.now()
		for k, e := range v.cache {
			if now.Add(-clockSkew).After(e.exp) {
				delete(v.cache, k)
			}
		}
		if len(v.cache) >= maxVerified {
			clear(v.cache)
		}
	}
	v.cache[sum] = c
}
