package agent

import (
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRememberAcrossRestarts: an agent with Remember (lanyard dev's) keeps its endpoint's port and
// the header of an app registered on the control socket across a restart, so a shell given them
// before keeps getting tokens; one without Remember (lanyard agent) gives a new header.
func TestRememberAcrossRestarts(t *testing.T) {
	s := newStub(t)
	site := siteA
	resource := url.Values{"resource": {"https://management.azure.com/"}}

	first := startAgent(t, s, func(c *Config) { c.Remember = true })
	cfg := first.cfg
	env, err := first.register(AppConfig{Site: site, Name: "app-a"})
	if err != nil {
		t.Fatal(err)
	}
	if r := appToken(t, first, env["IDENTITY_HEADER"], resource); r.status != 200 {
		t.Fatalf("token before the restart: %d %s", r.status, r.raw)
	}
	file := filepath.Join(cfg.StateDir, rememberFile)
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", rememberFile, err, st.Mode().Perm())
	}
	first.stop()

	cfg.JoinTokenFile = "" // enrolled: the state directory is enough
	second := runAgent(t, cfg, first.logs, "")
	if second.URL() != first.URL() {
		t.Errorf("endpoint after a restart: %s, want %s", second.URL(), first.URL())
	}
	again, err := second.AppEnv("app-a")
	if err != nil {
		t.Fatalf("the app registered before the restart is not served after it: %v", err)
	}
	if again["IDENTITY_HEADER"] != env["IDENTITY_HEADER"] || again["IDENTITY_ENDPOINT"] != env["IDENTITY_ENDPOINT"] {
		t.Errorf("the app's environment changed across a restart")
	}
	if r := appToken(t, second, env["IDENTITY_HEADER"], resource); r.status != 200 {
		t.Fatalf("the header from before the restart: %d %s", r.status, r.raw)
	}
	second.stop()

	// The remembered port is taken: the agent moves and says so.
	busy, err := net.Listen("tcp", strings.TrimPrefix(first.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	logs := &syncBuffer{}
	cfg.Log = slog.New(slog.NewTextHandler(logs, nil))
	third := runAgent(t, cfg, logs, "")
	if third.URL() == first.URL() {
		t.Fatal("the agent listens on a port that is taken")
	}
	if !strings.Contains(logs.String(), "taken") {
		t.Errorf("the move is not logged: %s", logs.String())
	}
	if r := appToken(t, third, env["IDENTITY_HEADER"], resource); r.status != 200 {
		t.Errorf("the remembered header at the new port: %d %s", r.status, r.raw)
	}
	third.stop()

	// Without Remember, a new start gives the app a new header.
	cfg.Remember = false
	plain := runAgent(t, cfg, logs, "")
	env2, err := plain.register(AppConfig{Site: site, Name: "app-a"})
	if err != nil {
		t.Fatal(err)
	}
	if env2["IDENTITY_HEADER"] == env["IDENTITY_HEADER"] {
		t.Error("an agent without Remember reused a header of an earlier run")
	}
	if r := appToken(t, plain, env["IDENTITY_HEADER"], resource); r.status != 401 {
		t.Errorf("an old header at an agent without Remember: %d, want 401", r.status)
	}
}
