package agent

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestControlRegister(t *testing.T) {
	s := newStub(t)
	ta := startAgent(t, s, nil)
	dir, err := os.MkdirTemp("", "lyctl") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, ControlSocket)
	ln, err := ListenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode: %v %v", st.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.ServeControl(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	if _, err := ListenControl(path); err == nil {
		t.Fatal("a second agent took over a control socket that answers")
	}

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	post := func(body string) (int, RegisterResponse) {
		t.Helper()
		resp, err := hc.Post("http://agent/apps", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out RegisterResponse
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	site := "/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/web1"
	code, first := post(`{"site":"` + site + `"}`)
	if code != 200 || first.Name != "web1" || first.Env["IDENTITY_ENDPOINT"] != ta.URL()+PathAppService || len(first.Env["IDENTITY_HEADER"]) != 64 {
		t.Fatalf("register: %d %+v", code, first.Name)
	}
	code, again := post(`{"site":"` + site + `","name":"web1"}`)
	if code != 200 || again.Env["IDENTITY_HEADER"] != first.Env["IDENTITY_HEADER"] {
		t.Fatalf("registering again: %d, same header %v", code, again.Env["IDENTITY_HEADER"] == first.Env["IDENTITY_HEADER"])
	}
	if env, err := ta.AppEnv("web1"); err != nil || env["IDENTITY_HEADER"] != first.Env["IDENTITY_HEADER"] {
		t.Fatalf("AppEnv: %v", err)
	}
	if code, _ := post(`{"site":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/other","name":"web1"}`); code != http.StatusConflict {
		t.Fatalf("the same name for another site: %d, want 409", code)
	}
	for _, bad := range []string{`{"site":"web1"}`, `not json`, `{"site":"` + site + `","name":"a/b"}`} {
		if code, _ := post(bad); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}
