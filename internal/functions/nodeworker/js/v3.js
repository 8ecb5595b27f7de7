'use strict';
// The v3 programming model (functions.md §4.2): function.json folders, `context`, `req`,
// `context.res`, `context.done`. Lanyard implements it here itself; the npm package 3.x is not
// needed. Behaviour marked "Azure" follows functions.md; the rest is Lanyard's own.

const fs = require('fs');
const path = require('path');
const util = require('./util');

// Script files a folder may use when function.json has no scriptFile (Azure: §1.3).
const defaultScripts = ['run.js', 'run.mjs', 'run.cjs', 'index.js', 'index.mjs', 'index.cjs'];
const jsExt = /\.(c|m)?js$/;

function isIn(b) {
  return b.direction === 'in' || b.direction === 'inout' || (b.direction === undefined && /trigger$/i.test(b.type || ''));
}
function isOut(b) {
  return b.direction === 'out' || b.direction === 'inout';
}

// resolveScript picks the function's file (Azure: §1.3). A scriptFile that is not JavaScript
// is refused with a message naming it (Lanyard's own; Azure's worker would fail to parse it).
function resolveScript(dir, json) {
  if (json.scriptFile) {
    const f = path.resolve(dir, json.scriptFile);
    if (!jsExt.test(f)) throw new Error(`function.json scriptFile '${json.scriptFile}' is not a JavaScript file (.js, .mjs or .cjs)`);
    if (!fs.existsSync(f)) throw new Error(`function.json scriptFile '${json.scriptFile}' does not exist`);
    return f;
  }
  const others = fs.readdirSync(dir).filter((n) => n !== 'function.json' && fs.statSync(path.join(dir, n)).isFile());
  if (others.length === 1 && jsExt.test(others[0])) return path.join(dir, others[0]);
  for (const n of defaultScripts) if (others.includes(n)) return path.join(dir, n);
  throw new Error(`no script file: function.json has no scriptFile and the folder has no run.js or index.js`);
}

// entry picks the export (Azure: §1.3, the only export, else run, else index, or entryPoint).
function entry(mod, entryPoint) {
  if (typeof mod === 'function' && !entryPoint) return mod;
  if (mod && typeof mod === 'object' && mod.__esModule === undefined && Object.prototype.toString.call(mod) === '[object Module]' &&
      typeof mod.default === 'function' && !entryPoint && Object.keys(mod).length === 1) {
    return mod.default;
  }
  if (!mod || (typeof mod !== 'object' && typeof mod !== 'function')) throw new Error('the script exports nothing');
  if (entryPoint) {
    if (typeof mod[entryPoint] === 'function') return mod[entryPoint];
    if (mod.default && typeof mod.default[entryPoint] === 'function') return mod.default[entryPoint];
    throw new Error(`the script has no function export named '${entryPoint}' (function.json entryPoint)`);
  }
  const fns = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
  if (fns.length === 1) return mod[fns[0]];
  if (typeof mod.run === 'function') return mod.run;
  if (typeof mod.index === 'function') return mod.index;
  if (typeof mod.default === 'function') return mod.default;
  if (mod.default && typeof mod.default === 'object' && mod.default !== mod) return entry(mod.default, entryPoint);
  throw new Error("unable to determine the function's entry point: export one function, or one named 'run' or 'index', or set entryPoint");
}

