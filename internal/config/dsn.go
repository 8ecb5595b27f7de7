package config

import (
	"errors"
	"net/url"
	"regexp"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// DSN is a parsed store DSN.
type DSN struct {
	Driver string // "sqlite" or "postgres"
	Path   string // sqlite: the database file
	URL    string // postgres: the connection URL, as given
}

// Redacted returns the DSN with any password replaced, for logs and messages.
func (d DSN) Redacted() string {
	if d.Driver == "sqlite" {
		return "sqlite:" + d.Path
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "postgres://..."
	}
	return u.Redacted()
}

var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]{0,19}):`)

// ParseDSN parses a store DSN: "sqlite:PATH" (also "sqlite://PATH") or a PostgreSQL URL
// ("postgres://user@host:5432/db?sslmode=verify-full", "postgresql://..."). Errors say what is
// wrong without repeating the DSN, which may hold a password.
func ParseDSN(dsn string) (DSN, error) {
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return DSN{}, errs.E(errs.Invalid, "the DSN is empty: want sqlite:PATH or postgres://...")
	}
	m := schemeRE.FindStringSubmatch(dsn)
	if m == nil {
		return DSN{}, errs.E(errs.Invalid, "the DSN has no scheme: want sqlite:PATH or postgres://...")
	}
	switch scheme := strings.ToLower(m[1]); scheme {
	case "sqlite", "sqlite3":
		path := dsn[len(m[0]):]
		if strings.HasPrefix(path, "//") {
			path = path[2:]
		}
		switch {
		case path == "":
			return DSN{}, errs.E(errs.Invalid, "the sqlite DSN has no path: want sqlite:PATH, such as sqlite:/var/lib/lanyard/lanyard.db")
		case strings.ContainsRune(path, 0):
			return DSN{}, errs.E(errs.Invalid, "the sqlite DSN's path contains a NUL byte")
		case path == ":memory:":
			return DSN{}, errs.E(errs.Invalid, "an in-memory sqlite store loses everything on exit and is not shared between connections: give a file path")
		}
		return DSN{Driver: "sqlite", Path: path}, nil
	case "postgres", "postgresql":
		u, err := url.Parse(dsn)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // url.Error repeats the whole URL, password included
			}
			return DSN{}, errs.E(errs.Invalid, "the postgres DSN is not a valid URL: %v", err)
		}
		if u.Opaque != "" {
			return DSN{}, errs.E(errs.Invalid, "the postgres DSN must start with %s://", scheme)
		}
		if u.Host == "" && u.Query().Get("host") == "" {
			return DSN{}, errs.E(errs.Invalid, "the postgres DSN names no host")
		}
		if p := strings.TrimPrefix(u.Path, "/"); strings.Contains(p, "/") {
			return DSN{}, errs.E(errs.Invalid, "the postgres DSN's path must be a single database name")
		}
		if u.Fragment != "" {
			return DSN{}, errs.E(errs.Invalid, "the postgres DSN must not have a #fragment")
		}
		return DSN{Driver: "postgres", URL: dsn}, nil
	default:
		return DSN{}, errs.E(errs.Invalid, "unknown DSN scheme %q: want sqlite:PATH or postgres://...", m[1])
	}
}
