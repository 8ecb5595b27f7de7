package cli

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

// "lanyard {webapp,functionapp} config appsettings set|list|delete" and "... deployment source
// config-zip", shaped like az's; "lanyard functionapp keys list|set|delete" and "lanyard
// functionapp function keys list|set|delete", like az functionapp's.

// settingJSON is one app setting as az prints it.
type settingJSON struct {
	Name        string  `json:"name"`
	Value       *string `json:"value"`
	SlotSetting bool    `json:"slotSetting"`
}

// settingsList is the settings in name order; values left out (null) when redact is set, as az
// prints them after set and delete.
func settingsList(m map[string]string, redact bool) []settingJSON {
	out := make([]settingJSON, 0, len(m))
	for k, v := range m {
		s := settingJSON{Name: k}
		if !redact {
			v := v
			s.Value = &v
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// redactedWarning is what az writes to stderr when it prints settings without their values.
const redactedWarning = "App settings have been redacted. Use `lanyard %s config appsettings list` to view."

func (s *siteCmd) config() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "config",
		Short:   "Configure a " + s.k.label,
		Example: `  lanyard ` + s.k.noun + ` config appsettings list -n ` + s.k.name + ` -g rg`,
	}
	app := &cobra.Command{
		Use:     "appsettings",
		Short:   "A " + s.k.label + "'s app settings: environment variables of its processes",
		Example: `  lanyard ` + s.k.noun + ` config appsettings set -n ` + s.k.name + ` -g rg --settings MODE=prod`,
		Long: `A ` + s.k.label + `'s app settings (config/appsettings): its processes see them as environment variables.
A value of the form @Microsoft.KeyVault(SecretUri=...) or @Microsoft.KeyVault(VaultName=...;SecretName=...)
is a Key Vault reference: the server reads the secret with the app's identity and gives the
process its value (the literal stays when it cannot).`,
	}
	app.AddCommand(s.settingsSet(), s.settingsList(), s.settingsDelete())
	cmd.AddCommand(app)
	return cmd
}

func (s *siteCmd) settingsList() *cobra.Command {
	var f siteFlags
	cmd := &cobra.Command{
		Use:     "list --name NAME --resource-group GROUP",
		Short:   "List the app settings with their values",
		Example: `  lanyard ` + s.k.noun + ` config appsettings list -n ` + s.k.name + ` -g rg`,
		Args:    cobra.NoArgs,
		RunE: s.onSite(&f, func(ctx context.Context, c *client.Client, path string) (any, error) {
			m, err := c.AppSettings(ctx, path)
			if err != nil {
				return nil, err
			}
			return settingsList(m, false), nil
		}),
	}
	s.addFlags(cmd, &f)
	return cmd
}

func (s *siteCmd) settingsSet() *cobra.Command {
	var (
		f        siteFlags
		settings []string
	)
	cmd := &cobra.Command{
		Use:   "set --name NAME --resource-group GROUP --settings KEY=VALUE ...",
		Short: "Add or change app settings; the others stay",
		Example: `  lanyard ` + s.k.noun + ` config appsettings set -n ` + s.k.name + ` -g rg --settings MODE=prod "GREETING=hello world"
  lanyard ` + s.k.noun + ` config appsettings set -n ` + s.k.name + ` -g rg \
      --settings 'DB_PASSWORD=@Microsoft.KeyVault(VaultName=kv1;SecretName=db-password)'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			settings = append(settings, args...) // az takes several KEY=VALUE after one --settings
			if len(settings) == 0 {
				return fmt.Errorf("--settings needs at least one KEY=VALUE")
			}
			add := map[string]string{}
			for _, kv := range settings {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return fmt.Errorf("--settings %q: use KEY=VALUE", kv)
				}
				add[k] = v
			}
			return s.editSettings(cmd, &f, func(m map[string]string) {
				for k, v := range add {
					for old := range m { // names are compared without case: the new spelling wins
						if strings.EqualFold(old, k) {
							delete(m, old)
						}
					}
					m[k] = v
				}
			})
		},
	}
	s.addFlags(cmd, &f)
	// StringArray, not StringSlice: a value may hold commas.
	cmd.Flags().StringArrayVar(&settings, "settings", nil, "KEY=VALUE (repeatable, or several after one --settings)")
	return cmd
}

func (s *siteCmd) settingsDelete() *cobra.Command {
	var (
		f     siteFlags
		names []string
	)
	cmd := &cobra.Command{
		Use:     "delete --name NAME --resource-group GROUP --setting-names KEY ...",
		Short:   "Delete app settings",
		Example: `  lanyard ` + s.k.noun + ` config appsettings delete -n ` + s.k.name + ` -g rg --setting-names MODE GREETING`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			names = append(names, args...) // az takes several names after one --setting-names
			if len(names) == 0 {
				return fmt.Errorf("--setting-names needs at least one name")
			}
			return s.editSettings(cmd, &f, func(m map[string]string) {
				for _, n := range names {
					for k := range m {
						if strings.EqualFold(k, n) {
							delete(m, k)
						}
					}
				}
			})
		},
	}
	s.addFlags(cmd, &f)
	cmd.Flags().StringSliceVar(&names, "setting-names", nil, "names of the settings to delete")
	return cmd
}

// editSettings reads the site's app settings, lets edit change them, writes them all back (ARM
// replaces the whole set) and prints them redacted, as az does.
func (s *siteCmd) editSettings(cmd *cobra.Command, f *siteFlags, edit func(map[string]string)) error {
	ctx := cmd.Context()
	c, path, _, _, err := s.read(ctx, f)
	if err != nil {
		return err
	}
	m, err := c.AppSettings(ctx, path)
	if err != nil {
		return err
	}
	edit(m)
	if err := c.SetAppSettings(ctx, path, m); err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), redactedWarning+"\n", s.k.noun)
	return s.g.print(cmd.OutOrStdout(), settingsList(m, true))
}

func (s *siteCmd) deployment() *cobra.Command {
	ex := `  lanyard ` + s.k.noun + ` deployment source config-zip -n ` + s.k.name + ` -g rg --src app.zip`
	cmd := &cobra.Command{Use: "deployment", Short: "Deploy a " + s.k.label + "'s code", Example: ex}
	source := &cobra.Command{Use: "source", Short: "Deploy from a source", Example: ex}
	var (
		f   siteFlags
		src string
	)
	zip := &cobra.Command{
		Use:   "config-zip --name NAME --resource-group GROUP --src FILE.zip",
		Short: "Deploy a zip package",
		Long: `Uploads a zip package to the ` + s.k.label + `: the server keeps it by its digest (sha256) and the
nodes that run the app fetch it, check it and switch to it. Lanyard's stand-in for Kudu's zipdeploy.`,
		Example: `  cd app && zip -r ../app.zip . && cd ..
  lanyard ` + s.k.noun + ` deployment source config-zip -n ` + s.k.name + ` -g rg --src app.zip`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			body, err := os.ReadFile(src)
			if err != nil {
				return fmt.Errorf("--src: %w", err)
			}
			ctx := cmd.Context()
			c, path, _, _, err := s.read(ctx, &f)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Getting scm site credentials for zip deployment\nStarting zip deployment. This operation can take a while to complete ...\n")
			resp, err := c.ZipDeploy(ctx, path, body)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Deployment endpoint responded with status code %d\n", resp.Status)
			return printRaw(s.g, cmd.OutOrStdout(), resp.Body)
		},
	}
	s.addFlags(zip, &f)
	zip.Flags().StringVar(&src, "src", "", "the zip file (required)")
	_ = zip.MarkFlagRequired("src")
	source.AddCommand(zip)
	cmd.AddCommand(source)
	return cmd
}

// keyTypes are the values of keys --key-type.
var keyTypes = []string{client.KeyTypeFunction, client.KeyTypeSystem, client.KeyTypeMaster}

func (s *siteCmd) keys() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Short:   "A function app's host keys: the master key, host function keys and system keys",
		Example: `  lanyard functionapp keys list -n ` + s.k.name + ` -g rg`,
		Long: `A function app's host-level keys. A request to an HTTP function of authLevel function passes with
the master key, a host function key or one of the function's own keys (x-functions-key header or
code query parameter); authLevel admin needs the master key.`,
	}
	var f siteFlags
	list := &cobra.Command{
		Use: "list --name NAME --resource-group GROUP", Short: "List the master, host function and system keys", Args: cobra.NoArgs,
		Example: `  lanyard functionapp keys list -n ` + s.k.name + ` -g rg --query functionKeys.default -o tsv`,
		RunE: s.onSite(&f, func(ctx context.Context, c *client.Client, path string) (any, error) {
			return c.ListHostKeys(ctx, path)
		}),
	}
	s.addFlags(list, &f)
	var (
		fs                siteFlags
		kind, name, value string
		fd                siteFlags
		dkind, dname      string
	)
	set := &cobra.Command{
		Use:   "set --name NAME --resource-group GROUP --key-type TYPE --key-name KEY [--key-value VALUE]",
		Short: "Create or change a host key (the value is generated when not given)",
		Example: `  lanyard functionapp keys set -n ` + s.k.name + ` -g rg --key-type functionKeys --key-name ci
  lanyard functionapp keys set -n ` + s.k.name + ` -g rg --key-type masterKey --key-name _master --key-value "$NEW"`,
		Args: cobra.NoArgs,
		RunE: s.onSite(&fs, func(ctx context.Context, c *client.Client, path string) (any, error) {
			k := canonicalFold(keyTypes, kind)
			if k == "" {
				return nil, fmt.Errorf("--key-type must be one of %s", strings.Join(keyTypes, ", "))
			}
			info, err := c.SetHostKey(ctx, path, k, name, value)
			if err != nil {
				return nil, err
			}
			return keyOut(info), nil
		}),
	}
	s.addFlags(set, &fs)
	set.Flags().StringVar(&kind, "key-type", "", "functionKeys, systemKeys or masterKey (required)")
	set.Flags().StringVar(&name, "key-name", "", "the key's name (required)")
	set.Flags().StringVar(&value, "key-value", "", "the key's value (default: generated)")
	_ = set.MarkFlagRequired("key-type")
	_ = set.MarkFlagRequired("key-name")
	del := &cobra.Command{
		Use:     "delete --name NAME --resource-group GROUP --key-type TYPE --key-name KEY",
		Short:   "Delete a host function key or system key",
		Example: `  lanyard functionapp keys delete -n ` + s.k.name + ` -g rg --key-type functionKeys --key-name ci`,
		Args:    cobra.NoArgs,
		RunE: s.onSite(&fd, func(ctx context.Context, c *client.Client, path string) (any, error) {
			k := canonicalFold(keyTypes, dkind)
			if k == "" {
				return nil, fmt.Errorf("--key-type must be one of %s", strings.Join(keyTypes, ", "))
			}
			return nil, c.DeleteHostKey(ctx, path, k, dname)
		}),
	}
	s.addFlags(del, &fd)
	del.Flags().StringVar(&dkind, "key-type", "", "functionKeys, systemKeys or masterKey (required)")
	del.Flags().StringVar(&dname, "key-name", "", "the key's name (required)")
	_ = del.MarkFlagRequired("key-type")
	_ = del.MarkFlagRequired("key-name")
	cmd.AddCommand(list, set, del)
	return cmd
}

// keyOut is a key as az prints it after a set: its name and value.
func keyOut(k client.KeyInfo) map[string]string {
	return map[string]string{"name": k.Properties.Name, "value": k.Properties.Value}
}

func (s *siteCmd) function() *cobra.Command {
	ex := `  lanyard functionapp function keys list -n ` + s.k.name + ` -g rg --function-name hello`
	cmd := &cobra.Command{Use: "function", Short: "A function app's functions", Example: ex}
	keys := &cobra.Command{Use: "keys", Short: "A function's own keys", Example: ex}
	var (
		fl, fs, fd        siteFlags
		lfn, sfn, dfn     string
		sname, svalue, dn string
	)
	addFn := func(c *cobra.Command, fn *string) {
		c.Flags().StringVar(fn, "function-name", "", "the function's name (required)")
		_ = c.MarkFlagRequired("function-name")
	}
	list := &cobra.Command{
		Use: "list --name NAME --resource-group GROUP --function-name FUNCTION", Short: "List a function's keys", Args: cobra.NoArgs,
		Example: `  lanyard functionapp function keys list -n ` + s.k.name + ` -g rg --function-name hello --query default -o tsv`,
		RunE: s.onSite(&fl, func(ctx context.Context, c *client.Client, path string) (any, error) {
			return c.ListFunctionKeys(ctx, path, lfn)
		}),
	}
	s.addFlags(list, &fl)
	addFn(list, &lfn)
	set := &cobra.Command{
		Use:     "set --name NAME --resource-group GROUP --function-name FUNCTION --key-name KEY [--key-value VALUE]",
		Short:   "Create or change a function's key (the value is generated when not given)",
		Example: `  lanyard functionapp function keys set -n ` + s.k.name + ` -g rg --function-name hello --key-name partner`,
		Args:    cobra.NoArgs,
		RunE: s.onSite(&fs, func(ctx context.Context, c *client.Client, path string) (any, error) {
			info, err := c.SetFunctionKey(ctx, path, sfn, sname, svalue)
			if err != nil {
				return nil, err
			}
			return keyOut(info), nil
		}),
	}
	s.addFlags(set, &fs)
	addFn(set, &sfn)
	set.Flags().StringVar(&sname, "key-name", "", "the key's name (required)")
	set.Flags().StringVar(&svalue, "key-value", "", "the key's value (default: generated)")
	_ = set.MarkFlagRequired("key-name")
	del := &cobra.Command{
		Use:     "delete --name NAME --resource-group GROUP --function-name FUNCTION --key-name KEY",
		Short:   "Delete a function's key",
		Example: `  lanyard functionapp function keys delete -n ` + s.k.name + ` -g rg --function-name hello --key-name partner`,
		Args:    cobra.NoArgs,
		RunE: s.onSite(&fd, func(ctx context.Context, c *client.Client, path string) (any, error) {
			return nil, c.DeleteFunctionKey(ctx, path, dfn, dn)
		}),
	}
	s.addFlags(del, &fd)
	addFn(del, &dfn)
	del.Flags().StringVar(&dn, "key-name", "", "the key's name (required)")
	_ = del.MarkFlagRequired("key-name")
	keys.AddCommand(list, set, del)
	cmd.AddCommand(keys)
	return cmd
}

// onSite is the RunE of a command that acts on one site: its flags checked, the site found,
// then do; what do returns, when not nil, is printed.
func (s *siteCmd) onSite(f *siteFlags, do func(ctx context.Context, c *client.Client, path string) (any, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := s.checkFlags(f); err != nil {
			return err
		}
		ctx := cmd.Context()
		c, path, _, _, err := s.read(ctx, f)
		if err != nil {
			return err
		}
		out, err := do(ctx, c, path)
		if err != nil || out == nil {
			return err
		}
		return s.g.print(cmd.OutOrStdout(), out)
	}
}
