package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

func newRestCmd(g *globals) *cobra.Command {
	var method, rawURL, body string
	var headers []string
	cmd := &cobra.Command{
		Use:   "rest --url URL",
		Short: "Send a request to any Lanyard API with an administrator's authority",
		Long: `Sends a request to any of Lanyard's APIs (directory /v1.0, management, vault, admin) through the admin
socket of the server on this host, which carries an administrator's authority, like "az rest" does
with a signed-in user's token. --url is a path, or a full URL of this Lanyard whose scheme and host
are ignored. A JSON answer is printed through --query and --output; an error answer, in whatever
shape the API uses, becomes a one-line error.`,
		Example: `  lanyard rest --url /v1.0/servicePrincipals --query "value[].displayName"
  lanyard rest --method POST --url "https://localhost:8443/v1.0/servicePrincipals/$API_SP/appRoleAssignedTo" \
      --body '{"principalId":"'$MI'","resourceId":"'$API_SP'","appRoleId":"'$ROLE'"}'
  lanyard rest -m PATCH -u /v1.0/applications/$APP_OBJ --body @app.json --headers If-Match=*`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m := strings.ToUpper(method)
			switch m {
			case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
			default:
				return fmt.Errorf("--method must be GET, POST, PATCH, PUT or DELETE, not %q", method)
			}
			path, err := client.RequestPath(rawURL)
			if err != nil {
				return fmt.Errorf("--url: %w", err)
			}
			h, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			var b []byte
			if cmd.Flags().Changed("body") {
				if b, err = bodyArg(body); err != nil {
					return err
				}
				if h.Get("Content-Type") == "" && json.Valid(b) {
					h.Set("Content-Type", "application/json")
				}
			}
			resp, err := g.client().Send(cmd.Context(), m, path, h, b)
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
		},
	}
	cmd.Flags().StringVarP(&method, "method", "m", "GET", "HTTP method: GET, POST, PATCH, PUT or DELETE")
	cmd.Flags().StringVarP(&rawURL, "url", "u", "", "path (/v1.0/...) or full URL of this Lanyard (required)")
	cmd.Flags().StringVarP(&body, "body", "b", "", "request body: text (JSON for the JSON APIs), or @FILE")
	cmd.Flags().StringArrayVar(&headers, "headers", nil, "request header as KEY=VALUE (repeatable), or a JSON object of them")
	cmd.Flags().StringVar(&g.tenant, "tenant", "", "id of the tenant to act in, sent as X-Lanyard-Tenant (default: the default tenant)")
	_ = cmd.MarkFlagRequired("url")
	return cmd
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

// parseHeaders reads --headers values: KEY=VALUE, or a JSON object of string values.
func parseHeaders(vals []string) (http.Header, error) {
	h := http.Header{}
	for _, v := range vals {
		if strings.HasPrefix(strings.TrimSpace(v), "{") {
			var m map[string]string
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return nil, fmt.Errorf("--headers %q: not a JSON object of strings: %w", v, err)
			}
			for k, x := range m {
				if err := addHeader(h, k, x); err != nil {
					return nil, err
				}
			}
			continue
		}
		k, x, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("--headers %q: use KEY=VALUE", v)
		}
		if err := addHeader(h, k, x); err != nil {
			return nil, err
		}
	}
	return h, nil
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
