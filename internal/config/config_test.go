package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/seal"
)

// load runs Load with a fresh flag set parsed from args.
func load(t *testing.T, mode Mode, environ []string, args ...string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("lanyard", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing %v: %v", args, err)
	}
	return Load(fs, environ, mode)
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lanyard.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	if !errs.Is(err, errs.Invalid) {
		t.Errorf("error kind %v, want Invalid: %v", errs.KindOf(err), err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not mention %q", msg, p)
		}
	}
}

func TestDefaults(t *testing.T) {
	server, err := load(t, ModeServer, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := load(t, ModeDev, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"server listen", server.Listen, ":8443"},
		{"server public_url", server.PublicURL, "https://localhost:8443"},
		{"server data_dir", server.DataDir, "/var/lib/lanyard"},
		{"server store", server.Store, "sqlite:/var/lib/lanyard/lanyard.db"},
		{"server kek_file", server.KEKFile, ""},
		{"server admin_socket", server.AdminSocket, "/var/lib/lanyard/admin.sock"},
		{"server vault_domain", server.VaultDomain, "vault.localhost"},
		{"server token", fmt.Sprint(server.Token), "{1h0m0s 720h0m0s 24h0m0s RS256}"},
		{"server log", fmt.Sprint(server.Log), "{info text  false}"}, // no log file; access lines at debug
		{"dev listen", dev.Listen, "127.0.0.1:8443"},
		{"dev public_url", dev.PublicURL, "https://localhost:8443"},
		{"dev data_dir", dev.DataDir, "./.lanyard"},
		{"dev store", dev.Store, "sqlite:.lanyard/lanyard.db"},
		{"dev kek_file", dev.KEKFile, ".lanyard/kek"},
		{"dev admin_socket", dev.AdminSocket, ".lanyard/admin.sock"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if _, err := server.LoadKEK(); err == nil || err.Error() != "no key-encryption key: set kek_file or LANYARD_KEK" {
		t.Errorf("server LoadKEK with no key: %v", err)
	}
}

func TestDerivedFollowDataDirAndListen(t *testing.T) {
	c, err := load(t, ModeDev, nil, "--data-dir", "/tmp/ly", "--listen", "127.0.0.1:9443")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "sqlite:/tmp/ly/lanyard.db" || c.AdminSocket != "/tmp/ly/admin.sock" || c.KEKFile != "/tmp/ly/kek" || c.PublicURL != "https://localhost:9443" {
		t.Errorf("derived: store %q, socket %q, kek %q, url %q", c.Store, c.AdminSocket, c.KEKFile, c.PublicURL)
	}
	// In dev, LANYARD_KEK replaces the derived key file rather than conflicting with it.
	c, err = load(t, ModeDev, []string{"LANYARD_KEK=" + base64.StdEncoding.EncodeToString(make([]byte, 32))})
	if err != nil || c.KEKFile != "" {
		t.Errorf("dev with LANYARD_KEK: kek_file %q, %v", c.KEKFile, err)
	}
	// Explicit values are kept.
	c, err = load(t, ModeServer, nil, "--data-dir", "/srv/ly", "--store", "postgres://db.internal/lanyard", "--public-url", "https://id.example.com/")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "postgres://db.internal/lanyard" || c.PublicURL != "https://id.example.com" || c.AdminSocket != "/srv/ly/admin.sock" {
		t.Errorf("explicit: store %q, url %q, socket %q", c.Store, c.PublicURL, c.AdminSocket)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, `
listen: 127.0.0.1:1001
hostnames: [file.example.com]
vault_domain: file.example.com
token:
  lifetime: 10m
  signing_alg: ES256
log:
  level: debug
`)
	env := []string{"PATH=/bin", "LANYARD_LISTEN=127.0.0.1:1002", "LANYARD_HOSTNAMES=env1.example.com, 10.0.0.2,", "LANYARD_TOKEN_LIFETIME=20m", "LANYARD_LOG_FORMAT=json", "LANYARD_VAULT_DOMAIN="}
	c, err := load(t, ModeServer, env, "--config", path, "--listen", "127.0.0.1:1003", "--token-lifetime", "30m")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"listen (flag over env over file)", c.Listen, "127.0.0.1:1003"},
		{"hostnames (env over file)", strings.Join(c.Hostnames, ","), "env1.example.com,10.0.0.2"},
		{"token.lifetime (flag)", c.Token.Lifetime.String(), "30m0s"},
		{"token.signing_alg (file)", c.Token.SigningAlg, "ES256"},
		{"log.level (file)", c.Log.Level, "debug"},
		{"log.format (env)", c.Log.Format, "json"},
		{"vault_domain (file; empty env is unset)", c.VaultDomain, "file.example.com"},
		{"token.rotation_period (default)", c.Token.RotationPeriod.String(), "720h0m0s"},
		{"public_url (derived from the final listen)", c.PublicURL, "https://localhost:1003"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	c, err = load(t, ModeServer, env, "--config", path, "--hostname", "a.example.com", "--hostname", "b.example.com,10.9.9.9")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Hostnames, ","); got != "a.example.com,b.example.com,10.9.9.9" {
		t.Errorf("hostnames from repeated flags = %q", got)
	}
	// The file alone.
	c, err = load(t, ModeServer, nil, "--config", path)
	if err != nil || c.Listen != "127.0.0.1:1001" || c.Token.Lifetime.Std() != 10*time.Minute {
		t.Errorf("file only: listen %q, lifetime %v, %v", c.Listen, c.Token.Lifetime, err)
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		yaml  string
		parts []string
	}{
		{"listen: :8443\nlisten_addr: :9000\n", []string{"lanyard.yaml:2", `"listen_addr"`}},
		{"token:\n  lifetime: 1h\n  lifetme: 2h\n", []string{"lanyard.yaml:3", `"token.lifetme"`, "signing_alg"}},
		{"log:\n  level: info\n  colour: true\n", []string{"lanyard.yaml:3", `"log.colour"`}},
		{"kek: c2VjcmV0\n", []string{"lanyard.yaml:1", "kek_file", "LANYARD_KEK"}},
		{"listen: :1\nlisten: :2\n", []string{"lanyard.yaml:2", `"listen" repeated`}},
		{"token: 1h\n", []string{"lanyard.yaml:1", "token", "mapping"}},
		{"hostnames: a.example.com\n", []string{"lanyard.yaml:1", "hostnames", "list"}},
		{"listen: [a, b]\n", []string{"lanyard.yaml:1", "listen", "string"}},
		{"listen: :1\n---\nlisten: :2\n", []string{"lanyard.yaml:2", "one YAML document"}},
		{"listen: \"unterminated\n", []string{"lanyard.yaml"}},
	} {
		path := writeFile(t, tc.yaml)
		_, err := load(t, ModeServer, nil, "--config", path)
		wantErr(t, err, append(tc.parts, path)...)
	}
	// The secret given where it is forbidden is not repeated.
	path := writeFile(t, "kek: c2VjcmV0LWtleQ\n")
	if _, err := load(t, ModeServer, nil, "--config", path); err == nil || strings.Contains(err.Error(), "c2VjcmV0LWtleQ") {
		t.Errorf("kek in the file: %v", err)
	}
	_, err := load(t, ModeServer, nil, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	wantErr(t, err, "--config", "missing.yaml")
}

func TestYAMLFeatures(t *testing.T) {
	path := writeFile(t, `
# anchors, merges, nulls and an empty list work as YAML says
defaults: &tok {lifetime: 15m}
`)
	_, err := load(t, ModeServer, nil, "--config", path)
	wantErr(t, err, `"defaults"`) // no free-form keys, even for anchors

	path = writeFile(t, `
listen: &l 127.0.0.1:7000
public_url: ~
hostnames: []
token:
  <<: {lifetime: 15m}
  signing_alg: ES256
`)
	c, err := load(t, ModeServer, nil, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7000" || c.PublicURL != "https://localhost:7000" || c.Token.Lifetime.Std() != 15*time.Minute || c.Token.SigningAlg != "ES256" {
		t.Errorf("decoded %+v", c)
	}
	empty := writeFile(t, "")
	if _, err := load(t, ModeServer, nil, "--config", empty); err != nil {
		t.Errorf("an empty file: %v", err)
	}
}

func TestAliasExpansionIsBounded(t *testing.T) {
	// Each level merges the previous one 60 times: 60^4 mappings if expanded naively.
	var b strings.Builder
	b.WriteString("token:\n  <<: [&m0 {lifetime: 5m}")
	for i := 1; i < 5; i++ {
		fmt.Fprintf(&b, ", &m%d {<<: [*m%d", i, i-1)
		for range 60 {
			fmt.Fprintf(&b, ", *m%d", i-1)
		}
		b.WriteString("]}")
	}
	b.WriteString("]\n")
	_, err := load(t, ModeServer, nil, "--config", writeFile(t, b.String()))
	wantErr(t, err, "lanyard.yaml:2", "token")
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		env   []string
		args  []string
		yaml  string
		parts []string
	}{
		{yaml: "token:\n  lifetime: banana\n", parts: []string{"lanyard.yaml:2", "token.lifetime", `"banana" is not a duration`}},
		{yaml: "token:\n  prepublish: 3600\n", parts: []string{"token.prepublish", `"3600" is not a duration`}},
		{env: []string{"LANYARD_TOKEN_ROTATION_PERIOD=forever"}, parts: []string{"LANYARD_TOKEN_ROTATION_PERIOD", `"forever"`}},
		{yaml: "token:\n  lifetime: 1m\n", parts: []string{"token.lifetime (from ", "lanyard.yaml:2", "1m0s is out of range", "between 5m and 24h"}},
		{env: []string{"LANYARD_TOKEN_LIFETIME=25h"}, parts: []string{"token.lifetime (from LANYARD_TOKEN_LIFETIME)", "out of range"}},
		{args: []string{"--token-lifetime", "48h"}, parts: []string{"token.lifetime (from --token-lifetime)"}},
		{yaml: "token:\n  rotation_period: 24h\n  prepublish: 24h\n", parts: []string{"token.prepublish", "shorter than token.rotation_period"}},
		{yaml: "token:\n  prepublish: -1h\n", parts: []string{"token.prepublish", "positive"}},
		{args: []string{"--signing-alg", "HS256"}, parts: []string{"token.signing_alg (from --signing-alg)", `"HS256"`, "RS256, ES256"}},
		{env: []string{"LANYARD_LOG_LEVEL=verbose"}, parts: []string{"log.level (from LANYARD_LOG_LEVEL)", "debug, info, warn, error"}},
		{args: []string{"--log-format", "xml"}, parts: []string{"log.format", "text, json"}},
		{args: []string{"--listen", "8443"}, parts: []string{"listen (from --listen)", "host:port"}},
		{args: []string{"--listen", ":99999"}, parts: []string{"listen", "port"}},
		{args: []string{"--public-url", "http://localhost:8443"}, parts: []string{"public_url", "https"}},
		{args: []string{"--public-url", "https://localhost:8443/base"}, parts: []string{"public_url", "no path"}},
		{args: []string{"--public-url", "https://localhost:8443?x=1"}, parts: []string{"public_url", "no query"}},
		{args: []string{"--public-url", "localhost:8443"}, parts: []string{"public_url"}},
		{args: []string{"--vault-domain", "10.0.0.1"}, parts: []string{"vault_domain", "IP address"}},
		{args: []string{"--vault-domain", "vault_domain.local"}, parts: []string{"vault_domain", "not a valid DNS name"}},
		{args: []string{"--vault-domain", "vault.example.com:x"}, parts: []string{"vault_domain", "port"}},
		{args: []string{"--hostname", "bad name"}, parts: []string{"hostnames (from --hostname)", `"bad name"`}},
		{args: []string{"--admin-socket", "/" + strings.Repeat("x", 120)}, parts: []string{"admin_socket", "unix socket"}},
		{args: []string{"--data-dir", ""}, parts: []string{"data_dir", "empty"}},
		{args: []string{"--store", "mysql://db/lanyard"}, parts: []string{"store (from --store)", `unknown DSN scheme "mysql"`}},
		{args: []string{"--kek-file", "/k"}, env: []string{"LANYARD_KEK=abc"}, parts: []string{"kek_file (from --kek-file) and LANYARD_KEK are both set"}},
	} {
		args := tc.args
		if tc.yaml != "" {
			args = append(args, "--config", writeFile(t, tc.yaml))
		}
		_, err := load(t, ModeServer, tc.env, args...)
		wantErr(t, err, tc.parts...)
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	c := Defaults(ModeServer)
	c.deriveDefaults(ModeServer)
	c.Listen = "nope"
	c.Log.Level = "loud"
	wantErr(t, c.Validate(), "listen:", "log.level:")
}

func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want DSN
	}{
		{"sqlite:/var/lib/lanyard/lanyard.db", DSN{Driver: "sqlite", Path: "/var/lib/lanyard/lanyard.db"}},
		{"sqlite:rel/x.db", DSN{Driver: "sqlite", Path: "rel/x.db"}},
		{"sqlite:///abs/x.db", DSN{Driver: "sqlite", Path: "/abs/x.db"}},
		{"postgres://lanyard:pw@db:5432/lanyard?sslmode=verify-full", DSN{Driver: "postgres", URL: "postgres://lanyard:pw@db:5432/lanyard?sslmode=verify-full"}},
		{"postgresql://db/lanyard", DSN{Driver: "postgres", URL: "postgresql://db/lanyard"}},
		{"postgres:///lanyard?host=/var/run/postgresql", DSN{Driver: "postgres", URL: "postgres:///lanyard?host=/var/run/postgresql"}},
	} {
		got, err := ParseDSN(tc.dsn)
		if err != nil || got != tc.want {
			t.Errorf("ParseDSN(%q) = %+v, %v; want %+v", tc.dsn, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ dsn, want string }{
		{"", "empty"},
		{"/var/lib/lanyard.db", "no scheme"},
		{"sqlite:", "no path"},
		{"sqlite::memory:", "in-memory"},
		{"mysql://u:p@db/x", `unknown DSN scheme "mysql"`},
		{"postgres://", "no host"},
		{"postgres:db", "postgres://"},
		{"postgres://u:s3cr3t@db:port/x", "not a valid URL"},
		{"postgres://u:s3cr3t@db/a/b", "single database name"},
		{"host=db password=s3cr3t", "no scheme"},
	} {
		_, err := ParseDSN(tc.dsn)
		wantErr(t, err, tc.want)
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("ParseDSN(%q) error repeats the password: %v", tc.dsn, err)
		}
	}
	d, _ := ParseDSN("postgres://u:s3cr3t@db/x")
	if strings.Contains(d.Redacted(), "s3cr3t") {
		t.Errorf("Redacted = %q", d.Redacted())
	}
}

func TestLoadKEK(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	want, _ := seal.ParseKEK(raw)
	good := base64.RawURLEncoding.EncodeToString(raw)

	c, err := load(t, ModeServer, []string{"LANYARD_KEK=" + good})
	if err != nil {
		t.Fatal(err)
	}
	if k, err := c.LoadKEK(); err != nil || k.ID() != want.ID() {
		t.Fatalf("LoadKEK from LANYARD_KEK = %v, %v", k, err)
	}
	// The key never shows when the configuration is printed or logged.
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s %x", c, c, c, c.KEK, c.KEK)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("config", "config", c, "kek", c.KEK)
	if strings.Contains(out.String(), good) || strings.Contains(out.String(), fmt.Sprintf("%x", good)) {
		t.Errorf("the key appears in output: %s", out.String())
	}

	for _, bad := range []string{
		"not*base64*at*all*c2VjcmV0",                           // not base64
		base64.StdEncoding.EncodeToString(raw[:16]),            // too short
		base64.StdEncoding.EncodeToString(append(raw, raw...)), // too long
	} {
		c, err := load(t, ModeServer, []string{"LANYARD_KEK=" + bad})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.LoadKEK()
		wantErr(t, err, "LANYARD_KEK")
		if err != nil && strings.Contains(err.Error(), bad[:12]) {
			t.Errorf("error repeats the value: %v", err)
		}
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "kek")
	os.WriteFile(path, raw, 0o600)
	c, _ = load(t, ModeServer, nil, "--kek-file", path)
	if k, err := c.LoadKEK(); err != nil || k.ID() != want.ID() {
		t.Fatalf("LoadKEK from kek_file = %v, %v", k, err)
	}
	os.Chmod(path, 0o644)
	_, err = c.LoadKEK()
	wantErr(t, err, "kek_file (from --kek-file)", path, "0644")

	missing := filepath.Join(dir, "missing")
	c, _ = load(t, ModeServer, []string{"LANYARD_KEK_FILE=" + missing})
	_, err = c.LoadKEK()
	wantErr(t, err, "kek_file (from LANYARD_KEK_FILE)", missing, "does not exist")

	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "unreadable")
		os.WriteFile(unreadable, raw, 0o200)
		c, _ = load(t, ModeServer, nil, "--kek-file", unreadable)
		_, err = c.LoadKEK()
		wantErr(t, err, unreadable, "not readable")
	}
}

