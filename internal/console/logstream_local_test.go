package console_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/authn"
	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// TestLogStreamLocalAccess: the Log stream of an app whose files the console reads itself asks
// the API's log stream rule (LogAccess: the right to publish to the site) for the session's
// principal before it reads them; refused, the page's stream is 403 and shows none of the app's
// output. (Every session acts as an administrator today, who holds that right; the refusal is
// the rule's answer for a principal without it.)
func TestLogStreamLocalAccess(t *testing.T) {
	env := lanyardtest.Start(t, lanyardtest.Options{})
	ctx := context.Background()
	sub, err := env.Admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := client.ResourceGroupPath(sub.SubscriptionID, "rgl")
	if err := env.Admin.ARM(ctx, http.MethodPut, group, client.APIVersionResourceGroups, map[string]string{"location": "local"}, nil); err != nil {
		t.Fatal(err)
	}
	var site client.Resource
	if err := env.Admin.ARM(ctx, http.MethodPut, group+"/providers/Microsoft.Web/sites/weblocal", client.APIVersionSites,
		map[string]any{"location": "local", "kind": "app"}, &site); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "weblocal.log")
	if err := os.WriteFile(file, []byte("password=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	var deny atomic.Bool
	var asked atomic.Value
	rule := env.Server.Console.LogAccess
	if rule == nil {
		t.Fatal("the server's console has no log stream rule")
	}
	env.Server.Console.LogAccess = func(ctx context.Context, p authn.Principal, tenantID, siteID string) error {
		asked.Store(tenantID + " " + siteID)
		if deny.Load() {
			return errs.E(errs.Denied, "may not publish to this site")
		}
		return rule(ctx, p, tenantID, siteID)
	}
	// Set after LogAccess: its atomic store orders the field's write before the server reads it.
	env.Server.Console.SetAppLogs(func(name, _ string) (string, bool) { return file, name == "weblocal" }, time.Second)

	b := signIn(t, env)
	const events = "/console/sites/rgl/weblocal/logstream/events"
	deny.Store(true)
	resp, body := b.do(http.MethodGet, events, nil, http.Header{"Accept": {"text/event-stream"}})
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "hunter2") {
		t.Errorf("refused by the rule: %d %q, want 403 without the output", resp.StatusCode, body)
	}
	if got, want := asked.Load(), env.Server.Default.ID+" "+site.ID; got != want {
		t.Errorf("the rule was asked about %v, want %q", got, want)
	}

	deny.Store(false)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	select {
	case ev := <-stream(sctx, t, b, env.URL, events, ""):
		if ev.data != "password=hunter2" {
			t.Errorf("allowed: first event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("allowed: no line")
	}
}
