package console

import (
	"net/http"
	"strings"

	"github.com/lanyardhq/lanyard/client"
)

// identityProps are a user-assigned identity's properties.
type identityProps struct {
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
	TenantID    string `json:"tenantId"`
}

func (c *Console) identities(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	skip := r.URL.Query().Get("next")
	var all []client.Resource
	next, err := armPage(r.Context(), api, client.SubscriptionPath(sub)+"/providers/"+client.TypeIdentities, client.APIVersionIdentities, pageSize, skip, &all)
	if err != nil {
		return err
	}
	type row struct {
		resourceRow
		identityProps
	}
	rows := make([]row, 0, len(all))
	for _, x := range all {
		var p identityProps
		properties(x, &p)
		rows = append(rows, row{rowOf(x), p})
	}
	groups, err := groupNames(r.Context(), api, sub)
	if err != nil {
		return err
	}
	return c.render(w, r, "identities.html", &page{Title: "Managed Identities", Nav: "identities",
		Data: map[string]any{"Identities": rows, "Groups": groups, "Next": next, "First": skip == ""}})
}

func (c *Console) createIdentity(w http.ResponseWriter, r *http.Request, s *current) error {
	name, group := strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("group")
	if err := checkName("name", name); err != nil {
		return err
	}
	if err := checkName("resource group", group); err != nil {
		return err
	}
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	if err := api.ARM(r.Context(), http.MethodPut, client.ResourcePath(sub, group, client.TypeIdentities, name), client.APIVersionIdentities,
		map[string]string{"location": "local"}, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"identities/"+pathEsc(group)+"/"+pathEsc(name), "created")
}

func (c *Console) identity(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	var x client.Resource
	if err := api.ARM(r.Context(), http.MethodGet, client.ResourcePath(sub, r.PathValue("group"), client.TypeIdentities, r.PathValue("name")), client.APIVersionIdentities, nil, &x); err != nil {
		return err
	}
	var p identityProps
	properties(x, &p)
	// Where it is attached: every site whose identity names it.
	var sites []client.Resource
	if err := api.ARM(r.Context(), http.MethodGet, client.SubscriptionPath(sub)+"/providers/"+client.TypeSites, client.APIVersionSites, nil, &sites); err != nil {
		return err
	}
	var at []resourceRow
	for _, site := range sites {
		if hasUser(site.Identity, x.ID) {
			at = append(at, rowOf(site))
		}
	}
	return c.render(w, r, "identity.html", &page{Title: x.Name, Nav: "identities", Crumb: []crumb{{"Managed Identities", Prefix + "identities"}},
		Data: map[string]any{"Identity": x, "Props": p, "Group": groupOf(x.ID), "Attached": at, "Confirm": r.URL.Query().Get("confirm") == "delete"}})
}

func (c *Console) deleteIdentity(w http.ResponseWriter, r *http.Request, s *current) error {
	group, name := r.PathValue("group"), r.PathValue("name")
	if r.PostForm.Get("confirm") != "yes" {
		return seeOther(w, r, Prefix+"identities/"+pathEsc(group)+"/"+pathEsc(name)+"?confirm=delete", "")
	}
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	if err := api.ARM(r.Context(), http.MethodDelete, client.ResourcePath(sub, group, client.TypeIdentities, name), client.APIVersionIdentities, nil, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"identities", "deleted")
}
