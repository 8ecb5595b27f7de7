'use strict';
// The v4 programming model (functions.md §4.3, §4.4): the app's own npm @azure/functions 4.x
// runs unmodified; this file provides the '@azure/functions-core' module it requires and drives
// its programming model per invocation as Azure's worker does. Written fresh for Lanyard.

const fs = require('fs');
const path = require('path');
const Module = require('module');
const util = require('./util');

const hookNames = ['preInvocation', 'postInvocation', 'appStart', 'appTerminate', 'log'];

// Disposable is the core API's class (NLc): from() combines, the constructor takes the
// function dispose() calls once.
class Disposable {
  static from(...items) {
    return new Disposable(() => { for (const d of items) d.dispose(); });
  }
  constructor(fn) {
    this._fn = fn;
  }
  dispose() {
    if (this._fn) {
      const fn = this._fn;
      this._fn = null;
      fn();
    }
  }
}

const state = {
  model: null,
  functions: new Map(), // name → {metadata, callback}
  hooks: Object.fromEntries(hookNames.map((n) => [n, []])),
  appHookData: {},
  starting: true,
};

const core = {
  version: '3.10.1', // the Azure worker version whose contract this implements (NW 3.x line)
  hostVersion: '4.1036.0',
  Disposable,
  setProgrammingModel(pm) {
    state.model = pm;
  },
  getProgrammingModel() {
    return state.model;
  },
  registerFunction(metadata, callback) {
    if (!state.starting) throw new Error('A function can only be registered during app startup.');
    const name = metadata && metadata.name;
    if (!name) throw new Error('A function must have a name.');
    if (state.functions.has(name.toLowerCase())) throw new Error(`A function with name "${name}" has already been registered.`);
    const key = name.toLowerCase();
    state.functions.set(key, { metadata, callback });
    return new Disposable(() => {
      if (state.starting) state.functions.delete(key);
    });
  },
  registerHook(name, callback) {
    if (!Object.prototype.hasOwnProperty.call(state.hooks, name)) {
      // Azure: an unknown hook name is a RangeError, which the library turns into its version
      // message (functions.md §4.4).
      throw new RangeError(`Unrecognized hook "${name}"`);
    }
    const list = state.hooks[name];
    const entry = { callback };
    list.push(entry);
    return new Disposable(() => {
      const i = list.indexOf(entry);
      if (i >= 0) list.splice(i, 1);
    });
  },
  log(level, category, message) {
    logThroughHooks(util.current.getStore(), level, category, message);
  },
};

function logThroughHooks(inv, level, category, message) {
  const ctx = { level, category, message: String(message), invocationContext: inv && inv.context, hookData: {}, appHookData: state.appHookData };
  for (const h of state.hooks.log.slice()) {
    try {
      h.callback(ctx);
    } catch (err) {
      util.stderrLine('error', `a log hook threw: ${err && err.message}`);
    }
  }
  // The library itself warns about a user log after the function completed; so no second
  // warning here (inv.warnLate is false for v4).
  if (inv) inv.log(ctx.level, category, ctx.message);
  else util.systemLog(ctx.level, ctx.message);
}

// install answers require('@azure/functions-core') with the core API, for CommonJS and, since
// the library is CommonJS and requires it, for ESM apps too (Azure's worker does the same with
// a Proxy: functions.md §4.4).
function install() {
  const orig = Module.prototype.require;
  Module.prototype.require = function require(id) {
    if (id === '@azure/functions-core') return core;
    return orig.apply(this, arguments);
  };
}

// detect says whether root is a v4 app (Lanyard's rule): package.json has main, and
// @azure/functions ≥ 4 is declared in its dependencies or installed where the app resolves it.
function detect(root) {
  let pj;
  try {
    pj = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  } catch {
    return null;
  }
  if (!pj || typeof pj.main !== 'string' || pj.main === '') return null;
  const declared = { ...(pj.devDependencies || {}), ...(pj.dependencies || {}) }['@azure/functions'];
  if (declared) {
    const m = /(\d+)/.exec(declared);
    if (m && Number(m[1]) >= 4) return pj;
  }
  try {
    const req = Module.createRequire(path.join(root, 'package.json'));
    const ver = req('@azure/functions/package.json').version;
    if (Number(String(ver).split('.')[0]) >= 4) return pj;
  } catch { /* not installed */ }
  return null;
}

