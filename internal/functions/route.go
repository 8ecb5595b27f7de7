package functions

import (
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Route templates in ASP.NET Core's syntax (functions.md §2.1, Azure's): literal segments,
// parameters {id}, constrained {id:int}, optional {id?}, defaults {name=x}, a catch-all {*rest}
// in the last segment, and complex segments such as {name}.{ext}. Matching is case-insensitive
// for literals, as ASP.NET's is.

// route is a parsed template.
type route struct {
	template string
	segs     []segment
}

// segment is one '/'-separated piece of a template: a literal, or parts with parameters.
type segment struct {
	literal string         // when parts is nil
	parts   []part         // a parameter alone, or a complex segment
	re      *regexp.Regexp // complex segments only
}

type part struct {
	literal string // a literal part of a complex segment ("" for a parameter)
	param   *param
}

type param struct {
	name        string
	optional    bool
	catchAll    bool
	hasDefault  bool
	def         string
	constraints []constraint
}

type constraint struct {
	name string
	arg  string
	test func(string) bool
}

// parseRoute parses an ASP.NET route template.
func parseRoute(tmpl string) (*route, error) {
	t := strings.Trim(strings.TrimPrefix(tmpl, "~"), "/")
	r := &route{template: t}
	if !utf8.ValidString(t) {
		return nil, fmt.Errorf("the route template is not valid UTF-8")
	}
	if strings.Contains(t, "?") && !strings.Contains(t, "{") {
		return nil, fmt.Errorf("the route template cannot contain '?' outside a parameter")
	}
	if t == "" {
		return r, nil
	}
	raw, err := splitSegments(t)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for i, s := range raw {
		if s == "" {
			return nil, fmt.Errorf("the route template separator character '/' cannot appear consecutively")
		}
		seg, err := parseSegment(s)
		if err != nil {
			return nil, err
		}
		for _, p := range seg.parts {
			if p.param == nil {
				continue
			}
			k := strings.ToLower(p.param.name)
			if names[k] {
				return nil, fmt.Errorf("the route parameter name '%s' appears more than one time in the route template", p.param.name)
			}
			names[k] = true
			if p.param.catchAll && i != len(raw)-1 {
				return nil, fmt.Errorf("a catch-all parameter can only appear as the last segment of the route template")
			}
		}
		r.segs = append(r.segs, seg)
	}
	// An optional parameter (or one with a default) may only be followed by more of them.
	seenOptional := false
	for _, s := range r.segs {
		opt := s.optional()
		if seenOptional && !opt {
			return nil, fmt.Errorf("an optional parameter must be at the end of the route template")
		}
		seenOptional = seenOptional || opt
	}
	return r, nil
}

// splitSegments splits on '/' outside braces.
func splitSegments(t string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '{':
			if i+1 < len(t) && t[i+1] == '{' && depth > 0 {
				i++
				continue
			}
			depth++
		case '}':
			if i+1 < len(t) && t[i+1] == '}' && depth > 0 {
				i++
				continue
			}
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("there is an incomplete parameter in the route template")
			}
		case '/':
			if depth == 0 {
				out = append(out, t[start:i])
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("there is an incomplete parameter in the route template")
	}
	return append(out, t[start:]), nil
}

func (s segment) optional() bool {
	if len(s.parts) != 1 || s.parts[0].param == nil {
		return false
	}
	p := s.parts[0].param
	return p.optional || p.hasDefault || p.catchAll
}

