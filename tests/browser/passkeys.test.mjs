// Passkeys in a real Chromium with its virtual authenticator (CDP WebAuthn domain): register →
// confirm the address from the dev mailbox → sign in → confirm it's you (password, then an emailed
// code) → add a passkey (recovery codes shown once) → rename it → sign out → sign in with the
// passkey alone → sign out → password, then the passkey as the second factor → once the step-up
// has lapsed, confirm with the passkey and remove it → the passkey no longer signs in.
//
// WebAuthn needs a host name (an IP address cannot be a relying party), so this server's public
// URL is http://localhost:<port> (localhost is a secure context over plain http).
//
// Run from the repository root after `cargo build -p custos`:
//   CUSTOS_BIN=target/debug/custos node --test tests/browser/
// Screenshots (desktop and phone) and the server log go to CUSTOS_SHOTS (default
// <tmp>/custos-shots). Needs Debian's /usr/bin/chromium and `npm ci` in this directory.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { countMail, path as pathOf, shot as shotOf, start, waitForMail } from './harness.mjs';

const EMAIL = `grace.${Date.now()}@example.com`;
const PASSWORD = 'marble kettle horizon saffron';
const STEP_UP_SECONDS = 20;

describe('passkeys in a real browser', { timeout: 120_000 }, () => {
  let env;
  let base;
  let ctx;
  let page;
  let inbox; // a second tab on the dev mailbox, so reading mail never leaves the page under test
  let cdp;
  let authenticatorId;

  before(async () => {
    env = await start(
      'custos-server-passkeys.log',
      // Short, so the last test can see a step-up lapse without waiting ten minutes.
      { CUSTOS_STEP_UP_WINDOW: `${STEP_UP_SECONDS}s` },
      // WebAuthn needs a host name; localhost also becomes the public URL.
      { host: 'localhost' },
    );
    base = env.base;
    ctx = await env.newContext();
    page = await ctx.newPage();
    inbox = await ctx.newPage();
    // A platform authenticator that keeps discoverable credentials and verifies its user, and
    // answers without a person touching it.
    cdp = await ctx.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    }));
  });

  after(async () => {
    await env?.stop();
  });

  const shot = (name) => shotOf(page, name);
  const path = () => pathOf(page);

  /** The newest dev-mailbox message to EMAIL whose subject starts `subject`, once there are more than `seen`. */
  const mail = (subject, seen = 0) => waitForMail(inbox, base, EMAIL, subject, seen);
  const mailCount = (subject) => countMail(inbox, base, EMAIL, subject);

  async function signOut() {
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForLoadState('load');
    assert.equal(path(), '/login');
  }

  it('registers, confirms the address and signs in with the password', async () => {
    await page.goto(`${base}/register`);
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();

    const verify = await mail('Confirm your email address');
    const link = await verify.locator('a[href*="/verify-email/"]').first().getAttribute('href');
    assert.ok(link.startsWith(`${base}/verify-email/`), `links use the public URL: ${link}`);
    await page.goto(link);
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.getByRole('heading', { name: 'Address confirmed' }).waitFor();

    await page.goto(`${base}/login`);
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForLoadState('load');
    assert.equal(path(), '/security');
    await page.getByRole('heading', { name: 'Passkeys' }).waitFor();
    assert.equal(await page.locator('#passkey-list [data-passkey]').count(), 0);
    await shot('passkeys-none');
  });

  it('asks to confirm it is you before adding, with the password and an emailed code', async () => {
    const note = page.locator('#passkey-confirm-note');
    await note.waitFor();
    await shot('passkeys-confirm-first');
    const seen = await mailCount('Your confirmation code');
    await note.getByRole('link', { name: "Confirm it's you" }).click();
    await page.waitForLoadState('load');
    assert.equal(path(), '/security/confirm');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    const subject = await (await mail('Your confirmation code', seen)).locator('h2').innerText();
    const code = subject.match(/Your confirmation code: (\d{6})/)?.[1];
    assert.ok(code, `no code in "${subject}"`);
    await page.getByLabel('Code from the email').fill(code);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForLoadState('load');
    assert.equal(path(), '/security');
    assert.equal(await page.locator('#passkey-confirm-note').count(), 0, 'no longer asks to confirm');
  });

  it('adds a passkey with the virtual authenticator and shows the recovery codes once', async () => {
    // WebAuthn answers only the focused tab; the mailbox tab was opened after this one.
    await page.bringToFront();
    const addButton = page.getByRole('button', { name: 'Add a passkey' });
    assert.ok(await addButton.isVisible(), 'the add button shows where WebAuthn works');
    await page.getByLabel('Name for the new passkey').fill('Test laptop');
    await addButton.click();
    const codes = page.locator('#passkey-codes');
    await codes.waitFor({ state: 'visible' });
    assert.equal(await codes.locator('li').count(), 10);
    await page.getByRole('status').filter({ hasText: 'Passkey \u201cTest laptop\u201d added' }).waitFor();
    await shot('passkeys-recovery-codes');

    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0].isResidentCredential, true, 'discoverable, so it can sign in alone');
    assert.equal(credentials[0].rpId, 'localhost');

    await page.getByRole('link', { name: 'I have saved them' }).click();
    await page.waitForLoadState('load');
    await page.getByRole('status').filter({ hasText: 'Passkey added' }).first().waitFor();
    const rows = page.locator('#passkey-list [data-passkey]');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), /Test laptop/);

    const notice = await mail('Security change on your account');
    assert.match(await notice.innerText(), /A passkey was added to your account\./);
  });

  it('renames the passkey with a plain form', async () => {
    const row = page.locator('#passkey-list [data-passkey]').first();
    await row.locator('summary').click();
    await row.getByLabel('New name').fill('Grace\u2019s laptop');
    await row.getByRole('button', { name: 'Save name' }).click();
    await page.waitForLoadState('load');
    await page.getByRole('status').filter({ hasText: 'Passkey renamed.' }).waitFor();
    assert.match(await page.locator('#passkey-list [data-passkey]').first().innerText(), /Grace\u2019s laptop/);
    await shot('passkeys-list');
  });

  it('signs out, then signs in with the passkey alone', async () => {
    await signOut();
    await page.bringToFront();
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    assert.ok(await button.isVisible());
    await shot('passkeys-login');
    await button.click();
    await page.waitForURL(`${base}/security`);
    await page.getByRole('heading', { name: 'Security center' }).waitFor();
    assert.match(await page.locator('#passkey-list').innerText(), /Grace\u2019s laptop/);
    assert.match(await page.locator('#passkey-list').innerText(), /last used/);
    await shot('passkeys-signed-in');
  });

  it('asks for the passkey as the second factor after the password', async () => {
    await signOut();
    await page.getByLabel('Email address').fill(EMAIL);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: "Confirm it's you" }).waitFor();
    assert.equal(await page.getByLabel('Code from your authenticator app').count(), 0, 'no app is enrolled');
    await shot('passkeys-second-factor');
    await page.bringToFront();
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    await page.waitForURL(`${base}/security`);
    await page.getByRole('heading', { name: 'Security center' }).waitFor();
  });

  it('removes the passkey after confirming with it once the step-up has lapsed', async () => {
    // Poll (bounded) until the sign-in's step-up has lapsed and the section asks to confirm again.
    const deadline = Date.now() + (STEP_UP_SECONDS + 10) * 1000;
    while ((await page.locator('#passkey-confirm-note').count()) === 0) {
      assert.ok(Date.now() < deadline, 'the step-up never lapsed');
      await page.waitForTimeout(1000);
      await page.goto(`${base}/security`);
    }
    const row = page.locator('#passkey-list [data-passkey]').first();
    await row.getByRole('button', { name: 'Remove' }).click();
    await page.waitForLoadState('load');
    assert.equal(path(), '/security/confirm', 'removing asks to confirm first');
    await shot('passkeys-confirm-page');
    await page.bringToFront();
    await page.getByRole('button', { name: 'Confirm with a passkey' }).click();
    await page.waitForURL(`${base}/security`);
    await page.locator('#passkey-list [data-passkey]').first().getByRole('button', { name: 'Remove' }).click();
    await page.waitForLoadState('load');
    await page.getByRole('status').filter({ hasText: 'Passkey removed.' }).waitFor();
    assert.equal(await page.locator('#passkey-list [data-passkey]').count(), 0);
    const notice = await mail('Security change on your account', 1);
    assert.match(await notice.innerText(), /A passkey was removed from your account\./);

    // The authenticator still holds the credential, but custos no longer knows it.
    await signOut();
    await page.bringToFront();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const refusal = page.locator('#passkey-status [role=alert]');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /not registered here/);
    assert.equal(path(), '/login');
    await shot('passkeys-login-refused');
  });

  it('produced no console errors (CSP violations included) on any page', () => {
    assert.deepEqual(env.consoleErrors, []);
  });
});
