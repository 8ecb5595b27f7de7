package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/cli"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// `lanyard func start` runs a project in place: local.settings.json's Values as settings, plain
// HTTP on 127.0.0.1, authLevel not enforced.
func TestFuncStart(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "handler")
	if out, err := exec.Command("go", "build", "-o", bin, "../functions/testdata/handler").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root := filepath.Join(dir, "app")
	files := map[string]string{
		"host.json":           `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"%HANDLER%"}}}`,
		"local.settings.json": `{"IsEncrypted":false,"Values":{"FUNCTIONS_WORKER_RUNTIME":"custom","HANDLER":"` + bin + `","MY_SETTING":"from-local-settings"}}`,
		"hello/function.json": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"admin","methods":["get"]},{"type":"http","direction":"out","name":"res"}]}`,
		"env/function.json":   `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"}]}`,
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"func", "start", "--script-root", root, "--port", fmt.Sprint(port)}, &out, &errb)
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var body string
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/api/hello?name=local")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("func start did not serve: %v\n%s\n%s", err, out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if body != "hello local" {
		t.Errorf("body %q", body)
	}
	resp, err := http.Get(base + "/api/env")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"MY_SETTING":"from-local-settings"`) {
		t.Errorf("env: %s", b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("func start did not stop")
	}
	o := out.String()
	for _, want := range []string{
		fmt.Sprintf("\thello: [GET] http://localhost:%d/api/hello", port),
		fmt.Sprintf("\tenv: [GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS] http://localhost:%d/api/env", port),
		"[Information]   Executing 'Functions.hello' (Reason='This function was programmatically called via the host APIs.'",
	} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
}

// With --name, the app runs with the site's managed identity from `lanyard dev`, and a keyVault
// input binding reads a real Lanyard vault's secret with it.
func TestFuncStartWithIdentity(t *testing.T) {
	sock := startDev(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "handler")
	if out, err := exec.Command("go", "build", "-o", bin, "../functions/testdata/handler").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root := filepath.Join(dir, "app")
	files := map[string]string{
		"host.json": `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"` + bin + `"}}}`,
		"secret/function.json": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"},
			{"type":"keyVault","direction":"in","name":"mySecret","secretName":"db-password","vaultName":"kv1","identity":"system"}]}`,
		"env/function.json": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"}]}`,
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	must(t, sock, "group", "create", "--name", "apps")
	must(t, sock, "keyvault", "create", "--name", "kv1", "--resource-group", "apps")
	must(t, sock, "keyvault", "secret", "set", "--vault-name", "kv1", "--name", "db-password", "--value", "from-the-vault")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuf
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{sock, "func", "start", "--name", "fnapp", "--sandbox", "off", "--script-root", root, "--port", fmt.Sprint(port)}, &out, &errb)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("func start did not stop")
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		if code, _ := get("/api/env"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("func start did not serve:\n%s\n%s", out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body := get("/api/env")
	if code != 200 || !strings.Contains(body, `"IDENTITY_ENDPOINT":"http://127.0.0.1:`) || !strings.Contains(body, `"WEBSITE_SITE_NAME":"fnapp"`) {
		t.Errorf("env: %d %s", code, body)
	}
	// Before the identity may read the vault, the invocation fails and the log says why.
	if code, _ := get("/api/secret"); code != 500 {
		t.Errorf("without access: %d", code)
	}
	if !strings.Contains(out.String(), "keyVault binding 'mySecret': secret 'db-password' in vault 'kv1' could not be read") {
		t.Errorf("log:\n%s", out.String())
	}
	principal := strings.TrimSpace(must(t, sock, "functionapp", "show", "--name", "fnapp", "-g", "apps", "--query", "identity.principalId", "-o", "tsv"))
	must(t, sock, "keyvault", "set-policy", "--name", "kv1", "--object-id", principal, "--secret-permissions", "get")
	code, body = get("/api/secret")
	if code != 200 || !strings.Contains(body, `"mySecret":"from-the-vault"`) {
		t.Errorf("secret: %d %s\n%s", code, body, out.String())
	}
	if strings.Contains(out.String(), "from-the-vault") {
		t.Errorf("the secret's value is in the log")
	}
}
