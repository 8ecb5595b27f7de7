package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/nodes"
)

// siteKind is one of the two kinds of Microsoft.Web/sites the CLI manages: web apps and
// function apps, each under its own noun, as in az.
type siteKind struct {
	noun  string // the command: webapp, functionapp
	kind  string // the site's kind: app, functionapp
	label string // "web app", "function app"
	name  string // example name
}

var (
	webAppKind      = siteKind{noun: "webapp", kind: "app", label: "web app", name: "web"}
	functionAppKind = siteKind{noun: "functionapp", kind: "functionapp", label: "function app", name: "func"}
)

// is reports whether a site of kind k (ARM's kind, such as "functionapp,linux") is of this kind.
func (s siteKind) is(k string) bool {
	fn := strings.Contains(strings.ToLower(k), "functionapp")
	return fn == (s.kind == "functionapp")
}

// systemIdentity is how --identities names the system-assigned identity, as in az.
const systemIdentity = "[system]"

// newWebAppCmd is "lanyard webapp", like "az webapp".
func newWebAppCmd(g *globals) *cobra.Command { return newSiteCmd(g, webAppKind) }

func newSiteCmd(g *globals, k siteKind) *cobra.Command {
	cmd := &cobra.Command{
		Use:   k.noun,
		Short: "Manage " + k.label + "s (Microsoft.Web/sites of kind " + k.kind + ") and their managed identities",
		Long: `Manages ` + k.label + `s: Microsoft.Web/sites of kind ` + k.kind + `, through Lanyard's management API on the
admin socket of the server on this host, with an administrator's authority. A ` + k.label + ` runs on a
node (--node); its system-assigned identity (identity assign) lives and dies with it, and
user-assigned identities can be attached to it and detached again.`,
		Example: `  lanyard ` + k.noun + ` create --name ` + k.name + ` --resource-group rg --node node1
  lanyard ` + k.noun + ` identity assign --name ` + k.name + ` --resource-group rg --query principalId -o tsv`,
	}
	a := newARMCmd(g, cmd)
	s := &siteCmd{armCmd: a, k: k}
	cmd.AddCommand(s.create(), s.deploy(), s.list(), s.show(), s.delete(), s.identity(), s.logCmd(), s.auth(), s.config(), s.deployment())
	if k == functionAppKind {
		cmd.AddCommand(s.keys(), s.function())
	}
	return cmd
}

// siteCmd builds the commands of one site kind.
type siteCmd struct {
	*armCmd
	k siteKind
}

// siteFlags are --name and --resource-group of a command on one site.
type siteFlags struct{ name, group string }

