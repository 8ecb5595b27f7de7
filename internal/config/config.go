package config

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Mode selects the defaults: those of `lanyard server` or of `lanyard dev`.
type Mode int

const (
	ModeServer Mode = iota // lanyard server: listen on all interfaces, data in /var/lib/lanyard
	ModeDev                // lanyard dev: loopback only, data in ./.lanyard, a KEK file created there
)

func (m Mode) String() string {
	if m == ModeDev {
		return "dev"
	}
	return "server"
}

// Config is the whole configuration of a Lanyard server. The YAML keys are in the field tags.
type Config struct {
	Listen      string   `yaml:"listen"`       // host:port of the HTTPS listener
	PublicURL   string   `yaml:"public_url"`   // how clients reach the control plane; https, no path
	Hostnames   []string `yaml:"hostnames"`    // extra names and IP addresses on the serving certificate
	DataDir     string   `yaml:"data_dir"`     // holds the SQLite database, the admin socket and (dev) the KEK
	Store       string   `yaml:"store"`        // DSN: sqlite:PATH or postgres://...
	KEKFile     string   `yaml:"kek_file"`     // a file of 32 raw bytes, mode 0600
	KEK         Secret   `yaml:"-"`            // base64 key from LANYARD_KEK only; never from the file, never printed
	AdminSocket string   `yaml:"admin_socket"` // path of the admin unix socket
	VaultDomain string   `yaml:"vault_domain"` // vaults are {name}.{vault_domain}; a port may follow
	Token       Token    `yaml:"token"`
	Log         Log      `yaml:"log"`
	Limits      Limits   `yaml:"limits"`
	Audit       Audit    `yaml:"audit"`
	SQLite      SQLite   `yaml:"sqlite"`

	// origin records where each field that did not keep its default came from, keyed by YAML
	// path ("token.lifetime"): "FILE:LINE", "LANYARD_..." or "--flag". Errors use it.
	origin map[string]string
}

// Token configures the tokens this server mints and the keys that sign them.
type Token struct {
	Lifetime       Duration `yaml:"lifetime"`        // how long a token is valid: 5m..24h
	RotationPeriod Duration `yaml:"rotation_period"` // how often the signing key changes
	Prepublish     Duration `yaml:"prepublish"`      // how long the next key is in JWKS before it signs
	SigningAlg     string   `yaml:"signing_alg"`     // RS256 or ES256
}

// Log configures the server's log.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
	File   string `yaml:"file"`   // append the log to this file (created 0600) instead of stderr
	// Access logs every request at info (method, path, route, status, size, duration); by
	// default these lines are at debug, so that the hot paths write none per request.
	Access bool `yaml:"access"`
}

// The token lifetime bounds.
const (
	MinTokenLifetime = 5 * time.Minute
	MaxTokenLifetime = 24 * time.Hour
)

// Defaults returns the configuration of mode before any source is applied. The fields derived
// from others (PublicURL, Store, AdminSocket and, in dev, KEKFile) are empty here: Load fills
// them after applying every source.
func Defaults(mode Mode) Config {
	c := Config{
		Listen:      ":8443",
		DataDir:     "/var/lib/lanyard",
		VaultDomain: "vault.localhost",
		Token: Token{
			Lifetime:       Duration(time.Hour),
			RotationPeriod: Duration(720 * time.Hour),
			Prepublish:     Duration(24 * time.Hour),
			SigningAlg:     "RS256",
		},
		Log:    Log{Level: "info", Format: "text"},
		Limits: Limits{UnauthenticatedRate: DefaultUnauthenticatedRate, UnauthenticatedBurst: DefaultUnauthenticatedBurst, MaxPackageSize: DefaultMaxPackageSize},
		Audit:  Audit{RefusalWindow: Duration(DefaultRefusalWindow), CheckpointInterval: Duration(DefaultCheckpointInterval)},
		SQLite: SQLite{Synchronous: DefaultSQLiteSynchronous, AuditJournal: true},
	}
	if mode == ModeDev {
		c.Listen = "127.0.0.1:8443"
		c.DataDir = "./.lanyard"
	}
	return c
}

