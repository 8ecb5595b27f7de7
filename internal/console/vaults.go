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

func (c *Console) vaultRoutes(h func(string, pageFunc)) {
	h("GET /console/vaults", c.vaults)
	h("POST /console/vaults", c.createVault)
	h("GET /console/vaults/{group}/{name}", c.vault)
	h("POST /console/vaults/{group}/{name}/model", c.vaultModel)
	h("GET /console/vaults/{group}/{name}/access-policies", c.policies)
	h("GET /console/vaults/{group}/{name}/access-policies/new", c.newPolicy)
	h("POST /console/vaults/{group}/{name}/access-policies/new", c.newPolicy)
	h("POST /console/vaults/{group}/{name}/access-policies/delete", c.deletePolicy)
	h("GET /console/vaults/{group}/{name}/secrets", c.secrets)
	h("POST /console/vaults/{group}/{name}/secrets", c.setSecret)
	h("GET /console/vaults/{group}/{name}/secrets/{secret}", c.secret)
	h("POST /console/vaults/{group}/{name}/secrets/{secret}/{op}", c.secretOp)
}

// vaultProps are a vault's properties as the console shows them.
type vaultProps struct {
	TenantID       string         `json:"tenantId"`
	VaultURI       string         `json:"vaultUri"`
	RBAC           bool           `json:"enableRbacAuthorization"`
	AccessPolicies []accessPolicy `json:"accessPolicies"`
}

type accessPolicy struct {
	TenantID      string `json:"tenantId"`
	ObjectID      string `json:"objectId"`
	ApplicationID string `json:"applicationId,omitempty"`
	Permissions   struct {
		Secrets      []string `json:"secrets,omitempty"`
		Keys         []string `json:"keys,omitempty"`
		Certificates []string `json:"certificates,omitempty"`
	} `json:"permissions"`
}

func (c *Console) vaults(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	sub, err := subscription(r.Context(), api)
	if err != nil {
		return err
	}
	skip := r.URL.Query().Get("next")
	var all []client.Resource
	next, err := armPage(r.Context(), api, client.SubscriptionPath(sub)+"/providers/"+client.TypeVaults, client.APIVersionVaults, pageSize, skip, &all)
	if err != nil {
		return err
	}
	rows := make([]resourceRow, 0, len(all))
	for _, x := range all {
		rows = append(rows, rowOf(x))
	}
	groups, err := groupNames(r.Context(), api, sub)
	if err != nil {
		return err
	}
	return c.render(w, r, "vaults.html", &page{Title: "Key vaults", Nav: "vaults",
		Data: map[string]any{"Vaults": rows, "Groups": groups, "Next": next, "First": skip == ""}})
}

func (c *Console) createVault(w http.ResponseWriter, r *http.Request, s *current) error {
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
	body := map[string]any{"location": "local", "properties": map[string]any{
		"tenantId": s.TenantID, "sku": map[string]string{"family": "A", "name": "standard"}, "accessPolicies": []any{},
		"enableRbacAuthorization": r.PostForm.Get("model") == "rbac",
	}}
	if err := api.ARM(r.Context(), http.MethodPut, client.ResourcePath(sub, group, client.TypeVaults, name), client.APIVersionVaults, body, nil); err != nil {
		return err
	}
	return seeOther(w, r, vaultPage(group, name), "created")
}

func vaultPage(group, name string) string {
	return Prefix + "vaults/" + pathEsc(group) + "/" + pathEsc(name)
}

// getVault reads the vault of the request's path.
func (c *Console) getVault(ctx context.Context, api *client.Client, r *http.Request) (client.Resource, vaultProps, error) {
	sub, err := subscription(ctx, api)
	if err != nil {
		return client.Resource{}, vaultProps{}, err
	}
	var v client.Resource
	if err := api.ARM(ctx, http.MethodGet, client.ResourcePath(sub, r.PathValue("group"), client.TypeVaults, r.PathValue("name")), client.APIVersionVaults, nil, &v); err != nil {
		return v, vaultProps{}, err
	}
	var p vaultProps
	properties(v, &p)
	return v, p, nil
}

func vaultData(v client.Resource, p vaultProps, tab string) map[string]any {
	return map[string]any{"Vault": v, "Props": p, "Group": groupOf(v.ID), "Tab": tab}
}

