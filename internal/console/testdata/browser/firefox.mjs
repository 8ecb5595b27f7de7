// Drives Lanyard's web console in Debian's Firefox ESR over WebDriver BiDi (npm puppeteer-core;
// Playwright needs its own patched Firefox, which Debian does not ship). The flows are those of
// console.mjs (Chromium) written for puppeteer: every click is a key press (Tab to the control,
// then Enter, Space or the arrow keys), axe-core runs on every page, the security headers of
// every document are checked, and a dialog (an escaped value that ran as script) or a CSP
// violation fails the flow. Firefox is kept off the network: its background services are
// switched off by preference, every address but loopback goes to a proxy that is not there, and
// a page's request for anything but loopback is aborted and reported.
//
// Usage: node firefox.mjs FLOW   with the environment of console.mjs (BASE, LINK, SHOTS, PARAMS)
// and FIREFOX, the browser's executable (default /usr/bin/firefox-esr).
// It prints one JSON line: {"ok":true,"out":{...}} or {"ok":false,"error":"..."}.
import puppeteer from 'puppeteer-core';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const flow = process.argv[2];
const { BASE, LINK, SHOTS } = process.env;
const P = JSON.parse(process.env.PARAMS || '{}');
const problems = [];
let shot = 0;

function fail(msg) { throw new Error(msg); }

// Preferences that keep Firefox from reaching anything but loopback (puppeteer sets more of the
// same kind for automation: no updates, no telemetry, no captive-portal check).
const prefs = {
  // Everything not on loopback goes to a proxy on a port nothing listens on: it cannot leave.
  'network.proxy.type': 1,
  'network.proxy.http': '127.0.0.1', 'network.proxy.http_port': 9,
  'network.proxy.ssl': '127.0.0.1', 'network.proxy.ssl_port': 9,
  'network.proxy.share_proxy_settings': true,
  'network.proxy.no_proxies_on': 'localhost, 127.0.0.1',
  'network.proxy.allow_hijacking_localhost': false,
  'network.trr.mode': 5, // no DNS over HTTPS
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.http.speculative-parallel-limit': 0,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'app.update.enabled': false, 'app.update.auto': false,
  'app.normandy.enabled': false, 'app.shield.optoutstudies.enabled': false,
  'browser.safebrowsing.malware.enabled': false, 'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false, 'browser.safebrowsing.blockedURIs.enabled': false,
  'browser.safebrowsing.downloads.remote.enabled': false, 'browser.safebrowsing.provider.mozilla.updateURL': '',
  'browser.search.update': false, 'browser.region.update.enabled': false, 'browser.region.network.url': '',
  'browser.topsites.contile.enabled': false, 'browser.newtabpage.enabled': false,
  'browser.startup.homepage': 'about:blank', 'browser.startup.page': 0,
  'datareporting.healthreport.uploadEnabled': false, 'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false, 'toolkit.telemetry.unified': false, 'toolkit.telemetry.server': '',
  'extensions.update.enabled': false, 'extensions.getAddons.cache.enabled': false, 'extensions.blocklist.enabled': false,
  'services.settings.server': 'http://127.0.0.1:9/', 'messaging-system.rsexperimentloader.enabled': false,
  'security.OCSP.enabled': 0, 'security.remote_settings.crlite_filters.enabled': false,
  'geo.provider.network.url': '', 'media.gmp-manager.url': '', 'media.gmp-gmpopenh264.enabled': false,
  'browser.ping-centre.telemetry': false, 'network.http.http3.enable': false,
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanyard-firefox-'));
const browser = await puppeteer.launch({
  browser: 'firefox', executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr', headless: true,
  acceptInsecureCerts: true, userDataDir: dir, defaultViewport: { width: 1280, height: 800 },
  extraPrefsFirefox: prefs, protocolTimeout: 60000,
});
// A new tab: in the tab Firefox starts with, keys reach the page but do not activate buttons or
// tick checkboxes (no focused window), so the keyboard-only flows would stall there.
const page = await browser.newPage();
page.setDefaultTimeout(10000);
// Every request of a page stays on loopback.
await page.setRequestInterception(true);
page.on('request', (req) => {
  const u = new URL(req.url());
  if (u.protocol === 'data:' || u.protocol === 'about:' || u.hostname === 'localhost' || u.hostname === '127.0.0.1') return req.continue();
  problems.push('request off loopback: ' + u.href);
  return req.abort();
});
// LANYARD_BROWSER_DEBUG=1 prints the requests, answers and key presses to stderr.
if (process.env.LANYARD_BROWSER_DEBUG) {
  page.on('request', (r) => console.error('request', r.method(), r.url()));
  page.on('response', (r) => console.error('response', r.status(), r.url()));
}
page.on('dialog', async (d) => { problems.push(`a dialog opened (script ran): ${d.message()}`); await d.dismiss(); });
// CSP violations are recorded in the page by a preload script (not subject to the page's CSP).
await page.evaluateOnNewDocument(() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
});
page.on('response', (resp) => {
  const req = resp.request();
  if (!req.isNavigationRequest() || !resp.url().startsWith(BASE + '/console/')) return;
  const h = resp.headers();
  const csp = h['content-security-policy'] || '';
  if (!csp.includes("frame-ancestors 'none'") || /script-src[^;]*'unsafe-inline'/.test(csp) || !/script-src 'self'/.test(csp)) {
    problems.push(`bad CSP on ${resp.url()}: ${csp}`);
  }
  if (h['x-content-type-options'] !== 'nosniff') problems.push('no nosniff on ' + resp.url());
  const u = new URL(resp.url());
  for (const [k, v] of u.searchParams) {
    if (k === 't' && u.pathname === '/console/login') continue; // the login link itself
    if (v.length >= 40 && /^[A-Za-z0-9_-]+$/.test(v) && k !== 'next' && k !== 'dnext') problems.push(`a secret-looking value in a URL: ${k}`);
  }
});