func parseSegment(s string) (segment, error) {
	if !strings.Contains(s, "{") {
		if strings.Contains(s, "}") {
			return segment{}, fmt.Errorf("there is an incomplete parameter in the route template")
		}
		return segment{literal: s}, nil
	}
	var seg segment
	for len(s) > 0 {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			seg.parts = append(seg.parts, part{literal: s})
			break
		}
		if i > 0 {
			seg.parts = append(seg.parts, part{literal: s[:i]})
		}
		end := paramEnd(s, i)
		if end < 0 {
			return segment{}, fmt.Errorf("there is an incomplete parameter in the route template")
		}
		p, err := parseParam(s[i+1 : end])
		if err != nil {
			return segment{}, err
		}
		if n := len(seg.parts); n > 0 && seg.parts[n-1].param != nil {
			return segment{}, fmt.Errorf("a path segment cannot contain two consecutive parameters")
		}
		seg.parts = append(seg.parts, part{param: p})
		s = s[end+1:]
	}
	if len(seg.parts) > 1 {
		var re strings.Builder
		re.WriteString("(?i)^")
		for _, p := range seg.parts {
			if p.param == nil {
				if strings.ContainsAny(p.literal, "}") {
					return segment{}, fmt.Errorf("there is an incomplete parameter in the route template")
				}
				re.WriteString(regexp.QuoteMeta(p.literal))
				continue
			}
			if p.param.catchAll || p.param.hasDefault {
				return segment{}, fmt.Errorf("a path segment that contains more than one section cannot contain a catch-all or default parameter")
			}
			if p.param.optional && p != seg.parts[len(seg.parts)-1] {
				return segment{}, fmt.Errorf("an optional parameter must be at the end of the segment")
			}
			if p.param.optional {
				re.WriteString("(.*?)")
			} else {
				re.WriteString("(.+?)")
			}
		}
		re.WriteString("$")
		c, err := regexp.Compile(re.String())
		if err != nil {
			return segment{}, fmt.Errorf("the segment cannot be matched: %v", err)
		}
		seg.re = c
	}
	return seg, nil
}

// paramEnd returns the index of the '}' closing the parameter opened at s[i], with "{{" and "}}"
// as escaped braces inside it (used by regex constraints).
func paramEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '{':
			if j+1 < len(s) && s[j+1] == '{' {
				j++
				continue
			}
			return -1
		case '}':
			if j+1 < len(s) && s[j+1] == '}' {
				j++
				continue
			}
			return j
		}
	}
	return -1
}

var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func parseParam(s string) (*param, error) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "{{", "{"), "}}", "}")
	p := &param{}
	if strings.HasPrefix(s, "**") {
		p.catchAll, s = true, s[2:]
	} else if strings.HasPrefix(s, "*") {
		p.catchAll, s = true, s[1:]
	}
	// name[:constraint[(arg)]]...[?|=default]
	i := strings.IndexAny(s, ":=?")
	name := s
	if i >= 0 {
		name = s[:i]
	}
	if !paramName.MatchString(name) {
		return nil, fmt.Errorf("the route parameter name '%s' is invalid", name)
	}
	p.name = name
	s = s[len(name):]
	for strings.HasPrefix(s, ":") {
		s = s[1:]
		// the constraint's name, then an optional (arg) which may contain ':' and ')'.
		j := 0
		for j < len(s) && s[j] != ':' && s[j] != '(' && s[j] != '=' && s[j] != '?' {
			j++
		}
		c := constraint{name: s[:j]}
		s = s[j:]
		if strings.HasPrefix(s, "(") {
			k := strings.LastIndex(s, ")")
			// the argument ends at the last ')' that is followed by ':', '=', '?' or the end.
			for k > 0 && !(k == len(s)-1 || strings.ContainsRune(":=?", rune(s[k+1]))) {
				k = strings.LastIndex(s[:k], ")")
			}
			if k <= 0 {
				return nil, fmt.Errorf("the constraint '%s' of route parameter '%s' has no closing ')'", c.name, name)
			}
			c.arg, s = s[1:k], s[k+1:]
		}
		test, err := makeConstraint(c.name, c.arg)
		if err != nil {
			return nil, fmt.Errorf("route parameter '%s': %w", name, err)
		}
		c.test = test
		p.constraints = append(p.constraints, c)
	}
	switch {
	case s == "":
	case s == "?":
		p.optional = true
	case strings.HasPrefix(s, "="):
		p.hasDefault, p.def = true, s[1:]
	default:
		return nil, fmt.Errorf("the route parameter '%s' has an invalid suffix '%s'", name, s)
	}
	if p.optional && p.catchAll {
		return nil, fmt.Errorf("a catch-all parameter cannot be marked optional")
	}
	return p, nil
}

