package console

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// siteKinds are the two kinds of Microsoft.Web/sites, with the portal's names.
var siteKinds = map[string]string{"functionapp": "Function App", "app": "App Services"}

func isFunctionApp(kind string) bool { return strings.Contains(strings.ToLower(kind), "functionapp") }

func kindKey(kind string) string {
	if isFunctionApp(kind) {
		return "functionapp"
	}
	return "app"
}

// siteReads bounds the API pages one view of a site list reads while looking for sites of its
// kind; the next link goes on from where it stopped.
const siteReads = 10

func (c *Console) sites(w http.ResponseWriter, r *http.Request, s *current) error {
	kind := r.URL.Query().Get("kind")
	if _, ok := siteKinds[kind]; !ok {
		kind = "functionapp"
	}
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	// Sites of both kinds share one list: read pages of at most the rows still missing, so that
	// a page never overshoots and its next link is the API's own; at most siteReads pages a view.
	first := r.URL.Query().Get("next")
	skip := first
	var rows []resourceRow
	for range siteReads {
		var got []client.Resource
		next, err := armPage(r.Context(), api, client.SubscriptionPath(sub)+"/providers/"+client.TypeSites, client.APIVersionSites, pageSize-len(rows), skip, &got)
		if err != nil {
			return err
		}
		for _, x := range got {
			if kindKey(x.Kind) == kind {
				rows = append(rows, rowOf(x))
			}
		}
		skip = next
		if skip == "" || len(rows) == pageSize {
			break
		}
	}
	groups, err := groupNames(r.Context(), api, sub)
	if err != nil {
		return err
	}
	return c.render(w, r, "sites.html", &page{Title: siteKinds[kind], Nav: kind,
		Data: map[string]any{"Sites": rows, "Kind": kind, "Groups": groups, "Next": skip, "First": first == ""}})
}

// sitePut is the body of a PUT that replaces a site (what can be written).
type sitePut struct {
	Location   string            `json:"location"`
	Kind       string            `json:"kind"`
	Tags       map[string]string `json:"tags,omitempty"`
	Identity   *client.Identity  `json:"identity,omitempty"`
	Properties json.RawMessage   `json:"properties,omitempty"`
}

func (c *Console) createSite(w http.ResponseWriter, r *http.Request, s *current) error {
	f := r.PostForm
	name, group, kind, node := strings.TrimSpace(f.Get("name")), f.Get("group"), f.Get("kind"), strings.TrimSpace(f.Get("node"))
	if err := checkName("name", name); err != nil {
		return err
	}
	if err := checkName("resource group", group); err != nil {
		return err
	}
	if _, ok := siteKinds[kind]; !ok {
		return errs.E(errs.Invalid, "kind must be functionapp or app")
	}
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	body := sitePut{Location: "local", Kind: kind}
	if node != "" {
		if err := checkName("node", node); err != nil {
			return err
		}
		body.Properties, _ = json.Marshal(map[string]any{"lanyard": map[string]string{"node": node}})
	}
	path := client.ResourcePath(sub, group, client.TypeSites, name)
	var existing client.Resource
	if err := api.ARM(r.Context(), http.MethodGet, path, client.APIVersionSites, nil, &existing); err == nil {
		return errs.E(errs.Conflict, "%s already exists in %s", name, group)
	} else if !client.IsNotFound(err) {
		return err
	}
	if err := api.ARM(r.Context(), http.MethodPut, path, client.APIVersionSites, body, nil); err != nil {
		return err
	}
	return seeOther(w, r, sitePage(group, name), "created")
}

func sitePage(group, name string) string {
	return Prefix + "sites/" + pathEsc(group) + "/" + pathEsc(name)
}

// getSite reads the site of the request's path.
func (c *Console) getSite(ctx context.Context, api *client.Client, r *http.Request) (client.Resource, string, error) {
	sub, err := subscription(ctx, api)
	if err != nil {
		return client.Resource{}, "", err
	}
	path := client.ResourcePath(sub, r.PathValue("group"), client.TypeSites, r.PathValue("name"))
	var site client.Resource
	err = api.ARM(ctx, http.MethodGet, path, client.APIVersionSites, nil, &site)
	return site, path, err
}

func siteCrumb(site client.Resource) []crumb {
	k := kindKey(site.Kind)
	return []crumb{{siteKinds[k], Prefix + "sites?kind=" + k}, {site.Name, sitePage(groupOf(site.ID), site.Name)}}
}

func (c *Console) site(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	site, _, err := c.getSite(r.Context(), api, r)
	if err != nil {
		return err
	}
	var props struct {
		Lanyard struct {
			Node string `json:"node"`
		} `json:"lanyard"`
		DefaultHostName string `json:"defaultHostName"`
		State           string `json:"state"`
	}
	properties(site, &props)
	return c.render(w, r, "site.html", &page{Title: site.Name, Nav: kindKey(site.Kind), Crumb: siteCrumb(site)[:1],
		Data: map[string]any{"Site": site, "Group": groupOf(site.ID), "Node": props.Lanyard.Node, "Host": props.DefaultHostName,
			"Confirm": r.URL.Query().Get("confirm") == "delete", "Label": siteKinds[kindKey(site.Kind)]}})
}

func (c *Console) deleteSite(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	site, path, err := c.getSite(r.Context(), api, r)
	if err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != "yes" {
		return seeOther(w, r, sitePage(groupOf(site.ID), site.Name)+"?confirm=delete", "")
	}
	if err := api.ARM(r.Context(), http.MethodDelete, path, client.APIVersionSites, nil, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"sites?kind="+kindKey(site.Kind), "deleted")
}

