package agent

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// A server name with several addresses: each address is an endpoint of its own (still checked
// against the name's certificate); one where no server answers is passed over, and no token
// request fails. Here "localhost" resolves to a dead address first, then to the stub's.
func TestServerNameWithSeveralAddresses(t *testing.T) {
	s := newStub(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.srv.URL, "https://"))
	dead, err := net.Listen("tcp", "127.0.0.2:0") // an address that refuses connections once closed
	if err != nil {
		t.Skipf("127.0.0.2 is not usable here: %v", err)
	}
	deadHost, _, _ := net.SplitHostPort(dead.Addr().String())
	dead.Close()
	orig := lookupHost
	lookupHost = func(ctx context.Context, host string) ([]string, error) {
		if host == "localhost" {
			return []string{deadHost, "127.0.0.1"}, nil
		}
		return orig(ctx, host)
	}
	t.Cleanup(func() { lookupHost = orig })
	a := startAgent(t, s, func(c *Config) { c.ServerURL = "https://localhost:" + port })
	var addrs []string
	for _, e := range a.up.eps {
		addrs = append(addrs, e.addr)
	}
	if strings.Join(addrs, " ") != deadHost+":"+port+" 127.0.0.1:"+port {
		t.Fatalf("endpoints %q, want one per address", addrs)
	}
	env := startApp(t, a, siteA, "app-a")
	for i := range 10 {
		r := appToken(t, a, env["IDENTITY_HEADER"], url.Values{"resource": {"https://api-" + strconv.Itoa(i) + ".example"}})
		if r.status != 200 {
			t.Fatalf("token %d: %d %s", i, r.status, r.raw)
		}
	}
	if strings.Contains(a.logs.String(), "not reachable") {
		t.Errorf("the agent logged the control plane unreachable:\n%s", a.logs.String())
	}
}