func TestLoadOrCreateKEK(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c, err := load(t, ModeDev, nil, "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	k1, err := c.LoadOrCreateKEK(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := c.LoadOrCreateKEK(rand.Reader)
	if err != nil || k2.ID() != k1.ID() {
		t.Fatalf("second LoadOrCreateKEK = %v, %v; want %s", k2, err, k1.ID())
	}
	if st, err := os.Stat(filepath.Join(dir, "kek")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("kek file: %v %v", st.Mode(), err)
	}
}

func TestSecretIsRedacted(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s)} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("Secret printed as %q", out)
		}
	}
	if string(s) != "hunter2" {
		t.Error("string(Secret) does not give the value back")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("listen: :8443\ntoken:\n  lifetime: 1h\n"))
	f.Add([]byte("hostnames: [a, b]\nlog: {level: info}\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("token:\n  <<: [{lifetime: 5m}, *y]\n"))
	f.Add([]byte("- 1\n- 2\n"))
	f.Add([]byte("---\n...\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := Defaults(ModeServer)
		if err := decode("fuzz.yaml", data, &c); err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
			return
		}
		c.deriveDefaults(ModeServer)
		c.Validate()
	})
}

func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"sqlite:/x.db", "sqlite://x", "postgres://u:p@h:5432/d?sslmode=disable", "postgres:///d?host=/tmp", "postgresql://[::1]:5432/d", "x:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDSN(s)
		if err != nil {
			return
		}
		switch d.Driver {
		case "sqlite":
			if d.Path == "" || d.URL != "" {
				t.Fatalf("ParseDSN(%q) = %+v", s, d)
			}
		case "postgres":
			if d.URL == "" || d.Path != "" {
				t.Fatalf("ParseDSN(%q) = %+v", s, d)
			}
		default:
			t.Fatalf("ParseDSN(%q) driver %q", s, d.Driver)
		}
		d.Redacted()
	})
}
