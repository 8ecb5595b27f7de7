'use strict';
// Lanyard's Node worker: helpers shared by the v3 and v4 models (logs, module loading, globs,
// the HTTP conversions). Written for Lanyard; see ../doc.go for the protocol.

const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const { AsyncLocalStorage } = require('async_hooks');
const { isUtf8 } = require('buffer');

// The invocation a log line belongs to, found through the async context so that the
// @azure/functions-core log(), console-free system warnings and the v3 context all land in
// the right invocation's LogEntries (Lanyard's own).
const current = new AsyncLocalStorage();

// LogEntries levels (Lanyard's extension of functions.md §3.3); the RpcLog levels of §11 map
// onto them, critical → error, none → dropped.
const levels = {
  trace: 'trace', debug: 'debug', information: 'information', info: 'information',
  warning: 'warning', warn: 'warning', error: 'error', critical: 'error',
};

function stderrLine(level, message, inv) {
  const who = inv ? ` Function '${inv.functionName}' (Id=${inv.invocationId}):` : '';
  const lv = level.charAt(0).toUpperCase() + level.slice(1);
  process.stderr.write(`[${lv}]${who} ${String(message).replace(/\n/g, '\n  ')}\n`);
}

// Invocation collects one invocation's log entries until its response is built; after that
// (an un-awaited promise logging late) lines go to stderr with a warning, as Azure warns
// (functions.md §11).
class Invocation {
  constructor(invocationId, functionName) {
    this.invocationId = invocationId;
    this.functionName = functionName;
    this.entries = [];
    this.finished = false;
    this.warnLate = true; // v3: warn about a user log after completion (v4's library warns itself)
  }

  log(level, category, message) {
    const lv = levels[level];
    if (!lv) return;
    message = String(message);
    if (this.finished) {
      if (category === 'user' && this.warnLate) {
        stderrLine('warning', "Unexpected call to 'log' on the context object after function execution has completed. " +
          `Please check for asynchronous calls that are not awaited. Function name: ${this.functionName}. Invocation Id: ${this.invocationId}.`);
      }
      stderrLine(lv, message, this);
      return;
    }
    this.entries.push({ level: lv, category, message });
  }

  finish() {
    this.finished = true;
    return this.entries;
  }
}

// systemLog writes a worker line: into the current invocation when there is one, else stderr.
function systemLog(level, message) {
  const inv = current.getStore();
  if (inv && !inv.finished) inv.log(level, 'system', message);
  else if (levels[level]) stderrLine(levels[level], message);
}

// isESM tells whether file is loaded with import(): .mjs, or .js under a package.json with
// "type": "module" (Node's own rule; functions.md §4.3).
function isESM(file) {
  if (file.endsWith('.mjs')) return true;
  if (file.endsWith('.cjs')) return false;
  let dir = path.dirname(file);
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
      } catch {
        return false;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return false;
    dir = up;
  }
}

async function loadModule(file) {
  if (isESM(file)) return import(pathToFileURL(file).href);
  return require(file);
}

// glob expands package.json main (functions.md §4.3: "may be a glob"): *, ?, ** and {a,b}
// within root; node_modules is never entered by a wildcard. Lanyard's own implementation.
function glob(root, pattern) {
  pattern = pattern.replace(/^\.\//, '');
  if (!/[*?{]/.test(pattern)) {
    const f = path.resolve(root, pattern);
    return fs.existsSync(f) ? [f] : [];
  }
  const expand = (p) => {
    const m = /\{([^{}]*)\}/.exec(p);
    if (!m) return [p];
    return m[1].split(',').flatMap((alt) => expand(p.slice(0, m.index) + alt + p.slice(m.index + m[0].length)));
  };
  const out = new Set();
  for (const pat of expand(pattern)) {
    const parts = pat.split('/').filter((s) => s !== '' && s !== '.');
    walk(path.resolve(root), parts, out);
  }
  return [...out].sort();
}

function segRegExp(seg) {
  let re = '';
  for (const c of seg) {
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}

function walk(dir, parts, out) {
  if (parts.length === 0) {
    try {
      if (fs.statSync(dir).isFile()) out.add(dir);
    } catch { /* gone */ }
    return;
  }
  const [seg, ...rest] = parts;
  if (seg === '**') {
    walk(dir, rest, out);
    for (const e of readdir(dir)) {
      if (e.isDirectory() && e.name !== 'node_modules' && !e.name.startsWith('.')) walk(path.join(dir, e.name), parts, out);
    }
    return;
  }
  if (!/[*?]/.test(seg)) {
    walk(path.join(dir, seg), rest, out);
    return;
  }
  const re = segRegExp(seg);
  for (const e of readdir(dir)) {
    if (e.name === 'node_modules' || (e.name.startsWith('.') && !seg.startsWith('.'))) continue;
    if (re.test(e.name)) walk(path.join(dir, e.name), rest, out);
  }
}

function readdir(dir) {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

// HTTP trigger input (functions.md §3.2): Headers are string → array of strings; the models
// see one string per header, lower-case names, repeated values joined with ", " as Azure's
// host does for the Node worker (§4.4).
function flatHeaders(h) {
  const out = {};
  for (const [k, v] of Object.entries(h || {})) {
    if (v === null || v === undefined) continue;
    const key = k.toLowerCase();
    const val = Array.isArray(v) ? v.join(', ') : String(v);
    out[key] = key in out ? out[key] + ', ' + val : val;
  }
  return out;
}

// isBinaryType: the custom-handler Body is base64 for these content types (functions.md §3.2).
function isBinaryType(contentType) {
  const ct = (contentType || '').toLowerCase();
  return ct.startsWith('application/octet-stream') || ct.startsWith('multipart/');
}

// bodyBytes returns the trigger's body as a Buffer, or null when the request had none.
function bodyBytes(trigger, headers) {
  if (trigger.Body === undefined || trigger.Body === null) return null;
  if (isBinaryType(headers['content-type'])) return Buffer.from(String(trigger.Body), 'base64');
  return Buffer.from(typeof trigger.Body === 'string' ? trigger.Body : JSON.stringify(trigger.Body), 'utf8');
}

// camel turns the host's PascalCase keys into camelCase, recursively (the timer object and
// binding data, as Node v3 and v4 see them: functions.md §6, §4.2).
function camel(v) {
  if (Array.isArray(v)) return v.map(camel);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k.charAt(0).toLowerCase() + k.slice(1)] = camel(x);
    return out;
  }
  return v;
}

function errorBody(err) {
  if (err instanceof Error) return { error: err.message, stack: err.stack || '' };
  return { error: String(err), stack: '' };
}

function isBytes(v) {
  return Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof ArrayBuffer;
}

function toBase64(v) {
  if (v instanceof ArrayBuffer) return Buffer.from(new Uint8Array(v)).toString('base64');
  return Buffer.from(v.buffer ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v).toString('base64');
}

// bytesBody is the body field of an HTTP output for response bytes: the text itself when the
// response has a content type and the bytes are UTF-8 (the host writes a string body byte for
// byte), else base64 with "isBase64": true (Lanyard's flag: the host decodes it).
function bytesBody(bytes, headers) {
  const buf = bytes instanceof ArrayBuffer ? Buffer.from(bytes) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length === 0) return { body: '' };
  if (headers['content-type'] && isUtf8(buf)) return { body: buf.toString('utf8') };
  return { body: buf.toString('base64'), isBase64: true };
}

module.exports = {
  bytesBody,
  current, Invocation, systemLog, stderrLine, isESM, loadModule, glob, flatHeaders, isBinaryType,
  bodyBytes, camel, errorBody, isBytes, toBase64,
};
