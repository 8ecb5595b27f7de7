package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
)

// "lanyard webapp auth" and "lanyard functionapp auth": a site's App Service Authentication
// (Easy Auth) settings, the authsettingsV2 config document, shaped like `az webapp auth` (and
// its `microsoft update`, folded into update's flags here).

// authPath is the site's authsettingsV2 document.
func authPath(site string) string { return site + "/config/authsettingsV2" }

func (s *siteCmd) auth() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Show or change a " + s.k.label + "'s App Service Authentication (Easy Auth) settings",
		Long: `A ` + s.k.label + `'s App Service Authentication ("Easy Auth") settings: the authsettingsV2 document
of the management API. With it on, the front door of the node that runs the ` + s.k.label + ` checks each
request's bearer token (signature, issuer, audience, lifetime) and the allowed applications and
identities before the app sees it, and tells the app who called in the X-MS-CLIENT-PRINCIPAL headers.`,
		Example: `  lanyard ` + s.k.noun + ` auth update -n ` + s.k.name + ` -g rg --enabled true --client-id $APP_ID --allowed-audiences api://` + s.k.name + `
  lanyard ` + s.k.noun + ` auth show -n ` + s.k.name + ` -g rg`,
	}
	cmd.AddCommand(s.authShow(), s.authUpdate())
	return cmd
}

func (s *siteCmd) authShow() *cobra.Command {
	var f siteFlags
	cmd := &cobra.Command{
		Use:     "show --name NAME --resource-group GROUP",
		Short:   "Show the authentication settings (authsettingsV2)",
		Example: `  lanyard ` + s.k.noun + ` auth show -n ` + s.k.name + ` -g rg --query properties.globalValidation`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, path, _, _, err := s.read(ctx, &f)
			if err != nil {
				return err
			}
			raw, err := getRaw(ctx, c, authPath(path), authAPIVersion)
			if err != nil {
				return err
			}
			return printRaw(s.g, cmd.OutOrStdout(), raw)
		},
	}
	s.addFlags(cmd, &f)
	return cmd
}

// authAPIVersion is the App Service api-version of the auth commands (authsettingsV2 exists from
// 2020-06-01 on).
const authAPIVersion = "2022-09-01"

// The unauthenticated client actions `auth update --action` takes.
var authActions = []string{"Return401", "Return403", "AllowAnonymous"}

