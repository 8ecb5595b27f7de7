//go:build linux

package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/lanyardhq/lanyard/internal/agent"
	"github.com/lanyardhq/lanyard/internal/lanyardtest"
	"github.com/lanyardhq/lanyard/internal/sandbox"
)

// IMDS on the link-local address, where unmodified azidentity (which cannot be pointed
// elsewhere) looks for it: the agent runs in a network namespace this test makes, puts
// 169.254.169.254 on its dummy interface there, and reaches the server over a veth pair.
// Nothing leaves the namespace and the veth pair.

// netnsChildEnv carries the child's instructions (a JSON netnsChild) into the namespace.
const netnsChildEnv = "LANYARD_TEST_NETNS_CHILD"

type netnsChild struct {
	ServerURL, CAFile, JoinTokenFile, StateDir, Node, Scope string
	Clients                                                 []netnsClient // run after azidentity
}

// netnsClient is an identity client of another language the child runs with no environment
// but PATH and HOME: its ManagedIdentityCredential must find IMDS on 169.254.169.254 itself.
type netnsClient struct {
	Name string
	Argv []string
	Dir  string
}

// netnsResult is what the child prints on its last line.
type netnsResult struct {
	Token         string            `json:"token"`
	ClientTokens  map[string]string `json:"clientTokens"` // by netnsClient.Name
	AddressAdded  bool              `json:"addressAdded"`
	AddressGone   bool              `json:"addressGone"`
	ChildErrorMsg string            `json:"error,omitempty"`
}

