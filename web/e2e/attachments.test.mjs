// Attachments both ways: the customer attaches a PNG in the widget and sends
// it alone; Alice sees the image in her thread, attaches a text file and
// replies; the customer gets a download link whose URL serves the same bytes.
// A file over the server's limit (10 MiB) is refused with a toast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, item, shot, until, uniq, apiLogin, apiCall } from './helpers.mjs';

const env = useServerAndBrowser();

/** A w×h RGB PNG (a diagonal gradient), built in memory. */
function png(w, h) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => { let c = 0xffffffff; for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8); return (c ^ 0xffffffff) >>> 0; };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4); sum.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = 60 + Math.round((x / w) * 180); raw[o + 1] = 80 + Math.round((y / h) * 120); raw[o + 2] = 230;
    }
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test('customer sends an image, agent sees it and replies with a file the customer downloads', { skip: skipReason || false, timeout: 120_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const customerName = `Iryna ${uniq()}`;
  const firstWords = `My screen shows an error ${uniq()}`;
  const image = png(96, 64);
  const fileText = `Invoice ${uniq()}\nTotal: 42.00 EUR\n`;

  const alice = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
  const customer = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await uiLogin(alice, base, 'alice@demo.test');
  await alice.click('[data-testid=tab-unassigned]');

  // The customer writes, then attaches a PNG and sends it alone.
  await customerWrites(customer, base, { name: customerName }, firstWords);
  await customer.locator('[data-testid=sb-attach]').waitFor();
  // Over the limit: the chip says so and the file cannot be sent; × removes it.
  await customer.setInputFiles('[data-testid=sb-file]', { name: 'video.mov', mimeType: 'video/quicktime', buffer: Buffer.alloc(10 * 1024 * 1024 + 1024, 1) });
  const big = customer.locator('[data-testid=sb-file-chip]', { hasText: 'video.mov' });
  await until(async () => (await big.getAttribute('class'))?.includes('err'), 'the widget refuses the large file', 20_000);
  assert.match(await big.innerText(), /Too large/);
  assert.equal(await customer.locator('[data-testid=sb-send]').isDisabled(), true, 'nothing to send');
  await shot(customer, '49-widget-file-too-large');
  await big.locator('button').click();
  assert.equal(await customer.locator('[data-testid=sb-file-chip]').count(), 0);
  await customer.setInputFiles('[data-testid=sb-file]', { name: 'screenshot.png', mimeType: 'image/png', buffer: image });
  const chip = customer.locator('[data-testid=sb-file-chip]', { hasText: 'screenshot.png' });
  await chip.waitFor({ timeout: 5_000 });
  await until(async () => !(await chip.getAttribute('class')).includes('busy'), 'the widget upload finished', 10_000);
  assert.equal(await customer.locator('[data-testid=sb-send]').isDisabled(), false, 'a file alone can be sent');
  await shot(customer, '50-widget-file-picked');
  await customer.click('[data-testid=sb-send]');
  const sentImg = customer.locator('[data-testid=sb-message][data-kind=in]:not(.pending) [data-testid=sb-file-image] img');
  await sentImg.waitFor({ timeout: 10_000 });
  await until(() => sentImg.evaluate((i) => i.complete && i.naturalWidth === 96), 'the thumbnail loaded in the widget', 10_000);
  assert.equal(await customer.locator('[data-testid=sb-file-chip]').count(), 0, 'the chip is gone after sending');
  await shot(customer, '51-widget-image-sent');

  // Alice opens the conversation (claims it) and sees the image.
  await item(alice, customerName).waitFor({ timeout: 10_000 });
  assert.match(await item(alice, customerName).innerText(), /screenshot\.png/, 'the list preview names the file');
  await item(alice, customerName).click();
  const thumb = alice.locator('[data-testid=thread] [data-testid=message][data-kind=in] [data-testid=attachment-image]');
  await thumb.waitFor({ timeout: 10_000 });
  await until(() => thumb.locator('img').evaluate((i) => i.complete && i.naturalWidth === 96 && i.naturalHeight === 64), 'the image loaded in the thread', 10_000);
  // Clicking opens the full-size image in a new tab.
  assert.equal(await thumb.getAttribute('target'), '_blank');
  const href = await thumb.getAttribute('href');
  assert.match(href, /^\/files\/\d+\/\d+\/[^/]+\/screenshot\.png$/);
  const [tab] = await Promise.all([alice.context().waitForEvent('page'), thumb.click()]);
  await tab.waitForLoadState();
  assert.equal(new URL(tab.url()).pathname, href);
  await tab.close();
  const served = await fetch(base + href);
  assert.equal(served.headers.get('content-type'), 'image/png');
  assert.ok(Buffer.from(await served.arrayBuffer()).equals(image), 'the server returns the uploaded PNG');

  // Pasting an image and dropping a file onto the composer upload them too;
  // the × takes them off again.
  await alice.locator('[data-testid=composer-input]').evaluate((box, bytes) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(bytes)], 'pasted.png', { type: 'image/png' }));
    box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, [...image]);
  await alice.locator('[data-testid=composer]').evaluate((composer) => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped notes'], 'notes.md', { type: 'text/markdown' }));
    composer.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    composer.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await alice.locator('[data-testid=composer-file-chip][data-state=ready]', { hasText: 'pasted.png' }).waitFor({ timeout: 10_000 });
  await alice.locator('[data-testid=composer-file-chip][data-state=ready]', { hasText: 'notes.md' }).waitFor({ timeout: 10_000 });
  await shot(alice, '52a-agent-pasted-and-dropped');
  for (const name of ['pasted.png', 'notes.md']) {
    await alice.locator('[data-testid=composer-file-chip]', { hasText: name }).locator('[data-testid=composer-file-remove]').click();
  }
  assert.equal(await alice.locator('[data-testid=composer-file-chip]').count(), 0, 'removed from the composer');

  // A file over the limit is refused with a toast and leaves no chip.
  await alice.setInputFiles('[data-testid=composer-file]', { name: 'huge.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(10 * 1024 * 1024 + 1024, 7) });
  await alice.locator('[data-testid=toast]', { hasText: 'huge.bin' }).waitFor({ timeout: 20_000 });
  await until(async () => (await alice.locator('[data-testid=composer-file-chip]').count()) === 0, 'the refused file left the composer');
  await shot(alice, '52-agent-upload-too-large');

  // Alice attaches a text file and replies with it.
  await alice.setInputFiles('[data-testid=composer-file]', { name: 'invoice.txt', mimeType: 'text/plain', buffer: Buffer.from(fileText) });
  await alice.locator('[data-testid=composer-file-chip][data-state=ready]', { hasText: 'invoice.txt' }).waitFor({ timeout: 10_000 });
  await alice.fill('[data-testid=composer-input]', 'Here is your invoice');
  await shot(alice, '53-agent-file-ready');
  await alice.click('[data-testid=composer-send]');
  const reply = alice.locator('[data-testid=thread] [data-testid=message][data-kind=out]', { hasText: 'Here is your invoice' });
  await reply.and(alice.locator(':not([data-status=sending])')).waitFor({ timeout: 10_000 });
  await reply.locator('[data-testid=attachment-file]', { hasText: 'invoice.txt' }).waitFor({ timeout: 10_000 });
  assert.equal(await alice.locator('[data-testid=composer-file-chip]').count(), 0, 'the composer is empty after sending');
  await shot(alice, '54-agent-thread-attachments');

  // The server stored one file on each message.
  const a = await apiLogin(base, 'alice@demo.test');
  const convs = await apiCall(base, 'GET', `workspaces/${a.ws}/conversations?assignee=me`, a.token);
  const conv = convs.data.find((c) => c.contact.name === customerName);
  assert.ok(conv, 'conversation assigned to Alice');
  const msgs = (await apiCall(base, 'GET', `workspaces/${a.ws}/conversations/${conv.id}/messages`, a.token)).data;
  const withImage = msgs.find((m) => m.attachments?.some((f) => f.filename === 'screenshot.png'));
  assert.equal(withImage?.kind, 'in');
  assert.equal(withImage.content, '');
  const withFile = msgs.find((m) => m.content === 'Here is your invoice');
  assert.deepEqual(withFile.attachments.map((f) => [f.filename, f.content_type, f.size]), [['invoice.txt', 'text/plain', Buffer.byteLength(fileText)]]);

  // The customer sees a download link that serves the same bytes.
  const link = customer.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'Here is your invoice' }).locator('[data-testid=sb-file-link]');
  await link.waitFor({ timeout: 10_000 });
  assert.match(await link.innerText(), /invoice\.txt/);
  const linkHref = await link.getAttribute('href');
  assert.ok(linkHref.startsWith(`${base}/files/`), `absolute URL on the API origin: ${linkHref}`);
  assert.equal(await link.getAttribute('download'), 'invoice.txt');
  const fromNode = await fetch(linkHref);
  assert.equal(fromNode.status, 200);
  assert.match(fromNode.headers.get('content-disposition') ?? '', /^attachment/);
  assert.equal(await fromNode.text(), fileText);
  const fromPage = await customer.evaluate(async (u) => (await fetch(u)).text(), linkHref);
  assert.equal(fromPage, fileText);
  await shot(customer, '55-widget-file-link');

  // Both survive a reload of the widget (history carries the attachments).
  await customer.reload();
  await customer.locator('[data-testid=sb-panel]').waitFor({ timeout: 5_000 });
  await customer.locator('[data-testid=sb-file-link]', { hasText: 'invoice.txt' }).waitFor({ timeout: 10_000 });
  await customer.locator('[data-testid=sb-file-image] img').waitFor({ timeout: 10_000 });
});

