package odata

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/lanyardhq/lanyard/internal/errs"
	"github.com/lanyardhq/lanyard/internal/guid"
)

// Limits of a $filter, checked by ParseFilter.
const (
	MaxFilterLen   = 2048 // characters
	MaxFilterDepth = 32   // nested parentheses
	MaxFilterTerms = 64   // conditions (eq, ne, in, startswith, any)
	MaxInValues    = 15   // values of one in (...)
)

// ParseFilter parses a $filter expression (already percent-decoded). It accepts
//
//	field eq literal, field ne literal
//	field in (literal, ...)             1 to 15 literals
//	startswith(field, 'prefix')         the function name in any case
//	collection/any(x:x eq 'literal')
//	a and b, a or b, (a)                and binds tighter than or
//
// where literals are 'strings' (a quote inside doubled), true, false, null, decimal integers and
// unquoted GUIDs (Graph's literal for Edm.Guid properties), and
// a field is a property name or a path of them ("info/x"), kept as written. Operators and keywords
// are case-insensitive; eq, ne, in, and and or need spaces around them, as OData requires. Anything
// else (not, gt, lt, endswith, contains, arithmetic, ...) is an errs.Invalid error
// that names the offending token and its position (counted in characters from 1).
func ParseFilter(s string) (*Expr, error) {
	if !utf8.ValidString(s) {
		return nil, errs.E(errs.Invalid, "Invalid filter clause: the filter is not valid UTF-8.")
	}
	if n := utf8.RuneCountInString(s); n > MaxFilterLen {
		return nil, errs.E(errs.Invalid, "Invalid filter clause: the filter is %d characters long; the limit is %d.", n, MaxFilterLen)
	}
	return parseFilter(s)
}

// parseFilter parses s without the length limit, which the fuzz test needs to check that the
// canonical form of any accepted filter parses back.
func parseFilter(s string) (*Expr, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{src: s, toks: toks}
	if p.peek().kind == tEOF {
		return nil, errs.E(errs.Invalid, "Invalid filter clause: the filter is empty.")
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.afterCondition(t, "'and', 'or' or the end of the filter")
	}
	return e, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tLParen
	tRParen
	tComma
	tColon
)

type token struct {
	kind tokKind
	text string // a word as written; a string literal unescaped
	pos  int    // byte offset in the source
	ws   bool   // preceded by white space (or at the start)
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tWord:
		return "'" + clip(t.text) + "'"
	case tString:
		return "string literal"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tComma:
		return "','"
	case tColon:
		return "':'"
	}
	return "token"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// lex splits s into tokens. A word is a run of anything but white space, parentheses, commas,
// colons and quotes; the parser decides whether it is a keyword, a name or a number.
func lex(s string) ([]token, error) {
	toks := make([]token, 0, 8)
	ws := true
	for i := 0; i < len(s); {
		c := s[i]
		if isSpace(c) {
			ws = true
			i++
			continue
		}
		t := token{pos: i, ws: ws}
		ws = false
		switch c {
		case '(':
			t.kind, i = tLParen, i+1
		case ')':
			t.kind, i = tRParen, i+1
		case ',':
			t.kind, i = tComma, i+1
		case ':':
			t.kind, i = tColon, i+1
		case '\'':
			text, n, ok := scanString(s[i:])
			if !ok {
				return nil, errs.E(errs.Invalid, "Invalid filter clause at position %d: unterminated string literal.", runePos(s, i))
			}
			t.kind, t.text, i = tString, text, i+n
		default:
			j := i
			for j < len(s) && !isSpace(s[j]) && !strings.ContainsRune("(),:'", rune(s[j])) {
				j++
			}
			t.kind, t.text, i = tWord, s[i:j], j
		}
		toks = append(toks, t)
	}
	return append(toks, token{kind: tEOF, pos: len(s), ws: ws}), nil
}

// clip shortens what an error message quotes back to the caller.
func clip(s string) string {
	const max = 80
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max]) + "…"
}

// scanString reads the single-quoted literal at the start of s, a quote inside doubled, and
// returns its value and length.
func scanString(s string) (text string, n int, ok bool) {
	var b strings.Builder
	j := 1
	for {
		k := strings.IndexByte(s[j:], '\'')
		if k < 0 {
			return "", 0, false
		}
		if j+k+1 < len(s) && s[j+k+1] == '\'' {
			b.WriteString(s[j : j+k+1])
			j += k + 2
			continue
		}
		if b.Len() == 0 {
			return s[j : j+k], j + k + 1, true // no doubled quote: no copy
		}
		b.WriteString(s[j : j+k])
		return b.String(), j + k + 1, true
	}
}

func runePos(s string, off int) int { return utf8.RuneCountInString(s[:off]) + 1 }

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
	terms int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return errs.E(errs.Invalid, "Invalid filter clause at position %d: %s.", runePos(p.src, t.pos), fmt.Sprintf(format, args...))
}