// load reads every function folder under root. A folder whose function.json or script fails
// keeps its error: discovery lists it and its invocations answer 500 with it.
async function load(root) {
  const functions = new Map();
  const errors = [];
  let names = [];
  try {
    names = fs.readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (err) {
    errors.push(`cannot read the script root ${root}: ${err.message}`);
  }
  for (const name of names) {
    const dir = path.join(root, name);
    const fj = path.join(dir, 'function.json');
    if (name === 'node_modules' || !fs.existsSync(fj)) continue;
    const f = { name, dir, json: null, fn: null, error: null };
    functions.set(name, f);
    try {
      f.json = JSON.parse(fs.readFileSync(fj, 'utf8'));
      if (!Array.isArray(f.json.bindings)) throw new Error('function.json has no bindings array');
      const file = resolveScript(dir, f.json);
      f.fn = entry(await util.loadModule(file), f.json.entryPoint);
    } catch (err) {
      f.error = `${name}: ${err && err.message ? err.message : err}`;
      errors.push(f.error);
    }
  }
  return { functions, errors };
}

// Request is v3's req (Azure: §4.2, NL3 Request.ts).
function makeRequest(trigger) {
  const headers = util.flatHeaders(trigger.Headers);
  const buf = util.bodyBytes(trigger, headers);
  const ct = (headers['content-type'] || '').toLowerCase();
  let body;
  let rawBody;
  if (buf) {
    if (util.isBinaryType(ct)) {
      body = buf;
      rawBody = buf.toString('latin1');
    } else {
      rawBody = buf.toString('utf8');
      body = rawBody;
      if (/[/+]json\b/.test(ct)) {
        try {
          body = JSON.parse(rawBody);
        } catch { /* stays a string, as Azure */ }
      }
    }
  }
  return {
    method: (trigger.Method || 'GET').toUpperCase(),
    url: trigger.Url || '',
    originalUrl: trigger.Url || '',
    headers,
    query: { ...(trigger.Query || {}) },
    params: Object.fromEntries(Object.entries(trigger.Params || {}).map(([k, v]) => [k, v === null ? undefined : v])),
    body,
    rawBody,
    bufferBody: buf || undefined,
    user: principal(headers),
    get(name) {
      return headers[String(name).toLowerCase()];
    },
  };
}

// principal decodes x-ms-client-principal as the v3 library does: App Service or Static Web
// Apps shape, null without the header.
function principal(h) {
  const raw = h['x-ms-client-principal'];
  if (!raw) return null;
  let p;
  try {
    p = JSON.parse(Buffer.from(raw, 'base64').toString('utf8'));
  } catch {
    return null;
  }
  if (p && p.identityProvider) {
    return { type: 'StaticWebApps', id: p.userId, username: p.userDetails, identityProvider: p.identityProvider, claimsPrincipalData: {} };
  }
  return {
    type: 'AppService', id: h['x-ms-client-principal-id'], username: h['x-ms-client-principal-name'],
    identityProvider: h['x-ms-client-principal-idp'], claimsPrincipalData: p,
  };
}

// Response is the default context.res, with v3's chainable helpers.
class Response {
  constructor(done) {
    this.headers = {};
    this.cookies = [];
    Object.defineProperty(this, '_done', { value: done });
  }
  status(code) { this.statusCode = code; return this; }
  setHeader(k, v) { this.headers[String(k).toLowerCase()] = v; return this; }
  header(k, v) { return this.setHeader(k, v); }
  set(k, v) { return this.setHeader(k, v); }
  getHeader(k) { return this.headers[String(k).toLowerCase()]; }
  get(k) { return this.getHeader(k); }
  removeHeader(k) { delete this.headers[String(k).toLowerCase()]; return this; }
  type(t) { return this.setHeader('content-type', t); }
  send(body) { this.body = body; this._done(); return this; }
  end(body) { return this.send(body); }
  sendStatus(code) { return this.status(code).send(); }
  json(body) { return this.type('application/json').send(body); }
}

function untouched(res) {
  return res instanceof Response && res.body === undefined && res.statusCode === undefined &&
    typeof res.status === 'function' && Object.keys(res.headers).length === 0 && res.cookies.length === 0;
}

// httpOut normalizes an HTTP output for the host (functions.md §3.3 shape {statusCode, headers,
// body}). Node v3 on Azure honours a status without a body (the gRPC path), so the output always
// carries a body key; bytes are base64 with "isBase64": true (Lanyard's flag).
function httpOut(v) {
  if (v === null || typeof v !== 'object' || util.isBytes(v)) return { statusCode: 200, headers: {}, ...bodyOf(v, {}) };
  let status = typeof v.status === 'function' ? undefined : v.status;
  if (status === undefined) status = v.statusCode;
  if (status === undefined || status === null || status === '') status = 200;
  const headers = {};
  for (const [k, x] of Object.entries(v.headers || {})) if (x !== undefined && x !== null) headers[k.toLowerCase()] = Array.isArray(x) ? x.map(String) : String(x);
  if (Array.isArray(v.cookies) && v.cookies.length) headers['set-cookie'] = [].concat(headers['set-cookie'] || [], v.cookies.map(cookieString));
  return { statusCode: Number(status), headers, ...bodyOf(v.body, headers) };
}

function bodyOf(b, headers) {
  if (b === undefined || b === null) return { body: '' };
  if (util.isBytes(b)) return util.bytesBody(b, headers || {});
  return { body: b };
}

function cookieString(c) {
  let s = `${c.name}=${c.value}`;
  if (c.domain) s += `; Domain=${c.domain}`;
  if (c.path) s += `; Path=${c.path}`;
  if (c.expires) s += `; Expires=${new Date(c.expires).toUTCString()}`;
  if (c.maxAge !== undefined) s += `; Max-Age=${c.maxAge}`;
  if (c.secure) s += '; Secure';
  if (c.httpOnly) s += '; HttpOnly';
  if (c.sameSite) s += `; SameSite=${c.sameSite}`;
  return s;
}

// otherOut converts a non-HTTP output; bytes travel as base64 (the host decodes strings that
// are base64 anyway: functions.md §3.3).
function otherOut(v) {
  return util.isBytes(v) ? util.toBase64(v) : v;
}

// inputValue converts a non-trigger input as the v3 worker does: a string that is JSON is
// parsed (Azure: fromTypedData(convertStringToJson = true); a keyVault secret "123" arrives
// as the number 123).
function inputValue(b, v) {
  if (/^timertrigger$/i.test(b.type)) return util.camel(v);
  if (typeof v === 'string') {
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  }
  return v;
}

async function invoke(f, body, inv) {
  if (f.error) throw new Error(f.error);
  const data = body.Data || {};
  const meta = body.Metadata || {};
  const bindings = f.json.bindings;
  const log = (level) => (...args) => inv.log(level, 'user', require('util').format(...args));
  const ctxLog = log('information');
  ctxLog.error = log('error');
  ctxLog.warn = log('warning');
  ctxLog.info = log('information');
  ctxLog.verbose = log('trace');

  let resolveDone;
  const donePromise = new Promise((resolve) => { resolveDone = resolve; });
  let doneCalled = false;
  let doneByUser = false;
  const done = (err, result) => {
    if (doneCalled) {
      inv.log('error', 'system', "Error: 'done' has already been called. Please check your script for extraneous calls to 'done'.");
      return;
    }
    doneCalled = true;
    inv.completed = true;
    resolveDone({ err, result });
  };

  const context = {
    invocationId: inv.invocationId,
    executionContext: {
      invocationId: inv.invocationId, functionName: f.name, functionDirectory: f.dir,
      retryContext: meta.RetryContext ? util.camel(meta.RetryContext) : null,
    },
    bindings: {},
    bindingData: { invocationId: inv.invocationId, ...util.camel(meta) },
    bindingDefinitions: bindings.map((b) => ({ name: b.name, type: b.type, direction: b.direction })),
    traceContext: { traceparent: undefined, tracestate: undefined, attributes: {} },
    log: ctxLog,
    done: (err, result) => { doneByUser = true; done(err, result); },
  };
  if (!context.bindingData.sys) {
    context.bindingData.sys = { methodName: f.name, utcNow: new Date().toISOString(), randGuid: require('crypto').randomUUID() };
  }

  const inputs = [];
  for (const b of bindings.filter(isIn)) {
    let v = data[b.name];
    if (/^httptrigger$/i.test(b.type)) {
      v = makeRequest(v || {});
      context.req = v;
      context.res = new Response(() => done());
      context.traceContext.traceparent = v.headers.traceparent;
      context.traceContext.tracestate = v.headers.tracestate;
      // Azure: HTTP binding data also has the route values, query and headers (§4.2).
      for (const [k, x] of Object.entries(v.params)) if (!(k in context.bindingData)) context.bindingData[k] = x;
      context.bindingData.query = v.query;
      context.bindingData.headers = v.headers;
    } else {
      v = inputValue(b, v);
    }
    context.bindings[b.name] = v;
    inputs.push(v);
  }

  const ret = f.fn(context, ...inputs);
  let result;
  if (ret && typeof ret.then === 'function') {
    try {
      result = await ret;
    } finally {
      inv.completed = true;
    }
    if (doneByUser) {
      inv.log('error', 'system', "Error: Choose either to return a promise or call 'done'. Do not use both in your script.");
    }
  } else {
    const d = await donePromise;
    if (d.err) throw d.err;
    result = d.result;
  }

  const outputs = {};
  let returnValue;
  const keyed = result && typeof result === 'object' && !util.isBytes(result) && !bindings.some((b) => b.name === '$return');
  for (const b of bindings.filter(isOut)) {
    const isHttp = /^http$/i.test(b.type);
    if (b.name === '$return') {
      if (result !== undefined) returnValue = isHttp ? httpOut(result) : otherOut(result);
      continue;
    }
    let v = keyed && b.name in result ? result[b.name] : context.bindings[b.name];
    if (isHttp && v === undefined && context.res !== undefined && !untouched(context.res)) v = context.res;
    if (v === undefined) continue;
    outputs[b.name] = isHttp ? httpOut(v) : otherOut(v);
  }
  return { outputs, returnValue };
}

module.exports = { load, invoke };
