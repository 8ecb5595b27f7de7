package server_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// from is an HTTPS client whose connections come from the loopback address src and all go to
// the server's listener, whatever the URL's host names (vault hosts need no resolver).
func from(t *testing.T, env *lanyardtest.Env, src string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: env.CAPool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, env.Config.Listen)
		},
	}}
}

// do sends one request and returns its status and Retry-After.
func do(t *testing.T, c *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestUnauthenticatedFlood is item 4 of issue 15: a bounded flood of bad tokens from one source,
// on every API (the vault host, Graph, ARM), grows the audit table by a bounded number of rows
// (two for the source's window, however long the flood) and ends in 429s with Retry-After;
// callers with valid tokens, from another source or from the flooding one, are unaffected, and
// so is an anonymous caller at a third address.
func TestUnauthenticatedFlood(t *testing.T) {
	const burst = 20
	cfg := filepath.Join(t.TempDir(), "lanyard.yaml")
	if err := os.WriteFile(cfg, []byte("limits:\n  unauthenticated_rate: 0.5\n  unauthenticated_burst: "+strconv.Itoa(burst)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := lanyardtest.Start(t, lanyardtest.Options{Flags: map[string]string{"config": cfg}})
	ctx := context.Background()
	sub, err := env.Admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourceGroupPath(sub.SubscriptionID, "rg"), client.APIVersionResourceGroups,
		map[string]string{"location": "local"}, nil); err != nil {
		t.Fatal(err)
	}
	var caller struct {
		ID         string `json:"id"`
		Properties struct {
			PrincipalID string `json:"principalId"`
		} `json:"properties"`
	}
	if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourcePath(sub.SubscriptionID, "rg", client.TypeIdentities, "caller"),
		client.APIVersionIdentities, map[string]any{"location": "local"}, &caller); err != nil {
		t.Fatal(err)
	}
	policy := map[string]any{"tenantId": env.Server.Default.ID, "objectId": caller.Properties.PrincipalID, "permissions": map[string]any{"secrets": []string{"all"}}}
	if err := env.Admin.ARM(ctx, http.MethodPut, client.ResourcePath(sub.SubscriptionID, "rg", client.TypeVaults, "kv-flood"), client.APIVersionVaults,
		map[string]any{"location": "local", "properties": map[string]any{"tenantId": env.Server.Default.ID,
			"sku": map[string]string{"family": "A", "name": "standard"}, "accessPolicies": []any{policy}}}, nil); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(env.Config.Listen)
	vaultURL := "https://kv-flood.vault.localhost:" + port + "/secrets?api-version=7.6"
	mintFor := func(resource string) string {
		tok, err := env.Admin.MintToken(ctx, caller.Properties.PrincipalID, resource, "")
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	good := mintFor("https://vault.azure.net")
	// Bad tokens of several kinds: a tampered signature, a made-up key id, garbage.
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"bWFkZS11cC1rZXktaWQtZm9yLWEtZmxvb2Q","typ":"JWT"}`)) +
		good[strings.IndexByte(good, '.'):]
	bad := []string{good[:len(good)-6] + "AAAAAA", forged, "not-a-token"}
	targets := []string{vaultURL, env.URL + "/v1.0/applications", env.URL + "/subscriptions?api-version=2022-12-01"}

	all := func() []client.AuditEvent {
		t.Helper()
		var out []client.AuditEvent
		for {
			after := int64(0)
			if len(out) > 0 {
				after = out[len(out)-1].Seq
			}
			evs, err := env.Admin.ListAudit(ctx, after, 1000) // lists after recording the counts so far
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, evs...)
			if len(evs) < 1000 {
				return out
			}
		}
	}
	// The events the flood may add: refusals of unidentified callers. (The legitimate callers'
	// reads are audited one by one, as every vault read is.)
	refusals := func() []client.AuditEvent {
		var out []client.AuditEvent
		for _, ev := range all() {
			if strings.HasPrefix(ev.Action, "authn.refused") {
				out = append(out, ev)
			}
		}
		return out
	}
	count := func() int { return len(refusals()) }
	before := count()

	attacker, bystander, anonymous := from(t, env, "127.0.0.2"), from(t, env, "127.0.0.3"), from(t, env, "127.0.0.4")
	const flood = 300
	statuses := map[int]int{}
	var lastRetry string
	for i := range flood {
		s, retry := do(t, attacker, http.MethodGet, targets[i%len(targets)], bad[i%len(bad)])
		statuses[s]++
		if s == http.StatusTooManyRequests {
			lastRetry = retry
		}
		if i%25 == 0 {
			// The legitimate callers meanwhile: a valid token from another address and from
			// the attacker's own, and an anonymous first leg from a third.
			if s, _ := do(t, bystander, http.MethodGet, vaultURL, good); s != http.StatusOK {
				t.Errorf("during the flood a valid token from another source got %d", s)
			}
			if s, _ := do(t, attacker, http.MethodGet, vaultURL, good); s != http.StatusOK {
				t.Errorf("during the flood a valid token from the flooding source got %d", s)
			}
			if s, _ := do(t, anonymous, http.MethodGet, vaultURL, ""); s != http.StatusUnauthorized {
				t.Errorf("during the flood the challenge to an anonymous caller at another source was %d", s)
			}
		}
	}
	t.Logf("%d bad tokens from one source: %v", flood, statuses)
	// The bucket lets about burst refusals through (a little more as it refills), then 429s.
	if n := statuses[http.StatusUnauthorized]; n < burst || n > burst+10 {
		t.Errorf("%d answers were 401, want about %d (the burst)", n, burst)
	}
	if statuses[http.StatusTooManyRequests] < flood-burst-10 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != flood {
		t.Errorf("answers %v: want 401s, then 429s", statuses)
	}
	if n, err := strconv.Atoi(lastRetry); err != nil || n < 1 {
		t.Errorf("Retry-After %q on a 429", lastRetry)
	}
	// Bounded: the source's first refusal and one summary of the rest.
	grown := count() - before
	if grown != 2 {
		t.Errorf("the flood grew the audit log by %d events, want 2", grown)
	}
	evs := refusals()
	first, summary := evs[len(evs)-2], evs[len(evs)-1]
	if first.Action != "authn.refused" || first.Actor != "unidentified:127.0.0.2" || first.Result != "denied" || !strings.HasPrefix(first.Detail, "reason=") {
		t.Errorf("first refusal %+v", first)
	}
	wantCount := "count=" + strconv.Itoa(flood-1) + " throttled=" + strconv.Itoa(statuses[http.StatusTooManyRequests]) + " "
	if summary.Action != "authn.refused.summary" || summary.Actor != "unidentified:127.0.0.2" || !strings.HasPrefix(summary.Detail, wantCount) {
		t.Errorf("summary %+v, want detail starting %q", summary, wantCount)
	}
	for _, ev := range all() {
		for _, tok := range append(bad, good) {
			if len(tok) > 40 && strings.Contains(ev.Detail+ev.Target, tok[:40]) {
				t.Fatalf("a token in the audit log: %+v", ev)
			}
		}
	}
	// A second wave in the next window costs two events more, not one per request.
	for i := range 50 {
		do(t, attacker, http.MethodGet, targets[i%len(targets)], bad[0])
	}
	if grown := count() - before; grown != 4 {
		t.Errorf("two windows of flooding grew the audit log by %d events, want 4", grown)
	}
}
