package agent

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lanyardhq/lanyard/internal/agent/agentapi"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/functions"
)

// What the agent gives a function host besides its files: the app's keys as the host checks
// them, the keyVault binding's reads, and the timer ticks' claims.

// fnKeys are a function app's keys (functions.Keys), replaced in place when the server's
// answer changes them.
type fnKeys struct {
	k atomic.Pointer[agentapi.FunctionKeys]
}

func (f *fnKeys) set(k agentapi.FunctionKeys) { f.k.Store(&k) }

// Level is Azure's authorization by key (functions.md §2.2): the master key is admin; a host
// function key or one of fn's own keys is function; a system key is system. Every key is
// compared, in constant time, whatever matched first, and an empty key matches nothing.
func (f *fnKeys) Level(fn, key string) string {
	k := f.k.Load()
	if k == nil || key == "" {
		return ""
	}
	given := []byte(key)
	eq := func(v string) bool { return v != "" && subtle.ConstantTimeCompare(given, []byte(v)) == 1 }
	admin, system, function := eq(k.Master), false, false
	for _, v := range k.System {
		system = eq(v) || system
	}
	for _, v := range k.Host {
		function = eq(v) || function
	}
	for name, keys := range k.Functions {
		if !strings.EqualFold(name, fn) { // function names are case-insensitive in Azure
			continue
		}
		for _, v := range keys {
			function = eq(v) || function
		}
	}
	switch {
	case admin:
		return "admin"
	case function:
		return "function"
	case system:
		return "system"
	}
	return ""
}

var _ functions.Keys = (*fnKeys)(nil)

// vaultAPIVersion is the Key Vault data-plane version the binding reads with.
const vaultAPIVersion = "7.4"

// fnSecrets reads the keyVault binding's secrets (Lanyard's own binding, functions.md §8) with
// a token of the app's identity from the agent's own token path (its cache, its throttling),
// from the server's vault for the vault's name, through the vault's own authorization: nothing
// is cached, so a removed access policy fails the next invocation.
type fnSecrets struct {
	a  *Agent
	ap *app

	mu     sync.Mutex
	domain string // the vault domain, host[:port]; "" until read
	client *http.Client
}

// selectorOf maps the binding's identity to a token selector: "system" (or empty) is the
// system-assigned identity; an ARM id a user-assigned identity by resource id; anything else
// its client id.
func selectorOf(identity string) agentapi.Selector {
	switch {
	case identity == "" || strings.EqualFold(identity, "system") || strings.EqualFold(identity, "systemassigned"):
		return agentapi.Selector{Kind: agentapi.SelectorSystem}
	case strings.HasPrefix(strings.ToLower(identity), "/subscriptions/"):
		return agentapi.Selector{Kind: agentapi.SelectorResourceID, Value: identity}
	}
	return agentapi.Selector{Kind: agentapi.SelectorClientID, Value: identity}
}

func (f *fnSecrets) init(ctx context.Context) (string, *http.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.domain != "" {
		return f.domain, f.client, nil
	}
	domain, err := f.a.vaultDomain(ctx)
	if err != nil {
		// Not kept: the next invocation asks for the metadata again.
		return "", nil, fmt.Errorf("the server's vault domain: %w", err)
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.TLSClientConfig = &tls.Config{RootCAs: f.a.roots, MinVersion: tls.VersionTLS12}
	// The server's vault names under *.localhost (`lanyard dev`) do not resolve everywhere;
	// they name this host's loopback.
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if h, p, err := net.SplitHostPort(addr); err == nil && (h == "localhost" || strings.HasSuffix(h, ".localhost")) {
			addr = net.JoinHostPort("127.0.0.1", p)
		}
		return d.DialContext(ctx, network, addr)
	}
	f.domain, f.client = domain, &http.Client{Transport: t, Timeout: 30 * time.Second}
	return f.domain, f.client, nil
}

// ReadSecret reads one secret's current (or given) version.
func (f *fnSecrets) ReadSecret(ctx context.Context, ref functions.SecretRef) (string, error) {
	// The host checked these when it indexed the binding; the same rules again, from the
	// package that owns them, since the names go into the vault's URL.
	name, err := functions.VaultName(ref.Vault)
	if err != nil {
		return "", errs.E(errs.Invalid, "vaultName: %v", err)
	}
	name = strings.ToLower(name)
	if !functions.ValidSecretName(ref.Name) || ref.Version != "" && !functions.ValidSecretName(ref.Version) {
		return "", errs.E(errs.Invalid, "secretName %q or secretVersion %q is not a Key Vault name", clip(ref.Name), clip(ref.Version))
	}
	domain, client, err := f.init(ctx)
	if err != nil {
		return "", err
	}
	// The token's audience is the one the vault's challenge names: https://{vault domain}, as
	// a Key Vault client learns it (Azure's is https://vault.azure.net; Lanyard's vaults live
	// under its own domain).
	e, _, err := f.a.cache.get(ctx, f.ap.cfg.Site, selectorOf(ref.Identity), "https://"+domain, f.ap.lim)
	if err != nil {
		return "", fmt.Errorf("a token of the identity %q for Key Vault: %w", ref.Identity, err)
	}
	u := "https://" + name + "." + domain + "/secrets/" + ref.Name
	if ref.Version != "" {
		u += "/" + ref.Version
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?api-version="+vaultAPIVersion, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+e.access)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("the vault %s: %w", name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	if err != nil {
		return "", fmt.Errorf("the vault %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		// Key Vault's error body: {"error":{"code","message"}}; its message names no secret value.
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &eb)
		return "", errs.E(errs.Denied, "the vault %s answered %d %s reading the secret %s: %s", name, resp.StatusCode, eb.Error.Code, ref.Name, clipLong(eb.Error.Message))
	}
	var sb struct {
		Value *string `json:"value"`
	}
	if err := json.Unmarshal(raw, &sb); err != nil || sb.Value == nil {
		return "", errs.E(errs.Internal, "the vault %s answered the secret %s without a value", name, ref.Name)
	}
	return *sb.Value, nil
}

var _ functions.SecretReader = (*fnSecrets)(nil)

// clipLong keeps a vault's error message readable in a function's error (Key Vault's say who
// was refused what, in about 200 characters).
func clipLong(s string) string {
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// fnTimers claims timer ticks from the server, so that one node of those hosting the app runs
// each (Azure does it with a blob lease in AzureWebJobsStorage; Lanyard with its store).
type fnTimers struct {
	a    *Agent
	site string
}

func (t *fnTimers) Claim(ctx context.Context, fn string, tick time.Time) (bool, error) {
	return t.a.up.claimTimer(ctx, agentapi.TimerClaim{App: t.site, Function: fn, Tick: tick.UTC()})
}

var _ functions.TimerLock = (*fnTimers)(nil)
