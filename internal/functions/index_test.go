package functions

import (
	"context"
	"strings"
	"testing"
	"time"
)

func noSettings(string) (string, bool) { return "", false }

func settings(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The errors a function.json can have, as Function.Error shows them: the file, the field and
// Azure's message where functions.md §1 gives it.
func TestParseFunctionErrors(t *testing.T) {
	for _, tc := range []struct {
		name, fn, json, want string
	}{
		{"no bindings", "f", `{"bindings":[]}`, "f/function.json: bindings: At least one binding must be declared."},
		{"bindings missing", "f", `{}`, "f/function.json: bindings: At least one binding must be declared."},
		{"unknown type", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"queue","direction":"out","name":"q"},{"type":"blob","direction":"in","name":"b"}]}`,
			"f/function.json: bindings[1].type: The binding type(s) 'queue, blob' are not registered. Please ensure the type is correct and the binding extension is installed."},
		{"bad function name", "1f", httpFn(""), "1f/function.json: '1f' is not a valid function name."},
		{"host is reserved", "host", httpFn(""), "host/function.json: 'host' is not a valid function name."},
		{"binding name with underscore", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"my_req"}]}`,
			"f/function.json: bindings[0].name: The binding name my_req is invalid. Please assign a valid name to the binding."},
		{"duplicate binding names", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"REQ"}]}`,
			"f/function.json: bindings[1].name: Multiple bindings with name 'REQ' discovered. Binding names must be unique."},
		{"no trigger", "f", `{"bindings":[{"type":"http","direction":"out","name":"res"}]}`,
			"f/function.json: bindings: No trigger binding specified. A function must have a trigger input binding."},
		{"two triggers", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"timerTrigger","direction":"in","name":"t","schedule":"* * * * * *"}]}`,
			"f/function.json: bindings: Multiple trigger bindings defined. A function can only have a single trigger binding."},
		{"bad direction", "f", `{"bindings":[{"type":"httpTrigger","direction":"sideways","name":"req"}]}`,
			"f/function.json: bindings[0].direction: 'sideways' is not a valid binding direction; use in, out or inout"},
		{"admin route", "f", httpFn(`,"route":"/admin/x"`), "f/function.json: bindings[0].route: The specified route conflicts with one or more built in routes."},
		{"runtime route", "f", httpFn(`,"route":"runtime"`), "f/function.json: bindings[0].route: The specified route conflicts with one or more built in routes."},
		{"bad route", "f", httpFn(`,"route":"a/{id"`), "f/function.json: bindings[0].route: the route template 'a/{id' is invalid: there is an incomplete parameter in the route template"},
		{"bad constraint", "f", httpFn(`,"route":"a/{id:nope}"`), "f/function.json: bindings[0].route: the route template 'a/{id:nope}' is invalid: route parameter 'id': the inline constraint resolver does not know the constraint 'nope'"},
		{"bad authLevel", "f", httpFn(`,"authLevel":"everyone"`), "f/function.json: bindings[0].authLevel: 'everyone' is not a valid authorization level; use anonymous, function or admin"},
		{"bad methods", "f", httpFn(`,"methods":"get"`), "f/function.json: bindings[0].methods: must be an array of HTTP methods"},
		{"bad schedule", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"every minute"}]}`,
			"f/function.json: bindings[0].schedule: The schedule expression 'every minute' was not recognized as a valid cron expression or timespan string."},
		{"schedule setting missing", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"%SCHED%"}]}`,
			"f/function.json: bindings[0].schedule: the app setting 'SCHED' is not set"},
		{"keyVault without secret", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"keyVault","direction":"in","name":"s","vaultName":"myvault"}]}`,
			"f/function.json: bindings[1].secretName: a keyVault binding needs the secret's name"},
		{"keyVault bad vault", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"keyVault","direction":"in","name":"s","vaultName":"a b","secretName":"x"}]}`,
			"f/function.json: bindings[1].vaultName: 'a b' is not a vault name (3-24 letters, digits and dashes) or URI"},
		{"keyVault user without id", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"keyVault","direction":"in","name":"s","vaultName":"myvault","secretName":"x","identity":"user"}]}`,
			"f/function.json: bindings[1].identityId: identity 'user' needs identityId, the user-assigned identity's client id or resource id"},
		{"keyVault out", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"keyVault","direction":"out","name":"s","vaultName":"myvault","secretName":"x"}]}`,
			"f/function.json: bindings[1].direction: a keyVault binding's direction must be 'in'"},
		{"not JSON", "f", `{"bindings":`, "f/function.json: unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFunction(tc.fn, tc.fn+"/function.json", []byte(tc.json), noSettings)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error\n got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestParseFunction(t *testing.T) {
	fn, err := parseFunction("Orders", "Orders/function.json", []byte(`{"scriptFile":"x.js","bindings":[
		{"type":"HttpTrigger","direction":"in","name":"req","methods":["get","Post"],"route":"orders/{id:int?}"},
		{"type":"http","direction":"out","name":"$return"},
		{"type":"keyVault","direction":"in","name":"mySecret","secretName":"s1","vaultName":"https://myvault.vault.azure.net/","identity":"user","identityId":"/subscriptions/x/rg/y"}]}`),
		settings(map[string]string{"AzureWebJobs.Orders.Disabled": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if fn.Trigger != "httpTrigger" || fn.AuthLevel != "function" || fn.Route != "orders/{id:int?}" || strings.Join(fn.Methods, ",") != "GET,POST" ||
		!fn.Disabled || fn.httpOut != "$return" || fn.forwardable || len(fn.secrets) != 1 {
		t.Errorf("function %+v", fn)
	}
	if got := fn.secrets[0].ref; got != (SecretRef{Identity: "/subscriptions/x/rg/y", Vault: "https://myvault.vault.azure.net/", Name: "s1"}) {
		t.Errorf("secret ref %+v", got)
	}
	// the route defaults to the function's name; the timer schedule from a setting
	fn, err = parseFunction("t1", "t1/function.json", []byte(`{"disabled":false,"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"%S%","runOnStartup":true}]}`),
		settings(map[string]string{"S": "0 */5 * * * *"}))
	if err != nil || fn.Schedule != "0 */5 * * * *" || !fn.onStartup {
		t.Fatalf("timer %+v %v", fn, err)
	}
	fn, err = parseFunction("plain", "plain/function.json", []byte(httpFn("")), noSettings)
	if err != nil || fn.Route != "plain" || !fn.forwardable || fn.Methods != nil {
		t.Fatalf("plain %+v %v", fn, err)
	}
}

func TestParseHostJSON(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{}`, "host.json: version: The host.json file is missing the required 'version' property. See https://aka.ms/functions-hostjson for steps to migrate the configuration file."},
		{`{"version":"1.0"}`, "host.json: version: '1.0' is an invalid value for host.json 'version' property. This value must be '2.0'."},
		{`{"version":"2.0","functionTimeout":"00:00:00"}`, "host.json: functionTimeout: FunctionTimeout must be greater than 00:00:01 and less than 1.00:00:00."},
		{`{"version":"2.0","functionTimeout":"5 minutes"}`, "host.json: functionTimeout: '5 minutes' is not a valid value; use hh:mm:ss"},
		{`{"version":"2.0","customHandler":{"description":{}}}`, "host.json: customHandler.description.defaultExecutablePath: WorkerDescription DefaultExecutablePath cannot be empty"},
		{`{"version":"2.0","httpWorker":{"description":{"defaultExecutablePath":""}}}`, "host.json: httpWorker.description.defaultExecutablePath: WorkerDescription DefaultExecutablePath cannot be empty"},
		{`[`, "host.json: unexpected EOF"},
	} {
		_, _, err := parseHostJSON([]byte(tc.json), "/app", noSettings)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.json, err, tc.want)
		}
	}
	hc, _, err := parseHostJSON([]byte(`{"version":"2.0","functionTimeout":"00:02:30","extensions":{"http":{"routePrefix":""}},
		"customHandler":{"description":{"defaultExecutablePath":"handler","arguments":["--port","%P%","%UNSET%"],"workingDirectory":"bin"},"enableForwardingHttpRequest":true},
		"httpWorker":{"description":{"defaultExecutablePath":"other"}}}`), "/app", settings(map[string]string{"P": "99"}))
	if err != nil {
		t.Fatal(err)
	}
	if hc.routePrefix != "" || hc.timeout != 150*time.Second || hc.handler.executable != "handler" || hc.handler.workDir != "/app/bin" ||
		strings.Join(hc.handler.args, " ") != "--port 99 %UNSET%" || !hc.handler.forward {
		t.Errorf("host config %+v %+v", hc, hc.handler)
	}
	hc, _, _ = parseHostJSON([]byte(`{"version":"2.0","functionTimeout":"-1"}`), "/app", noSettings)
	if hc.routePrefix != "api" || hc.timeout != 0 || hc.handler != nil {
		t.Errorf("defaults %+v", hc)
	}
}

// A wrong function is refused with its error; the others run (functions.md §1).
func TestStartRefusesWrongFunctionsOnly(t *testing.T) {
	var log logBuf
	root := app(t, "", map[string]string{
		"hello":    httpFn(`,"authLevel":"anonymous","methods":["get","post"]`),
		"bad":      `{"bindings":[{"type":"keyVaultz","direction":"in","name":"x"},{"type":"httpTrigger","direction":"in","name":"req"}]}`,
		"zdup":     httpFn(`,"route":"HELLO/","methods":["get"]`),
		"noscript": `{"scriptFile":"../nothere.js","bindings":[{"type":"httpTrigger","direction":"in","name":"req"}]}`,
		"other":    httpFn(`,"route":"hello","methods":["delete"]`),
	})
	h := startHost(t, Config{Root: root, FunctionLog: &log}, nil)
	got := map[string]Function{}
	for _, f := range h.Functions() {
		got[f.Name] = f
	}
	if len(got) != 5 {
		t.Fatalf("functions %+v", got)
	}
	if e := got["bad"].Error; e != "bad/function.json: bindings[0].type: The binding type(s) 'keyVaultz' are not registered. Please ensure the type is correct and the binding extension is installed." {
		t.Errorf("bad: %q", e)
	}
	if e := got["noscript"].Error; e != "noscript/function.json: scriptFile: Invalid script file name configuration. The 'scriptFile' property is set to a file that does not exist." {
		t.Errorf("noscript: %q", e)
	}
	if e := got["hello"].Error; e != "" {
		t.Errorf("hello: %q", e)
	}
	// zdup (by name order after hello) clashes with it; other's methods differ
	if e := got["zdup"].Error; e != "zdup/function.json: route: the route 'HELLO' conflicts with the route of function 'hello'" {
		t.Errorf("no route conflict: %+v", got)
	}
	if got["other"].Error != "" {
		t.Errorf("other: %q", got["other"].Error)
	}
	if w := do(h, "GET", "/api/hello?name=x", "", nil); w.Code != 201 {
		t.Errorf("GET hello: %d", w.Code)
	}
	if !strings.Contains(log.String(), "[Error]   The 'bad' function is in error: bad/function.json") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestStartErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		host string
		env  []string
		want string
	}{
		{`{"version":"2.0"}`, nil, "the app has no customHandler section and FUNCTIONS_WORKER_RUNTIME is not set"},
		{`{"version":"3.0"}`, nil, "'3.0' is an invalid value"},
		{`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"` + handlerBin + `"}}}`, []string{"FUNCTIONS_WORKER_RUNTIME=python"}, "FUNCTIONS_WORKER_RUNTIME 'python' is not supported"},
		{`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"` + handlerBin + `"}}}`, []string{"HANDLER_FAIL_START=1"}, "the worker exited before it was ready: exit status 2"},
		{`{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"/nonexistent/handler"}}}`, nil, "starting /nonexistent/handler"},
	} {
		_, err := Start(ctx, Config{Root: app(t, tc.host, nil), Env: tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want %q", tc.host, tc.env, err, tc.want)
		}
	}
}