async function load(root, pj) {
  install();
  const errors = [];
  const files = util.glob(root, pj.main);
  if (files.length === 0) errors.push(`package.json main '${pj.main}' matches no file`);
  for (const file of files) {
    try {
      await util.loadModule(file);
    } catch (err) {
      errors.push(`${path.relative(root, file)}: ${err && err.stack ? err.stack : err}`);
    }
  }
  state.starting = false;
  for (const h of state.hooks.appStart.slice()) {
    try {
      await h.callback({ hookData: {}, appHookData: state.appHookData, functionAppDirectory: root });
    } catch (err) {
      errors.push(`appStart hook: ${err && err.message ? err.message : err}`);
    }
  }
  return { errors };
}

async function terminate() {
  for (const h of state.hooks.appTerminate.slice()) {
    try {
      await h.callback({ hookData: {}, appHookData: state.appHookData });
    } catch (err) {
      util.stderrLine('error', `appTerminate hook: ${err && err.message}`);
    }
  }
}

// discovery gives the registered functions' bindings as function.json would have them
// (Lanyard's own endpoint).
function discovery() {
  const out = [];
  for (const { metadata } of state.functions.values()) {
    const bindings = [];
    for (const [name, b] of Object.entries(metadata.bindings || {})) {
      const { properties, type, direction, ...opts } = b;
      void properties;
      const fb = { type, direction, name };
      for (const [k, v] of Object.entries(opts)) if (v !== undefined && k !== 'name') fb[k] = v;
      bindings.push(fb);
    }
    const f = { name: metadata.name, bindings };
    if (metadata.retryOptions) f.retry = metadata.retryOptions;
    out.push(f);
  }
  return out;
}

function lookup(name) {
  return state.functions.get(String(name).toLowerCase());
}

// typed turns a custom-handler value into RPC TypedData (functions.md §4.4).
function typed(v) {
  if (v === undefined || v === null) return {};
  if (typeof v === 'string') return { string: v };
  return { json: JSON.stringify(v) };
}

// httpData builds the RPC http input from the custom-handler HTTP trigger object (§3.2 → §4.4).
function httpData(t) {
  const headers = util.flatHeaders(t.Headers);
  let url = t.Url || '/';
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) url = `http://${headers.host || 'localhost'}${url.startsWith('/') ? '' : '/'}${url}`;
  const params = {};
  for (const [k, v] of Object.entries(t.Params || {})) params[k] = v === null || v === undefined ? '' : String(v);
  const query = {};
  for (const [k, v] of Object.entries(t.Query || {})) query[k] = v === null || v === undefined ? '' : String(v);
  const http = { method: (t.Method || 'GET').toUpperCase(), url, headers, query, params };
  const buf = util.bodyBytes(t, headers);
  if (buf && buf.length) http.body = { bytes: buf };
  return { http };
}

function request(reg, body, invocationId) {
  const data = body.Data || {};
  const meta = body.Metadata || {};
  const inputData = [];
  const names = Object.keys(reg.metadata.bindings || {});
  for (const [name, b] of Object.entries(reg.metadata.bindings || {})) {
    if (b.direction !== 'in') continue;
    let v = data[name];
    if (v === undefined && /trigger$/i.test(b.type)) {
      // Lanyard's leniency: the library names a trigger itself (httpTrigger + a hash, §4.3);
      // a host that sent the trigger under another name still reaches it when Data holds
      // exactly one value that is not another binding's.
      const rest = Object.keys(data).filter((k) => !names.includes(k));
      if (rest.length === 1) v = data[rest[0]];
    }
    if (/^httptrigger$/i.test(b.type)) inputData.push({ name, data: httpData(v || {}) });
    else if (/^timertrigger$/i.test(b.type)) inputData.push({ name, data: { json: JSON.stringify(v || {}) } });
    else inputData.push({ name, data: typed(v) });
  }
  const triggerMetadata = {};
  for (const [k, v] of Object.entries(meta)) triggerMetadata[k] = typed(v);
  const req = { invocationId, functionId: reg.metadata.functionId || reg.metadata.name, inputData, triggerMetadata };
  if (meta.RetryContext) {
    const r = meta.RetryContext;
    req.retryContext = { retryCount: r.RetryCount || 0, maxRetryCount: r.MaxRetryCount || 0, exception: r.Exception ? { message: String(r.Exception) } : undefined };
  }
  return req;
}

