// (12) Automation and hours in Settings: an automation rule is created in the
// editor (a refused webhook URL shows the server's message in the dialog),
// tags and prioritises a customer's message, and its run log shows the run;
// switching it off is stored. A team's own hours with an expected response
// time are saved and dropped again; the inbox greeting reaches a new
// customer; a one-second-scale SLA target is missed and the conversation
// shows the SLA badge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, shot, until, uniq, apiLogin, apiCall, visitorWrites, conversationOf } from './helpers.mjs';

const env = useServerAndBrowser();

test('automation rules, run log, team hours, greeting and SLA badge from Settings', { skip: skipReason || false, timeout: 180_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const a = await apiLogin(base, 'admin@demo.test');
  const w = (p) => `workspaces/${a.ws}/${p}`;
  const inbox = (await apiCall(base, 'GET', w('inboxes'), a.token)).data.find((i) => i.channel === 'webchat');
  const support = (await apiCall(base, 'GET', w('teams'), a.token)).data.find((t) => t.name === 'Support');

  const admin = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
  await uiLogin(admin, base, 'admin@demo.test');
  await admin.click('[data-testid=nav-admin]');
  await admin.click('[data-testid=admin-automation]');

  // New rule: when a customer's message contains "refund", tag it and make it urgent.
  await admin.click('[data-testid=auto-add]');
  await admin.fill('[data-testid=auto-name]', 'Refunds first');
  await admin.selectOption('[data-testid=auto-trigger]', 'message_received');
  await admin.click('[data-testid=auto-cond-add]');
  await admin.selectOption('[data-testid=auto-cond-field]', 'message_content');
  await admin.selectOption('[data-testid=auto-cond-op]', 'contains');
  await admin.fill('[data-testid=auto-cond-value]', 'refund');
  const actions = admin.locator('[data-testid=auto-action-row]');
  await actions.nth(0).locator('[data-testid=auto-action-type]').selectOption('add_tag');
  await actions.nth(0).locator('[data-testid=auto-action-value]').fill('refund');
  await admin.click('[data-testid=auto-action-add]');
  await actions.nth(1).locator('[data-testid=auto-action-type]').selectOption('set_priority');
  await actions.nth(1).locator('[data-testid=auto-action-value]').selectOption('urgent');
  // A webhook to a non-http URL is refused by the server, in the dialog.
  await admin.click('[data-testid=auto-action-add]');
  await actions.nth(2).locator('[data-testid=auto-action-type]').selectOption('send_webhook');
  await actions.nth(2).locator('[data-testid=auto-action-value]').fill('ftp://crm.example.com/hook');
  await admin.click('[data-testid=auto-save]');
  const error = admin.locator('[data-testid=auto-error]');
  await error.waitFor({ timeout: 10_000 });
  assert.match(await error.innerText(), /http/);
  await shot(admin, '42-automation-editor-error');
  assert.equal((await apiCall(base, 'GET', w('rules'), a.token)).data.length, 0, 'nothing stored');
  await actions.nth(2).locator('button[aria-label=Remove]').click();
  await admin.click('[data-testid=auto-save]');
  const row = admin.locator('[data-testid=auto-rule][data-name="Refunds first"]');
  await row.waitFor({ timeout: 10_000 });
  const [rule] = (await apiCall(base, 'GET', w('rules'), a.token)).data;
  assert.equal(rule.trigger, 'message_received');
  assert.deepEqual(rule.conditions, [{ field: 'message_content', operator: 'contains', value: 'refund' }]);
  assert.deepEqual(rule.actions, [{ type: 'add_tag', tag: 'refund' }, { type: 'set_priority', priority: 'urgent' }]);

  // A customer asks for a refund: tagged and urgent; the run log says so.
  const name = `Refunder ${uniq()}`;
  await visitorWrites(base, inbox.website_token, name, 'Hi, I want a refund please');
  const conv = await conversationOf(base, a, name, (c) => c.tags.includes('refund') && c.priority === 'urgent', 'the rule tagged and prioritised it');
  await row.locator('[data-testid=auto-rule-runs]').click();
  const run = row.locator(`[data-testid=auto-run][data-outcome=applied]`, { hasText: `#${conv.id}` });
  await run.waitFor({ timeout: 15_000 });
  assert.match(await run.innerText(), /add_tag refund: ok/);
  await shot(admin, '43-automation-run-log');

  // Off is stored.
  await row.locator('[data-testid=auto-rule-toggle]').uncheck();
  await until(async () => (await apiCall(base, 'GET', w(`rules/${rule.id}`), a.token)).enabled === false, 'rule switched off', 10_000);

  // Business hours → a team's own hours with an expected response time, then back to the workspace's.
  await admin.click('[data-testid=admin-hours]');
  await admin.selectOption('[data-testid=team-hours-team]', String(support.id));
  await admin.locator('[data-testid=team-hours-own]').check();
  await admin.fill('[data-testid=team-hours-expected]', '30');
  await admin.fill('[data-testid=team-hours-away]', 'Support is closed; we answer within 30 minutes.');
  await admin.click('[data-testid=team-hours-save]');
  await until(async () => (await apiCall(base, 'GET', w(`teams/${support.id}/business-hours`), a.token)).business_hours?.expected_response_minutes === 30,
    'team hours stored', 10_000);
  await shot(admin, '44-team-hours');
  await admin.locator('[data-testid=team-hours-follow]').check();
  await admin.click('[data-testid=team-hours-save]');
  await until(async () => (await apiCall(base, 'GET', w(`teams/${support.id}/business-hours`), a.token)).business_hours === null,
    'team follows the workspace again', 10_000);

  // SLA: a 3-second first-response target.
  await admin.fill('[data-testid=sla-first]', '0.05');
  await admin.click('[data-testid=sla-save]');
  await until(async () => (await apiCall(base, 'GET', w('automation-settings'), a.token)).sla.first_response_minutes === 0.05, 'SLA stored', 10_000);

  // Inboxes → the greeting every new conversation gets.
  await admin.click('[data-testid=admin-inboxes]');
  await admin.locator(`[data-testid=inbox-card][data-name="${inbox.name}"] button[title=Edit]`).click();
  await admin.fill('[data-testid=inbox-greeting]', 'Hi! A human will answer shortly.');
  await admin.click('[data-testid=inbox-save]');
  await until(async () => (await apiCall(base, 'GET', w(`inboxes/${inbox.id}`), a.token)).config.greeting_message === 'Hi! A human will answer shortly.', 'greeting stored', 10_000);

  const late = `Late ${uniq()}`;
  const customer = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await customerWrites(customer, base, { name: late }, 'Nobody answers me');
  await customer.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'A human will answer shortly' }).waitFor({ timeout: 10_000 });

  // Nobody answers within 3 s: the conversation shows the SLA badge (read-only view; the scan runs every 5 s).
  const lateConv = await conversationOf(base, a, late);
  await admin.goto(`${base}/app/supervisor/${lateConv.id}`);
  const badge = admin.locator('[data-testid=sla-badge][data-state=breached]');
  await badge.waitFor({ timeout: 20_000 });
  assert.match(await badge.innerText(), /SLA missed: First response/);
  await shot(admin, '45-sla-badge');
});
