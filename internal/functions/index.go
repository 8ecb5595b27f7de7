package functions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Indexing host.json and the function folders (functions.md §1). The messages are Azure's where
// §1 gives them.

// hostConfig is what the host reads from host.json.
type hostConfig struct {
	routePrefix string
	timeout     time.Duration // 0: unbounded ("-1")
	handler     *handlerConfig
}

// handlerConfig is host.json's customHandler (or legacy httpWorker) section.
type handlerConfig struct {
	executable string   // defaultExecutablePath as written
	args       []string // arguments, %SETTING% expanded
	workDir    string   // absolute
	forward    bool     // enableForwardingHttpRequest
}

const (
	defaultFunctionTimeout = 30 * time.Minute // App Service plans' default (§1.1); Lanyard is one
	minFunctionTimeout     = time.Second
	maxFunctionTimeout     = 24 * time.Hour // Lanyard's own bound (Azure's dedicated plans have none but -1)
)

type rawHost struct {
	Version         *string `json:"version"`
	FunctionTimeout *string `json:"functionTimeout"`
	Extensions      struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
	} `json:"extensions"`
	CustomHandler *rawHandler `json:"customHandler"`
	HTTPWorker    *rawHandler `json:"httpWorker"`
}

type rawHandler struct {
	Description struct {
		DefaultExecutablePath string   `json:"defaultExecutablePath"`
		DefaultWorkerPath     string   `json:"defaultWorkerPath"`
		Arguments             []string `json:"arguments"`
		WorkerArguments       []string `json:"workerArguments"`
		WorkingDirectory      string   `json:"workingDirectory"`
	} `json:"description"`
	EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
}

// parseHostJSON reads host.json; root is the script root, lookup resolves %SETTING%.
func parseHostJSON(data []byte, root string, lookup func(string) (string, bool)) (*hostConfig, []string, error) {
	var raw rawHost
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, nil, fmt.Errorf("host.json: %v", err)
	}
	var warnings []string
	if raw.Version == nil {
		return nil, nil, fmt.Errorf("host.json: version: The host.json file is missing the required 'version' property. See https://aka.ms/functions-hostjson for steps to migrate the configuration file.")
	}
	if *raw.Version != "2.0" {
		return nil, nil, fmt.Errorf("host.json: version: '%s' is an invalid value for host.json 'version' property. This value must be '2.0'.", *raw.Version)
	}
	hc := &hostConfig{routePrefix: "api", timeout: defaultFunctionTimeout}
	if p := raw.Extensions.HTTP.RoutePrefix; p != nil {
		hc.routePrefix = strings.Trim(*p, "/")
		if strings.ContainsAny(hc.routePrefix, "{}?#") {
			return nil, nil, fmt.Errorf("host.json: extensions.http.routePrefix: '%s' is not a valid route prefix", *p)
		}
	}
	if t := raw.FunctionTimeout; t != nil {
		if *t == "-1" {
			hc.timeout = 0
		} else {
			d, ok := parseTimeSpan(*t)
			if !ok {
				return nil, nil, fmt.Errorf("host.json: functionTimeout: '%s' is not a valid value; use hh:mm:ss", *t)
			}
			if d < minFunctionTimeout || d > maxFunctionTimeout {
				return nil, nil, fmt.Errorf("host.json: functionTimeout: FunctionTimeout must be greater than 00:00:01 and less than 1.00:00:00.")
			}
			hc.timeout = d
		}
	}
	h := raw.CustomHandler
	section := "customHandler"
	if h == nil {
		h, section = raw.HTTPWorker, "httpWorker"
	} else if raw.HTTPWorker != nil {
		warnings = append(warnings, "host.json has both customHandler and httpWorker: customHandler is used")
	}
	if h != nil {
		d := h.Description
		exe := d.DefaultExecutablePath
		if exe == "" {
			exe = d.DefaultWorkerPath
		}
		if exe == "" {
			return nil, nil, fmt.Errorf("host.json: %s.description.defaultExecutablePath: WorkerDescription DefaultExecutablePath cannot be empty", section)
		}
		hc.handler = &handlerConfig{executable: expandSettings(exe, lookup), forward: h.EnableForwardingHTTPRequest}
		wd := d.WorkingDirectory
		if wd == "" {
			wd = root
		} else if !filepath.IsAbs(wd) {
			wd = filepath.Join(root, wd)
		}
		hc.handler.workDir = wd
		args := d.Arguments
		if len(args) == 0 {
			args = d.WorkerArguments
		}
		for _, a := range args {
			hc.handler.args = append(hc.handler.args, expandSettings(a, lookup))
		}
	}
	return hc, warnings, nil
}

