package functions

import (
	"encoding/json"

	"github.com/lanyardhq/lanyard/internal/jsonx"
)

// appendJSON appends v as JSON. The values the host builds for an invocation (strings, maps of
// strings and of string slices, nested maps and slices of any) are written directly, which
// spares encoding/json's reflection and its sorting of map keys on every invocation; anything
// else goes through encoding/json. Object keys come in map order (JSON objects are unordered).
// Strings are escaped as encoding/json does, except that <, > and & are left as they are (no
// HTML is involved).
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return jsonx.AppendString(b, x), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case map[string]any:
		return appendObject(b, x, appendJSON)
	case map[string]string:
		return appendObject(b, x, func(b []byte, e string) ([]byte, error) { return jsonx.AppendString(b, e), nil })
	case map[string][]string:
		return appendObject(b, x, func(b []byte, e []string) ([]byte, error) { return appendStrings(b, e), nil })
	case []string:
		return appendStrings(b, x), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	}
	m, err := json.Marshal(v)
	return append(b, m...), err
}

// appendObject appends m as a JSON object, each value by appendValue.
func appendObject[V any](b []byte, m map[string]V, appendValue func([]byte, V) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	first := true
	for k, e := range m {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonx.AppendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, e); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func appendStrings(b []byte, x []string) []byte {
	if x == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, e := range x {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, e)
	}
	return append(b, ']')
}