// attached is a user-assigned identity attached to a site, for the Identity page.
type attached struct {
	ID, Name, Group, PrincipalID, ClientID string
}

func (c *Console) siteIdentity(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	site, _, err := c.getSite(r.Context(), api, r)
	if err != nil {
		return err
	}
	tab := r.URL.Query().Get("tab")
	if tab != "user" {
		tab = "system"
	}
	data := map[string]any{"Site": site, "Group": groupOf(site.ID), "Tab": tab, "System": site.Identity.HasSystemAssigned()}
	if site.Identity != nil {
		data["PrincipalID"] = site.Identity.PrincipalID
	}
	var users []attached
	if site.Identity != nil {
		for id, v := range site.Identity.UserAssignedIdentities {
			a := attached{ID: id, Name: lastSeg(id), Group: groupOf(id)}
			if v != nil {
				a.PrincipalID, a.ClientID = v.PrincipalID, v.ClientID
			}
			users = append(users, a)
		}
	}
	sort.Slice(users, func(i, j int) bool { return strings.ToLower(users[i].ID) < strings.ToLower(users[j].ID) })
	data["Users"] = users
	if tab == "user" {
		sub, err := subscription(r.Context(), api)
		if err != nil {
			return err
		}
		var all []client.Resource
		if err := api.ARM(r.Context(), http.MethodGet, client.SubscriptionPath(sub)+"/providers/"+client.TypeIdentities, client.APIVersionIdentities, nil, &all); err != nil {
			return err
		}
		var choices []attached
		for _, x := range all {
			if !hasUser(site.Identity, x.ID) {
				choices = append(choices, attached{ID: x.ID, Name: x.Name, Group: groupOf(x.ID)})
			}
		}
		data["Choices"] = choices
	}
	p := &page{Title: site.Name + " | Identity", Nav: kindKey(site.Kind), Crumb: siteCrumb(site), Data: data}
	if r.URL.Query().Get("confirm") == "off" {
		data["ConfirmOff"] = true
	}
	return c.render(w, r, "site_identity.html", p)
}

func lastSeg(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}

// putIdentity replaces the site's identity property: the system-assigned identity on or off, and
// the user-assigned identities users (ARM ids).
func putIdentity(ctx context.Context, api *client.Client, path string, site client.Resource, system bool, users []string) error {
	body := sitePut{Location: site.Location, Kind: site.Kind, Tags: site.Tags, Properties: site.Properties}
	id := &client.Identity{Type: client.IdentityType(system, len(users) > 0)}
	if len(users) > 0 {
		id.UserAssignedIdentities = map[string]*client.UserAssignedIdentity{}
		for _, u := range users {
			id.UserAssignedIdentities[u] = &client.UserAssignedIdentity{}
		}
	}
	body.Identity = id
	return api.ARM(ctx, http.MethodPut, path, client.APIVersionSites, body, nil)
}

func userIDs(id *client.Identity) []string {
	if id == nil {
		return nil
	}
	var out []string
	for k := range id.UserAssignedIdentities {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *Console) siteSystemIdentity(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	site, path, err := c.getSite(r.Context(), api, r)
	if err != nil {
		return err
	}
	idPage := sitePage(groupOf(site.ID), site.Name) + "/identity"
	want := r.PostForm.Get("status")
	if want != "on" && want != "off" {
		return errs.E(errs.Invalid, "status must be on or off")
	}
	on := site.Identity.HasSystemAssigned()
	if (want == "on") == on {
		return seeOther(w, r, idPage, "saved")
	}
	if want == "off" && r.PostForm.Get("confirm") != "yes" {
		return seeOther(w, r, idPage+"?confirm=off", "")
	}
	if err := putIdentity(r.Context(), api, path, site, want == "on", userIDs(site.Identity)); err != nil {
		return err
	}
	return seeOther(w, r, idPage, "saved")
}

func (c *Console) siteUserIdentity(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	site, path, err := c.getSite(r.Context(), api, r)
	if err != nil {
		return err
	}
	id := r.PostForm.Get("id")
	if !strings.HasPrefix(strings.ToLower(id), "/subscriptions/") {
		return errs.E(errs.Invalid, "choose a user-assigned identity")
	}
	users := userIDs(site.Identity)
	switch r.PostForm.Get("action") {
	case "add":
		if !hasUser(site.Identity, id) {
			users = append(users, id)
		}
	case "remove":
		var keep []string
		for _, u := range users {
			if !strings.EqualFold(u, id) {
				keep = append(keep, u)
			}
		}
		users = keep
	default:
		return errs.E(errs.Invalid, "action must be add or remove")
	}
	if err := putIdentity(r.Context(), api, path, site, site.Identity.HasSystemAssigned(), users); err != nil {
		return err
	}
	ok := "added"
	if r.PostForm.Get("action") == "remove" {
		ok = "removed"
	}
	return seeOther(w, r, sitePage(groupOf(site.ID), site.Name)+"/identity?tab=user", ok)
}

// hasUser reports whether the identity property has the user-assigned identity rid attached.
func hasUser(id *client.Identity, rid string) bool {
	if id == nil {
		return false
	}
	for k := range id.UserAssignedIdentities {
		if strings.EqualFold(k, rid) {
			return true
		}
	}
	return false
}
