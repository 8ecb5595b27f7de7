package server_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/nodes"
	"github.com/lanyardhq/lanyard/internal/rbac"
)

// openLogStream opens GET {site}/logstream with a bearer token. A stream that opens (200) is
// read up to its first event and left open until the test ends; any other answer is read whole.
func (e *mgmtEnv) openLogStream(token, site string) (int, string) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+site+"/logstream?api-version="+vWeb, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.HTTP.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	first, _ := bufio.NewReader(resp.Body).ReadString('\n')
	return resp.StatusCode, resp.Header.Get("Content-Type") + " " + first
}

// placedSite creates a web app placed on node (no agent runs it: its stream waits).
func (e *mgmtEnv) placedSite(group, name, node string) string {
	e.t.Helper()
	id := group + "/providers/Microsoft.Web/sites/" + name
	e.admin(http.MethodPut, id+"?api-version="+vWeb, map[string]any{
		"location": "local", "kind": "app", "properties": map[string]any{"lanyard": map[string]string{"node": node}},
	}, nil)
	return id
}

// TestLogStreamNeedsPublish: an app's output often holds secrets, so a Reader of the site may not
// stream it (403 in ARM's shape); whoever may publish to the site (Contributor) may.
func TestLogStreamNeedsPublish(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	site := e.placedSite(g, "web1", "node-1")
	_, pid := e.identity(g, "watcher")
	tok := e.mint(pid, mgmt)
	e.assignRole(site, rbac.Reader, pid)
	if st, _ := e.as(tok, http.MethodGet, site+"?api-version="+vWeb, nil); st != http.StatusOK {
		t.Fatalf("a Reader cannot read the site: %d", st)
	}
	if st, body := e.openLogStream(tok, site); st != http.StatusForbidden || !strings.Contains(body, `"code":"AuthorizationFailed"`) ||
		!strings.Contains(body, "Microsoft.Web/sites/publish/Action") {
		t.Errorf("log stream as a Reader: %d %s, want 403 AuthorizationFailed", st, body)
	}
	e.assignRole(site, rbac.Contributor, pid)
	if st, body := e.openLogStream(tok, site); st != http.StatusOK || !strings.HasPrefix(body, "text/event-stream retry: 250") {
		t.Errorf("log stream as a Contributor: %d %s", st, body)
	}
}

// TestLogStreamPerCaller: one caller holds at most nodes.MaxCallerFollows streams of a site on a
// server (429 in ARM's shape), so that it cannot take all of the node's streams; another caller
// still gets one.
func TestLogStreamPerCaller(t *testing.T) {
	e := startManagement(t)
	g := e.group("rg")
	site := e.placedSite(g, "web1", "node-1")
	_, a := e.identity(g, "watcher-a")
	_, b := e.identity(g, "watcher-b")
	e.assignRole(site, rbac.Contributor, a)
	e.assignRole(site, rbac.Contributor, b)
	ta, tb := e.mint(a, mgmt), e.mint(b, mgmt)
	for i := range nodes.MaxCallerFollows {
		if st, body := e.openLogStream(ta, site); st != http.StatusOK {
			t.Fatalf("stream %d: %d %s", i+1, st, body)
		}
	}
	if st, body := e.openLogStream(ta, site); st != http.StatusTooManyRequests || !strings.Contains(body, `"code":"TooManyRequests"`) {
		t.Errorf("one stream more by the same caller: %d %s, want 429 TooManyRequests", st, body)
	}
	if st, body := e.openLogStream(tb, site); st != http.StatusOK {
		t.Errorf("another caller: %d %s", st, body)
	}
}
