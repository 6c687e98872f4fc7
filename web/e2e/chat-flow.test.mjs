// (1) A customer writes on /demo/widget; agent Alice sees it live, claims it
// by opening it and replies with a template; the customer sees the reply and
// Bob's unassigned list no longer shows the conversation. The replies turn
// "delivered" when the widget's socket gets them and "read" when the open
// widget shows them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, ensureTemplate, item, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

test('widget message → live in agent inbox → claim → template reply → customer sees it', { skip: skipReason || false, timeout: 120_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  await ensureTemplate(base, 'e2e-welcome', 'Hi {{contact.name}}, thanks for writing to us! How can I help?');
  const customerName = `Olena ${uniq()}`;
  const firstWords = `Hello, where is my order ${uniq()}?`;

  const aliceCtx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  // Record desktop notifications and chimes instead of showing/playing them.
  await aliceCtx.addInitScript(() => {
    window.__notes = [];
    window.__beeps = 0;
    class FakeNotification {
      static permission = 'granted';
      static requestPermission() { return Promise.resolve('granted'); }
      constructor(title, opts) { window.__notes.push({ title, body: opts?.body }); }
      close() {}
    }
    window.Notification = FakeNotification;
    const Real = window.AudioContext;
    window.AudioContext = class extends Real { createOscillator() { window.__beeps++; return super.createOscillator(); } };
  });
  const alice = await aliceCtx.newPage();
  const bob = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const customer = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();

  await uiLogin(alice, base, 'alice@demo.test');
  await uiLogin(bob, base, 'bob@demo.test');
  await alice.click('[data-testid=tab-unassigned]');
  await bob.click('[data-testid=tab-unassigned]');
  await shot(alice, '01-agent-inbox-empty');

  await customerWrites(customer, base, { name: customerName, email: 'olena@example.com', phone: '+380501112233' }, firstWords);
  await shot(customer, '02-widget-customer');

  // Live: both agents see it in "Unassigned" without reloading (the list's
  // fallback poll is every 15 s, so 10 s proves the realtime path).
  await item(alice, customerName).waitFor({ timeout: 10_000 });
  await item(bob, customerName).waitFor({ timeout: 10_000 });
  assert.match(await item(alice, customerName).innerText(), /where is my order/);
  // New conversation: a desktop notification and a chime.
  const notes = await until(() => alice.evaluate(() => window.__notes.length && window.__notes), 'a desktop notification', 5_000);
  assert.ok(notes.some((n) => n.title === 'New conversation' && n.body.includes('where is my order')), JSON.stringify(notes));
  await alice.waitForTimeout(500);
  const forThis = await alice.evaluate((w) => window.__notes.filter((n) => n.body.includes(w)).length, firstWords);
  assert.equal(forThis, 1, 'exactly one notification (one live connection)');
  assert.ok(await alice.evaluate(() => window.__beeps) > 0, 'a chime was played');
  await shot(alice, '03-agent-new-conversation');

  // Opening it claims it.
  await item(alice, customerName).click();
  await alice.locator('[data-testid=thread] [data-testid=message][data-kind=in]', { hasText: firstWords }).waitFor({ timeout: 10_000 });
  await until(async () => (await alice.locator('[data-testid=thread-assignee]').innerText()).includes('Alice'), 'thread assigned to Alice');

  // The server agrees that Alice has it.
  const a = await apiLogin(base, 'alice@demo.test');
  const convs = await apiCall(base, 'GET', `workspaces/${a.ws}/conversations?assignee=me`, a.token);
  const conv = convs.data.find((c) => c.contact.name === customerName);
  assert.ok(conv, 'conversation is assigned to Alice on the server');
  assert.equal(conv.assignee_id, a.user.id);

  // Typing indicators both ways.
  await customer.fill('[data-testid=sb-input]', 'one more thing');
  await alice.locator('[data-testid=typing]').waitFor({ timeout: 10_000 });
  await alice.locator('[data-testid=composer-input]').pressSequentially('Let me check', { delay: 20 });
  await customer.locator('[data-testid=sb-typing]').waitFor({ timeout: 10_000 });
  await customer.fill('[data-testid=sb-input]', '');
  await alice.fill('[data-testid=composer-input]', '');

  // Template picker on "/": the variable is filled from the contact.
  await alice.fill('[data-testid=composer-input]', '/e2e-welcome');
  await alice.locator('[data-testid=template-picker]').waitFor({ timeout: 5_000 });
  await alice.keyboard.press('Enter');
  const filled = await alice.inputValue('[data-testid=composer-input]');
  assert.equal(filled, `Hi ${customerName}, thanks for writing to us! How can I help?`);
  await alice.click('[data-testid=composer-send]');
  await alice.locator('[data-testid=message][data-kind=out]', { hasText: `Hi ${customerName}` }).waitFor({ timeout: 10_000 });
  await shot(alice, '04-agent-thread-replied');

  // The customer sees the agent's reply live in the widget.
  await customer.locator('[data-testid=sb-message][data-kind=out]', { hasText: `Hi ${customerName}, thanks for writing` }).waitFor({ timeout: 10_000 });
  await shot(customer, '05-widget-reply');

  // Receipts: the widget is open and visible, so the reply turns "read" in
  // Alice's thread live (message.updated), and the server agrees.
  const reply = alice.locator('[data-testid=thread] [data-testid=message][data-kind=out]', { hasText: `Hi ${customerName}` });
  await reply.and(alice.locator('[data-status=read]')).waitFor({ timeout: 10_000 });
  assert.equal(await reply.locator('[data-testid=delivery]').getAttribute('data-status'), 'read');
  const stored = await apiCall(base, 'GET', `workspaces/${a.ws}/conversations/${conv.id}/messages`, a.token);
  assert.equal(stored.data.find((m) => m.content.startsWith(`Hi ${customerName}`))?.status, 'read', 'stored as read');
  await shot(alice, '05b-agent-reply-read');

  // With the panel closed a new reply is only delivered (the socket got it,
  // nobody saw it); opening the panel makes it read.
  await customer.click('[data-testid=sb-launcher]');
  await customer.locator('[data-testid=sb-panel]').waitFor({ state: 'hidden', timeout: 5_000 });
  await alice.fill('[data-testid=composer-input]', 'Are you still there?');
  await alice.click('[data-testid=composer-send]');
  const second = alice.locator('[data-testid=thread] [data-testid=message][data-kind=out]', { hasText: 'Are you still there?' });
  await second.and(alice.locator('[data-status=delivered]')).waitFor({ timeout: 10_000 });
  await alice.waitForTimeout(1000);
  assert.equal(await second.getAttribute('data-status'), 'delivered', 'not read while the panel is closed');
  await shot(alice, '05c-agent-reply-delivered');
  await customer.click('[data-testid=sb-launcher]');
  await customer.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'Are you still there?' }).waitFor({ timeout: 10_000 });
  await second.and(alice.locator('[data-status=read]')).waitFor({ timeout: 10_000 });

  // An internal note never reaches the customer.
  await alice.click('[data-testid=mode-note]');
  await alice.fill('[data-testid=composer-input]', 'Customer is a VIP, be nice');
  await alice.click('[data-testid=composer-send]');
  await alice.locator('[data-testid=message][data-kind=note]', { hasText: 'VIP' }).waitFor({ timeout: 10_000 });

  // Bob's unassigned list drops it (live event, or the list's 15 s safety poll).
  await item(bob, customerName).waitFor({ state: 'detached', timeout: 20_000 });
  await shot(bob, '06-bob-unassigned-after-claim');

  await customer.waitForTimeout(500);
  assert.equal(await customer.locator('[data-testid=sb-message]', { hasText: 'VIP' }).count(), 0, 'notes are not shown to the customer');

  // The customer's history survives a reload (visitor token kept in localStorage).
  await customer.reload();
  // The panel stays open across page loads.
  await customer.locator('[data-testid=sb-panel]').waitFor({ timeout: 5_000 });
  await customer.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'thanks for writing' }).waitFor({ timeout: 10_000 });
  assert.equal(await customer.locator('[data-testid=sb-prechat-name]').isVisible(), false, 'no second pre-chat form');
});
