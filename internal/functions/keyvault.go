package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The keyVault input binding is Lanyard's own: Azure has none (functions.md §8, where Azure's
// answer is an unknown-binding error). Its function.json shape follows the usual write-up of it
// (seed 003): {"type":"keyVault","direction":"in","name":"mySecret","secretName":"...",
// "vaultName":"NAME or https://NAME.vault.azure.net/","secretVersion":"...","identity":"system"}.
// identity is "system" (the default), a user-assigned identity's client id or resource id, or
// "user" with "identityId" naming it. The secret is read at every invocation (never cached) and
// handed to the function as a string input; a read that fails fails the invocation.

func parseKeyVaultBinding(field, name string, b map[string]any, lookup func(string) (string, bool)) (secretBinding, error) {
	str := func(k string) (string, error) {
		v, ok := b[k]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s.%s: must be a string", field, k)
		}
		return expandSettings(strings.TrimSpace(s), lookup), nil
	}
	sb := secretBinding{name: name}
	var err error
	if sb.ref.Name, err = str("secretName"); err != nil {
		return sb, err
	}
	if sb.ref.Vault, err = str("vaultName"); err != nil {
		return sb, err
	}
	if sb.ref.Version, err = str("secretVersion"); err != nil {
		return sb, err
	}
	identity, err := str("identity")
	if err != nil {
		return sb, err
	}
	identityID, err := str("identityId")
	if err != nil {
		return sb, err
	}
	if sb.ref.Name == "" {
		return sb, fmt.Errorf("%s.secretName: a keyVault binding needs the secret's name", field)
	}
	if !ValidSecretName(sb.ref.Name) {
		return sb, fmt.Errorf("%s.secretName: '%s' is not a valid secret name (1-127 letters, digits and dashes)", field, sb.ref.Name)
	}
	if sb.ref.Vault == "" {
		return sb, fmt.Errorf("%s.vaultName: a keyVault binding needs the vault's name or URI", field)
	}
	if _, err := VaultName(sb.ref.Vault); err != nil {
		return sb, fmt.Errorf("%s.vaultName: %v", field, err)
	}
	if sb.ref.Version != "" && !ValidSecretName(sb.ref.Version) {
		return sb, fmt.Errorf("%s.secretVersion: '%s' is not a valid secret version", field, sb.ref.Version)
	}
	switch strings.ToLower(identity) {
	case "", "system", "systemassigned":
		sb.ref.Identity = "system"
	case "user", "userassigned":
		if identityID == "" {
			return sb, fmt.Errorf("%s.identityId: identity 'user' needs identityId, the user-assigned identity's client id or resource id", field)
		}
		sb.ref.Identity = identityID
	default:
		sb.ref.Identity = identity
	}
	return sb, nil
}

// ValidSecretName says whether s is a Key Vault secret name (or version): 1 to 127 letters,
// digits and dashes. The keyVault binding's SecretReader may rely on it for a SecretRef.
func ValidSecretName(s string) bool {
	if len(s) == 0 || len(s) > 127 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// VaultName returns the vault's name from a keyVault binding's vaultName: a name, or a vault URI
// (its host's first label). A SecretReader may rely on it for a SecretRef.
func VaultName(v string) (string, error) {
	name := v
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Hostname() == "" {
			return "", fmt.Errorf("'%s' is not a vault name or URI", v)
		}
		name, _, _ = strings.Cut(u.Hostname(), ".")
	}
	if len(name) < 3 || len(name) > 24 {
		return "", fmt.Errorf("'%s' is not a vault name (3-24 letters, digits and dashes) or URI", v)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", fmt.Errorf("'%s' is not a vault name (3-24 letters, digits and dashes) or URI", v)
		}
	}
	return name, nil
}

// MSISecretReader reads secrets with tokens from an App Service managed-identity endpoint
// (azure-wire.md §2: IDENTITY_ENDPOINT and X-IDENTITY-HEADER, api-version 2019-08-01) and the
// Key Vault data plane (GET {vault}/secrets/{name}/{version}?api-version=7.4). It caches tokens
// until shortly before they expire, never secret values.
type MSISecretReader struct {
	Endpoint string // IDENTITY_ENDPOINT
	Header   string // IDENTITY_HEADER, sent as X-IDENTITY-HEADER
	// VaultURL maps a vault's name to its base URL (Lanyard's vault host names differ from
	// Azure's); nil: https://{name}.vault.azure.net.
	VaultURL func(name string) (string, error)
	Client   *http.Client // default: a client with a 30 s timeout
	Now      func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken // identity → token
}