// makeConstraint builds one of ASP.NET's inline route constraints.
func makeConstraint(name, arg string) (func(string) bool, error) {
	intArg := func() (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("the constraint '%s' needs an integer argument, not '%s'", name, arg)
		}
		return n, nil
	}
	twoInts := func() (int64, int64, error) {
		a, b, ok := strings.Cut(arg, ",")
		if !ok {
			return 0, 0, fmt.Errorf("the constraint '%s' needs two integer arguments, not '%s'", name, arg)
		}
		x, err1 := strconv.ParseInt(strings.TrimSpace(a), 10, 64)
		y, err2 := strconv.ParseInt(strings.TrimSpace(b), 10, 64)
		if err1 != nil || err2 != nil || x > y {
			return 0, 0, fmt.Errorf("the constraint '%s' needs two integer arguments, not '%s'", name, arg)
		}
		return x, y, nil
	}
	noArg := func(f func(string) bool) (func(string) bool, error) {
		if arg != "" {
			return nil, fmt.Errorf("the constraint '%s' takes no argument", name)
		}
		return f, nil
	}
	switch strings.ToLower(name) {
	case "int":
		return noArg(func(v string) bool { _, err := strconv.ParseInt(v, 10, 32); return err == nil })
	case "long":
		return noArg(func(v string) bool { _, err := strconv.ParseInt(v, 10, 64); return err == nil })
	case "bool":
		return noArg(func(v string) bool { return strings.EqualFold(v, "true") || strings.EqualFold(v, "false") })
	case "guid":
		return noArg(isGUID)
	case "double":
		return noArg(func(v string) bool {
			_, err := strconv.ParseFloat(v, 64)
			return err == nil && !strings.ContainsAny(v, "xXpP_")
		})
	case "decimal":
		return noArg(func(v string) bool {
			_, ok := new(big.Rat).SetString(v)
			return ok && !strings.ContainsAny(v, "/eExXpP_")
		})
	case "datetime":
		return noArg(isDateTime)
	case "alpha":
		return noArg(func(v string) bool {
			for _, r := range v {
				if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
					return false
				}
			}
			return v != ""
		})
	case "min", "max":
		n, err := intArg()
		if err != nil {
			return nil, err
		}
		isMin := strings.EqualFold(name, "min")
		return func(v string) bool {
			x, err := strconv.ParseInt(v, 10, 64)
			return err == nil && (isMin && x >= n || !isMin && x <= n)
		}, nil
	case "range":
		lo, hi, err := twoInts()
		if err != nil {
			return nil, err
		}
		return func(v string) bool { x, err := strconv.ParseInt(v, 10, 64); return err == nil && x >= lo && x <= hi }, nil
	case "length":
		if strings.Contains(arg, ",") {
			lo, hi, err := twoInts()
			if err != nil {
				return nil, err
			}
			return func(v string) bool { n := int64(len([]rune(v))); return n >= lo && n <= hi }, nil
		}
		n, err := intArg()
		if err != nil {
			return nil, err
		}
		return func(v string) bool { return int64(len([]rune(v))) == n }, nil
	case "minlength", "maxlength":
		n, err := intArg()
		if err != nil {
			return nil, err
		}
		isMin := strings.EqualFold(name, "minlength")
		return func(v string) bool {
			l := int64(len([]rune(v)))
			return isMin && l >= n || !isMin && l <= n
		}, nil
	case "regex":
		// ASP.NET's regex constraint is case-insensitive and unanchored (the pattern anchors itself).
		re, err := regexp.Compile("(?i)" + arg)
		if err != nil {
			return nil, fmt.Errorf("the regex constraint '%s' does not compile: %v", arg, err)
		}
		return re.MatchString, nil
	}
	return nil, fmt.Errorf("the inline constraint resolver does not know the constraint '%s'", name)
}

