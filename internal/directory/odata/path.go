package odata

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Limits of a resource path, checked by ParsePath.
const (
	maxPathLen      = 4096 // bytes, as sent (percent-encoded)
	maxPathSegments = 32
	maxKeyLen       = 256 // characters of a key or an alternate-key value, decoded
)

// Path is a parsed Graph resource path: the part of the URL path after /v1.0/.
type Path struct {
	Segments []Segment
	Ref      bool // the path ends in /$ref (a reference, as in groups/{id}/members/$ref)
}

// Segment is one resource or navigation name with the key that addresses one of its members, if
// any: servicePrincipals/{id} and servicePrincipals('{id}') set Key, servicePrincipals(appId='…')
// sets AltKeyName and AltKeyValue. Names are kept as written; Graph compares them regardless of
// case, so a caller should too.
type Segment struct {
	Name        string
	Key         string
	AltKeyName  string
	AltKeyValue string
}

// Keyed reports whether s addresses one member of a collection, by key or by alternate key.
func (s Segment) Keyed() bool { return s.Key != "" || s.AltKeyName != "" }

// singleValued are the names, in lower case, that address one thing rather than a collection, so
// that the segment after them is a name and never a key (roleManagement/directory/roleAssignments).
var singleValued = map[string]bool{
	"me": true, "directory": true, "rolemanagement": true, "policies": true, "identity": true,
	"admin": true, "reports": true, "manager": true, "createdonbehalfof": true,
}

// ParsePath parses a Graph resource path as r.URL.EscapedPath() gives it, without the /v1.0/
// prefix: servicePrincipals, servicePrincipals/{id}, servicePrincipals('{id}'),
// servicePrincipals(appId='…')/appRoleAssignedTo, groups/{id}/members/{memberId}/$ref,
// roleManagement/directory/roleAssignments/{id}, and so on.
//
// The path is split on '/' before each segment is percent-decoded, so a '/' inside a key must be
// sent as %2F; quotes may be sent as %27, and a quote inside a quoted key is doubled. A bare
// segment after a collection name is that collection's key, except after the few single-valued
// names Graph has (me, directory, roleManagement, ...) and after a namespace-qualified operation
// (microsoft.graph.getByIds). Empty segments, "." and "..", keys longer than 256 characters or
// holding control characters, composite keys, unquoted key values, $ segments other than a final
// $ref, and paths longer than 4096 bytes or 32 segments are errs.Invalid errors.
func ParsePath(p string) (Path, error) {
	if p == "" {
		return Path{}, errs.E(errs.Invalid, "Invalid resource path: the path is empty.")
	}
	if len(p) > maxPathLen {
		return Path{}, errs.E(errs.Invalid, "Invalid resource path: the path is longer than %d bytes.", maxPathLen)
	}
	raw := strings.Split(p, "/")
	if len(raw) > maxPathSegments {
		return Path{}, errs.E(errs.Invalid, "Invalid resource path: the path has more than %d segments.", maxPathSegments)
	}
	var out Path
	wantKey := false // the previous segment is a collection without a key
	for i, r := range raw {
		n := i + 1
		if r == "" {
			return Path{}, pathErr(n, "", "the segment is empty")
		}
		d, err := url.PathUnescape(r)
		if err != nil {
			return Path{}, pathErr(n, r, "invalid percent-encoding")
		}
		if !utf8.ValidString(d) {
			return Path{}, pathErr(n, r, "the segment is not valid UTF-8")
		}
		if d == "." || d == ".." {
			return Path{}, pathErr(n, d, "relative segments are not allowed")
		}
		if strings.HasPrefix(d, "$") {
			if !strings.EqualFold(d, "$ref") {
				return Path{}, pathErr(n, d, "'%s' is not supported", clip(d))
			}
			segs := out.Segments
			if i != len(raw)-1 || len(segs) < 2 || !segs[len(segs)-2].Keyed() {
				return Path{}, pathErr(n, d, "$ref must be the last segment, after a navigation property of an entity")
			}
			out.Ref = true
			break
		}
		if wantKey && !(isOperation(d) && isSegmentName(d)) {
			if err := checkKey(d, true); err != "" {
				return Path{}, pathErr(n, d, "%s", err)
			}
			out.Segments[len(out.Segments)-1].Key = d
			wantKey = false
			continue
		}
		seg, err := parseSegment(n, d)
		if err != nil {
			return Path{}, err
		}
		out.Segments = append(out.Segments, seg)
		wantKey = !seg.Keyed() && !singleValued[strings.ToLower(seg.Name)] && !isOperation(seg.Name)
	}
	return out, nil
}

