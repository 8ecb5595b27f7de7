package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
)

// The directory API's objects, with Microsoft Graph's field names. Optional fields are omitted
// when empty, so a value can be sent as a create body; updates send only what changes.

// AppRole is a role an application defines and its service principal offers.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName"`
	Description        string   `json:"description"`
	AllowedMemberTypes []string `json:"allowedMemberTypes"`
	IsEnabled          bool     `json:"isEnabled"`
	Origin             string   `json:"origin,omitempty"` // read-only
}

// Application is an application registration.
type Application struct {
	ID             string    `json:"id,omitempty"`
	AppID          string    `json:"appId,omitempty"`
	DisplayName    string    `json:"displayName,omitempty"`
	IdentifierURIs []string  `json:"identifierUris,omitempty"`
	AppRoles       []AppRole `json:"appRoles,omitempty"`
	SignInAudience string    `json:"signInAudience,omitempty"`
}

// ServicePrincipal is an application's (or a managed identity's) presence in a tenant.
type ServicePrincipal struct {
	ID                    string    `json:"id,omitempty"`
	AppID                 string    `json:"appId,omitempty"`
	DisplayName           string    `json:"displayName,omitempty"`
	ServicePrincipalType  string    `json:"servicePrincipalType,omitempty"` // Application or ManagedIdentity
	AlternativeNames      []string  `json:"alternativeNames,omitempty"`
	ServicePrincipalNames []string  `json:"servicePrincipalNames,omitempty"`
	AppRoles              []AppRole `json:"appRoles,omitempty"`
	AccountEnabled        *bool     `json:"accountEnabled,omitempty"`
}

// AppRoleAssignment grants a principal an app role on a resource's service principal. Its id is
// not a GUID.
type AppRoleAssignment struct {
	ID                   string `json:"id,omitempty"`
	AppRoleID            string `json:"appRoleId"`
	PrincipalID          string `json:"principalId"`
	ResourceID           string `json:"resourceId"`
	PrincipalDisplayName string `json:"principalDisplayName,omitempty"`
	PrincipalType        string `json:"principalType,omitempty"`
	ResourceDisplayName  string `json:"resourceDisplayName,omitempty"`
	CreatedDateTime      string `json:"createdDateTime,omitempty"`
}

// DefaultAccessRoleID is the appRoleId of an assignment to a resource that defines no roles.
const DefaultAccessRoleID = "00000000-0000-0000-0000-000000000000"

// Group is a security group; its members are service principals.
type Group struct {
	ID              string `json:"id,omitempty"`
	DisplayName     string `json:"displayName,omitempty"`
	MailNickname    string `json:"mailNickname,omitempty"`
	Description     string `json:"description,omitempty"`
	MailEnabled     bool   `json:"mailEnabled"`
	SecurityEnabled bool   `json:"securityEnabled"`
}

// RoleAssignment gives a principal a directory role (unifiedRoleAssignment).
type RoleAssignment struct {
	ID               string `json:"id,omitempty"`
	RoleDefinitionID string `json:"roleDefinitionId"` // the role's template id
	PrincipalID      string `json:"principalId"`
	DirectoryScopeID string `json:"directoryScopeId"` // "/" for the whole tenant
}

// GraphBase is the directory API's root under the server's URL.
const GraphBase = "/v1.0"

// Graph calls the directory API: path is under the server (such as
// "/v1.0/servicePrincipals?$filter=…") or an absolute URL of this server, whose scheme and host
// are ignored. in, if non-nil, is sent as JSON; out, if non-nil, receives the JSON answer. A GET
// whose out is a pointer to a slice reads a collection: it follows @odata.nextLink to the end
// and appends every page's value.
func (c *Client) Graph(ctx context.Context, method, path string, in, out any) error {
	if method == http.MethodGet && isSlicePtr(out) {
		seen := map[string]bool{}
		for path != "" {
			if seen[path] {
				return fmt.Errorf("the directory API returned the same @odata.nextLink twice: %s", path)
			}
			seen[path] = true
			page := reflect.New(reflect.TypeOf(out).Elem())
			next, err := c.GraphPage(ctx, path, page.Interface())
			if err != nil {
				return err
			}
			dst := reflect.ValueOf(out).Elem()
			dst.Set(reflect.AppendSlice(dst, page.Elem()))
			path = next
		}
		return nil
	}
	p, err := RequestPath(path)
	if err != nil {
		return err
	}
	return c.Do(ctx, method, p, in, out)
}

