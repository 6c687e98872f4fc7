// (9) Offers: team Support offers each new conversation with a 60 s timeout.
// The offered agent gets a card (customer name, last message, countdown,
// chime); Decline passes it to the other agent, whose Accept opens the
// conversation, now theirs on the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

/** Records chimes instead of playing them. */
async function countBeeps(ctx) {
  await ctx.addInitScript(() => {
    window.__beeps = 0;
    const Real = window.AudioContext;
    window.AudioContext = class extends Real { createOscillator() { window.__beeps++; return super.createOscillator(); } };
  });
}

test('an offer card appears for the chosen agent; decline moves it on, accept opens it', { skip: skipReason || false, timeout: 150_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const a = await apiLogin(base, 'admin@demo.test');
  const support = (await apiCall(base, 'GET', `workspaces/${a.ws}/teams`, a.token)).data.find((t) => t.name === 'Support');
  const inbox = (await apiCall(base, 'GET', `workspaces/${a.ws}/inboxes`, a.token)).data.find((i) => i.channel === 'webchat');
  await apiCall(base, 'PATCH', `workspaces/${a.ws}/teams/${support.id}`, a.token,
    { routing: { auto_assign: true, strategy: 'round_robin', offer_timeout_secs: 60, sticky: true, overflow: null } });
  await apiCall(base, 'PUT', `workspaces/${a.ws}/routing/rules`, a.token, { rules: [], inbox_default_team: { [inbox.id]: support.id } });

  const pages = {};
  for (const who of ['alice', 'bob']) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await countBeeps(ctx);
    pages[who] = await ctx.newPage();
    await uiLogin(pages[who], base, `${who}@demo.test`);
  }
  await until(async () => (await apiCall(base, 'GET', `workspaces/${a.ws}/users`, a.token)).data
    .filter((u) => ['alice@demo.test', 'bob@demo.test'].includes(u.email)).every((u) => u.presence === 'online'), 'both agents online', 10_000);

  const name = `Offered ${uniq()}`;
  const words = `My parcel ${uniq()} never arrived`;
  const customer = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await customerWrites(customer, base, { name }, words);

  // Exactly one agent gets the offer first.
  const card = (who) => pages[who].locator('[data-testid=offer-card]', { hasText: name });
  const first = await until(async () => ((await card('alice').count()) ? 'alice' : (await card('bob').count()) ? 'bob' : null), 'an offer card', 15_000);
  const second = first === 'alice' ? 'bob' : 'alice';
  assert.equal(await card(second).count(), 0, 'offered to one agent at a time (round robin)');
  const offer = card(first);
  assert.equal(await offer.locator('[data-testid=offer-contact]').innerText(), name);
  await until(async () => (await offer.locator('[data-testid=offer-message]').innerText().catch(() => '')).includes(words), 'the last message on the card', 5_000);
  const before = Number((await offer.locator('[data-testid=offer-countdown]').innerText()).match(/\d+/)[0]);
  assert.ok(before > 50 && before <= 60, `countdown starts near the 60 s timeout (${before})`);
  await pages[first].waitForTimeout(2200);
  const later = Number((await offer.locator('[data-testid=offer-countdown]').innerText()).match(/\d+/)[0]);
  assert.ok(later < before, `the countdown runs (${before} → ${later})`);
  assert.ok(await pages[first].evaluate(() => window.__beeps) > 0, 'a chime for the offer');
  await shot(pages[first], `33-offer-${first}`);

  // The server agrees it is offered, and to whom.
  const conv = (await apiCall(base, 'GET', `workspaces/${a.ws}/conversations?status=open&limit=50`, a.token)).data.find((c) => c.contact.name === name);
  const users = (await apiCall(base, 'GET', `workspaces/${a.ws}/users`, a.token)).data;
  const idOf = (who) => users.find((u) => u.email === `${who}@demo.test`).id;
  const queues = await apiCall(base, 'GET', `workspaces/${a.ws}/routing/queues`, a.token);
  const waiting = queues.data.find((q) => q.team_id === support.id).waiting.find((w) => w.conversation_id === conv.id);
  assert.deepEqual(waiting?.offered_to, [idOf(first)]);

  // Decline: the card goes, and the offer moves on to the other agent.
  await offer.locator('[data-testid=offer-decline]').click();
  await offer.waitFor({ state: 'detached', timeout: 5_000 });
  await card(second).waitFor({ timeout: 10_000 });
  await shot(pages[second], `34-offer-moved-to-${second}`);

  // Accept: the conversation opens, assigned to the accepting agent.
  await card(second).locator('[data-testid=offer-accept]').click();
  await pages[second].waitForURL(`**/app/inbox/${conv.id}`, { timeout: 10_000 });
  await pages[second].locator('[data-testid=thread] [data-testid=message][data-kind=in]', { hasText: words }).waitFor({ timeout: 10_000 });
  await until(async () => (await pages[second].locator('[data-testid=thread-assignee]').innerText()).includes(second === 'alice' ? 'Alice' : 'Bob'), 'thread shows the new assignee');
  assert.equal(await card(second).count(), 0, 'the card is gone after accepting');
  const stored = await apiCall(base, 'GET', `workspaces/${a.ws}/conversations/${conv.id}`, a.token);
  assert.equal(stored.assignee_id, idOf(second), 'assigned on the server');
  await shot(pages[second], `35-offer-accepted-${second}`);

  // Accepting again (the offer is gone) is refused by the server.
  const t2 = await apiLogin(base, `${first}@demo.test`);
  const res = await fetch(`${base}/api/v1/workspaces/${a.ws}/conversations/${conv.id}/offer/accept`, { method: 'POST', headers: { Authorization: `Bearer ${t2.token}` } });
  assert.equal(res.status, 409);
});