// afterCondition is the error for a token that cannot follow a complete condition, where
// wanted lists what could.
func (p *parser) afterCondition(t token, wanted string) error {
	if t.kind == tWord && unsupportedOps[strings.ToLower(t.text)] {
		return p.errorf(t, "operator '%s' is not supported", t.text)
	}
	return p.errorf(t, "unexpected %s; expected %s", t, wanted)
}

// keyword reports whether t is the word kw in any case.
func keyword(t token, kw string) bool { return t.kind == tWord && strings.EqualFold(t.text, kw) }

// binary consumes the operator word kw if it comes next, checking the white space OData requires
// before it and, unless spaceAfterOptional, after it.
func (p *parser) binary(kw string, spaceAfterOptional bool) (bool, error) {
	t := p.peek()
	if !keyword(t, kw) {
		return false, nil
	}
	if !t.ws {
		return false, p.errorf(t, "expected a space before '%s'", t.text)
	}
	p.next()
	if n := p.peek(); !n.ws && !spaceAfterOptional && n.kind != tEOF {
		return false, p.errorf(n, "expected a space after '%s'", t.text)
	}
	return true, nil
}

func (p *parser) or() (*Expr, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for {
		ok, err := p.binary(OpOr, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			return left, nil
		}
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = &Expr{Op: OpOr, Left: left, Right: right}
	}
}

func (p *parser) and() (*Expr, error) {
	left, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		ok, err := p.binary(OpAnd, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			return left, nil
		}
		right, err := p.primary()
		if err != nil {
			return nil, err
		}
		left = &Expr{Op: OpAnd, Left: left, Right: right}
	}
}

// unsupportedOps are the OData operators Lanyard does not implement, named in the error.
var unsupportedOps = map[string]bool{
	"gt": true, "ge": true, "lt": true, "le": true, "has": true,
	"add": true, "sub": true, "mul": true, "div": true, "divby": true, "mod": true,
}

func (p *parser) primary() (*Expr, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		if p.depth++; p.depth > MaxFilterDepth {
			return nil, p.errorf(t, "parentheses are nested more than %d deep", MaxFilterDepth)
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.afterCondition(c, fmt.Sprintf("'and', 'or' or ')' to close the '(' at position %d", runePos(p.src, t.pos)))
		}
		p.depth--
		return e, nil
	case tWord:
	case tEOF:
		return nil, p.errorf(t, "unexpected end of filter; expected a condition")
	default:
		return nil, p.errorf(t, "unexpected %s; expected a condition", t)
	}
	if keyword(t, "not") {
		return nil, p.errorf(t, "operator '%s' is not supported", t.text)
	}
	if p.terms++; p.terms > MaxFilterTerms {
		return nil, p.errorf(t, "the filter has more than %d conditions", MaxFilterTerms)
	}
	p.next()
	if p.peek().kind == tLParen {
		return p.call(t)
	}
	if !isPath(t.text) {
		if _, lit := wordLiteral(t.text); lit {
			return nil, p.errorf(t, "a condition must start with a property name, not %s", t)
		}
		return nil, p.errorf(t, "%s is not a valid property name", t)
	}
	op := p.peek()
	switch {
	case keyword(op, OpEq), keyword(op, OpNe):
		if _, err := p.binary(op.text, false); err != nil {
			return nil, err
		}
		v, err := p.literal(op.text)
		if err != nil {
			return nil, err
		}
		return &Expr{Op: strings.ToLower(op.text), Field: t.text, Value: v}, nil
	case keyword(op, OpIn):
		if _, err := p.binary(op.text, true); err != nil {
			return nil, err
		}
		vs, err := p.list()
		if err != nil {
			return nil, err
		}
		return &Expr{Op: OpIn, Field: t.text, Values: vs}, nil
	case op.kind == tWord && unsupportedOps[strings.ToLower(op.text)]:
		return nil, p.errorf(op, "operator '%s' is not supported", op.text)
	case op.kind == tEOF:
		return nil, p.errorf(op, "expected an operator after '%s'", clip(t.text))
	}
	return nil, p.errorf(op, "unexpected %s; expected 'eq', 'ne' or 'in' after '%s'", op, clip(t.text))
}

// call parses what follows name when the next token is '(': startswith(...) or a lambda.
func (p *parser) call(name token) (*Expr, error) {
	open := p.next()
	if i := strings.LastIndexByte(name.text, '/'); i >= 0 {
		coll, fn := name.text[:i], name.text[i+1:]
		switch {
		case strings.EqualFold(fn, OpAny) && isPath(coll):
			return p.lambda(coll, open)
		case strings.EqualFold(fn, "all") && isPath(coll):
			return nil, p.errorf(name, "lambda operator 'all' is not supported")
		}
		return nil, p.errorf(name, "function '%s' is not supported", clip(name.text))
	}
	if !strings.EqualFold(name.text, OpStartsWith) {
		if keyword(name, OpAnd) || keyword(name, OpOr) || keyword(name, OpEq) || keyword(name, OpNe) || keyword(name, OpIn) {
			return nil, p.errorf(name, "unexpected %s; expected a condition", name)
		}
		return nil, p.errorf(name, "function '%s' is not supported", clip(name.text))
	}
	f := p.next()
	if f.kind != tWord || !isPath(f.text) {
		return nil, p.errorf(f, "unexpected %s; the first argument of %s must be a property name", f, name.text)
	}
	if c := p.next(); c.kind != tComma {
		return nil, p.errorf(c, "unexpected %s; %s takes two arguments", c, name.text)
	}
	v := p.next()
	if v.kind != tString {
		return nil, p.errorf(v, "unexpected %s; the second argument of %s must be a string literal", v, name.text)
	}
	if c := p.next(); c.kind != tRParen {
		return nil, p.errorf(c, "unexpected %s; expected ')' to close %s", c, name.text)
	}
	return &Expr{Op: OpStartsWith, Field: f.text, Value: Value{Kind: String, Str: v.text}}, nil
}

