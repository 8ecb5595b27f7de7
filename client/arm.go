package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The management API (ARM subset): subscriptions, resource groups, resources and their identity
// property, RBAC role assignments and definitions, in ARM's shapes and paths.

// The api-versions the client sends. Lanyard accepts any published version of a type; these are
// the ones az sends for the same calls.
const (
	APIVersionSubscriptions  = "2022-12-01" // Microsoft.Resources/subscriptions
	APIVersionResourceGroups = "2021-04-01" // Microsoft.Resources/resourceGroups
	APIVersionSites          = "2022-09-01" // Microsoft.Web/sites
	APIVersionIdentities     = "2023-01-31" // Microsoft.ManagedIdentity/userAssignedIdentities
	APIVersionMachines       = "2022-12-27" // Microsoft.HybridCompute/machines
	APIVersionVaults         = "2023-07-01" // Microsoft.KeyVault/vaults
	APIVersionAuthorization  = "2022-04-01" // Microsoft.Authorization/roleAssignments and roleDefinitions
)

// Resource types, in ARM's casing.
const (
	TypeSubscriptions   = "Microsoft.Resources/subscriptions"
	TypeResourceGroups  = "Microsoft.Resources/resourceGroups"
	TypeSites           = "Microsoft.Web/sites"
	TypeIdentities      = "Microsoft.ManagedIdentity/userAssignedIdentities"
	TypeMachines        = "Microsoft.HybridCompute/machines"
	TypeVaults          = "Microsoft.KeyVault/vaults"
	TypeRoleAssignments = "Microsoft.Authorization/roleAssignments"
	TypeRoleDefinitions = "Microsoft.Authorization/roleDefinitions"
)

// apiVersions maps a resource type, in lower case, to the api-version the client sends for it.
var apiVersions = map[string]string{
	strings.ToLower(TypeSubscriptions):   APIVersionSubscriptions,
	strings.ToLower(TypeResourceGroups):  APIVersionResourceGroups,
	strings.ToLower(TypeSites):           APIVersionSites,
	strings.ToLower(TypeIdentities):      APIVersionIdentities,
	strings.ToLower(TypeMachines):        APIVersionMachines,
	strings.ToLower(TypeVaults):          APIVersionVaults,
	strings.ToLower(TypeRoleAssignments): APIVersionAuthorization,
	strings.ToLower(TypeRoleDefinitions): APIVersionAuthorization,
}

// APIVersion returns the api-version the client sends for a resource type such as
// "Microsoft.Web/sites" (any case), and whether the type is one the management API serves.
func APIVersion(resourceType string) (string, bool) {
	v, ok := apiVersions[strings.ToLower(resourceType)]
	return v, ok
}

// ResourceTypes lists the resource types APIVersion knows, in ARM's casing.
func ResourceTypes() []string {
	return []string{TypeSubscriptions, TypeResourceGroups, TypeSites, TypeIdentities, TypeMachines, TypeVaults, TypeRoleAssignments, TypeRoleDefinitions}
}

// Subscription is ARM's subscription as GET /subscriptions lists it.
type Subscription struct {
	ID             string `json:"id"` // /subscriptions/{subscriptionId}
	SubscriptionID string `json:"subscriptionId"`
	TenantID       string `json:"tenantId,omitempty"`
	DisplayName    string `json:"displayName,omitempty"`
	State          string `json:"state,omitempty"`
}

// The values of a resource's identity.type.
const (
	IdentityNone                       = "None"
	IdentitySystemAssigned             = "SystemAssigned"
	IdentityUserAssigned               = "UserAssigned"
	IdentitySystemAssignedUserAssigned = "SystemAssigned, UserAssigned"
)

// Identity is a resource's identity property.
type Identity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"` // read-only: the system-assigned identity's
	TenantID    string `json:"tenantId,omitempty"`    // read-only
	// UserAssignedIdentities maps the ARM ids of the attached user-assigned identities to their
	// principal and client ids (read-only; sent as {}).
	UserAssignedIdentities map[string]*UserAssignedIdentity `json:"userAssignedIdentities,omitempty"`
}

