// (8) Routing, configured in the UI: the admin turns on automatic
// round-robin assignment for team Support and makes Support the Website
// inbox's default team; with Alice and Bob online, each new widget
// conversation is assigned by the server to the next agent in turn and shows
// up live in that agent's "Mine" list (and not in the other's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, item, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

test('round robin + inbox default team: widget conversations land in the right agent’s Mine list', { skip: skipReason || false, timeout: 150_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const a = await apiLogin(base, 'admin@demo.test');
  const teams = (await apiCall(base, 'GET', `workspaces/${a.ws}/teams`, a.token)).data;
  const support = teams.find((t) => t.name === 'Support');
  const inbox = (await apiCall(base, 'GET', `workspaces/${a.ws}/inboxes`, a.token)).data.find((i) => i.channel === 'webchat');
  assert.equal(support.routing.auto_assign, false, 'the demo starts with manual claiming');

  const admin = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  await uiLogin(admin, base, 'admin@demo.test');
  await admin.click('[data-testid=nav-admin]');
  await admin.click('[data-testid=admin-teams]');
  const card = admin.locator('[data-testid=team-card][data-name="Support"]');
  const form = card.locator('[data-testid=team-routing]');
  // Every strategy is offered, each with a one-line explanation.
  assert.equal(await form.locator('[data-testid=routing-strategy] option').count(), 8);
  await form.locator('[data-testid=routing-auto]').check();
  await form.locator('[data-testid=routing-strategy]').selectOption('least_busy');
  assert.match(await form.locator('[data-testid=routing-strategy-hint]').innerText(), /fewest open conversations/);
  await form.locator('[data-testid=routing-strategy]').selectOption('round_robin');
  assert.match(await form.locator('[data-testid=routing-strategy-hint]').innerText(), /Takes turns/);
  // Ring-all without an offer timeout: the server refuses, and says why, next to the form.
  await form.locator('[data-testid=routing-strategy]').selectOption('ring_all');
  await form.locator('[data-testid=routing-save]').click();
  await until(async () => (await form.locator('[data-testid=routing-error]').innerText().catch(() => '')).includes('offer timeout'), 'ring_all refusal shown', 10_000);
  await form.locator('[data-testid=routing-strategy]').selectOption('round_robin');
  await form.locator('[data-testid=routing-timeout]').fill('');
  await form.locator('[data-testid=routing-save]').click();
  await form.locator('[data-testid=routing-error]').waitFor({ state: 'detached', timeout: 10_000 });
  await until(async () => {
    const t = (await apiCall(base, 'GET', `workspaces/${a.ws}/teams`, a.token)).data.find((x) => x.id === support.id);
    return t.routing.auto_assign && t.routing.strategy === 'round_robin' && t.routing.offer_timeout_secs === null;
  }, 'Support routes automatically, round robin, direct assignment', 10_000);
  await card.locator('[data-testid=team-routing-chip]', { hasText: 'Round robin' }).waitFor({ timeout: 5_000 });
  await shot(admin, '30-admin-team-routing');

  // The Website inbox's default team is Support.
  await admin.click('[data-testid=admin-routing]');
  await admin.locator(`[data-testid=default-team-${inbox.id}]`).selectOption(String(support.id));
  await admin.click('[data-testid=routing-rules-save]');
  await until(async () => {
    const doc = await apiCall(base, 'GET', `workspaces/${a.ws}/routing/rules`, a.token);
    return doc.inbox_default_team[String(inbox.id)] === support.id;
  }, 'inbox default team saved', 10_000);
  await shot(admin, '31-admin-routing-defaults');

  // Two agents online (logging in sets "online"), both looking at "Mine".
  const pages = {};
  for (const who of ['alice', 'bob']) {
    pages[who] = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await uiLogin(pages[who], base, `${who}@demo.test`);
    await pages[who].click('[data-testid=tab-mine]');
  }
  const users = (await apiCall(base, 'GET', `workspaces/${a.ws}/users`, a.token)).data;
  const emailOf = (id) => users.find((u) => u.id === id)?.email;
  await until(async () => (await apiCall(base, 'GET', `workspaces/${a.ws}/users`, a.token)).data
    .filter((u) => ['alice@demo.test', 'bob@demo.test'].includes(u.email)).every((u) => u.presence === 'online'), 'both agents online', 10_000);

  // Two customers write, one after the other: round robin gives them to different agents.
  const assignees = [];
  for (const n of [1, 2]) {
    const name = `Routed ${n} ${uniq()}`;
    const customer = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await customerWrites(customer, base, { name }, `Question number ${n}, please help`);
    const conv = await until(async () => {
      const list = await apiCall(base, 'GET', `workspaces/${a.ws}/conversations?status=open&limit=50`, a.token);
      const c = list.data.find((x) => x.contact.name === name);
      return c?.assignee_id ? c : null;
    }, `conversation ${n} assigned by the server`, 15_000);
    assert.equal(conv.team_id, support.id, 'routed to the inbox default team');
    const owner = emailOf(conv.assignee_id).split('@')[0];
    const other = owner === 'alice' ? 'bob' : 'alice';
    assignees.push(owner);
    // Live in the owner's "Mine" list (no reload; the list's safety poll is 15 s), not in the other's.
    await item(pages[owner], name).waitFor({ timeout: 10_000 });
    await pages[other].waitForTimeout(500);
    assert.equal(await item(pages[other], name).count(), 0, `not in ${other}'s Mine list`);
    await shot(pages[owner], `32-mine-${n}-${owner}`);
  }
  assert.notEqual(assignees[0], assignees[1], `round robin alternates (got ${assignees.join(', ')})`);
});