// lambda parses the body of coll/any( ... ): exactly "v:v eq 'literal'".
func (p *parser) lambda(coll string, open token) (*Expr, error) {
	const form = "only the form collection/any(x:x eq 'value') is supported"
	v := p.next()
	if v.kind != tWord || !isName(v.text) {
		return nil, p.errorf(v, "unexpected %s; %s", v, form)
	}
	if c := p.next(); c.kind != tColon {
		return nil, p.errorf(c, "unexpected %s; %s", c, form)
	}
	ref := p.next()
	if ref.kind != tWord || ref.text != v.text {
		return nil, p.errorf(ref, "unexpected %s; %s", ref, form)
	}
	op := p.peek()
	if !keyword(op, OpEq) {
		return nil, p.errorf(op, "unexpected %s; %s", op, form)
	}
	if _, err := p.binary(op.text, false); err != nil {
		return nil, err
	}
	lit := p.peek()
	if lit.kind != tString {
		return nil, p.errorf(lit, "unexpected %s; %s", lit, form)
	}
	p.next()
	if c := p.next(); c.kind != tRParen {
		return nil, p.errorf(c, "unexpected %s; expected ')' to close the '(' at position %d", c, runePos(p.src, open.pos))
	}
	return &Expr{Op: OpAny, Field: coll, Value: Value{Kind: String, Str: lit.text}}, nil
}

// list parses ( literal, ... ) after in.
func (p *parser) list() ([]Value, error) {
	open := p.next()
	if open.kind != tLParen {
		return nil, p.errorf(open, "unexpected %s; expected '(' after 'in'", open)
	}
	var vs []Value
	for {
		if len(vs) == MaxInValues {
			return nil, p.errorf(p.peek(), "'in' accepts at most %d values", MaxInValues)
		}
		v, err := p.literal("in")
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
		switch c := p.next(); c.kind {
		case tComma:
		case tRParen:
			return vs, nil
		default:
			return nil, p.errorf(c, "unexpected %s; expected ',' or ')' in the list of 'in'", c)
		}
	}
}

// literal parses the literal that follows the operator after.
func (p *parser) literal(after string) (Value, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return Value{Kind: String, Str: t.text}, nil
	case tWord:
		if v, ok := wordLiteral(t.text); ok {
			if v.Kind == Int && v.Str != "" {
				return Value{}, p.errorf(t, "integer %s is out of range", t)
			}
			return v, nil
		}
		if guid.Valid(t.text) {
			return Value{Kind: Guid, Str: t.text}, nil
		}
		if isPath(t.text) {
			return Value{}, p.errorf(t, "%s is not a literal; comparing two properties is not supported, and strings must be quoted", t)
		}
		return Value{}, p.errorf(t, "%s is not a supported literal (a quoted string, true, false, null, an integer or a GUID)", t)
	}
	return Value{}, p.errorf(t, "unexpected %s; expected a literal after '%s'", t, after)
}

// wordLiteral classifies an unquoted literal. An integer that does not fit in an int64 comes back
// with ok set and a non-empty Str, so the caller can report it.
func wordLiteral(w string) (v Value, ok bool) {
	switch {
	case strings.EqualFold(w, "true"):
		return Value{Kind: Bool, Bool: true}, true
	case strings.EqualFold(w, "false"):
		return Value{Kind: Bool}, true
	case strings.EqualFold(w, "null"):
		return Value{Kind: Null}, true
	}
	digits := strings.TrimPrefix(w, "-")
	if digits == "" {
		return Value{}, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return Value{}, false
		}
	}
	n, err := strconv.ParseInt(w, 10, 64)
	if err != nil {
		return Value{Kind: Int, Str: w}, true
	}
	return Value{Kind: Int, Int: n}, true
}

// isName reports whether s is an identifier: a letter or '_', then letters, digits and '_'.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// isPath reports whether s is a property name or a '/'-separated path of them, and not a keyword
// that would read differently where a property is expected.
func isPath(s string) bool {
	for _, seg := range strings.Split(s, "/") {
		if !isName(seg) {
			return false
		}
	}
	if _, lit := wordLiteral(s); lit {
		return false
	}
	return !strings.EqualFold(s, "not")
}