// UserAssignedIdentity is the value of an entry of Identity.UserAssignedIdentities.
type UserAssignedIdentity struct {
	PrincipalID string `json:"principalId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
}

// HasSystemAssigned reports whether the identity type includes the system-assigned identity.
func (i *Identity) HasSystemAssigned() bool {
	return i != nil && strings.Contains(strings.ToLower(i.Type), "systemassigned")
}

// IdentityType returns identity.type for a resource with or without its system-assigned identity
// and with or without user-assigned identities.
func IdentityType(system, user bool) string {
	switch {
	case system && user:
		return IdentitySystemAssignedUserAssigned
	case system:
		return IdentitySystemAssigned
	case user:
		return IdentityUserAssigned
	}
	return IdentityNone
}

// Resource is the envelope every ARM resource shares; Properties is kept as the server sent it.
type Resource struct {
	ID         string            `json:"id,omitempty"`
	Name       string            `json:"name,omitempty"`
	Type       string            `json:"type,omitempty"`
	Kind       string            `json:"kind,omitempty"`
	Location   string            `json:"location,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Identity   *Identity         `json:"identity,omitempty"`
	Properties json.RawMessage   `json:"properties,omitempty"`
}

// AzureRoleAssignment is an RBAC role assignment (Microsoft.Authorization/roleAssignments).
type AzureRoleAssignment struct {
	ID         string                        `json:"id,omitempty"`
	Name       string                        `json:"name,omitempty"`
	Type       string                        `json:"type,omitempty"`
	Properties AzureRoleAssignmentProperties `json:"properties"`
}

// AzureRoleAssignmentProperties are a role assignment's properties.
type AzureRoleAssignmentProperties struct {
	RoleDefinitionID string `json:"roleDefinitionId"` // the role definition's ARM id
	PrincipalID      string `json:"principalId"`
	PrincipalType    string `json:"principalType,omitempty"`
	Scope            string `json:"scope,omitempty"`
	Description      string `json:"description,omitempty"`
}

// AzureRoleDefinition is an RBAC role definition (Microsoft.Authorization/roleDefinitions).
type AzureRoleDefinition struct {
	ID         string `json:"id"`
	Name       string `json:"name"` // the role's GUID
	Type       string `json:"type"`
	Properties struct {
		RoleName    string `json:"roleName"`
		Type        string `json:"type"`
		Description string `json:"description"`
	} `json:"properties"`
}

// SubscriptionPath returns /subscriptions/{sub}.
func SubscriptionPath(sub string) string { return "/subscriptions/" + url.PathEscape(sub) }

// ResourceGroupPath returns /subscriptions/{sub}/resourceGroups/{group}.
func ResourceGroupPath(sub, group string) string {
	return SubscriptionPath(sub) + "/resourceGroups/" + url.PathEscape(group)
}

// ResourcePath returns the id of a resource of resourceType ("Microsoft.Web/sites") named name in
// a group, or, with name "", the path of the group's collection of that type.
func ResourcePath(sub, group, resourceType, name string) string {
	p := ResourceGroupPath(sub, group) + "/providers/" + resourceType
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// ARM calls the management API: path is under the server (such as
// "/subscriptions/{s}/resourceGroups?$filter=…") or an absolute URL of this server, whose scheme
// and host are ignored; apiVersion is added as the api-version parameter unless path has one. in,
// if non-nil, is sent as JSON; out, if non-nil, receives the JSON answer. A GET whose out is a
// pointer to a slice reads a collection: it follows nextLink to the end and appends every
// page's value. An answer 202 Accepted that names an operation to poll (Azure-AsyncOperation or
// Location) is polled until the operation ends; then out receives the resource at path (PUT,
// PATCH) or nothing (DELETE).
func (c *Client) ARM(ctx context.Context, method, path, apiVersion string, in, out any) error {
	p, err := withAPIVersion(path, apiVersion)
	if err != nil {
		return err
	}
	if method == http.MethodGet && isSlicePtr(out) {
		return c.armList(ctx, p, apiVersion, out)
	}
	var body []byte
	h := http.Header{}
	if in != nil {
		if body, err = json.Marshal(in); err != nil {
			return err
		}
		h.Set("Content-Type", "application/json")
	}
	resp, err := c.Send(ctx, method, p, h, body)
	if err != nil {
		return err
	}
	if resp.Status == http.StatusAccepted || resp.Status == http.StatusCreated {
		polled, err := c.poll(ctx, resp)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, p, err)
		}
		if polled {
			if method == http.MethodDelete || out == nil {
				return nil
			}
			return c.ARM(ctx, http.MethodGet, p, "", nil, out)
		}
	}
	if out == nil || len(resp.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, p, err)
	}
	return nil
}

