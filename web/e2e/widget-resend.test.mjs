// The widget never loses or duplicates a message when its acknowledgement is
// lost: the WebSocket drops the server's echo and then breaks; after the
// reconnect the widget resends the unacknowledged message with the same
// echo_id and the server keeps exactly one copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

test('widget resends an unacknowledged message after reconnect, exactly once', { skip: skipReason || false, timeout: 90_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const text = `Resend check ${uniq()}`;
  const name = `Petro ${uniq()}`;
  const page = await (await browser.newContext()).newPage();

  let connections = 0;
  let droppedEcho = false;
  const sentFrames = [];
  await page.routeWebSocket(/\/api\/v1\/widget\/ws/, (ws) => {
    const n = ++connections;
    const upstream = ws.connectToServer();
    ws.onMessage((m) => { sentFrames.push({ n, m: String(m) }); upstream.send(m); });
    upstream.onMessage((m) => {
      const frame = JSON.parse(String(m));
      if (n === 1 && frame.type === 'message.created' && frame.data?.content === text) {
        // Lose the acknowledgement, then break the connection.
        droppedEcho = true;
        setTimeout(() => { ws.close(); upstream.close(); }, 200);
        return;
      }
      ws.send(m);
    });
  });

  await page.goto(`${base}/demo/widget`);
  await page.click('[data-testid=sb-launcher]');
  await until(async () => (await page.locator('[data-testid=sb-prechat-name]').isVisible()) || (await page.locator('[data-testid=sb-input]').isVisible()), 'widget ready');
  if (await page.locator('[data-testid=sb-prechat-name]').isVisible()) {
    await page.fill('[data-testid=sb-prechat-name]', name);
    await page.click('[data-testid=sb-prechat-submit]');
  }
  await until(() => connections >= 1, 'widget WebSocket connected');
  await page.fill('[data-testid=sb-input]', text);
  await page.click('[data-testid=sb-send]');

  await until(() => droppedEcho, 'the echo was dropped', 10_000);
  await until(() => connections >= 2, 'widget reconnected', 20_000);
  // The reconnected socket carried the same message again with the same echo id.
  const firstSend = sentFrames.find((f) => f.n === 1 && f.m.includes(text));
  const resend = await until(() => sentFrames.find((f) => f.n >= 2 && f.m.includes(text)), 'the resend after reconnect', 10_000);
  assert.equal(JSON.parse(resend.m).echo_id, JSON.parse(firstSend.m).echo_id);

  // The widget settles on one copy, no longer pending.
  const mine = page.locator('[data-testid=sb-message][data-kind=in]', { hasText: text });
  await until(async () => (await mine.count()) === 1 && !(await mine.getAttribute('class')).includes('pending'), 'one acknowledged copy in the widget', 10_000);
  await shot(page, '40-widget-after-resend');

  // The server stored it once.
  const admin = await apiLogin(base, 'admin@demo.test');
  const convs = await apiCall(base, 'GET', `workspaces/${admin.ws}/conversations?limit=200`, admin.token);
  const conv = convs.data.find((c) => c.last_message?.content === text || c.contact.name === name);
  assert.ok(conv, 'conversation exists');
  const msgs = await apiCall(base, 'GET', `workspaces/${admin.ws}/conversations/${conv.id}/messages`, admin.token);
  assert.equal(msgs.data.filter((m) => m.content === text).length, 1, 'exactly one stored copy');
});
