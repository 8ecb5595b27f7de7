// Package functions is Lanyard's function host: it runs one function app (a script root with
// host.json and one folder per function, each with its function.json, as Azure Functions lays
// it out) and serves its triggers.
//
// It owns: indexing host.json and function.json (with Azure's validation messages), HTTP
// triggers (route templates and constraints, methods, authLevel with function, host and master
// keys), timer triggers (six-field NCRONTAB, runOnStartup, one run per tick across nodes through
// a TimerLock), the Lanyard-only keyVault input binding (read at each invocation through a
// SecretReader), the workers (custom handlers; Lanyard's Node worker, package nodeworker, speaks
// the custom-handler protocol to the host, but takes its invocations in frames on a unix socket),
// the invocation log lines as Azure writes them, and per-function metrics.
//
// It does not own: where packages come from and how they are unpacked (the agent), keys and app
// settings at rest and Key Vault references in app settings (the server), Easy Auth (the front
// door, which calls Host.ServeHTTP after it), tokens (the agent's identity endpoint).
//
// The wire contract is ../shared/spec/functions.md; which behaviour is Azure's and which is
// Lanyard's own is said where it is built.
//
// # Files
//
// index.go (host.json, function.json), route.go (route templates), invoke.go (HTTP triggers,
// the default and forwarding modes, responses), customhandler.go (the worker process: start,
// readiness, restart with backoff), frames.go (the Node worker's framed protocol), timer.go and ncrontab.go (timer triggers), keyvault.go (the
// keyVault binding and MSISecretReader), log.go (the log stream's lines), metrics.go.
//
// # The worker contract (the host and package nodeworker)
//
// A worker is a process that speaks the custom-handler protocol (functions.md §3). For
// FUNCTIONS_WORKER_RUNTIME=node the host runs Lanyard's Node worker as one:
//
//   - The host writes the worker's script with nodeworker.Script(dir), dir a private temporary
//     directory removed at Close, and starts
//     `node <script>` (Config.Node, default "node", through Config.Command) in the script root,
//     with the environment of a custom handler: FUNCTIONS_CUSTOMHANDLER_PORT (and the legacy
//     FUNCTIONS_HTTPWORKER_PORT), FUNCTIONS_CUSTOMHANDLER_WORKER_ID, FUNCTIONS_APP_ROOT_PATH and
//     AzureWebJobsScriptRoot (the script root), FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION=~4,
//     WEBSITE_SITE_NAME, WEBSITE_HOSTNAME, Config.Env (identity variables ...) and the app
//     settings. The worker listens on 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT.
//   - The socket (Lanyard's own): the host also sets LANYARD_WORKER_SOCKET, the path of a unix
//     socket in that private directory (mode 0700, so only the host's user can connect), which
//     the worker listens on before it listens on its port. The host removes a socket left by a
//     crashed run before it starts the next. A path that does not fit in a socket address (104
//     bytes) is named through the directory instead: the worker inherits it as a descriptor N
//     and the variable is /proc/self/fd/N/worker.sock (Linux); elsewhere the variable is not
//     set and invocations are POSTs as below.
//   - Readiness: the host polls GET / until any HTTP answer.
//   - Discovery (Lanyard's own): GET /.lanyard/functions answers
//     {"functions":[{"name":"...","bindings":[function.json-shaped bindings]}]} for the
//     functions the app registered itself (Node v4 app.http(...), app.timer(...)); the host
//     indexes them with the same validation as function.json folders. A worker that answers
//     anything but 200 with a JSON content type has none (plain custom handlers). Functions in
//     folders with a function.json (Node v3) are read by the worker itself from
//     FUNCTIONS_APP_ROOT_PATH (scriptFile, entryPoint); the host indexes them too.
//   - Invocation: POST /{FunctionName} with {"Data":{...},"Metadata":{...}} exactly as for a
//     custom handler (§3.2; keyVault inputs are in Data under their binding names, as
//     strings), or the same document in a frame on the socket when there is one (below). The answer is {"Outputs":{...},"Logs":[...],"ReturnValue":...} (§3.3) plus the
//     Lanyard extension "LogEntries":[{"level":"information|warning|error|debug|trace",
//     "message":"..."}], which the host prefers over Logs when present. An HTTP output with
//     "isBase64": true carries its body in base64 (bytes that are not UTF-8 text). A failed
//     invocation is a non-2xx answer; {"error","stack","LogEntries"} in it are logged (Azure's
//     "Exception: ... Stack: ...").
//   - Frames (Lanyard's own, frames.go): on the socket, each message is a 4-byte big-endian
//     length and a JSON document of at most 256 MiB. A request is {"id":N,"name":"{FunctionName}",
//     "invocationId":"...","body":{"Data":{...},"Metadata":{...}}}, N an integer unique on its
//     connection; the answer is {"id":N,"status":S,"body":{...}}, S and body being the HTTP
//     answer's status and body above (2xx and §3.3's document, or a failure and its
//     {"error","stack","LogEntries"}; 404 {"error"} for an unknown function). The host keeps a
//     couple of connections and sends requests on them without waiting for earlier answers;
//     the worker answers each when it ends. A frame the worker cannot read as a request (too
//     long, not JSON, no id or name) closes its connection; so does an answer the host cannot
//     read, and a request the host could not write whole. An invocation the host gives up on
//     (functionTimeout, the client gone) runs to its end in the worker, and the host drops its
//     answer; a worker whose connection is gone drops the answer itself.
//   - The worker's load errors come with the discovery answer as "errors":["..."]; the host
//     logs them.
//   - A worker that exits is restarted with exponential backoff (100 ms doubling to 30 s);
//     the invocations it held fail (HTTP 500), over HTTP or in frames.
package functions
