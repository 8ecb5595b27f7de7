// Drives Lanyard's web console in Debian's chromium, as a user does: every click is a key press
// (Tab to the control, then Enter or Space), so each flow is also proof that it can be done with
// the keyboard alone. On every page it runs axe-core, checks the security headers of the
// document, and fails on any dialog (an escaped value that ran as script) or CSP violation.
//
// Usage: node console.mjs FLOW   with the environment:
//   BASE        the control plane's URL (https://localhost:PORT)
//   LINK        a single-use login link
//   SHOTS       the directory for screenshots
//   PARAMS      JSON with the flow's parameters
// It prints one JSON line: {"ok":true,"out":{...}} or {"ok":false,"error":"..."}.
import { chromium } from 'playwright-core';
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

// menu is an entry of the side menu (the portal's list of services).
function menu(page, name) { return page.getByRole('navigation', { name: 'Services' }).getByRole('link', { name, exact: true }); }

// focusByTab presses Tab until the target has the focus (for a radio, any radio of its group).
async function focusByTab(page, loc) {
  const el = await loc.elementHandle({ timeout: 5000 });
  if (!el) fail('no element ' + loc);
  for (let i = 0; i < 400; i++) {
    const done = await el.evaluate((t) => {
      const a = document.activeElement;
      return a === t || (t.type === 'radio' && a && a.type === 'radio' && a.name === t.name && a.form === t.form);
    });
    if (done) return el;
    await page.keyboard.press('Tab');
  }
  fail('not reachable with Tab: ' + loc);
}

// press activates a link or button with Enter and waits for the page it leads to (nav false: a
// summary, which opens in place).
async function press(page, loc, nav = true) {
  await focusByTab(page, loc);
  if (!nav) { await page.keyboard.press('Enter'); return; }
  await Promise.all([
    page.waitForEvent('framenavigated', { predicate: (f) => f === page.mainFrame(), timeout: 10000 }),
    page.keyboard.press('Enter'),
  ]);
  await page.waitForLoadState('load');
}

// tick ticks a checkbox with Space.
async function tick(page, loc) {
  await focusByTab(page, loc);
  if (!(await loc.isChecked())) await page.keyboard.press('Space');
  if (!(await loc.isChecked())) fail('could not tick ' + loc);
}

// choose selects a radio with the arrow keys (as the keyboard moves within a radio group).
async function choose(page, loc) {
  const el = await focusByTab(page, loc);
  for (let i = 0; i < 50 && !(await loc.isChecked()); i++) {
    const here = await el.evaluate((t) => document.activeElement === t);
    await page.keyboard.press(here ? 'Space' : 'ArrowDown');
  }
  if (!(await loc.isChecked())) fail('could not choose ' + loc);
}

// type types text into a field.
async function type(page, loc, text) { await focusByTab(page, loc); await page.keyboard.press('Control+A'); await page.keyboard.type(text); }

// pick selects the option of a select whose label starts with text, by typing it.
async function pick(page, loc, text) {
  await focusByTab(page, loc);
  await page.keyboard.type(text);
  const got = await loc.evaluate((s) => s.options[s.selectedIndex] && s.options[s.selectedIndex].text);
  if (!got || !got.startsWith(text)) fail(`could not pick ${text} in ${loc}: got ${got}`);
}

