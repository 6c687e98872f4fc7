// (3) The supervisor dashboard's counts move when a conversation starts
// waiting and again when an agent claims it; any conversation opens read-only.
// The numbers come from GET stats/live and match what the server reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

const num = async (page, id) => Number((await page.locator(`[data-testid=${id}]`).innerText()).trim().split(/\s/)[0]);

test('supervisor dashboard counts waiting and active conversations live', { skip: skipReason || false, timeout: 120_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const sup = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
  let statsCalls = 0;
  sup.on('request', (r) => { if (/\/api\/v1\/workspaces\/\d+\/stats\/live$/.test(new URL(r.url()).pathname)) statsCalls++; });
  const supApi = await apiLogin(base, 'supervisor@demo.test');
  const serverStats = () => apiCall(base, 'GET', `workspaces/${supApi.ws}/stats/live`, supApi.token);
  await uiLogin(sup, base, 'supervisor@demo.test');
  await sup.click('[data-testid=nav-supervisor]');
  // Wait for the first load to land before taking the baseline.
  await sup.locator('[data-testid=supervisor][data-loaded=true]').waitFor({ timeout: 10_000 });
  const waiting0 = await num(sup, 'sv-waiting');
  const active0 = await num(sup, 'sv-active');
  assert.ok(statsCalls >= 1, 'the dashboard loaded stats/live');
  const s0 = await serverStats();
  assert.equal(waiting0, s0.waiting, 'waiting as the server counts it');
  assert.equal(active0, s0.active, 'active as the server counts it');

  // A customer starts a chat: "waiting" goes up by one, live.
  const name = `Taras ${uniq()}`;
  const customer = await (await browser.newContext()).newPage();
  await customerWrites(customer, base, { name, email: '', phone: '+380671234567' }, 'Do you deliver to Lviv?');
  await until(async () => (await num(sup, 'sv-waiting')) === waiting0 + 1, `waiting = ${waiting0 + 1}`, 10_000);
  assert.equal(await num(sup, 'sv-active'), active0);
  await sup.locator('[data-testid=sv-queue] [data-testid=sv-conv]', { hasText: name }).waitFor({ timeout: 5_000 });
  assert.notEqual((await sup.locator('[data-testid=sv-longest]').innerText()).trim(), '—');
  const s1 = await serverStats();
  assert.equal(s1.waiting, waiting0 + 1);
  assert.ok(s1.longest_waiting_since, 'the server reports a longest wait');
  // The conversation has no team: the "No team" row counts it.
  const noTeam = s1.by_team.find((r) => r.team_id === null);
  if (noTeam) {
    const row = sup.locator('[data-testid=sv-teams] tr[data-team="No team"] [data-testid=team-waiting]');
    await until(async () => Number((await row.innerText()).trim()) === noTeam.waiting, `No team waiting = ${noTeam.waiting}`, 5_000);
  }
  const webchat = s1.by_channel.find((c) => c.channel === 'webchat');
  assert.ok(webchat && webchat.waiting >= 1, 'webchat has a waiting conversation');
  await shot(sup, '20-supervisor-waiting');

  // Alice claims it: waiting back down, active up.
  const alice = await apiLogin(base, 'alice@demo.test');
  const list = await apiCall(base, 'GET', `workspaces/${alice.ws}/conversations?assignee=none&status=open`, alice.token);
  const conv = list.data.find((c) => c.contact.name === name);
  assert.ok(conv, 'the new conversation is unassigned for Alice');
  await apiCall(base, 'POST', `workspaces/${alice.ws}/conversations/${conv.id}/claim`, alice.token);
  await until(async () => (await num(sup, 'sv-waiting')) === waiting0, `waiting back to ${waiting0}`, 10_000);
  await until(async () => (await num(sup, 'sv-active')) === active0 + 1, `active = ${active0 + 1}`, 10_000);
  await shot(sup, '21-supervisor-claimed');
  const s2 = await serverStats();
  assert.equal(s2.active, active0 + 1);
  const aliceLoad = s2.agents.find((x) => x.user_id === alice.user.id)?.active_conversations;
  const loadCell = sup.locator('[data-testid=sv-agents] tr[data-agent="alice@demo.test"] [data-testid=agent-load]');
  await until(async () => Number((await loadCell.innerText()).trim().split(/\s/)[0]) === aliceLoad, `Alice's load = ${aliceLoad}`, 5_000);

  // Presence shows up in the agents table.
  await apiCall(base, 'PUT', `workspaces/${alice.ws}/presence`, alice.token, { status: 'away' });
  const aliceRow = sup.locator('[data-testid=sv-agents] tr[data-agent="alice@demo.test"] [data-testid=agent-status]');
  await until(async () => /away/i.test(await aliceRow.innerText()), 'Alice shown as away', 10_000);

  // Open it read-only.
  await sup.locator('[data-testid=sv-conv]', { hasText: name }).click();
  await sup.locator('[data-testid=readonly-banner]').waitFor({ timeout: 10_000 });
  await sup.locator('[data-testid=message][data-kind=in]', { hasText: 'Do you deliver to Lviv?' }).waitFor({ timeout: 10_000 });
  assert.equal(await sup.locator('[data-testid=composer-input]').count(), 0, 'no composer in read-only view');

  // A spot-check mark is stored on the conversation.
  await sup.locator('[data-testid=spot-star]').nth(3).click();
  await sup.fill('[data-testid=spot-comment]', 'Quick and friendly');
  await sup.click('[data-testid=spot-submit]');
  await sup.locator('[data-testid=spot-review]', { hasText: 'Quick and friendly' }).waitFor({ timeout: 10_000 });
  const reviews = await apiCall(base, 'GET', `workspaces/${supApi.ws}/conversations/${conv.id}/reviews`, supApi.token);
  assert.equal(reviews.data.length, 1);
  assert.equal(reviews.data[0].score, 4);
  assert.equal(reviews.data[0].comment, 'Quick and friendly');
  await shot(sup, '22-supervisor-readonly');

  // Reports include the new conversation.
  await sup.click('[data-testid=nav-reports]');
  await until(async () => (await num(sup, 'rep-total')) >= 1, 'reports count the conversation', 10_000);
  await shot(sup, '23-reports');
});
