package cli_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/cli"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// lockedBuffer is a bytes.Buffer safe for a command writing while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDev runs `lanyard dev` on a free port and a temp data directory for the duration of t,
// and returns the flag that points commands at its admin socket (and so at its agent).
func startDev(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lyd") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock, stop := startDevIn(t, dir)
	t.Cleanup(stop)
	return sock
}

// startDevIn runs `lanyard dev` on data directory dir until stop is called.
func startDevIn(t *testing.T, dir string, flags ...string) (sock string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, append([]string{"dev", "--port", fmt.Sprint(port), "--data-dir", dir, "--log-level", "warn"}, flags...), &out, &errb)
	}()
	stop = func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("lanyard dev exited %d: %s", code, errb.String())
		}
	}
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(out.String(), "agent endpoint"); {
		select {
		case code := <-done:
			t.Fatalf("lanyard dev exited %d: %s", code, errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("lanyard dev did not start: %s\n%s", out.String(), errb.String())
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "agent", "agent.sock")); err != nil || st.Mode().Perm() != 0o600 {
		stop()
		t.Fatalf("the agent's control socket: %v %v", st, err)
	}
	return "--admin-socket=" + filepath.Join(dir, "admin.sock"), stop
}

// envLines parses NAME=value lines.
func envLines(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// freePort is a TCP port on loopback that nothing listens on (at the time of asking).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestDevFrontDoor: lanyard dev's agent serves an app of app run at
// https://{name}.sites.localhost:{front door port}, the app listening on the $PORT it was given;
// a name that is no app's site is not served.
func TestDevFrontDoor(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("needs python3 for the app's HTTP server")
	}
	dir, err := os.MkdirTemp("", "lyd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	door := freePort(t)
	sock, stop := startDevIn(t, dir, "--front-door-port", fmt.Sprint(door))
	defer stop()

	ctx, cancel := context.WithCancel(context.Background())
	var appOut lockedBuffer
	appDone := make(chan int, 1)
	go func() {
		appDone <- cli.Main(ctx, []string{sock, "app", "run", "--name", "web", "--",
			"sh", "-c", `mkdir -p "$TMPDIR/www" && cd "$TMPDIR/www" && echo "hello from $WEBSITE_SITE_NAME" > index.html && exec python3 -m http.server "$PORT"`}, &appOut, &appOut)
	}()
	defer func() {
		cancel()
		<-appDone
	}()
	t.Setenv("TMPDIR", t.TempDir()) // the app inherits it

	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", door))
		},
	}}
	url := fmt.Sprintf("https://web.sites.localhost:%d/", door)
	var body []byte
	var status int
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := client.Get(url); err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if status = resp.StatusCode; status == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the front door never served the app: last status %d %q; app output:\n%s", status, body, appOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if string(body) != "hello from web\n" {
		t.Errorf("the app through the front door: %q", body)
	}
	// A site name that is not an app of this agent gets no certificate, so no answer.
	other := fmt.Sprintf("https://nobody.sites.localhost:%d/", door)
	if resp, err := client.Get(other); err == nil {
		resp.Body.Close()
		t.Errorf("a site that is not the node's was answered: %d", resp.StatusCode)
	}
}

