package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/arm"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// armCmd is what every management command (group, identity, webapp, functionapp, role,
// resource) shares: the management API (ARM subset) on the admin socket, and --subscription.
type armCmd struct {
	g            *globals
	subscription string
}

// newARMCmd adds --subscription and --tenant to cmd and everything below it.
func newARMCmd(g *globals, cmd *cobra.Command) *armCmd {
	a := &armCmd{g: g}
	cmd.PersistentFlags().StringVar(&a.subscription, "subscription", "", "id or name of the subscription (default: the tenant's default subscription)")
	cmd.PersistentFlags().StringVar(&g.tenant, "tenant", "", "id of the tenant to act in (default: the default tenant)")
	return a
}

// sub returns the id of the subscription a command acts in: --subscription (an id, or a name
// looked up among the tenant's subscriptions), or the tenant's default subscription.
func (a *armCmd) sub(ctx context.Context, c *client.Client) (string, error) {
	s := strings.TrimSpace(a.subscription)
	if guid.Valid(s) {
		return strings.ToLower(s), nil
	}
	if s == "" {
		d, err := c.DefaultSubscription(ctx)
		if err != nil {
			return "", fmt.Errorf("default subscription: %w", err)
		}
		return d.SubscriptionID, nil
	}
	subs, err := c.Subscriptions(ctx)
	if err != nil {
		return "", err
	}
	var names []string
	for _, x := range subs {
		if strings.EqualFold(x.DisplayName, s) {
			return x.SubscriptionID, nil
		}
		names = append(names, x.DisplayName)
	}
	return "", fmt.Errorf("--subscription %q is neither a subscription id nor the name of one of the tenant's subscriptions (%s)", s, strings.Join(names, ", "))
}

// check rejects a --subscription or --tenant that cannot name one, before anything
// is sent.
func (a *armCmd) check() error {
	if a.subscription != "" && strings.TrimSpace(a.subscription) == "" {
		return fmt.Errorf("--subscription must name a subscription")
	}
	if a.g.tenant != "" {
		return checkGUID("tenant", a.g.tenant)
	}
	return nil
}

// checkResourceGroup checks a flag naming a resource group against ARM's rule for group names.
func checkResourceGroup(flag, name string) error {
	if err := arm.ValidateResourceGroupName(name); err != nil {
		return fmt.Errorf("--%s: %s", flag, errs.Message(err))
	}
	return nil
}

// checkName checks --name against ARM's rule for resource names.
func checkName(name string) error {
	if err := arm.ValidateResourceName(name); err != nil {
		return fmt.Errorf("--name: %s", errs.Message(err))
	}
	return nil
}

// parseID parses an ARM id given in flag.
func parseID(flag, id string) (arm.ID, error) {
	p, err := arm.Parse(strings.TrimSpace(id))
	if err != nil {
		return arm.ID{}, fmt.Errorf("--%s %q: %s", flag, id, errs.Message(err))
	}
	return p, nil
}

// parseTags reads --tags values, KEY=VALUE or KEY (an empty value), as az does.
func parseTags(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	tags := map[string]string{}
	for _, v := range vals {
		k, x, _ := strings.Cut(v, "=")
		if k == "" || len(k) > 512 || len(x) > 256 {
			return nil, fmt.Errorf("--tags %q: use KEY=VALUE (a key of 1 to 512 characters, a value of at most 256)", v)
		}
		tags[k] = x
	}
	return tags, nil
}

