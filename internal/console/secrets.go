package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// pageSize is the number of rows a list page shows.
const pageSize = 25

// secretRow is a secret (or a version) in a list.
type secretRow struct {
	client.Secret
	Name, Version string
}

func rowOfSecret(s client.Secret) secretRow {
	// ids are {vaultUri}secrets/{name}[/{version}] or deletedsecrets/{name}
	row := secretRow{Secret: s}
	segs := strings.Split(strings.TrimRight(s.ID, "/"), "/")
	for i, x := range segs {
		if (x == "secrets" || x == "deletedsecrets") && i+1 < len(segs) {
			row.Name = segs[i+1]
			if i+2 < len(segs) {
				row.Version = segs[i+2]
			}
		}
	}
	return row
}

// vaultPageOf reads one page of a vault collection at path (with api-version added), following
// skiptoken, the link's $skiptoken from a previous page.
func vaultPageOf(ctx context.Context, api *client.Client, host, path, skiptoken string) ([]secretRow, string, error) {
	q := url.Values{"api-version": {client.APIVersionSecrets}, "maxresults": {"25"}}
	if skiptoken != "" {
		q.Set("$skiptoken", skiptoken)
	}
	resp, err := api.Send(ctx, http.MethodGet, path+"?"+q.Encode(), http.Header{"Host": {host}, "Accept": {"application/json"}}, nil)
	if err != nil {
		return nil, "", err
	}
	var page struct {
		Value    []client.Secret `json:"value"`
		NextLink *string         `json:"nextLink"`
	}
	if err := json.Unmarshal(resp.Body, &page); err != nil {
		return nil, "", err
	}
	rows := make([]secretRow, 0, len(page.Value))
	for _, s := range page.Value {
		rows = append(rows, rowOfSecret(s))
	}
	next := ""
	if page.NextLink != nil && *page.NextLink != "" {
		if u, err := url.Parse(*page.NextLink); err == nil {
			next = u.Query().Get("$skiptoken")
		}
	}
	return rows, next, nil
}

// vaultOf reads, as the session's caller, the vault the request names, and its data plane's host.
func (c *Console) vaultOf(r *http.Request, s *current) (*client.Client, client.Resource, vaultProps, string, error) {
	api := c.api(s)
	v, p, err := c.getVault(r.Context(), api, r)
	if err != nil {
		return nil, v, p, "", err
	}
	host, err := client.VaultHost(p.VaultURI)
	return api, v, p, host, err
}

func (c *Console) secrets(w http.ResponseWriter, r *http.Request, s *current) error {
	api, v, p, host, err := c.vaultOf(r, s)
	if err != nil {
		return err
	}
	skip := r.URL.Query().Get("next")
	rows, next, err := vaultPageOf(r.Context(), api, host, "/secrets", skip)
	if err != nil {
		return err
	}
	deleted, dnext, err := vaultPageOf(r.Context(), api, host, "/deletedsecrets", r.URL.Query().Get("dnext"))
	if err != nil {
		return err
	}
	d := vaultData(v, p, "secrets")
	d["Secrets"], d["Next"], d["Deleted"], d["DeletedNext"], d["First"] = rows, next, deleted, dnext, skip == ""
	return c.render(w, r, "vault_secrets.html", &page{Title: v.Name + " | Secrets", Nav: "vaults", Crumb: vaultCrumb(), Data: d})
}

func (c *Console) setSecret(w http.ResponseWriter, r *http.Request, s *current) error {
	api, v, _, host, err := c.vaultOf(r, s)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if err := checkName("secret name", name); err != nil {
		return err
	}
	in := client.SecretSet{Value: r.PostForm.Get("value"), ContentType: r.PostForm.Get("contentType")}
	if _, err := api.Vault(host).SetSecret(r.Context(), name, in); err != nil {
		return err
	}
	return seeOther(w, r, vaultPage(groupOf(v.ID), v.Name)+"/secrets/"+pathEsc(name), "created")
}

func (c *Console) secret(w http.ResponseWriter, r *http.Request, s *current) error {
	return c.renderSecret(w, r, s, "", "")
}

// renderSecret shows a secret's versions; shown, when not "", is the value of version that the
// user asked to see (that read is audited by the vault, with the session as actor).
func (c *Console) renderSecret(w http.ResponseWriter, r *http.Request, s *current, version, shown string) error {
	api, v, p, host, err := c.vaultOf(r, s)
	if err != nil {
		return err
	}
	name := r.PathValue("secret")
	rows, next, err := vaultPageOf(r.Context(), api, host, "/secrets/"+url.PathEscape(name)+"/versions", r.URL.Query().Get("next"))
	if err != nil {
		return err
	}
	d := vaultData(v, p, "secrets")
	d["Name"], d["Versions"], d["Next"], d["ShownVersion"], d["Shown"], d["HasShown"] = name, rows, next, version, shown, version != ""
	pg := &page{Title: name, Nav: "vaults", Crumb: append(vaultCrumb(), crumb{v.Name, vaultPage(groupOf(v.ID), v.Name) + "/secrets"}), Data: d}
	c.renderStatus(w, r, http.StatusOK, "vault_secret.html", pg)
	return nil
}

func (c *Console) secretOp(w http.ResponseWriter, r *http.Request, s *current) error {
	api, v, _, host, err := c.vaultOf(r, s)
	if err != nil {
		return err
	}
	vc, name, version := api.Vault(host), r.PathValue("secret"), r.PostForm.Get("version")
	if strings.ContainsAny(version, "/?#") {
		return errs.E(errs.Invalid, "bad version")
	}
	back := vaultPage(groupOf(v.ID), v.Name) + "/secrets/" + pathEsc(name)
	switch r.PathValue("op") {
	case "show":
		sec, err := vc.GetSecret(r.Context(), name, version)
		if err != nil {
			return err
		}
		val := ""
		if sec.Value != nil {
			val = *sec.Value
		}
		if version == "" {
			version = rowOfSecret(sec).Version
		}
		return c.renderSecret(w, r, s, version, val)
	case "disable", "enable":
		on := r.PathValue("op") == "enable"
		if _, err := vc.UpdateSecret(r.Context(), name, version, client.SecretUpdate{Attributes: &client.SecretAttributes{Enabled: &on}}); err != nil {
			return err
		}
		return seeOther(w, r, back, r.PathValue("op")+"d")
	case "delete":
		if _, err := vc.DeleteSecret(r.Context(), name); err != nil {
			return err
		}
		return seeOther(w, r, vaultPage(groupOf(v.ID), v.Name)+"/secrets", "deleted")
	case "recover":
		if _, err := vc.RecoverSecret(r.Context(), name); err != nil {
			return err
		}
		return seeOther(w, r, back, "recovered")
	case "purge":
		if err := vc.PurgeSecret(r.Context(), name); err != nil {
			return err
		}
		return seeOther(w, r, vaultPage(groupOf(v.ID), v.Name)+"/secrets", "purged")
	}
	return errs.E(errs.NotFound, "no such operation")
}
