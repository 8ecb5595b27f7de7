package vault

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

func testKEK(t testing.TB) *seal.KEK {
	t.Helper()
	k, err := seal.ParseKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestVaultName(t *testing.T) {
	s := &Service{VaultDomain: "Vault.LocalHost", Port: "8443"}
	for host, want := range map[string]string{
		"kv1.vault.localhost:8443": "kv1", "KV1.Vault.Localhost": "kv1", "kv1.vault.localhost.:1": "kv1",
		"vault.localhost:8443": "", "a.b.vault.localhost": "", "kv1.vault.localhost.evil": "", "localhost:8443": "",
		"kv1vault.localhost": "", "": "", ".vault.localhost": "",
	} {
		got, ok := s.VaultName(host)
		if got != want || ok != (want != "") {
			t.Errorf("VaultName(%q) = %q %v, want %q", host, got, ok, want)
		}
	}
	if got := s.Resource(); got != "https://vault.localhost:8443" {
		t.Errorf("Resource() = %q", got)
	}
	if got := s.HostOf("kv1"); got != "kv1.vault.localhost:8443" {
		t.Errorf("hostOf = %q", got)
	}
	// The Go client's verification: the vault's host ends with "." + the resource's host, port included.
	u, _ := url.Parse(s.Resource())
	if !strings.HasSuffix(s.HostOf("kv1"), "."+u.Host) {
		t.Error("the challenge resource does not verify against the vault host")
	}
	s443 := &Service{VaultDomain: "vault.example.com", Port: "443"}
	if s443.Resource() != "https://vault.example.com" || s443.HostOf("x") != "x.vault.example.com" {
		t.Errorf("port 443: %s %s", s443.Resource(), s443.HostOf("x"))
	}
}

func TestRecoveryLevel(t *testing.T) {
	for props, want := range map[string]string{
		`{}`:                               "Recoverable+Purgeable",
		`{"softDeleteRetentionInDays":90}`: "Recoverable+Purgeable",
		`{"softDeleteRetentionInDays":7}`:  "CustomizedRecoverable+Purgeable",
		`{"enablePurgeProtection":true}`:   "Recoverable",
		`{"enablePurgeProtection":true,"softDeleteRetentionInDays":30}`: "CustomizedRecoverable",
	} {
		if got := (Vault{Properties: []byte(props)}).settings().recoveryLevel(); got != want {
			t.Errorf("%s: %s, want %s", props, got, want)
		}
	}
}

func TestPolicyAllows(t *testing.T) {
	p := Policy{Secrets: []string{"Get", "list"}}
	if !p.allows("get") || !p.allows("list") || p.allows("set") {
		t.Error("explicit permissions")
	}
	if !(Policy{Secrets: []string{"all"}}).allows("purge") {
		t.Error("all")
	}
}

func TestParseQuery(t *testing.T) {
	for raw, want := range map[string]query{
		"api-version=7.6":                        {APIVersion: "7.6"},
		"api%2Dversion=2026-04-01":               {APIVersion: "2026-04-01"},
		"api-version=7.4-preview.1&maxresults=1": {APIVersion: "7.4-preview.1", MaxResults: 1},
		"%24skiptoken=" + encodeSkipToken("abc") + "&api-version=2025-07-01": {APIVersion: "2025-07-01", SkipToken: "abc"},
		"api-version=7.0&unknown=1": {APIVersion: "7.0"},
	} {
		got, err := parseQuery(raw)
		if err != nil || got != want {
			t.Errorf("parseQuery(%q) = %+v, %v; want %+v", raw, got, err, want)
		}
	}
	for _, raw := range []string{"", "maxresults=1", "api-version=", "api-version=x", "api-version=7.6&maxresults=0",
		"api-version=7.6&maxresults=26", "api-version=7.6&maxresults=a", "api-version=7.6&$skiptoken=%%", "api-version=7.6;x=1",
		"api-version=7.6&$skiptoken=" + encodeSkipToken("ABC"), "api-version=7.6&api-version=7.6"} {
		if _, err := parseQuery(raw); !errs.Is(err, errs.Invalid) || errs.CodeOf(err) != "BadParameter" {
			t.Errorf("parseQuery(%q): %v, want BadParameter", raw, err)
		}
	}
}

// FuzzParseQuery: any query string is either refused as BadParameter or gives a well-formed
// query whose nextLink parses back to the same query.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"api-version=7.6", "api%2Dversion=2026-04-01&maxresults=5", "$skiptoken=YWJj&api-version=7.2",
		"api-version=7.6&maxresults=99999999999999999999", "a=%zz", "api-version=7.6&$skiptoken=" + encodeSkipToken(strings.Repeat("a", 127))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("parseQuery(%q): error of kind %v", raw, errs.KindOf(err))
			}
			return
		}
		if !apiVersionPattern.MatchString(q.APIVersion) || q.MaxResults < 0 || q.MaxResults > MaxPageSize {
			t.Fatalf("parseQuery(%q) = %+v", raw, q)
		}
		if q.SkipToken == "" {
			return
		}
		link, err := url.Parse(q.nextLink("https://kv.vault.localhost:1/secrets", q.SkipToken))
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseQuery(link.RawQuery)
		if err != nil || back != q {
			t.Fatalf("nextLink %s parses to %+v, %v; want %+v", link, back, err, q)
		}
	})
}

