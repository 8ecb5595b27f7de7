package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

func (c *Console) directoryRoutes(h func(string, pageFunc)) {
	h("GET /console/app-registrations", c.apps)
	h("POST /console/app-registrations", c.createApp)
	h("GET /console/app-registrations/{id}", c.app)
	h("POST /console/app-registrations/{id}/roles", c.addAppRole)
	h("POST /console/app-registrations/{id}/uris", c.setURI)
	h("GET /console/enterprise-apps", c.sps)
	h("GET /console/enterprise-apps/{id}", c.sp)
	h("POST /console/enterprise-apps/{id}/assignments", c.assignRole)
	h("POST /console/enterprise-apps/{id}/assignments/delete", c.unassignRole)
}

// graphList reads one page of a Graph collection: path with $top (and, when given, the previous
// page's skip token), and returns the next page's skip token.
func graphList(ctx context.Context, api *client.Client, path, skip string, out any) (string, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	path += sep + "$top=" + "25"
	if skip != "" {
		path += "&$skiptoken=" + url.QueryEscape(skip)
	}
	next, err := api.GraphPage(ctx, path, out)
	if err != nil || next == "" {
		return "", err
	}
	u, err := url.Parse(next)
	if err != nil {
		return "", nil
	}
	return u.Query().Get("$skiptoken"), nil
}

func (c *Console) apps(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	var apps []client.Application
	path := client.GraphBase + "/applications"
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		path += "?$filter=" + url.QueryEscape("startswith(displayName,'"+strings.ReplaceAll(q, "'", "''")+"')")
	}
	next, err := graphList(r.Context(), api, path, r.URL.Query().Get("next"), &apps)
	if err != nil {
		return err
	}
	return c.render(w, r, "apps.html", &page{Title: "App registrations", Nav: "apps",
		Data: map[string]any{"Apps": apps, "Next": next, "Q": r.URL.Query().Get("q"), "First": r.URL.Query().Get("next") == ""}})
}

func (c *Console) createApp(w http.ResponseWriter, r *http.Request, s *current) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || len(name) > 256 {
		return errs.E(errs.Invalid, "give the application a name")
	}
	api := c.api(s)
	var app client.Application
	if err := api.Graph(r.Context(), http.MethodPost, client.GraphBase+"/applications", client.Application{DisplayName: name}, &app); err != nil {
		return err
	}
	// As the portal does, registering an application also creates its service principal (its
	// enterprise application).
	if err := api.Graph(r.Context(), http.MethodPost, client.GraphBase+"/servicePrincipals", map[string]string{"appId": app.AppID}, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"app-registrations/"+pathEsc(app.ID), "created")
}

func (c *Console) app(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	var app client.Application
	if err := api.Application(r.Context(), r.PathValue("id"), &app); err != nil {
		return err
	}
	var sp client.ServicePrincipal
	spErr := api.GraphEntity(r.Context(), client.GraphBase+"/servicePrincipals(appId='"+url.PathEscape(app.AppID)+"')", &sp)
	if spErr != nil && !client.IsNotFound(spErr) {
		return spErr
	}
	return c.render(w, r, "app.html", &page{Title: app.DisplayName, Nav: "apps", Crumb: []crumb{{"App registrations", Prefix + "app-registrations"}},
		Data: map[string]any{"App": app, "SP": sp}})
}

func (c *Console) addAppRole(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	var app client.Application
	if err := api.Application(r.Context(), r.PathValue("id"), &app); err != nil {
		return err
	}
	f := r.PostForm
	value, display := strings.TrimSpace(f.Get("value")), strings.TrimSpace(f.Get("displayName"))
	if value == "" || display == "" {
		return errs.E(errs.Invalid, "an app role needs a display name and a value")
	}
	members := f["memberTypes"]
	if len(members) == 0 {
		members = []string{"Application"}
	}
	id, err := newGUID(c.Rand)
	if err != nil {
		return err
	}
	roles := append(app.AppRoles, client.AppRole{ID: id, Value: value, DisplayName: display, Description: f.Get("description"),
		AllowedMemberTypes: members, IsEnabled: f.Get("enabled") != "no"})
	for i := range roles {
		roles[i].Origin = ""
	}
	if err := api.Graph(r.Context(), http.MethodPatch, client.GraphBase+"/applications/"+url.PathEscape(app.ID), map[string]any{"appRoles": roles}, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"app-registrations/"+pathEsc(app.ID), "created")
}

func (c *Console) setURI(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	var app client.Application
	if err := api.Application(r.Context(), r.PathValue("id"), &app); err != nil {
		return err
	}
	uri := strings.TrimSpace(r.PostForm.Get("uri"))
	uris := app.IdentifierURIs
	switch r.PostForm.Get("action") {
	case "remove":
		var keep []string
		for _, u := range uris {
			if u != uri {
				keep = append(keep, u)
			}
		}
		uris = keep
	default:
		if uri == "" {
			uri = "api://" + app.AppID
		}
		uris = append(uris, uri)
	}
	if uris == nil {
		uris = []string{}
	}
	if err := api.Graph(r.Context(), http.MethodPatch, client.GraphBase+"/applications/"+url.PathEscape(app.ID), map[string]any{"identifierUris": uris}, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"app-registrations/"+pathEsc(app.ID), "saved")
}

