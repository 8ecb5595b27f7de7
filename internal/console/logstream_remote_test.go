package console_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
)

// event is one server-sent event of a log stream.
type event struct{ id, name, data string }

// stream opens the console's event stream at path as browser b, sending lastID as Last-Event-ID
// (when set), and passes its events on until ctx ends or the server ends the stream.
func stream(ctx context.Context, t *testing.T, b *browser, base, path, lastID string) <-chan event {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	hc := &http.Client{Jar: b.hc.Jar, Transport: b.hc.Transport} // no timeout: the stream stays open
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan event)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" || ev.name != "" {
					select {
					case out <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = event{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return out
}

// TestLogStreamRemoteNode is the Log stream of an app that runs on another node: a real
// `lanyard agent` process (not this test's process) enrolled with two servers on one store. The
// console of the second server streams the app's output, which it gets from the agent through
// the agent API; the connection is dropped and the stream resumes on the FIRST server from the
// last event id, with no line lost or repeated. An app placed on a node whose agent does not run
// it, and one on a node with no agent, say so instead of streaming.
func TestLogStreamRemoteNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the lanyard binary")
	}
	bin := filepath.Join(t.TempDir(), "lanyard")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/lanyard").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx := context.Background()
	// Two servers on one store (SQLite file), as replicas behind one name.
	a := lanyardtest.Start(t, lanyardtest.Options{Configure: lanyardtest.NoAuditJournal})
	b := lanyardtest.Start(t, lanyardtest.Options{Flags: map[string]string{"store": a.Config.Store, "public-url": a.URL}, Configure: lanyardtest.NoAuditJournal})
	_, portB, _ := net.SplitHostPort(b.Config.Listen)
	baseA, baseB := a.URL, "https://localhost:"+portB

	sub, err := a.Admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := client.ResourceGroupPath(sub.SubscriptionID, "rgr")
	if err := a.Admin.ARM(ctx, http.MethodPut, group, "2021-04-01", map[string]any{"location": "local"}, nil); err != nil {
		t.Fatal(err)
	}
	site := func(name, node string) string {
		var r client.Resource
		if err := a.Admin.ARM(ctx, http.MethodPut, group+"/providers/Microsoft.Web/sites/"+name, client.APIVersionSites, map[string]any{
			"location": "local", "kind": "app", "properties": map[string]any{"lanyard": map[string]string{"node": node}},
		}, &r); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	remote := site("webremote", "remote-1")
	site("webother", "remote-1") // placed on remote-1, but its agent does not run it
	site("webnowhere", "remote-9")

	// The agent: a separate process, configured with both servers, running an app that prints
	// numbered lines.
	dir := t.TempDir()
	jt, err := a.Admin.CreateJoinToken(ctx, "remote-1", "")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "ca.pem"), a.Server.CA.CertPEM(), 0o644))
	must(os.WriteFile(filepath.Join(dir, "join"), []byte(jt.Token), 0o600))
	script := `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo "line $i"; sleep 0.01; done; sleep 3600`
	cfg := fmt.Sprintf("server: %s\nservers: [%s]\nca_file: %s\njoin_token_file: %s\nstate_dir: %s\nnode_name: remote-1\nsandbox: \"off\"\napps:\n  - site: %s\n    command: [sh, -c, %s]\n",
		baseA, baseB, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "join"), filepath.Join(dir, "state"), remote, strconv.Quote(script))
	must(os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(cfg), 0o600))
	agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
	must(err)
	cmd := exec.Command(bin, "agent", "--config", filepath.Join(dir, "agent.yaml"))
	cmd.Stdout, cmd.Stderr = agentLog, agentLog
	must(cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			raw, _ := os.ReadFile(agentLog.Name())
			t.Logf("agent's log:\n%s", raw)
		}
	})

	// The console of server B, then of server A: one session (the cookie is the host's).
	br := newBrowser(t, b)
	br.base = baseB
	login := link(t, b, "")
	login = baseB + login[strings.Index(login, "/console/"):]
	if resp, _ := br.get(login); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	if _, page := br.get("/console/sites/rgr/webremote/logstream"); !strings.Contains(page, "remote-1") || !strings.Contains(page, "logstream/events") {
		t.Fatalf("the Log stream page does not stream the remote app:\n%s", page)
	}

	// lines reads n numbered lines from events, checking that they follow each other from
	// first (0: any), and returns the next number and the last id.
	lines := func(evs <-chan event, first, n int) (next int, lastID string) {
		t.Helper()
		timeout := time.After(60 * time.Second)
		next = first
		for got := 0; got < n; {
			select {
			case ev, ok := <-evs:
				if !ok {
					t.Fatalf("the stream ended after %d of %d lines", got, n)
				}
				if ev.name != "" {
					continue // a status note (the agent has not answered yet)
				}
				k, err := strconv.Atoi(strings.TrimPrefix(ev.data, "line "))
				if err != nil || ev.id == "" {
					t.Fatalf("event %+v is not a numbered line with an id", ev)
				}
				if next != 0 && k != next {
					t.Fatalf("line %d came where line %d was due (lost or repeated)", k, next)
				}
				if got == 0 {
					t.Logf("first line %d (id %s)", k, ev.id)
				}
				next, lastID = k+1, ev.id
				got++
			case <-timeout:
				t.Fatalf("only %d of %d lines in 60 s", got, n)
			}
		}
		return next, lastID
	}

	sctx, cancel := context.WithCancel(ctx)
	next, lastID := lines(stream(sctx, t, br, baseB, "/console/sites/rgr/webremote/logstream/events", ""), 0, 50)
	cancel() // the connection drops; the app goes on writing meanwhile
	time.Sleep(500 * time.Millisecond)

	// The browser comes back on the other server, with the last id it got.
	sctx, cancel = context.WithCancel(ctx)
	next, lastID = lines(stream(sctx, t, br, baseA, "/console/sites/rgr/webremote/logstream/events", lastID), next, 80)
	cancel()
	// And again on B, right away.
	sctx, cancel = context.WithCancel(ctx)
	lines(stream(sctx, t, br, baseB, "/console/sites/rgr/webremote/logstream/events", lastID), next, 30)
	cancel()

	// Notes instead of lines: the node's agent does not run the app; no agent of the node answers.
	note := func(base, name, want string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for ev := range stream(sctx, t, br, base, "/console/sites/rgr/"+name+"/logstream/events", "") {
			if ev.name == "" {
				t.Fatalf("%s: a line %q", name, ev.data)
			}
			if strings.Contains(ev.data, want) {
				return
			}
		}
		t.Fatalf("%s: no note %q", name, want)
	}
	note(baseB, "webother", "runs no app for this site")
	note(baseA, "webnowhere", "waiting for the agent of node remote-9")

	// The site's log stream is an API like the others: no caller, no stream.
	resp, err := a.HTTP.Get(baseA + remote + "/logstream?api-version=" + client.APIVersionSites)
	must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the log stream without a token: %d", resp.StatusCode)
	}
	// A bad last event id is refused, not taken for a start.
	req, _ := http.NewRequest(http.MethodGet, baseB+"/console/sites/rgr/webremote/logstream/events", nil)
	req.Header.Set("Last-Event-ID", "not-a-position")
	resp, err = (&http.Client{Jar: br.hc.Jar, Transport: br.hc.Transport, Timeout: 10 * time.Second}).Do(req)
	must(err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a bad Last-Event-ID: %d", resp.StatusCode)
	}
}

