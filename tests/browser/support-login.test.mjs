// The support console's front door in a real Chromium: an operator creates a staff member with
// `custos staff create` (beside the running server), the setup link sets a password and enrols an
// authenticator app (the code computed here from the secret the page shows), the staff member signs
// in with password and code, and looks up a customer's UID. Then the public "Is this really us?"
// page answers for an official domain, a lookalike and the staff member's ID.
//
// Run from the repository root after `cargo build -p custos`:
//   CUSTOS_BIN=target/debug/custos node --test tests/browser/support-login.test.mjs

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { path, shot, start } from './harness.mjs';

const STAFF_EMAIL = 'dana@custos.example';
const STAFF_PASSWORD = 'plum vortex harbor quilt';
const CUSTOMER_EMAIL = 'carol@example.com';

describe('support staff sign-in and channel verification in a real browser', { timeout: 90_000 }, () => {
  let env;
  let base;
  let ctx;
  let page;
  let setupLink;
  let uid;
  let staffId;


  before(async () => {
    env = await start('custos-server-support.log');
    base = env.base;
    const created = env.cli(['staff', 'create', '--email', STAFF_EMAIL, '--name', 'Dana Reyes', '--role', 'agent']);
    setupLink = new URL(created.match(/https?:\/\/\S+\/support\/setup\/\S+/)[0]).pathname;
    staffId = created.match(/CS-\d{6}/)[0];
    const user = env.cli(['user', 'create', '--email', CUSTOMER_EMAIL], 'copper lantern orchard whistle\n');
    uid = user.match(/UID (\d+)/)[1];
    env.cli(['official', 'add', '--kind', 'domain', '--value', 'custos.example', '--note', 'our website']);
    ctx = await env.newContext();
    page = await ctx.newPage();
  });

  after(async () => {
    await ctx?.close();
    await env?.stop();
    assert.deepEqual(env?.consoleErrors ?? [], [], 'no console errors (CSP violations among them)');
  });

  it('sets a password and an authenticator app from the setup link, then signs in and looks up a UID', async () => {
    await page.goto(`${base}${setupLink}`);
    await page.getByRole('heading', { name: 'Set up your staff account' }).waitFor();
    assert.ok((await page.locator('main').innerText()).includes(staffId));
    await shot(page, 'support-setup');

    await page.getByLabel('New password').fill('short');
    await page.getByRole('button', { name: /Continue/ }).click();
    assert.ok(await page.locator('#password-error').isVisible(), 'a weak password is refused next to the field');

    await page.getByLabel('New password').fill(STAFF_PASSWORD);
    await page.getByRole('button', { name: /Continue/ }).click();
    await page.getByRole('heading', { name: 'Add an authenticator app' }).waitFor();
    assert.ok(await page.locator('.qr svg').isVisible(), 'a QR code is drawn');
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
    await shot(page, 'support-setup-scan');

    await page.getByLabel('Six-digit code').fill('000000');
    await page.getByRole('button', { name: 'Confirm and finish' }).click();
    assert.ok(await page.locator('#code-error').isVisible(), 'a wrong code is refused next to the field');
    await page.getByLabel('Six-digit code').fill(totp.generate());
    await page.getByRole('button', { name: 'Confirm and finish' }).click();
    await page.waitForURL(/\/support\/login/);
    assert.ok((await page.locator('main').innerText()).includes('Your staff account is ready'));

    // Password without the right code: refused.
    await page.getByLabel('Work email address').fill(STAFF_EMAIL);
    await page.getByLabel('Password').fill(STAFF_PASSWORD);
    await page.getByLabel('Authenticator code').fill('123456');
    await page.getByRole('button', { name: /Sign in/ }).click();
    assert.ok(await page.locator('#form-error').isVisible());
    assert.equal(path(page), '/support/login');

    // The code of the next step (one step of drift is accepted), since this step's was just used.
    await page.getByLabel('Password').fill(STAFF_PASSWORD);
    await page.getByLabel('Authenticator code').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
    await page.getByRole('button', { name: /Sign in/ }).click();
    await page.waitForURL(/\/support$/);
    assert.equal(await page.locator('#staff-id').innerText(), staffId);
    assert.equal(await page.locator('#role').innerText(), 'agent');
    await shot(page, 'support-home');

    await page.getByLabel('Account UID').fill(uid);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.locator('#account').waitFor();
    assert.equal(await page.locator('#account-email').innerText(), CUSTOMER_EMAIL);
    assert.equal(await page.locator('#account-status').innerText(), 'active');
    await shot(page, 'support-account');

    await page.getByLabel('Account UID').fill('123');
    await page.getByRole('button', { name: 'Look up' }).click();
    assert.ok(await page.locator('#uid-error').isVisible());

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/support\/login/);
    await page.goto(`${base}/support`);
    assert.equal(path(page), '/support/login', 'signed out means signed out');
  });

  it('answers on the public page whether a channel is official', async () => {
    await page.goto(`${base}/verify`);
    const check = async (value) => {
      await page.getByLabel(/Website, email sender/).fill(value);
      await page.getByRole('button', { name: 'Check' }).click();
      await page.locator('#verdict').waitFor();
      return { status: await page.locator('#verdict').getAttribute('data-status'), text: await page.locator('#verdict').innerText() };
    };
    let v = await check('https://www.custos.example/');
    assert.equal(v.status, 'official');
    assert.ok(v.text.includes('our website'));
    v = await check('cust0s-example.com');
    assert.equal(v.status, 'lookalike');
    assert.ok(v.text.includes('NOT an official channel'), v.text);
    await shot(page, 'verify-lookalike');
    v = await check(staffId);
    assert.equal(v.status, 'official');
    assert.ok(v.text.includes('Dana Reyes'));
    v = await check('CS-000000');
    assert.equal(v.status, 'not_official');
    await page.getByLabel(/Website, email sender/).fill('not a domain');
    await page.getByRole('button', { name: 'Check' }).click();
    assert.ok(await page.locator('#channel-error').isVisible());
  });
});
