package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"
	"unicode/utf8"

	"github.com/jmespath-community/go-jmespath"
	"github.com/jmespath-community/go-jmespath/pkg/parsing"
)

// Output formats, as az names them.
var outputFormats = []string{"json", "jsonc", "tsv", "table", "none"}

// output renders what a command returns: a JMESPath --query first, then one of the formats.
// Objects keep their keys in the order the server sent them.
type output struct {
	format string
	query  string
	jp     jmespath.JMESPath
	hashes [][]string // key lists of the query's multi-select hashes, to order the objects they make
}

// newOutput checks a format and compiles a query.
func newOutput(format, query string) (*output, error) {
	if format == "" {
		format = "json"
	}
	if !slices.Contains(outputFormats, format) {
		return nil, fmt.Errorf("unknown output format %q: use one of %s", format, strings.Join(outputFormats, ", "))
	}
	o := &output{format: format, query: query}
	if query == "" {
		return o, nil
	}
	ast, err := jmespath.NewParser().Parse(query)
	if err != nil {
		return nil, fmt.Errorf("--query %q is not a JMESPath expression: %w", query, err)
	}
	if o.jp, err = jmespath.Compile(query); err != nil {
		return nil, fmt.Errorf("--query %q is not a JMESPath expression: %w", query, err)
	}
	o.hashes = hashKeys(ast, nil)
	return o, nil
}

// hashKeys collects the key lists of every multi-select hash ({a: x, b: y}) in a query.
func hashKeys(n parsing.ASTNode, acc [][]string) [][]string {
	if n.NodeType == parsing.ASTMultiSelectHash {
		var keys []string
		for _, c := range n.Children {
			if k, ok := c.Value.(string); ok {
				keys = append(keys, k)
			}
		}
		acc = append(acc, keys)
	}
	for _, c := range n.Children {
		acc = hashKeys(c, acc)
	}
	return acc
}

// print renders v, a value that encodes to JSON (json.RawMessage is taken as is).
func (o *output) print(w io.Writer, v any) error {
	var data []byte
	switch v := v.(type) {
	case json.RawMessage:
		data = v
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		data = buf.Bytes()
	}
	doc, err := decodeOrdered(data)
	if err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	if o.jp != nil {
		res, err := o.jp.Search(toPlain(doc))
		if err != nil {
			return fmt.Errorf("--query: %w", err)
		}
		doc = o.fromPlain(res, keyRanks(doc))
	}
	if doc == nil {
		return nil // like az: a null result prints nothing
	}
	var b bytes.Buffer
	switch o.format {
	case "json":
		writeJSON(&b, doc, "", false)
		b.WriteByte('\n')
	case "jsonc":
		writeJSON(&b, doc, "", true)
		b.WriteByte('\n')
	case "tsv":
		writeTSV(&b, doc)
	case "table":
		writeTable(&b, doc)
	case "none":
	}
	_, err = w.Write(b.Bytes())
	return err
}

// object is a JSON object with its keys in order.
type object []member

type member struct {
	key string
	val any
}

func (o object) get(k string) (any, bool) {
	for _, m := range o {
		if m.key == k {
			return m.val, true
		}
	}
	return nil, false
}

// decodeOrdered decodes one JSON value: objects as object, arrays as []any, numbers as
// json.Number, and strings, booleans and null as encoding/json does.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := object{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				if i := slices.IndexFunc(obj, func(m member) bool { return m.key == k }); i >= 0 {
					obj[i].val = v // the last of duplicate keys wins, as in encoding/json
				} else {
					obj = append(obj, member{k, v})
				}
			}
			_, err := dec.Token() // }
			return obj, err
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token() // ]
			return arr, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return tok, nil
	}
}

// toPlain converts an ordered value to what JMESPath evaluates: maps and float64 numbers.
func toPlain(v any) any {
	switch v := v.(type) {
	case object:
		m := make(map[string]any, len(v))
		for _, e := range v {
			m[e.key] = toPlain(e.val)
		}
		return m
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = toPlain(e)
		}
		return out
	case json.Number:
		f, _ := v.Float64()
		return f
	}
	return v
}

// keyRanks numbers the keys of a document in the order they first appear.
func keyRanks(v any) map[string]int {
	ranks := map[string]int{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case object:
			for _, m := range v {
				if _, ok := ranks[m.key]; !ok {
					ranks[m.key] = len(ranks)
				}
				walk(m.val)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return ranks
}

// fromPlain converts a query result back to an ordered value. An object whose keys are exactly
// those of one of the query's multi-select hashes takes that hash's order; any other takes the
// order its keys had in the document (keys the document did not have go last, sorted).
func (o *output) fromPlain(v any, ranks map[string]int) any {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		if order := o.hashOrder(keys); order != nil {
			keys = order
		} else {
			slices.SortFunc(keys, func(a, b string) int {
				ra, oka := ranks[a]
				rb, okb := ranks[b]
				switch {
				case oka && okb:
					return ra - rb
				case oka:
					return -1
				case okb:
					return 1
				}
				return strings.Compare(a, b)
			})
		}
		obj := make(object, 0, len(keys))
		for _, k := range keys {
			obj = append(obj, member{k, o.fromPlain(v[k], ranks)})
		}
		return obj
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = o.fromPlain(e, ranks)
		}
		return out
	case float64:
		return json.Number(strconv.FormatFloat(v, 'f', -1, 64))
	case int:
		return json.Number(strconv.Itoa(v))
	}
	return v
}

