package token

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

var _ authn.Verifier = (*Service)(nil)

// Limits on tokens presented for verification.
const (
	// MaxTokenSize bounds a compact JWS presented to VerifyToken.
	MaxTokenSize = 16 << 10
	// NotBeforeSkew is how far in the future a token's nbf may be and the token still accepted,
	// for clock skew between replicas. Expiry has no leeway.
	NotBeforeSkew = 5 * time.Minute
	maxHeader     = 1024 // bytes of decoded protected header
)

// b64 is base64url without padding that rejects non-zero trailing bits, so that every accepted
// part has exactly one spelling (VerifyToken also refuses the line breaks the decoder skips).
var b64 = base64.RawURLEncoding.Strict()

// Verification failures. Their messages say which check failed, in Entra's words where Entra has
// some, and never carry the token.
var (
	errTooLarge     = unauthenticated("The token is malformed: it is larger than %d bytes.", MaxTokenSize)
	errNotJWS       = unauthenticated("The token is malformed: it is not a compact JWS (header.payload.signature in base64url).")
	errHeader       = unauthenticated("The token is malformed: its header is not a JSON object.")
	errPayload      = unauthenticated("The token is malformed: its payload is not a JSON object of the expected claims.")
	errUnsigned     = unauthenticated("Signature validation failed: the token is not signed (alg none).")
	errNoKid        = unauthenticated("Signature validation failed: the token's header has no kid.")
	errCrit         = unauthenticated("Signature validation failed: the token's header has critical extensions (crit), which are not supported.")
	errEmbeddedKey  = unauthenticated("Signature validation failed: the token's header names its own key (jku, x5u, jwk or x5c), which is never trusted.")
	errSignature    = unauthenticated("Signature validation failed.")
	errIssuer       = unauthenticated("Issuer validation failed.")
	errExpired      = unauthenticated("Lifetime validation failed, the token is expired.")
	errNotYetValid  = unauthenticated("Lifetime validation failed, the token is not yet valid.")
	errTenant       = unauthenticated("The token's tenant (tid) is not a GUID.")
	errAudience     = unauthenticated("The token has no audience (aud), or more than one.")
	errNoKeys       = unauthenticated("Signature validation failed: the token service has no published keys.")
	errMissingClaim = map[string]*errs.Error{}
)

func unauthenticated(format string, args ...any) *errs.Error {
	return errs.E(errs.Unauthenticated, format, args...)
}

func init() {
	for _, c := range [...]string{"iss", "tid", "appid", "oid", "uti", "iat", "nbf", "exp"} {
		errMissingClaim[c] = unauthenticated("The token is malformed: it has no %s claim.", c)
	}
}

// VerifyToken checks a token minted by this Lanyard and returns its claims: a compact JWS of at
// most MaxTokenSize bytes, signed RS256 or ES256 (as its key's type says) by a key this service
// publishes now (pending, active or retired), whose iss is the v1 issuer of its tid, whose exp is
// in the future (no leeway) and whose nbf is at most NotBeforeSkew ahead. It does not check the
// audience: authn.Bearer does, per API. Every failure is errs.Unauthenticated.
func (s *Service) VerifyToken(raw string) (authn.Claims, error) {
	if len(raw) > MaxTokenSize {
		return authn.Claims{}, errTooLarge
	}
	dot1, dot2, ok := splitJWS(raw)
	if !ok {
		return authn.Claims{}, errNotJWS
	}
	now := s.now()
	p, err := s.current(now)
	if err != nil {
		return authn.Claims{}, errs.Wrap(errs.Unauthenticated, err, "Signature validation failed: the token service has not loaded its keys.")
	}
	k, err := p.verificationKey(raw[:dot1+1])
	if errors.Is(err, errUnknownKid) && s.lookAgain(p) {
		if p, err = s.current(now); err == nil {
			k, err = p.verificationKey(raw[:dot1+1])
		}
	}
	if err != nil {
		return authn.Claims{}, err
	}
	// A token seen before skips the signature and the claims' parsing; its key was just found
	// still published, and its validity window is checked against now again.
	sum := sumString(raw)
	if c, ok := s.verified.get(sum); ok {
		if now.Unix() >= c.ExpiresAt.Unix() {
			return authn.Claims{}, errExpired
		}
		if c.NotBefore.Unix() > now.Add(NotBeforeSkew).Unix() {
			return authn.Claims{}, errNotYetValid
		}
		return c, nil
	}
	sig, err := b64.DecodeString(raw[dot2+1:])
	if err != nil {
		return authn.Claims{}, errNotJWS
	}
	if !k.verify(raw[:dot2], sig) {
		return authn.Claims{}, errSignature
	}
	payload, err := b64.DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return authn.Claims{}, errNotJWS
	}
	c, err := s.checkClaims(payload, now)
	if err == nil {
		s.verified.put(sum, c, now)
	}
	return c, err
}