// fromTyped turns RPC TypedData into a custom-handler value; HTTP becomes {statusCode, headers,
// body} with bytes in base64 and "isBase64": true (Lanyard's flag, for the host).
function fromTyped(d) {
  if (!d || typeof d !== 'object') return undefined;
  if (d.http) {
    const h = d.http;
    const headers = {};
    for (const [k, v] of Object.entries(h.headers || {})) headers[k.toLowerCase()] = String(v);
    if (Array.isArray(h.cookies) && h.cookies.length) {
      const sc = headers['set-cookie'] ? [headers['set-cookie']] : [];
      headers['set-cookie'] = sc.concat(h.cookies.map(cookieString));
    }
    const out = { statusCode: Number(h.statusCode || 200), headers };
    const b = h.body || {};
    if (b.bytes !== undefined && b.bytes !== null) Object.assign(out, util.bytesBody(b.bytes, headers));
    else if (b.string !== undefined) out.body = b.string;
    else if (b.json !== undefined) out.body = JSON.parse(b.json);
    else out.body = '';
    return out;
  }
  if (d.string !== undefined) return d.string;
  if (d.json !== undefined) return JSON.parse(d.json);
  if (d.bytes !== undefined && d.bytes !== null) return util.toBase64(d.bytes);
  if (d.int !== undefined) return Number(d.int);
  if (d.double !== undefined) return d.double;
  if (d.collectionString) return d.collectionString.string || [];
  if (d.collectionDouble) return d.collectionDouble.double || [];
  if (d.collectionSint64) return (d.collectionSint64.sint64 || []).map(Number);
  if (d.collectionBytes) return (d.collectionBytes.bytes || []).map(util.toBase64);
  return undefined;
}

// cookieString renders an RpcHttpCookie (sameSite 0..3 or its name) as a Set-Cookie value.
function cookieString(c) {
  let s = `${c.name}=${c.value}`;
  const val = (x) => (x && typeof x === 'object' && 'value' in x ? x.value : x);
  if (val(c.domain)) s += `; Domain=${val(c.domain)}`;
  if (val(c.path)) s += `; Path=${val(c.path)}`;
  const exp = val(c.expires);
  if (exp) s += `; Expires=${new Date(typeof exp === 'object' && exp.seconds !== undefined ? Number(exp.seconds) * 1000 : exp).toUTCString()}`;
  const maxAge = val(c.maxAge);
  if (maxAge !== undefined && maxAge !== null) s += `; Max-Age=${maxAge}`;
  if (val(c.secure)) s += '; Secure';
  if (val(c.httpOnly)) s += '; HttpOnly';
  // RPC's SameSite: none (0) means unset; explicitNone (3) is "SameSite=None".
  const ss = { 1: 'Lax', 2: 'Strict', 3: 'None', lax: 'Lax', strict: 'Strict', explicitnone: 'None' }[String(c.sameSite).toLowerCase()];
  if (ss) s += `; SameSite=${ss}`;
  return s;
}

// invoke runs one invocation in the order of Azure's worker (functions.md §4.4 steps 1–6).
async function invoke(reg, body, inv) {
  if (!state.model) throw new Error('the app registered functions without a programming model');
  const coreCtx = {
    invocationId: inv.invocationId,
    request: request(reg, body, inv.invocationId),
    metadata: { ...reg.metadata },
    state: undefined,
    log: (level, category, message) => logThroughHooks(inv, level, category, message),
  };
  const model = await state.model.getInvocationModel(coreCtx);
  const args = await model.getArguments();
  const context = args.context;
  inv.context = context;
  inv.warnLate = false;
  const hookData = {};
  const pre = { hookData, appHookData: state.appHookData, invocationContext: context, inputs: args.inputs, functionCallback: reg.callback };
  coreCtx.state = 'preInvocationHooks';
  for (const h of state.hooks.preInvocation.slice()) await h.callback(pre);
  coreCtx.state = 'invocation';
  let result;
  let error;
  let failed = false;
  try {
    result = await model.invokeFunction(context, pre.inputs, pre.functionCallback);
  } catch (err) {
    failed = true;
    error = err;
  }
  coreCtx.state = 'postInvocationHooks';
  const post = { hookData, appHookData: state.appHookData, invocationContext: context, inputs: pre.inputs, result, error };
  for (const h of state.hooks.postInvocation.slice()) await h.callback(post);
  coreCtx.state = undefined;
  // A postInvocation hook may replace or clear the error (Azure's worker rethrows the hook
  // context's error).
  if (post.error !== undefined && post.error !== null) throw post.error;
  if (failed && post.error === undefined) throw error;
  const resp = await model.getResponse(context, post.result);
  const outputs = {};
  for (const o of resp.outputData || []) {
    const v = fromTyped(o.data);
    if (v !== undefined) outputs[o.name] = v;
  }
  const returnValue = resp.returnValue ? fromTyped(resp.returnValue) : undefined;
  return { outputs, returnValue };
}

module.exports = { detect, load, terminate, discovery, lookup, invoke, core };
