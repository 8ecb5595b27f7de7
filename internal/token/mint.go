package token

import (
	"context"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/jsonx"
)

// MintRequest is what a token says. The caller has already decided that the identity may have
// it: Mint checks shapes, not rights.
type MintRequest struct {
	TenantID string   // tid; the issuer is this tenant's v1 issuer
	Audience string   // aud: the resource exactly as requested, after trimming one "/.default" (see Resource)
	AppID    string   // appid: the identity's client id
	ObjectID string   // oid and sub: the identity's service principal object id
	Roles    []string // roles: app role values on the resource's service principal; omitted when empty
	MIResID  string   // xms_mirid: ARM id of the managed identity's resource; omitted when empty
}

// Token is a minted access token.
type Token struct {
	Raw       string // the compact JWS
	ID        string // uti, for audit records
	KeyID     string // kid of the key that signed it
	IssuedAt  time.Time
	ExpiresAt time.Time
	Audience  string
}

// Limits on MintRequest fields.
const (
	MaxAudience = 512
	maxRole     = 256
	maxRoles    = 1024
	maxMIResID  = 2048
)

// Resource returns the resource named by a requested resource or scope: s without one trailing
// "/.default".
func Resource(s string) string { return strings.TrimSuffix(s, "/.default") }

// Mint signs a token for req with the current signing key.
func (s *Service) Mint(ctx context.Context, req MintRequest) (Token, error) {
	if err := req.validate(); err != nil {
		return Token{}, err
	}
	now := s.now()
	p, err := s.current(now)
	if err != nil {
		return Token{}, err
	}
	k := p.signer
	if k == nil {
		return Token{}, errNoKey
	}
	var uti [16]byte
	if _, err := io.ReadFull(s.rand(), uti[:]); err != nil {
		return Token{}, errs.Wrap(errs.Internal, err, "read random token id")
	}
	iat := now.Unix()
	exp := iat + int64(s.cfg().TokenLifetime/time.Second)

	var scratch [1024]byte
	claims := s.appendClaims(scratch[:0], &req, iat, exp, &uti)

	enc := base64.RawURLEncoding
	out := make([]byte, 0, len(k.header)+enc.EncodedLen(len(claims))+1+enc.EncodedLen(k.sigLen()))
	out = append(out, k.header...)
	out = enc.AppendEncode(out, claims)
	sig, err := k.sign(s.rand(), out)
	if err != nil {
		return Token{}, errs.Wrap(errs.Internal, err, "sign token")
	}
	out = append(out, '.')
	out = enc.AppendEncode(out, sig)
	if s.OnMint != nil {
		s.OnMint()
	}
	if s.OnMinted != nil {
		s.OnMinted(req)
	}
	return Token{
		Raw:       string(out),
		ID:        enc.EncodeToString(uti[:]),
		KeyID:     k.kid,
		IssuedAt:  time.Unix(iat, 0).UTC(),
		ExpiresAt: time.Unix(exp, 0).UTC(),
		Audience:  req.Audience,
	}, nil
}

// appendClaims writes the claim set, in the order Entra writes it.
func (s *Service) appendClaims(b []byte, req *MintRequest, iat, exp int64, uti *[16]byte) []byte {
	tid := strings.ToLower(req.TenantID)
	b = append(b, `{"aud":`...)
	b = jsonx.AppendString(b, req.Audience)
	b = append(b, `,"iss":`...)
	b = s.appendIssuer(b, tid)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"appid":"`...)
	b = appendLower(b, req.AppID)
	b = append(b, `","appidacr":"2","idp":`...)
	b = s.appendIssuer(b, tid)
	b = append(b, `,"idtyp":"app","oid":"`...)
	b = appendLower(b, req.ObjectID)
	b = append(b, '"')
	if len(req.Roles) > 0 {
		b = append(b, `,"roles":[`...)
		for i, r := range req.Roles {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonx.AppendString(b, r)
		}
		b = append(b, ']')
	}
	b = append(b, `,"sub":"`...)
	b = appendLower(b, req.ObjectID)
	b = append(b, `","tid":"`...)
	b = append(b, tid...)
	b = append(b, `","uti":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, uti[:])
	b = append(b, `","ver":"1.0"`...)
	if req.MIResID != "" {
		b = append(b, `,"xms_mirid":`...)
		b = jsonx.AppendString(b, req.MIResID)
	}
	return append(b, '}')
}

// appendIssuer writes the v1 issuer of tid as a JSON string.
func (s *Service) appendIssuer(b []byte, tid string) []byte {
	b = append(b, '"')
	b = jsonx.AppendEscaped(b, s.base())
	b = append(b, '/')
	b = append(b, tid...)
	return append(b, '/', '"')
}

// appendLower appends an ASCII string (a GUID) in lower case.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

func (r *MintRequest) validate() error {
	switch {
	case !guid.Valid(r.TenantID):
		return errs.E(errs.Invalid, "the tenant id must be a GUID")
	case !guid.Valid(r.AppID):
		return errs.E(errs.Invalid, "the client id (appid) must be a GUID")
	case !guid.Valid(r.ObjectID):
		return errs.E(errs.Invalid, "the object id (oid) must be a GUID")
	case r.Audience == "":
		return errs.E(errs.Invalid, "the resource (audience) must not be empty")
	case len(r.Audience) > MaxAudience:
		return errs.E(errs.Invalid, "the resource (audience) must be at most %d bytes", MaxAudience)
	case !printable(r.Audience):
		return errs.E(errs.Invalid, "the resource (audience) must be printable UTF-8")
	case len(r.MIResID) > maxMIResID || !printable(r.MIResID):
		return errs.E(errs.Invalid, "the managed identity resource id must be printable UTF-8 of at most %d bytes", maxMIResID)
	case len(r.Roles) > maxRoles:
		return errs.E(errs.Invalid, "a token carries at most %d roles", maxRoles)
	}
	for _, role := range r.Roles {
		if role == "" || len(role) > maxRole || !printable(role) {
			return errs.E(errs.Invalid, "a role value must be 1 to %d bytes of printable UTF-8", maxRole)
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}
