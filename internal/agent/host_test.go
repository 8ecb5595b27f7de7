package agent

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// hostGet is a GET of rawURL with the Host header host and the headers h.
func hostGet(t *testing.T, rawURL, host string, h map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestEndpointsRefuseForeignHosts: both token endpoints, on both listeners, answer only a Host
// that is one of their own addresses or localhost (a page that rebound its name to the agent's
// address sends its own name), and refuse a request a proxy forwarded.
func TestEndpointsRefuseForeignHosts(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, func(c *Config) { c.IMDS.Listen = "127.0.0.1:0" })
	env := startApp(t, a, siteA, "app-a")
	_, port, _ := net.SplitHostPort(a.ln.Addr().String())
	res := url.QueryEscape("https://vault.azure.net")
	type endpoint struct {
		name, url string
		header    map[string]string
	}
	endpoints := []endpoint{
		{"app service", a.URL() + PathAppService + "?api-version=2019-08-01&resource=" + res, map[string]string{"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]}},
		{"imds", a.URL() + PathIMDS + "?api-version=2018-02-01&resource=" + res, map[string]string{"Metadata": "true"}},
		{"imds listener", "http://" + a.IMDSAddr() + PathIMDS + "?api-version=2018-02-01&resource=" + res, map[string]string{"Metadata": "true"}},
	}
	foreign := []string{
		"evil.example", "evil.example:" + port, "EVIL.example:80", "localhost.evil.example", "127.0.0.1.nip.io:" + port,
		"lanyard.local", "10.0.0.1", "10.0.0.1:" + port, "169.254.169.253", "[fe80::1%25eth0]:80", "[2001:db8::1]", "0.0.0.0:" + port,
		"localhost:" + port + "@evil.example", // an empty Host is sent below: net/http fills it in
	}
	own := []string{
		"127.0.0.1:" + port, "127.0.0.1", "localhost:" + port, "localhost", "LocalHost.", "[::1]:" + port, "127.0.0.2:8080",
		"169.254.169.254", "169.254.169.254:80", "[::ffff:127.0.0.1]:" + port,
	}
	for _, ep := range endpoints {
		for _, host := range foreign {
			status, raw := hostGet(t, ep.url, host, ep.header)
			if status != 400 || !strings.Contains(raw, `"error":"invalid_request"`) || !strings.Contains(raw, "is not this endpoint's") {
				t.Errorf("%s with Host %q: %d %s, want 400 invalid_request naming the Host", ep.name, host, status, raw)
			}
		}
		for _, host := range own {
			if status, raw := hostGet(t, ep.url, host, ep.header); status != 200 {
				t.Errorf("%s with Host %q: %d %s, want 200", ep.name, host, status, raw)
			}
		}
		for _, fwd := range []map[string]string{
			{"Forwarded": "for=192.0.2.60;proto=http;by=203.0.113.43"},
			{"Forwarded": ""},
			{"X-Forwarded-For": "10.0.0.1"},
		} {
			h := map[string]string{}
			for k, v := range ep.header {
				h[k] = v
			}
			for k, v := range fwd {
				h[k] = v
			}
			status, raw := hostGet(t, ep.url, "127.0.0.1:"+port, h)
			if status != 400 || !strings.Contains(raw, `"error":"invalid_request"`) || !strings.Contains(raw, "header is refused") {
				t.Errorf("%s with %v: %d %s, want 400", ep.name, fwd, status, raw)
			}
		}
	}
	// No Host at all (HTTP/1.0), and an absolute request URI naming another host: refused too.
	for name, head := range map[string]string{
		"no Host":      "GET " + PathIMDS + "?api-version=2018-02-01&resource=" + res + " HTTP/1.0\r\nMetadata: true\r\n\r\n",
		"absolute URI": "GET http://evil.example" + PathIMDS + "?api-version=2018-02-01&resource=" + res + " HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nConnection: close\r\n\r\n",
	} {
		c, err := net.Dial("tcp", a.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		c.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(raw), "is not this endpoint's") {
			t.Errorf("%s: %d %s, want 400", name, resp.StatusCode, raw)
		}
	}
	// Every refusal was answered before a token was asked for: the node's and the app's one
	// identity were minted once each (by the accepted requests).
	if n := s.tokenCalls.Load(); n != 2 {
		t.Errorf("%d mints, want 2", n)
	}
}

// FuzzHost: the Host header and the forwarding headers of a request to a token endpoint are
// outside input (a web page's browser sends them after DNS rebinding). checkLocal does not panic,
// refuses anything forwarded, and accepts a Host only if its host part is localhost or an IP
// address that is loopback, 169.254.169.254 or the listener's own.
func FuzzHost(f *testing.F) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer ln.Close()
	a := &Agent{ln: ln}
	for _, h := range []string{"127.0.0.1:8080", "localhost", "LOCALHOST.:1", "evil.example", "[::1]:80", "[::ffff:127.0.0.1]",
		"169.254.169.254", "[fe80::1%eth0]:80", "127.0.0.1.nip.io", "", ":80", "[", "]:", "localhost:80@evil", "0x7f.1"} {
		f.Add(h, "", false)
		f.Add(h, "for=1.2.3.4", true)
	}
	f.Fuzz(func(t *testing.T, host, fwd string, forwarded bool) {
		r := httptest.NewRequest(http.MethodGet, "/msi/token", nil)
		r.Host = host
		if forwarded {
			r.Header["Forwarded"] = []string{fwd}
		}
		err := a.checkLocal(r)
		if forwarded {
			if err == nil {
				t.Fatalf("a Forwarded request (Host %q) was accepted", host)
			}
			return
		}
		if err != nil {
			return
		}
		name := host
		if h, _, err := net.SplitHostPort(host); err == nil {
			name = h
		}
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
		if strings.EqualFold(strings.TrimSuffix(name, "."), "localhost") {
			return
		}
		ip, perr := netip.ParseAddr(name)
		if perr != nil || ip.Zone() != "" {
			t.Fatalf("Host %q accepted: %q is neither localhost nor an address", host, name)
		}
		if ip = ip.Unmap(); !ip.IsLoopback() && ip != netip.AddrFrom4([4]byte{169, 254, 169, 254}) {
			t.Fatalf("Host %q accepted: %s is not this agent's", host, ip)
		}
	})
}
