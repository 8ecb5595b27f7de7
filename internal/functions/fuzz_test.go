package functions

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzParseFunction: function.json. An accepted function has exactly one trigger of a known
// type; an HTTP one has a valid authLevel, upper-case methods and a parsed route that is not a
// built-in one; a timer has a schedule with a next occurrence. A refused one names the file.
func FuzzParseFunction(f *testing.F) {
	for _, s := range []string{
		httpFn(""), httpFn(`,"authLevel":"anonymous","methods":["get"],"route":"a/{id:int?}"`),
		`{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * * *","runOnStartup":true}]}`,
		`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"keyVault","direction":"in","name":"s","vaultName":"v123","secretName":"x","identity":"user","identityId":"c"}]}`,
		`{"bindings":[]}`, `{"disabled":"true","bindings":[{"type":"x"}]}`, `[]`, `{"bindings":[{"type":"http","direction":"out","name":"$return"}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		fn, err := parseFunction("f", "f/function.json", []byte(data), noSettings)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f/function.json: ") {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		switch fn.Trigger {
		case "httpTrigger":
			if fn.route == nil || fn.AuthLevel != "anonymous" && fn.AuthLevel != "function" && fn.AuthLevel != "admin" {
				t.Fatalf("http function %+v", fn)
			}
			r := strings.ToLower(fn.Route)
			if r == "admin" || r == "runtime" || strings.HasPrefix(r, "admin/") || strings.HasPrefix(r, "runtime/") {
				t.Fatalf("a built-in route accepted: %q", fn.Route)
			}
			for _, m := range fn.Methods {
				if m != strings.ToUpper(m) || m == "" {
					t.Fatalf("method %q", m)
				}
			}
		case "timerTrigger":
			if _, ok := fn.schedule.next(time.Unix(0, 0).UTC()); !ok {
				t.Fatalf("a schedule that never fires: %q", fn.Schedule)
			}
		default:
			t.Fatalf("trigger %q accepted", fn.Trigger)
		}
		if fn.httpOut != "" && fn.Trigger != "httpTrigger" {
			t.Fatalf("an http output without an http trigger")
		}
	})
}

// FuzzParseHostJSON: host.json. An accepted one has version 2.0, a timeout in range (or none),
// a route prefix without template characters, and a custom handler only with an executable.
func FuzzParseHostJSON(f *testing.F) {
	for _, s := range []string{
		`{"version":"2.0"}`, `{"version":"2.0","functionTimeout":"00:05:00","extensions":{"http":{"routePrefix":""}}}`,
		`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h","arguments":["%A%"]},"enableForwardingHttpRequest":true}}`,
		`{"version":"2.0","httpWorker":{"description":{"defaultWorkerPath":"w","workingDirectory":"/x"}}}`, `{"version":"1.0"}`, `{}`,
		`{"version":"2.0","functionTimeout":"-1"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		hc, _, err := parseHostJSON([]byte(data), "/app", noSettings)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "host.json: ") {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		if !strings.Contains(data, `"2.0"`) && !strings.Contains(data, `\u`) {
			t.Fatalf("accepted without version 2.0: %s", data)
		}
		if hc.timeout != 0 && (hc.timeout < minFunctionTimeout || hc.timeout > maxFunctionTimeout) {
			t.Fatalf("timeout %v", hc.timeout)
		}
		if strings.ContainsAny(hc.routePrefix, "{}?#") || strings.HasPrefix(hc.routePrefix, "/") {
			t.Fatalf("route prefix %q", hc.routePrefix)
		}
		if hc.handler != nil && (hc.handler.executable == "" || !strings.HasPrefix(hc.handler.workDir, "/")) {
			t.Fatalf("handler %+v", hc.handler)
		}
	})
}

// FuzzRoute: route templates and request paths. When a path matches, every parameter of the
// template has a value (nil only for an optional one not supplied) that passes its constraints;
// a template without parameters matches itself.
func FuzzRoute(f *testing.F) {
	for _, s := range [][2]string{
		{"products/{id:int?}", "products/5"}, {"files/{*rest}", "files/a/b"}, {"{name}.{ext}", "a.b.c"},
		{"x/{v:regex(^a{{2}}$)}", "x/aa"}, {"h/{name=world}", "h"}, {"n/{v:range(1,9):int}", "n/4"}, {"a/b", "A/B/"},
		{"{a:length(2,3)}/{b:guid}", "ab/0f8fad5b-d9cb-469f-a165-70867728950e"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tmpl, path string) {
		r, err := parseRoute(tmpl)
		if err != nil {
			return
		}
		names := 0
		for _, s := range r.segs {
			for _, p := range s.parts {
				if p.param != nil {
					names++
				}
			}
		}
		if names == 0 && !strings.Contains(r.template, "%") {
			if _, ok := r.match(r.template); !ok {
				t.Fatalf("%q does not match itself", tmpl)
			}
		}
		values, ok := r.match(path)
		if !ok {
			return
		}
		for _, s := range r.segs {
			for _, p := range s.parts {
				if p.param == nil {
					continue
				}
				v, present := values[p.param.name]
				if !present {
					t.Fatalf("%q ~ %q: no value for %s", tmpl, path, p.param.name)
				}
				if v == nil {
					if !p.param.optional && !p.param.catchAll {
						t.Fatalf("%q ~ %q: nil for the required %s", tmpl, path, p.param.name)
					}
					continue
				}
				if p.param.hasDefault && *v == p.param.def {
					continue
				}
				for _, c := range p.param.constraints {
					if !c.test(*v) {
						t.Fatalf("%q ~ %q: %s=%q fails %s", tmpl, path, p.param.name, *v, c.name)
					}
				}
			}
		}
	})
}

// FuzzSchedule: NCRONTAB and TimeSpan schedules. An accepted schedule's next occurrence is
// later than the time given, on a whole second, and its fields are in the schedule's sets.
func FuzzSchedule(f *testing.F) {
	for _, s := range []string{"0 */5 * * * *", "0 30 9 * Jan-Mar Mon-Fri", "*/10 * * * * *", "0 0 0 29 2 *", "00:05:00", "1.02:03:04.5", "5,10-20/3 * * * * 7"} {
		f.Add(s, int64(1767225600))
	}
	f.Fuzz(func(t *testing.T, expr string, at int64) {
		s, err := parseSchedule(expr)
		if err != nil {
			return
		}
		from := time.Unix(at%(1<<33), 0).UTC()
		next, ok := s.next(from)
		if !ok {
			return // an accepted schedule may still have no occurrence within 8 years of a given date
		}
		if !next.After(from) {
			t.Fatalf("%q after %v: %v", expr, from, next)
		}
		if s.interval > 0 {
			return
		}
		if next.Nanosecond() != 0 || s.fields[0]&(1<<uint(next.Second())) == 0 || s.fields[1]&(1<<uint(next.Minute())) == 0 ||
			s.fields[2]&(1<<uint(next.Hour())) == 0 || s.fields[4]&(1<<uint(next.Month())) == 0 || !s.dayMatches(next) {
			t.Fatalf("%q after %v: %v is not in the schedule", expr, from, next)
		}
	})
}

// FuzzFrameAnswer: an answer frame from the Node worker (frames.go). An accepted one is read
// whole from its length, has a status of three digits and a body that is its own JSON value.
func FuzzFrameAnswer(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"status":200,"body":{"Outputs":{},"Logs":[],"ReturnValue":null}}`,
		`{"id":18446744073709551615,"status":500,"body":{"error":"boom","stack":""}}`,
		`{"id":1,"status":99,"body":{}}`, `{"id":1,"body":{}}`, `{"id":-1,"status":200}`, `[]`, ``,
	} {
		f.Add(string(binary.BigEndian.AppendUint32(nil, uint32(len(s)))) + s)
	}
	f.Add("\xff\xff\xff\xff")
	f.Add("\x00\x00\x01\x00{")
	f.Fuzz(func(t *testing.T, data string) {
		sr := strings.NewReader(data)
		br := bufio.NewReader(sr)
		_, a, err := readAnswer(br)
		if err != nil {
			return
		}
		if n, read := int(binary.BigEndian.Uint32([]byte(data))), len(data)-sr.Len()-br.Buffered(); read != 4+n {
			t.Fatalf("read %d bytes of a frame of 4+%d", read, n)
		}
		if a.status < 100 || a.status > 999 {
			t.Fatalf("status %d", a.status)
		}
		if len(a.body) > 0 && !json.Valid(a.body) {
			t.Fatalf("body %q", a.body)
		}
	})
}
