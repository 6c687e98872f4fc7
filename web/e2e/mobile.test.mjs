// (4) On a phone-sized screen (390x844) an agent reads and answers a
// conversation: list → thread → back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useServerAndBrowser, skipReason, uiLogin, customerWrites, item, shot, uniq } from './helpers.mjs';

const env = useServerAndBrowser();

test('phone layout: list → thread → reply → back', { skip: skipReason || false, timeout: 120_000 }, async () => {
  const { browser, server } = env;
  const base = server.url;
  const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
  const name = `Iryna ${uniq()}`;
  const customer = await (await browser.newContext(phone)).newPage();
  await customerWrites(customer, base, { name, email: 'iryna@example.com', phone: '' }, 'Is the blue jacket in size M?');
  await shot(customer, '30-widget-phone');

  const bob = await (await browser.newContext(phone)).newPage();
  await uiLogin(bob, base, 'bob@demo.test');
  await bob.click('[data-testid=tab-unassigned]');
  await item(bob, name).waitFor({ timeout: 15_000 });
  await shot(bob, '31-phone-list');

  await item(bob, name).tap();
  const msg = bob.locator('[data-testid=message][data-kind=in]', { hasText: 'blue jacket' });
  await msg.waitFor({ timeout: 10_000 });
  // Only the thread is on screen: the list is hidden and nothing overflows sideways.
  assert.equal(await bob.locator('[data-testid=conv-list]').isVisible(), false);
  const box = await msg.boundingBox();
  assert.ok(box && box.x >= 0 && box.x + box.width <= 390, 'message fits the screen');
  assert.equal(await bob.evaluate(() => document.documentElement.scrollWidth <= 390), true, 'no horizontal scroll');

  await bob.locator('[data-testid=composer-input]').tap();
  await bob.fill('[data-testid=composer-input]', 'Yes, we have it in M. Shall I reserve one for you?');
  await bob.locator('[data-testid=composer-send]').tap();
  await bob.locator('[data-testid=message][data-kind=out]', { hasText: 'reserve one' }).waitFor({ timeout: 10_000 });
  await shot(bob, '32-phone-thread');
  await customer.locator('[data-testid=sb-message][data-kind=out]', { hasText: 'reserve one' }).waitFor({ timeout: 10_000 });

  // The details drawer opens over the thread and shows the contact.
  await bob.locator('[data-testid=toggle-details]').tap();
  await bob.locator('[data-testid=contact-card]').waitFor({ timeout: 5_000 });
  assert.match(await bob.locator('[data-testid=contact-name]').innerText(), new RegExp(name));
  await shot(bob, '33-phone-details');
  await bob.locator('[data-testid=details-close]').tap();
  await bob.locator('[data-testid=contact-card]').waitFor({ state: 'detached', timeout: 5_000 });

  await bob.locator('[data-testid=thread-back]').tap();
  await bob.locator('[data-testid=conv-list]').waitFor({ timeout: 5_000 });
  await bob.click('[data-testid=tab-mine]');
  await item(bob, name).waitFor({ timeout: 10_000 });
});
