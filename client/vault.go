package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// APIVersionSecrets is the api-version the vault client sends (Key Vault's latest).
const APIVersionSecrets = "2026-04-01"

// VaultClient calls one vault's data plane (Key Vault's secrets API). Through the admin socket
// the caller is the administrator; the vault is the one Host names.
type VaultClient struct {
	c    *Client
	Host string // {name}.{vaultDomain}[:port]
}

// Vault returns a client of the vault served at host ({name}.{vaultDomain}[:port]).
func (c *Client) Vault(host string) *VaultClient { return &VaultClient{c: c, Host: host} }

// VaultHost returns the host of a vaultUri ("https://kv1.vault.localhost:8443/" → "kv1.vault.localhost:8443").
func VaultHost(vaultURI string) (string, error) {
	u, err := url.Parse(vaultURI)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("vaultUri %q is not a URL", vaultURI)
	}
	return u.Host, nil
}

// SecretAttributes are a secret version's attributes; times are unix seconds.
type SecretAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         int64  `json:"created,omitempty"`
	Updated         int64  `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays int    `json:"recoverableDays,omitempty"`
}

// Secret is a secret bundle, a list item or a deleted secret.
type Secret struct {
	Value              *string           `json:"value,omitempty"`
	ID                 string            `json:"id"`
	ContentType        string            `json:"contentType,omitempty"`
	Attributes         SecretAttributes  `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        int64             `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64             `json:"scheduledPurgeDate,omitempty"`
}

// SecretSet is the body of a set.
type SecretSet struct {
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Attributes  *SecretAttributes `json:"attributes,omitempty"`
}

// SecretUpdate is the body of an attribute update; nil fields are left as they are.
type SecretUpdate struct {
	ContentType *string           `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	Attributes  *SecretAttributes `json:"attributes,omitempty"`
}

func (v *VaultClient) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	h := http.Header{"Host": {v.Host}, "Accept": {"application/json"}}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = b
		h.Set("Content-Type", "application/json")
	}
	if !strings.Contains(path, "api-version=") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "api-version=" + APIVersionSecrets
	}
	resp, err := v.c.Send(ctx, method, path, h, body)
	if err != nil {
		return err
	}
	if out == nil || len(resp.Body) == 0 {
		return nil
	}
	return json.Unmarshal(resp.Body, out)
}

func secretPath(name string) string { return "/secrets/" + url.PathEscape(name) }

// SetSecret adds a version.
func (v *VaultClient) SetSecret(ctx context.Context, name string, in SecretSet) (Secret, error) {
	var s Secret
	return s, v.do(ctx, http.MethodPut, secretPath(name), in, &s)
}

// GetSecret reads a version (the latest when version is "") with its value.
func (v *VaultClient) GetSecret(ctx context.Context, name, version string) (Secret, error) {
	var s Secret
	return s, v.do(ctx, http.MethodGet, secretPath(name)+"/"+url.PathEscape(version), nil, &s)
}

// UpdateSecret changes a version's attributes (the latest when version is "").
func (v *VaultClient) UpdateSecret(ctx context.Context, name, version string, in SecretUpdate) (Secret, error) {
	var s Secret
	return s, v.do(ctx, http.MethodPatch, secretPath(name)+"/"+url.PathEscape(version), in, &s)
}

// list follows nextLinks from path and returns every item.
func (v *VaultClient) list(ctx context.Context, path string) ([]Secret, error) {
	var all []Secret
	for path != "" {
		var page struct {
			Value    []Secret `json:"value"`
			NextLink *string  `json:"nextLink"`
		}
		if err := v.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Value...)
		path = ""
		if page.NextLink != nil && *page.NextLink != "" {
			u, err := url.Parse(*page.NextLink)
			if err != nil {
				return nil, fmt.Errorf("nextLink %q: %w", *page.NextLink, err)
			}
			path = u.RequestURI()
		}
	}
	return all, nil
}

// ListSecrets lists the live secrets (latest versions, without values).
func (v *VaultClient) ListSecrets(ctx context.Context) ([]Secret, error) {
	return v.list(ctx, "/secrets")
}

// ListSecretVersions lists a secret's versions, oldest first.
func (v *VaultClient) ListSecretVersions(ctx context.Context, name string) ([]Secret, error) {
	return v.list(ctx, secretPath(name)+"/versions")
}

// ListDeletedSecrets lists the deleted secrets.
func (v *VaultClient) ListDeletedSecrets(ctx context.Context) ([]Secret, error) {
	return v.list(ctx, "/deletedsecrets")
}

// DeleteSecret soft-deletes a secret.
func (v *VaultClient) DeleteSecret(ctx context.Context, name string) (Secret, error) {
	var s Secret
	return s, v.do(ctx, http.MethodDelete, secretPath(name), nil, &s)
}

// RecoverSecret recovers a deleted secret.
func (v *VaultClient) RecoverSecret(ctx context.Context, name string) (Secret, error) {
	var s Secret
	return s, v.do(ctx, http.MethodPost, "/deletedsecrets/"+url.PathEscape(name)+"/recover", nil, &s)
}

// PurgeSecret deletes a deleted secret for good.
func (v *VaultClient) PurgeSecret(ctx context.Context, name string) error {
	return v.do(ctx, http.MethodDelete, "/deletedsecrets/"+url.PathEscape(name), nil, nil)
}

// BackupSecret returns a secret's backup blob (base64url, opaque).
func (v *VaultClient) BackupSecret(ctx context.Context, name string) (string, error) {
	var out struct {
		Value string `json:"value"`
	}
	err := v.do(ctx, http.MethodPost, secretPath(name)+"/backup", nil, &out)
	return out.Value, err
}

// RestoreSecret restores a backup blob into the vault.
func (v *VaultClient) RestoreSecret(ctx context.Context, blob string) (Secret, error) {
	var s Secret
	return s, v.do(ctx, http.MethodPost, "/secrets/restore", map[string]string{"value": blob}, &s)
}