// confirm asks on stderr and reads the answer from stdin, unless yes. Anything but y or yes
// (including no answer at all, as when stdin is not a terminal) declines.
func confirm(cmd *cobra.Command, yes bool, question string) error {
	if yes {
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s (y/n): ", question)
	line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	fmt.Fprintln(cmd.ErrOrStderr())
	return fmt.Errorf("not confirmed: answer y, or add --yes")
}

// getRaw reads one resource as the server sent it.
func getRaw(ctx context.Context, c *client.Client, path, apiVersion string) (json.RawMessage, error) {
	var out json.RawMessage
	err := c.ARM(ctx, http.MethodGet, path, apiVersion, nil, &out)
	return out, err
}

// listOfType lists the resources of one type in group, or in the whole subscription when group
// is "" (the list commands of identity, keyvault, webapp and functionapp).
func (a *armCmd) listOfType(ctx context.Context, group, resourceType, apiVersion string) ([]json.RawMessage, error) {
	if group != "" {
		if err := checkResourceGroup("resource-group", group); err != nil {
			return nil, err
		}
	}
	if err := a.check(); err != nil {
		return nil, err
	}
	c := a.g.client()
	sub, err := a.sub(ctx, c)
	if err != nil {
		return nil, err
	}
	path := client.SubscriptionPath(sub) + "/providers/" + resourceType
	if group != "" {
		path = client.ResourcePath(sub, group, resourceType, "")
	}
	return listRaw(ctx, c, path, apiVersion)
}

// listRaw reads a collection, every page, as the server sent its items.
func listRaw(ctx context.Context, c *client.Client, path, apiVersion string) ([]json.RawMessage, error) {
	items := []json.RawMessage{}
	err := c.ARM(ctx, http.MethodGet, path, apiVersion, nil, &items)
	return items, err
}

// groupLocation returns the location of a resource group, which new resources in it default to,
// as in az.
func groupLocation(ctx context.Context, c *client.Client, sub, group string) (string, error) {
	var rg client.Resource
	if err := c.ARM(ctx, http.MethodGet, client.ResourceGroupPath(sub, group), client.APIVersionResourceGroups, nil, &rg); err != nil {
		return "", err
	}
	return rg.Location, nil
}

func newResourceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resource",
		Short: "Read any resource of the management API by its ARM id",
		Long: `Reads resources through Lanyard's management API (the ARM subset: /subscriptions/...), on the admin
socket of the server on this host, with an administrator's authority.`,
		Example: `  lanyard resource show --ids $SITE_ID --query identity.principalId -o tsv`,
	}
	a := newARMCmd(g, cmd)
	var ids []string
	var apiVersion string
	show := &cobra.Command{
		Use:   "show --ids ID...",
		Short: "Show resources by their ARM ids",
		Long: `Shows one resource, or several (as a list), by ARM id: a subscription, a resource group, a site,
a user-assigned identity, a machine, a vault, a role assignment or definition. The api-version is
chosen by the resource's type (` + strings.Join(client.ResourceTypes(), ", ") + `);
--api-version overrides it, and is needed for any other type.`,
		Example: `  lanyard resource show --ids /subscriptions/$SUB/resourceGroups/rg/providers/Microsoft.Web/sites/web
  lanyard resource show --ids $SITE_ID $IDENTITY_ID --query "[].{name:name, principal:identity.principalId}" -o table
  lanyard resource show --ids $ID --api-version 2023-01-01`,
		Args: idsArgs("ids", &ids),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.check(); err != nil {
				return err
			}
			type target struct{ path, version string }
			var targets []target
			for _, id := range ids {
				p, err := parseID("ids", id)
				if err != nil {
					return err
				}
				if p.IsRoot() {
					return fmt.Errorf("--ids %q: the root scope is not a resource", id)
				}
				v := apiVersion
				if v == "" {
					var ok bool
					if v, ok = client.APIVersion(p.ResourceType()); !ok {
						return fmt.Errorf("--ids %q: Lanyard's management API serves no resources of type %s; give --api-version to try anyway", id, p.ResourceType())
					}
				}
				targets = append(targets, target{p.String(), v})
			}
			c := a.g.client()
			var out []json.RawMessage
			for _, t := range targets {
				raw, err := getRaw(cmd.Context(), c, t.path, t.version)
				if err != nil {
					return fmt.Errorf("%s: %w", t.path, err)
				}
				out = append(out, raw)
			}
			if len(out) == 1 {
				return a.g.print(cmd.OutOrStdout(), out[0])
			}
			return a.g.print(cmd.OutOrStdout(), out)
		},
	}
	show.Flags().StringSliceVar(&ids, "ids", nil, "one or more ARM resource ids, space- or comma-separated (required)")
	show.Flags().StringVar(&apiVersion, "api-version", "", "the api-version to send (default: by resource type)")
	_ = show.MarkFlagRequired("ids")
	cmd.AddCommand(show)
	return cmd
}

// idsArgs lets a flag that takes several values take them space-separated, as az does
// ("--ids A B"): the positional arguments after it are appended to it.
func idsArgs(flag string, dst *[]string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 && !cmd.Flags().Changed(flag) {
			return fmt.Errorf("unexpected arguments %q", args)
		}
		*dst = append(*dst, args...)
		return nil
	}
}

// printRaw prints a JSON answer.
func printRaw(g *globals, w io.Writer, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	return g.print(w, raw)
}

// containsFold reports whether list holds s, ignoring case.
func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// rawMember is one key and value of a JSON object, in order.
type rawMember struct {
	key string
	val json.RawMessage
}

// objectMembers reads a JSON object's members in the order they appear.
func objectMembers(raw json.RawMessage) ([]rawMember, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var ms []rawMember
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, rawMember{k, v})
	}
	return ms, nil
}

// encodeMembers writes members as a JSON object, in order.
func encodeMembers(ms []rawMember) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// flattenProperties replaces an ARM resource's "properties" with its members, in place, keeping
// the order of everything, as az prints resources whose SDK models flatten them. rename gives
// properties another name (az's roleType for a role definition's properties.type); a property
// whose name is taken at the top level stays out.
func flattenProperties(raw json.RawMessage, rename map[string]string) (json.RawMessage, error) {
	top, err := objectMembers(raw)
	if err != nil {
		return nil, err
	}
	var out []rawMember
	for _, m := range top {
		if m.key != "properties" {
			out = append(out, m)
			continue
		}
		props, err := objectMembers(m.val)
		if err != nil {
			return nil, err
		}
		for _, p := range props {
			if r, ok := rename[p.key]; ok {
				p.key = r
			}
			if !slices.ContainsFunc(top, func(t rawMember) bool { return t.key == p.key }) {
				out = append(out, p)
			}
		}
	}
	return encodeMembers(out), nil
}