// GraphPage reads one page of a collection at path (as for Graph) into out, a pointer to a slice,
// and returns the next page's link, "" after the last.
func (c *Client) GraphPage(ctx context.Context, path string, out any) (next string, err error) {
	p, err := RequestPath(path)
	if err != nil {
		return "", err
	}
	var page struct {
		Value    json.RawMessage `json:"value"`
		NextLink string          `json:"@odata.nextLink"`
	}
	if err := c.Do(ctx, http.MethodGet, p, nil, &page); err != nil {
		return "", err
	}
	if page.Value == nil {
		return "", fmt.Errorf("GET %s: the answer is not a collection (no value)", p)
	}
	if err := json.Unmarshal(page.Value, out); err != nil {
		return "", fmt.Errorf("decode answer of GET %s: %w", p, err)
	}
	return page.NextLink, nil
}

// RequestPath returns the path and query to send for u: u itself when it starts with "/", the
// path and query of an absolute http(s) URL otherwise (its host is ignored: a client talks to
// one server).
func RequestPath(u string) (string, error) {
	if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") {
		return u, nil
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return "", fmt.Errorf("%q is neither a path (/v1.0/…) nor an http(s) URL", u)
	}
	return pu.RequestURI(), nil
}

func isSlicePtr(v any) bool {
	t := reflect.TypeOf(v)
	// A []byte (json.RawMessage) is raw JSON, not a collection to page through.
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Slice &&
		t.Elem().Elem().Kind() != reflect.Uint8
}

// GraphEntity reads one object from the directory API at path (such as
// "/v1.0/servicePrincipals/{id}") into out.
func (c *Client) GraphEntity(ctx context.Context, path string, out any) error {
	return c.Graph(ctx, http.MethodGet, path, nil, out)
}

// ServicePrincipal returns the service principal whose object id or appId is idOrAppID, trying
// the object id first (both are GUIDs), then appId, like az.
func (c *Client) ServicePrincipal(ctx context.Context, idOrAppID string, out any) error {
	return c.byIDOrAppID(ctx, "servicePrincipals", idOrAppID, out)
}

// Application returns the application whose object id or appId is idOrAppID, trying the object
// id first, then appId.
func (c *Client) Application(ctx context.Context, idOrAppID string, out any) error {
	return c.byIDOrAppID(ctx, "applications", idOrAppID, out)
}

func (c *Client) byIDOrAppID(ctx context.Context, set, id string, out any) error {
	err := c.GraphEntity(ctx, GraphBase+"/"+set+"/"+url.PathEscape(id), out)
	if !IsNotFound(err) {
		return err
	}
	if err2 := c.GraphEntity(ctx, GraphBase+"/"+set+"(appId='"+url.PathEscape(id)+"')", out); !IsNotFound(err2) {
		return err2
	}
	return err
}

// IsNotFound reports whether err is a 404 answer.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// TokenResponse is a token minted by the administrator's API, shaped like IMDS's answer: every
// number a string of decimal digits.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   string `json:"expires_in"`
	ExpiresOn   string `json:"expires_on"`
	NotBefore   string `json:"not_before"`
	Resource    string `json:"resource"`
	ClientID    string `json:"client_id"`
}

// MintToken asks the server for a token for the service principal principalID (its object id)
// for resource (a resource or a "…/.default" scope), in tenantID or, if empty, the default
// tenant. Administrators only.
func (c *Client) MintToken(ctx context.Context, principalID, resource, tenantID string) (TokenResponse, error) {
	var out TokenResponse
	in := map[string]string{"principalId": principalID, "resource": resource}
	if tenantID != "" {
		in["tenantId"] = tenantID
	}
	err := c.Do(ctx, http.MethodPost, "/admin/v1/tokens", in, &out)
	return out, err
}
