'use strict';
// Lanyard's Node.js worker: a custom handler (functions.md §3) that runs a function app's
// JavaScript in the v3 model (function.json, §4.2) or the v4 model (the app's own
// @azure/functions 4.x, §4.3–4.4). The Go host starts `node worker.js` with the custom-handler
// environment; the protocol is in ../doc.go. Written for Lanyard; no npm dependencies.

const http = require('http');
const net = require('net');
const crypto = require('crypto');
const path = require('path');
const util = require('./util');
const v3 = require('./v3');
const v4 = require('./v4');

const VERSION = '1.1.0'; // nodeworker.Version; a test keeps them equal

const app = {
  model: 'v3', // or 'v4'
  root: '',
  errors: [],
  v3: null, // {functions, errors}
};

async function start() {
  // Azure: the port and the app root come from the custom-handler variables (§3.1).
  const port = Number(process.env.FUNCTIONS_CUSTOMHANDLER_PORT || process.env.FUNCTIONS_HTTPWORKER_PORT);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    util.stderrLine('error', 'FUNCTIONS_CUSTOMHANDLER_PORT is not set to a port');
    process.exit(2);
  }
  app.root = path.resolve(process.env.FUNCTIONS_APP_ROOT_PATH || process.env.AzureWebJobsScriptRoot || process.cwd());

  // Lanyard's rule (doc.go): v4 when package.json has main and @azure/functions ≥ 4; then
  // function.json folders are not run (the host, which indexes them, says so). Load errors go
  // to the host through discovery, which logs them.
  const pj = v4.detect(app.root);
  if (pj) {
    app.model = 'v4';
    const r = await v4.load(app.root, pj);
    app.errors.push(...r.errors);
  } else {
    app.v3 = await v3.load(app.root);
    app.errors.push(...app.v3.errors);
  }

  // Lanyard's own: the host's invocations come over a unix socket in frames (../doc.go) when it
  // gives one; it listens before the HTTP port, so the host's readiness poll on HTTP means both.
  const sockPath = process.env.LANYARD_WORKER_SOCKET;
  let frames = null;
  if (sockPath) {
    frames = net.createServer(serveFrames);
    frames.on('error', (err) => {
      util.stderrLine('error', `cannot listen on the socket ${sockPath}: ${err.message}`);
      process.exit(2);
    });
    await new Promise((resolve) => frames.listen(sockPath, resolve));
  }

  const server = http.createServer(handle);
  // The host keeps connections; an idle one must outlive Go's 90 s idle timeout, or a POST may
  // meet a connection the worker is closing (Lanyard's own). Invocations have no time limit
  // here: functionTimeout is the host's.
  server.keepAliveTimeout = 120000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.listen(port, '127.0.0.1');
  server.on('error', (err) => {
    util.stderrLine('error', `cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(2);
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.close();
    if (frames) frames.close();
    if (app.model === 'v4') await v4.terminate();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function send(res, status, obj) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

function handle(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('error', () => res.destroy());
  req.on('end', () => {
    route(req, res, Buffer.concat(chunks)).catch((err) => {
      send(res, 500, util.errorBody(err));
    });
  });
}

async function route(req, res, raw) {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/') {
    send(res, 200, { worker: 'lanyard-node', version: VERSION, model: app.model });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/.lanyard/functions') {
    send(res, 200, { model: app.model, functions: app.model === 'v4' ? v4.discovery() : [], errors: app.errors });
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, { error: `${req.method} is not an invocation; POST /{FunctionName}` });
    return;
  }
  const name = decodeURIComponent(url.pathname.slice(1));
  const fn = lookup(name);
  if (!fn) {
    send(res, 404, unknown(name));
    return;
  }
  let body;
  try {
    body = raw.length ? JSON.parse(raw.toString('utf8')) : {};
  } catch {
    // V8's message quotes the input, which may hold a secret: not repeated.
    send(res, 400, { error: 'the invocation body is not JSON' });
    return;
  }
  const [status, answer] = await invoke(fn, req.headers['x-azure-functions-invocationid'], body);
  send(res, status, answer);
}

function lookup(name) {
  if (app.model === 'v4') return v4.lookup(name);
  return app.v3.functions.get(name) || [...app.v3.functions.values()].find((f) => f.name.toLowerCase() === name.toLowerCase());
}

function unknown(name) {
  return { error: `no function named '${name}' in this app` };
}

// invoke runs one invocation of fn with the {Data, Metadata} document body and returns the
// answer's status and body, the same over HTTP and in frames.
async function invoke(fn, invocationId, body) {
  const inv = new util.Invocation(String(invocationId || crypto.randomUUID()), app.model === 'v4' ? fn.metadata.name : fn.name);
  let out;
  try {
    out = await util.current.run(inv, () => (app.model === 'v4' ? v4.invoke(fn, body, inv) : v3.invoke(fn, body, inv)));
  } catch (err) {
    // A function that throws: 500 with {error, stack} (Lanyard's shape; the host logs it as
    // Azure's "Result: Failure\nException: …\nStack: …", §11) and the log lines so far.
    const entries = inv.finish();
    return [500, { ...util.errorBody(err), LogEntries: entries }];
  }
  const entries = inv.finish();
  // Azure's custom-handler response (§3.3): Outputs, Logs (strings, written at Information),
  // ReturnValue; LogEntries is Lanyard's, with each line's level (the host uses it instead of
  // Logs when present).
  return [200, { Outputs: out.outputs, Logs: entries.map((e) => e.message), ReturnValue: out.returnValue === undefined ? null : out.returnValue, LogEntries: entries }];
}

// The framed protocol (Lanyard's own, ../doc.go): on each connection from the host, frames of a
// 4-byte big-endian length and a JSON document. A request is {"id","name","invocationId","body"}
// with body the {Data, Metadata} document of an HTTP invocation; the answer is
// {"id","status","body"} with the status and body HTTP would have. Requests on a connection may
// overlap; answers go out as invocations end. A frame over MAX_FRAME or that is not such a
// document closes the connection (the host never sends one); a connection the host closed (it
// gave up on the invocation) gets no answer, and the invocation runs to its end regardless.
const MAX_FRAME = 256 << 20; // the host's maxFrame

function serveFrames(sock) {
  let chunks = [];
  let have = 0;
  sock.on('error', () => sock.destroy());
  sock.on('data', (chunk) => {
    chunks.push(chunk);
    have += chunk.length;
    while (have >= 4) {
      if (chunks[0].length < 4) chunks = [Buffer.concat(chunks, have)];
      const n = chunks[0].readUInt32BE(0);
      if (n > MAX_FRAME) {
        util.stderrLine('error', `a frame from the host is over ${MAX_FRAME} bytes: the connection is closed`);
        sock.destroy();
        return;
      }
      if (have < 4 + n) return; // the rest of the frame is on its way
      const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, have);
      const rest = buf.subarray(4 + n);
      chunks = rest.length ? [rest] : [];
      have = rest.length;
      if (!frame(sock, buf.subarray(4, 4 + n))) return;
    }
  });
}

// frame starts the invocation of one request frame, which answers when it ends; false when the
// frame is not a request (the connection is then closed).
function frame(sock, doc) {
  let msg;
  try {
    msg = JSON.parse(doc.toString('utf8'));
  } catch {
    msg = null; // V8's message quotes the input, which may hold a secret: not repeated.
  }
  if (!msg || typeof msg !== 'object' || !Number.isSafeInteger(msg.id) || typeof msg.name !== 'string') {
    util.stderrLine('error', 'a frame from the host is not an invocation: the connection is closed');
    sock.destroy();
    return false;
  }
  const fn = lookup(msg.name);
  const run = fn ? invoke(fn, msg.invocationId, msg.body === undefined ? {} : msg.body) : Promise.resolve([404, unknown(msg.name)]);
  run.catch((err) => [500, util.errorBody(err)]).then(([status, body]) => answer(sock, msg.id, status, body));
  return true;
}

function answer(sock, id, status, body) {
  if (sock.destroyed) return; // the host gave up on the invocation
  let json;
  try {
    json = `{"id":${id},"status":${status},"body":${JSON.stringify(body)}}`;
  } catch (err) {
    json = JSON.stringify({ id, status: 500, body: util.errorBody(err) }); // as HTTP's handle
  }
  let n = Buffer.byteLength(json);
  if (n > MAX_FRAME) {
    json = JSON.stringify({ id, status: 500, body: { error: `the invocation's answer is over ${MAX_FRAME} bytes` } });
    n = Buffer.byteLength(json);
  }
  const out = Buffer.allocUnsafe(4 + n);
  out.writeUInt32BE(n, 0);
  out.write(json, 4, 'utf8');
  sock.write(out);
}

process.on('unhandledRejection', (err) => {
  util.stderrLine('error', `unhandled promise rejection: ${err && err.stack ? err.stack : err}`);
});

start().catch((err) => {
  util.stderrLine('error', `the worker failed to start: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
