package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

func (c *Console) iamRoutes(h func(string, pageFunc)) {
	h("GET /console/iam", c.iam)
	h("POST /console/iam", c.addRoleAssignment)
	h("POST /console/iam/delete", c.deleteRoleAssignment)
	h("GET /console/reach/{id}", c.reach)
}

// roleRow is a role assignment as the IAM page shows it.
type roleRow struct {
	ID, Scope, Role, PrincipalID, PrincipalName, PrincipalType string
	Inherited                                                  bool
}

// roleNames maps role definition ids (lower case) to role names.
func roleNames(ctx context.Context, api *client.Client, sub string) (map[string]string, []client.AzureRoleDefinition, error) {
	var defs []client.AzureRoleDefinition
	if err := api.ARM(ctx, http.MethodGet, client.SubscriptionPath(sub)+"/providers/"+client.TypeRoleDefinitions, client.APIVersionAuthorization, nil, &defs); err != nil {
		return nil, nil, err
	}
	m := map[string]string{}
	for _, d := range defs {
		m[strings.ToLower(d.ID)] = d.Properties.RoleName
		m[strings.ToLower(d.Name)] = d.Properties.RoleName
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Properties.RoleName < defs[j].Properties.RoleName })
	return m, defs, nil
}

func roleName(names map[string]string, defID string) string {
	if n, ok := names[strings.ToLower(defID)]; ok {
		return n
	}
	return names[strings.ToLower(lastSeg(defID))]
}

// within reports whether scope is inside (or is) parent.
func within(scope, parent string) bool {
	s, p := strings.ToLower(strings.TrimRight(scope, "/")), strings.ToLower(strings.TrimRight(parent, "/"))
	return s == p || p == "" || p == "/" || strings.HasPrefix(s, p+"/")
}

func (c *Console) iam(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	scope := r.URL.Query().Get("scope")
	if scope == "" {
		scope = client.SubscriptionPath(sub)
	}
	if !strings.HasPrefix(strings.ToLower(scope), "/subscriptions/") || strings.ContainsAny(scope, "?#") {
		return errs.E(errs.Invalid, "scope must be an ARM id under /subscriptions/")
	}
	// One page of the assignments at or above this scope, paged by the API ($top, $skipToken).
	names, defs, err := roleNames(r.Context(), api, sub)
	if err != nil {
		return err
	}
	path := scope + "/providers/" + client.TypeRoleAssignments + "?$filter=" + url.QueryEscape("atScope()") + "&$top=" + strconv.Itoa(pageSize) +
		"&api-version=" + client.APIVersionAuthorization
	skip := r.URL.Query().Get("skip")
	if skip != "" {
		path += "&$skipToken=" + url.QueryEscape(skip)
	}
	var list struct {
		Value    []client.AzureRoleAssignment `json:"value"`
		NextLink string                       `json:"nextLink"`
	}
	if err := api.Do(r.Context(), http.MethodGet, path, nil, &list); err != nil {
		return err
	}
	shown := make([]roleRow, 0, len(list.Value))
	for _, a := range list.Value {
		shown = append(shown, roleRow{ID: a.ID, Scope: a.Properties.Scope, Role: roleName(names, a.Properties.RoleDefinitionID),
			PrincipalID: a.Properties.PrincipalID, PrincipalType: a.Properties.PrincipalType,
			Inherited: !strings.EqualFold(strings.TrimRight(a.Properties.Scope, "/"), strings.TrimRight(scope, "/"))})
	}
	if err := principalNames(r.Context(), api, shown); err != nil {
		return err
	}
	data := map[string]any{"Scope": scope, "Rows": shown, "Defs": defs, "Q": r.URL.Query().Get("q"), "First": skip == ""}
	if list.NextLink != "" {
		if u, err := url.Parse(list.NextLink); err == nil {
			data["Next"] = u.Query().Get("$skipToken")
		}
	}
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" {
		found, err := searchPrincipals(r.Context(), api, q)
		if err != nil {
			return err
		}
		data["Results"] = found
	}
	return c.render(w, r, "iam.html", &page{Title: "Access control (IAM)", Nav: "iam", Data: data})
}

