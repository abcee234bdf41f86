// The kill switch in a real Chromium: the "Not you? Disable your account" link from an old
// new-sign-in email (GET shows a confirmation, only the button freezes), the attacker's browser
// signed out on its next request, and the "Freeze account" button of the security center.
//
// Run like the other browser tests (see security-center.test.mjs).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { path, shot, start, waitForMail } from './harness.mjs';

const PASSWORD = 'copper lantern orchard whistle';

describe('kill switch in a real browser', { timeout: 90_000 }, () => {
  let env;
  let base;

  before(async () => {
    env = await start('custos-server-freeze.log');
    base = env.base;
  });

  after(async () => {
    await env?.stop();
  });

  /** Registers `email` through the form and confirms it from the dev mailbox. */
  async function register(page, email) {
    await page.goto(`${base}/register`);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    const mail = await waitForMail(page, base, email, 'Confirm your email address');
    const link = await mail.locator('a[href*="/verify-email/"]').first().getAttribute('href');
    await page.goto(link);
    await page.getByRole('button').first().click();
    await page.waitForLoadState('load');
  }

  async function signIn(page, email) {
    await page.goto(`${base}/login`);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
    assert.equal(path(page), '/security');
  }

  it('freezes from the disable link in an old email and signs the attacker out', async () => {
    const email = `victim.${Date.now()}@example.com`;
    const victim = await (await env.newContext()).newPage();
    const attacker = await (await env.newContext()).newPage();
    const inbox = await (await env.newContext()).newPage();
    await register(victim, email);
    await signIn(attacker, email);

    const notice = await waitForMail(inbox, base, email, 'New sign-in to your account');
    const link = await notice.locator('a[href*="/disable/"]').first().getAttribute('href');
    assert.ok(link.startsWith(`${base}/disable/`), link);

    // The page confirms first; opening it changed nothing.
    await victim.goto(link);
    await victim.getByRole('heading', { name: 'Disable your account?' }).waitFor();
    await shot(victim, 'disable-confirm');
    await attacker.goto(`${base}/security`);
    assert.equal(path(attacker), '/security', 'still signed in after the GET');

    await victim.getByRole('button', { name: 'Disable my account now' }).click();
    await victim.getByRole('heading', { name: 'Your account is frozen' }).waitFor();
    assert.equal(await victim.locator('#sessions-revoked').innerText(), '1');
    await shot(victim, 'freeze-receipt');

    await attacker.goto(`${base}/security`);
    assert.equal(path(attacker), '/login', 'the attacker is signed out on the next request');
    await shot(attacker, 'login-after-freeze');
    assert.ok(await attacker.getByRole('link', { name: 'Freeze your account' }).isVisible());
  });

  it('freezes with one click on the security center button', async () => {
    const email = `button.${Date.now()}@example.com`;
    const page = await (await env.newContext()).newPage();
    await register(page, email);
    await signIn(page, email);
    await shot(page, 'security-freeze-button');
    await page.getByRole('button', { name: 'Freeze account' }).click();
    await page.getByRole('heading', { name: 'Your account is frozen' }).waitFor();
    assert.match(await page.locator('#freeze-status').innerText(), /from the security center/);
    await page.goto(`${base}/security`);
    assert.equal(path(page), '/login');
    assert.deepEqual(env.consoleErrors, []);
  });
});