// find returns the first element matching selector whose text (or value) is text (exact) or
// contains it; it waits up to 5 s for one.
async function find(selector, text, exact = true) {
  const t0 = Date.now();
  for (;;) {
    const h = await page.evaluateHandle((sel, want, ex) => {
      const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
      for (const el of document.querySelectorAll(sel)) {
        const got = norm(el.innerText || el.value || el.getAttribute('aria-label'));
        if (want === null || (ex ? got === want : got.includes(want))) return el;
      }
      return null;
    }, selector, text, exact);
    const el = h.asElement();
    if (el) return el;
    await h.dispose();
    if (Date.now() - t0 > 5000) fail(`no ${selector} ${JSON.stringify(text)} on ${page.url()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const $ = (selector) => find(selector, null);
const menu = (name) => find('nav[aria-label="Services"] a', name);
const link = (name, exact = true) => find('a', name, exact);
const button = (name) => find('button, input[type=submit]', name);

// focusByTab presses Tab until el has the focus (for a radio, any radio of its group).
async function focusByTab(el) {
  for (let i = 0; i < 400; i++) {
    const done = await el.evaluate((t) => {
      const a = document.activeElement;
      return a === t || (t.type === 'radio' && a && a.type === 'radio' && a.name === t.name && a.form === t.form);
    });
    if (done) return el;
    await page.keyboard.press('Tab');
  }
  fail('not reachable with Tab: ' + (await el.evaluate((t) => t.outerHTML.slice(0, 200))));
}

// press activates a link or button with Enter and waits for the page it leads to (nav false: in
// place, such as a summary).
async function press(elp, nav = true) {
  const el = await focusByTab(await elp);
  if (process.env.LANYARD_BROWSER_DEBUG) console.error('press', await page.evaluate(() => document.activeElement.outerHTML.slice(0, 200)));
  if (!nav) { await page.keyboard.press('Enter'); return; }
  await Promise.all([page.waitForNavigation({ waitUntil: 'load', timeout: 15000 }), page.keyboard.press('Enter')]);
}

async function checked(el) { return el.evaluate((t) => t.checked); }

// tick ticks a checkbox with Space.
async function tick(elp) {
  const el = await focusByTab(await elp);
  if (!(await checked(el))) await page.keyboard.press(' ');
  if (!(await checked(el))) fail('could not tick a checkbox');
}

// choose selects a radio with the arrow keys (as the keyboard moves within a radio group).
async function choose(elp) {
  const el = await focusByTab(await elp);
  for (let i = 0; i < 50 && !(await checked(el)); i++) {
    const here = await el.evaluate((t) => document.activeElement === t);
    await page.keyboard.press(here ? ' ' : 'ArrowDown');
  }
  if (!(await checked(el))) fail('could not choose a radio');
}

// type types text into a field (after selecting what it held).
async function type(elp, text) {
  await focusByTab(await elp);
  await page.keyboard.down('Control'); await page.keyboard.press('KeyA'); await page.keyboard.up('Control');
  await page.keyboard.type(text);
}

async function waitURL(re) {
  const t0 = Date.now();
  while (!re.test(page.url())) {
    if (Date.now() - t0 > 10000) fail(`the page is ${page.url()}, not ${re}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function textOf(selector, hasText) {
  const el = await find(selector, hasText, false);
  return el.evaluate((t) => t.innerText);
}

async function expectText(selector, hasText, want) {
  const t = await textOf(selector, hasText);
  if (!t.includes(want)) fail(`expected ${JSON.stringify(want)} in ${selector}, got ${JSON.stringify(t.slice(0, 300))}`);
}

// check runs axe, looks for CSP violations and takes a screenshot of the page as it is.
async function check(name) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of r.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      problems.push(`axe ${v.impact} ${v.id} on ${name} (${page.url()}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`);
    }
  }
  const csp = await page.evaluate(() => window.__csp || []);
  for (const c of csp) problems.push(`CSP violation on ${name}: ${c}`);
  shot++;
  await page.screenshot({ path: path.join(SHOTS, `firefox-${flow}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function signIn() {
  await page.goto(LINK, { waitUntil: 'load' });
  await waitURL(new RegExp('^' + BASE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + '/console/$'));
  await check('dashboard');
}

const flows = {
  // Seed 003: the function app's system-assigned identity, an access policy with secret Get for
  // it (found by name in the principal picker), and the confirm when turning an identity off.
  async seed003() {
    await signIn();
    await press(menu('Function App'));
    await check('function-apps');
    await press(link(P.app));
    await check('function-app');
    await press(link('Identity'));
    await check('identity-off');
    await choose($('#status-on'));
    await press(button('Save'));
    const principalId = (await textOf('#principal-id', '')).trim();
    await check('identity-on');
    await press(menu('Key vaults'));
    await check('vaults');
    await press(link(P.vault));
    await press(link('Access policies'));
    await check('access-policies');
    await press(link('+ Create', false));
    await check('policy-new');
    await tick($('#perm-get'));
    await type($('#q'), P.app);
    await press(button('Search'));
    await $(`#sp-${principalId}`);
    await check('policy-principal');
    await choose($(`#sp-${principalId}`));
    if (!(await checked(await $('#perm-get')))) fail('the Get permission was lost by the search');
    await press(button('Create'));
    await waitURL(/access-policies\?ok=created/);
    await expectText('tbody tr', principalId, 'get');
    await expectText('tbody tr', principalId, P.app);
    await check('policy-created');
    // The confirm when turning an identity off, on the other app.
    await page.goto(`${BASE}/console/sites/${P.group}/${P.other}/identity`, { waitUntil: 'load' });
    await choose($('#status-on'));
    await press(button('Save'));
    const otherId = (await textOf('#principal-id', '')).trim();
    await choose($('#status-off'));
    await press(button('Save'));
    await expectText('[role=alertdialog]', '', 'will be deleted');
    await check('identity-confirm-off');
    await press(button('Yes'));
    await waitURL(/identity\?ok=saved/);
    if (await page.$('#principal-id')) fail('the identity is still on after Yes');
    return { principalId, otherId };
  },

  // Every list page, for axe and the header rules, and the escaping of hostile names.
  async pages() {
    await signIn();
    for (const [name, p] of Object.entries(P.pages)) {
      await page.goto(BASE + p, { waitUntil: 'load' });
      await check(name);
    }
    // A small laptop's width: no page scrolls sideways.
    await page.setViewport({ width: 1024, height: 700 });
    for (const [name, p] of Object.entries(P.pages)) {
      await page.goto(BASE + p, { waitUntil: 'load' });
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (wide > 0) {
        // Name the outermost elements that reach past the window, to say what to fix.
        const over = await page.evaluate(() => [...document.querySelectorAll('main *')]
          .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
          .slice(0, 3).map((e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().width) + 'px'));
        problems.push(`${name} scrolls sideways by ${wide}px at 1024px (${over.join(', ')})`);
      }
    }
    await check('narrow');
    await page.setViewport({ width: 1280, height: 800 });
    await page.goto(`${BASE}/console/app-registrations?q=${encodeURIComponent(P.evil.slice(0, 8))}`, { waitUntil: 'load' });
    await expectText('tbody', '', P.evil);
    if (await page.$('tbody img, tbody script')) fail('a display name became markup');
    await check('escaped');
    return {};
  },

  // Keyboard alone: from each page, Tab reaches every entry of the menu and Enter follows it to
  // the page it names.
  async keyboard() {
    await signIn();
    const seen = [];
    for (const name of P.menu) {
      await press(menu(name));
      const here = await page.evaluate(() => {
        const a = document.querySelector('nav[aria-label="Services"] a[aria-current="page"]');
        return a ? a.innerText.trim() : '';
      });
      if (here !== name) fail(`Enter on ${name} led to ${page.url()} (menu shows ${JSON.stringify(here)})`);
      seen.push(here);
      await check('menu-' + name.replace(/[^A-Za-z]+/g, '-').toLowerCase());
    }
    return { seen };
  },

  // Log stream: lines appear within a second, across reconnects, none lost or repeated.
  async logstream() {
    await signIn();
    await page.goto(`${BASE}/console/sites/${P.group}/${P.site}/logstream`, { waitUntil: 'load' });
    await page.waitForFunction(() => (document.getElementById('log-status') || {}).textContent === 'Connected', { polling: 50 });
    await check('logstream');
    const want = [];
    let worst = 0;
    for (let i = 1; i <= P.lines; i++) {
      const line = `line ${i} <b>not bold</b>`;
      want.push(line);
      const t0 = Date.now();
      fs.appendFileSync(P.file, line + '\n');
      await page.waitForFunction((n) => Number(document.getElementById('log').getAttribute('data-lines')) >= n, { timeout: 1000, polling: 20 }, want.length + P.preexisting);
      worst = Math.max(worst, Date.now() - t0);
      await new Promise((r) => setTimeout(r, P.gapMs));
    }
    const text = await page.$eval('#log', (e) => e.textContent);
    const got = text.split('\n').filter((l) => l !== '').slice(P.preexisting);
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(`lines differ:\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
    const reconnects = Number(await page.$eval('#log', (e) => e.getAttribute('data-reconnects') || '0'));
    if (reconnects < P.minReconnects) fail(`only ${reconnects} reconnects, want at least ${P.minReconnects}`);
    if (await page.$('#log b')) fail('a log line became markup');
    await check('logstream-done');
    return { worstMs: worst, reconnects };
  },
};

let out, err;
try {
  if (!flows[flow]) fail('unknown flow ' + flow);
  out = await flows[flow]();
  if (problems.length) fail(problems.join('\n'));
} catch (e) {
  err = e;
  try { await page.screenshot({ path: path.join(SHOTS, `firefox-${flow}-failed.png`), fullPage: true }); } catch { /* ignore */ }
} finally {
  await browser.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
if (err) {
  console.log(JSON.stringify({ ok: false, error: String(err && err.stack || err), url: page.url() }));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, out }));
