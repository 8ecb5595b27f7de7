package sandbox

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestMatch(t *testing.T) {
	for host, want := range map[string]API{
		"graph.microsoft.com": Graph, "GRAPH.microsoft.com.": Graph, "graph.microsoft.com:443": Graph,
		"management.azure.com": Management, "management.core.windows.net": Management,
		"login.microsoftonline.com": Login, "login.windows.net": Login,
		"vault.azure.net": Vault, "kv1.vault.azure.net": Vault, "my-key-vault-name.vault.azure.net": Vault,
		"a.b.vault.azure.net": NotAzure, "1kv.vault.azure.net": NotAzure, "example.com": NotAzure,
		"graph.microsoft.com.evil.test": NotAzure, "evilgraph.microsoft.com": NotAzure, "localhost": NotAzure,
	} {
		if got, _ := Match(host); got != want {
			t.Errorf("Match(%q) = %v, want %v", host, got, want)
		}
	}
	if _, v := Match("KV1.vault.azure.net"); v != "kv1" {
		t.Errorf("vault name %q", v)
	}
}

// query asks r (through answer) for name's type and returns the answer's A records and rcode.
func query(t *testing.T, r *Resolver, name string, typ dnsmessage.Type) ([]netip.Addr, dnsmessage.RCode) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 42, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	q, _ := b.Finish()
	out := r.answer(q, "udp")
	if out == nil {
		return nil, 255
	}
	var p dnsmessage.Parser
	h, err := p.Start(out)
	if err != nil || h.ID != 42 {
		t.Fatalf("answer for %s: %v id %d", name, err, h.ID)
	}
	_ = p.SkipAllQuestions()
	var addrs []netip.Addr
	for {
		a, err := p.AnswerHeader()
		if err != nil {
			break
		}
		if a.Type == dnsmessage.TypeA {
			r, _ := p.AResource()
			addrs = append(addrs, netip.AddrFrom4(r.A))
		} else {
			_ = p.SkipAnswer()
		}
	}
	return addrs, h.RCode
}

// TestResolver: Azure's names and the local domain are answered here; other names go to the
// upstream resolver, which sees only those.
func TestResolver(t *testing.T) {
	up, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	seen := make(chan string, 16)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := up.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, _ := p.Start(buf[:n])
			q, _ := p.Question()
			seen <- q.Name.String()
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}, dnsmessage.AResource{A: [4]byte{192, 0, 2, 7}})
			out, _ := b.Finish()
			_, _ = up.WriteTo(out, from)
		}
	}()
	r := &Resolver{Relay: RelayAddr, Local: []string{"vault.localhost"}, Upstream: []string{up.LocalAddr().String()}}
	for name, want := range map[string]string{
		"graph.microsoft.com.": RelayAddr.String(), "kv1.vault.azure.net.": RelayAddr.String(),
		"Management.Azure.com.": RelayAddr.String(), "kv1.vault.localhost.": "127.0.0.1",
		"db.example.test.": "192.0.2.7",
	} {
		addrs, rc := query(t, r, name, dnsmessage.TypeA)
		if rc != dnsmessage.RCodeSuccess || len(addrs) != 1 || addrs[0].String() != want {
			t.Errorf("A %s: %v %v, want %s", name, addrs, rc, want)
		}
	}
	if addrs, rc := query(t, r, "graph.microsoft.com.", dnsmessage.TypeAAAA); rc != dnsmessage.RCodeSuccess || len(addrs) != 0 {
		t.Errorf("AAAA graph.microsoft.com: %v %v, want no data", addrs, rc)
	}
	deadline := time.After(200 * time.Millisecond)
	var got []string
	for done := false; !done; {
		select {
		case n := <-seen:
			got = append(got, n)
		case <-deadline:
			done = true
		}
	}
	if len(got) != 1 || got[0] != "db.example.test." {
		t.Errorf("the upstream resolver was asked %v, want only db.example.test.", got)
	}
}
