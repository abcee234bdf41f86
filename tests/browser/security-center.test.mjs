// The pages, driven by a real Chromium: register → confirm the address from the dev mailbox →
// sign in on two browsers → end the other browser's session from the security center.
//
// Run from the repository root after `cargo build -p custos`:
//   CUSTOS_BIN=target/debug/custos node --test tests/browser/
// CUSTOS_BIN defaults to ../../target/debug/custos relative to this directory. Screenshots (desktop
// and 390x844 phone) and the server log go to CUSTOS_SHOTS (default: <tmp>/custos-shots); the
// screenshots are for people to look at, not asserted on. Needs Debian's /usr/bin/chromium
// (apt-get install -y chromium) and `npm ci` in this directory; never `npx playwright install`.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SHOTS, countMail, path, shot, start, waitForMail } from './harness.mjs';

const EMAIL = `ada.${Date.now()}@example.com`;
const PASSWORD = 'copper lantern orchard whistle';

describe('security center in a real browser', { timeout: 60_000 }, () => {
  let env;
  let base;
  let a; // browser context A: the account holder
  let b; // browser context B: a second browser that A will sign out
  let pageA;
  let pageB;
  let uid;

  before(async () => {
    env = await start('custos-server.log');
    base = env.base;
    a = await env.newContext();
    b = await env.newContext();
    pageA = await a.newPage();
    pageB = await b.newPage();
  });

  after(async () => {
    // Writes the server's own account of the run, for when a step fails.
    await env?.stop();
  });

  async function signIn(page, password = PASSWORD) {
    await page.goto(`${base}/login`);
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  }

  it('refuses a short password with a message in words under the field', async () => {
    await pageA.goto(`${base}/register`);
    // The stylesheet is served by custos itself and applies (no CDN, strict CSP).
    const cardBg = await pageA.locator('.card').first().evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(cardBg, 'rgb(255, 255, 255)');
    await shot(pageA, 'register');

    await pageA.getByLabel('Email address').fill(EMAIL);
    await pageA.getByLabel('Password', { exact: true }).fill('short');
    await pageA.getByRole('button', { name: 'Create account' }).click();
    await pageA.getByRole('alert').waitFor();
    assert.equal(path(pageA), '/register');
    const field = pageA.getByLabel('Password', { exact: true });
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    const errorId = (await field.getAttribute('aria-describedby')).split(' ')[0];
    const error = pageA.locator(`#${errorId}`);
    assert.match(await error.innerText(), /[a-z]{3,} [a-z]{2,}/i);
    // Directly under the field it is about.
    const fieldBox = await field.boundingBox();
    const errorBox = await error.boundingBox();
    assert.ok(errorBox.y >= fieldBox.y + fieldBox.height && errorBox.y - (fieldBox.y + fieldBox.height) < 24);
    assert.equal(await pageA.getByLabel('Email address').inputValue(), EMAIL, 'the email is kept');
    await shot(pageA, 'register-error');
  });

  it('registers a new account through the form', async () => {
    await pageA.getByLabel('Email address').fill(EMAIL);
    await pageA.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await pageA.getByRole('button', { name: 'Create account' }).click();
    await pageA.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    await shot(pageA, 'register-done');
  });

  it('confirms the address from the link in the dev mailbox and shows the UID', async () => {
    // The outbox worker delivers asynchronously: waitForMail looks until the mail is there.
    const mail = await waitForMail(pageA, base, EMAIL, 'Confirm your email address');
    const link = await mail.locator('a[href*="/verify-email/"]').first().getAttribute('href');
    assert.ok(link, 'the verification mail has no link');
    assert.ok(link.startsWith(`${base}/verify-email/`), `unexpected link ${link}`);
    await shot(pageA, 'mailbox');

    await pageA.goto(link);
    await shot(pageA, 'verify');
    await pageA.getByRole('button', { name: 'Confirm my address' }).click();
    await pageA.getByRole('heading', { name: 'Address confirmed' }).waitFor();
    uid = (await pageA.locator('#uid').innerText()).trim();
    assert.match(uid, /^\d+$/, 'no UID on the confirmation page');
    await shot(pageA, 'verify-done');
  });

  it('keeps a wrong password on the login page with an error in words next to the form', async () => {
    await signIn(pageA, 'not the right passphrase at all');
    assert.equal(path(pageA), '/login');
    const alert = pageA.getByRole('alert');
    await alert.waitFor();
    const message = (await alert.innerText()).trim();
    assert.match(message, /[a-z]{3,} [a-z]{2,}/i, `the error should be a sentence: "${message}"`);
    // Next to the form, and tied to the fields for screen readers.
    const formBox = await pageA.locator('form[action="/login"]').boundingBox();
    const alertBox = await alert.boundingBox();
    assert.ok(Math.abs(alertBox.y + alertBox.height - formBox.y) < 120, 'the error is far from the form');
    const describedBy = await pageA.getByLabel('Password').getAttribute('aria-describedby');
    assert.ok(describedBy?.split(' ').includes(await alert.getAttribute('id')), 'password field does not reference the error');
    // The typed email is kept; the password is not.
    assert.equal(await pageA.getByLabel('Email address').inputValue(), EMAIL);
    assert.equal(await pageA.getByLabel('Password').inputValue(), '');
    await shot(pageA, 'login-error');
  });

  it('signs in on two separate browsers and lists both sessions', async () => {
    await pageA.goto(`${base}/login`);
    await shot(pageA, 'login');
    // Keyboard users see where they are: the focused field has a visible outline.
    await pageA.keyboard.press('Tab'); // the brand link
    await pageA.getByLabel('Email address').focus();
    await pageA.keyboard.press('Tab');
    const focused = pageA.getByLabel('Password');
    assert.ok(await focused.evaluate((el) => el === document.activeElement), 'Tab from email goes to password');
    assert.equal(await focused.evaluate((el) => getComputedStyle(el).outlineStyle), 'solid');
    await pageA.screenshot({ path: join(SHOTS, 'login-focus-desktop.png') });
    await signIn(pageA);
    assert.equal(path(pageA), '/security');
    await signIn(pageB);
    assert.equal(path(pageB), '/security');

    await pageA.reload();
    assert.equal((await pageA.locator('#uid').innerText()).trim(), uid);
    const rows = pageA.locator('#sessions [data-session]');
    assert.equal(await rows.count(), 2, 'expected two active sessions');
    assert.equal(await rows.filter({ hasText: 'this device' }).count(), 1);
    await shot(pageA, 'security');
  });

  it('shows the new-device sign-ins and the failed attempt in the activity', async () => {
    const activity = pageA.locator('#activity tbody tr');
    const newDevice = activity.filter({ hasText: 'new device' });
    assert.equal(await newDevice.count(), 2, 'each browser signed in as a new device');
    assert.equal(await activity.filter({ hasText: /wrong/i }).count(), 1, 'the wrong password is listed');
  });

  it("ends the other browser's session, which must sign in again", async () => {
    const other = pageA.locator('#sessions [data-session]').filter({ hasNotText: 'this device' });
    await other.getByRole('button', { name: 'End session' }).click();
    await pageA.waitForLoadState('load');
    assert.equal(path(pageA), '/security');
    await pageA.getByRole('status').filter({ hasText: 'The session was ended' }).waitFor();
    assert.equal(await pageA.locator('#sessions [data-session]').count(), 1);
    await shot(pageA, 'security-after-revoke');

    await pageB.goto(`${base}/security`);
    assert.equal(path(pageB), '/login', "B's ended session still opens the security center");
    await pageB.getByRole('heading', { name: 'Sign in' }).waitFor();

    await pageA.goto(`${base}/security`);
    assert.equal(path(pageA), '/security');
    await pageA.getByRole('heading', { name: 'Security center' }).waitFor();

    assert.equal(await countMail(pageA, base, EMAIL, 'New sign-in to your account'), 2);
    await shot(pageA, 'mailbox-all');
  });

  it('produced no console errors (CSP violations included) on any page', () => {
    assert.deepEqual(env.consoleErrors, []);
  });
});
