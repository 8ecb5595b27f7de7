package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The newcomer's path, with the real binary on PATH as a user would have it: `lanyard dev` started
// in a project directory with no flag but --port, the CLI used from other directories, a shell
// given an app's identity with `eval "$(lanyard dev env ...)"` that keeps working across a restart
// of `lanyard dev`, and the seed's Graph bootstrap as az rest lines with az replaced by lanyard.

// newcomerDev starts `lanyard dev --port port` in the directory project (data in ./.lanyard), as a
// newcomer does, and waits until its banner is out.
func newcomerDev(t *testing.T, project string, port int) *devProc {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--port", fmt.Sprint(port))
	cmd.Dir = project
	return startDevCmd(t, cmd, filepath.Join(project, ".lanyard"), port)
}

// shell runs a bash script in dir with the lanyard binary first on PATH, and returns its stdout;
// a non-zero exit fails the test with its stderr.
func shell(t *testing.T, dir, script string, env ...string) string {
	t.Helper()
	out, errOut, err := shellRun(dir, script, env...)
	if err != nil {
		t.Fatalf("bash: %v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", err, script, out, errOut)
	}
	return out
}

func shellRun(dir, script string, env ...string) (stdout, stderr string, err error) {
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestNewcomer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary twice")
	}
	project, elsewhere := shortDir(t), shortDir(t)
	port := freePort(t)
	p := newcomerDev(t, project, port)

	// The CLI finds the running dev server from another directory, with no flag.
	if out := shell(t, elsewhere, `lanyard tenant list --query "[0].id" -o tsv`); len(strings.TrimSpace(out)) != 36 {
		t.Fatal("tenant list from another directory printed nothing")
	}

	// A shell given an app's identity, from another directory.
	envLines := shell(t, elsewhere, `lanyard dev env --name hello`)
	getToken := `eval "$ENVLINES"
curl -sS -o /dev/null -w '%{http_code}' -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://management.azure.com/"`
	if got := shell(t, elsewhere, getToken, "ENVLINES="+envLines); got != "200" {
		t.Fatalf("token in the shell: %s", got)
	}
	for _, v := range []string{"SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"} {
		if !strings.Contains(envLines, "export "+v+"='/") {
			t.Errorf("dev env: %s is missing or not an absolute path:\n%s", v, envLines)
		}
	}

	// Restart dev on the same directory: the same shell environment still gets tokens.
	p.stop(t)
	p = newcomerDev(t, project, port)
	defer p.stop(t)
	if got := shell(t, elsewhere, getToken, "ENVLINES="+envLines); got != "200" {
		t.Fatalf("token in the shell after a restart of lanyard dev: %s", got)
	}
	if again := shell(t, elsewhere, `lanyard dev env --name hello`); again != envLines {
		t.Errorf("dev env after a restart differs:\nbefore:\n%s\nafter:\n%s", envLines, again)
	}

	// An app's TLS clients trust Lanyard with no CA flag, from a directory other than the project's:
	// curl, Python requests (Debian's python3-requests comes with python3-azure), Node's fetch.
	disco := fmt.Sprintf("https://localhost:%d/common/.well-known/openid-configuration", port)
	tenant := strings.TrimSpace(shell(t, elsewhere, `lanyard tenant list --query "[0].id" -o tsv`))
	disco = strings.Replace(disco, "/common/", "/"+tenant+"/", 1)
	clients := map[string]string{
		"curl":   `curl -sS -o /dev/null -w '%{http_code}' "$URL"`,
		"python": `/usr/bin/python3 -c 'import os, requests; print(requests.get(os.environ["URL"]).status_code, end="")'`,
		"node":   `node -e 'fetch(process.env.URL).then(r => process.stdout.write(String(r.status)), e => { console.error(e.cause || e); process.exit(1) })'`,
	}
	for name, script := range clients {
		t.Run("tls-"+name, func(t *testing.T) {
			tool := strings.Fields(script)[0]
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed", tool)
			}
			if name == "python" {
				if err := exec.Command("/usr/bin/python3", "-c", "import requests").Run(); err != nil {
					t.Skip("python3-requests is not installed")
				}
			}
			out := shell(t, elsewhere, `lanyard app run --name hello -- bash -c '`+strings.ReplaceAll(script, `'`, `'\''`)+`'`, "URL="+disco)
			if out != "200" {
				t.Fatalf("%s inside app run: %q", name, out)
			}
		})
	}

	t.Run("seed-bootstrap", func(t *testing.T) { seedBootstrap(t, elsewhere) })
}

