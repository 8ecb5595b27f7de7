package odata

import (
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Options bounds the query options of one endpoint.
type Options struct {
	MaxTop     int // largest $top accepted; 0 means 999, Graph's limit for directory objects
	DefaultTop int // page size without $top; 0 means 100, Graph's default; at most MaxTop
}

// Query is the parsed query options of a request.
type Query struct {
	Select    []string // $select names in the order given, without duplicates; nil without $select
	Filter    *Expr    // nil without $filter
	Top       int      // page size: $top, or Options.DefaultTop
	SkipToken string   // $skiptoken as sent; DecodeSkipToken gives the key it carries
	Count     bool     // $count=true
}

// optionNames are the OData system query options, without the '$'. Graph accepts each of them with
// or without the '$', so without it they are recognised too: those Lanyard does not support are
// errors either way, while any other parameter without a '$' is a custom option and ignored.
var optionNames = map[string]bool{
	"select": true, "filter": true, "top": true, "skiptoken": true, "count": true,
	"orderby": true, "expand": true, "search": true, "skip": true, "format": true,
	"compute": true, "apply": true, "deltatoken": true,
}

// ParseQuery reads the query options of q (as url.Values decodes them): $select, $filter, $top,
// $skiptoken and $count, each with or without the '$' and in any case. Any other '$' option
// ($orderby, $expand, $search, $skip, ...), an option given twice, an empty value or a malformed
// one is an errs.Invalid error in Graph's wording.
func ParseQuery(q url.Values, opts Options) (Query, error) {
	if opts.MaxTop <= 0 {
		opts.MaxTop = 999
	}
	if opts.DefaultTop <= 0 {
		opts.DefaultTop = 100
	}
	opts.DefaultTop = min(opts.DefaultTop, opts.MaxTop)

	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys) // so that which error is reported does not depend on map order

	out := Query{Top: opts.DefaultTop}
	seen := map[string]bool{} // option names, so that $top and top count as one
	for _, k := range keys {
		name := strings.ToLower(strings.TrimPrefix(k, "$"))
		if !optionNames[name] {
			if strings.HasPrefix(k, "$") {
				return Query{}, errs.E(errs.Invalid, "Query option '%s' is not supported.", k)
			}
			continue
		}
		if seen[name] || len(q[k]) > 1 {
			return Query{}, errs.E(errs.Invalid, "Query option '%s' was specified more than once.", k)
		}
		seen[name] = true
		v := q[k][0]
		if v == "" {
			return Query{}, errs.E(errs.Invalid, "Query option '%s' has an empty value.", k)
		}
		var err error
		switch name {
		case "select":
			out.Select, err = parseSelect(k, v)
		case "filter":
			out.Filter, err = ParseFilter(v)
		case "top":
			out.Top, err = parseTop(v, opts.MaxTop)
		case "skiptoken":
			if _, err = DecodeSkipToken(v); err == nil {
				out.SkipToken = v
			}
		case "count":
			switch {
			case strings.EqualFold(v, "true"):
				out.Count = true
			case strings.EqualFold(v, "false"):
			default:
				err = errs.E(errs.Invalid, "Invalid value '%s' for query option '%s'; it must be true or false.", v, k)
			}
		default:
			err = errs.E(errs.Invalid, "Query option '%s' is not supported.", k)
		}
		if err != nil {
			return Query{}, err
		}
	}
	return out, nil
}

func parseTop(v string, maxTop int) (int, error) {
	bad := errs.E(errs.Invalid, "Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxTop)
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, bad
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTop {
		return 0, bad
	}
	return n, nil
}

// parseSelect splits a comma-joined $select into trimmed names, dropping repeats.
func parseSelect(key, v string) ([]string, error) {
	var out []string
	for i, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, errs.E(errs.Invalid, "Query option '%s' has an empty property name at item %d.", key, i+1)
		}
		if !isSelectName(name) {
			return nil, errs.E(errs.Invalid, "Query option '%s' has an invalid property name '%s' at item %d.", key, name, i+1)
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// isSelectName reports whether s is a name $select accepts: ASCII letters, digits, '@', '.' and
// '_' (the last three for annotations such as @odata.type).
func isSelectName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '@' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// ValidateSelect checks every $select name against the properties of the entity type: like
// Graph, names match regardless of case, an @odata annotation is always allowed, and an unknown
// name is an errs.Invalid error "Could not find a property named 'x' on type '<typeName>'."
// typeName is the full type name, such as microsoft.graph.servicePrincipal.
func ValidateSelect(sel []string, known []string, typeName string) error {
	set := make(map[string]bool, len(known))
	for _, k := range known {
		set[strings.ToLower(k)] = true
	}
	for _, s := range sel {
		if !set[strings.ToLower(s)] && !isODataAnnotation(s) {
			return errs.E(errs.Invalid, "Could not find a property named '%s' on type '%s'.", s, typeName)
		}
	}
	return nil
}

func isODataAnnotation(key string) bool { return strings.HasPrefix(key, "@odata.") }

// Project returns a new map with the top-level properties of obj that sel names (regardless of
// case), their annotations (name@odata.type) and every @odata.* key. Names that obj lacks are
// simply absent; ValidateSelect rejects unknown names beforehand. With an empty sel there is
// nothing to project and obj itself is returned.
func Project(obj map[string]any, sel []string) map[string]any {
	if len(sel) == 0 {
		return obj
	}
	want := make(map[string]bool, len(sel))
	for _, s := range sel {
		want[strings.ToLower(s)] = true
	}
	out := make(map[string]any, len(sel)+1)
	for k, v := range obj {
		name := k
		if i := strings.Index(k, "@"); i > 0 {
			name = k[:i] // the property an annotation belongs to
		}
		if isODataAnnotation(k) || want[strings.ToLower(name)] {
			out[k] = v
		}
	}
	return out
}

// ContextSelect returns the $select part of an @odata.context URL, such as "(id,appRoles)" in
// …/$metadata#servicePrincipals(id,appRoles)/$entity, or "" without $select.
func ContextSelect(sel []string) string {
	if len(sel) == 0 {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}
