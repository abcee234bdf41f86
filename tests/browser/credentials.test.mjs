// The credential pages, driven by a real Chromium: confirm it's you (password, then a code from the
// email), set the anti-phishing code and see it masked, change the password (the other browser is
// signed out), reset a forgotten password from the emailed link, sign in with the new one; then an
// authenticator app: scan, confirm, recovery codes shown once, new codes, and removal from a
// second browser after confirming with a recovery code.
//
// Run from the repository root after `cargo build -p custos`:
//   CUSTOS_BIN=target/debug/custos node --test tests/browser/
// Screenshots go to CUSTOS_SHOTS (default <tmp>/custos-shots), named cred-*.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { countMail, path, shot, start, waitForMail } from './harness.mjs';

const stamp = Date.now();
const EMAIL = `grace.${stamp}@example.com`;
const TOTP_EMAIL = `totp.user.${stamp}@example.com`;
const PASSWORD = 'copper lantern orchard whistle';
const CHANGED = 'tulip quarry lantern fjord';
const RESET = 'marble heron cactus velvet';

describe('credential pages in a real browser', { timeout: 120_000 }, () => {
  let env;
  let base;
  let a; // the account holder's browser
  let b; // a second browser, signed in earlier
  let pageA;
  let pageB;
  let mail; // reads the dev mailbox

  before(async () => {
    // This flow mails one address more than the default five messages an hour (verification, two
    // new sign-ins, a code, two change notices) before it asks for a reset link, which the limit
    // would then drop.
    env = await start('custos-server-credentials.log', { CUSTOS_MAIL_PER_RECIPIENT_PER_HOUR: '50' });
    base = env.base;
    a = await env.newContext();
    b = await env.newContext();
    pageA = await a.newPage();
    pageB = await b.newPage();
    mail = await (await env.newContext()).newPage();
  });

  after(async () => {
    await env?.stop();
  });

  async function register(page, email) {
    await page.goto(`${base}/register`);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    const link = await (await waitForMail(mail, base, email, 'Confirm your email address'))
      .locator('a[href*="/verify-email/"]')
      .first()
      .getAttribute('href');
    await page.goto(link);
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.getByRole('heading', { name: 'Address confirmed' }).waitFor();
  }

  async function signIn(page, email, password) {
    await page.goto(`${base}/login`);
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  }

  /** The field's error: referenced by aria-describedby, marked invalid, a sentence, right below it. */
  async function fieldError(page, label) {
    const field = page.getByLabel(label, { exact: true });
    assert.equal(await field.getAttribute('aria-invalid'), 'true', `${label} is not marked invalid`);
    const errorId = (await field.getAttribute('aria-describedby')).split(' ')[0];
    const error = page.locator(`#${errorId}`);
    const text = (await error.innerText()).trim();
    const words = text.split(/\s+/).filter((w) => /[a-z]{2,}/i.test(w));
    assert.ok(words.length >= 3, `the error for ${label} should be a sentence: "${text}"`);
    const fieldBox = await field.boundingBox();
    const errorBox = await error.boundingBox();
    const gap = errorBox.y - (fieldBox.y + fieldBox.height);
    assert.ok(gap >= 0 && gap < 24, `the error for ${label} is not right under it (${gap}px)`);
    return text;
  }

  async function sessionCookie(ctx) {
    return (await ctx.cookies()).find((c) => c.name === 'custos_session')?.value;
  }

  /** Password, then the code from the email's subject line, on the "Confirm it's you" page. */
  async function confirmByEmail(page, email) {
    const seen = await countMail(mail, base, email, 'Your confirmation code');
    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Email me a code' }).click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    const subject = await (await waitForMail(mail, base, email, 'Your confirmation code', seen))
      .locator('h2')
      .innerText();
    const code = subject.match(/Your confirmation code: (\d{6})/)?.[1];
    assert.ok(code, `no code in "${subject}"`);
    await page.getByLabel('Code from the email').fill(code);
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.waitForLoadState('load');
  }

  it('registers, signs in on two browsers, and shows the checklist at the top', async () => {
    await register(pageA, EMAIL);
    await signIn(pageB, EMAIL, PASSWORD);
    await signIn(pageA, EMAIL, PASSWORD);
    assert.equal(path(pageA), '/security');
    // Verified email and a policy-checked password (25 of 110); the other browser counts as access
    // to review, and the withdrawal allowlist is off.
    assert.equal((await pageA.locator('#posture-score').innerText()).trim(), '22');
    const open = pageA.locator('#checklist-open li');
    assert.equal(await open.count(), 5);
    const apc = open.filter({ hasText: 'Anti-phishing code' });
    assert.match(await apc.innerText(), /real custos mail will always show it/);
    assert.equal(await apc.getByRole('link').getAttribute('href'), '/security/anti-phishing-code');
    assert.equal(await pageA.locator('#withdrawal-lock').count(), 0, 'no withdrawal pause yet');
    // The checklist comes before the account facts and sessions.
    const checklistY = (await pageA.locator('#checklist').boundingBox()).y;
    assert.ok(checklistY < (await pageA.locator('#sessions').boundingBox()).y);
    await shot(pageA, 'cred-security');
  });

  it('sets the anti-phishing code after confirming with the password and an emailed code', async () => {
    const before = await sessionCookie(a);
    await pageA.locator('#anti-phishing-row').getByRole('link', { name: 'Set a code' }).click();
    await pageA.getByRole('heading', { name: "Confirm it's you" }).waitFor();
    assert.equal(path(pageA), '/security/confirm');
    assert.equal(new URL(pageA.url()).searchParams.get('next'), '/security/anti-phishing-code');
    await shot(pageA, 'cred-confirm-password');

    await pageA.getByLabel('Your password').fill('not my password at all');
    await pageA.getByRole('button', { name: 'Email me a code' }).click();
    assert.match(await fieldError(pageA, 'Your password'), /password is not right/);

    // The wrong code first: refused next to the field, and the page keeps the challenge.
    const seen = await countMail(mail, base, EMAIL, 'Your confirmation code');
    await pageA.getByLabel('Your password').fill(PASSWORD);
    await pageA.getByRole('button', { name: 'Email me a code' }).click();
    await pageA.getByRole('heading', { name: 'Check your email' }).waitFor();
    assert.match(await pageA.locator('.lead').innerText(), new RegExp(EMAIL.replace(/\./g, '\\.')));
    await shot(pageA, 'cred-confirm-email-code');
    const subject = await (await waitForMail(mail, base, EMAIL, 'Your confirmation code', seen))
      .locator('h2')
      .innerText();
    const code = subject.match(/(\d{6})$/)[1];
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    await pageA.getByLabel('Code from the email').fill(wrong);
    await pageA.getByRole('button', { name: 'Confirm' }).click();
    assert.match(await fieldError(pageA, 'Code from the email'), /not right/);
    await shot(pageA, 'cred-confirm-email-code-error');
    await pageA.getByLabel('Code from the email').fill(` ${code.slice(0, 3)} ${code.slice(3)} `);
    await pageA.getByRole('button', { name: 'Confirm' }).click();
    await pageA.waitForLoadState('load');

    // Back where the person was going, under a new session token (the old one is dead).
    assert.equal(path(pageA), '/security/anti-phishing-code');
    const after = await sessionCookie(a);
    assert.ok(after && after !== before, 'the step-up did not set the new session cookie');
    await shot(pageA, 'cred-anti-phishing');

    await pageA.getByLabel('Anti-phishing code').fill('<b>');
    await pageA.getByRole('button', { name: 'Save the code' }).click();
    assert.match(await fieldError(pageA, 'Anti-phishing code'), /^Use /);
    await shot(pageA, 'cred-anti-phishing-error');
    await pageA.getByLabel('Anti-phishing code').fill('blue otter 42');
    await pageA.getByRole('button', { name: 'Save the code' }).click();
    await pageA.getByRole('status').filter({ hasText: 'Anti-phishing code saved' }).waitFor();
    assert.equal(path(pageA), '/security');
    assert.equal((await pageA.locator('#anti-phishing-code').innerText()).trim(), 'bl•••••••••42');
    assert.ok(!(await pageA.content()).includes('blue otter 42'), 'the code itself is never shown again');
    assert.equal((await pageA.locator('#posture-score').innerText()).trim(), '40');
    await shot(pageA, 'cred-security-anti-phishing-set');
  });

  it('changes the password: every policy reason in words, then the other browser is signed out', async () => {
    // Confirmed a moment ago: the form comes straight away.
    await pageA.locator('#password-row').getByRole('link', { name: 'Change password' }).click();
    await pageA.getByRole('heading', { name: 'Change your password' }).waitFor();

    await pageA.getByLabel('Current password').fill(PASSWORD);
    await pageA.getByLabel('New password').fill('Password123!');
    await pageA.getByRole('button', { name: 'Change password' }).click();
    await fieldError(pageA, 'New password');
    const reasons = pageA.locator('#new-password-error li');
    assert.ok((await reasons.count()) >= 2, 'every reason the policy gave is listed');
    await shot(pageA, 'cred-password-policy');

    await pageA.getByLabel('Current password').fill('not the current one');
    await pageA.getByLabel('New password').fill(CHANGED);
    await pageA.getByRole('button', { name: 'Change password' }).click();
    assert.match(await fieldError(pageA, 'Current password'), /current password is not right/);
    assert.equal(await pageA.locator('#new-password-error').count(), 0);

    await pageA.getByLabel('Current password').fill(PASSWORD);
    await pageA.getByLabel('New password').fill(CHANGED);
    await pageA.getByRole('button', { name: 'Change password' }).click();
    await pageA.getByRole('heading', { name: 'Password changed' }).waitFor();
    const receipt = await pageA.getByRole('status').innerText();
    assert.match(receipt, /Every other browser and app was signed out/);
    assert.match(receipt, /Withdrawals are paused until \d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC/);
    await shot(pageA, 'cred-password-changed');

    await pageB.goto(`${base}/security`);
    assert.equal(path(pageB), '/login', 'the other browser is still signed in');
    await pageA.getByRole('link', { name: 'Back to the security center' }).click();
    assert.equal(path(pageA), '/security', 'this browser lost its session');
    await pageA.locator('#withdrawal-lock').waitFor();
    await shot(pageA, 'cred-security-locked');
  });

  it('resets a forgotten password from the emailed link; opening the link changes nothing', async () => {
    await pageA.getByRole('button', { name: 'Sign out', exact: true }).click();
    await pageA.getByRole('link', { name: 'Forgot your password?' }).click();
    await pageA.getByRole('heading', { name: 'Forgot your password?' }).waitFor();
    await shot(pageA, 'cred-forgot');

    // An unknown address gets the very same answer.
    await pageA.getByLabel('Email address').fill(`nobody.${stamp}@example.com`);
    await pageA.getByRole('button', { name: 'Email me a link' }).click();
    const unknown = await pageA.locator('main').innerText();
    await pageA.goto(`${base}/forgot-password`);
    await pageA.getByLabel('Email address').fill(EMAIL);
    await pageA.getByRole('button', { name: 'Email me a link' }).click();
    await pageA.getByRole('heading', { name: 'Check your inbox' }).waitFor();
    assert.equal(await pageA.locator('main').innerText(), unknown);
    await shot(pageA, 'cred-forgot-sent');

    const link = await (await waitForMail(mail, base, EMAIL, 'Reset your password'))
      .locator('a[href*="/reset-password/"]')
      .first()
      .getAttribute('href');
    assert.ok(link.startsWith(`${base}/reset-password/`), link);
    await pageA.goto(link);
    await pageA.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await shot(pageA, 'cred-reset');
    // Opening the link changed nothing: the current password still signs in.
    await signIn(pageB, EMAIL, CHANGED);
    assert.equal(path(pageB), '/security');

    await pageA.getByLabel('New password').fill('qwertyuiopasdfghjkl');
    await pageA.getByRole('button', { name: 'Set new password' }).click();
    await fieldError(pageA, 'New password');
    await pageA.getByLabel('New password').fill(RESET);
    await pageA.getByRole('button', { name: 'Set new password' }).click();
    await pageA.getByRole('heading', { name: 'Password reset' }).waitFor();
    const receipt = await pageA.getByRole('status').innerText();
    assert.match(receipt, /signed out/);
    assert.match(receipt, /48 hours/);
    await shot(pageA, 'cred-reset-done');

    await pageB.goto(`${base}/security`);
    assert.equal(path(pageB), '/login', 'a reset ends every session');
    await pageA.goto(link);
    await pageA.getByLabel('New password').fill('another fresh long passphrase');
    await pageA.getByRole('button', { name: 'Set new password' }).click();
    await pageA.getByRole('heading', { name: "This link doesn't work any more" }).waitFor();
  });

  it('signs in with the new password and shows the withdrawal pause', async () => {
    await signIn(pageA, EMAIL, CHANGED);
    assert.equal(path(pageA), '/login', 'the old password still works');
    await signIn(pageA, EMAIL, RESET);
    assert.equal(path(pageA), '/security');
    assert.match(await pageA.locator('#withdrawal-lock').innerText(), /Withdrawals are paused until/);
  });

  it('adds an authenticator app: QR code and key, first code, recovery codes once', async () => {
    await register(pageA, TOTP_EMAIL);
    await signIn(pageB, TOTP_EMAIL, PASSWORD); // signed in before the app is added: password only
    await signIn(pageA, TOTP_EMAIL, PASSWORD);
    await pageA.locator('#totp-row').getByRole('link', { name: 'Add an authenticator app' }).click();
    await confirmByEmail(pageA, TOTP_EMAIL);
    assert.equal(path(pageA), '/security/two-factor');
    await pageA.getByRole('button', { name: 'Show the QR code' }).click();
    await pageA.locator('.qr svg').waitFor();
    assert.equal(await pageA.locator('.qr svg').getAttribute('aria-label'), 'QR code for your authenticator app');
    const uri = await pageA.getByRole('link', { name: 'Open this in your authenticator app' }).getAttribute('href');
    const totp = OTPAuth.URI.parse(uri);
    const typed = (await pageA.locator('#totp-secret').innerText()).replace(/\s/g, '');
    assert.equal(typed, totp.secret.base32, 'the key to type is the scanned secret');
    await shot(pageA, 'cred-totp-scan');

    const good = totp.generate();
    await pageA.getByLabel('Six-digit code').fill(String((Number(good) + 500_000) % 1_000_000).padStart(6, '0'));
    await pageA.getByRole('button', { name: 'Turn on the authenticator app' }).click();
    assert.match(await fieldError(pageA, 'Six-digit code'), /not right/);
    await pageA.locator('.qr svg').waitFor(); // still there to scan again
    await shot(pageA, 'cred-totp-scan-error');

    await pageA.getByLabel('Six-digit code').fill(totp.generate());
    await pageA.getByRole('button', { name: 'Turn on the authenticator app' }).click();
    await pageA.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    const codes = await pageA.locator('#recovery-codes li').allInnerTexts();
    assert.equal(codes.length, 10);
    assert.match(await pageA.getByRole('note').innerText(), /only time we show them/);
    await shot(pageA, 'cred-recovery-codes');
    await pageA.getByRole('link', { name: "I've stored them safely" }).click();
    await pageA.getByRole('status').filter({ hasText: 'Authenticator app on' }).waitFor();
    assert.equal((await pageA.locator('#posture-score').innerText()).trim(), '63');
    await shot(pageA, 'cred-security-totp-on');

    // Just confirmed with the app: new codes come without asking again, and the old set is gone.
    await pageA.locator('#recovery-row').getByRole('link', { name: 'Make new codes' }).click();
    await pageA.getByRole('button', { name: 'Make ten new codes' }).click();
    const fresh = await pageA.locator('#recovery-codes li').allInnerTexts();
    assert.equal(fresh.length, 10);
    assert.ok(fresh.every((c) => !codes.includes(c)));

    // The other browser signed in with the password only: removing the app asks for the factor.
    await pageB.goto(`${base}/security`);
    await pageB.locator('#totp-row').getByRole('link', { name: 'Remove' }).click();
    await pageB.getByRole('heading', { name: "Confirm it's you" }).waitFor();
    assert.equal(await pageB.getByLabel('Your password').count(), 0, 'the password is not enough any more');
    await shot(pageB, 'cred-confirm-totp');
    await pageB.getByLabel('Code from your authenticator app').fill('12345');
    await pageB.getByRole('button', { name: 'Confirm', exact: true }).click();
    assert.match(await fieldError(pageB, 'Code from your authenticator app'), /six digits/);
    await pageB.getByText('Lost your phone? Use a recovery code').click();
    await pageB.getByLabel('Recovery code').fill(fresh[0].toLowerCase());
    await pageB.getByRole('button', { name: 'Use recovery code' }).click();
    await pageB.getByRole('heading', { name: 'Remove your authenticator app' }).waitFor();
    await shot(pageB, 'cred-totp-remove');
    await pageB.getByRole('button', { name: 'Remove the authenticator app' }).click();
    await pageB.getByRole('heading', { name: 'Authenticator app removed' }).waitFor();
    assert.match(await pageB.getByRole('status').innerText(), /Withdrawals are paused until/);
    await shot(pageB, 'cred-totp-removed');

    await pageA.goto(`${base}/security`);
    assert.equal(path(pageA), '/login', 'removing the app signs out the other browsers');
    await pageB.goto(`${base}/security`);
    assert.equal(await pageB.locator('#totp-row .tag').innerText(), 'off');
  });

  it('produced no console errors (CSP violations included) on any page', () => {
    assert.deepEqual(env.consoleErrors, []);
  });
});