// isOperation reports whether a name is a namespace-qualified bound action or function.
func isOperation(name string) bool { return strings.Contains(name, ".") }

// parseSegment parses name, name('key') or name(alt='value'), already percent-decoded.
func parseSegment(n int, d string) (Segment, error) {
	open := strings.IndexByte(d, '(')
	name := d
	if open >= 0 {
		name = d[:open]
	}
	if !isSegmentName(name) {
		return Segment{}, pathErr(n, d, "'%s' is not a valid name", clip(name))
	}
	seg := Segment{Name: name}
	if open < 0 {
		return seg, nil
	}
	rest := d[open+1:]
	const syntax = "expected ('key') or (name='key') after '%s'"
	if !strings.HasPrefix(rest, "'") {
		eq := strings.IndexByte(rest, '=')
		if eq < 0 || !isName(rest[:eq]) {
			if rest == ")" {
				return Segment{}, pathErr(n, d, "function calls are not supported")
			}
			return Segment{}, pathErr(n, d, syntax, name)
		}
		seg.AltKeyName, rest = rest[:eq], rest[eq+1:]
		if !strings.HasPrefix(rest, "'") {
			return Segment{}, pathErr(n, d, "the value of '%s' must be a quoted string", seg.AltKeyName)
		}
	}
	val, rest, ok := unquote(rest)
	if !ok {
		return Segment{}, pathErr(n, d, "unterminated quoted key")
	}
	switch {
	case strings.HasPrefix(rest, ","):
		return Segment{}, pathErr(n, d, "composite keys are not supported")
	case rest != ")":
		return Segment{}, pathErr(n, d, syntax, name)
	}
	if err := checkKey(val, false); err != "" {
		return Segment{}, pathErr(n, d, "%s", err)
	}
	if seg.AltKeyName != "" {
		seg.AltKeyValue = val
	} else {
		seg.Key = val
	}
	return seg, nil
}

// unquote reads a single-quoted string with doubled quotes from the start of s and returns its
// value and what follows.
func unquote(s string) (val, rest string, ok bool) {
	var b strings.Builder
	s = s[1:]
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			return "", "", false
		}
		b.WriteString(s[:i])
		s = s[i+1:]
		if !strings.HasPrefix(s, "'") {
			return b.String(), s, true
		}
		b.WriteByte('\'')
		s = s[1:]
	}
}

// checkKey returns what is wrong with a key, or "". A bare key (servicePrincipals/{id}) may not
// hold white space, quotes, parentheses or slashes: no Graph id does, and such a segment is more
// likely a mistyped name or function call than a key.
func checkKey(k string, bare bool) string {
	if k == "" {
		return "the key is empty"
	}
	if utf8.RuneCountInString(k) > maxKeyLen {
		return fmt.Sprintf("the key is longer than %d characters", maxKeyLen)
	}
	if k == "." || k == ".." {
		return "relative segments are not allowed"
	}
	for _, r := range k {
		if unicode.IsControl(r) {
			return "the key holds a control character"
		}
		if bare && (unicode.IsSpace(r) || strings.ContainsRune(`'"()/\`, r)) {
			return fmt.Sprintf("'%s' is not a valid key", clip(k))
		}
	}
	return ""
}

// isSegmentName reports whether s is a resource, navigation or operation name: an identifier, or
// dot-separated identifiers (microsoft.graph.getByIds).
func isSegmentName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !isName(part) {
			return false
		}
	}
	return true
}

func pathErr(n int, seg, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if seg == "" {
		return errs.E(errs.Invalid, "Invalid resource path: segment %d: %s.", n, msg)
	}
	return errs.E(errs.Invalid, "Invalid resource path: segment %d ('%s'): %s.", n, clip(seg), msg)
}

// String returns the canonical, percent-encoded form of p, with keys in parentheses as Graph
// writes them in @odata.context: servicePrincipals('id')/appRoleAssignedTo. ParsePath gives p back.
func (p Path) String() string {
	var b strings.Builder
	for i, s := range p.Segments {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(s.Name))
		switch {
		case s.AltKeyName != "":
			b.WriteString("(" + url.PathEscape(s.AltKeyName) + "='" + escapeKey(s.AltKeyValue) + "')")
		case s.Key != "":
			b.WriteString("('" + escapeKey(s.Key) + "')")
		}
	}
	if p.Ref {
		b.WriteString("/$ref")
	}
	return b.String()
}

// escapeKey doubles quotes and percent-encodes what a path segment cannot hold. Quotes come out
// as %27, which ParsePath decodes before it reads the quoting.
func escapeKey(k string) string { return url.PathEscape(strings.ReplaceAll(k, "'", "''")) }
