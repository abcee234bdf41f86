// The kill switch in a real Chromium: the "Not you? Disable your account" link from an old
// new-sign-in email (GET shows a confirmation, only the button freezes), the attacker's browser
// signed out on its next request, the whole takeover replayed (the attacker's API key, pending
// withdrawal, new password and new email address, then the victim's old email), and the
// "Freeze account" button of the security center.
//
// Run like the other browser tests (see security-center.test.mjs).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { enrolAuthenticator, path, registerAccount, shot, signInAccount, start, waitForMail } from './harness.mjs';

const PASSWORD = 'copper lantern orchard whistle';
const SERVICE_TOKEN = 'browser-test-service-token-0123456789';
const ADDRESS = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';

describe('kill switch in a real browser', { timeout: 180_000 }, () => {
  let env;
  let base;

  before(async () => {
    env = await start('custos-server-freeze.log', {
      CUSTOS_SERVICE_TOKENS: `browser-test:${SERVICE_TOKEN}`,
      CUSTOS_MAIL_PER_RECIPIENT_PER_HOUR: '50',
    });
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

  /** The JSON API as the attacker's own script uses it: a device of its own, no browser. */
  async function api(method, path, { token, body } = {}) {
    const headers = { 'x-custos-device': 'attacker-laptop', 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  }

  /** Password, then a code of the phished authenticator: an aal2 session, stepped up now. Each
   * code works once, so every sign-in uses the next 30-second period's code (the server accepts
   * one period of skew), waiting until the clock allows it. Returns [token, period used]. */
  async function attackerSignIn(email, password, totp, lastPeriod) {
    while (Math.floor(Date.now() / 30_000) < lastPeriod) await new Promise((ok) => setTimeout(ok, 250));
    const period = lastPeriod + 1;
    const first = await api('POST', '/api/v1/auth/login', { body: { email, password } });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    const code = totp.generate({ timestamp: period * 30_000 });
    const second = await api('POST', '/api/v1/auth/login/second-factor', {
      body: { challenge: first.json.challenge, method: 'totp', code },
    });
    assert.equal(second.status, 200, JSON.stringify(second.json));
    return [second.json.session_token, period];
  }

  it('replays a takeover: the old address still freezes it, and the receipt lists what the attacker held', async () => {
    const email = `taken.${Date.now()}@example.com`;
    const attackerEmail = `attacker.${Date.now()}@evil.example`;
    const newPassword = 'attacker owns this account now 42';
    const victim = await (await env.newContext()).newPage();
    const inbox = await (await env.newContext()).newPage();
    await register(victim, email);
    const uid = (await victim.locator('.highlight, #uid, [data-uid]').first().innerText()).match(/\d{9}/)?.[0];
    assert.ok(uid, 'the UID is shown once the address is confirmed');

    // The victim protects the account with an authenticator app and holds 1.25 BTC.
    await signIn(victim, email);
    const totp = OTPAuth.URI.parse(await enrolAuthenticator(victim, inbox, base, email, PASSWORD));
    const enrolled = Math.floor(Date.now() / 30_000); // the first code's period, or later
    const deposit = await fetch(`${base}/api/v1/integration/ledger-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ event_id: `dep-${uid}`, type: 'deposit', uid: Number(uid), asset: 'BTC', amount: '1.25' }] }),
    });
    assert.equal(deposit.status, 200, await deposit.text());

    // The attacker has the password and the authenticator's secret (phished) and signs in from a
    // new device: the victim's address gets the new-sign-in notice with its disable link.
    let [attacker, period] = await attackerSignIn(email, PASSWORD, totp, enrolled);
    const notice = await waitForMail(inbox, base, email, 'New sign-in to your account');
    const disable = await notice.locator('a[href*="/disable/"]').first().getAttribute('href');

    // An API key, a withdrawal, the account moved to the attacker's address, a new password.
    const key = await api('POST', '/api/v1/api-keys', {
      token: attacker,
      body: { label: 'trading bot', kind: 'hmac-sha256', scopes: ['read', 'withdraw'], ip_allowlist: ['203.0.113.7'] },
    });
    assert.equal(key.status, 201, JSON.stringify(key.json));
    const withdrawal = await api('POST', '/api/v1/withdrawals', {
      token: attacker,
      body: { asset: 'BTC', network: 'BTC', address: ADDRESS, amount: '0.5' },
    });
    assert.ok([200, 201, 202].includes(withdrawal.status), JSON.stringify(withdrawal.json));
    const move = await api('POST', '/api/v1/security/email', { token: attacker, body: { email: attackerEmail } });
    assert.equal(move.status, 202, JSON.stringify(move.json));
    const confirmation = await waitForMail(inbox, base, attackerEmail, 'Confirm your new email address');
    const confirmLink = await confirmation.locator('a[href*="/confirm-email-change/"]').first().getAttribute('href');
    const token = new URL(confirmLink).pathname.split('/').pop();
    assert.equal((await api('POST', '/api/v1/security/email/confirm', { body: { token } })).status, 204);
    [attacker, period] = await attackerSignIn(attackerEmail, PASSWORD, totp, period);
    const changed = await api('POST', '/api/v1/security/password', {
      token: attacker,
      body: { current_password: PASSWORD, new_password: newPassword },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.json));
    attacker = changed.json.session_token;
    assert.equal((await api('GET', '/api/v1/me', { token: attacker })).status, 200);

    // The victim is signed out and locked out; the old email still holds the notice. Its link
    // shows the confirmation page, and the button freezes.
    await victim.goto(`${base}/security`);
    assert.equal(path(victim), '/login');
    await victim.goto(disable);
    await victim.getByRole('heading', { name: 'Disable your account?' }).waitFor();
    await victim.getByRole('button', { name: 'Disable my account now' }).click();
    await victim.getByRole('heading', { name: 'Your account is frozen' }).waitFor();
    await shot(victim, 'freeze-takeover-receipt');
    assert.equal(await victim.locator('#uid').innerText(), uid);
    assert.equal(await victim.locator('#sessions-revoked').innerText(), '1');
    assert.equal(await victim.locator('#keys-revoked').innerText(), '1');
    assert.match(await victim.locator('#receipt').innerText(), new RegExp(key.json.id));
    const cancelled = await victim.locator('#withdrawals-cancelled li').allInnerTexts();
    assert.deepEqual(cancelled.map((t) => t.replace(/\s+/g, ' ')), [`0.5 BTC to ${ADDRESS}`]);

    // Everything the attacker held is dead.
    assert.equal((await api('GET', '/api/v1/me', { token: attacker })).status, 401);
    const again = await api('POST', '/api/v1/auth/login', { body: { email: attackerEmail, password: newPassword } });
    assert.equal(again.status, 403, JSON.stringify(again.json));
    assert.equal(again.json.type, 'urn:custos:problem:account-inactive');
    assert.deepEqual(env.consoleErrors, []);
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
