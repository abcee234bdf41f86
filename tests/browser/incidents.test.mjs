// Incident cases in a real Chromium: freeze with the disable link from an old email → the
// receipt shows the private case link → open it with no session → post a message, which shows in
// the thread as text (markup escaped). Also the emailed copy of the link.
//
// Run like the other browser tests (see security-center.test.mjs).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { path, registerAccount, shot, signInAccount, start, waitForMail } from './harness.mjs';

const PASSWORD = 'copper lantern orchard whistle';

describe('incident cases in a real browser', { timeout: 90_000 }, () => {
  let env;
  let base;

  before(async () => {
    env = await start('custos-server-incidents.log');
    base = env.base;
  });

  after(async () => {
    await env?.stop();
  });

  async function register(page, email) {
    await registerAccount(page, page, base, email, PASSWORD);
  }

  async function signIn(page, email) {
    await signInAccount(page, base, email, PASSWORD);
    assert.equal(path(page), '/security');
  }

  it('freezes by disable link, opens the case link from the receipt and posts a message', async () => {
    const email = `case.${Date.now()}@example.com`;
    const victim = await (await env.newContext()).newPage();
    const attacker = await (await env.newContext()).newPage();
    const inbox = await (await env.newContext()).newPage();
    await register(victim, email);
    await signIn(attacker, email);

    const notice = await waitForMail(inbox, base, email, 'New sign-in to your account');
    const disable = await notice.locator('a[href*="/disable/"]').first().getAttribute('href');
    await victim.goto(disable);
    await victim.getByRole('button', { name: 'Disable my account now' }).click();
    await victim.getByRole('heading', { name: 'Your account is frozen' }).waitFor();

    // The receipt carries the case link, and says where it was emailed.
    const caseLink = victim.locator('#case-link');
    await caseLink.waitFor();
    const href = await caseLink.getAttribute('href');
    assert.ok(href.startsWith(`${base}/case/`), href);
    assert.match(await victim.locator('#case-emailed').innerText(), /emailed to/);
    await shot(victim, 'receipt-with-case-link');

    // Every session is gone; the link still opens the case.
    await attacker.goto(`${base}/security`);
    assert.equal(path(attacker), '/login');
    await caseLink.click();
    await victim.getByRole('heading', { name: 'Your case' }).waitFor();
    assert.match(await victim.locator('#fact-measures').innerText(), /Sessions ended/);
    assert.equal(await victim.locator('#sla-first-response').getAttribute('data-status'), 'due');
    await shot(victim, 'case-page');

    await victim.getByLabel('Your message to support').fill('I did not sign in from that device.\n<b>Please</b> help.');
    await victim.getByRole('button', { name: 'Send' }).click();
    await victim.locator('#flash').waitFor();
    const last = victim.locator('#thread li[data-author="user"]').last();
    assert.equal(
      await last.locator('.body').innerText(),
      'I did not sign in from that device.\n<b>Please</b> help.',
      'the message shows as text',
    );
    await shot(victim, 'case-message-posted');

    // The emailed copy opens the same case.
    const mail = await waitForMail(inbox, base, email, 'Your case about account');
    const emailed = await mail.locator('a[href*="/case/"]').first().getAttribute('href');
    await inbox.goto(emailed);
    await inbox.getByRole('heading', { name: 'Your case' }).waitFor();
    assert.match(await inbox.locator('#thread').innerText(), /I did not sign in from that device/);
  });
});