var settingRef = regexp.MustCompile(`%([^%\s]+)%`)

// expandSettings replaces %NAME% with the app setting NAME (functions.md §1.1); an unknown
// name stays as written.
func expandSettings(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "%") {
		return s
	}
	return settingRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := lookup(m[1 : len(m)-1]); ok {
			return v
		}
		return m
	})
}

// function is an indexed function with what the host needs to run it.
type function struct {
	Function
	source      string // "NAME/function.json" or "the worker's registration of NAME"
	triggerName string // the trigger binding's name
	httpOut     string // the HTTP output binding's name ("$return" possible); "" for none
	forwardable bool   // exactly an HTTP trigger and an HTTP output (§3.4)
	route       *route
	schedule    schedule
	onStartup   bool
	secrets     []secretBinding
	methods     map[string]bool
	met         *fnMetrics // set by the host when it indexes the function
}

// secretBinding is a keyVault input binding (Lanyard's own, functions.md §8).
type secretBinding struct {
	name string
	ref  SecretRef
}

var (
	functionName = regexp.MustCompile(`(?i)^[a-z][a-z0-9_\-]{0,127}$`)
	bindingName  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]{0,127}$`)
)

// knownTypes are the binding types this host implements (lower case).
var knownTypes = map[string]bool{"httptrigger": true, "http": true, "timertrigger": true, "keyvault": true}

type rawFunction struct {
	ScriptFile string            `json:"scriptFile"`
	EntryPoint string            `json:"entryPoint"`
	Disabled   json.RawMessage   `json:"disabled"`
	Bindings   []json.RawMessage `json:"bindings"`
}

// parseFunction validates one function's metadata (a function.json, or the bindings a worker
// registered, in the same shape). source names it in errors.
func parseFunction(name, source string, data []byte, lookup func(string) (string, bool)) (*function, error) {
	return parseFunctionIn("", name, source, data, lookup)
}

// parseFunctionIn is parseFunction for a function folder dir ("" for a worker's registration):
// scriptFile must then name a file in it (§1.3).
func parseFunctionIn(dir, name, source string, data []byte, lookup func(string) (string, bool)) (*function, error) {
	fn := &function{Function: Function{Name: name}, source: source}
	fail := func(field, format string, args ...any) (*function, error) {
		if field != "" {
			return nil, fmt.Errorf("%s: %s: %s", source, field, fmt.Sprintf(format, args...))
		}
		return nil, fmt.Errorf("%s: %s", source, fmt.Sprintf(format, args...))
	}
	if !functionName.MatchString(name) || strings.EqualFold(name, "host") {
		return fail("", "'%s' is not a valid function name.", name)
	}
	var raw rawFunction
	if err := json.Unmarshal(data, &raw); err != nil {
		return fail("", "%v", err)
	}
	if len(raw.Disabled) > 0 {
		var b bool
		var s string
		switch {
		case json.Unmarshal(raw.Disabled, &b) == nil:
			fn.Disabled = b
		case json.Unmarshal(raw.Disabled, &s) == nil:
			// a string is an app setting's name or a literal, as the 1.x host read it
			if v, ok := lookup(s); ok {
				s = v
			}
			fn.Disabled, _ = strconv.ParseBool(s)
		default:
			return fail("disabled", "must be a boolean")
		}
	}
	if v, ok := lookup("AzureWebJobs." + name + ".Disabled"); ok {
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			fn.Disabled = b
		}
	}
	if dir != "" && raw.ScriptFile != "" {
		p := raw.ScriptFile
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			return fail("scriptFile", "Invalid script file name configuration. The 'scriptFile' property is set to a file that does not exist.")
		}
	}
	if len(raw.Bindings) == 0 {
		return fail("bindings", "At least one binding must be declared.")
	}
	var unknown []string
	var unknownAt string
	names := map[string]bool{}
	triggers := 0
	httpOuts := 0
	for i, rb := range raw.Bindings {
		field := fmt.Sprintf("bindings[%d]", i)
		var b map[string]any
		if err := json.Unmarshal(rb, &b); err != nil || b == nil {
			return fail(field, "a binding must be an object")
		}
		typ, _ := b["type"].(string)
		bname, _ := b["name"].(string)
		dir, _ := b["direction"].(string)
		if typ == "" {
			return fail(field+".type", "a binding must have a type")
		}
		if bname != "$return" && !bindingName.MatchString(bname) {
			return fail(field+".name", "The binding name %s is invalid. Please assign a valid name to the binding.", bname)
		}
		if names[strings.ToLower(bname)] {
			return fail(field+".name", "Multiple bindings with name '%s' discovered. Binding names must be unique.", bname)
		}
		names[strings.ToLower(bname)] = true
		dir = strings.ToLower(dir)
		if dir != "in" && dir != "out" && dir != "inout" {
			return fail(field+".direction", "'%s' is not a valid binding direction; use in, out or inout", b["direction"])
		}
		lt := strings.ToLower(typ)
		if !knownTypes[lt] {
			if unknownAt == "" {
				unknownAt = field + ".type"
			}
			unknown = append(unknown, typ)
			continue
		}
		if strings.HasSuffix(lt, "trigger") {
			triggers++
			if dir != "in" {
				return fail(field+".direction", "a trigger binding's direction must be 'in'")
			}
			fn.Trigger, fn.triggerName = typ, bname
		}
		var err error
		switch lt {
		case "httptrigger":
			fn.Trigger = "httpTrigger"
			err = fn.parseHTTPTrigger(field, b)
		case "http":
			if dir != "out" {
				return fail(field+".direction", "an http binding's direction must be 'out'")
			}
			httpOuts++
			fn.httpOut = bname
		case "timertrigger":
			fn.Trigger = "timerTrigger"
			err = fn.parseTimerTrigger(field, b, lookup)
		case "keyvault":
			if dir != "in" {
				return fail(field+".direction", "a keyVault binding's direction must be 'in'")
			}
			var sb secretBinding
			sb, err = parseKeyVaultBinding(field, bname, b, lookup)
			fn.secrets = append(fn.secrets, sb)
		}
		if err != nil {
			return fail("", "%v", err)
		}
	}
	if len(unknown) > 0 {
		return fail(unknownAt, "The binding type(s) '%s' are not registered. Please ensure the type is correct and the binding extension is installed.", strings.Join(unknown, ", "))
	}
	switch {
	case triggers == 0:
		return fail("bindings", "No trigger binding specified. A function must have a trigger input binding.")
	case triggers > 1:
		return fail("bindings", "Multiple trigger bindings defined. A function can only have a single trigger binding.")
	case httpOuts > 1:
		return fail("bindings", "a function can have one http output binding only")
	}
	if fn.httpOut != "" && fn.Trigger != "httpTrigger" {
		return fail("bindings", "an http output binding needs an httpTrigger")
	}
	fn.forwardable = fn.Trigger == "httpTrigger" && len(raw.Bindings) == 2 && fn.httpOut != ""
	return fn, nil
}

var authLevels = map[string]string{"anonymous": "anonymous", "function": "function", "admin": "admin", "user": "function", "system": "admin"}

func (fn *function) parseHTTPTrigger(field string, b map[string]any) error {
	fn.AuthLevel = "function" // function.json's default (§2.2)
	if v, ok := b["authLevel"]; ok && v != nil {
		s, _ := v.(string)
		lvl, ok := authLevels[strings.ToLower(s)]
		if !ok || s == "" {
			return fmt.Errorf("%s.authLevel: '%v' is not a valid authorization level; use anonymous, function or admin", field, v)
		}
		fn.AuthLevel = lvl
	}
	if v, ok := b["methods"]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s.methods: must be an array of HTTP methods", field)
		}
		for _, m := range list {
			s, ok := m.(string)
			if !ok || s == "" || strings.ContainsAny(s, " \t/()<>@,;:\\\"[]?={}") {
				return fmt.Errorf("%s.methods: '%v' is not an HTTP method", field, m)
			}
			s = strings.ToUpper(s)
			if !slices.Contains(fn.Methods, s) {
				fn.Methods = append(fn.Methods, s)
			}
		}
		if len(fn.Methods) > 0 {
			fn.methods = map[string]bool{}
			for _, m := range fn.Methods {
				fn.methods[m] = true
			}
		}
	}
	tmpl := fn.Name
	if v, ok := b["route"]; ok && v != nil {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s.route: must be a string", field)
		}
		if s != "" {
			tmpl = s
		}
	}
	trimmed := strings.ToLower(strings.Trim(tmpl, "/"))
	if trimmed == "admin" || strings.HasPrefix(trimmed, "admin/") || trimmed == "runtime" || strings.HasPrefix(trimmed, "runtime/") {
		return fmt.Errorf("%s.route: The specified route conflicts with one or more built in routes.", field)
	}
	r, err := parseRoute(tmpl)
	if err != nil {
		return fmt.Errorf("%s.route: the route template '%s' is invalid: %v", field, tmpl, err)
	}
	fn.route, fn.Route = r, r.template
	return nil
}

func (fn *function) parseTimerTrigger(field string, b map[string]any, lookup func(string) (string, bool)) error {
	s, _ := b["schedule"].(string)
	if s == "" {
		return fmt.Errorf("%s.schedule: a timer trigger needs a schedule", field)
	}
	if strings.HasPrefix(s, "%") && strings.HasSuffix(s, "%") && len(s) > 2 {
		v, ok := lookup(s[1 : len(s)-1])
		if !ok {
			return fmt.Errorf("%s.schedule: the app setting '%s' is not set", field, s[1:len(s)-1])
		}
		s = v
	}
	sch, err := parseSchedule(s)
	if err != nil {
		return fmt.Errorf("%s.schedule: %v", field, err)
	}
	fn.schedule, fn.Schedule = sch, s
	switch v := b["runOnStartup"].(type) {
	case nil:
	case bool:
		fn.onStartup = v
	case string:
		fn.onStartup, _ = strconv.ParseBool(v)
	default:
		return fmt.Errorf("%s.runOnStartup: must be a boolean", field)
	}
	return nil
}

// index reads the function folders under root (each with a function.json). It returns every
// function found, the refused ones with Error set.
func indexFolders(root string, lookup func(string) (string, bool)) ([]*function, []Function) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, nil
	}
	var ok []*function
	var bad []Function
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, e.Name(), "function.json"))
		if err != nil {
			continue
		}
		source := e.Name() + "/function.json"
		fn, err := parseFunctionIn(filepath.Join(root, e.Name()), e.Name(), source, data, lookup)
		if err != nil {
			bad = append(bad, Function{Name: e.Name(), Error: err.Error()})
			continue
		}
		ok = append(ok, fn)
	}
	return ok, bad
}

// checkRoutes refuses the HTTP functions whose route and methods overlap an earlier function's
// (§2.1; Azure fails the host start, Lanyard refuses the later function only, by name order).
func checkRoutes(fns []*function) ([]*function, []Function) {
	sort.Slice(fns, func(i, j int) bool { return strings.ToLower(fns[i].Name) < strings.ToLower(fns[j].Name) })
	var ok []*function
	var bad []Function
	for _, f := range fns {
		var clash *function
		if f.route != nil {
			for _, g := range ok {
				if g.route != nil && g.route.shape() == f.route.shape() && methodsOverlap(f.Methods, g.Methods) {
					clash = g
					break
				}
			}
		}
		if clash != nil {
			bad = append(bad, Function{Name: f.Name, Trigger: f.Trigger, Route: f.Route, Methods: f.Methods, AuthLevel: f.AuthLevel,
				Error: fmt.Sprintf("%s: route: the route '%s' conflicts with the route of function '%s'", f.source, f.Route, clash.Name)})
			continue
		}
		ok = append(ok, f)
	}
	return ok, bad
}

func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return true
		}
	}
	return false
}