test('a file-only widget message whose echo is lost is resent with its files, exactly once', { skip: skipReason || false, timeout: 90_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const name = `Taras ${uniq()}`;
  const page = await (await browser.newContext()).newPage();
  let connections = 0;
  let dropped = false;
  const sent = [];
  await page.routeWebSocket(/\/api\/v1\/widget\/ws/, (ws) => {
    const n = ++connections;
    const upstream = ws.connectToServer();
    ws.onMessage((m) => { sent.push({ n, frame: JSON.parse(String(m)) }); upstream.send(m); });
    upstream.onMessage((m) => {
      const frame = JSON.parse(String(m));
      if (n === 1 && frame.type === 'message.created' && frame.data?.attachments?.length) {
        dropped = true;
        setTimeout(() => { ws.close(); upstream.close(); }, 200);
        return;
      }
      ws.send(m);
    });
  });
  await customerWrites(page, base, { name }, `Before the file ${uniq()}`);
  await page.setInputFiles('[data-testid=sb-file]', { name: 'receipt.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.4\n% test\n') });
  await until(async () => !(await page.locator('[data-testid=sb-send]').isDisabled()), 'upload finished', 10_000);
  await page.click('[data-testid=sb-send]');
  await until(() => dropped, 'the echo was dropped', 10_000);
  await until(() => connections >= 2, 'the widget reconnected', 20_000);
  const first = sent.find((s) => s.n === 1 && s.frame.type === 'message' && s.frame.attachment_ids?.length);
  const again = await until(() => sent.find((s) => s.n >= 2 && s.frame.type === 'message' && s.frame.echo_id === first.frame.echo_id), 'the resend', 10_000);
  assert.deepEqual(again.frame.attachment_ids, first.frame.attachment_ids, 'the resend carries the same files');
  assert.equal(again.frame.content, undefined, 'no text was invented');
  const mine = page.locator('[data-testid=sb-message][data-kind=in]', { has: page.locator('[data-testid=sb-file-link]') });
  await until(async () => {
    const classes = await mine.evaluateAll((els) => els.map((e) => e.className));
    return classes.length === 1 && !classes[0].includes('pending') ? true : JSON.stringify(classes) && false;
  }, 'one acknowledged copy', 10_000).catch(async (e) => {
    throw new Error(`${e.message}; shown: ${JSON.stringify(await page.locator('[data-testid=sb-message]').evaluateAll((els) => els.map((x) => [x.className, x.textContent])))}`);
  });
  await shot(page, '56-widget-file-resent');

  const admin = await apiLogin(base, 'admin@demo.test');
  const convs = await apiCall(base, 'GET', `workspaces/${admin.ws}/conversations?limit=200`, admin.token);
  const conv = convs.data.find((c) => c.contact.name === name);
  const msgs = await apiCall(base, 'GET', `workspaces/${admin.ws}/conversations/${conv.id}/messages`, admin.token);
  assert.equal(msgs.data.filter((m) => m.attachments?.some((f) => f.filename === 'receipt.pdf')).length, 1, 'stored once');
});