func (s *siteCmd) addFlags(cmd *cobra.Command, f *siteFlags) {
	cmd.Flags().StringVarP(&f.name, "name", "n", "", "name of the "+s.k.label+" (required)")
	cmd.Flags().StringVarP(&f.group, "resource-group", "g", "", "resource group of the "+s.k.label+" (required)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("resource-group")
}

func (s *siteCmd) checkFlags(f *siteFlags) error {
	if err := checkName(f.name); err != nil {
		return err
	}
	if err := checkResourceGroup("resource-group", f.group); err != nil {
		return err
	}
	return s.check()
}

// path returns the site's ARM id, resolving the subscription.
func (s *siteCmd) path(ctx context.Context, c *client.Client, f *siteFlags) (sub, path string, err error) {
	if sub, err = s.sub(ctx, c); err != nil {
		return "", "", err
	}
	return sub, client.ResourcePath(sub, f.group, client.TypeSites, f.name), nil
}

// read reads the site the flags name (see get), with the client it used and the site's path.
func (s *siteCmd) read(ctx context.Context, f *siteFlags) (*client.Client, string, json.RawMessage, client.Resource, error) {
	c := s.g.client()
	_, path, err := s.path(ctx, c, f)
	if err != nil {
		return nil, "", nil, client.Resource{}, err
	}
	raw, site, err := s.get(ctx, c, path, f)
	return c, path, raw, site, err
}

// get reads a site and checks its kind.
func (s *siteCmd) get(ctx context.Context, c *client.Client, path string, f *siteFlags) (json.RawMessage, client.Resource, error) {
	var site client.Resource
	raw, err := getRaw(ctx, c, path, client.APIVersionSites)
	if err == nil {
		err = json.Unmarshal(raw, &site)
	}
	if err != nil {
		return nil, site, err
	}
	if !s.k.is(site.Kind) {
		other := webAppKind
		if s.k == webAppKind {
			other = functionAppKind
		}
		return nil, site, fmt.Errorf("%s in %s is a %s (kind %q), not a %s: use lanyard %s", f.name, f.group, other.label, site.Kind, s.k.label, other.noun)
	}
	return raw, site, nil
}

// sitePut is the body of a PUT that replaces a site: what can be written, taken from the site as
// read (read-only fields left out), with the identity rebuilt from what is wanted.
type sitePut struct {
	Location   string            `json:"location"`
	Kind       string            `json:"kind"`
	Tags       map[string]string `json:"tags,omitempty"`
	Identity   *client.Identity  `json:"identity,omitempty"`
	Properties json.RawMessage   `json:"properties,omitempty"`
}

// putBody returns the body of a PUT that keeps site as it is.
func putBody(site client.Resource) sitePut {
	b := sitePut{Location: site.Location, Kind: site.Kind, Tags: site.Tags, Properties: site.Properties}
	if site.Identity != nil {
		b.Identity = wantIdentity(site.Identity.HasSystemAssigned(), userIdentities(site.Identity))
	}
	return b
}

// wantIdentity is the identity property to send for the system-assigned identity on or off and
// these user-assigned identities: their ids, with empty values, as ARM wants them on a PUT.
func wantIdentity(system bool, users []string) *client.Identity {
	id := &client.Identity{Type: client.IdentityType(system, len(users) > 0)}
	if len(users) > 0 {
		id.UserAssignedIdentities = map[string]*client.UserAssignedIdentity{}
		for _, u := range users {
			id.UserAssignedIdentities[u] = &client.UserAssignedIdentity{}
		}
	}
	return id
}

// userIdentities lists the ids of the user-assigned identities attached, in a stable order.
func userIdentities(id *client.Identity) []string {
	if id == nil {
		return nil
	}
	var out []string
	for k := range id.UserAssignedIdentities {
		out = append(out, k)
	}
	sortFold(out)
	return out
}

// withNode returns properties with lanyard.node set: the node the site is placed on, which the
// node's agent runs it on.
func withNode(props json.RawMessage, node string) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(props) > 0 && string(props) != "null" {
		if err := json.Unmarshal(props, &m); err != nil {
			return nil, fmt.Errorf("the site's properties: %w", err)
		}
	}
	l := map[string]json.RawMessage{}
	if raw, ok := m["lanyard"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, fmt.Errorf("the site's properties.lanyard: %w", err)
		}
	}
	l["node"], _ = json.Marshal(node)
	m["lanyard"], _ = json.Marshal(l)
	return json.Marshal(m)
}

// checkNode checks the node name given in flag by the server's rule for node names.
func checkNode(flag, node string) error {
	if err := nodes.CheckNodeName(node); err != nil {
		return fmt.Errorf("--%s: %s", flag, errs.Message(err))
	}
	return nil
}

