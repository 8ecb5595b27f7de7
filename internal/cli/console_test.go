package cli_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConsoleLogin: the link `lanyard console login` prints opens a session once.
func TestConsoleLogin(t *testing.T) {
	env, sock := server(t)
	out, errs, code := run(t, sock, "console", "login", "--ttl", "1m")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	link := strings.TrimSpace(out)
	if !strings.HasPrefix(link, env.URL+"/console/login?t=") || strings.Count(out, "\n") != 1 {
		t.Fatalf("printed %q, want the link alone on its line", out)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CAPool}}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{http.StatusSeeOther, http.StatusForbidden} {
		resp, err := hc.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("use %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
	if _, _, code := run(t, sock, "console", "login", "--ttl", "2h"); code == 0 {
		t.Error("--ttl 2h was accepted")
	}
}
