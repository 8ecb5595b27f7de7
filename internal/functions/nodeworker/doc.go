// Package nodeworker is Lanyard's Node.js worker for the function host: a small JavaScript
// program (js/*.js, no npm dependencies, Node ≥ 20) embedded in the binary, which Script writes
// to disk for the host to run as `node <path>`. It runs a function app's JavaScript unmodified in
// either of Azure's programming models, and speaks the custom-handler protocol to the host, so the
// host treats it as any custom handler, except that it also takes invocations in frames on a unix
// socket when the host gives it one (Lanyard's own, below).
//
// It owns: loading the app (v3 function.json folders, or v4 package.json main), the
// '@azure/functions-core' module that the app's own @azure/functions 4.x requires, the v3 context,
// req and res, and the conversions between the custom-handler bodies and each model. It does not
// own: indexing function.json, routes, keys, timers, bindings' values (the keyVault secret arrives
// in Data), restarts (all the host's, package functions).
//
// # Protocol (the host's side)
//
// Azure's (functions.md §3): the host starts `node worker.js` with FUNCTIONS_CUSTOMHANDLER_PORT,
// FUNCTIONS_CUSTOMHANDLER_WORKER_ID, FUNCTIONS_APP_ROOT_PATH (the script root; AzureWebJobsScriptRoot
// and then the working directory are the fallbacks), the app settings and the identity variables.
// The worker loads the app first and then listens on 127.0.0.1:PORT, so the first answer to the
// host's readiness poll (any HTTP answer to GET /; the worker answers
// 200 {"worker":"lanyard-node","version":…,"model":"v3"|"v4"}) means the app is loaded.
//
// An invocation is POST /{FunctionName} with the body {"Data":{…},"Metadata":{…}} of §3.2 and the
// X-Azure-Functions-InvocationId header (a random id is used without it). The HTTP trigger's value
// is {Url, Method, Query, Headers (name → array of strings), Params, Identities, Body}, with Body
// absent when there is none and base64 when the content type is application/octet-stream or
// multipart/*. A keyVault input is a plain string; a timer's value is
// {"Schedule":{…},"ScheduleStatus":…,"IsPastDue":bool}. Other inputs are any JSON value.
//
// The answer is 200 with §3.3's {"Outputs":{name:value},"Logs":["…"],"ReturnValue":any} plus
// Lanyard's "LogEntries":[{"level":"information|warning|error|debug|trace","category":"user|system",
// "message":"…"}], the same lines as Logs with their levels; the host should use LogEntries and
// ignore Logs when LogEntries is present. A v3 log line written after context.done or the
// promise settled, but before the answer was built, follows a system warning entry (Azure's
// "Unexpected call to 'log' on the context object after function execution has completed…"; v4's
// library writes the same itself). A line written after the answer was sent goes to the worker's
// stderr as `[Information] Function 'NAME' (Id=ID): message`, after that warning as a
// `[Warning] …` line; the worker's own start errors go there too as `[Error] app start: …`. The
// app's console.log output is the process's stdout and stderr, as for any custom handler.
//
// An HTTP output value (an Outputs entry of an http binding, or ReturnValue for $return) is always
// {"statusCode":int,"headers":{name:string},"body":…} with a body key, so that the host's §2.5 rule
// ("status and headers only with a body") keeps the status the function set. Response bytes (all
// of v4's, a Buffer body in v3) travel as a string when the response has a content type and the
// bytes are UTF-8 (the host writes a string body byte for byte), and otherwise as base64 with
// "isBase64": true (Lanyard's flag: the host must decode body and write the bytes as they are).
// A body that is another JSON value (v3's context.res = {body: {…}}) is serialized by the host as
// JSON, as Azure does. A header value is a string, except "set-cookie", which may be an array of
// strings (one Set-Cookie line each; the models' cookie APIs end up there). When a v3 HTTP
// function sets no response at all, the output is absent (the host answers 204, §2.5).
//
// A function that throws (or rejects, or calls context.done(err)) gets 500 with
// {"error":"message","stack":"…","LogEntries":[…]}; the host logs Azure's
// "Result: Failure\nException: …\nStack: …" (§11). An unknown function is 404 {"error":…}; a body
// that is not JSON is 400.
//
// Frames (Lanyard's own; the host's side is package functions' frames.go): when the host sets
// LANYARD_WORKER_SOCKET, the worker also listens on that unix socket, before its port, and takes
// invocations there in frames: a 4-byte big-endian length and a JSON document (at most 256 MiB).
// A request is {"id":N,"name":"FunctionName","invocationId":"…","body":{"Data":…,"Metadata":…}},
// body being the POST's body above; the answer is {"id":N,"status":S,"body":{…}}, S and body
// being what the POST would answer (200 and the document above, 500 and {error, stack,
// LogEntries}, 404 for an unknown function). Requests on one connection may overlap; each is
// answered with its id when it ends. A frame that is too long or not such a request closes its
// connection (its bytes are not repeated: they may hold a secret); an invocation whose
// connection the host closed runs to its end and its answer is dropped.
//
// Discovery (Lanyard's own): GET /.lanyard/functions answers
// {"model":"v3"|"v4","functions":[{"name":…,"bindings":[{"type","direction","name",…options}],
// "retry"?:…}],"errors":["…"]}. For a v4 app, functions are those the app registered (bindings as
// function.json would have them: authLevel, methods, route, schedule, …, with the library's
// defaults); for a v3 app the list is empty (the host reads function.json itself) and errors names
// the folders whose script failed to load. An app whose main throws still answers, with the error.
//
// # Which model (Lanyard's rule)
//
// An app is v4 when its package.json sets main and either declares @azure/functions with a major
// version of 4 or more, or has one installed where the app resolves it; otherwise v3. The models do
// not mix: in a v4 app, function.json folders are not run (the host refuses them as ignored when
// it indexes the app).
//
// # v3 (functions.md §4.2, implemented here)
//
// scriptFile (or §1.3's defaults: the only file, else run.js, else index.js, with .mjs and .cjs),
// entryPoint (else the only export, else run, else index); ESM through import(). The function is
// called as fn(context, ...inputs in the order of the in bindings). A non-trigger string input
// that is JSON is parsed, as Azure's Node worker does (a secret "123" arrives as the number 123).
// Outputs: a returned object keyed by binding name, context.bindings.NAME, context.res (for the
// http output), or the return value for $return.
//
// # v4 (functions.md §4.3, §4.4)
//
// The app's own @azure/functions runs unmodified: require('@azure/functions-core') returns the
// worker's core API (ESM apps import the CommonJS library, whose require is hooked too); each
// invocation runs getInvocationModel → getArguments → preInvocation hooks → invokeFunction →
// postInvocation hooks → getResponse, and the RpcInvocationResponse becomes Outputs and
// ReturnValue. The library JSON-parses string inputs (a keyVault secret "123" becomes 123).
package nodeworker