func (s *siteCmd) create() *cobra.Command {
	var f siteFlags
	var location, node string
	var tags []string
	cmd := &cobra.Command{
		Use:   "create --name NAME --resource-group GROUP [--node NODE]",
		Short: "Create a " + s.k.label,
		Long: `Creates a ` + s.k.label + ` (a Microsoft.Web/sites resource of kind ` + s.k.kind + `) in a resource group. --node places it
on a node, whose agent runs it (properties.lanyard.node; "deploy" moves it). The location defaults
to the group's. Creating one that exists updates its tags and node and keeps its identities.`,
		Example: `  lanyard ` + s.k.noun + ` create --name ` + s.k.name + ` --resource-group rg
  lanyard ` + s.k.noun + ` create -n ` + s.k.name + ` -g rg --node node1 --query id -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			if node != "" {
				if err := checkNode("node", node); err != nil {
					return err
				}
			}
			t, err := parseTags(tags)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c := s.g.client()
			sub, path, err := s.path(ctx, c, &f)
			if err != nil {
				return err
			}
			var body sitePut
			_, site, err := s.get(ctx, c, path, &f)
			switch {
			case err == nil: // it exists: keep what it has
				body = putBody(site)
				if t != nil {
					body.Tags = t
				}
			case client.IsNotFound(err):
				body = sitePut{Location: location, Kind: s.k.kind, Tags: t}
				if body.Location == "" {
					if body.Location, err = groupLocation(ctx, c, sub, f.group); err != nil {
						return err
					}
				}
			default:
				return err
			}
			if node != "" {
				if body.Properties, err = withNode(body.Properties, node); err != nil {
					return err
				}
			}
			var out json.RawMessage
			if err := c.ARM(ctx, http.MethodPut, path, client.APIVersionSites, body, &out); err != nil {
				return err
			}
			return printRaw(s.g, cmd.OutOrStdout(), out)
		},
	}
	s.addFlags(cmd, &f)
	cmd.Flags().StringVarP(&location, "location", "l", "", "location of the "+s.k.label+" (default: the group's)")
	cmd.Flags().StringVar(&node, "node", "", "the node that runs the "+s.k.label)
	cmd.Flags().StringSliceVar(&tags, "tags", nil, "tags, KEY=VALUE, space- or comma-separated")
	return cmd
}

func (s *siteCmd) deploy() *cobra.Command {
	var f siteFlags
	var node string
	cmd := &cobra.Command{
		Use:   "deploy --name NAME --resource-group GROUP --node NODE",
		Short: "Place a " + s.k.label + " on a node",
		Long: `Places a ` + s.k.label + ` on a node (properties.lanyard.node): that node's agent runs it, with its identities.
Nothing else about it changes.`,
		Example: `  lanyard ` + s.k.noun + ` deploy --name ` + s.k.name + ` --resource-group rg --node node1`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			if err := checkNode("node", node); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, path, _, site, err := s.read(ctx, &f)
			if err != nil {
				return err
			}
			body := putBody(site)
			if body.Properties, err = withNode(body.Properties, node); err != nil {
				return err
			}
			var out json.RawMessage
			if err := c.ARM(ctx, http.MethodPut, path, client.APIVersionSites, body, &out); err != nil {
				return err
			}
			return printRaw(s.g, cmd.OutOrStdout(), out)
		},
	}
	s.addFlags(cmd, &f)
	cmd.Flags().StringVar(&node, "node", "", "the node that runs the "+s.k.label+" (required)")
	_ = cmd.MarkFlagRequired("node")
	return cmd
}

func (s *siteCmd) list() *cobra.Command {
	var group string
	cmd := &cobra.Command{
		Use:   "list [--resource-group GROUP]",
		Short: "List " + s.k.label + "s, of a group or of the whole subscription",
		Example: `  lanyard ` + s.k.noun + ` list
  lanyard ` + s.k.noun + ` list -g rg --query "[].{name:name, node:properties.lanyard.node}" -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := s.listOfType(cmd.Context(), group, client.TypeSites, client.APIVersionSites)
			if err != nil {
				return err
			}
			out := []json.RawMessage{}
			for _, it := range items {
				var site client.Resource
				if json.Unmarshal(it, &site) == nil && s.k.is(site.Kind) {
					out = append(out, it)
				}
			}
			return s.g.print(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().StringVarP(&group, "resource-group", "g", "", "only the "+s.k.label+"s of this resource group")
	return cmd
}

func (s *siteCmd) show() *cobra.Command {
	var f siteFlags
	cmd := &cobra.Command{
		Use:     "show --name NAME --resource-group GROUP",
		Short:   "Show a " + s.k.label,
		Example: `  lanyard ` + s.k.noun + ` show --name ` + s.k.name + ` --resource-group rg --query identity`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			_, _, raw, _, err := s.read(cmd.Context(), &f)
			if err != nil {
				return err
			}
			return printRaw(s.g, cmd.OutOrStdout(), raw)
		},
	}
	s.addFlags(cmd, &f)
	return cmd
}

func (s *siteCmd) delete() *cobra.Command {
	var f siteFlags
	cmd := &cobra.Command{
		Use:   "delete --name NAME --resource-group GROUP",
		Short: "Delete a " + s.k.label,
		Long: `Deletes a ` + s.k.label + `. Its system-assigned identity is deleted with it, with every role assignment and app
role it held; user-assigned identities attached to it are only detached.`,
		Example: `  lanyard ` + s.k.noun + ` delete --name ` + s.k.name + ` --resource-group rg`,
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
			return c.ARM(ctx, http.MethodDelete, path, client.APIVersionSites, nil, nil)
		},
	}
	s.addFlags(cmd, &f)
	return cmd
}