// check runs axe and takes a screenshot of the page as it is.
async function check(page, name) {
  await page.waitForLoadState('load');
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of r.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      problems.push(`axe ${v.impact} ${v.id} on ${name} (${page.url()}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`);
    }
  }
  shot++;
  await page.screenshot({ path: path.join(SHOTS, `${flow}-${String(shot).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function expectText(page, loc, text) {
  await loc.first().waitFor({ timeout: 5000 });
  const t = await loc.first().innerText();
  if (!t.includes(text)) fail(`expected ${JSON.stringify(text)} in ${loc}, got ${JSON.stringify(t.slice(0, 300))}`);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lanyard-chromium-'));
const ctx = await chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, ignoreHTTPSErrors: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-default-apps', '--disable-extensions', '--no-proxy-server'],
});
const page = ctx.pages()[0] || (await ctx.newPage());
// Every request stays on loopback.
await ctx.route('**/*', (route) => {
  const u = new URL(route.request().url());
  if (u.hostname === 'localhost' || u.hostname === '127.0.0.1') return route.continue();
  problems.push('request off loopback: ' + u.href);
  return route.abort();
});
page.on('dialog', async (d) => { problems.push(`a dialog opened (script ran): ${d.message()}`); await d.dismiss(); });
page.on('console', (m) => { if (/Content Security Policy|Refused to/i.test(m.text())) problems.push('CSP: ' + m.text()); });
page.on('response', async (resp) => {
  if (resp.request().resourceType() !== 'document' || !resp.url().startsWith(BASE + '/console/')) return;
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

async function signIn() {
  await page.goto(LINK);
  await page.waitForURL(BASE + '/console/');
  await check(page, 'dashboard');
}

const flows = {
  // Seed 003: the function app's system-assigned identity, an access policy with secret Get for
  // it (found by name in the principal picker), and the confirm when turning an identity off.
  async seed003() {
    await signIn();
    await press(page, menu(page, 'Function App'));
    await check(page, 'function-apps');
    await press(page, page.getByRole('link', { name: P.app, exact: true }));
    await check(page, 'function-app');
    await press(page, page.getByRole('link', { name: 'Identity', exact: true }));
    await check(page, 'identity-off');
    await choose(page, page.locator('#status-on'));
    await press(page, page.getByRole('button', { name: 'Save' }));
    await page.locator('#principal-id').waitFor();
    const principalId = (await page.locator('#principal-id').innerText()).trim();
    await check(page, 'identity-on');
    // Key vault → Access policies → + Create
    await press(page, menu(page, 'Key vaults'));
    await check(page, 'vaults');
    await press(page, page.getByRole('link', { name: P.vault, exact: true }));
    await press(page, page.getByRole('link', { name: 'Access policies', exact: true }));
    await check(page, 'access-policies');
    await press(page, page.getByRole('link', { name: '+ Create' }));
    await check(page, 'policy-new');
    await tick(page, page.locator('#perm-get'));
    await type(page, page.locator('#q'), P.app);
    await press(page, page.getByRole('button', { name: 'Search' }));
    await page.locator(`#sp-${principalId}`).waitFor();
    await check(page, 'policy-principal');
    await choose(page, page.locator(`#sp-${principalId}`));
    if (!(await page.locator('#perm-get').isChecked())) fail('the Get permission was lost by the search');
    await press(page, page.getByRole('button', { name: 'Create', exact: true }));
    await page.waitForURL(/access-policies\?ok=created/);
    await expectText(page, page.locator('tbody tr', { hasText: principalId }), 'get');
    await expectText(page, page.locator('tbody tr', { hasText: principalId }), P.app);
    await check(page, 'policy-created');
    // The confirm when turning an identity off, on the other app.
    await page.goto(`${BASE}/console/sites/${P.group}/${P.other}/identity`);
    await choose(page, page.locator('#status-on'));
    await press(page, page.getByRole('button', { name: 'Save' }));
    await page.locator('#principal-id').waitFor();
    const otherId = (await page.locator('#principal-id').innerText()).trim();
    await choose(page, page.locator('#status-off'));
    await press(page, page.getByRole('button', { name: 'Save' }));
    await expectText(page, page.getByRole('alertdialog'), 'will be deleted');
    await check(page, 'identity-confirm-off');
    await press(page, page.getByRole('button', { name: 'Yes' }));
    await page.waitForURL(/identity\?ok=saved/);
    if (await page.locator('#principal-id').count()) fail('the identity is still on after Yes');
    return { principalId, otherId };
  },

  // Seed 004: a user-assigned identity attached to two apps; deleting one app takes its own
  // (system-assigned) identity from every page, and the shared one stays.
  async seed004() {
    await signIn();
    await press(page, menu(page, 'Managed Identities'));
    await check(page, 'identities');
    await press(page, page.locator('summary', { hasText: '+ Create' }), false);
    await pick(page, page.locator('#mi-group'), P.group);
    await type(page, page.locator('#mi-name'), P.mi);
    await press(page, page.getByRole('button', { name: 'Review + create' }));
    await page.waitForURL(/\/identities\/.*ok=created/);
    await check(page, 'identity-created');
    for (const app of [P.app1, P.app2]) {
      await press(page, menu(page, 'App Services'));
      await press(page, page.getByRole('link', { name: app, exact: true }));
      await press(page, page.getByRole('link', { name: 'Identity', exact: true }));
      await press(page, page.getByRole('link', { name: 'User assigned', exact: true }));
      await check(page, `${app}-user-assigned`);
      await pick(page, page.locator('#ua-id'), P.mi);
      await press(page, page.getByRole('button', { name: '+ Add' }));
      await page.waitForURL(/tab=user&ok=added/);
      await expectText(page, page.locator('tbody'), P.mi);
    }
    // app1 gets its own system-assigned identity too.
    await page.goto(`${BASE}/console/sites/${P.group}/${P.app1}/identity`);
    await choose(page, page.locator('#status-on'));
    await press(page, page.getByRole('button', { name: 'Save' }));
    await page.locator('#principal-id').waitFor();
    const own = (await page.locator('#principal-id').innerText()).trim();
    await page.goto(`${BASE}/console/identities/${P.group}/${P.mi}`);
    await expectText(page, page.locator('tbody'), P.app1);
    await expectText(page, page.locator('tbody'), P.app2);
    await check(page, 'shared-attached-to-both');
    // Delete app1.
    await page.goto(`${BASE}/console/sites/${P.group}/${P.app1}`);
    await press(page, page.getByRole('button', { name: 'Delete' }));
    await expectText(page, page.getByRole('alertdialog'), 'User-assigned identities attached to it stay');
    await check(page, 'delete-confirm');
    await press(page, page.getByRole('button', { name: 'Yes, delete' }));
    await page.waitForURL(/ok=deleted/);
    await check(page, 'app-deleted');
    // Its own identity is gone from every page; the shared one stays.
    await page.goto(`${BASE}/console/enterprise-apps?type=ManagedIdentity`);
    const list = await page.locator('main').innerText();
    if (list.includes(own)) fail('the deleted app\'s own identity is still listed in Enterprise applications');
    if (!list.includes(P.mi)) fail('the shared identity is not listed in Enterprise applications');
    await check(page, 'enterprise-managed-identities');
    await page.goto(`${BASE}/console/reach/${own}`);
    await expectText(page, page.getByRole('alert'), 'not');
    await page.goto(`${BASE}/console/identities/${P.group}/${P.mi}`);
    const at = await page.locator('tbody').innerText();
    if (at.includes(P.app1)) fail('the shared identity still lists the deleted app');
    if (!at.includes(P.app2)) fail('the shared identity lost the other app');
    await check(page, 'shared-after-delete');
    await page.goto(`${BASE}/console/vaults/${P.group}/${P.vault}/access-policies`);
    if ((await page.locator('main').innerText()).includes(own)) fail('the deleted identity\'s access policy is still shown');
    const sharedId = await (async () => { await page.goto(`${BASE}/console/identities`); return (await page.locator('tbody tr', { hasText: P.mi }).locator('td.id').first().innerText()).trim(); })();
    return { own, sharedId };
  },

  // Seed 002: an app registration with app role DoAll, assigned to a managed identity.
  async seed002() {
    await signIn();
    await press(page, menu(page, 'App registrations'));
    await press(page, page.locator('summary', { hasText: '+ New registration' }), false);
    await type(page, page.locator('#app-name'), P.api);
    await press(page, page.getByRole('button', { name: 'Register' }));
    await page.waitForURL(/app-registrations\/.*ok=created/);
    await check(page, 'app-registered');
    await press(page, page.getByRole('button', { name: 'Add' })); // the Application ID URI: api://{appId}
    await page.waitForURL(/ok=saved/);
    await press(page, page.locator('summary', { hasText: '+ Create app role' }), false);
    await type(page, page.locator('#role-display'), 'Do everything');
    await type(page, page.locator('#role-value'), 'DoAll');
    await press(page, page.getByRole('button', { name: 'Apply' }));
    await page.waitForURL(/ok=created/);
    await expectText(page, page.locator('tbody').nth(1), 'DoAll');
    await check(page, 'app-role-created');
    const appId = (await page.locator('dd code').first().innerText()).trim();
    await press(page, page.getByRole('link', { name: P.api, exact: true })); // Managed application
    await check(page, 'enterprise-app');
    await type(page, page.locator('#assign-q'), P.mi);
    await press(page, page.getByRole('button', { name: 'Search' }));
    await page.locator('input[name=principal]').first().waitFor();
    await choose(page, page.locator('input[name=principal]').first());
    await pick(page, page.locator('#assign-role'), 'DoAll');
    await check(page, 'assign-form');
    await press(page, page.getByRole('button', { name: 'Assign' }));
    await page.waitForURL(/ok=assigned/);
    await expectText(page, page.locator('tbody').nth(1), P.mi);
    await expectText(page, page.locator('tbody').nth(1), 'DoAll');
    await check(page, 'assigned');
    return { appId };
  },

  // Access control (IAM): add a role assignment at a resource group with the role and member
  // pickers; it shows as inherited on a resource of the group and on the identity's reach page.
  async iam() {
    await signIn();
    await press(page, page.getByRole('link', { name: 'Resource groups', exact: true }));
    await press(page, page.getByRole('link', { name: P.group, exact: true }));
    await press(page, page.locator('#main').getByRole('link', { name: 'Access control (IAM)', exact: true }));
    await check(page, 'iam-group');
    await type(page, page.locator('#m-q'), P.mi);
    await press(page, page.getByRole('button', { name: 'Search' }));
    await pick(page, page.locator('#role'), 'Key Vault Secrets User');
    await choose(page, page.locator('input[name=principal]').first());
    await check(page, 'iam-add');
    await press(page, page.getByRole('button', { name: 'Review + assign' }));
    await page.waitForURL(/ok=added/);
    await expectText(page, page.locator('tbody tr', { hasText: 'Key Vault Secrets User' }), 'This resource');
    await check(page, 'iam-added');
    await page.goto(`${BASE}/console/sites/${P.group}/${P.site}`);
    await press(page, page.locator('#main').getByRole('link', { name: 'Access control (IAM)', exact: true }));
    await expectText(page, page.locator('tbody tr', { hasText: 'Key Vault Secrets User' }), 'Inherited');
    await check(page, 'iam-inherited');
    await press(page, page.locator('tbody tr', { hasText: 'Key Vault Secrets User' }).getByRole('link').first());
    await expectText(page, page.locator('main'), 'Key Vault Secrets User');
    await expectText(page, page.locator('main'), `/resourceGroups/${P.group}`);
    await check(page, 'reach');
    return {};
  },

  // Every list page, for axe and the header rules, and the escaping of hostile names.
  async pages() {
    await signIn();
    for (const [name, p] of Object.entries(P.pages)) {
      await page.goto(BASE + p);
      await check(page, name);
    }
    // A small laptop's width: no page scrolls sideways.
    await page.setViewportSize({ width: 1024, height: 700 });
    for (const [name, p] of Object.entries(P.pages)) {
      await page.goto(BASE + p);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (wide > 0) problems.push(`${name} scrolls sideways by ${wide}px at 1024px`);
    }
    await check(page, 'narrow-iam');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${BASE}/console/app-registrations?q=${encodeURIComponent(P.evil.slice(0, 8))}`);
    await expectText(page, page.locator('tbody'), P.evil);
    if (await page.locator('tbody img, tbody script').count()) fail('a display name became markup');
    await page.goto(`${BASE}/console/enterprise-apps`);
    if (await page.locator('main img, main script').count()) fail('a display name became markup');
    await check(page, 'escaped');
    return {};
  },

  // Log stream: lines appear within a second, across reconnects, none lost or repeated.
  async logstream() {
    await signIn();
    await page.goto(`${BASE}/console/sites/${P.group}/${P.site}/logstream`);
    await page.locator('#log-status', { hasText: 'Connected' }).waitFor();
    await check(page, 'logstream');
    const want = [];
    let worst = 0;
    for (let i = 1; i <= P.lines; i++) {
      const line = `line ${i} <b>not bold</b>`;
      want.push(line);
      const t0 = Date.now();
      fs.appendFileSync(P.file, line + '\n');
      await page.waitForFunction((n) => Number(document.getElementById('log').getAttribute('data-lines')) >= n, want.length + P.preexisting, { timeout: 1000, polling: 20 });
      worst = Math.max(worst, Date.now() - t0);
      await new Promise((r) => setTimeout(r, P.gapMs));
    }
    const text = await page.locator('#log').innerText();
    const got = text.split('\n').filter((l) => l !== '').slice(P.preexisting);
    if (JSON.stringify(got) !== JSON.stringify(want)) fail(`lines differ:\n got ${JSON.stringify(got)}\nwant ${JSON.stringify(want)}`);
    const reconnects = Number(await page.locator('#log').getAttribute('data-reconnects') || '0');
    if (reconnects < P.minReconnects) fail(`only ${reconnects} reconnects, want at least ${P.minReconnects}`);
    if (await page.locator('#log b').count()) fail('a log line became markup');
    await check(page, 'logstream-done');
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
  try { await page.screenshot({ path: path.join(SHOTS, `${flow}-failed.png`), fullPage: true }); } catch { /* ignore */ }
} finally {
  await ctx.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
if (err) {
  console.log(JSON.stringify({ ok: false, error: String(err && err.stack || err), url: page.url() }));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, out }));
