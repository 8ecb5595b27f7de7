package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// Duration is a time.Duration written as a Go duration string ("90m", "1h30m") in YAML and in
// the environment.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 1h, got a %s", n.Line, kindName(n))
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*d = v
	return nil
}

func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write it like 90m or 1h30m)", s)
	}
	return Duration(d), nil
}

// maxDepth bounds the nesting decode walks (Lanyard's configuration is two levels deep), and
// maxNodes the nodes it visits, so that aliases and merges cannot make it work exponentially.
const (
	maxDepth = 16
	maxNodes = 10000
)

var (
	durationType = reflect.TypeFor[Duration]()
	yamlLine     = regexp.MustCompile(`^line (\d+): `)
)

// decode applies the YAML document data, read from file, to c. It is strict: an unknown key at
// any depth, a value of the wrong shape, a duplicate key or a second document is an error naming
// the key, the file and the line. Keys absent from the document leave c's values alone.
func decode(file string, data []byte, c *Config) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return nil // an empty file
	} else if err != nil {
		return errs.E(errs.Invalid, "%s", located(file, err.Error()))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errs.E(errs.Invalid, "%s:%d: a configuration file holds one YAML document", file, extra.Line)
	}
	if c.origin == nil {
		c.origin = map[string]string{}
	}
	w := &walker{file: file, origin: c.origin, budget: maxNodes}
	if err := w.check("", &root, reflect.TypeFor[Config](), 0); err != nil {
		return err
	}
	// The walk above explains problems well; KnownFields(true) is the decoder's own guarantee
	// that nothing was skipped.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(c); err != nil {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		return errs.E(errs.Invalid, "%s", located(file, msg))
	}
	return nil
}

// located turns a YAML error message "yaml: line N: msg" into "file:N: msg".
func located(file, msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return file + ":" + m[1] + ": " + msg[len(m[0]):]
	}
	return file + ": " + msg
}

// walker checks a YAML tree against the configuration's type.
type walker struct {
	file   string
	origin map[string]string // where each leaf is set
	budget int               // nodes left to visit
}

// check walks n against the type t of the value at path, recording where each leaf is set.
func (w *walker) check(path string, n *yaml.Node, t reflect.Type, depth int) error {
	file, origin := w.file, w.origin
	if depth > maxDepth {
		return errs.E(errs.Invalid, "%s:%d: %s: nested too deeply", file, n.Line, display(path))
	}
	if w.budget--; w.budget < 0 {
		return errs.E(errs.Invalid, "%s:%d: %s: too many nodes once aliases are expanded", file, n.Line, display(path))
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return w.check(path, n.Content[0], t, depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return errs.E(errs.Invalid, "%s:%d: %s: unknown alias", file, n.Line, display(path))
		}
		return w.check(path, n.Alias, t, depth+1)
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with no value keeps the default
	}
	where := func(n *yaml.Node) string { return fmt.Sprintf("%s:%d", file, n.Line) }
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return errs.E(errs.Invalid, "%s: %s: want a mapping of %s, got a %s", where(n), display(path), strings.Join(keysOf(t), ", "), kindName(n))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
				if err := w.checkMerge(path, v, t, depth+1); err != nil {
					return err
				}
				continue
			}
			if k.Kind != yaml.ScalarNode {
				return errs.E(errs.Invalid, "%s: %s: a key must be a plain name, got a %s", where(k), display(path), kindName(k))
			}
			full := join(path, k.Value)
			if line, dup := seen[k.Value]; dup {
				return errs.E(errs.Invalid, "%s: key %q repeated (first at line %d)", where(k), full, line)
			}
			seen[k.Value] = k.Line
			f, ok := fieldByKey(t, k.Value)
			if !ok {
				if full == "kek" {
					return errs.E(errs.Invalid, "%s: key \"kek\" is not allowed in a file: give the key-encryption key as kek_file or in LANYARD_KEK", where(k))
				}
				return errs.E(errs.Invalid, "%s: unknown key %q (known keys%s: %s)", where(k), full, inPath(path), strings.Join(keysOf(t), ", "))
			}
			if err := w.check(full, v, f.Type, depth+1); err != nil {
				return err
			}
		}
		return nil
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return errs.E(errs.Invalid, "%s: %s: want a duration such as 1h, got a %s", where(n), display(path), kindName(n))
		}
		if _, err := parseDuration(n.Value); err != nil {
			return errs.E(errs.Invalid, "%s: %s: %v", where(n), display(path), err)
		}
	case t.Kind() == reflect.Int || t.Kind() == reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && (t.Kind() == reflect.Int || n.Tag != "!!float")) {
			want := "a whole number"
			if t.Kind() == reflect.Float64 {
				want = "a number"
			}
			got := "a " + kindName(n)
			if n.Kind == yaml.ScalarNode {
				got = fmt.Sprintf("%q", n.Value)
			}
			return errs.E(errs.Invalid, "%s: %s: want %s, got %s", where(n), display(path), want, got)
		}
	case t.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			got := "a " + kindName(n)
			if n.Kind == yaml.ScalarNode {
				got = fmt.Sprintf("%q", n.Value)
			}
			return errs.E(errs.Invalid, "%s: %s: want true or false, got %s", where(n), display(path), got)
		}
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			return errs.E(errs.Invalid, "%s: %s: want a string, got a %s", where(n), display(path), kindName(n))
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		if n.Kind != yaml.SequenceNode {
			return errs.E(errs.Invalid, "%s: %s: want a list of strings, got a %s", where(n), display(path), kindName(n))
		}
		for i, e := range n.Content {
			if e.Kind == yaml.AliasNode && e.Alias != nil {
				e = e.Alias
			}
			if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
				return errs.E(errs.Invalid, "%s: %s[%d]: want a string, got a %s", where(e), display(path), i, kindName(e))
			}
		}
	default:
		return errs.E(errs.Invalid, "%s: %s: unsupported field type %s", where(n), display(path), t)
	}
	origin[path] = where(n)
	return nil
}

// checkMerge checks the value of a "<<" merge key: a mapping or a list of mappings.
func (w *walker) checkMerge(path string, v *yaml.Node, t reflect.Type, depth int) error {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			if err := w.check(path, e, t, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return w.check(path, v, t, depth+1)
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range fields(t) {
		if yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func keysOf(t reflect.Type) []string {
	var keys []string
	for f := range fields(t) {
		keys = append(keys, yamlKey(f))
	}
	slices.Sort(keys)
	return keys
}

// fields yields the exported fields of t that YAML reads.
func fields(t reflect.Type) func(func(reflect.StructField) bool) {
	return func(yield func(reflect.StructField) bool) {
		for f := range t.Fields() {
			if !f.IsExported() || yamlKey(f) == "-" {
				continue
			}
			if !yield(f) {
				return
			}
		}
	}
}

func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func display(path string) string {
	if path == "" {
		return "the document"
	}
	return path
}

func inPath(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return "scalar"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}
