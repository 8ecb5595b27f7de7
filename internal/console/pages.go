package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// routes mounts every page that needs a session.
func (c *Console) routes(mux *http.ServeMux, h func(string, pageFunc)) {
	h("GET /console/{$}", c.home)
	h("POST /console/logout", c.logout)
	h("GET /console/resource-groups", c.groups)
	h("POST /console/resource-groups", c.createGroup)
	h("GET /console/resource-groups/{group}", c.group)
	h("GET /console/sites", c.sites)
	h("POST /console/sites", c.createSite)
	h("GET /console/sites/{group}/{name}", c.site)
	h("GET /console/sites/{group}/{name}/identity", c.siteIdentity)
	h("POST /console/sites/{group}/{name}/identity/system", c.siteSystemIdentity)
	h("POST /console/sites/{group}/{name}/identity/user", c.siteUserIdentity)
	h("POST /console/sites/{group}/{name}/delete", c.deleteSite)
	h("GET /console/sites/{group}/{name}/logstream", c.logStream)
	h("GET /console/sites/{group}/{name}/logstream/events", c.logEvents)
	h("GET /console/identities", c.identities)
	h("POST /console/identities", c.createIdentity)
	h("GET /console/identities/{group}/{name}", c.identity)
	h("POST /console/identities/{group}/{name}/delete", c.deleteIdentity)
	c.vaultRoutes(h)
	c.directoryRoutes(h)
	c.iamRoutes(h)
	c.adminRoutes(h)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *current) error {
	err := c.Store.DeleteConsoleSession(r.Context(), s.ID)
	c.record(r.Context(), audit.Event{Actor: s.Actor(), Action: "console.session.delete", Target: "tenant/" + s.TenantID, Result: result(err)})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, Prefix+"signed-out", http.StatusSeeOther)
	return nil
}

// subscription returns the id of the session's subscription (each tenant has one).
func subscription(ctx context.Context, api *client.Client) (string, error) {
	s, err := api.DefaultSubscription(ctx)
	return s.SubscriptionID, err
}

// checkName refuses names the console would not put in a path: the APIs check the rest.
func checkName(what, v string) error {
	if v == "" || len(v) > 128 || strings.ContainsAny(v, "/\\?#%\x00\r\n") {
		return errs.E(errs.Invalid, "%s %q is not a valid name", what, v)
	}
	return nil
}

// groupNames lists the subscription's resource groups by name.
func groupNames(ctx context.Context, api *client.Client, sub string) ([]string, error) {
	var gs []client.Resource
	if err := api.ARM(ctx, http.MethodGet, client.SubscriptionPath(sub)+"/resourcegroups", client.APIVersionResourceGroups, nil, &gs); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, g.Name)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out, nil
}

// armPage reads one page, at most top items, of the management API's list at path into out (a
// pointer to a slice), starting where skip (a $skipToken the API gave, "" for the first page)
// says, and returns the $skipToken of the next page ("" after the last): the API's own paging
// ($top, nextLink), as the SDKs' pagers use it.
func armPage(ctx context.Context, api *client.Client, path, apiVersion string, top int, skip string, out any) (string, error) {
	q := url.Values{"api-version": {apiVersion}, "$top": {strconv.Itoa(top)}}
	if skip != "" {
		q.Set("$skipToken", skip)
	}
	var page struct {
		Value    json.RawMessage `json:"value"`
		NextLink string          `json:"nextLink"`
	}
	if err := api.Do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
		return "", err
	}
	if err := json.Unmarshal(page.Value, out); err != nil {
		return "", fmt.Errorf("decode the list at %s: %w", path, err)
	}
	if page.NextLink == "" {
		return "", nil
	}
	u, err := url.Parse(page.NextLink)
	if err != nil {
		return "", fmt.Errorf("the list at %s has a bad nextLink: %w", path, err)
	}
	return u.Query().Get("$skipToken"), nil
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	skip := r.URL.Query().Get("next")
	var gs []client.Resource
	next, err := armPage(r.Context(), api, client.SubscriptionPath(sub)+"/resourcegroups", client.APIVersionResourceGroups, pageSize, skip, &gs)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(gs))
	for _, g := range gs {
		names = append(names, g.Name)
	}
	return c.render(w, r, "groups.html", &page{Title: "Resource groups", Nav: "groups",
		Data: map[string]any{"Groups": names, "Sub": sub, "Next": next, "First": skip == ""}})
}

func (c *Console) createGroup(w http.ResponseWriter, r *http.Request, s *current) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := checkName("resource group", name); err != nil {
		return err
	}
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	loc := r.PostForm.Get("location")
	if loc == "" {
		loc = "local"
	}
	if err := api.ARM(r.Context(), http.MethodPut, client.ResourceGroupPath(sub, name), client.APIVersionResourceGroups, map[string]string{"location": loc}, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"resource-groups/"+pathEsc(name), "created")
}

func (c *Console) group(w http.ResponseWriter, r *http.Request, s *current) error {
	name := r.PathValue("group")
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	var g client.Resource
	if err := api.ARM(r.Context(), http.MethodGet, client.ResourceGroupPath(sub, name), client.APIVersionResourceGroups, nil, &g); err != nil {
		return err
	}
	skip := r.URL.Query().Get("next")
	var rs []client.Resource
	next, err := armPage(r.Context(), api, client.ResourceGroupPath(sub, name)+"/resources", client.APIVersionResourceGroups, pageSize, skip, &rs)
	if err != nil {
		return err
	}
	rows := make([]resourceRow, 0, len(rs))
	for _, x := range rs {
		rows = append(rows, rowOf(x))
	}
	return c.render(w, r, "group.html", &page{Title: g.Name, Nav: "groups", Crumb: []crumb{{"Resource groups", Prefix + "resource-groups"}},
		Data: map[string]any{"Group": g, "Resources": rows, "Next": next, "First": skip == ""}})
}

// resourceRow is a resource in a list, with the console page it has.
type resourceRow struct {
	Name, Type, Group, Href, Kind string
}

func rowOf(x client.Resource) resourceRow {
	row := resourceRow{Name: x.Name, Type: x.Type, Group: groupOf(x.ID), Kind: x.Kind}
	switch strings.ToLower(x.Type) {
	case strings.ToLower(client.TypeSites):
		row.Href = Prefix + "sites/" + pathEsc(row.Group) + "/" + pathEsc(x.Name)
	case strings.ToLower(client.TypeIdentities):
		row.Href = Prefix + "identities/" + pathEsc(row.Group) + "/" + pathEsc(x.Name)
	case strings.ToLower(client.TypeVaults):
		row.Href = Prefix + "vaults/" + pathEsc(row.Group) + "/" + pathEsc(x.Name)
	}
	return row
}

// groupOf returns the resource group named in an ARM id.
func groupOf(id string) string {
	segs := strings.Split(id, "/")
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "resourceGroups") {
			return segs[i+1]
		}
	}
	return ""
}

// properties decodes a resource's properties into out, ignoring what does not fit.
func properties(x client.Resource, out any) {
	if len(x.Properties) > 0 {
		_ = json.Unmarshal(x.Properties, out)
	}
}