func (s *siteCmd) identity() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Manage the managed identities of a " + s.k.label,
		Long: `Turns a ` + s.k.label + `'s system-assigned identity on and off, and attaches and detaches user-assigned
identities. In --identities, "[system]" names the system-assigned identity; anything else is a
user-assigned identity, by ARM id or by name in the ` + s.k.label + `'s resource group.`,
		Example: `  lanyard ` + s.k.noun + ` identity assign --name ` + s.k.name + ` --resource-group rg
  lanyard ` + s.k.noun + ` identity assign --name ` + s.k.name + ` --resource-group rg --identities $IDENTITY_ID
  lanyard ` + s.k.noun + ` identity show --name ` + s.k.name + ` --resource-group rg`,
	}
	cmd.AddCommand(s.identityAssign(), s.identityRemove(), s.identityShow())
	return cmd
}

// identitiesFlag is --identities parsed: whether "[system]" is among them, the user-assigned
// identities given by ARM id (canonical) and those given by name (in the site's group).
type identitiesFlag struct {
	system bool
	ids    []string
	names  []string
}

// parseIdentities checks --identities before anything is sent.
func parseIdentities(vals []string) (identitiesFlag, error) {
	var f identitiesFlag
	for _, v := range vals {
		v = strings.TrimSpace(v)
		switch {
		case strings.EqualFold(v, systemIdentity):
			f.system = true
			continue
		case v == "":
			return f, fmt.Errorf("--identities: an empty value")
		case !strings.Contains(v, "/"):
			if err := checkName(v); err != nil {
				return f, fmt.Errorf("--identities %q is neither [system], an ARM id nor an identity's name", v)
			}
			f.names = append(f.names, v)
			continue
		}
		id, err := parseID("identities", v)
		if err != nil {
			return f, err
		}
		if !strings.EqualFold(id.ResourceType(), client.TypeIdentities) {
			return f, fmt.Errorf("--identities %q is a %s, not a user-assigned identity (%s)", v, id.ResourceType(), client.TypeIdentities)
		}
		f.ids = append(f.ids, id.String())
	}
	return f, nil
}

