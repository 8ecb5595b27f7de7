package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// maxSocketPath is the longest path a unix socket may have on Linux (sun_path less its NUL).
const maxSocketPath = 107

// Validate checks every field. Its error is one line naming each wrong field (with where its
// value came from, when Load knows) and why.
func (c Config) Validate() error {
	var problems []string
	bad := func(field, format string, args ...any) {
		problems = append(problems, c.name(field)+": "+fmt.Sprintf(format, args...))
	}

	listenErr := checkHostPort(c.Listen)
	if listenErr != nil {
		bad("listen", "%v", listenErr)
	}
	// An empty public_url after a bad listen is the listen's fault (it is derived from it).
	if err := checkPublicURL(c.PublicURL); err != nil && (c.PublicURL != "" || listenErr == nil) {
		bad("public_url", "%v", err)
	}
	for i, h := range c.Hostnames {
		if _, err := netip.ParseAddr(h); err != nil && !validDNSName(strings.TrimPrefix(h, "*.")) {
			bad("hostnames", "entry %d, %q, is neither a DNS name nor an IP address", i+1, h)
		}
	}
	if c.DataDir == "" {
		bad("data_dir", "is empty")
	}
	if _, err := ParseDSN(c.Store); err != nil {
		bad("store", "%s", errs.Message(err))
	}
	if c.KEKFile != "" && c.KEK != "" {
		problems = append(problems, fmt.Sprintf("%s and %s are both set: use one", c.name("kek_file"), EnvKEK))
	}
	switch {
	case c.AdminSocket == "":
		bad("admin_socket", "is empty")
	case len(c.AdminSocket) > maxSocketPath:
		bad("admin_socket", "the path is %d bytes, longer than the %d a unix socket allows", len(c.AdminSocket), maxSocketPath)
	}
	if err := checkVaultDomain(c.VaultDomain); err != nil {
		bad("vault_domain", "%v", err)
	}

	t := c.Token
	if d := t.Lifetime.Std(); d < MinTokenLifetime || d > MaxTokenLifetime {
		bad("token.lifetime", "%s is out of range: it must be between %s and %s", d, shortDur(MinTokenLifetime), shortDur(MaxTokenLifetime))
	}
	if d := t.RotationPeriod.Std(); d <= 0 {
		bad("token.rotation_period", "%s must be positive", d)
	}
	if d := t.Prepublish.Std(); d <= 0 {
		bad("token.prepublish", "%s must be positive", d)
	} else if d >= t.RotationPeriod.Std() && t.RotationPeriod > 0 {
		bad("token.prepublish", "%s must be shorter than token.rotation_period (%s)", d, t.RotationPeriod)
	}
	checkEnum := func(field, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	checkEnum("token.signing_alg", t.SigningAlg, "RS256", "ES256")
	checkEnum("log.level", c.Log.Level, "debug", "info", "warn", "error")
	checkEnum("log.format", c.Log.Format, "text", "json")
	c.validateOperations(bad)

	if len(problems) > 0 {
		return errs.E(errs.Invalid, "invalid configuration: %s", strings.Join(problems, "; "))
	}
	return nil
}

// name returns field as errors show it: its YAML key and, when known, where it was set.
func (c Config) name(field string) string {
	if o := c.origin[field]; o != "" {
		return field + " (from " + o + ")"
	}
	return field
}

func shortDur(d interface{ String() string }) string {
	return strings.TrimSuffix(strings.TrimSuffix(d.String(), "0s"), "0m")
}

func checkHostPort(s string) error {
	if s == "" {
		return fmt.Errorf("is empty: want host:port, such as :8443")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port, such as :8443 or 127.0.0.1:8443", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q has no valid port (0 to 65535)", s)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil && !validDNSName(host) {
			return fmt.Errorf("%q: the host is neither an IP address nor a DNS name", s)
		}
	}
	return nil
}

func checkPublicURL(s string) error {
	if s == "" {
		return fmt.Errorf("is empty: want an https URL, such as https://lanyard.example.com:8443")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "https":
		return fmt.Errorf("%q must be an absolute https:// URL", s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return fmt.Errorf("%q must not carry user information", u.Redacted())
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("%q must have no path", s)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%q must have no query", s)
	case u.Fragment != "":
		return fmt.Errorf("%q must have no fragment", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%q has an invalid port", s)
		}
	}
	return nil
}

func checkVaultDomain(s string) error {
	if s == "" {
		return fmt.Errorf("is empty: want a DNS name, such as vault.localhost")
	}
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%q has an invalid port", s)
		}
		host = h
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return fmt.Errorf("%q is an IP address: vaults are {name}.{vault_domain}, so it must be a DNS name", s)
	}
	if !validDNSName(host) {
		return fmt.Errorf("%q is not a valid DNS name", s)
	}
	return nil
}

// validDNSName reports whether s is a DNS host name: dot-separated labels of letters, digits
// and inner hyphens, 1 to 63 bytes each, 253 bytes in all. A trailing dot is allowed.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