// maxVerified bounds the verified-token cache (about 400 bytes an entry).
const maxVerified = 10000

// verifiedCache remembers the claims of tokens that verified, by the SHA-256 of the whole token,
// so that a client presenting the same token again (every SDK does, until it nears expiry) costs
// a hash and a map lookup instead of an RSA verification and a JSON parse.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[32]byte]authn.Claims
}

func (v *verifiedCache) get(sum [32]byte) (authn.Claims, bool) {
	v.mu.Lock()
	c, ok := v.m[sum]
	v.mu.Unlock()
	if ok {
		c.Roles = slices.Clone(c.Roles) // callers may keep or change theirs
	}
	return c, ok
}

// put keeps c; now is the service's clock, by which a full cache drops expired entries.
func (v *verifiedCache) put(sum [32]byte, c authn.Claims, now time.Time) {
	c.Roles = slices.Clone(c.Roles)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[[32]byte]authn.Claims)
	}
	if len(v.m) >= maxVerified {
		// Full: drop the expired entries, and if that is not enough, everything (the next
		// requests verify again; no entry is ever needed for correctness).
		for k, e := range v.m {
			if e.ExpiresAt.Unix() <= now.Unix() {
				delete(v.m, k)
			}
		}
		if len(v.m) >= maxVerified {
			clear(v.m)
		}
	}
	v.m[sum] = c
}

// splitJWS finds the two dots of a compact JWS whose three parts are non-empty and made of
// base64url characters only.
func splitJWS(raw string) (dot1, dot2 int, ok bool) {
	dot1, dot2 = -1, -1
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.' && dot1 < 0:
			dot1 = i
		case c == '.' && dot2 < 0:
			dot2 = i
		default:
			return 0, 0, false
		}
	}
	if dot1 < 1 || dot2 < dot1+2 || dot2 == len(raw)-1 {
		return 0, 0, false
	}
	return dot1, dot2, true
}

