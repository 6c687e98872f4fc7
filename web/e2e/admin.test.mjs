// (2) The admin creates a team and a user in the UI; the new user logs in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

test('admin creates a team and a user; the user can log in', { skip: skipReason || false, timeout: 120_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const admin = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  await uiLogin(admin, base, 'admin@demo.test');
  await shot(admin, '10-admin-inbox');

  // Team
  const teamName = `Night shift ${uniq()}`;
  await admin.click('[data-testid=nav-admin]');
  await admin.click('[data-testid=admin-teams]');
  await admin.fill('[data-testid=team-name]', teamName);
  await admin.click('[data-testid=team-create]');
  await admin.locator(`[data-testid=team-card][data-name="${teamName}"]`).waitFor({ timeout: 10_000 });

  // User
  const email = `nina.${uniq()}@demo.test`;
  const password = 'night-owl-2026';
  await admin.click('[data-testid=admin-users]');
  await admin.click('[data-testid=user-add]');
  await admin.fill('[data-testid=user-name]', 'Nina Night');
  await admin.fill('[data-testid=user-email]', email);
  await admin.fill('[data-testid=user-password]', password);
  await admin.selectOption('[data-testid=user-role]', 'agent');
  await admin.click('[data-testid=user-submit]');
  await admin.locator(`[data-testid=users-table] tr[data-email="${email}"]`).waitFor({ timeout: 10_000 });
  await shot(admin, '11-admin-users');

  // Put her in the new team.
  await admin.click('[data-testid=admin-teams]');
  const card = admin.locator(`[data-testid=team-card][data-name="${teamName}"]`);
  await card.locator('[data-testid=member-select]').selectOption({ label: 'Nina Night' });
  await card.locator('[data-testid=member-add]').click();
  await until(async () => (await card.innerText()).includes('Nina Night'), 'Nina listed as a team member');
  await shot(admin, '12-admin-teams');

  // The server has both.
  const a = await apiLogin(base, 'admin@demo.test');
  const teams = await apiCall(base, 'GET', `workspaces/${a.ws}/teams`, a.token);
  const users = await apiCall(base, 'GET', `workspaces/${a.ws}/users`, a.token);
  const team = teams.data.find((t) => t.name === teamName);
  const nina = users.data.find((u) => u.email === email);
  assert.ok(team, 'team exists on the server');
  assert.ok(nina, 'user exists on the server');
  assert.equal(nina.role, 'agent');
  assert.ok(team.members.some((m) => m.user_id === nina.id), 'Nina is a member of the team');

  // The inbox page shows the widget snippet to copy.
  await admin.click('[data-testid=admin-inboxes]');
  const snippet = await admin.locator('[data-testid=widget-snippet]').first().innerText();
  assert.match(snippet, /<script src="[^"]+\/widget\.js" data-token="[^"]+" async><\/script>/);
  await shot(admin, '13-admin-inboxes');

  // Business hours: open on Saturday from 10:00, with an away message.
  await admin.click('[data-testid=admin-hours]');
  await admin.locator('[data-testid=hours-day-6]').check();
  await admin.fill('[data-testid=hours-open-6]', '10:00');
  await admin.fill('[data-testid=hours-away]', 'We are closed — back at 9:00.');
  await admin.click('[data-testid=hours-save]');
  await until(async () => {
    const h = await apiCall(base, 'GET', `workspaces/${a.ws}/business-hours`, a.token);
    const sat = h.days.find((d) => d.day === 6);
    return sat?.enabled && sat.open === '10:00' && h.away_message === 'We are closed — back at 9:00.';
  }, 'business hours saved', 10_000);
  await shot(admin, '16-admin-hours');

  // An API token made in the UI works until it is revoked.
  await admin.click('[data-testid=admin-tokens]');
  await admin.fill('[data-testid=token-name]', 'CRM sync');
  await admin.click('[data-testid=token-create]');
  const apiToken = (await admin.locator('[data-testid=token-value]').innerText()).trim();
  const me = await apiCall(base, 'GET', 'me', apiToken);
  assert.equal(me.user.email, 'admin@demo.test');
  admin.once('dialog', (d) => d.accept());
  await admin.locator('[data-testid=token-row]', { hasText: 'CRM sync' }).locator('[data-testid=token-revoke]').click();
  await until(async () => (await fetch(`${base}/api/v1/me`, { headers: { Authorization: `Bearer ${apiToken}` } })).status === 401, 'revoked token refused', 10_000);
  await shot(admin, '17-admin-tokens');

  // The new user logs in in a fresh browser context.
  const ninaPage = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await ninaPage.goto(`${base}/app/login`);
  await ninaPage.fill('[data-testid=login-email]', email);
  await ninaPage.fill('[data-testid=login-password]', 'wrong-password');
  await ninaPage.click('[data-testid=login-submit]');
  await ninaPage.locator('[data-testid=login-error]').waitFor({ timeout: 10_000 });
  await shot(ninaPage, '14-login-error');
  await uiLogin(ninaPage, base, email, password);
  await ninaPage.click('[data-testid=user-menu]');
  assert.match(await ninaPage.locator('.user-menu').innerText(), /Nina Night/);
  // Switch the UI to Ukrainian; the choice sticks across a reload.
  await ninaPage.selectOption('[data-testid=lang-select]', 'uk');
  await until(async () => (await ninaPage.locator('[data-testid=nav-inbox]').innerText()).includes('Діалоги'), 'Ukrainian navigation');
  await ninaPage.reload();
  await ninaPage.locator('[data-testid=tab-unassigned]', { hasText: 'Вільні' }).waitFor({ timeout: 10_000 });
  await shot(ninaPage, '15-agent-ukrainian');
  // An agent gets neither the live dashboard nor the settings.
  assert.equal(await ninaPage.locator('[data-testid=nav-admin]').count(), 0);
  assert.equal(await ninaPage.locator('[data-testid=nav-supervisor]').count(), 0);
});