func run(t *testing.T, args ...string) error {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func TestIMDSLinkLocalInNetns(t *testing.T) {
	if os.Getenv(netnsChildEnv) != "" {
		t.Skip("the child runs TestIMDSLinkLocalChild")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces cannot be made here: no ip command (Debian's iproute2); CI installs it")
	}
	// Two namespaces of the test's own, joined by a veth pair made inside them: the server's
	// listener lives in one, the node in the other, and the host's own namespace sees no
	// interface come or go (a browser test running beside this one aborts its page loads with
	// ERR_NETWORK_CHANGED when it does).
	id := os.Getpid() % 100000
	ns, srvNS := fmt.Sprintf("lyimds%d", id), fmt.Sprintf("lyimdss%d", id)
	host, peer := fmt.Sprintf("lyh%d", id), fmt.Sprintf("lyp%d", id)
	if err := run(t, "ip", "netns", "add", ns); err != nil {
		t.Skipf("network namespaces cannot be made here (CI runs as root and can): %v", err)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	if err := run(t, "ip", "netns", "add", srvNS); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", srvNS).Run() })
	const hostIP, peerIP = "10.213.7.1", "10.213.7.2"
	for _, cmd := range [][]string{
		{"ip", "-n", srvNS, "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns},
		{"ip", "-n", srvNS, "addr", "add", hostIP + "/30", "dev", host},
		{"ip", "-n", srvNS, "link", "set", host, "up"},
		{"ip", "-n", srvNS, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", peerIP + "/30", "dev", peer},
		{"ip", "-n", ns, "link", "set", peer, "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
	} {
		if err := run(t, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := listenInNetns("/run/netns/"+srvNS, net.JoinHostPort(hostIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	env := lanyardtest.Start(t, lanyardtest.Options{Listener: ln})
	// The test's own requests (ARM, token checks) reach the server in its namespace too.
	env.HTTP.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return inNetns("/run/netns/"+srvNS, func() (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		})
	}
	n := &node{env: env}
	_, uri := n.api(t)
	jt, err := env.Admin.CreateJoinToken(t.Context(), "netns-node", "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	child := netnsChild{ServerURL: env.URL, CAFile: filepath.Join(dir, "ca.pem"), JoinTokenFile: filepath.Join(dir, "jt"),
		StateDir: filepath.Join(dir, "state"), Node: "netns-node", Scope: uri + "/.default"}
	if err := os.WriteFile(child.CAFile, env.Server.CA.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(child.JoinTokenFile, []byte(jt.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	// The Node and Python clients too, where their packages are here.
	if _, why := nodeMissing(nodeIdentityDir, "@azure/identity"); why == "" {
		cl := nodeClient(t)
		child.Clients = append(child.Clients, netnsClient{Name: cl.name, Argv: cl.argv, Dir: cl.dir})
	} else if required("LANYARD_REQUIRE_NODE") {
		t.Error(why)
	}
	if why := pythonMissing(); why == "" {
		cl := pythonClient(t)
		child.Clients = append(child.Clients, netnsClient{Name: cl.name, Argv: cl.argv, Dir: cl.dir})
	} else if required("LANYARD_REQUIRE_PYTHON") {
		t.Error(why)
	}
	spec, _ := json.Marshal(child)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^TestIMDSLinkLocalChild$", "-test.v", "-test.count=1")
	// A clean environment: no identity source but IMDS, no proxy.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, netnsChildEnv + "=" + string(spec)}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var res netnsResult
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				t.Fatal(err)
			}
		}
	}
	if res.ChildErrorMsg != "" || res.Token == "" {
		t.Fatalf("child: %s\n%s", res.ChildErrorMsg, out)
	}
	nodes, err := env.Admin.ListNodes(t.Context())
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes %+v %v", nodes, err)
	}
	var machine armRes
	armDo(t, env, http.MethodGet, nodes[0].MachineResourceID, "2024-07-10", nil, &machine)
	c := n.verify(t, res.Token, uri)
	if c["oid"] != machine.Identity.PrincipalID || !strings.EqualFold(fmt.Sprint(c["xms_mirid"]), machine.ID) {
		t.Errorf("token oid %v xms_mirid %v, want the machine's %s", c["oid"], c["xms_mirid"], machine.Identity.PrincipalID)
	}
	t.Logf("IMDS on 169.254.169.254 served azidentity and %d other client(s): %v", len(res.ClientTokens), slices.Sorted(maps.Keys(res.ClientTokens)))
	for _, cl := range child.Clients {
		tok := res.ClientTokens[cl.Name]
		if tok == "" {
			t.Errorf("%s got no token from IMDS on 169.254.169.254", cl.Name)
			continue
		}
		if c := n.verify(t, tok, uri); c["oid"] != machine.Identity.PrincipalID {
			t.Errorf("%s's token oid %v, want the machine's %s", cl.Name, c["oid"], machine.Identity.PrincipalID)
		}
	}
	if !res.AddressAdded || !res.AddressGone {
		t.Errorf("169.254.169.254 on the dummy interface while the agent ran: %v; gone after: %v", res.AddressAdded, res.AddressGone)
	}
}

// TestIMDSLinkLocalChild runs inside the namespace TestIMDSLinkLocalInNetns made.
func TestIMDSLinkLocalChild(t *testing.T) {
	raw := os.Getenv(netnsChildEnv)
	if raw == "" {
		t.Skip("run by TestIMDSLinkLocalInNetns inside its network namespace")
	}
	var c netnsChild
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	var res netnsResult
	defer func() {
		b, _ := json.Marshal(res)
		fmt.Printf("\nRESULT %s\n", b)
	}()
	fail := func(err error) { res.ChildErrorMsg = err.Error() }
	a, err := agent.New(t.Context(), agent.Config{ServerURL: c.ServerURL, CAFile: c.CAFile, JoinTokenFile: c.JoinTokenFile,
		StateDir: c.StateDir, NodeName: c.Node, IMDS: agent.IMDSConfig{Listen: "169.254.169.254:80"}})
	if err != nil {
		fail(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	res.AddressAdded = hasIMDSAddress()
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		fail(err)
	} else if tok, err := cred.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{c.Scope}}); err != nil {
		fail(err)
	} else {
		res.Token = tok.Token
	}
	res.ClientTokens = map[string]string{}
	for _, cl := range c.Clients {
		out, err := nodeIdentity(t, identityClient{name: cl.Name, argv: cl.Argv, dir: cl.Dir}, nil,
			[]nodeCase{{Name: "imds", Credential: "managed", Scope: c.Scope}})
		if r := out["imds"]; err != nil || r.Error != "" {
			fail(fmt.Errorf("%s: %v %s", cl.Name, err, r.Error))
		} else {
			res.ClientTokens[cl.Name] = r.Token
		}
	}
	cancel()
	<-done
	a.Close()
	res.AddressGone = !hasIMDSAddress()
}

func hasIMDSAddress() bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(net.IPv4(169, 254, 169, 254)) {
			return true
		}
	}
	return false
}

// listenInNetns opens a TCP listener inside the network namespace at path (the sandbox
// package's switch, which returns its thread to the host's namespace: a thread left in another
// one would be the process's main thread at times, and /proc/self/net would follow it).
func listenInNetns(path, addr string) (net.Listener, error) {
	return inNetns(path, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// inNetns runs open (which makes a socket) inside the network namespace at path. A socket
// belongs to the namespace it was made in for good, so it is used from any thread after.
func inNetns[T any](path string, open func() (T, error)) (T, error) {
	var v T
	err := (&sandbox.Netns{Name: filepath.Base(path), Path: path}).Do(func() error {
		var err error
		v, err = open()
		return err
	})
	return v, err
}