func (s *siteCmd) authUpdate() *cobra.Command {
	var (
		f                                      siteFlags
		enabled, requireAuth, requireHTTPS     boolFlag
		action, clientID, issuer               string
		excluded, audiences, appsAllowed, oids []string
	)
	cmd := &cobra.Command{
		Use:   "update --name NAME --resource-group GROUP [flags]",
		Short: "Change the authentication settings; flags not given keep their value",
		Long: `Changes a ` + s.k.label + `'s authentication settings (authsettingsV2): the flags given replace their
field, the others keep theirs. --client-id names the API's app registration (its appId): tokens
whose audience is that id, or one of --allowed-audiences (such as the registration's identifier
URI), are accepted. --issuer defaults to the site's tenant's issuer. --action says what an
unauthenticated request gets: Return401 (the default), Return403 or AllowAnonymous (the app then
sees the request without identity headers). RedirectToLoginPage needs an interactive sign-in,
which Lanyard does not offer yet.`,
		Example: `  lanyard ` + s.k.noun + ` auth update -n aad-func -g rg --enabled true --action Return401 \
      --client-id 6b7e1c2a-… --allowed-audiences api://aad-func
  lanyard ` + s.k.noun + ` auth update -n aad-func -g rg --allowed-applications 1f0a…   # only that caller
  lanyard ` + s.k.noun + ` auth update -n aad-func -g rg --enabled false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			changed := cmd.Flags().Changed
			if changed("action") && !containsFoldStr(authActions, action) {
				return fmt.Errorf("--action must be one of %s (RedirectToLoginPage needs an interactive sign-in, which Lanyard does not offer yet)", strings.Join(authActions, ", "))
			}
			ctx := cmd.Context()
			c, path, _, _, err := s.read(ctx, &f)
			if err != nil {
				return err
			}
			var doc struct {
				Properties map[string]any `json:"properties"`
			}
			raw, err := getRaw(ctx, c, authPath(path), authAPIVersion)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("the site's authsettingsV2: %w", err)
			}
			p := doc.Properties
			if p == nil {
				p = map[string]any{}
			}
			set := func(path string, v any) {
				m := p
				keys := strings.Split(path, ".")
				for _, k := range keys[:len(keys)-1] {
					next, ok := m[k].(map[string]any)
					if !ok {
						next = map[string]any{}
						m[k] = next
					}
					m = next
				}
				m[keys[len(keys)-1]] = v
			}
			if changed("enabled") {
				set("platform.enabled", bool(enabled))
				if bool(enabled) && !changed("require-authentication") {
					set("globalValidation.requireAuthentication", true)
				}
			}
			if changed("require-authentication") {
				set("globalValidation.requireAuthentication", bool(requireAuth))
			}
			if changed("action") {
				set("globalValidation.unauthenticatedClientAction", canonicalFold(authActions, action))
			}
			if changed("excluded-paths") {
				set("globalValidation.excludedPaths", excluded)
			}
			if changed("require-https") {
				set("httpSettings.requireHttps", bool(requireHTTPS))
			}
			const aad = "identityProviders.azureActiveDirectory."
			if changed("client-id") {
				set(aad+"enabled", true)
				set(aad+"registration.clientId", clientID)
			}
			if changed("issuer") {
				set(aad+"registration.openIdIssuer", issuer)
			}
			if changed("allowed-audiences") {
				set(aad+"validation.allowedAudiences", audiences)
			}
			if changed("allowed-applications") {
				set(aad+"validation.defaultAuthorizationPolicy.allowedApplications", appsAllowed)
			}
			if changed("allowed-identities") {
				set(aad+"validation.defaultAuthorizationPolicy.allowedPrincipals.identities", oids)
			}
			var out json.RawMessage
			if err := c.ARM(ctx, http.MethodPut, authPath(path), authAPIVersion, map[string]any{"properties": p}, &out); err != nil {
				return err
			}
			return printRaw(s.g, cmd.OutOrStdout(), out)
		},
	}
	s.addFlags(cmd, &f)
	fl := cmd.Flags()
	fl.Var(&enabled, "enabled", "turn authentication on or off (platform.enabled); on also requires authentication unless --require-authentication false")
	fl.Var(&requireAuth, "require-authentication", "refuse unauthenticated requests (globalValidation.requireAuthentication)")
	fl.StringVar(&action, "action", "", "what unauthenticated requests get: "+strings.Join(authActions, ", "))
	fl.StringSliceVar(&excluded, "excluded-paths", nil, "paths that skip authentication (a trailing /* covers what is below)")
	fl.Var(&requireHTTPS, "require-https", "refuse plain HTTP (httpSettings.requireHttps; on by default)")
	fl.StringVar(&clientID, "client-id", "", "the API's app registration's appId (Microsoft identity provider)")
	fl.StringVar(&issuer, "issuer", "", "the OpenID issuer of accepted tokens (default: the tenant's)")
	fl.StringSliceVar(&audiences, "allowed-audiences", nil, "audiences accepted besides the client id (such as api://NAME)")
	fl.StringSliceVar(&appsAllowed, "allowed-applications", nil, "only these calling applications (appid/azp client ids); empty: any")
	fl.StringSliceVar(&oids, "allowed-identities", nil, "only these calling principals (object ids); empty: any")
	return cmd
}

func containsFoldStr(list []string, v string) bool { return canonicalFold(list, v) != "" }

// canonicalFold returns the entry of list equal to v without case, or "".
func canonicalFold(list []string, v string) string {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return x
		}
	}
	return ""
}

// boolFlag is a flag that takes true or false as its own argument (--enabled true), as az's do.
type boolFlag bool

func (b *boolFlag) String() string { return fmt.Sprint(bool(*b)) }
func (b *boolFlag) Type() string   { return "true|false" }
func (b *boolFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "true", "yes", "on", "1":
		*b = true
	case "false", "no", "off", "0":
		*b = false
	default:
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}
