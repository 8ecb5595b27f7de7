package odata

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// The operators of an Expr.
const (
	OpEq         = "eq"
	OpNe         = "ne"
	OpStartsWith = "startswith"
	OpIn         = "in"
	OpAny        = "any"
	OpAnd        = "and"
	OpOr         = "or"
)

// Expr is a parsed $filter expression. Leaf operators (eq, ne, startswith, in, any) use Field and
// Value or Values; and and or use Left and Right. Parsing builds and/or trees left-associated, so
// "a and b and c" is and(and(a, b), c).
type Expr struct {
	Op          string  // one of the Op constants
	Field       string  // leaf operators: the property, as written (may be a path such as "info/x")
	Value       Value   // eq, ne, startswith, any
	Values      []Value // in
	Left, Right *Expr   // and, or
}

// ValueKind is the type of a literal in a filter.
type ValueKind int

// The kinds of literal. The zero ValueKind is not a valid kind, so that a forgotten Value is
// caught rather than compared as an empty string.
const (
	_      ValueKind = iota
	String           // 'text', with '' for a quote
	Bool             // true or false
	Null             // null
	Int              // a decimal integer that fits in an int64
	Guid             // an unquoted GUID: Graph's literal for Edm.Guid properties
)

func (k ValueKind) String() string {
	switch k {
	case String:
		return "string"
	case Bool:
		return "boolean"
	case Null:
		return "null"
	case Int:
		return "integer"
	case Guid:
		return "GUID"
	}
	return fmt.Sprintf("ValueKind(%d)", int(k))
}

// Value is a literal in a filter. Only the field of its Kind is set.
type Value struct {
	Kind ValueKind
	Str  string
	Bool bool
	Int  int64
}

// String returns the literal as it is written in a filter.
func (v Value) String() string {
	switch v.Kind {
	case String:
		return "'" + strings.ReplaceAll(v.Str, "'", "''") + "'"
	case Bool:
		return strconv.FormatBool(v.Bool)
	case Null:
		return "null"
	case Int:
		return strconv.FormatInt(v.Int, 10)
	case Guid:
		return v.Str
	}
	return "<invalid>"
}

// GuidProp is the value a getter returns for an Edm.Guid property (null when Null). Graph
// compares such a property only with unquoted GUID literals (or null), without case, and refuses
// a quoted string; a GUID literal compared with any other property is refused too.
type GuidProp struct {
	S    string
	Null bool
}

// Fields returns every property e refers to, once each, in order of first appearance. A caller
// checks them against the properties its entity allows in $filter. A nil e refers to none.
func (e *Expr) Fields() []string {
	var out []string
	seen := map[string]bool{}
	var walk func(*Expr)
	walk = func(e *Expr) {
		if e == nil {
			return
		}
		if e.Op == OpAnd || e.Op == OpOr {
			walk(e.Left)
			walk(e.Right)
			return
		}
		if !seen[e.Field] {
			seen[e.Field] = true
			out = append(out, e.Field)
		}
	}
	walk(e)
	return out
}

// String returns the canonical form of e: lower-case operators, single spaces, parentheses only
// where the tree needs them, "startswith(f,'p')", "f in ('a','b')" and "f/any(x:x eq 'v')".
// ParseFilter(e.String()) gives back an Expr equal to e.
func (e *Expr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *Expr) write(b *strings.Builder) {
	if e == nil {
		b.WriteString("<nil>")
		return
	}
	switch e.Op {
	case OpEq, OpNe:
		b.WriteString(e.Field + " " + e.Op + " " + e.Value.String())
	case OpStartsWith:
		b.WriteString("startswith(" + e.Field + "," + e.Value.String() + ")")
	case OpIn:
		b.WriteString(e.Field + " in (")
		for i, v := range e.Values {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(v.String())
		}
		b.WriteByte(')')
	case OpAny:
		b.WriteString(e.Field + "/any(x:x eq " + e.Value.String() + ")")
	case OpAnd, OpOr:
		// and binds tighter than or; both associate to the left, so a right operand of the same
		// operator needs parentheses to keep its shape.
		e.Left.writeOperand(b, e.Op, false)
		b.WriteString(" " + e.Op + " ")
		e.Right.writeOperand(b, e.Op, true)
	default:
		fmt.Fprintf(b, "<invalid op %q>", e.Op)
	}
}

