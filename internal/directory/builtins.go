package directory

import (
	"context"
	"net"
	"net/url"
	"slices"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// The appIds of the built-in applications, the same in every tenant (Microsoft's, for the Graph
// and ARM clients that look them up; a fixed one of Lanyard's for the vault).
const (
	DirectoryAppID  = "00000003-0000-0000-c000-000000000000"
	VaultAppID      = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
	ManagementAppID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
)

// builtin is one built-in application and its service principal.
type builtin struct {
	appID string
	name  string
	uris  func(s *Service) []string
	roles []AppRole
}

// graphRole is an application permission of the directory API with Microsoft Graph's id.
func graphRole(id, value, name, desc string) AppRole {
	return AppRole{ID: id, Value: value, DisplayName: name, Description: desc,
		AllowedMemberTypes: []string{"Application"}, IsEnabled: true, Origin: "Application"}
}

// builtins in the order they are created: the directory first, so that it holds the control
// plane's URL, which the management API lists too (see putIdentifierURIs in store). Their display
// names are Azure's (what `az ad sp list --display-name "Microsoft Graph"` finds there), and their
// servicePrincipalNames hold Azure's identifiers (the appId and the resource URIs the SDKs ask
// for) as well as Lanyard's own URLs.
var builtins = []builtin{
	{
		appID: DirectoryAppID, name: "Microsoft Graph",
		uris: func(s *Service) []string { return []string{"https://graph.microsoft.com", s.PublicURL} },
		roles: []AppRole{
			graphRole("7ab1d382-f21e-4acd-a863-ba3e13f7da61", PermDirectoryReadAll, "Read directory data",
				"Allows the app to read data in your organization's directory, such as users, groups and apps, without a signed-in user."),
			graphRole("19dbc75e-c2e2-444c-a770-ec69d8559fc7", PermDirectoryReadWriteAll, "Read and write directory data",
				"Allows the app to read and write data in your organization's directory, such as users, and groups, without a signed-in user."),
			graphRole("9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30", PermApplicationReadAll, "Read all applications",
				"Allows the app to read all applications and service principals without a signed-in user."),
			graphRole("1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", PermApplicationReadWriteAll, "Read and write all applications",
				"Allows the app to create, read, update and delete applications and service principals without a signed-in user."),
			graphRole("06b708a9-e830-4db3-a914-8e69da51d44f", PermAppRoleAssignmentRWAll, "Manage app permission grants and app role assignments",
				"Allows the app to manage permission grants for application permissions to any API (including Microsoft Graph) and application assignments for any app, without a signed-in user."),
			graphRole("5b567255-7703-4780-807c-7be8301ae99b", PermGroupReadAll, "Read all groups",
				"Allows the app to read group properties and memberships, and read conversations for all groups, without a signed-in user."),
			graphRole("62a82d76-70ea-41e2-9197-370581804d09", PermGroupReadWriteAll, "Read and write all groups",
				"Allows the app to create groups, read all group properties and memberships, update group properties and memberships, and delete groups, without a signed-in user."),
			graphRole("df021288-bdef-4463-88db-98f22de89214", PermUserReadAll, "Read all users' full profiles",
				"Allows the app to read user profiles without a signed-in user."),
		},
	},
	{
		appID: VaultAppID, name: "Azure Key Vault",
		uris: func(s *Service) []string { return []string{"https://vault.azure.net", s.vaultResource()} },
	},
	{
		appID: ManagementAppID, name: "Windows Azure Service Management API",
		uris: func(s *Service) []string {
			return []string{"https://management.azure.com/", "https://management.core.windows.net/", s.PublicURL}
		},
	},
}

// vaultResource is https://{VaultDomain}, with the port (VaultDomain's, else PublicURL's) unless
// it is 443.
func (s *Service) vaultResource() string {
	host, port, err := net.SplitHostPort(s.VaultDomain)
	if err != nil {
		host = s.VaultDomain
		if u, err := url.Parse(s.PublicURL); err == nil {
			port = u.Port()
		}
	}
	if port == "" || port == "443" {
		return "https://" + host
	}
	return "https://" + net.JoinHostPort(host, port)
}

// BuiltinIdentifiers returns the names that address the built-in service principal appID
// (DirectoryAppID, VaultAppID or ManagementAppID): its identifierUris and its appId. A server
// gives them to the authn.Bearer of that API as its audiences.
func (s *Service) BuiltinIdentifiers(appID string) []string {
	for _, b := range builtins {
		if b.appID == appID {
			return append(s.builtinURIs(b), b.appID)
		}
	}
	return nil
}

// builtinURIs are b's identifierUris, without an empty one (PublicURL unset in a test).
func (s *Service) builtinURIs(b builtin) []string {
	return slices.DeleteFunc(b.uris(s), func(u string) bool { return u == "" || u == "https://" })
}

// EnsureBuiltins creates the built-in applications and service principals of tenantID that do not
// exist yet, and brings those that do up to date (identifier URIs follow PublicURL and
// VaultDomain). It is idempotent and safe to run from several servers at once; the server runs it
// for every tenant at start and from tenant.Service.OnCreate.
func (s *Service) EnsureBuiltins(ctx context.Context, tenantID string) error {
	for _, b := range builtins {
		if err := s.ensureBuiltin(ctx, tenantID, b); err != nil {
			return errs.Wrap(errs.KindOf(err), err, "built-in service principal "+b.name)
		}
	}
	return nil
}

func (s *Service) ensureBuiltin(ctx context.Context, tenantID string, b builtin) error {
	want := Application{
		TenantID: tenantID, AppID: b.appID, DisplayName: b.name, IdentifierURIs: s.builtinURIs(b),
		AppRoles: slices.Clone(b.roles), SignInAudience: "AzureADMultipleOrgs", Builtin: true, Created: s.now(),
	}
	if want.AppRoles == nil {
		want.AppRoles = []AppRole{}
	}
	app, err := s.Store.GetApplication(ctx, tenantID, Key{AppID: b.appID})
	if errs.Is(err, errs.NotFound) {
		err = s.createBuiltin(ctx, want)
		if !errs.Is(err, errs.Conflict) {
			return err
		}
		app, err = s.Store.GetApplication(ctx, tenantID, Key{AppID: b.appID}) // another server was first
	}
	if err != nil {
		return err
	}
	if _, err := s.Store.GetServicePrincipal(ctx, tenantID, Key{AppID: b.appID}); errs.Is(err, errs.NotFound) {
		sp := builtinSP(want)
		if sp.ID, err = s.newGUID(); err != nil {
			return err
		}
		sp.ApplicationID = app.ID
		if _, err := s.Store.CreateServicePrincipal(ctx, sp, inherit); err != nil && !errs.Is(err, errs.Conflict) {
			return err
		}
	} else if err != nil {
		return err
	}
	if app.DisplayName == want.DisplayName && slices.Equal(app.IdentifierURIs, want.IdentifierURIs) && rolesEqual(app.AppRoles, want.AppRoles) {
		return nil
	}
	_, err = s.Store.UpdateApplication(ctx, tenantID, app.ID, func(a *Application, sp *ServicePrincipal) error {
		a.DisplayName, a.IdentifierURIs, a.AppRoles, a.SignInAudience = want.DisplayName, want.IdentifierURIs, want.AppRoles, want.SignInAudience
		if sp != nil {
			inherit(*a, sp)
		}
		return nil
	})
	return err
}

func (s *Service) createBuiltin(ctx context.Context, app Application) error {
	var err error
	if app.ID, err = s.newGUID(); err != nil {
		return err
	}
	sp := builtinSP(app)
	if sp.ID, err = s.newGUID(); err != nil {
		return err
	}
	sp.ApplicationID = app.ID
	inherit(app, &sp)
	return s.Store.CreateApplication(ctx, app, &sp)
}

// builtinSP is the service principal of a built-in application, owned by no organisation.
func builtinSP(app Application) ServicePrincipal {
	sp := ServicePrincipal{
		TenantID: app.TenantID, AppID: app.AppID, Type: TypeApplication, AlternativeNames: []string{},
		AccountEnabled: true, Builtin: true, Created: app.Created,
	}
	inherit(app, &sp)
	return sp
}

func rolesEqual(a, b []AppRole) bool {
	return slices.EqualFunc(a, b, func(x, y AppRole) bool {
		return x.ID == y.ID && x.Value == y.Value && x.DisplayName == y.DisplayName && x.Description == y.Description &&
			x.IsEnabled == y.IsEnabled && x.Origin == y.Origin && slices.Equal(x.AllowedMemberTypes, y.AllowedMemberTypes)
	})
}
