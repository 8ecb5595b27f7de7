package token

import (
	"encoding/json"
	"strings"
)

// The documents published per tenant.
type docKind uint8

const (
	discoveryV1 docKind = iota
	discoveryV2
	jwksV1
	jwksV2
)

type docKey struct {
	tenant string
	kind   docKind
}

// base is the control plane's URL without a trailing slash.
func (s *Service) base() string { return strings.TrimRight(s.BaseURL, "/") }

// Issuer returns the v1 issuer of a tenant, which minted tokens carry as iss and idp:
// {base}/{tenantId}/, trailing slash included.
func (s *Service) Issuer(tenantID string) string {
	return s.base() + "/" + strings.ToLower(tenantID) + "/"
}

// IssuerV2 returns the issuer of a tenant's v2 discovery document: {base}/{tenantId}/v2.0.
func (s *Service) IssuerV2(tenantID string) string {
	return s.base() + "/" + strings.ToLower(tenantID) + "/v2.0"
}

// discovery is an OpenID Provider Metadata document, with the fields Entra publishes that mean
// something for Lanyard.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
}

// claimsSupported lists the claims Mint writes.
var claimsSupported = []string{
	"aud", "iss", "iat", "nbf", "exp", "appid", "appidacr", "idp", "idtyp", "oid", "roles", "sub", "tid", "uti", "ver", "xms_mirid",
}

// document returns one of a tenant's documents under the snapshot p, rendering it on first use.
// tenant is a lower-case tenant id.
func (s *Service) document(p *snapshot, tenant string, kind docKind) []byte {
	key := docKey{tenant, kind}
	if b, ok := p.docs.Load(key); ok {
		return b.([]byte)
	}
	b, _ := p.docs.LoadOrStore(key, s.render(p, tenant, kind))
	return b.([]byte)
}

func (s *Service) render(p *snapshot, tenant string, kind docKind) []byte {
	t := s.base() + "/" + tenant
	var v any
	switch kind {
	case discoveryV1, discoveryV2:
		d := discovery{
			Issuer:                 s.Issuer(tenant),
			AuthorizationEndpoint:  t + "/oauth2/authorize",
			TokenEndpoint:          t + "/oauth2/token",
			JWKSURI:                t + "/discovery/keys",
			ResponseTypesSupported: []string{"code", "id_token", "code id_token", "token id_token", "token"},
			ResponseModesSupported: []string{"query", "fragment", "form_post"},
			// Tokens for applications carry sub = oid whatever the audience.
			SubjectTypesSupported:             []string{"public"},
			IDTokenSigningAlgValuesSupported:  p.algs,
			TokenEndpointAuthMethodsSupported: []string{"private_key_jwt"},
			GrantTypesSupported:               []string{"client_credentials"},
			ScopesSupported:                   []string{"openid"},
			ClaimsSupported:                   claimsSupported,
		}
		if kind == discoveryV2 {
			d.Issuer = s.IssuerV2(tenant)
			d.AuthorizationEndpoint = t + "/oauth2/v2.0/authorize"
			d.TokenEndpoint = t + "/oauth2/v2.0/token"
			d.JWKSURI = t + "/discovery/v2.0/keys"
			d.ResponseTypesSupported = []string{"code", "id_token", "code id_token", "id_token token"}
		}
		if d.IDTokenSigningAlgValuesSupported == nil {
			d.IDTokenSigningAlgValuesSupported = []string{}
		}
		v = d
	case jwksV1, jwksV2:
		iss := s.Issuer(tenant)
		if kind == jwksV2 {
			iss = s.IssuerV2(tenant)
		}
		keys := make([]jwk, len(p.published))
		for i, m := range p.published {
			keys[i] = m.jwk
			keys[i].Issuer = iss
		}
		v = struct {
			Keys []jwk `json:"keys"`
		}{keys}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("token: render document: " + err.Error()) // only strings and slices of them
	}
	return b
}