type cachedToken struct {
	value   string
	expires time.Time
}

var _ SecretReader = (*MSISecretReader)(nil)

// vaultResource is the audience of Key Vault's tokens.
const vaultResource = "https://vault.azure.net"

// tokenSlack: a cached token is used until this long before it expires.
const tokenSlack = 5 * time.Minute

// defaultClient keeps enough idle connections for concurrent invocations (http.DefaultClient
// keeps two per host, and a busy function would open a connection per read).
var defaultClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
	Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true,
	TLSHandshakeTimeout: 10 * time.Second,
}}

func (m *MSISecretReader) client() *http.Client {
	if m.Client != nil {
		return m.Client
	}
	return defaultClient
}

func (m *MSISecretReader) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// ReadSecret reads ref's secret with a token of ref's identity.
func (m *MSISecretReader) ReadSecret(ctx context.Context, ref SecretRef) (string, error) {
	name, err := VaultName(ref.Vault)
	if err != nil {
		return "", err
	}
	base := "https://" + name + ".vault.azure.net"
	if m.VaultURL != nil {
		if base, err = m.VaultURL(name); err != nil {
			return "", fmt.Errorf("vault '%s': %w", name, err)
		}
	}
	tok, err := m.token(ctx, ref.Identity)
	if err != nil {
		return "", err
	}
	u := strings.TrimRight(base, "/") + "/secrets/" + url.PathEscape(ref.Name)
	if ref.Version != "" {
		u += "/" + url.PathEscape(ref.Version)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?api-version=7.4", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := m.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("reading secret '%s' from vault '%s': %w", ref.Name, name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized {
			id := ref.Identity
			if id == "" || strings.EqualFold(id, "system") {
				id = "system"
			}
			m.forget(id)
		}
		return "", fmt.Errorf("reading secret '%s' from vault '%s': %s%s", ref.Name, name, resp.Status, apiError(body))
	}
	var out struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Value == nil {
		return "", fmt.Errorf("reading secret '%s' from vault '%s': the answer has no value", ref.Name, name)
	}
	return *out.Value, nil
}

// apiError renders an Azure error body {"error":{"code","message"}} (never a value).
func apiError(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
		ErrorCode string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	switch {
	case e.Error.Code != "":
		return " (" + e.Error.Code + ": " + e.Error.Message + ")"
	case e.ErrorCode != "":
		return " (" + e.ErrorCode + ")"
	}
	return ""
}

func (m *MSISecretReader) forget(identity string) {
	m.mu.Lock()
	delete(m.tokens, identity)
	m.mu.Unlock()
}

func (m *MSISecretReader) token(ctx context.Context, identity string) (string, error) {
	if identity == "" || strings.EqualFold(identity, "system") {
		identity = "system"
	}
	m.mu.Lock()
	if t, ok := m.tokens[identity]; ok && m.now().Before(t.expires.Add(-tokenSlack)) {
		m.mu.Unlock()
		return t.value, nil
	}
	m.mu.Unlock()
	if m.Endpoint == "" {
		return "", fmt.Errorf("the app has no managed identity endpoint (IDENTITY_ENDPOINT is not set)")
	}
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {vaultResource}}
	switch {
	case identity == "system":
	case strings.HasPrefix(identity, "/"):
		q.Set("mi_res_id", identity)
	default:
		q.Set("client_id", identity)
	}
	sep := "?"
	if strings.Contains(m.Endpoint, "?") {
		sep = "&"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Endpoint+sep+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-IDENTITY-HEADER", m.Header)
	resp, err := m.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("getting a token for Key Vault: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("getting a token for Key Vault: the identity endpoint answered %s%s", resp.Status, apiError(body))
	}
	var t struct {
		AccessToken string          `json:"access_token"`
		ExpiresOn   json.RawMessage `json:"expires_on"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("getting a token for Key Vault: the identity endpoint's answer has no access_token")
	}
	exp := m.now() // not cached unless expires_on parses
	s := strings.Trim(string(t.ExpiresOn), `"`)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		exp = time.Unix(n, 0)
	}
	m.mu.Lock()
	if m.tokens == nil {
		m.tokens = map[string]cachedToken{}
	}
	m.tokens[identity] = cachedToken{value: t.AccessToken, expires: exp}
	m.mu.Unlock()
	return t.AccessToken, nil
}
