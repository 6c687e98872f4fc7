// (voice) Settings → Voice: an extension (a duplicate refused inline), an IVR
// menu and a number built in the UI and stored exactly; a new SIP domain
// flags the extension's password until it is set again; a trunk's password
// is write-only. Calls: click-to-call from the contact card ("Calling your
// phone…") puts an outbound row in the log live, which ends failed (no phone
// registered); a customer who calls the number and hangs up in the IVR
// shows up live as a highlighted missed call (Call back dials them; Dismiss
// takes it off the list). Rows without a recording have no player; the
// inbound call's recording plays in the row's <audio> (session cookie, Range).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { useServerAndBrowser, skipReason, uiLogin, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

// Our own SIP port (the default 5060 may be taken by another server).
process.env.SWITCHBOARD_SIP_LISTEN = '127.0.0.1:0';
const env = useServerAndBrowser();

/** A customer's phone over UDP: INVITE → 200 → ACK, hangs up after `holdMs` (BYE). */
async function customerCalls(sipAddr, did, holdMs = 1500) {
  const [host, port] = sipAddr.split(':');
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  const me = `127.0.0.1:${sock.address().port}`;
  const callId = `${randomBytes(8).toString('hex')}@e2e`;
  const tag = randomBytes(4).toString('hex');
  const user = did.replace(/^\+/, '');
  const uri = `sip:${user}@${sipAddr}`;
  const replies = [];
  sock.on('message', (m) => replies.push(m.toString()));
  const send = (method, cseq, toTag, body = '') => {
    const lines = [
      `${method} ${uri} SIP/2.0`, `Via: SIP/2.0/UDP ${me};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      `From: "Customer" <sip:+380671112233@${me}>;tag=${tag}`, `To: <${uri}>${toTag ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`, `Contact: <sip:customer@${me}>`, 'Max-Forwards: 70',
      ...(body ? ['Content-Type: application/sdp'] : []), `Content-Length: ${Buffer.byteLength(body)}`, '', body,
    ];
    sock.send(lines.join('\r\n'), Number(port), host);
  };
  const sdp = ['v=0', `o=customer 1 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 40000 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', ''].join('\r\n');
  send('INVITE', 1, null, sdp);
  const ok = await until(() => replies.find((r) => /^SIP\/2\.0 200/.test(r) && /CSeq:\s*1 INVITE/i.test(r)), '200 OK to the INVITE', 10_000, 50);
  const toTag = ok.match(/^To:.*;tag=([^;\s]+)/im)?.[1];
  send('ACK', 1, toTag);
  await new Promise((r) => setTimeout(r, holdMs));
  send('BYE', 2, toTag);
  await until(() => replies.some((r) => /^SIP\/2\.0 200/.test(r) && /CSeq:\s*2 BYE/i.test(r)), '200 OK to the BYE', 10_000, 50).catch(() => {});
  sock.close();
}

test('voice admin, call log, click-to-call and missed calls', { skip: skipReason || false, timeout: 180_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const a = await apiLogin(base, 'admin@demo.test');
  const w = (p) => `workspaces/${a.ws}/${p}`;
  // A voice inbox for the number and a customer with a phone (setup over the API).
  const inbox = await apiCall(base, 'POST', w('inboxes'), a.token, { name: `Phone ${uniq()}`, channel: 'voice', config: {} });
  const customer = await apiCall(base, 'POST', w('contacts'), a.token, { name: `Olena ${uniq()}`, phone: '+380501234567' });
  const teams = (await apiCall(base, 'GET', w('teams'), a.token)).data;
  const support = teams.find((t) => t.name === 'Support') ?? teams[0];
  assert.ok(support, 'the demo has a team');

  const page = await (await browser.newContext({ viewport: { width: 1440, height: 1000 } })).newPage();
  page.on('dialog', (d) => d.accept(d.type() === 'prompt' ? 'new-secret-2026' : undefined));
  await uiLogin(page, base, 'admin@demo.test');
  await page.click('[data-testid=nav-admin]');
  await page.click('[data-testid=admin-voice]');
  await page.locator('[data-testid=voice-settings]').waitFor({ timeout: 10_000 });

  // --- Extension 101 for Alice; the same number again is refused inline ---
  const users = (await apiCall(base, 'GET', w('users'), a.token)).data;
  const alice = users.find((u) => u.email === 'alice@demo.test');
  await page.fill('[data-testid=ext-number]', '101');
  await page.fill('[data-testid=ext-name]', 'Alice desk');
  await page.fill('[data-testid=ext-password]', 'desk-phone-secret');
  await page.selectOption('[data-testid=ext-agent]', String(alice.id));
  await page.click('[data-testid=ext-create]');
  const extRow = page.locator('[data-testid=ext-row][data-ext="101"]');
  await extRow.waitFor({ timeout: 10_000 });
  assert.equal(await extRow.locator('[data-testid=ext-reset]').count(), 0, 'a fresh password is current');
  await page.fill('[data-testid=ext-number]', '101');
  await page.fill('[data-testid=ext-name]', 'Duplicate');
  await page.fill('[data-testid=ext-password]', 'another-secret');
  await page.click('[data-testid=ext-create]');
  const extErr = await page.locator('[data-testid=ext-error]').innerText({ timeout: 10_000 });
  assert.ok(extErr.length > 0, 'the server refusal is shown inline');
  let exts = (await apiCall(base, 'GET', w('voice/extensions'), a.token)).data;
  assert.equal(exts.length, 1, 'nothing stored for the duplicate');
  assert.deepEqual([exts[0].extension, exts[0].display_name, exts[0].user_id], ['101', 'Alice desk', alice.id]);
  assert.ok(!('password' in exts[0]), 'the password is never sent back');

  // --- IVR menu: 1 → Support's queue, 9 → voicemail ---
  await page.click('[data-testid=ivr-new]');
  const editor = page.locator('[data-testid=ivr-editor]');
  await editor.locator('[data-testid=ivr-name]').fill('Main');
  await editor.locator('[data-testid=ivr-prompt]').fill('Thank you for calling. Press 1 for support, 9 to leave a message.');
  await editor.locator('[data-testid=ivr-add-option]').click();
  await editor.locator('[data-testid=ivr-add-option]').click();
  const opts = editor.locator('[data-testid=ivr-option]');
  await opts.nth(0).locator('[data-testid=ivr-digit]').selectOption('1');
  await opts.nth(0).locator('[data-testid=ivr-action-type]').selectOption('queue');
  await opts.nth(0).locator('[data-testid=ivr-action-team]').selectOption(String(support.id));
  await opts.nth(1).locator('[data-testid=ivr-digit]').selectOption('9');
  await opts.nth(1).locator('[data-testid=ivr-action-type]').selectOption('voicemail');
  await editor.locator('[data-testid=ivr-save]').click();
  await page.locator('[data-testid=ivr-row][data-name="Main"]').waitFor({ timeout: 10_000 });
  const menus = (await apiCall(base, 'GET', w('voice/ivr-menus'), a.token)).data;
  assert.equal(menus.length, 1);
  assert.equal(menus[0].prompt.tts, 'Thank you for calling. Press 1 for support, 9 to leave a message.');
  assert.deepEqual(menus[0].options, [{ digit: '1', action: { type: 'queue', team_id: support.id } }, { digit: '9', action: { type: 'voicemail' } }]);

  // --- Number: a bad one refused inline, then +380441234567 → inbox, menu, team ---
  await page.fill('[data-testid=num-number]', '12345');
  await page.selectOption('[data-testid=num-inbox]', String(inbox.id));
  await page.click('[data-testid=num-create]');
  await page.locator('[data-testid=num-error]').waitFor({ timeout: 10_000 });
  await page.fill('[data-testid=num-number]', '+380441234567');
  await page.selectOption('[data-testid=num-ivr]', String(menus[0].id));
  await page.selectOption('[data-testid=num-team]', String(support.id));
  await page.click('[data-testid=num-create]');
  await page.locator('[data-testid=num-row][data-number="+380441234567"]').waitFor({ timeout: 10_000 });
  const nums = (await apiCall(base, 'GET', w('voice/numbers'), a.token)).data;
  assert.equal(nums.length, 1, 'only the valid number is stored');
  assert.deepEqual([nums[0].number, nums[0].inbox_id, nums[0].ivr_menu_id, nums[0].default_team_id], ['+380441234567', inbox.id, menus[0].id, support.id]);

  // --- A new SIP domain flags the extension until its password is set again ---
  await page.fill('[data-testid=voice-sip-domain]', `pbx-${uniq()}.example.test`);
  await page.click('[data-testid=voice-settings-save]');
  await extRow.locator('[data-testid=ext-reset]').waitFor({ timeout: 10_000 });
  await extRow.locator('[data-testid=ext-set-password]').click(); // the prompt answers 'new-secret-2026'
  await until(async () => (await extRow.locator('[data-testid=ext-reset]').count()) === 0, 'the reset flag to go');
  exts = (await apiCall(base, 'GET', w('voice/extensions'), a.token)).data;
  assert.equal(exts[0].password_realm_current, true);

  // --- Trunk: the password is write-only ---
  await page.click('[data-testid=trunk-new]');
  await page.fill('[data-testid=trunk-name]', 'Provider');
  await page.fill('[data-testid=trunk-host]', 'sip.provider.example');
  await page.fill('[data-testid=trunk-username]', 'acct42');
  await page.fill('[data-testid=trunk-password]', 'trunk-secret');
  await page.click('[data-testid=trunk-save]');
  await page.locator('[data-testid=trunk-row][data-name="Provider"] [data-testid=trunk-has-password]').waitFor({ timeout: 10_000 });
  const trunks = (await apiCall(base, 'GET', w('voice/trunks'), a.token)).data;
  assert.equal(trunks[0].has_password, true);
  assert.ok(!JSON.stringify(trunks).includes('trunk-secret'), 'the trunk password never comes back');
  // Inbound calls are only taken from a trunk's addresses: the customer below calls from loopback.
  await apiCall(base, 'PATCH', w(`voice/trunks/${trunks[0].id}`), a.token, { inbound_ips: ['127.0.0.1'] });
  await shot(page, '60-admin-voice');

  // --- Calls screen open in a second tab, following the socket ---
  const log = await page.context().newPage();
  await log.goto(`${base}/app/calls`);
  await log.locator('[data-testid=calls-table]').waitFor({ timeout: 15_000 });
  await log.locator('[data-testid=calls-empty]').waitFor();

  // Click-to-call from the contact card.
  await page.goto(`${base}/app/contacts/${customer.id}`);
  await page.locator('[data-testid=contact-call]').click({ timeout: 15_000 });
  await page.locator('[data-testid=toast]', { hasText: 'Calling your phone' }).waitFor({ timeout: 10_000 });
  const out = await until(async () => (await apiCall(base, 'GET', w('calls?direction=outbound'), a.token)).data[0], 'the outbound call row');
  assert.equal(out.to_number, '+380501234567');
  assert.equal(out.contact_id, customer.id);
  assert.equal(out.voice_number_id, nums[0].id);
  const outRow = log.locator(`[data-testid=call-row][data-id="${out.id}"]`);
  await outRow.waitFor({ timeout: 10_000 }); // live, no reload
  assert.match(await outRow.innerText(), /\+380441234567[\s\S]*\+380501234567/);
  assert.match(await outRow.innerText(), new RegExp(customer.name), 'the contact is named');
  // Without a registered phone the server ends it as failed; the row follows.
  await until(async () => (await outRow.getAttribute('data-disposition')) === 'failed', 'the row to show failed', 20_000);
  assert.equal(await outRow.locator('audio').count(), 0, 'no player without a recording');
  await outRow.locator('[data-testid=no-recording]').waitFor();

  // The recording endpoint takes the session cookie (what <audio src> sends): 404 here, not 401.
  const status = await log.evaluate(async (u) => (await fetch(u)).status, `/api/v1/${w(`calls/${out.id}/recording`)}`);
  assert.equal(status, 404);

  // --- A customer calls the number and hangs up in the IVR: a missed call, live ---
  await log.click('[data-testid=calls-tab-missed]');
  await log.locator('[data-testid=missed-empty]').waitFor({ timeout: 10_000 });
  const sip = server.log().match(/SIP listening on udp:([\d.]+:\d+)/)?.[1];
  assert.ok(sip, `the server listens for SIP:\n${server.log()}`);
  await customerCalls(sip, '+380441234567');
  const missedRow = log.locator('[data-testid=missed-row]');
  await missedRow.first().waitFor({ timeout: 20_000 });
  assert.match(await missedRow.first().innerText(), /\+380671112233/);
  assert.ok(await missedRow.first().evaluate((el) => el.classList.contains('pending')), 'highlighted');
  await log.locator('[data-testid=missed-count]').waitFor();
  await log.locator('[data-testid=missed-callback]').first().waitFor();
  await shot(log, '61-calls-missed');
  const missed = (await apiCall(base, 'GET', w('calls/missed'), a.token)).data;
  assert.equal(missed.length, 1);
  assert.equal(missed[0].callback_status, 'pending');

  // The log highlights it too.
  await log.click('[data-testid=calls-tab-log]');
  const inRow = log.locator(`[data-testid=call-row][data-id="${missed[0].id}"]`);
  await inRow.waitFor({ timeout: 10_000 });
  assert.ok(await inRow.evaluate((el) => el.classList.contains('missed')), 'missed call highlighted in the log');
  // The PBX recorded the call (the IVR part): the row's player streams it with the session cookie.
  const withRec = await apiCall(base, 'GET', w(`calls/${missed[0].id}`), a.token);
  assert.ok(withRec.recording_attachment_id, 'the inbound call has a recording');
  const player = inRow.locator('audio[data-testid=call-recording]');
  const recUrl = `/api/v1/${w(`calls/${missed[0].id}/recording`)}`;
  assert.equal(await player.getAttribute('src'), recUrl);
  const duration = await player.evaluate((el) => new Promise((resolve, reject) => {
    el.onloadedmetadata = () => resolve(el.duration);
    el.onerror = () => reject(new Error(`audio error ${el.error?.code} ${el.error?.message}`));
    el.preload = 'metadata';
    el.load();
  }));
  assert.ok(duration > 0.5, `the browser decoded the WAV (${duration} s)`);
  const ranged = await log.evaluate(async (u) => {
    const r = await fetch(u, { headers: { Range: 'bytes=0-3' } });
    return { status: r.status, range: r.headers.get('content-range'), head: new TextDecoder().decode(await r.arrayBuffer()) };
  }, recUrl);
  assert.equal(ranged.status, 206);
  assert.equal(ranged.head, 'RIFF');
  assert.match(ranged.range ?? '', /^bytes 0-3\/\d+$/);

  await log.selectOption('[data-testid=calls-direction]', 'inbound');
  await until(async () => (await log.locator('[data-testid=call-row]').count()) === 1, 'only the inbound call under the filter');
  await shot(log, '62-calls-log');

  // Call back dials the caller from the number they called.
  await log.click('[data-testid=calls-tab-missed]');
  await log.locator('[data-testid=missed-callback]').first().click();
  await log.locator('[data-testid=toast]', { hasText: 'Calling your phone' }).waitFor({ timeout: 10_000 });
  const back = await until(async () => (await apiCall(base, 'GET', w('calls?direction=outbound'), a.token)).data.find((c) => c.to_number === '+380671112233'), 'the callback call');
  assert.equal(back.voice_number_id, nums[0].id);

  // Dismiss takes it off the list (stored).
  await log.locator('[data-testid=missed-dismiss]').first().click();
  await log.locator('[data-testid=missed-empty]').waitFor({ timeout: 10_000 });
  const after = await apiCall(base, 'GET', w(`calls/${missed[0].id}`), a.token);
  assert.equal(after.callback_status, 'dismissed');
});
