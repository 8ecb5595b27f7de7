package client

import (
	"context"
	"net/http"
	"net/url"
)

// Sites' app settings, function keys and deployment packages, on the management API under a
// site's id (site below: /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Web/sites/{name}).

// AppSettings returns a site's app settings with their values (the list action).
func (c *Client) AppSettings(ctx context.Context, site string) (map[string]string, error) {
	var out struct {
		Properties map[string]string `json:"properties"`
	}
	err := c.ARM(ctx, http.MethodPost, site+"/config/appsettings/list", APIVersionSites, nil, &out)
	if out.Properties == nil {
		out.Properties = map[string]string{}
	}
	return out.Properties, err
}

// SetAppSettings replaces a site's app settings.
func (c *Client) SetAppSettings(ctx context.Context, site string, settings map[string]string) error {
	return c.ARM(ctx, http.MethodPut, site+"/config/appsettings", APIVersionSites, map[string]any{"properties": settings}, nil)
}

// Deployment is the answer of a zip deployment.
type Deployment struct {
	ID       string `json:"id"`
	Status   int    `json:"status"` // 4: succeeded (Kudu's)
	Complete bool   `json:"complete"`
	Active   bool   `json:"active"`
	Message  string `json:"message"`
	Deployer string `json:"deployer"`
	Author   string `json:"author"`
	SiteName string `json:"site_name"`
	Digest   string `json:"digest"` // "sha256:" + hex of the package
	Size     int64  `json:"size"`
}

// ZipDeploy uploads a zip package to a site and makes it the site's current package (Lanyard's
// POST {site}/extensions/zipdeploy, its stand-in for Kudu's /api/zipdeploy). It returns the raw
// answer too.
func (c *Client) ZipDeploy(ctx context.Context, site string, zip []byte) (*Response, error) {
	p, err := withAPIVersion(site+"/extensions/zipdeploy", APIVersionSites)
	if err != nil {
		return nil, err
	}
	return c.Send(ctx, http.MethodPost, p, http.Header{"Content-Type": {"application/zip"}}, zip)
}

// HostKeys are a function app's host-level keys, as host/default/listkeys answers.
type HostKeys struct {
	MasterKey    string            `json:"masterKey"`
	FunctionKeys map[string]string `json:"functionKeys"`
	SystemKeys   map[string]string `json:"systemKeys"`
}

// ListHostKeys returns a function app's master, host and system keys.
func (c *Client) ListHostKeys(ctx context.Context, site string) (HostKeys, error) {
	var out HostKeys
	err := c.ARM(ctx, http.MethodPost, site+"/host/default/listkeys", APIVersionSites, nil, &out)
	return out, err
}

// KeyInfo is a key as the key writes answer it.
type KeyInfo struct {
	ID         string `json:"id,omitempty"`
	Name       string `json:"name"`
	Properties struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"properties"`
}

// The kinds of host-level keys (ARM's path segments).
const (
	KeyTypeFunction = "functionKeys"
	KeyTypeSystem   = "systemKeys"
	KeyTypeMaster   = "masterKey"
)

// SetHostKey sets a host-level key of kind (KeyTypeFunction, KeyTypeSystem, KeyTypeMaster); an
// empty value asks the server to generate one.
func (c *Client) SetHostKey(ctx context.Context, site, kind, name, value string) (KeyInfo, error) {
	var out KeyInfo
	err := c.ARM(ctx, http.MethodPut, site+"/host/default/"+kind+"/"+url.PathEscape(name), APIVersionSites, keyBody(name, value), &out)
	return out, err
}

// DeleteHostKey deletes a host-level key.
func (c *Client) DeleteHostKey(ctx context.Context, site, kind, name string) error {
	return c.ARM(ctx, http.MethodDelete, site+"/host/default/"+kind+"/"+url.PathEscape(name), APIVersionSites, nil, nil)
}

// ListFunctionKeys returns a function's own keys (its default key is made on the first read).
func (c *Client) ListFunctionKeys(ctx context.Context, site, function string) (map[string]string, error) {
	out := map[string]string{}
	err := c.ARM(ctx, http.MethodPost, site+"/functions/"+url.PathEscape(function)+"/listkeys", APIVersionSites, nil, &out)
	return out, err
}

// SetFunctionKey sets a function's key; an empty value asks the server to generate one.
func (c *Client) SetFunctionKey(ctx context.Context, site, function, name, value string) (KeyInfo, error) {
	var out KeyInfo
	err := c.ARM(ctx, http.MethodPut, site+"/functions/"+url.PathEscape(function)+"/keys/"+url.PathEscape(name), APIVersionSites, keyBody(name, value), &out)
	return out, err
}

// DeleteFunctionKey deletes a function's key.
func (c *Client) DeleteFunctionKey(ctx context.Context, site, function, name string) error {
	return c.ARM(ctx, http.MethodDelete, site+"/functions/"+url.PathEscape(function)+"/keys/"+url.PathEscape(name), APIVersionSites, nil, nil)
}

func keyBody(name, value string) map[string]any {
	p := map[string]string{"name": name}
	if value != "" {
		p["value"] = value
	}
	return map[string]any{"properties": p}
}