func (e *Expr) writeOperand(b *strings.Builder, parent string, right bool) {
	paren := false
	if e != nil && (e.Op == OpAnd || e.Op == OpOr) {
		paren = (parent == OpAnd && e.Op == OpOr) || (right && e.Op == parent)
	}
	if paren {
		b.WriteByte('(')
	}
	e.write(b)
	if paren {
		b.WriteByte(')')
	}
}

// Eval reports whether the object that get describes matches e. get returns a property's value
// (string, bool, int64, nil, or []string for a collection used with any) and whether the object
// type has that property at all; an unknown property is an errs.Invalid error.
//
// Semantics follow Microsoft Graph: eq, ne and in compare strings exactly, except that a
// GUID-shaped literal matches regardless of case; an Edm.Guid property (GuidProp) compares only
// with unquoted GUID literals, without case; startswith ignores case; a null property equals
// only null and starts with nothing; comparing a property with a literal of another type (a
// string property eq true) is an errs.Invalid error. Both operands of and and or are always
// evaluated, so such an error does not depend on the data. A nil e matches everything.
func (e *Expr) Eval(get func(field string) (any, bool)) (bool, error) {
	if e == nil {
		return true, nil
	}
	switch e.Op {
	case OpAnd, OpOr:
		if e.Left == nil || e.Right == nil {
			return false, fmt.Errorf("odata: %s without two operands", e.Op)
		}
		l, err := e.Left.Eval(get)
		if err != nil {
			return false, err
		}
		r, err := e.Right.Eval(get)
		if err != nil {
			return false, err
		}
		if e.Op == OpAnd {
			return l && r, nil
		}
		return l || r, nil
	}
	v, ok := get(e.Field)
	if !ok {
		return false, errs.E(errs.Invalid, "Invalid filter clause: could not find a property named '%s'.", e.Field)
	}
	if n, isInt := asInt64(v); isInt {
		v = n
	}
	switch e.Op {
	case OpEq, OpNe:
		eq, err := equal(e.Field, v, e.Value)
		return eq == (e.Op == OpEq), err
	case OpIn:
		match := false
		for _, lit := range e.Values {
			eq, err := equal(e.Field, v, lit)
			if err != nil {
				return false, err
			}
			match = match || eq
		}
		return match, nil
	case OpStartsWith:
		if e.Value.Kind != String {
			return false, fmt.Errorf("odata: startswith with a %s literal", e.Value.Kind)
		}
		switch s := v.(type) {
		case nil:
			return false, nil
		case string:
			return hasPrefixFold(s, e.Value.Str), nil
		}
		return false, mismatch(e.Field, v, "startswith")
	case OpAny:
		switch c := v.(type) {
		case nil:
			return false, nil
		case []string:
			for _, s := range c {
				if eq, err := equal(e.Field, s, e.Value); err != nil || eq {
					return eq, err
				}
			}
			return false, nil
		}
		return false, mismatch(e.Field, v, "any")
	}
	return false, fmt.Errorf("odata: cannot evaluate operator %q", e.Op)
}

// equal compares a property value (already normalised by asInt64) with a literal.
func equal(field string, v any, lit Value) (bool, error) {
	if g, ok := v.(GuidProp); ok {
		switch lit.Kind {
		case Null:
			return g.Null, nil
		case Guid:
			return !g.Null && asciiEqualFold(g.S, lit.Str), nil
		}
		return false, incompatible("Edm.Guid", edmOfLiteral(lit))
	}
	if lit.Kind == Guid {
		return false, incompatible(edmOf(v), "Edm.Guid")
	}
	if lit.Kind == Null {
		if _, isColl := v.([]string); isColl {
			return false, mismatch(field, v, "null")
		}
		return v == nil, nil
	}
	if v == nil {
		return false, nil
	}
	switch lit.Kind {
	case String:
		if s, ok := v.(string); ok {
			if guid.Valid(lit.Str) {
				return asciiEqualFold(s, lit.Str), nil
			}
			return s == lit.Str, nil
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b == lit.Bool, nil
		}
	case Int:
		if n, ok := v.(int64); ok {
			return n == lit.Int, nil
		}
	default:
		return false, fmt.Errorf("odata: literal of %s", lit.Kind)
	}
	return false, mismatch(field, v, lit.String())
}