func TestChallenge(t *testing.T) {
	h := Challenge("https://localhost:8443/", "72f988bf-86f1-41af-91ab-2d7cd011db47", "https://vault.localhost:8443")
	if h != `Bearer authorization="https://localhost:8443/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.localhost:8443"` {
		t.Fatalf("challenge %s", h)
	}
	tid, res, err := ParseChallenge(h)
	if err != nil || tid != "72f988bf-86f1-41af-91ab-2d7cd011db47" || res != "https://vault.localhost:8443" {
		t.Fatalf("ParseChallenge: %s %s %v", tid, res, err)
	}
}

// FuzzChallenge: ParseChallenge never panics on any header (the Go client's parser does on an
// authorization without a tenant: Lanyard's never sends one), and what Challenge writes for any
// tenant and resource the server could have parses back to them.
func FuzzChallenge(f *testing.F) {
	f.Add("https://localhost:8443", "72f988bf-86f1-41af-91ab-2d7cd011db47", "https://vault.localhost:8443", `Bearer authorization="https://h", resource="x"`)
	f.Add("https://a", "t", "https://b", "Bearer a=b=c")
	f.Add("", "", "", "Bearer ")
	f.Fuzz(func(t *testing.T, authority, tenant, resource, header string) {
		_, _, _ = ParseChallenge(header)
		clean := func(s string) bool { return s != "" && !strings.ContainsAny(s, " \"=,/") }
		if !clean(tenant) || !clean(strings.TrimPrefix(resource, "https://")) || !strings.HasPrefix(authority, "https://") ||
			!clean(strings.TrimPrefix(authority, "https://")) || strings.HasSuffix(resource, "/") {
			return
		}
		resource = "https://" + strings.TrimPrefix(resource, "https://")
		gotT, gotR, err := ParseChallenge(Challenge(authority, tenant, resource))
		if err != nil || gotT != tenant || gotR != resource {
			t.Fatalf("Challenge(%q, %q, %q) parses to %q %q %v", authority, tenant, resource, gotT, gotR, err)
		}
	})
}

func TestBackupTenantBound(t *testing.T) {
	kek := testKEK(t)
	p := backupPayload{Format: backupFormat, Name: "s1", Versions: []backupVersion{{Version: strings.Repeat("ab", 16), Value: "v", Enabled: true, Created: 1, Updated: 1}}}
	wire, err := sealBackup(kek, bytes.NewReader(bytes.Repeat([]byte{1}, 1024)), "Tenant-A", p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(wire, "=+/") {
		t.Fatalf("not base64url without padding: %s", wire)
	}
	if got, err := openBackup([]*seal.KEK{kek}, "tenant-a", wire); err != nil || got.Name != "s1" || got.Versions[0].Value != "v" {
		t.Fatalf("openBackup same tenant: %v %+v", err, got)
	}
	if _, err := openBackup([]*seal.KEK{kek}, "tenant-b", wire); errs.CodeOf(err) != "BadParameter" {
		t.Fatalf("openBackup another tenant: %v", err)
	}
	other, _ := seal.ParseKEK(bytes.Repeat([]byte{8}, 32))
	if _, err := openBackup([]*seal.KEK{other}, "tenant-a", wire); errs.CodeOf(err) != "BadParameter" {
		t.Fatalf("openBackup another installation: %v", err)
	}
	b := []byte(wire)
	b[len(b)/2] ^= 1
	if _, err := openBackup([]*seal.KEK{kek}, "tenant-a", string(b)); errs.CodeOf(err) != "BadParameter" {
		t.Fatalf("openBackup tampered: %v", err)
	}
	// A restore offers the tenant's backup key and the KEK: a backup sealed under either opens
	// (the KEK for backups taken before backup keys), one sealed under neither does not.
	backupKey, _ := seal.ParseKEK(bytes.Repeat([]byte{9}, 32))
	underKey, err := sealBackup(backupKey, bytes.NewReader(bytes.Repeat([]byte{2}, 1024)), "tenant-a", p)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]string{"under the backup key": underKey, "under the KEK": wire} {
		if got, err := openBackup([]*seal.KEK{backupKey, kek}, "tenant-a", w); err != nil || got.Name != "s1" {
			t.Errorf("openBackup of a backup %s: %v %+v", name, err, got)
		}
	}
	if _, err := openBackup([]*seal.KEK{other, kek}, "tenant-a", underKey); errs.CodeOf(err) != "BadParameter" {
		t.Errorf("openBackup with another backup key: %v", err)
	}
}

// FuzzOpenBackup: any blob is refused as BadParameter, never a panic or another error, unless
// it is a backup this KEK sealed for the tenant.
func FuzzOpenBackup(f *testing.F) {
	kek := testKEK(f)
	p := backupPayload{Format: backupFormat, Name: "s1", Versions: []backupVersion{{Version: strings.Repeat("0f", 16), Value: "v"}}}
	wire, err := sealBackup(kek, bytes.NewReader(bytes.Repeat([]byte{3}, 1024)), "t", p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wire)
	f.Add(wire + "==")
	f.Add("")
	f.Add("AAAA")
	f.Add(wire[:len(wire)-3])
	f.Fuzz(func(t *testing.T, s string) {
		got, err := openBackup([]*seal.KEK{kek}, "t", s)
		if err != nil {
			if errs.CodeOf(err) != "BadParameter" {
				t.Fatalf("openBackup: %v", err)
			}
			return
		}
		if !ValidName(got.Name) || len(got.Versions) == 0 {
			t.Fatalf("openBackup accepted %+v", got)
		}
	})
}
