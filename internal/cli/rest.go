package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// restFlags are the flags of `lanyard rest`, az rest's.
type restFlags struct {
	method, uri, body, resource string
	headers, params             []string
	skipAuth                    bool
}

func newRestCmd(g *globals) *cobra.Command {
	var f restFlags
	cmd := &cobra.Command{
		Use:   "rest --uri URI [--method METHOD] [--headers K=V] [--body BODY|@FILE] [--uri-parameters K=V]",
		Short: "Send a request to any Lanyard API with an administrator's authority, as az rest does",
		Long: `Sends a request to any of Lanyard's APIs (directory /v1.0, management, vault, token service) through
the admin socket of the server on this host, which carries an administrator's authority, as "az rest"
does with a signed-in user's token. Its flags are az rest's, so az rest lines run with "az" replaced by
"lanyard".

--uri (or --url) is a path, or a full URL. Azure's public URLs name Lanyard's own APIs:
  https://graph.microsoft.com/v1.0/...       the directory
  https://management.azure.com/...           management (and management.core.windows.net)
  https://NAME.vault.azure.net/...           the vault NAME
  https://login.microsoftonline.com/...      the token service
Any other URL is sent with its host, so Lanyard's own vault hosts (https://NAME.vault.localhost:8443/)
work too. As in az, characters a URL may not hold (a space in $filter) are percent-encoded, and
--uri-parameters are added to the query string.

A JSON answer is printed through --query and --output (json by default); an error answer, in whatever
shape the API uses, becomes a one-line error and exit status 1.`,
		Example: `  lanyard rest --method GET --uri "https://graph.microsoft.com/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?\$select=id,appRoles" --query id -o tsv
  lanyard rest --uri "https://graph.microsoft.com/v1.0/servicePrincipals?\$filter=displayName eq 'Microsoft Graph'"
  lanyard rest --method POST --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$MI/appRoleAssignments" \
      --headers "Content-Type=application/json" --body @assignment.json
  lanyard rest -u https://management.azure.com/subscriptions --uri-parameters api-version=2022-12-01
  lanyard rest -u https://kv1.vault.azure.net/secrets --uri-parameters api-version=7.4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, g)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.method, "method", "m", "get", "HTTP method: delete, get, head, options, patch, post or put")
	fl.StringVarP(&f.uri, "uri", "u", "", "path (/v1.0/...) or URL: Azure's public URLs name Lanyard's APIs (required; --url is the same flag)")
	fl.StringVarP(&f.body, "body", "b", "", "request body: text (JSON for the JSON APIs), or @FILE")
	fl.StringArrayVar(&f.headers, "headers", nil, "request header as KEY=VALUE (repeatable), or a JSON object of them")
	fl.StringArrayVar(&f.params, "uri-parameters", nil, "query parameter as KEY=VALUE (repeatable), or a JSON object of them; --url-parameters is the same flag")
	fl.StringVar(&f.resource, "resource", "", "the resource az would get a token for; accepted for az's lines, unused: the admin socket carries the administrator's authority")
	fl.BoolVar(&f.skipAuth, "skip-authorization-header", false, "send the request without the administrator's authority, as a caller with no token")
	fl.StringVar(&g.tenant, "tenant", "", "id of the tenant to act in, sent as X-Lanyard-Tenant (default: the default tenant)")
	fl.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		switch name {
		case "url":
			name = "uri"
		case "url-parameters":
			name = "uri-parameters"
		}
		return pflag.NormalizedName(name)
	})
	_ = cmd.MarkFlagRequired("uri")
	return cmd
}

// restMethods are the methods az rest takes.
var restMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

func (f *restFlags) run(cmd *cobra.Command, g *globals) error {
	m := strings.ToUpper(f.method)
	if !slices.Contains(restMethods, m) {
		return fmt.Errorf("--method must be one of delete, get, head, options, patch, post, put; not %q", f.method)
	}
	if f.resource != "" {
		if u, err := url.Parse(f.resource); err != nil || (u.Scheme == "" && !guid.Valid(f.resource)) {
			return fmt.Errorf("--resource %q: not a resource URI or app id", f.resource)
		}
	}
	target, err := parseRestURI(f.uri)
	if err != nil {
		return fmt.Errorf("--uri: %w", err)
	}
	params, err := parseKeyValues("--uri-parameters", f.params)
	if err != nil {
		return err
	}
	target.addQuery(params)
	headers, err := parseKeyValues("--headers", f.headers)
	if err != nil {
		return err
	}
	h := http.Header{}
	for _, kv := range headers {
		if err := addHeader(h, kv[0], kv[1]); err != nil {
			return err
		}
	}
	var b []byte
	if cmd.Flags().Changed("body") {
		if b, err = bodyArg(f.body); err != nil {
			return err
		}
		if h.Get("Content-Type") == "" && json.Valid(b) {
			h.Set("Content-Type", "application/json")
		}
	}
	c := g.client()
	if target.vault != "" {
		a := &armCmd{g: g}
		if target.host, err = vaultHostByName(cmd.Context(), a, c, target.vault); err != nil {
			return err
		}
	}
	if target.host != "" {
		h.Set("Host", target.host)
	}
	if f.skipAuth {
		h.Set(client.SkipAuthorizationHeader, "true")
	}
	resp, err := c.Send(cmd.Context(), m, target.path, h, b)
	if err != nil {
		return oneLine(err)
	}
	if len(resp.Body) == 0 {
		return nil
	}
	if json.Valid(resp.Body) {
		return g.print(cmd.OutOrStdout(), json.RawMessage(resp.Body))
	}
	if g.query != "" {
		return fmt.Errorf("--query needs a JSON answer; this one is %s", resp.Header.Get("Content-Type"))
	}
	_, err = cmd.OutOrStdout().Write(resp.Body)
	return err
}

// restTarget is where a `rest` request goes: a path and query on the admin socket, with the Host
// to send (a vault's) or the name of a vault whose host is to be found.
type restTarget struct {
	path  string
	host  string
	vault string
}

func (t *restTarget) addQuery(kvs [][2]string) {
	if len(kvs) == 0 {
		return
	}
	q := url.Values{}
	for _, kv := range kvs {
		q.Add(kv[0], kv[1])
	}
	sep := "?"
	if strings.Contains(t.path, "?") {
		sep = "&"
	}
	t.path += sep + q.Encode()
}

// The hosts of Azure's public endpoints that name Lanyard's APIs (Azure's names; where they go is
// Lanyard's own mapping).
var (
	azureAPIHosts   = []string{"graph.microsoft.com", "management.azure.com", "management.core.windows.net", "login.microsoftonline.com", "login.windows.net"}
	azureVaultHost  = ".vault.azure.net"
	azureVaultNames = regexp.MustCompile(`^[a-z0-9-]{3,24}$`)
)

// parseRestURI maps --uri to a restTarget: a path as it is; one of Azure's public URLs to the
// Lanyard API it names; any other URL to its path, sent with its host.
func parseRestURI(raw string) (restTarget, error) {
	raw = requoteURI(strings.TrimSpace(raw))
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		return restTarget{path: raw}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return restTarget{}, fmt.Errorf("%q is neither a path (/v1.0/…) nor an http(s) URL", raw)
	}
	t := restTarget{path: u.EscapedPath()}
	if t.path == "" {
		t.path = "/"
	}
	if u.RawQuery != "" {
		t.path += "?" + u.RawQuery
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case slices.Contains(azureAPIHosts, host):
		if host == "graph.microsoft.com" && !strings.HasPrefix(t.path, "/v1.0/") {
			return restTarget{}, fmt.Errorf("%s: Lanyard serves Microsoft Graph's v1.0 only (https://graph.microsoft.com/v1.0/...)", raw)
		}
	case strings.HasSuffix(host, azureVaultHost):
		t.vault = strings.TrimSuffix(host, azureVaultHost)
		if !azureVaultNames.MatchString(t.vault) {
			return restTarget{}, fmt.Errorf("%s: %q is not a vault name", raw, t.vault)
		}
	default:
		t.host = u.Host
	}
	return t, nil
}

// requoteURI percent-encodes what a URI may not hold (a space, a quote, a non-ASCII character),
// and leaves the rest, escapes included, as it is: what az rest does to --uri (it sends it with
// Python requests, whose requote_uri keeps the reserved characters and "%XX").
func requoteURI(s string) string {
	const safe = "!#$&'()*+,/:;=?@[]~-._"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte(safe, c) >= 0:
			b.WriteByte(c)
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// parseKeyValues reads the values of a flag that takes KEY=VALUE or a JSON object of strings.
func parseKeyValues(flag string, vals []string) ([][2]string, error) {
	var out [][2]string
	for _, v := range vals {
		if strings.HasPrefix(strings.TrimSpace(v), "{") {
			var m map[string]string
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return nil, fmt.Errorf("%s %q: not a JSON object of strings: %w", flag, v, err)
			}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				out = append(out, [2]string{k, m[k]})
			}
			continue
		}
		k, x, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s %q: use KEY=VALUE", flag, v)
		}
		out = append(out, [2]string{k, x})
	}
	return out, nil
}

// bodyArg reads --body: the text itself, or @FILE.
func bodyArg(v string) ([]byte, error) {
	if name, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("--body: %w", err)
		}
		return b, nil
	}
	return []byte(v), nil
}

func addHeader(h http.Header, k, v string) error {
	k = strings.TrimSpace(k)
	if k == "" || strings.ContainsAny(k, " \t\r\n:") || strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("--headers: %q is not a valid header", k+"="+v)
	}
	if strings.EqualFold(k, "Authorization") {
		return fmt.Errorf("--headers: Authorization is not sent: the admin socket carries the administrator's authority")
	}
	h.Add(k, v)
	return nil
}

// oneLine folds an error's message onto one line.
func oneLine(err error) error {
	msg := err.Error()
	if !strings.ContainsAny(msg, "\r\n") {
		return err
	}
	return fmt.Errorf("%s", strings.Join(strings.Fields(msg), " "))
}
