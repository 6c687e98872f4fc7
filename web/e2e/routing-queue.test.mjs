// (10) Capacity and queues: the admin gives Alice and Bob room for one more
// chat each (and Alice a skill) in Settings → Users. Two conversations fill
// them; the next two customers wait and their widgets say "You are number 1
// / 2 in line"; the supervisor's Queues panel shows the same line. When a
// conversation is resolved the first in line gets the free agent, the second
// moves up to number 1, and the line disappears from a widget once its agent
// replies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, shot, until, uniq, apiLogin, apiCall, visitorWrites, conversationOf } from './helpers.mjs';

const env = useServerAndBrowser();

test('every agent full: widgets show their place in line, the supervisor sees the queue', { skip: skipReason || false, timeout: 180_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const a = await apiLogin(base, 'admin@demo.test');
  const w = (p) => `workspaces/${a.ws}/${p}`;
  const support = (await apiCall(base, 'GET', w('teams'), a.token)).data.find((t) => t.name === 'Support');
  const inbox = (await apiCall(base, 'GET', w('inboxes'), a.token)).data.find((i) => i.channel === 'webchat');
  const users = (await apiCall(base, 'GET', w('users'), a.token)).data;
  const agent = Object.fromEntries(['alice', 'bob'].map((n) => [n, users.find((u) => u.email === `${n}@demo.test`)]));
  // Room for exactly one more chat each, on top of what the demo already gave them.
  const open = (await apiCall(base, 'GET', w('conversations?limit=100'), a.token)).data.filter((c) => c.status === 'open' || c.status === 'pending');
  const capacity = (n) => open.filter((c) => c.assignee_id === agent[n].id).length + 1;

  // Settings → Users: capacity per kind and skills.
  const admin = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  await uiLogin(admin, base, 'admin@demo.test');
  await admin.click('[data-testid=nav-admin]');
  await admin.click('[data-testid=admin-users]');
  for (const n of ['alice', 'bob']) {
    await admin.locator(`[data-testid=users-table] tr[data-email="${n}@demo.test"] [data-testid=user-routing]`).click();
    await admin.fill('[data-testid=routing-cap-chat]', String(capacity(n)));
    if (n === 'alice') {
      await admin.click('[data-testid=skill-add]');
      await admin.fill('[data-testid=skill-name]', 'ukrainian');
      await admin.fill('[data-testid=skill-level]', '7');
      await shot(admin, '36-admin-user-routing');
    }
    await admin.click('[data-testid=user-routing-save]');
    await admin.locator('[data-testid=user-routing-save]').waitFor({ state: 'detached', timeout: 10_000 });
  }
  await until(async () => {
    const list = (await apiCall(base, 'GET', w('users'), a.token)).data;
    const al = list.find((u) => u.id === agent.alice.id).routing, bo = list.find((u) => u.id === agent.bob.id).routing;
    return al.capacity.chat === capacity('alice') && al.skills.ukrainian === 7 && bo.capacity.chat === capacity('bob') && al.capacity.email === 10;
  }, 'capacities and skill stored', 10_000);
  assert.match(await admin.locator('tr[data-email="alice@demo.test"] [data-testid=user-routing]').innerText(), /ukrainian 7/);

  // Support assigns automatically; the Website inbox routes to it; both agents online.
  await apiCall(base, 'PATCH', w(`teams/${support.id}`), a.token, { routing: { auto_assign: true, strategy: 'round_robin', offer_timeout_secs: null, sticky: true, overflow: null } });
  await apiCall(base, 'PUT', w('routing/rules'), a.token, { rules: [], inbox_default_team: { [inbox.id]: support.id } });
  const tokens = {};
  for (const n of ['alice', 'bob']) {
    tokens[n] = await apiLogin(base, `${n}@demo.test`);
    await apiCall(base, 'PUT', `workspaces/${a.ws}/presence`, tokens[n].token, { status: 'online' });
  }

  // Two customers fill both agents.
  const fillers = [`Filler A ${uniq()}`, `Filler B ${uniq()}`];
  for (const name of fillers) {
    await visitorWrites(base, inbox.website_token, name, 'Hello there');
    await conversationOf(base, a, name, (c) => c.assignee_id != null, `${name} assigned`);
  }
  const held = await Promise.all(fillers.map((n) => conversationOf(base, a, n)));
  assert.notEqual(held[0].assignee_id, held[1].assignee_id, 'one filler each');

  // The next two wait, and their widgets say where they are.
  const waiting = [`Waiting C ${uniq()}`, `Waiting D ${uniq()}`];
  const widget = {};
  for (const [i, name] of waiting.entries()) {
    widget[name] = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await customerWrites(widget[name], base, { name }, `Is anyone there? (${i + 1})`);
    const line = widget[name].locator('[data-testid=sb-queue]');
    await line.waitFor({ timeout: 10_000 });
    assert.equal(await line.getAttribute('data-position'), String(i + 1));
    assert.match(await line.innerText(), new RegExp(`You are number ${i + 1} in line`));
  }
  await shot(widget[waiting[1]], '37-widget-queue-position');
  const [c, d] = await Promise.all(waiting.map((n) => conversationOf(base, a, n)));
  assert.equal(c.assignee_id, null);
  assert.equal(d.assignee_id, null);

  // The supervisor's Queues panel: Support's line, in order.
  const sup = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
  await uiLogin(sup, base, 'supervisor@demo.test');
  await sup.click('[data-testid=nav-supervisor]');
  const line = sup.locator('[data-testid=sv-queue-team][data-team="Support"]');
  const items = line.locator('[data-testid=sv-queue-item]');
  await until(async () => (await items.count()) === 2, 'two waiting in Support’s line', 10_000);
  assert.equal(await items.nth(0).getAttribute('data-id'), String(c.id));
  assert.equal(await items.nth(0).getAttribute('data-position'), '1');
  assert.match(await items.nth(0).innerText(), new RegExp(waiting[0]));
  assert.equal(await items.nth(1).getAttribute('data-id'), String(d.id));
  assert.match(await items.nth(1).innerText(), /Waiting for a free agent/);
  await sup.locator('[data-testid=sv-queues]').scrollIntoViewIfNeeded();
  await shot(sup, '38-supervisor-queues');

  // A filler is resolved: C gets that agent, D moves up to number 1 (live, in the widget and on the dashboard).
  await apiCall(base, 'PATCH', w(`conversations/${held[0].id}`), a.token, { status: 'resolved' });
  const cAssigned = await conversationOf(base, a, waiting[0], (x) => x.assignee_id != null, 'C assigned once capacity frees');
  assert.equal(cAssigned.assignee_id, held[0].assignee_id, 'the agent who became free');
  const dLine = widget[waiting[1]].locator('[data-testid=sb-queue]');
  await until(async () => (await dLine.getAttribute('data-position')) === '1', 'D moved up to number 1', 10_000);
  assert.match(await dLine.innerText(), /You are number 1 in line/);
  await until(async () => (await items.count()) === 1 && (await items.nth(0).getAttribute('data-id')) === String(d.id), 'dashboard line is just D', 10_000);

  // C's agent replies: the line disappears from C's widget.
  const who = cAssigned.assignee_id === agent.alice.id ? 'alice' : 'bob';
  await apiCall(base, 'POST', w(`conversations/${c.id}/messages`), tokens[who].token, { content: 'Hi, I am here now!', kind: 'out' });
  const cPage = widget[waiting[0]];
  await cPage.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'I am here now' }).waitFor({ timeout: 10_000 });
  await cPage.locator('[data-testid=sb-queue]').waitFor({ state: 'hidden', timeout: 5_000 });
  await shot(cPage, '39-widget-queue-gone');
});
