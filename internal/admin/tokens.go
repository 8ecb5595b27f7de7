package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
	"github.com/lanyardhq/lanyard/internal/httpx"
	"github.com/lanyardhq/lanyard/internal/token"
)

// Minter mints a token for a service principal, as the token endpoints would for that identity:
// the server combines the directory's view of the principal (app id, roles on the resource,
// managed identity resource id) with token.Service.Mint. resource is a resource or a scope as
// requested: the implementation trims one trailing "/.default" (token.Resource), as the token
// endpoints do. A resource that names no service principal of the tenant is errs.Invalid; an
// unknown principal errs.NotFound.
type Minter interface {
	MintFor(ctx context.Context, tenantID, principalID, resource string) (token.Token, error)
}

// MintRequest is the body of POST /admin/v1/tokens.
type MintRequest struct {
	PrincipalID string `json:"principalId"`
	Resource    string `json:"resource"`           // a resource or a scope ("…/.default")
	TenantID    string `json:"tenantId,omitempty"` // default: the default tenant
}

// TokenResponse is the answer of POST /admin/v1/tokens, shaped like IMDS's: every number a
// string of decimal digits.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   string `json:"expires_in"`
	ExpiresOn   string `json:"expires_on"`
	NotBefore   string `json:"not_before"`
	Resource    string `json:"resource"`
	ClientID    string `json:"client_id"`
}

// mintToken serves POST /admin/v1/tokens: a token for any service principal, for tests and
// debugging. The mint is audited (action token.mint, target the principal); the token is not.
func (a *API) mintToken(w http.ResponseWriter, r *http.Request) error {
	if a.Tokens == nil {
		return errs.E(errs.Unavailable, "this server cannot mint tokens for identities yet (no directory is wired)")
	}
	var in MintRequest
	if err := httpx.DecodeJSON(r, &in); err != nil {
		return err
	}
	resource := in.Resource
	tenantID := strings.ToLower(in.TenantID)
	if tenantID == "" && a.DefaultTenant != nil {
		tenantID = a.DefaultTenant()
	}
	switch {
	case !guid.Valid(in.PrincipalID):
		return errs.E(errs.Invalid, "principalId must be the object id (a GUID) of a service principal")
	case token.Resource(resource) == "":
		return errs.E(errs.Invalid, "resource must name the API the token is for, such as https://vault.azure.net")
	case len(resource) > token.MaxAudience:
		return errs.E(errs.Invalid, "resource must be at most %d bytes", token.MaxAudience)
	case !guid.Valid(tenantID):
		return errs.E(errs.Invalid, "tenantId must be a GUID")
	}
	principalID := strings.ToLower(in.PrincipalID)
	p, _ := authn.From(r.Context())
	ev := audit.Event{Actor: p.Actor, Action: "token.mint", Target: principalID, RequestID: httpx.RequestID(r.Context()),
		Detail: "resource=" + resource + " tenant=" + tenantID}
	tok, merr := a.Tokens.MintFor(r.Context(), tenantID, principalID, resource)
	ev.Result = audit.Success
	if merr != nil {
		ev.Result = audit.Failure
	} else {
		ev.Detail += " uti=" + tok.ID
	}
	if _, err := a.Record.Record(r.Context(), ev); err != nil {
		return err
	}
	if merr != nil {
		return merr
	}
	httpx.WriteJSON(w, http.StatusOK, TokenResponse{
		AccessToken: tok.Raw,
		TokenType:   "Bearer",
		ExpiresIn:   strconv.FormatInt(int64(tok.ExpiresAt.Sub(tok.IssuedAt).Seconds()), 10),
		ExpiresOn:   strconv.FormatInt(tok.ExpiresAt.Unix(), 10),
		NotBefore:   strconv.FormatInt(tok.IssuedAt.Unix(), 10),
		Resource:    tok.Audience,
		ClientID:    appIDOf(tok.Raw),
	})
	return nil
}

// appIDOf reads the appid claim of a token this server just minted ("" if it cannot).
func appIDOf(raw string) string {
	_, rest, _ := strings.Cut(raw, ".")
	payload, _, _ := strings.Cut(rest, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		AppID string `json:"appid"`
	}
	_ = json.Unmarshal(b, &c)
	return c.AppID
}