// deriveDefaults fills the fields whose defaults depend on others, where no source set them.
func (c *Config) deriveDefaults(mode Mode) {
	if c.PublicURL == "" {
		if _, port, err := net.SplitHostPort(c.Listen); err == nil && port != "" {
			c.PublicURL = "https://localhost:" + port
		}
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if c.DataDir == "" {
		return // Validate says so
	}
	if c.Store == "" {
		c.Store = "sqlite:" + filepath.Join(c.DataDir, "lanyard.db")
	}
	if c.AdminSocket == "" {
		c.AdminSocket = filepath.Join(c.DataDir, "admin.sock")
	}
	if mode == ModeDev && c.KEKFile == "" && c.KEK == "" {
		c.KEKFile = filepath.Join(c.DataDir, "kek")
	}
}

// Flag names.
const (
	FlagConfig        = "config"
	FlagListen        = "listen"
	FlagPublicURL     = "public-url"
	FlagHostname      = "hostname"
	FlagDataDir       = "data-dir"
	FlagStore         = "store"
	FlagKEKFile       = "kek-file"
	FlagAdminSocket   = "admin-socket"
	FlagVaultDomain   = "vault-domain"
	FlagTokenLifetime = "token-lifetime"
	FlagSigningAlg    = "signing-alg"
	FlagLogLevel      = "log-level"
	FlagLogFormat     = "log-format"
	FlagLogFile       = "log-file"
	// FlagMaxPackageSize bounds a function app's deployment package (limits.max_package_size).
	FlagMaxPackageSize = "max-package-size"
)

// AddFlags registers the configuration's flags on fs. Their defaults are empty (the real ones
// depend on the mode and on the other sources); Load applies only the flags that were set.
func AddFlags(fs *pflag.FlagSet) {
	fs.String(FlagConfig, "", "YAML configuration file")
	fs.String(FlagListen, "", `address of the HTTPS listener, host:port (default ":8443"; dev "127.0.0.1:8443")`)
	fs.String(FlagPublicURL, "", `URL clients use to reach the server (default "https://localhost:" + the listen port)`)
	fs.StringSlice(FlagHostname, nil, "extra host name or IP address on the serving certificate (repeatable)")
	fs.String(FlagDataDir, "", `data directory (default "/var/lib/lanyard"; dev "./.lanyard")`)
	fs.String(FlagStore, "", `store DSN: sqlite:PATH or postgres://... (default "sqlite:" + data dir + "/lanyard.db")`)
	fs.String(FlagKEKFile, "", "file holding the 32-byte key-encryption key (or set LANYARD_KEK; dev default: data dir + \"/kek\")")
	fs.String(FlagAdminSocket, "", `admin unix socket (default data dir + "/admin.sock")`)
	fs.String(FlagVaultDomain, "", `domain under which vaults are served as {name}.{domain} (default "vault.localhost")`)
	fs.Duration(FlagTokenLifetime, 0, "lifetime of minted tokens, 5m to 24h (default 1h)")
	fs.String(FlagSigningAlg, "", "token signing algorithm: RS256 or ES256 (default RS256)")
	fs.String(FlagLogLevel, "", "log level: debug, info, warn or error (default info)")
	fs.String(FlagLogFormat, "", "log format: text or json (default text)")
	fs.String(FlagLogFile, "", "append the log to this file (created 0600) instead of writing it to stderr")
	fs.Int64(FlagMaxPackageSize, 0, "largest deployment package (zip) a function app may be given, in bytes (default 104857600, 100 MiB)")
}

// Load builds the configuration of mode: the defaults, then the YAML file named by --config (if
// set), then the LANYARD_* variables of environ ("KEY=value" entries, as os.Environ returns),
// then the flags of fs that were set (fs may be nil), then the derived defaults. It returns the
// configuration after validating it; errors name the field and its source.
func Load(fs *pflag.FlagSet, environ []string, mode Mode) (Config, error) {
	c := Defaults(mode)
	c.origin = map[string]string{}
	if fs != nil {
		if f := fs.Lookup(FlagConfig); f != nil && f.Changed {
			path := f.Value.String()
			data, err := os.ReadFile(path)
			if err != nil {
				return Config{}, errs.Wrap(errs.Invalid, err, fmt.Sprintf("--config: cannot read %s", path))
			}
			if err := decode(path, data, &c); err != nil {
				return Config{}, err
			}
		}
	}
	if err := c.applyEnv(environ); err != nil {
		return Config{}, err
	}
	if fs != nil {
		if err := c.applyFlags(fs); err != nil {
			return Config{}, err
		}
	}
	c.deriveDefaults(mode)
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Environment variable names.
const (
	EnvListen        = "LANYARD_LISTEN"
	EnvPublicURL     = "LANYARD_PUBLIC_URL"
	EnvHostnames     = "LANYARD_HOSTNAMES"
	EnvDataDir       = "LANYARD_DATA_DIR"
	EnvStore         = "LANYARD_STORE"
	EnvKEKFile       = "LANYARD_KEK_FILE"
	EnvKEK           = "LANYARD_KEK"
	EnvAdminSocket   = "LANYARD_ADMIN_SOCKET"
	EnvVaultDomain   = "LANYARD_VAULT_DOMAIN"
	EnvTokenLifetime = "LANYARD_TOKEN_LIFETIME"
	EnvTokenRotation = "LANYARD_TOKEN_ROTATION_PERIOD"
	EnvTokenPrepub   = "LANYARD_TOKEN_PREPUBLISH"
	EnvTokenAlg      = "LANYARD_TOKEN_SIGNING_ALG"
	EnvLogLevel      = "LANYARD_LOG_LEVEL"
	EnvLogFormat     = "LANYARD_LOG_FORMAT"
	EnvLogFile       = "LANYARD_LOG_FILE"
)

// applyEnv applies the LANYARD_* variables of environ. An empty variable counts as unset.
// Later entries win, as in a process environment.
func (c *Config) applyEnv(environ []string) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "LANYARD_") {
			env[k] = v
		}
	}
	str := func(name, field string, dst *string) {
		if v := env[name]; v != "" {
			*dst = v
			c.origin[field] = name
		}
	}
	dur := func(name, field string, dst *Duration) error {
		v := env[name]
		if v == "" {
			return nil
		}
		d, err := parseDuration(v)
		if err != nil {
			return errs.E(errs.Invalid, "%s: %v", name, err)
		}
		*dst = d
		c.origin[field] = name
		return nil
	}
	str(EnvListen, "listen", &c.Listen)
	str(EnvPublicURL, "public_url", &c.PublicURL)
	if v := env[EnvHostnames]; v != "" {
		c.Hostnames = splitList(v)
		c.origin["hostnames"] = EnvHostnames
	}
	str(EnvDataDir, "data_dir", &c.DataDir)
	str(EnvStore, "store", &c.Store)
	str(EnvKEKFile, "kek_file", &c.KEKFile)
	if v := env[EnvKEK]; v != "" {
		c.KEK = Secret(v)
		c.origin["kek"] = EnvKEK
	}
	str(EnvAdminSocket, "admin_socket", &c.AdminSocket)
	str(EnvVaultDomain, "vault_domain", &c.VaultDomain)
	for _, d := range []struct {
		env, field string
		dst        *Duration
	}{
		{EnvTokenLifetime, "token.lifetime", &c.Token.Lifetime},
		{EnvTokenRotation, "token.rotation_period", &c.Token.RotationPeriod},
		{EnvTokenPrepub, "token.prepublish", &c.Token.Prepublish},
	} {
		if err := dur(d.env, d.field, d.dst); err != nil {
			return err
		}
	}
	str(EnvTokenAlg, "token.signing_alg", &c.Token.SigningAlg)
	str(EnvLogLevel, "log.level", &c.Log.Level)
	str(EnvLogFormat, "log.format", &c.Log.Format)
	str(EnvLogFile, "log.file", &c.Log.File)
	if err := c.applyOperationsEnv(env); err != nil {
		return errs.E(errs.Invalid, "%v", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// applyFlags applies the flags of fs that were set on the command line.
func (c *Config) applyFlags(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(f *pflag.Flag) {
		if err != nil {
			return
		}
		origin := "--" + f.Name
		set := func(field string, dst *string) {
			*dst = f.Value.String()
			c.origin[field] = origin
		}
		switch f.Name {
		case FlagListen:
			set("listen", &c.Listen)
		case FlagPublicURL:
			set("public_url", &c.PublicURL)
		case FlagHostname:
			var hs []string
			if hs, err = fs.GetStringSlice(f.Name); err == nil {
				c.Hostnames = hs
				c.origin["hostnames"] = origin
			}
		case FlagDataDir:
			set("data_dir", &c.DataDir)
		case FlagStore:
			set("store", &c.Store)
		case FlagKEKFile:
			set("kek_file", &c.KEKFile)
		case FlagAdminSocket:
			set("admin_socket", &c.AdminSocket)
		case FlagVaultDomain:
			set("vault_domain", &c.VaultDomain)
		case FlagTokenLifetime:
			var d time.Duration
			if d, err = fs.GetDuration(f.Name); err == nil {
				c.Token.Lifetime = Duration(d)
				c.origin["token.lifetime"] = origin
			}
		case FlagSigningAlg:
			set("token.signing_alg", &c.Token.SigningAlg)
		case FlagLogLevel:
			set("log.level", &c.Log.Level)
		case FlagLogFormat:
			set("log.format", &c.Log.Format)
		case FlagLogFile:
			set("log.file", &c.Log.File)
		case FlagMaxPackageSize:
			var n int64
			if n, err = fs.GetInt64(f.Name); err == nil {
				c.Limits.MaxPackageSize = n
				c.origin["limits.max_package_size"] = origin
			}
		}
	})
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "reading the command-line flags")
	}
	return nil
}

// Secret is a string that is never printed: fmt, slog and YAML show "[redacted]" (or "" when it
// is empty). Convert it with string() to use it.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret.
func (s Secret) GoString() string { return fmt.Sprintf("%q", s.String()) }

// Format redacts the secret whatever the verb.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}

// LogValue redacts the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret (for JSON, YAML and every other text encoding).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

var (
	_ fmt.Formatter  = Secret("")
	_ slog.LogValuer = Secret("")
)
