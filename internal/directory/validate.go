package directory

import (
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a caller may store.
const (
	maxDisplayName    = 256
	maxRoleValue      = 120
	maxRoleText       = 1024 // an app role's displayName and description
	maxAppRoles       = 500
	maxIdentifierURIs = 50
	maxIdentifierURI  = 512 // a token's audience may be at most this long
	maxMailNickname   = 64
	maxDescription    = 1024
)

var signInAudiences = map[string]bool{
	"AzureADMyOrg": true, "AzureADMultipleOrgs": true, "AzureADandPersonalMicrosoftAccount": true, "PersonalMicrosoftAccount": true,
}

func checkDisplayName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return badRequest("Property 'displayName' must not be empty.")
	case utf8.RuneCountInString(name) > maxDisplayName:
		return badRequest("Property 'displayName' must be at most %d characters.", maxDisplayName)
	case !printable(name):
		return badRequest("Property 'displayName' must contain only printable characters.")
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// checkIdentifierURIs checks identifierUris: absolute URIs (api://…, https://…, urn:…), each once.
func checkIdentifierURIs(uris []string) ([]string, error) {
	if len(uris) > maxIdentifierURIs {
		return nil, badRequest("Property 'identifierUris' may hold at most %d values.", maxIdentifierURIs)
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(uris))
	for _, u := range uris {
		if err := checkIdentifierURI(u); err != nil {
			return nil, err
		}
		k := NameKey(u)
		if seen[k] {
			return nil, badRequest("Property 'identifierUris' holds '%s' more than once.", u)
		}
		seen[k] = true
		out = append(out, u)
	}
	return out, nil
}

func checkIdentifierURI(u string) error {
	bad := badRequest("Values of identifierUris property must use a verified domain or a supported scheme: '%s' is not an absolute URI.", u)
	if u == "" || len(u) > maxIdentifierURI || strings.ContainsFunc(u, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) {
		return bad
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || (p.Host == "" && p.Opaque == "") || p.Fragment != "" || NameKey(u) == "" {
		return bad
	}
	return nil
}

// checkAppRoles checks an application's appRoles and returns them normalised: ids in lower case,
// origin "Application", member types without repeats.
func checkAppRoles(roles []AppRole) ([]AppRole, error) {
	if len(roles) > maxAppRoles {
		return nil, badRequest("An application may define at most %d app roles.", maxAppRoles)
	}
	ids, values := map[string]bool{}, map[string]bool{}
	out := make([]AppRole, 0, len(roles))
	for _, r := range roles {
		if r.ID == "" {
			return nil, badRequest("Property 'id' of an app role is required.")
		}
		id, err := guidProp("id", r.ID)
		if err != nil {
			return nil, err
		}
		if ids[id] {
			return nil, badRequest("App role id '%s' is used more than once.", id)
		}
		ids[id] = true
		if err := checkRoleValue(r.Value); err != nil {
			return nil, err
		}
		if values[strings.ToLower(r.Value)] {
			return nil, badRequest("App role value '%s' is used more than once: the value of an app role must be unique within the application.", r.Value)
		}
		values[strings.ToLower(r.Value)] = true
		if utf8.RuneCountInString(r.DisplayName) > maxRoleText || utf8.RuneCountInString(r.Description) > maxRoleText {
			return nil, badRequest("The displayName and description of an app role must be at most %d characters.", maxRoleText)
		}
		var types []string
		for _, t := range r.AllowedMemberTypes {
			if t != "User" && t != "Application" {
				return nil, badRequest("Invalid value '%s' in allowedMemberTypes of app role '%s': use User or Application.", t, r.Value)
			}
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
		if len(types) == 0 {
			return nil, badRequest("Property 'allowedMemberTypes' of app role '%s' must name User, Application or both.", r.Value)
		}
		r.ID, r.AllowedMemberTypes, r.Origin = id, types, "Application"
		out = append(out, r)
	}
	return out, nil
}

// checkRoleValue checks an app role's value, which becomes a roles claim: 1 to 120 characters of
// printable ASCII other than space, '"' and '\', not starting with '.'.
func checkRoleValue(v string) error {
	switch {
	case v == "":
		return badRequest("Property 'value' of an app role is required.")
	case len(v) > maxRoleValue:
		return badRequest("The value of app role '%s' is longer than %d characters.", v, maxRoleValue)
	case strings.HasPrefix(v, "."):
		return badRequest("The value of app role '%s' must not start with '.'.", v)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || c == '"' || c == '\\' {
			return badRequest("The value of app role '%s' contains a character that is not allowed: values may not contain spaces, quotes, backslashes or non-ASCII characters.", v)
		}
	}
	return nil
}

// checkMailNickname checks a group's mailNickname: 1 to 64 ASCII characters, none of @()\[]";:<>, and space.
func checkMailNickname(v string) error {
	if v == "" || len(v) > maxMailNickname {
		return badRequest("Property 'mailNickname' must be 1 to %d characters.", maxMailNickname)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || strings.IndexByte(`@()\[]";:<>,`, c) >= 0 {
			return badRequest("Property 'mailNickname' contains a character that is not allowed: '%c'.", c)
		}
	}
	return nil
}
