package vault

import (
	"errors"
	"strings"
)

// Challenge is the WWW-Authenticate header of a 401 (azure-wire.md §6.6): the authority to get a
// token from, with the vault's tenant as its path, and the resource to get it for. Comma and
// space between the parameters, quoted values: what both SDKs parse.
func Challenge(authority, tenantID, resource string) string {
	return `Bearer authorization="` + strings.TrimRight(authority, "/") + "/" + tenantID + `", resource="` + resource + `"`
}

// ParseChallenge reads a Bearer challenge as the Go Key Vault client does (strip "Bearer ",
// split on single spaces, each part key="value" with an optional trailing comma), and returns
// the tenant (the first path segment of authorization) and the resource. It exists to test
// that what Challenge writes parses back.
func ParseChallenge(h string) (tenantID, resource string, err error) {
	rest, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", "", errors.New("not a Bearer challenge")
	}
	var authz string
	for _, part := range strings.Split(rest, " ") {
		kv := strings.Split(part, "=")
		if len(kv) != 2 {
			return "", "", errors.New("malformed parameter")
		}
		v := strings.Trim(strings.TrimSuffix(kv[1], ","), `"`)
		switch kv[0] {
		case "authorization":
			authz = v
		case "resource":
			resource = v
		}
	}
	parts := strings.Split(authz, "/")
	if len(parts) < 4 || parts[3] == "" {
		return "", "", errors.New("authorization has no tenant")
	}
	if resource == "" {
		return "", "", errors.New("no resource")
	}
	return parts[3], resource, nil
}