func vaultCrumb() []crumb { return []crumb{{"Key vaults", Prefix + "vaults"}} }

func (c *Console) vault(w http.ResponseWriter, r *http.Request, s *current) error {
	v, p, err := c.getVault(r.Context(), c.api(s), r)
	if err != nil {
		return err
	}
	return c.render(w, r, "vault.html", &page{Title: v.Name, Nav: "vaults", Crumb: vaultCrumb(), Data: vaultData(v, p, "overview")})
}

// vaultModel switches the vault's permission model (access policies or Azure RBAC).
func (c *Console) vaultModel(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	v, _, err := c.getVault(r.Context(), api, r)
	if err != nil {
		return err
	}
	rbac := r.PostForm.Get("model") == "rbac"
	if err := api.ARM(r.Context(), http.MethodPatch, v.ID, client.APIVersionVaults, map[string]any{"properties": map[string]any{"enableRbacAuthorization": rbac}}, nil); err != nil {
		return err
	}
	return seeOther(w, r, vaultPage(groupOf(v.ID), v.Name), "saved")
}

// policyRow is an access policy with the name of its principal.
type policyRow struct {
	accessPolicy
	Name, Type string
}

func (c *Console) policies(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	v, p, err := c.getVault(r.Context(), api, r)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(p.AccessPolicies))
	for _, ap := range p.AccessPolicies {
		ids = append(ids, ap.ObjectID)
	}
	// The names are a nicety, as on the IAM page: a session that may read the vault but not the
	// directory sees the policies' object ids.
	unknown := "(unknown object)"
	sps, err := servicePrincipalsByID(r.Context(), api, ids)
	if isForbidden(err) {
		sps, err, unknown = nil, nil, "(name not shown: no read access to the directory)"
	}
	if err != nil {
		return err
	}
	rows := make([]policyRow, 0, len(p.AccessPolicies))
	for _, ap := range p.AccessPolicies {
		row := policyRow{accessPolicy: ap, Name: unknown}
		if sp, ok := sps[strings.ToLower(ap.ObjectID)]; ok {
			row.Name, row.Type = sp.DisplayName, sp.ServicePrincipalType
		}
		rows = append(rows, row)
	}
	return c.render(w, r, "vault_policies.html", &page{Title: v.Name + " | Access policies", Nav: "vaults", Crumb: vaultCrumb(),
		Data: map[string]any{"Vault": v, "Props": p, "Group": groupOf(v.ID), "Tab": "policies", "Policies": rows}})
}

// secretPermissions are Key Vault's secret permissions, grouped as the portal groups them.
var secretPermissions = []struct {
	Group string
	Perms []string
}{
	{"Secret Management Operations", []string{"get", "list", "set", "delete", "recover", "backup", "restore"}},
	{"Privileged Secret Operations", []string{"purge"}},
}

// policyTemplates are the portal's permission templates, as far as secrets go (Lanyard's vaults
// hold secrets only: the key and certificate parts of a template have nothing to grant).
var policyTemplates = []struct {
	Name    string
	Secrets []string
}{
	{"Key, Secret, & Certificate Management", []string{"get", "list", "set", "delete", "recover", "backup", "restore"}},
	{"Key & Secret Management", []string{"get", "list", "set", "delete", "recover", "backup", "restore"}},
	{"Secret & Certificate Management", []string{"get", "list", "set", "delete", "recover", "backup", "restore"}},
	{"Secret Management", []string{"get", "list", "set", "delete", "recover", "backup", "restore"}},
	{"Secret Getter (Get)", []string{"get"}},
	{"Secret Reader (Get, List)", []string{"get", "list"}},
}

func validPerm(p string) bool {
	for _, g := range secretPermissions {
		for _, x := range g.Perms {
			if x == p {
				return true
			}
		}
	}
	return false
}

