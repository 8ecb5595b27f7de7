package agent

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lanyardhq/lanyard/internal/errs"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{ServerURL: "https://lanyard.example:8443/", CAFile: "ca.pem", StateDir: "/var/lib/lanyard-agent"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a minimal config: %v", err)
	}
	fnRoot := t.TempDir()
	fn := ok
	fn.FrontDoor.ListenHTTP = "127.0.0.1:0"
	fn.Apps = []AppConfig{{Site: siteA, Functions: fnRoot}} // no command: the agent hosts it
	if err := fn.Validate(); err != nil {
		t.Fatalf("a function app run in place: %v", err)
	}
	if d := ok.withDefaults(); d.Listen != DefaultListen || d.MissRate != 20 || d.MissConcurrency != 5 || d.HitRate != 1000 ||
		d.ServerURL != "https://lanyard.example:8443" || d.TokenCache.MaxTokens != 10_000 || d.TokenCache.MaxBytes != 16<<20 {
		t.Errorf("defaults %+v", d)
	}
	bad := map[string]func(*Config){
		"server":                 func(c *Config) { c.ServerURL = "" },
		"server http":            func(c *Config) { c.ServerURL = "http://lanyard.example" },
		"ca_file":                func(c *Config) { c.CAFile = "" },
		"state_dir":              func(c *Config) { c.StateDir = "" },
		"listen public":          func(c *Config) { c.Listen = "0.0.0.0:4141" },
		"listen no port":         func(c *Config) { c.Listen = "127.0.0.1" },
		"imds.listen public":     func(c *Config) { c.IMDS.Listen = "10.0.0.4:80" },
		"miss_rate":              func(c *Config) { c.MissRate = -1 },
		"token_cache.max_tokens": func(c *Config) { c.TokenCache.MaxTokens = -1 },
		"token_cache.max_bytes":  func(c *Config) { c.TokenCache.MaxBytes = 100 },
		"node_name":              func(c *Config) { c.NodeName = "a/b" },
		"apps site":              func(c *Config) { c.Apps = []AppConfig{{Site: "app-a", Command: []string{"x"}}} },
		"apps command":           func(c *Config) { c.Apps = []AppConfig{{Site: siteA}} },
		"apps name":              func(c *Config) { c.Apps = []AppConfig{{Site: siteA, Name: "../x", Command: []string{"x"}}} },
		"apps twice": func(c *Config) {
			c.Apps = []AppConfig{{Site: siteA, Command: []string{"x"}}, {Site: siteA, Command: []string{"y"}}}
		},
		"apps env": func(c *Config) {
			c.Apps = []AppConfig{{Site: siteA, Command: []string{"x"}, Env: map[string]string{"A=B": "c"}}}
		},
		"apps functions not a directory": func(c *Config) {
			c.FrontDoor.ListenHTTP = "127.0.0.1:0"
			c.Apps = []AppConfig{{Site: siteA, Functions: "/nonexistent/func"}}
		},
		"apps functions and a command": func(c *Config) {
			c.FrontDoor.ListenHTTP = "127.0.0.1:0"
			c.Apps = []AppConfig{{Site: siteA, Functions: fnRoot, Command: []string{"x"}}}
		},
		"apps functions without a front door": func(c *Config) { c.Apps = []AppConfig{{Site: siteA, Functions: fnRoot}} },
	}
	for name, mutate := range bad {
		c := ok
		mutate(&c)
		if err := c.Validate(); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, addr := range []string{"169.254.169.254:80", "127.0.0.1:0", "[::1]:8080", "localhost:80"} {
		c := ok
		c.IMDS.Listen = addr
		if err := c.Validate(); err != nil {
			t.Errorf("imds.listen %s: %v", addr, err)
		}
	}
}

func TestConfigYAML(t *testing.T) {
	doc := `
server: https://lanyard.example:8443
ca_file: /etc/lanyard/ca.pem
state_dir: /var/lib/lanyard-agent
imds:
  listen: 169.254.169.254:80
miss_rate: 40
token_cache:
  max_tokens: 500
  max_bytes: 1048576
apps:
  - site: ` + siteA + `
    command: [node, server.js]
    dir: /srv/app-a
    env: {PORT: "8080"}
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	if c.IMDS.Listen != "169.254.169.254:80" || c.MissRate != 40 || c.Apps[0].Name != "app-a" || c.Apps[0].Env["PORT"] != "8080" ||
		c.TokenCache.MaxTokens != 500 || c.TokenCache.MaxBytes != 1<<20 {
		t.Errorf("decoded %+v", c)
	}
}

func TestLinkCommands(t *testing.T) {
	ip := netip.MustParseAddr("169.254.169.254")
	up, down := linkCommands(ip, true)
	got := func(cmds [][]string) string {
		var s []string
		for _, c := range cmds {
			s = append(s, strings.Join(c, " "))
		}
		return strings.Join(s, "; ")
	}
	if g := got(up); g != "ip link add lanyard0 type dummy; ip addr add 169.254.169.254/32 dev lanyard0; ip link set lanyard0 up" {
		t.Errorf("up: %s", g)
	}
	if g := got(down); g != "ip link del lanyard0" {
		t.Errorf("down: %s", g)
	}
	if _, down := linkCommands(ip, false); got(down) != "ip addr del 169.254.169.254/32 dev lanyard0" {
		t.Errorf("down without creating the link: %s", got(down))
	}
	if _, need := needsLink("127.0.0.1:80"); need {
		t.Error("loopback needs no link")
	}
}

func FuzzTokenQuery(f *testing.F) {
	for _, s := range []string{"api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net&client_id=x",
		"resource=a&resource=b", "resource=%zz", "mi_res_id=a&object_id=b&resource=r", "resource=%2F.default"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("%q: %v is not Invalid", raw, err)
			}
			return
		}
		for _, params := range [][]selectorParam{appServiceSelectors, legacySelectors, imdsSelectors} {
			sel, resource, err := tokenParams(q, params)
			if err != nil {
				if !errs.Is(err, errs.Invalid) {
					t.Fatalf("%q: %v is not Invalid", raw, err)
				}
				continue
			}
			if resource == "" || sel.Kind == "" || (sel.Kind == "system") != (sel.Value == "") {
				t.Fatalf("%q: selector %+v, resource %q", raw, sel, resource)
			}
		}
		_ = url.Values(q).Encode()
	})
}

// The servers key: each an https URL, named by its index when it is not; the list the upstream
// gets is Server first, each URL once.
func TestConfigServers(t *testing.T) {
	c := Config{ServerURL: "https://a.example:8443/", Servers: []string{" https://b.example:8443/", "https://a.example:8443", "https://c.example"},
		CAFile: "ca.pem", StateDir: "/s"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.withDefaults().servers(), " "); got != "https://a.example:8443 https://b.example:8443 https://c.example" {
		t.Errorf("servers %q", got)
	}
	c.Servers = append(c.Servers, "http://d.example")
	if err := c.Validate(); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), "servers[3]") {
		t.Errorf("an http server: %v", err)
	}
	// An IP literal is dialed as it is, not pinned.
	for _, raw := range []string{"https://127.0.0.1:8443", "https://[::1]"} {
		u, _ := url.Parse(raw)
		if got := pinnedAddrs(u); len(got) != 1 || got[0] != "" {
			t.Errorf("%s pinned to %q", raw, got)
		}
	}
}