// seedBootstrap runs the Graph bootstrap of seed 000 (az rest lines; the seed's PowerShell loop as
// bash) with az replaced by lanyard, and checks that the identity holds the two app roles.
func seedBootstrap(t *testing.T, dir string) {
	principalID := strings.TrimSpace(shell(t, dir, `lanyard webapp show --name hello -g apps --query identity.principalId -o tsv`))
	script := `
graphSp=$(lanyard rest --method GET --uri "https://graph.microsoft.com/v1.0/servicePrincipals(appId='00000003-0000-0000-c000-000000000000')?\$select=id,appRoles" --query "id" -o tsv)
miSpId=$principalId
roles=$(lanyard rest --method GET --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$graphSp?\$select=appRoles" --query "appRoles[?value=='Directory.Read.All' || value=='Group.Read.All'].id" -o tsv)
for id in $roles; do
  tmp=$(mktemp)
  printf '{"principalId":"%s","resourceId":"%s","appRoleId":"%s"}' "$miSpId" "$graphSp" "$id" > "$tmp"
  lanyard rest --method POST --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$miSpId/appRoleAssignments" --headers "Content-Type=application/json" --body "@$tmp" > /dev/null
  rm -f "$tmp"
done
# $filter with spaces, as a user types it
lanyard rest --uri "https://graph.microsoft.com/v1.0/servicePrincipals?\$filter=displayName eq 'Microsoft Graph'" --query "value[].appId" -o tsv
lanyard rest --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$miSpId/appRoleAssignments" --query "value[].appRoleId" -o tsv | sort
`
	out := shell(t, dir, script, "principalId="+principalID)
	want := "00000003-0000-0000-c000-000000000000\n" + // the $filter found Microsoft Graph by display name
		"5b567255-7703-4780-807c-7be8301ae99b\n" + // Group.Read.All
		"7ab1d382-f21e-4acd-a863-ba3e13f7da61\n" // Directory.Read.All
	if out != want {
		t.Fatalf("the bootstrap printed:\n%s\nwant:\n%s", out, want)
	}
}

// TestNoServerSays: a CLI command with no server to talk to says what it tried and how to name
// another, and `lanyard dev` on a busy port names the flag that picks another.
func TestNoServerSays(t *testing.T) {
	empty := shortDir(t)
	_, errOut, err := shellRun(empty, `lanyard tenant list`, "XDG_RUNTIME_DIR="+empty, "LANYARD_ADMIN_SOCKET=", "LANYARD_DATA_DIR=")
	if err == nil {
		t.Fatal("tenant list with no server succeeded")
	}
	for _, want := range []string{"no Lanyard server answers", "/var/lib/lanyard/admin.sock", "./.lanyard/admin.sock", "--admin-socket", "lanyard dev"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("the error does not say %q:\n%s", want, errOut)
		}
	}
	if strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("the error is not one line:\n%s", errOut)
	}

	busy := shortDir(t)
	port := freePort(t)
	p := newcomerDev(t, busy, port)
	defer p.stop(t)
	second := shortDir(t)
	cmd := exec.Command(bin, "dev", "--port", fmt.Sprint(port))
	cmd.Dir = second
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--port") || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("a second dev on a busy port: %v\n%s", err, out)
	}
}

// TestDevLogFile: the banner goes to stdout and, with --log-file, the log to that file (0600) and
// not to the terminal, so the two never interleave.
func TestDevLogFile(t *testing.T) {
	project := shortDir(t)
	logFile := filepath.Join(project, "dev.log")
	var stdout, stderr syncBuffer
	cmd := exec.Command(bin, "dev", "--port", fmt.Sprint(freePort(t)), "--log-file", logFile)
	cmd.Dir = project
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(stdout.String(), "Stop with Ctrl-C"); {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no banner:\n%s\n%s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := <-done; err != nil {
		t.Fatalf("lanyard dev: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stdout.String(), "level=") || stderr.String() != "" {
		t.Errorf("log lines outside the log file:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	raw, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(raw), "lanyard server listening") || !strings.Contains(string(raw), "component=agent") {
		t.Fatalf("the log file: %v\n%s", err, raw)
	}
	if st, _ := os.Stat(logFile); st.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, want 0600", st.Mode().Perm())
	}
}