// incompatible is Graph's error for an Edm.Guid property compared with a literal of another type,
// or a GUID literal with a property of another type.
func incompatible(property, literal string) error {
	return errs.E(errs.Invalid, "A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind 'Equal'.", property, literal)
}

// edmOf names the Edm type of a property value a getter returns.
func edmOf(v any) string {
	switch v.(type) {
	case bool:
		return "Edm.Boolean"
	case int64:
		return "Edm.Int64"
	case []string:
		return "Collection(Edm.String)"
	}
	return "Edm.String" // strings, and null ones
}

// edmOfLiteral names the Edm type of a literal that is not a GUID or null.
func edmOfLiteral(lit Value) string {
	switch lit.Kind {
	case Bool:
		return "Edm.Boolean"
	case Int:
		return "Edm.Int64"
	}
	return "Edm.String"
}

// mismatch is the error for a property compared with something of another type. A Go type get
// is not supposed to return is the caller's bug, not the API caller's: an internal error.
func mismatch(field string, v any, with string) error {
	var kind string
	switch v.(type) {
	case string:
		kind = "a string"
	case bool:
		kind = "a boolean"
	case int64:
		kind = "an integer"
	case []string:
		kind = "a collection"
	case GuidProp:
		kind = "a GUID"
	default:
		return fmt.Errorf("odata: property %q has unsupported type %T", field, v)
	}
	if with == "startswith" || with == "any" {
		return errs.E(errs.Invalid, "Invalid filter clause: property '%s' is %s and cannot be used with %s.", field, kind, with)
	}
	return errs.E(errs.Invalid, "Invalid filter clause: property '%s' is %s and cannot be compared with %s.", field, kind, with)
}

func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	}
	return 0, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasPrefixFold reports whether s starts with prefix under Unicode simple case folding, rune by
// rune (so that a folded rune of another byte length still lines up).
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		r1, n1 := utf8.DecodeRuneInString(s)
		r2, n2 := utf8.DecodeRuneInString(prefix)
		if r1 != r2 && !strings.EqualFold(s[:n1], prefix[:n2]) {
			return false
		}
		s, prefix = s[n1:], prefix[n2:]
	}
	return true
}

// FoldKey maps s to the form in which startswith compares it: each rune replaced by the least
// rune of its Unicode simple case folding orbit (so 'a', 'A' become 'A'; 'k', 'K' and the Kelvin
// sign become 'K'), invalid UTF-8 by U+FFFD. hasPrefixFold(s, p) holds exactly when
// FoldKey(s) starts with FoldKey(p), so a store can keep FoldKey of a property in an index and
// answer startswith with a range scan (Lanyard's; Graph does not say how it indexes).
func FoldKey(s string) string {
	return strings.Map(foldRune, s)
}

func foldRune(r rune) rune {
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return least
}

// PrefixEnd returns the least string greater than every string that starts with the valid
// UTF-8 prefix p, in code point (and so UTF-8 byte) order, and false when there is none (p is
// empty or all U+10FFFF): the exclusive upper bound of a range scan for the prefix.
func PrefixEnd(p string) (string, bool) {
	rs := []rune(p)
	for len(rs) > 0 {
		last := rs[len(rs)-1]
		rs = rs[:len(rs)-1]
		if last == unicode.MaxRune {
			continue
		}
		next := last + 1
		if next == 0xD800 { // surrogates are not runes of a valid UTF-8 string
			next = 0xE000
		}
		return string(append(rs, next)), true
	}
	return "", false
}
