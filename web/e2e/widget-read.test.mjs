// Read receipts from the widget: an agent reply is "read" only while the
// panel is open and the page visible. Reported over the socket
// ({"type":"read","up_to"}) when it is up — on a new reply, on
// visibilitychange to visible — and with POST /api/v1/widget/read when the
// socket is down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

test('widget reports reads over the socket, on visibility and over HTTP', { skip: skipReason || false, timeout: 120_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const name = `Iryna ${uniq()}`;
  const ctx = await browser.newContext();
  // Page visibility under the test's control (headless pages are always visible).
  await ctx.addInitScript(() => {
    window.__hidden = false;
    Object.defineProperty(document, 'visibilityState', { get: () => (window.__hidden ? 'hidden' : 'visible') });
    Object.defineProperty(document, 'hidden', { get: () => window.__hidden });
  });
  const page = await ctx.newPage();
  const setHidden = (h) => page.evaluate((v) => { window.__hidden = v; document.dispatchEvent(new Event('visibilitychange')); }, h);

  let blocked = false;
  let live = null;
  const frames = [];
  await page.routeWebSocket(/\/api\/v1\/widget\/ws/, (ws) => {
    if (blocked) { ws.close(); return; }
    const upstream = ws.connectToServer();
    live = { ws, upstream };
    ws.onMessage((m) => { frames.push(String(m)); upstream.send(m); });
    upstream.onMessage((m) => ws.send(m));
  });
  const httpReads = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/v1/widget/read')) httpReads.push(JSON.parse(r.postData() || '{}')); });
  const readFrames = () => frames.map((f) => JSON.parse(f)).filter((f) => f.type === 'read');

  // The customer starts a chat.
  await page.goto(`${base}/demo/widget`);
  await page.click('[data-testid=sb-launcher]');
  await until(async () => (await page.locator('[data-testid=sb-prechat-name]').isVisible()) || (await page.locator('[data-testid=sb-input]').isVisible()), 'widget ready');
  if (await page.locator('[data-testid=sb-prechat-name]').isVisible()) {
    await page.fill('[data-testid=sb-prechat-name]', name);
    await page.click('[data-testid=sb-prechat-submit]');
  }
  await page.fill('[data-testid=sb-input]', 'Is the blue one in stock?');
  await page.click('[data-testid=sb-send]');
  await page.locator('[data-testid=sb-message][data-kind=in]:not(.pending)', { hasText: 'blue one' }).waitFor({ timeout: 10_000 });

  const alice = await apiLogin(base, 'alice@demo.test');
  const w = (p) => `workspaces/${alice.ws}/${p}`;
  const list = await apiCall(base, 'GET', w('conversations?limit=200'), alice.token);
  const conv = list.data.find((c) => c.contact.name === name);
  assert.ok(conv, 'conversation exists');
  await apiCall(base, 'POST', w(`conversations/${conv.id}/claim`), alice.token);
  const reply = (content) => apiCall(base, 'POST', w(`conversations/${conv.id}/messages`), alice.token, { content, kind: 'out' });
  const statusOf = async (id) => (await apiCall(base, 'GET', w(`conversations/${conv.id}/messages`), alice.token)).data.find((m) => m.id === id)?.status;

  // 1. Open and visible: the reply is read at once, reported on the socket.
  const r1 = await reply('Yes, we have it.');
  await page.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'we have it' }).waitFor({ timeout: 10_000 });
  await until(() => readFrames().some((f) => f.up_to === r1.id), `socket read frame up_to ${r1.id}`, 10_000);
  await until(async () => (await statusOf(r1.id)) === 'read', 'reply 1 read', 10_000);

  // 2. Page hidden: delivered, not read — until the page is visible again.
  await setHidden(true);
  const r2 = await reply('Shall I reserve it for you?');
  await page.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'reserve it' }).waitFor({ timeout: 10_000 });
  await until(async () => (await statusOf(r2.id)) === 'delivered', 'reply 2 delivered', 10_000);
  await page.waitForTimeout(1000);
  assert.equal(await statusOf(r2.id), 'delivered', 'not read while the page is hidden');
  assert.ok(!readFrames().some((f) => f.up_to === r2.id), 'no read frame while hidden');
  await setHidden(false);
  await until(async () => (await statusOf(r2.id)) === 'read', 'reply 2 read after visibilitychange', 10_000);

  // 3. Socket down: the receipt goes over HTTP when the panel is opened.
  await page.click('[data-testid=sb-launcher]');
  await page.locator('[data-testid=sb-panel]').waitFor({ state: 'hidden', timeout: 5_000 });
  const r3 = await reply('It is on hold until Friday.');
  await until(async () => (await statusOf(r3.id)) === 'delivered', 'reply 3 delivered to the closed widget', 10_000);
  blocked = true;
  live?.ws.close();
  live?.upstream.close();
  await page.reload();
  await page.locator('#switchboard-widget').waitFor({ state: 'attached', timeout: 15_000 });
  await page.waitForTimeout(500);
  assert.equal(await statusOf(r3.id), 'delivered', 'reloading with the panel closed reads nothing');
  await page.click('[data-testid=sb-launcher]');
  await page.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'on hold until Friday' }).waitFor({ timeout: 10_000 });
  await until(() => httpReads.some((b) => b.up_to === r3.id), `POST widget/read up_to ${r3.id}`, 10_000);
  await until(async () => (await statusOf(r3.id)) === 'read', 'reply 3 read over HTTP', 10_000);
  await shot(page, '45-widget-read-over-http');
});
