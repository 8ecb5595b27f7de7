// Command handler is a custom handler for the function host's tests (functions.md §3): it
// answers the default mode's POST /{FunctionName} and, for anything else, echoes the forwarded
// request.
package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

type request struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

func main() {
	if os.Getenv("HANDLER_FAIL_START") != "" {
		os.Exit(2)
	}
	http.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	http.HandleFunc("GET /.lanyard/functions", func(w http.ResponseWriter, r *http.Request) {
		list := os.Getenv("HANDLER_REGISTERED")
		if list == "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, list)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if r.Method != http.MethodPost || strings.Contains(name, "/") || r.Header.Get("Content-Type") != "application/json" {
			forwarded(w, r)
			return
		}
		var in request
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			forwarded(w, r)
			return
		}
		out := map[string]any{"Outputs": map[string]any{}, "Logs": []string{}}
		res := func(v any) { out["Outputs"].(map[string]any)["res"] = v }
		switch name {
		case "hello":
			var req struct {
				Params map[string]*string `json:"Params"`
				Query  map[string]string  `json:"Query"`
			}
			_ = json.Unmarshal(in.Data["req"], &req)
			who := req.Query["name"]
			if p := req.Params["name"]; p != nil {
				who = *p
			}
			res(map[string]any{"statusCode": "201", "body": "hello " + who, "headers": map[string]any{"X-Test": []string{"a", "b"}}})
			out["Logs"] = []string{"said hello to " + who}
		case "echo", "secret", "bench":
			res(map[string]any{"body": in, "headers": map[string]string{"Content-Type": "application/json"}})
		case "nobody":
			res(map[string]any{"statusCode": 418, "message": "no body key"})
		case "none":
		case "text":
			res("just text")
		case "ret":
			out["ReturnValue"] = map[string]any{"status": 202, "body": map[string]int{"n": 1}}
		case "fail":
			http.Error(w, "boom", 500)
			return
		case "badjson":
			io.WriteString(w, "not json")
			return
		case "crash":
			os.Exit(3)
		case "slow":
			time.Sleep(5 * time.Second)
		case "env":
			env := map[string]string{}
			for _, kv := range os.Environ() {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
			res(map[string]any{"body": env})
		case "tick":
			out["LogEntries"] = []map[string]string{{"level": "warning", "message": "tick warning"}}
			out["Logs"] = []string{"ignored when LogEntries are there"}
			if strings.Contains(string(in.Data["timer"]), `"IsPastDue":true`) {
				http.Error(w, "past due", 500)
				return
			}
		default:
			http.Error(w, "unknown function "+name, 404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	_ = http.ListenAndServe("127.0.0.1:"+os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), nil)
}

// forwarded echoes a forwarded request (§3.4).
func forwarded(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Forwarded-Handler", "yes")
	w.WriteHeader(299)
	_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "uri": r.RequestURI, "body": string(body),
		"invocation": r.Header.Get("X-Azure-Functions-InvocationId"), "custom": r.Header.Get("X-Custom")})
}
