package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// newADCmd is "lanyard ad": the directory (applications, service principals, app roles and their
// assignments, groups, directory roles) through the Graph-compatible API, like "az ad".
func newADCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ad",
		Short: "Manage the directory: applications, service principals, app roles, groups, directory roles",
		Long: `Manages the directory through Lanyard's Graph-compatible API (/v1.0), on the admin socket of the
server on this host, with an administrator's authority. Commands act in the default tenant unless
--tenant names another.`,
		Example: `  lanyard ad app create --display-name aad-func
  lanyard ad sp list --query "[].{name:displayName, appId:appId}" -o table
  lanyard ad app-role-assignment create --principal-id $MI --resource-id $API_SP --role DoAll`,
	}
	cmd.PersistentFlags().StringVar(&g.tenant, "tenant", "", "id of the tenant to act in (default: the default tenant)")
	cmd.AddCommand(newADAppCmd(g), newADSPCmd(g), newADAssignmentCmd(g), newADGroupCmd(g), newADRoleCmd(g))
	return cmd
}

// checkGUID rejects a flag value that is not a GUID, before anything is sent.
func checkGUID(flag, v string) error {
	if !guid.Valid(v) {
		return fmt.Errorf("--%s must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx), not %q", flag, v)
	}
	return nil
}

// checkKey rejects a flag value that cannot be one path segment of an id.
func checkKey(flag, v string) error {
	if v == "" || len(v) > 256 || strings.ContainsAny(v, "/?#\\") || strings.TrimSpace(v) != v {
		return fmt.Errorf("--%s %q is not an id", flag, v)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("--%s %q is not an id", flag, v)
		}
	}
	return nil
}

// jsonArg reads a flag value that is JSON, or @FILE holding JSON, as az does.
func jsonArg(flag, v string) (json.RawMessage, error) {
	b := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if b, err = os.ReadFile(name); err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("--%s is not JSON (give the JSON text, or @FILE)", flag)
	}
	return b, nil
}

// graphPath joins escaped segments under /v1.0 and adds a query.
func graphPath(query url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString(client.GraphBase)
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if len(query) > 0 {
		b.WriteByte('?')
		b.WriteString(query.Encode())
	}
	return b.String()
}

// odataString quotes s as an OData string literal.
func odataString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// filterQuery combines a raw --filter and extra conditions with "and".
func filterQuery(filter string, conds ...string) url.Values {
	var all []string
	if filter != "" {
		all = append(all, "("+filter+")")
	}
	for _, c := range conds {
		if c != "" {
			all = append(all, c)
		}
	}
	if len(all) == 0 {
		return nil
	}
	if len(all) == 1 && filter != "" {
		return url.Values{"$filter": {filter}}
	}
	return url.Values{"$filter": {strings.Join(all, " and ")}}
}

// listCollection reads a collection: every page with all, else the first page, with a note on
// stderr when there are more.
func listCollection(ctx context.Context, c *client.Client, path string, all bool, stderr io.Writer) ([]json.RawMessage, error) {
	items := []json.RawMessage{}
	if all {
		err := c.Graph(ctx, http.MethodGet, path, nil, &items)
		return items, err
	}
	next, err := c.GraphPage(ctx, path, &items)
	if err == nil && next != "" {
		fmt.Fprintln(stderr, "lanyard: more results are available: add --all to list them all")
	}
	return items, err
}

// resolveSP returns the object id of the service principal whose object id or appId is id.
func resolveSP(ctx context.Context, c *client.Client, id string) (client.ServicePrincipal, error) {
	var sp client.ServicePrincipal
	err := c.ServicePrincipal(ctx, id, &sp)
	return sp, err
}

// printEntity prints a JSON answer, or nothing for an empty one (204).
func printEntity(g *globals, cmd *cobra.Command, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	return g.print(cmd.OutOrStdout(), raw)
}