func (o *output) hashOrder(keys []string) []string {
	for _, h := range o.hashes {
		if len(h) != len(keys) {
			continue
		}
		match := true
		for _, k := range h {
			if !slices.Contains(keys, k) {
				match = false
				break
			}
		}
		if match {
			return slices.Clone(h)
		}
	}
	return nil
}

// Colours of jsonc.
const (
	colorKey    = "\x1b[94m"
	colorString = "\x1b[32m"
	colorNumber = "\x1b[36m"
	colorLit    = "\x1b[95m"
	colorReset  = "\x1b[0m"
)

// writeJSON writes v indented by two spaces, without HTML escaping, optionally coloured.
func writeJSON(b *bytes.Buffer, v any, indent string, color bool) {
	paint := func(c, s string) {
		if color {
			b.WriteString(c)
			b.WriteString(s)
			b.WriteString(colorReset)
			return
		}
		b.WriteString(s)
	}
	switch v := v.(type) {
	case object:
		if len(v) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i, m := range v {
			b.WriteString(indent + "  ")
			paint(colorKey, jsonString(m.key))
			b.WriteString(": ")
			writeJSON(b, m.val, indent+"  ", color)
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, e := range v {
			b.WriteString(indent + "  ")
			writeJSON(b, e, indent+"  ", color)
			if i < len(v)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case string:
		paint(colorString, jsonString(v))
	case json.Number:
		paint(colorNumber, string(v))
	case bool:
		paint(colorLit, strconv.FormatBool(v))
	case nil:
		paint(colorLit, "null")
	default:
		paint(colorLit, fmt.Sprint(v))
	}
}

// compactJSON renders a nested value on one line, for tsv and table cells.
func compactJSON(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case object:
			b.WriteByte('{')
			for i, m := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(jsonString(m.key))
				b.WriteByte(':')
				walk(m.val)
			}
			b.WriteByte('}')
		case []any:
			b.WriteByte('[')
			for i, e := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				walk(e)
			}
			b.WriteByte(']')
		case string:
			b.WriteString(jsonString(v))
		default:
			b.WriteString(scalarText(v))
		}
	}
	walk(v)
	return b.String()
}

func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// scalarText is a scalar as tsv and table print it: strings as they are, null as nothing.
func scalarText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	case object, []any:
		return compactJSON(v)
	}
	return fmt.Sprint(v)
}

// writeTSV writes az's tsv: a list is one line per element, anything else one line; a line of an
// object is its values in key order, of a list its elements, tab-separated; nested objects and
// lists are compact JSON.
func writeTSV(b *bytes.Buffer, v any) {
	rows, ok := v.([]any)
	if !ok {
		rows = []any{v}
	}
	for _, row := range rows {
		var cells []any
		switch r := row.(type) {
		case object:
			for _, m := range r {
				cells = append(cells, m.val)
			}
		case []any:
			cells = r
		default:
			cells = []any{r}
		}
		for i, c := range cells {
			if i > 0 {
				b.WriteByte('\t')
			}
			b.WriteString(scalarText(c))
		}
		b.WriteByte('\n')
	}
}

// writeTable writes an aligned table: the columns are the scalar fields of the first object
// (headers capitalised as az does), one row per element of a list; a list of scalars, or a
// scalar, is one "Result" column.
func writeTable(b *bytes.Buffer, v any) {
	rows, ok := v.([]any)
	if !ok {
		rows = []any{v}
	}
	if len(rows) == 0 {
		return
	}
	var cols []string
	first, isObj := rows[0].(object)
	if isObj {
		for _, m := range first {
			switch m.val.(type) {
			case object, []any:
			default:
				cols = append(cols, m.key)
			}
		}
	}
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = capitalize(c)
	}
	var cells [][]string
	if !isObj {
		headers = []string{"Result"}
	}
	for _, row := range rows {
		var line []string
		if !isObj {
			line = []string{cellText(row)}
		} else {
			obj, _ := row.(object)
			for _, c := range cols {
				val, _ := obj.get(c)
				line = append(line, cellText(val))
			}
		}
		cells = append(cells, line)
	}
	if len(headers) == 0 {
		return // objects without a scalar field
	}
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = utf8.RuneCountInString(h)
		for _, line := range cells {
			widths[i] = max(widths[i], utf8.RuneCountInString(line[i]))
		}
	}
	var tb bytes.Buffer
	tw := tabwriter.NewWriter(&tb, 0, 0, 2, ' ', 0)
	writeRow := func(fields []string) {
		fmt.Fprintln(tw, strings.Join(fields, "\t"))
	}
	writeRow(headers)
	dashes := make([]string, len(widths))
	for i, w := range widths {
		dashes[i] = strings.Repeat("-", w)
	}
	writeRow(dashes)
	for _, line := range cells {
		writeRow(line)
	}
	_ = tw.Flush()
	// tabwriter pads a last column whose cell is shorter than its header; keep lines clean.
	for _, line := range strings.SplitAfter(tb.String(), "\n") {
		if line != "" {
			b.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
}

// cellText is a table cell: one line, no tabs.
func cellText(v any) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, scalarText(v))
}

// capitalize makes displayName DisplayName, as az's table headers.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