// users returns the ARM ids of the user-assigned identities, names resolved in group, without
// duplicates.
func (f identitiesFlag) users(sub, group string) []string {
	var out []string
	all := slices.Clone(f.ids)
	for _, n := range f.names {
		all = append(all, client.ResourcePath(sub, group, client.TypeIdentities, n))
	}
	for _, id := range all {
		if !containsFold(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// putIdentity replaces the site with the wanted identity and prints the identity it then has.
func (s *siteCmd) putIdentity(cmd *cobra.Command, c *client.Client, path string, site client.Resource, system bool, users []string) error {
	body := putBody(site)
	body.Identity = wantIdentity(system, users)
	var out json.RawMessage
	if err := c.ARM(cmd.Context(), http.MethodPut, path, client.APIVersionSites, body, &out); err != nil {
		return err
	}
	return s.printIdentityOf(cmd, out)
}

// printIdentityOf prints the identity property of a site as the server sent it (nothing when
// the site has none), as az does.
func (s *siteCmd) printIdentityOf(cmd *cobra.Command, raw json.RawMessage) error {
	ms, err := objectMembers(raw)
	if err != nil {
		return fmt.Errorf("the site as read: %w", err)
	}
	for _, m := range ms {
		if m.key == "identity" && string(m.val) != "null" {
			return s.g.print(cmd.OutOrStdout(), m.val)
		}
	}
	return nil
}

func (s *siteCmd) identityAssign() *cobra.Command {
	var f siteFlags
	var ids []string
	cmd := &cobra.Command{
		Use:   "assign --name NAME --resource-group GROUP [--identities ID...]",
		Short: "Turn on the system-assigned identity, or attach user-assigned identities",
		Long: `Adds identities to the ` + s.k.label + `'s: without --identities, or with "[system]" among them, the
system-assigned identity is turned on (a ManagedIdentity service principal that lives and dies
with the ` + s.k.label + `); user-assigned identities (by ARM id, or by name in the same group) are attached,
which needs Managed Identity Operator on them. Identities it already has are kept. Prints the
identity property.`,
		Example: `  lanyard ` + s.k.noun + ` identity assign --name ` + s.k.name + ` --resource-group rg --query principalId -o tsv
  lanyard ` + s.k.noun + ` identity assign -n ` + s.k.name + ` -g rg --identities $IDENTITY_ID
  lanyard ` + s.k.noun + ` identity assign -n ` + s.k.name + ` -g rg --identities [system] deployer`,
		Args: idsArgs("identities", &ids),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			if !cmd.Flags().Changed("identities") {
				ids = []string{systemIdentity}
			}
			want, err := parseIdentities(ids)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c := s.g.client()
			sub, path, err := s.path(ctx, c, &f)
			if err != nil {
				return err
			}
			system, add := want.system, want.users(sub, f.group)
			_, site, err := s.get(ctx, c, path, &f)
			if err != nil {
				return err
			}
			users := userIdentities(site.Identity)
			for _, u := range add {
				if !containsFold(users, u) {
					users = append(users, u)
				}
			}
			return s.putIdentity(cmd, c, path, site, system || site.Identity.HasSystemAssigned(), users)
		},
	}
	s.addFlags(cmd, &f)
	cmd.Flags().StringSliceVar(&ids, "identities", nil, `identities to add: "[system]", ARM ids or names of user-assigned identities, space- or comma-separated (default: [system])`)
	return cmd
}

func (s *siteCmd) identityRemove() *cobra.Command {
	var f siteFlags
	var ids []string
	cmd := &cobra.Command{
		Use:   "remove --name NAME --resource-group GROUP [--identities ID...]",
		Short: "Turn off the system-assigned identity, or detach user-assigned identities",
		Long: `Removes identities from the ` + s.k.label + `'s: without --identities, or with "[system]" among them, the
system-assigned identity is turned off, which deletes its service principal with every role
assignment and app role it held; user-assigned identities are detached (they are not deleted).
Naming one that is not attached is an error. Prints the identity property.`,
		Example: `  lanyard ` + s.k.noun + ` identity remove --name ` + s.k.name + ` --resource-group rg
  lanyard ` + s.k.noun + ` identity remove -n ` + s.k.name + ` -g rg --identities $IDENTITY_ID`,
		Args: idsArgs("identities", &ids),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			if !cmd.Flags().Changed("identities") {
				ids = []string{systemIdentity}
			}
			want, err := parseIdentities(ids)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c := s.g.client()
			sub, path, err := s.path(ctx, c, &f)
			if err != nil {
				return err
			}
			dropSystem, drop := want.system, want.users(sub, f.group)
			raw, site, err := s.get(ctx, c, path, &f)
			if err != nil {
				return err
			}
			have := userIdentities(site.Identity)
			var missing []string
			for _, d := range drop {
				if !containsFold(have, d) {
					missing = append(missing, d)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%s is not attached to %s %s", strings.Join(missing, ", "), s.k.label, f.name)
			}
			var keep []string
			for _, h := range have {
				if !containsFold(drop, h) {
					keep = append(keep, h)
				}
			}
			system := site.Identity.HasSystemAssigned() && !dropSystem
			if system == site.Identity.HasSystemAssigned() && len(keep) == len(have) {
				return s.printIdentityOf(cmd, raw) // nothing to remove
			}
			return s.putIdentity(cmd, c, path, site, system, keep)
		},
	}
	s.addFlags(cmd, &f)
	cmd.Flags().StringSliceVar(&ids, "identities", nil, `identities to remove: "[system]", ARM ids or names of user-assigned identities, space- or comma-separated (default: [system])`)
	return cmd
}

func (s *siteCmd) identityShow() *cobra.Command {
	var f siteFlags
	cmd := &cobra.Command{
		Use:   "show --name NAME --resource-group GROUP",
		Short: "Show the identity property of a " + s.k.label,
		Example: `  lanyard ` + s.k.noun + ` identity show --name ` + s.k.name + ` --resource-group rg
  lanyard ` + s.k.noun + ` identity show -n ` + s.k.name + ` -g rg --query "userAssignedIdentities.*.clientId" -o tsv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := s.checkFlags(&f); err != nil {
				return err
			}
			_, _, raw, _, err := s.read(cmd.Context(), &f)
			if err != nil {
				return err
			}
			return s.printIdentityOf(cmd, raw)
		},
	}
	s.addFlags(cmd, &f)
	return cmd
}

// sortFold sorts strings ignoring case.
func sortFold(s []string) {
	slices.SortFunc(s, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
}