func isGUID(v string) bool {
	v = strings.TrimSuffix(strings.TrimPrefix(v, "{"), "}")
	v = strings.TrimSuffix(strings.TrimPrefix(v, "("), ")")
	if len(v) == 32 {
		v = v[:8] + "-" + v[8:12] + "-" + v[12:16] + "-" + v[16:20] + "-" + v[20:]
	}
	if len(v) != 36 {
		return false
	}
	for i, r := range v {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return false
			}
		} else if !unicode.Is(unicode.ASCII_Hex_Digit, r) {
			return false
		}
	}
	return true
}

var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02", "01/02/2006", "1/2/2006", "01/02/2006 15:04:05"}

func isDateTime(v string) bool {
	for _, l := range dateLayouts {
		if _, err := time.Parse(l, v); err == nil {
			return true
		}
	}
	return false
}

// match matches a request path (after the route prefix, without the leading '/', still escaped
// as it came) against r. values holds the parameters, with nil for optional ones not supplied
// (functions.md §2.1).
func (r *route) match(path string) (map[string]*string, bool) {
	var segs []string
	if path != "" {
		segs = strings.Split(path, "/")
		if segs[len(segs)-1] == "" { // a trailing slash is ignored
			segs = segs[:len(segs)-1]
		}
	}
	values := map[string]*string{}
	for i, s := range r.segs {
		if i >= len(segs) {
			if !s.optional() {
				return nil, false
			}
			p := s.parts[0].param
			if p.hasDefault {
				d := p.def
				values[p.name] = &d
			} else {
				values[p.name] = nil
			}
			continue
		}
		if s.parts == nil {
			if !strings.EqualFold(unescape(segs[i]), s.literal) {
				return nil, false
			}
			continue
		}
		if len(s.parts) == 1 {
			p := s.parts[0].param
			v := unescape(segs[i])
			if p.catchAll {
				v = unescape(strings.Join(segs[i:], "/"))
			}
			if !p.accepts(v) {
				return nil, false
			}
			values[p.name] = &v
			if p.catchAll {
				return values, true
			}
			continue
		}
		m := s.re.FindStringSubmatch(unescape(segs[i]))
		if m == nil {
			return nil, false
		}
		k := 1
		for _, pt := range s.parts {
			if pt.param == nil {
				continue
			}
			v := m[k]
			k++
			if v == "" && pt.param.optional {
				values[pt.param.name] = nil
				continue
			}
			if !pt.param.accepts(v) {
				return nil, false
			}
			values[pt.param.name] = &v
		}
	}
	if len(segs) > len(r.segs) {
		return nil, false
	}
	return values, true
}

func (p *param) accepts(v string) bool {
	if v == "" && !p.catchAll {
		return false
	}
	for _, c := range p.constraints {
		if !c.test(v) {
			return false
		}
	}
	return true
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	// Path segments are unescaped after splitting, so that "%2F" stays inside its segment.
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// precedence orders routes as ASP.NET does, roughly: per segment, a literal before a complex
// segment, before a constrained parameter, before a parameter, before a catch-all. Lower first.
func (r *route) precedence() []int {
	out := make([]int, len(r.segs))
	for i, s := range r.segs {
		switch {
		case s.parts == nil:
			out[i] = 1
		case len(s.parts) > 1:
			out[i] = 2
		case s.parts[0].param.catchAll:
			out[i] = 5
		case len(s.parts[0].param.constraints) > 0:
			out[i] = 3
		default:
			out[i] = 4
		}
	}
	return out
}

// shape is the template with parameter names erased and literals lower-cased: two routes of the
// same shape are duplicates (functions.md §2.1).
func (r *route) shape() string {
	var b strings.Builder
	for _, s := range r.segs {
		b.WriteByte('/')
		if s.parts == nil {
			b.WriteString(strings.ToLower(s.literal))
			continue
		}
		for _, p := range s.parts {
			if p.param == nil {
				b.WriteString(strings.ToLower(p.literal))
				continue
			}
			b.WriteString("{")
			if p.param.catchAll {
				b.WriteString("*")
			}
			for _, c := range p.param.constraints {
				b.WriteString(":" + strings.ToLower(c.name) + "(" + c.arg + ")")
			}
			if p.param.optional || p.param.hasDefault {
				b.WriteString("?")
			}
			b.WriteString("}")
		}
	}
	return b.String()
}