func (c *Console) sps(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	typ := r.URL.Query().Get("type")
	var filters []string
	switch typ {
	case "ManagedIdentity", "Application":
		filters = append(filters, "servicePrincipalType eq '"+typ+"'")
	default:
		typ = ""
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q != "" {
		filters = append(filters, "startswith(displayName,'"+strings.ReplaceAll(q, "'", "''")+"')")
	}
	path := client.GraphBase + "/servicePrincipals"
	if len(filters) > 0 {
		path += "?$filter=" + url.QueryEscape(strings.Join(filters, " and "))
	}
	var sps []client.ServicePrincipal
	next, err := graphList(r.Context(), api, path, r.URL.Query().Get("next"), &sps)
	if err != nil {
		return err
	}
	return c.render(w, r, "sps.html", &page{Title: "Enterprise applications", Nav: "sps",
		Data: map[string]any{"SPs": sps, "Next": next, "Q": q, "Type": typ, "First": r.URL.Query().Get("next") == ""}})
}

// assignmentRow is an app role assignment with the role's value.
type assignmentRow struct {
	client.AppRoleAssignment
	Role string
}

func (c *Console) sp(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	var sp client.ServicePrincipal
	if err := api.ServicePrincipal(r.Context(), r.PathValue("id"), &sp); err != nil {
		return err
	}
	base := client.GraphBase + "/servicePrincipals/" + url.PathEscape(sp.ID)
	var granted, holders []client.AppRoleAssignment
	if err := api.Graph(r.Context(), http.MethodGet, base+"/appRoleAssignments", nil, &granted); err != nil {
		return err
	}
	if err := api.Graph(r.Context(), http.MethodGet, base+"/appRoleAssignedTo", nil, &holders); err != nil {
		return err
	}
	roleName := func(resource client.ServicePrincipal, id string) string {
		for _, ar := range resource.AppRoles {
			if ar.ID == id {
				return ar.Value
			}
		}
		if id == client.DefaultAccessRoleID {
			return "Default Access"
		}
		return id
	}
	resources := map[string]client.ServicePrincipal{}
	var grantedRows, holderRows []assignmentRow
	for _, a := range granted {
		res, ok := resources[a.ResourceID]
		if !ok {
			_ = api.GraphEntity(r.Context(), client.GraphBase+"/servicePrincipals/"+url.PathEscape(a.ResourceID), &res)
			resources[a.ResourceID] = res
		}
		grantedRows = append(grantedRows, assignmentRow{a, roleName(res, a.AppRoleID)})
	}
	for _, a := range holders {
		holderRows = append(holderRows, assignmentRow{a, roleName(sp, a.AppRoleID)})
	}
	data := map[string]any{"SP": sp, "Granted": grantedRows, "Holders": holderRows, "Q": r.URL.Query().Get("q")}
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		found, err := searchPrincipals(r.Context(), api, q)
		if err != nil {
			return err
		}
		data["Results"] = found
	}
	return c.render(w, r, "sp.html", &page{Title: sp.DisplayName, Nav: "sps", Crumb: []crumb{{"Enterprise applications", Prefix + "enterprise-apps"}}, Data: data})
}

// assignRole grants one of this service principal's app roles to a principal (the Graph grant of
// the seeds: POST /servicePrincipals/{resource}/appRoleAssignedTo).
func (c *Console) assignRole(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	id, principal, role := r.PathValue("id"), r.PostForm.Get("principal"), r.PostForm.Get("appRoleId")
	if !guid.Valid(id) || !guid.Valid(principal) || !guid.Valid(role) {
		return errs.E(errs.Invalid, "choose an app role and a principal")
	}
	in := client.AppRoleAssignment{PrincipalID: principal, ResourceID: id, AppRoleID: role}
	if err := api.Graph(r.Context(), http.MethodPost, client.GraphBase+"/servicePrincipals/"+id+"/appRoleAssignedTo", in, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"enterprise-apps/"+pathEsc(id), "assigned")
}

func (c *Console) unassignRole(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	id, aid := r.PathValue("id"), r.PostForm.Get("assignment")
	if !guid.Valid(id) || aid == "" || strings.ContainsAny(aid, "/?#") {
		return errs.E(errs.Invalid, "bad assignment")
	}
	if err := api.Graph(r.Context(), http.MethodDelete, client.GraphBase+"/servicePrincipals/"+id+"/appRoleAssignedTo/"+url.PathEscape(aid), nil, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"enterprise-apps/"+pathEsc(id), "removed")
}