// armList reads every page of the collection at p into out, a pointer to a slice.
func (c *Client) armList(ctx context.Context, p, apiVersion string, out any) error {
	seen := map[string]bool{}
	for p != "" {
		if seen[p] {
			return fmt.Errorf("the management API returned the same nextLink twice: %s", p)
		}
		seen[p] = true
		var page struct {
			Value    json.RawMessage `json:"value"`
			NextLink string          `json:"nextLink"`
		}
		if err := c.Do(ctx, http.MethodGet, p, nil, &page); err != nil {
			return err
		}
		if page.Value == nil {
			return fmt.Errorf("GET %s: the answer is not a collection (no value)", p)
		}
		items := reflect.New(reflect.TypeOf(out).Elem())
		if err := json.Unmarshal(page.Value, items.Interface()); err != nil {
			return fmt.Errorf("decode answer of GET %s: %w", p, err)
		}
		dst := reflect.ValueOf(out).Elem()
		dst.Set(reflect.AppendSlice(dst, items.Elem()))
		next := ""
		if page.NextLink != "" {
			var err error
			// ARM's nextLink carries the api-version; add it if it does not.
			if next, err = withAPIVersion(page.NextLink, apiVersion); err != nil {
				return fmt.Errorf("nextLink: %w", err)
			}
		}
		p = next
	}
	return nil
}

// withAPIVersion returns the request path of u with api-version=v added, unless v is "" or u has
// an api-version already.
func withAPIVersion(u, v string) (string, error) {
	p, err := RequestPath(u)
	if err != nil {
		return "", err
	}
	if v == "" {
		return p, nil
	}
	path, query, _ := strings.Cut(p, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("%q has a malformed query: %w", u, err)
	}
	if q.Has("api-version") {
		return p, nil
	}
	if query != "" {
		query += "&"
	}
	return path + "?" + query + "api-version=" + url.QueryEscape(v), nil
}

// maxPolls bounds how often an asynchronous operation is polled.
const maxPolls = 600

// poll follows an asynchronous operation named by resp's Azure-AsyncOperation or Location
// header to its end. It reports false when resp names none (the answer is final).
func (c *Client) poll(ctx context.Context, resp *Response) (bool, error) {
	async := resp.Header.Get("Azure-AsyncOperation")
	loc := resp.Header.Get("Location")
	if async == "" && (loc == "" || resp.Status != http.StatusAccepted) {
		return false, nil
	}
	wait := retryAfter(resp.Header)
	for range maxPolls {
		if err := sleep(ctx, wait); err != nil {
			return true, err
		}
		if async != "" {
			p, err := RequestPath(async)
			if err != nil {
				return true, err
			}
			r, err := c.Send(ctx, http.MethodGet, p, nil, nil)
			if err != nil {
				return true, err
			}
			var op struct {
				Status string `json:"status"`
				Error  *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &op); err != nil {
				return true, fmt.Errorf("decode operation status: %w", err)
			}
			switch strings.ToLower(op.Status) {
			case "succeeded":
				return true, nil
			case "failed", "canceled", "cancelled":
				e := &Error{Status: http.StatusOK, Code: op.Status, Message: "the operation " + strings.ToLower(op.Status)}
				if op.Error != nil {
					e.Code, e.Message = op.Error.Code, op.Error.Message
				}
				return true, e
			}
			wait = retryAfter(r.Header)
			continue
		}
		p, err := RequestPath(loc)
		if err != nil {
			return true, err
		}
		r, err := c.Send(ctx, http.MethodGet, p, nil, nil)
		if err != nil {
			return true, err
		}
		if r.Status != http.StatusAccepted {
			return true, nil
		}
		wait = retryAfter(r.Header)
	}
	return true, errors.New("the operation did not end")
}

// retryAfter reads a Retry-After header in seconds, between 0 and 60, 1 when there is none.
func retryAfter(h http.Header) time.Duration {
	n, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || n < 0 {
		return time.Second
	}
	return time.Duration(min(n, 60)) * time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Subscriptions lists the subscriptions the caller sees (for an administrator on the admin
// socket, those of the tenant it acts in).
func (c *Client) Subscriptions(ctx context.Context) ([]Subscription, error) {
	subs := []Subscription{}
	err := c.ARM(ctx, http.MethodGet, "/subscriptions", APIVersionSubscriptions, nil, &subs)
	return subs, err
}

// DefaultSubscription returns the first subscription the caller sees: each tenant has one,
// created with it.
func (c *Client) DefaultSubscription(ctx context.Context) (Subscription, error) {
	subs, err := c.Subscriptions(ctx)
	if err != nil {
		return Subscription{}, err
	}
	if len(subs) == 0 {
		return Subscription{}, errors.New("no subscription: the management API lists none for this tenant")
	}
	return subs[0], nil
}