// newPolicy is the + Create wizard in one form: Permissions (a template or single permissions),
// Principal (search by name across service principals, managed identities included), Review +
// create. Only the step "create" changes anything; the others render the form again.
func (c *Console) newPolicy(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	v, p, err := c.getVault(r.Context(), api, r)
	if err != nil {
		return err
	}
	f := r.Form
	if r.Method == http.MethodGet {
		f = r.URL.Query()
	}
	var perms []string
	for _, x := range f["perm"] {
		if validPerm(x) {
			perms = append(perms, x)
		}
	}
	tmpl := f.Get("template")
	step := f.Get("step")
	if step == "template" {
		for _, t := range policyTemplates {
			if t.Name == tmpl {
				perms = t.Secrets
			}
		}
	}
	q := strings.TrimSpace(f.Get("q"))
	principal := f.Get("principal")
	data := map[string]any{"Vault": v, "Props": p, "Group": groupOf(v.ID), "Tab": "policies", "Perms": perms, "Template": tmpl,
		"Templates": policyTemplates, "PermGroups": secretPermissions, "Q": q, "Principal": principal}
	pg := &page{Title: "Create an access policy", Nav: "vaults", Crumb: append(vaultCrumb(), crumb{v.Name, vaultPage(groupOf(v.ID), v.Name) + "/access-policies"}), Data: data}
	if q != "" {
		sps, err := searchPrincipals(r.Context(), api, q)
		if err != nil {
			return err
		}
		data["Results"] = sps
	}
	if principal != "" {
		var sp client.ServicePrincipal
		if !guid.Valid(principal) {
			return errs.E(errs.Invalid, "choose a principal")
		}
		if err := api.GraphEntity(r.Context(), client.GraphBase+"/servicePrincipals/"+principal, &sp); err != nil {
			return err
		}
		data["Chosen"] = sp
	}
	if step != "create" || r.Method != http.MethodPost {
		return c.render(w, r, "vault_policy_new.html", pg)
	}
	if principal == "" || len(perms) == 0 {
		pg.Error = "Choose at least one permission and a principal."
		return c.render(w, r, "vault_policy_new.html", pg)
	}
	entry := accessPolicy{TenantID: p.TenantID, ObjectID: strings.ToLower(principal)}
	for _, old := range p.AccessPolicies {
		if strings.EqualFold(old.ObjectID, principal) && old.ApplicationID == "" {
			entry.Permissions.Keys, entry.Permissions.Certificates = old.Permissions.Keys, old.Permissions.Certificates
		}
	}
	entry.Permissions.Secrets = perms
	if err := api.ARM(r.Context(), http.MethodPut, v.ID+"/accessPolicies/replace", client.APIVersionVaults,
		map[string]any{"properties": map[string]any{"accessPolicies": []accessPolicy{entry}}}, nil); err != nil {
		return err
	}
	return seeOther(w, r, vaultPage(groupOf(v.ID), v.Name)+"/access-policies", "created")
}

// searchPrincipals finds service principals whose display name starts with q (managed
// identities included), at most 20.
func searchPrincipals(ctx context.Context, api *client.Client, q string) ([]client.ServicePrincipal, error) {
	if len(q) > 120 {
		return nil, errs.E(errs.Invalid, "the search is too long")
	}
	filter := "startswith(displayName,'" + strings.ReplaceAll(q, "'", "''") + "')"
	var sps []client.ServicePrincipal
	_, err := api.GraphPage(ctx, client.GraphBase+"/servicePrincipals?$top=20&$filter="+url.QueryEscape(filter), &sps)
	if id := strings.ToLower(q); err == nil && guid.Valid(id) {
		var sp client.ServicePrincipal
		if api.ServicePrincipal(ctx, id, &sp) == nil {
			sps = append([]client.ServicePrincipal{sp}, sps...)
		}
	}
	return sps, err
}

func (c *Console) deletePolicy(w http.ResponseWriter, r *http.Request, s *current) error {
	api := c.api(s)
	v, p, err := c.getVault(r.Context(), api, r)
	if err != nil {
		return err
	}
	oid := r.PostForm.Get("objectId")
	if !guid.Valid(oid) {
		return errs.E(errs.Invalid, "objectId must be a GUID")
	}
	if err := api.ARM(r.Context(), http.MethodPut, v.ID+"/accessPolicies/remove", client.APIVersionVaults,
		map[string]any{"properties": map[string]any{"accessPolicies": []accessPolicy{{TenantID: p.TenantID, ObjectID: strings.ToLower(oid)}}}}, nil); err != nil {
		return err
	}
	return seeOther(w, r, vaultPage(groupOf(v.ID), v.Name)+"/access-policies", "deleted")
}
