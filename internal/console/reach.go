package console

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// reachRole is an RBAC role the identity holds at a scope.
type reachRole struct {
	Role, Scope, ScopeHref string
}

// reachVault is a vault whose access policy names the identity.
type reachVault struct {
	Name, Href, Secrets, Model string
}

// reach is the one page of everything an identity can reach: its RBAC roles by scope (and what
// they cover below), its app roles on each API, the vaults whose policies name it, and the apps
// it is attached to.
func (c *Console) reach(w http.ResponseWriter, r *http.Request, s *current) error {
	id := strings.ToLower(r.PathValue("id"))
	if !guid.Valid(id) {
		return errs.E(errs.Invalid, "an identity is named by its object (principal) id")
	}
	api := c.api(s)
	ctx := r.Context()
	var sp client.ServicePrincipal
	if err := api.GraphEntity(ctx, client.GraphBase+"/servicePrincipals/"+id, &sp); err != nil {
		return err
	}
	sub, err := subscription(ctx, api)
	if err != nil {
		return err
	}
	// RBAC: every assignment of the principal in the subscription, and above it.
	var ras []client.AzureRoleAssignment
	filter := url.QueryEscape("principalId eq '" + id + "'")
	if err := api.ARM(ctx, http.MethodGet, client.SubscriptionPath(sub)+"/providers/"+client.TypeRoleAssignments+"?$filter="+filter, client.APIVersionAuthorization, nil, &ras); err != nil {
		return err
	}
	names, _, err := roleNames(ctx, api, sub)
	if err != nil {
		return err
	}
	var roles []reachRole
	for _, a := range ras {
		roles = append(roles, reachRole{Role: roleName(names, a.Properties.RoleDefinitionID), Scope: a.Properties.Scope,
			ScopeHref: Prefix + "iam?scope=" + url.QueryEscape(a.Properties.Scope)})
	}
	sort.Slice(roles, func(i, j int) bool { return roles[i].Scope < roles[j].Scope })
	// App roles on each API.
	var granted []client.AppRoleAssignment
	if err := api.Graph(ctx, http.MethodGet, client.GraphBase+"/servicePrincipals/"+id+"/appRoleAssignments", nil, &granted); err != nil {
		return err
	}
	resources := map[string]client.ServicePrincipal{}
	var appRoles []assignmentRow
	for _, a := range granted {
		res, ok := resources[a.ResourceID]
		if !ok {
			_ = api.GraphEntity(ctx, client.GraphBase+"/servicePrincipals/"+url.PathEscape(a.ResourceID), &res)
			resources[a.ResourceID] = res
		}
		name := a.AppRoleID
		for _, ar := range res.AppRoles {
			if ar.ID == a.AppRoleID {
				name = ar.Value
			}
		}
		appRoles = append(appRoles, assignmentRow{a, name})
	}
	// Vaults whose access policies name it (and whether the vault uses them).
	var vaults []client.Resource
	if err := api.ARM(ctx, http.MethodGet, client.SubscriptionPath(sub)+"/providers/"+client.TypeVaults, client.APIVersionVaults, nil, &vaults); err != nil {
		return err
	}
	var vrows []reachVault
	for _, v := range vaults {
		var p vaultProps
		properties(v, &p)
		for _, ap := range p.AccessPolicies {
			if strings.EqualFold(ap.ObjectID, id) {
				model := "access policies"
				if p.RBAC {
					model = "Azure RBAC (this policy is not used)"
				}
				vrows = append(vrows, reachVault{Name: v.Name, Href: vaultPage(groupOf(v.ID), v.Name) + "/access-policies", Secrets: strings.Join(ap.Permissions.Secrets, ", "), Model: model})
			}
		}
	}
	// Apps it is attached to: its own resource (a system-assigned identity), or the sites that
	// have it attached (a user-assigned identity).
	var sites []client.Resource
	if err := api.ARM(ctx, http.MethodGet, client.SubscriptionPath(sub)+"/providers/"+client.TypeSites, client.APIVersionSites, nil, &sites); err != nil {
		return err
	}
	var at []resourceRow
	for _, site := range sites {
		if site.Identity == nil {
			continue
		}
		hit := strings.EqualFold(site.Identity.PrincipalID, id)
		for _, u := range site.Identity.UserAssignedIdentities {
			if u != nil && strings.EqualFold(u.PrincipalID, id) {
				hit = true
			}
		}
		if hit {
			at = append(at, rowOf(site))
		}
	}
	return c.render(w, r, "reach.html", &page{Title: "Everything " + sp.DisplayName + " can reach", Crumb: []crumb{{"Enterprise applications", Prefix + "enterprise-apps"}, {sp.DisplayName, Prefix + "enterprise-apps/" + pathEsc(sp.ID)}},
		Data: map[string]any{"SP": sp, "Roles": roles, "AppRoles": appRoles, "Vaults": vrows, "Attached": at, "Resource": strings.Join(sp.AlternativeNames, " ")}})
}
