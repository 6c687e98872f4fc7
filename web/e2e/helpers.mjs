// Shared helpers for the browser tests: start the real server binary on a
// random port with a fresh data dir, drive Debian's Chromium with
// playwright-core, and a few polling helpers with hard time bounds.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const SHOTS = join(here, '..', 'test-output', 'screenshots');
mkdirSync(SHOTS, { recursive: true });

export const PASSWORD = 'switchboard-demo';
const DEFAULT_BIN = '/root/.cache/switchboard/target/debug/switchboard';
export const BIN = process.env.SWITCHBOARD_BIN || (existsSync(DEFAULT_BIN) ? DEFAULT_BIN : '');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// A binary that was asked for but is missing is an error, not a skip.
if (process.env.SWITCHBOARD_BIN && !existsSync(BIN)) throw new Error(`SWITCHBOARD_BIN=${BIN} does not exist`);
/** Reason to skip the suite, or '' when the binary and the browser are there. */
export const skipReason = !BIN ? `no server binary (set SWITCHBOARD_BIN; looked for ${DEFAULT_BIN})`
  : !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}` : '';

/** Starts `$SWITCHBOARD_BIN demo --listen 127.0.0.1:0 --data-dir <tmp>`; resolves with its base URL. */
export async function startServer() {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-e2e-'));
  const child = spawn(BIN, ['demo', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', SWITCHBOARD_DEMO_CHANNELS: 'off' },
  });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not print its address in 60 s:\n${log}`)), 60_000);
    const onData = (d) => {
      log += d;
      const m = log.match(/Switchboard listening on (http:\/\/[\d.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d) => { log += d; });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${log}`)); });
  });
  child.removeAllListeners('exit');
  return {
    url,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([new Promise((r) => child.once('exit', r)), sleep(5000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Per test file: one fresh server and one browser, started before and stopped after its tests. */
export function useServerAndBrowser() {
  const env = { server: null, browser: null };
  before(async () => {
    if (skipReason) return;
    env.server = await startServer();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

export async function launchBrowser() {
  // launch() gives every browser a fresh temporary profile (user-data-dir).
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  return browser;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value; throws with `what` after `timeout` ms. */
export async function until(fn, what, timeout = 15_000, every = 200) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(every);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** Calls the REST API directly (for setup and for cross-checking what the UI did). */
export async function apiCall(base, method, path, token, body) {
  const res = await fetch(`${base}/api/v1/${path}`, {
    method, headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
  return json;
}

export async function apiLogin(base, email, password = PASSWORD) {
  const { token } = await apiCall(base, 'POST', 'auth/login', null, { email, password });
  const me = await apiCall(base, 'GET', 'me', token);
  return { token, user: me.user, ws: me.workspaces[0].id };
}

/** Makes sure a template exists (the demo seed may have none); returns it. */
export async function ensureTemplate(base, name, content) {
  const admin = await apiLogin(base, 'admin@demo.test');
  const list = await apiCall(base, 'GET', `workspaces/${admin.ws}/templates`, admin.token);
  return list.data.find((t) => t.name === name) ?? apiCall(base, 'POST', `workspaces/${admin.ws}/templates`, admin.token, { name, content });
}

/** Logs in through the UI and waits for the conversation list. */
export async function uiLogin(page, base, email, password = PASSWORD) {
  await page.goto(`${base}/app/login`);
  await page.fill('[data-testid=login-email]', email);
  await page.fill('[data-testid=login-password]', password);
  await page.click('[data-testid=login-submit]');
  await page.locator('[data-testid=conv-list]').waitFor({ timeout: 15_000 });
}

/** A customer opens /demo/widget, fills the pre-chat form if asked and sends `text`. */
export async function customerWrites(page, base, { name, email, phone }, text) {
  await page.goto(`${base}/demo/widget`);
  await page.locator('#switchboard-widget').waitFor({ state: 'attached', timeout: 15_000 });
  await page.click('[data-testid=sb-launcher]');
  await page.locator('[data-testid=sb-panel]').waitFor({ timeout: 5_000 });
  const nameInput = page.locator('[data-testid=sb-prechat-name]');
  // The pre-chat form appears once the session is known and the contact has no name.
  await until(async () => (await nameInput.isVisible()) || (await page.locator('[data-testid=sb-input]').isVisible()), 'pre-chat form or chat input');
  if (await nameInput.isVisible()) {
    await nameInput.fill(name);
    if (email) await page.fill('[data-testid=sb-prechat-email]', email);
    if (phone) await page.fill('[data-testid=sb-prechat-phone]', phone);
    await page.click('[data-testid=sb-prechat-submit]');
  }
  await page.locator('[data-testid=sb-input]').waitFor({ timeout: 10_000 });
  await page.fill('[data-testid=sb-input]', text);
  await page.click('[data-testid=sb-send]');
  await page.locator('[data-testid=sb-message][data-kind=in]', { hasText: text }).waitFor({ timeout: 10_000 });
}

export const item = (page, text) => page.locator('[data-testid=conv-item]', { hasText: text });
export const uniq = () => Math.random().toString(36).slice(2, 7);

/** A website visitor over the widget's HTTP API (no browser): starts a session, names the contact and sends `text`. */
export async function visitorWrites(base, websiteToken, name, text) {
  const call = async (method, path, token, body) => {
    const res = await fetch(`${base}/api/v1/widget/${path}`, {
      method, headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} widget/${path} → ${res.status} ${await res.text()}`);
    return res.status === 204 ? null : res.json();
  };
  const { visitor_token } = await call('POST', 'session', null, { website_token: websiteToken });
  await call('PATCH', 'contact', visitor_token, { name });
  const message = await call('POST', 'messages', visitor_token, { content: text, echo_id: `e2e-${Math.random().toString(36).slice(2)}` });
  return { visitor_token, message };
}

/** Polls the admin's view until the open conversation of contact `name` satisfies `ok`; returns it. */
export async function conversationOf(base, admin, name, ok = () => true, what = `conversation of ${name}`, timeout = 15_000) {
  return until(async () => {
    const list = await apiCall(base, 'GET', `workspaces/${admin.ws}/conversations?limit=100`, admin.token);
    const c = list.data.find((x) => x.contact.name === name);
    return c && ok(c) ? c : null;
  }, what, timeout);
}