// verificationKey returns the published key that signed a token, from the token's encoded header
// and its dot. A header that is byte for byte the one Mint writes for a key needs no decoding;
// any other is decoded and checked.
func (p *snapshot) verificationKey(header string) (*keyMaterial, error) {
	for _, m := range p.published {
		if header == string(m.header) {
			return m, nil
		}
	}
	if len(p.published) == 0 {
		return nil, errNoKeys
	}
	enc := header[:len(header)-1]
	if b64.DecodedLen(len(enc)) > maxHeader {
		return nil, errHeader
	}
	dec, err := b64.DecodeString(enc)
	if err != nil {
		return nil, errNotJWS
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(dec, &h); err != nil || h == nil {
		return nil, errHeader
	}
	var alg, kid string
	if err := stringField(h, "alg", &alg); err != nil {
		return nil, err
	}
	if err := stringField(h, "kid", &kid); err != nil {
		return nil, err
	}
	switch {
	case alg == "" || strings.EqualFold(alg, "none"):
		return nil, errUnsigned
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		return nil, unauthenticated("Signature validation failed: the symmetric algorithm %s is not accepted; tokens are signed %s or %s.", clip(alg), RS256, ES256)
	case alg != RS256 && alg != ES256:
		return nil, unauthenticated("Signature validation failed: the algorithm %s is not supported; tokens are signed %s or %s.", clip(alg), RS256, ES256)
	case h["crit"] != nil:
		return nil, errCrit
	case h["jku"] != nil || h["x5u"] != nil || h["jwk"] != nil || h["x5c"] != nil:
		return nil, errEmbeddedKey
	case kid == "":
		return nil, errNoKid
	}
	for _, m := range p.published {
		if m.kid != kid {
			continue
		}
		if m.alg != alg {
			return nil, unauthenticated("Signature validation failed: the token says %s but its key %s is %s.", alg, m.kid, m.alg)
		}
		return m, nil
	}
	return nil, errs.Wrap(errs.Unauthenticated, errUnknownKid,
		fmt.Sprintf("Signature validation failed: the signing key %q is not one of the keys this issuer publishes.", clip(kid)))
}

// errUnknownKid is the cause of a refusal for a kid the snapshot does not hold: VerifyToken
// looks again in the store before refusing.
var errUnknownKid = errors.New("the kid is not in the loaded key set")

// lookAgain reloads the keys for a token signed by a key this service does not know, at most
// once every LookAgainEvery (by the service's clock): another server may have created the key
// since the last reload. Concurrent callers wait for the reload in progress. It reports whether
// the keys in use changed since p.
func (s *Service) lookAgain(p *snapshot) bool {
	s.lookMu.Lock()
	defer s.lookMu.Unlock()
	if s.snap.Load() != p {
		return true // reloaded meanwhile (by another look, or Run)
	}
	now := s.now()
	if !s.lastLook.IsZero() && !now.Before(s.lastLook) && now.Sub(s.lastLook) < LookAgainEvery {
		return false
	}
	s.lastLook = now
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.ReloadIfChanged(ctx); err != nil {
		s.log().LogAttrs(ctx, slog.LevelWarn, "signing key reload for an unknown key id failed", slog.String("error", err.Error()))
	}
	return s.snap.Load() != p
}

// stringField reads an optional string member of a JSON object.
func stringField(h map[string]json.RawMessage, name string, dst *string) error {
	v, ok := h[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return unauthenticated("The token is malformed: its header's %s is not a string.", name)
	}
	return nil
}

// clip shortens an attacker-chosen string before it goes into a message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// verify checks a JWS signature over a signing input (header.payload).
func (m *keyMaterial) verify(input string, sig []byte) bool {
	// Hash through a stack buffer rather than copying the whole input to the heap.
	h := sha256.New()
	var buf [512]byte
	for len(input) > 0 {
		n := copy(buf[:], input)
		h.Write(buf[:n])
		input = input[n:]
	}
	var sum [sha256.Size]byte
	digest := h.Sum(sum[:0])
	if m.rsa != nil {
		return rsa.VerifyPKCS1v15(&m.rsa.PublicKey, crypto.SHA256, digest, sig) == nil
	}
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(&m.ec.PublicKey, digest, r, s)
}

// wireClaims is a token's payload as Mint writes it. Times decode into int64, which takes JSON
// integers only (no strings, fractions or exponents); 0 counts as missing.
type wireClaims struct {
	Aud     json.RawMessage `json:"aud"`
	Iss     string          `json:"iss"`
	Iat     int64           `json:"iat"`
	Nbf     int64           `json:"nbf"`
	Exp     int64           `json:"exp"`
	AppID   string          `json:"appid"`
	OID     string          `json:"oid"`
	Roles   []string        `json:"roles"`
	TID     string          `json:"tid"`
	UTI     string          `json:"uti"`
	MIResID string          `json:"xms_mirid"`
}

// checkClaims decodes a verified payload and checks its issuer and validity window at now.
func (s *Service) checkClaims(payload []byte, now time.Time) (authn.Claims, error) {
	var w wireClaims
	if err := json.Unmarshal(payload, &w); err != nil {
		return authn.Claims{}, errPayload
	}
	for _, c := range [...]struct {
		name    string
		missing bool
	}{{"iss", w.Iss == ""}, {"tid", w.TID == ""}, {"appid", w.AppID == ""}, {"oid", w.OID == ""}, {"uti", w.UTI == ""},
		{"iat", w.Iat == 0}, {"nbf", w.Nbf == 0}, {"exp", w.Exp == 0}} {
		if c.missing {
			return authn.Claims{}, errMissingClaim[c.name]
		}
	}
	aud, ok := audience(w.Aud)
	if !ok {
		return authn.Claims{}, errAudience
	}
	iat, nbf, exp := w.Iat, w.Nbf, w.Exp
	if !guid.Valid(w.TID) {
		return authn.Claims{}, errTenant
	}
	if w.Iss != s.Issuer(w.TID) {
		return authn.Claims{}, errIssuer
	}
	if now.Unix() >= exp {
		return authn.Claims{}, errExpired
	}
	if nbf > now.Add(NotBeforeSkew).Unix() {
		return authn.Claims{}, errNotYetValid
	}
	return authn.Claims{
		Issuer:    w.Iss,
		Audience:  aud,
		TenantID:  w.TID,
		AppID:     w.AppID,
		ObjectID:  w.OID,
		Roles:     w.Roles,
		MIResID:   w.MIResID,
		ID:        w.UTI,
		IssuedAt:  time.Unix(iat, 0).UTC(),
		NotBefore: time.Unix(nbf, 0).UTC(),
		ExpiresAt: time.Unix(exp, 0).UTC(),
	}, nil
}

// audience reads aud: a non-empty string, or an array of exactly one.
func audience(raw json.RawMessage) (string, bool) {
	var one string
	if len(raw) > 0 && raw[0] == '"' {
		if json.Unmarshal(raw, &one) != nil {
			return "", false
		}
		return one, one != ""
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil || len(list) != 1 {
		return "", false
	}
	return list[0], list[0] != ""
}

// sumString is sha256.Sum256 of s without copying s into a new slice (a token is ~1 kB, hashed
// on every request that carries one; []byte(s) and io.WriteString both copy it). Sum256 only
// reads the bytes and keeps no reference to them.
func sumString(s string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(s), len(s)))
}