// principalNames fills in the display names of rows' principals (service principals and groups)
// with one call of Graph's directoryObjects/getByIds. The names are a nicety: a principal that no
// longer exists keeps an empty name, and so do all when the session may read the role assignments
// but not the directory (403); the page shows their ids.
func principalNames(ctx context.Context, api *client.Client, rows []roleRow) error {
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.PrincipalID)
	}
	objs, err := directoryObjectsByID(ctx, api, ids, "servicePrincipal", "group")
	if isForbidden(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].PrincipalName = objs[strings.ToLower(rows[i].PrincipalID)].DisplayName
	}
	return nil
}

// isForbidden reports whether err is the API's 403: the session may not do that.
func isForbidden(err error) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == http.StatusForbidden
}

// servicePrincipalsByID reads the service principals among ids (by lower-case id).
func servicePrincipalsByID(ctx context.Context, api *client.Client, ids []string) (map[string]client.ServicePrincipal, error) {
	return directoryObjectsByID(ctx, api, ids, "servicePrincipal")
}

// directoryObjectsByID reads the directory objects of the given Graph types among ids (by
// lower-case id) with Graph's directoryObjects/getByIds, one call per 1,000 ids: the same code
// path an SDK user has, instead of one GET per id. Ids that are not GUIDs, or name nothing, are
// left out. An object that is not a service principal fills in only its id and displayName.
func directoryObjectsByID(ctx context.Context, api *client.Client, ids []string, types ...string) (map[string]client.ServicePrincipal, error) {
	var want []string
	for _, id := range ids {
		id = strings.ToLower(id)
		if guid.Valid(id) && !slices.Contains(want, id) {
			want = append(want, id)
		}
	}
	out := make(map[string]client.ServicePrincipal, len(want))
	for chunk := range slices.Chunk(want, 1000) {
		var found struct {
			Value []client.ServicePrincipal `json:"value"`
		}
		body := map[string][]string{"ids": chunk, "types": types}
		if err := api.Graph(ctx, http.MethodPost, client.GraphBase+"/directoryObjects/getByIds", body, &found); err != nil {
			return nil, err
		}
		for _, sp := range found.Value {
			out[strings.ToLower(sp.ID)] = sp
		}
	}
	return out, nil
}

func (c *Console) addRoleAssignment(w http.ResponseWriter, r *http.Request, s *current) error {
	f := r.PostForm
	scope, role, principal := f.Get("scope"), f.Get("role"), f.Get("principal")
	if !strings.HasPrefix(strings.ToLower(scope), "/subscriptions/") || strings.ContainsAny(scope, "?#") {
		return errs.E(errs.Invalid, "scope must be an ARM id under /subscriptions/")
	}
	if !guid.Valid(principal) || !strings.Contains(role, "/roleDefinitions/") {
		return errs.E(errs.Invalid, "choose a role and a member")
	}
	api := c.api(s)
	id, err := newGUID(c.Rand)
	if err != nil {
		return err
	}
	body := map[string]any{"properties": map[string]string{"roleDefinitionId": role, "principalId": principal, "principalType": "ServicePrincipal"}}
	if err := api.ARM(r.Context(), http.MethodPut, scope+"/providers/"+client.TypeRoleAssignments+"/"+id, client.APIVersionAuthorization, body, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"iam?scope="+url.QueryEscape(scope), "added")
}

func (c *Console) deleteRoleAssignment(w http.ResponseWriter, r *http.Request, s *current) error {
	id, scope := r.PostForm.Get("id"), r.PostForm.Get("scope")
	if !strings.HasPrefix(strings.ToLower(id), "/subscriptions/") || !strings.Contains(strings.ToLower(id), "/providers/microsoft.authorization/roleassignments/") || strings.ContainsAny(id, "?#") {
		return errs.E(errs.Invalid, "bad role assignment id")
	}
	if err := c.api(s).ARM(r.Context(), http.MethodDelete, id, client.APIVersionAuthorization, nil, nil); err != nil {
		return err
	}
	return seeOther(w, r, Prefix+"iam?scope="+url.QueryEscape(scope), "removed")
}
