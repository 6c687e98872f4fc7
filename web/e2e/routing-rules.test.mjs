// (11) The routing rules editor: a rule the server refuses (a keywords
// condition without keywords) shows the server's message inline and stores
// nothing; a valid rule list (ordered, with conditions, priority and skills)
// is saved, survives a reload, and routes new conversations: "refund" goes
// to Sales with high priority, anything else to Support.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, shot, until, uniq, apiLogin, apiCall, visitorWrites, conversationOf } from './helpers.mjs';

const env = useServerAndBrowser();

test('routing rules editor: server validation error inline, then a valid rule list is saved and routes', { skip: skipReason || false, timeout: 150_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const a = await apiLogin(base, 'admin@demo.test');
  const w = (p) => `workspaces/${a.ws}/${p}`;
  const teams = (await apiCall(base, 'GET', w('teams'), a.token)).data;
  const sales = teams.find((t) => t.name === 'Sales');
  const support = teams.find((t) => t.name === 'Support');
  const inbox = (await apiCall(base, 'GET', w('inboxes'), a.token)).data.find((i) => i.channel === 'webchat');

  const admin = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
  await uiLogin(admin, base, 'admin@demo.test');
  await admin.click('[data-testid=nav-admin]');
  await admin.click('[data-testid=admin-routing]');
  await admin.locator('[data-testid=routing-rules]').waitFor({ timeout: 10_000 });

  // A rule whose keywords condition has no keywords: the server says so, next to Save.
  await admin.click('[data-testid=rule-add]');
  const first = admin.locator('[data-testid=rule-card]').nth(0);
  await first.locator('[data-testid=rule-name]').fill('Refunds');
  await first.locator('[data-testid=rule-team]').selectOption(String(sales.id));
  assert.equal(await first.locator('[data-testid=cond-type]').inputValue(), 'keywords');
  await admin.click('[data-testid=routing-rules-save]');
  const error = admin.locator('[data-testid=routing-rules-error]');
  await error.waitFor({ timeout: 10_000 });
  assert.match(await error.innerText(), /keywords: must list 1 to 100 values/);
  await shot(admin, '40-routing-rules-error');
  assert.deepEqual((await apiCall(base, 'GET', w('routing/rules'), a.token)).rules, [], 'nothing stored');

  // Fix it: keywords, a channel condition, a priority and a skill.
  await first.locator('[data-testid=cond-text]').fill('refund, invoice');
  await first.locator('[data-testid=cond-add]').click();
  const second = first.locator('[data-testid=cond-row]').nth(1);
  await second.locator('[data-testid=cond-type]').selectOption('channel');
  await second.locator('[data-testid=cond-channel-webchat]').check();
  await first.locator('[data-testid=rule-priority]').selectOption('high');
  await first.locator('[data-testid=rule-skill-add]').click();
  await first.locator('[data-testid=rule-skill-name]').fill('billing');
  await first.locator('[data-testid=rule-skill-level]').fill('3');

  // A second rule without conditions (matches everything), moved up and back down.
  await admin.click('[data-testid=rule-add]');
  const catchAll = admin.locator('[data-testid=rule-card]').nth(1);
  await catchAll.locator('[data-testid=rule-name]').fill('Everything else');
  await catchAll.locator('[data-testid=rule-team]').selectOption(String(support.id));
  await catchAll.locator('[data-testid=cond-remove]').click();
  assert.equal(await catchAll.locator('[data-testid=cond-row]').count(), 0);
  await catchAll.locator('[data-testid=rule-up]').click();
  assert.equal(await admin.locator('[data-testid=rule-card]').nth(0).locator('[data-testid=rule-name]').inputValue(), 'Everything else');
  await admin.locator('[data-testid=rule-card]').nth(0).locator('[data-testid=rule-down]').click();
  assert.equal(await admin.locator('[data-testid=rule-card]').nth(0).locator('[data-testid=rule-name]').inputValue(), 'Refunds');
  assert.ok(await admin.locator('[data-testid=routing-dirty]').isVisible(), 'unsaved changes are flagged');

  await admin.click('[data-testid=routing-rules-save]');
  await error.waitFor({ state: 'detached', timeout: 10_000 });
  await admin.locator('[data-testid=routing-dirty]').waitFor({ state: 'detached', timeout: 10_000 });
  const doc = await apiCall(base, 'GET', w('routing/rules'), a.token);
  assert.equal(doc.rules.length, 2);
  assert.deepEqual(doc.rules[0], {
    name: 'Refunds', team_id: sales.id, priority: 'high', skills: [{ skill: 'billing', min_level: 3 }],
    conditions: [{ type: 'keywords', keywords: ['refund', 'invoice'] }, { type: 'channel', channels: ['webchat'] }],
  });
  assert.equal(doc.rules[1].name, 'Everything else');
  assert.equal(doc.rules[1].team_id, support.id);
  assert.deepEqual(doc.rules[1].conditions, []);
  await shot(admin, '41-routing-rules-saved');

  // Stored: a reload shows the same editor.
  await admin.reload();
  await admin.locator('[data-testid=rule-card]').nth(1).waitFor({ timeout: 10_000 });
  assert.equal(await admin.locator('[data-testid=rule-card]').nth(0).locator('[data-testid=cond-text]').inputValue(), 'refund, invoice');
  assert.equal(await admin.locator('[data-testid=rule-card]').nth(1).locator('[data-testid=rule-name]').inputValue(), 'Everything else');

  // And it routes: the first matching rule wins.
  const refund = `Refund ${uniq()}`, hello = `Hello ${uniq()}`;
  await visitorWrites(base, inbox.website_token, refund, 'I would like a REFUND for order 42');
  await visitorWrites(base, inbox.website_token, hello, 'Do you ship to Odesa?');
  const r = await conversationOf(base, a, refund, (c) => c.team_id != null, 'refund conversation routed');
  assert.equal(r.team_id, sales.id);
  assert.equal(r.priority, 'high');
  const h = await conversationOf(base, a, hello, (c) => c.team_id != null, 'other conversation routed');
  assert.equal(h.team_id, support.id);
});