// TestLogStreamAgentInProcess is the same path with the agent in this test's process, so that the
// race detector watches the agent's side too: the console streams the app's lines, and resumes
// after a dropped connection with the next line.
func TestLogStreamAgentInProcess(t *testing.T) {
	ctx := context.Background()
	env := lanyardtest.Start(t, lanyardtest.Options{})
	sub, err := env.Admin.DefaultSubscription(ctx)
	if err != nil {
		t.Fatal(err)
	}
	group := client.ResourceGroupPath(sub.SubscriptionID, "rgi")
	if err := env.Admin.ARM(ctx, http.MethodPut, group, "2021-04-01", map[string]any{"location": "local"}, nil); err != nil {
		t.Fatal(err)
	}
	var site client.Resource
	if err := env.Admin.ARM(ctx, http.MethodPut, group+"/providers/Microsoft.Web/sites/webin", client.APIVersionSites, map[string]any{
		"location": "local", "kind": "app", "properties": map[string]any{"lanyard": map[string]string{"node": "inproc"}},
	}, &site); err != nil {
		t.Fatal(err)
	}
	env.StartAgent(t, "inproc", agent.Config{Apps: []agent.AppConfig{{Site: site.ID,
		Command: []string{"sh", "-c", `i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo "line $i"; sleep 0.01; done`}}}})
	br := signIn(t, env)
	read := func(evs <-chan event, first, n int) (int, string) {
		t.Helper()
		next, last := first, ""
		timeout := time.After(60 * time.Second)
		for got := 0; got < n; {
			select {
			case ev, ok := <-evs:
				if !ok {
					t.Fatalf("the stream ended after %d lines", got)
				}
				if ev.name != "" {
					continue
				}
				k, err := strconv.Atoi(strings.TrimPrefix(ev.data, "line "))
				if err != nil || (next != 0 && k != next) {
					t.Fatalf("%q came where line %d was due", ev.data, next)
				}
				next, last = k+1, ev.id
				got++
			case <-timeout:
				t.Fatalf("only %d of %d lines", got, n)
			}
		}
		return next, last
	}
	sctx, cancel := context.WithCancel(ctx)
	next, last := read(stream(sctx, t, br, env.URL, "/console/sites/rgi/webin/logstream/events", ""), 0, 20)
	cancel()
	time.Sleep(300 * time.Millisecond)
	sctx, cancel = context.WithCancel(ctx)
	defer cancel()
	read(stream(sctx, t, br, env.URL, "/console/sites/rgi/webin/logstream/events", last), next, 20)
}