func TestDevAppRun(t *testing.T) {
	sock := startDev(t)

	// Without a sandbox, the endpoint is the agent's on loopback; the test calls it from here.
	out := must(t, sock, "app", "run", "--name", "app1", "--sandbox", "off", "--",
		"sh", "-c", `for v in IDENTITY_ENDPOINT IDENTITY_HEADER MSI_ENDPOINT MSI_SECRET APPSETTING_WEBSITE_SITE_NAME; do eval "echo $v=\$$v"; done`)
	env := envLines(out)
	if !strings.HasPrefix(env["IDENTITY_ENDPOINT"], "http://127.0.0.1:") || len(env["IDENTITY_HEADER"]) != 64 ||
		env["MSI_ENDPOINT"] != env["IDENTITY_ENDPOINT"] || env["MSI_SECRET"] != env["IDENTITY_HEADER"] || env["APPSETTING_WEBSITE_SITE_NAME"] != "app1" {
		t.Fatalf("the child's environment:\n%s", out)
	}
	req, _ := http.NewRequest("GET", env["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource=https://management.azure.com/", nil)
	req.Header.Set("X-IDENTITY-HEADER", env["IDENTITY_HEADER"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("token from the app's endpoint: %d %v", resp.StatusCode, err)
	}

	// In a sandbox (where the host allows one), the endpoint is 169.254.169.254 inside it, and
	// only there: the token is fetched by the app itself.
	if sandbox.Check() == nil {
		script := `echo $IDENTITY_ENDPOINT; curl -s -o /dev/null -w '%{http_code}' -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://management.azure.com/"`
		if got := must(t, sock, "app", "run", "--name", "boxed", "--sandbox", "on", "--", "sh", "-c", script); got != "http://169.254.169.254/msi/token\n200" {
			t.Fatalf("app run in a sandbox: %q", got)
		}
		// dev shell: the same sandbox, the user's command; Azure's names resolve to the relay.
		if got := must(t, sock, "dev", "shell", "--name", "boxed", "--", "sh", "-c", "getent hosts graph.microsoft.com | cut -d' ' -f1"); got != "169.254.169.253\n" {
			t.Fatalf("dev shell: %q", got)
		}
	} else if _, errs, code := run(t, sock, "app", "run", "--name", "boxed", "--sandbox", "on", "--", "true"); code == 0 || !strings.Contains(errs, "--sandbox=off") {
		t.Fatalf("--sandbox on where the host allows none: exit %d %q", code, errs)
	}

	// The site was created in "apps", with its system-assigned identity, on the node "local".
	site := must(t, sock, "webapp", "show", "--name", "app1", "-g", "apps", "--query", "[identity.type, properties.lanyard.node]", "-o", "tsv")
	if !strings.Contains(site, "SystemAssigned") || !strings.Contains(site, "local") {
		t.Fatalf("the site: %q", site)
	}

	// A site placed elsewhere is moved to the dev node, and lanyard says so.
	must(t, sock, "webapp", "create", "--name", "moved", "-g", "apps", "--node", "far")
	if _, errs, code := run(t, sock, "app", "run", "--name", "moved", "--", "true"); code != 0 || !strings.Contains(errs, "from the node far to local") {
		t.Fatalf("exit %d: %q", code, errs)
	}

	// Without -g, a site that exists in one group is used there: no stray copy in "apps".
	must(t, sock, "group", "create", "--name", "team")
	must(t, sock, "webapp", "create", "--name", "solo", "-g", "team", "--node", "local")
	if out, errs, code := run(t, sock, "app", "run", "--name", "solo", "--", "sh", "-c", "echo $APPSETTING_WEBSITE_SITE_NAME"); code != 0 || out != "solo\n" {
		t.Fatalf("app run of a site in another group: exit %d %q %q", code, out, errs)
	}
	if got := must(t, sock, "webapp", "list", "--query", "[?name=='solo'].id", "-o", "tsv"); strings.Count(got, "\n") != 1 || !strings.Contains(got, "/resourceGroups/team/") {
		t.Fatalf("sites named solo: %q (want only the one in team)", got)
	}
	// -g naming another group than the site's is refused, and creates nothing.
	if _, errs, code := run(t, sock, "dev", "env", "--name", "solo", "-g", "apps"); code == 0 || !strings.Contains(errs, "exists in the resource group team") || !strings.Contains(errs, "-g team") {
		t.Fatalf("dev env -g apps for a site in team: exit %d %q", code, errs)
	}
	if got := must(t, sock, "webapp", "list", "--query", "[?name=='solo'].id", "-o", "tsv"); strings.Count(got, "\n") != 1 {
		t.Fatalf("sites named solo after a refused -g: %q", got)
	}

	// Exit codes are lanyard's; a second run of the same app works.
	if _, errs, code := run(t, sock, "app", "run", "--name", "app1", "--", "sh", "-c", "exit 3"); code != 3 || errs != "" {
		t.Fatalf("exit %d, want 3 (%q)", code, errs)
	}
}

func TestDevEnvAndLogTail(t *testing.T) {
	sock := startDev(t)

	out := must(t, sock, "dev", "env", "--name", "shell")
	if !strings.Contains(out, "export IDENTITY_ENDPOINT='http://127.0.0.1:") || !strings.Contains(out, "export IDENTITY_HEADER='") ||
		!strings.Contains(out, "export APPSETTING_WEBSITE_SITE_NAME='shell'\n") {
		t.Fatalf("dev env:\n%s", out)
	}
	// The same app registered again keeps its header.
	if again := must(t, sock, "dev", "env", "--name", "shell"); again != out {
		t.Fatalf("dev env changed between two calls")
	}

	if got := must(t, sock, "app", "run", "--name", "logged", "--", "sh", "-c", "echo first; echo second >&2; echo third"); got != "first\nthird\n" {
		t.Fatalf("app run stdout: %q", got)
	}
	// stdout and stderr reach the log through two pipes: their lines keep their order within each.
	got := must(t, sock, "webapp", "log", "tail", "--name", "logged")
	if strings.Count(got, "\n") != 3 || !strings.Contains(got, "second\n") || !strings.Contains(strings.Replace(got, "second\n", "", 1), "first\nthird\n") {
		t.Fatalf("log tail: %q", got)
	}
	must(t, sock, "app", "run", "--name", "counted", "--", "printf", `a\nb\nc\n`)
	if got := must(t, sock, "functionapp", "log", "tail", "--name", "counted", "--lines", "2"); got != "b\nc\n" {
		t.Fatalf("log tail --lines 1: %q", got)
	}
	// az's shape: -g RG -n NAME.
	if got := must(t, sock, "functionapp", "log", "tail", "-g", "rg", "-n", "counted", "--lines", "1"); got != "c\n" {
		t.Fatalf("functionapp log tail -g -n: %q", got)
	}
}

func TestAppRunWithoutDev(t *testing.T) {
	dir, err := os.MkdirTemp("", "lyn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	_, errs, code := run(t, "--admin-socket="+filepath.Join(dir, "admin.sock"), "app", "run", "--name", "app1", "--", "true")
	if code != 1 || !strings.Contains(errs, "no dev agent answers on "+filepath.Join(dir, "agent", "agent.sock")) || !strings.Contains(errs, "start `lanyard dev`") {
		t.Fatalf("exit %d: %q", code, errs)
	}
}

func TestDevRestartReusesEnrollment(t *testing.T) {
	dir, err := os.MkdirTemp("", "lyr")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock, stop := startDevIn(t, dir)
	stop()
	if _, err := os.Stat(filepath.Join(dir, "agent", "join-token")); !os.IsNotExist(err) {
		t.Fatalf("the join token file is left behind: %v", err)
	}
	sock, stop = startDevIn(t, dir)
	defer stop()
	if got := must(t, sock, "audit", "list", "--query", "[?action=='node.join-token.create'] | length(@)"); got != "1\n" {
		t.Fatalf("join tokens made over two starts: %q, want 1", got)
	}
	// The same, filtered by the server, newest first.
	if got := must(t, sock, "audit", "list", "--action", "node.join-token", "--result", "success", "--newest-first", "--query", "[].action", "-o", "tsv"); got != "node.join-token.create\n" {
		t.Fatalf("audit list --action node.join-token: %q", got)
	}
	if _, _, code := run(t, sock, "audit", "list", "--from", "yesterday"); code == 0 {
		t.Fatal("audit list --from yesterday succeeded")
	}
	if got := must(t, sock, "node", "list", "--query", "[].name", "-o", "tsv"); got != "local\n" {
		t.Fatalf("nodes: %q", got)
	}
	if _, _, code := run(t, sock, "app", "run", "--name", "again", "--", "sh", "-c", `test -n "$IDENTITY_HEADER"`); code != 0 {
		t.Fatalf("app run after a restart: exit %d", code)
	}
}

func TestAppRunSignals(t *testing.T) {
	sock := startDev(t)
	// A command ended by a signal: 128 + its number, as a shell reports it.
	if _, _, code := run(t, sock, "app", "run", "--name", "sig", "--", "sh", "-c", "kill -TERM $$"); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit %d, want %d", code, 128+int(syscall.SIGTERM))
	}
	// SIGTERM sent to lanyard reaches the command, whose exit code lanyard then exits with.
	ready := filepath.Join(t.TempDir(), "ready")
	go func() {
		for i := 0; i < 600; i++ {
			if _, err := os.Stat(ready); err == nil {
				_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_, errs, code := run(t, sock, "app", "run", "--name", "sig", "--", "sh", "-c",
		`trap 'exit 5' TERM; touch "$0"; while :; do sleep 0.1; done`, ready)
	if code != 5 {
		t.Fatalf("exit %d, want 5 (the command's trap): %s", code, errs)
	}
}

func TestAppRunUserAssignedIdentity(t *testing.T) {
	sock := startDev(t)
	must(t, sock, "group", "create", "--name", "apps")
	clientID := strings.TrimSpace(must(t, sock, "identity", "create", "--name", "deployer", "-g", "apps", "--query", "clientId", "-o", "tsv"))
	if clientID == "" {
		t.Fatal("identity create printed no clientId")
	}
	out := must(t, sock, "app", "run", "--name", "withid", "--sandbox", "off", "--identities", "deployer", "--",
		"sh", "-c", `echo IDENTITY_ENDPOINT=$IDENTITY_ENDPOINT; echo IDENTITY_HEADER=$IDENTITY_HEADER`)
	env := envLines(out)
	for _, sel := range []string{"", "&client_id=" + clientID} {
		req, _ := http.NewRequest("GET", env["IDENTITY_ENDPOINT"]+"?api-version=2019-08-01&resource=https://management.azure.com/"+sel, nil)
		req.Header.Set("X-IDENTITY-HEADER", env["IDENTITY_HEADER"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
			ClientID    string `json:"client_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != 200 || err != nil || tok.AccessToken == "" || (sel != "" && tok.ClientID != clientID) {
			t.Fatalf("token %q: %d %v client_id %s", sel, resp.StatusCode, err, tok.ClientID)
		}
	}
}
