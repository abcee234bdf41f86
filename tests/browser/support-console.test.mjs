// The support console in a real Chromium, as far as a browser can drive the story: a
// holder with funds requests a withdrawal (it waits for the emailed confirmation) and reports a
// problem; an agent created with `custos staff create` and set up with an authenticator app finds
// the case first in the queue, opens it, cancels the withdrawal from the timeline with a reason,
// adds an internal note and writes to the holder; the holder sees the reply with the agent's name
// and verified staff ID (and the link to check it), never the note. Then the freeze story: an
// account frozen from the old email's disable link opens a case with the four facts; the agent
// finds it in the queue and answers; whoever froze it reads the reply through the case link on the
// receipt, with every session gone.
//
// The API test (crates/custos-server/tests/api/support_console.rs) runs the full scenario with the
// wallet service: a withdrawal the wallet is processing, a freeze whose interception fails, and the
// agent's interception. Here the withdrawal is one still awaiting confirmation, so the agent
// cancels it: the browser harness runs no wallet service.
//
// Run from the repository root after `cargo build -p custos`:
//   CUSTOS_BIN=target/debug/custos node --test tests/browser/support-console.test.mjs

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { enrolAuthenticator, path, shot, signInAccount, start, waitForMail } from './harness.mjs';

const stamp = Date.now();
const HOLDER = `holder.${stamp}@example.com`;
const PASSWORD = 'copper lantern orchard whistle';
const STAFF_EMAIL = 'agent@custos.example';
const STAFF_PASSWORD = 'plum vortex harbor quilt';
const SERVICE_TOKEN = 'browser-test-service-token-0123456789';
const ADDRESS = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';
const NOTE = 'Caller could not name the last deposit';
const REPLY = 'We cancelled the withdrawal of 0.5 BTC you did not ask for. Please reply here.';

describe('the support console in a real browser', { timeout: 150_000 }, () => {
  let env;
  let base;
  let holder;
  let staff;
  let mail;
  let setupLink;
  let staffId;
  let caseId;


  before(async () => {
    env = await start('custos-server-support-console.log', {
      CUSTOS_SERVICE_TOKENS: `browser-test:${SERVICE_TOKEN}`,
      CUSTOS_MAIL_PER_RECIPIENT_PER_HOUR: '50',
    });
    base = env.base;
    const created = env.cli(['staff', 'create', '--email', STAFF_EMAIL, '--name', 'Dana Reyes', '--role', 'agent']);
    setupLink = new URL(created.match(/https?:\/\/\S+\/support\/setup\/\S+/)[0]).pathname;
    staffId = created.match(/CS-\d{6}/)[0];
    holder = await (await env.newContext()).newPage();
    staff = await (await env.newContext()).newPage();
    mail = await (await env.newContext()).newPage();
  });

  after(async () => {
    await env?.stop();
    assert.deepEqual(env?.consoleErrors ?? [], [], 'no console errors (CSP violations among them)');
  });

  it('a holder with funds requests a withdrawal and reports a problem', async () => {
    const user = env.cli(['user', 'create', '--email', HOLDER], `${PASSWORD}\n`);
    const uid = user.match(/UID (\d+)/)[1];
    await signInAccount(holder, base, HOLDER, PASSWORD);
    await enrolAuthenticator(holder, mail, base, HOLDER, PASSWORD);
    const r = await fetch(`${base}/api/v1/integration/ledger-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ event_id: `dep-${stamp}`, type: 'deposit', uid: Number(uid), asset: 'BTC', amount: '1.25' }] }),
    });
    assert.equal(r.status, 200, await r.text());

    await holder.goto(`${base}/security/funds`);
    await holder.getByLabel('Destination address').fill(ADDRESS);
    await holder.getByLabel('Amount').fill('0.5');
    await holder.getByRole('button', { name: 'Request withdrawal' }).click();
    assert.equal(await holder.locator('#withdrawals tr').nth(1).getAttribute('data-state'), 'awaiting_confirmation');

    await holder.goto(`${base}/security/cases`);
    await holder.getByLabel(/When did you notice it/).fill(new Date().toISOString().slice(0, 16));
    await holder.getByLabel('What did you see?').fill('A withdrawal I did not ask for. <b>Help</b>');
    await holder.getByRole('button', { name: 'Send to support' }).click();
    await holder.waitForURL(/\/security\/cases\/[0-9a-f-]+\?done=reported$/);
    caseId = path(holder).split('/').pop();
    assert.match(await holder.locator('#thread').innerText(), /<b>Help<\/b>/);
  });

  it('an agent set up with an authenticator app finds the case first in the queue', async () => {
    await staff.goto(`${base}${setupLink}`);
    await staff.getByLabel('New password').fill(STAFF_PASSWORD);
    await staff.getByRole('button', { name: /Continue/ }).click();
    const secret = (await staff.locator('#totp-secret').innerText()).replace(/\s/g, '');
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30 });
    await staff.getByLabel('Six-digit code').fill(totp.generate());
    await staff.getByRole('button', { name: 'Confirm and finish' }).click();
    await staff.waitForURL(/\/support\/login/);
    await staff.getByLabel('Work email address').fill(STAFF_EMAIL);
    await staff.getByLabel('Password').fill(STAFF_PASSWORD);
    // The step after the one used at setup (one step of drift is accepted).
    await staff.getByLabel('Authenticator code').fill(totp.generate({ timestamp: Date.now() + 30_000 }));
    await staff.getByRole('button', { name: /Sign in/ }).click();
    await staff.waitForURL(/\/support$/);

    const first = staff.locator('#queue tbody tr').first();
    assert.equal(await first.getAttribute('data-case'), caseId);
    assert.match(await first.innerText(), /due in/);
    await shot(staff, 'support-queue');
    await first.getByRole('link').click();
    await staff.waitForURL(new RegExp(`/support/cases/${caseId}$`));
    assert.equal(await staff.locator('#case-id').innerText(), caseId);
    assert.match(await staff.locator('#thread').innerText(), /<b>Help<\/b>/, 'markup is shown as text');
    assert.ok(await staff.locator('#freeze').isVisible(), 'a freeze button while the account is active');
    assert.match(await staff.locator('#timeline-scope').innerText(), /last 30 days/);
  });

  it('the agent cancels the withdrawal with a reason, notes the case and writes to the holder', async () => {
    const form = staff.locator('form[data-withdrawal]');
    assert.equal(await form.count(), 1, 'one open withdrawal in the timeline');
    await form.getByRole('button', { name: 'Cancel withdrawal' }).click();
    assert.equal(path(staff), `/support/cases/${caseId}`, 'an empty reason is refused in the browser first');
    await form.getByLabel('Reason').fill('The holder reported it as not theirs');
    await form.getByRole('button', { name: 'Cancel withdrawal' }).click();
    await staff.locator('#notice').waitFor();
    assert.match(await staff.locator('#notice').innerText(), /cancelled; the funds are back/);
    assert.equal(await staff.locator('form[data-withdrawal]').count(), 0, 'nothing left to stop');
    assert.match(await staff.locator('#timeline').innerText(), /cancelled \(by support\)/);

    await staff.getByRole('textbox', { name: 'Note' }).fill(NOTE);
    await staff.getByRole('button', { name: 'Add note' }).click();
    await staff.locator('#notes').waitFor();
    assert.match(await staff.locator('#notes').innerText(), new RegExp(NOTE));

    await staff.getByLabel('Message to the holder').fill(REPLY);
    await staff.getByRole('button', { name: 'Send to the holder' }).click();
    await staff.locator('#notice').waitFor();
    assert.match(await staff.locator('#thread').innerText(), /We cancelled the withdrawal/);

    await staff.getByLabel('New state').selectOption('waiting_on_user');
    await staff.locator('#state-reason').fill('Waiting for the holder to confirm');
    await staff.getByRole('button', { name: 'Change state' }).click();
    await staff.locator('#notice').waitFor();
    assert.equal(await staff.locator('#case-state').innerText(), 'waiting_on_user');
    await shot(staff, 'support-case');
  });

  it('the holder sees the reply with the verified staff ID, never the note, and the funds back', async () => {
    await holder.goto(`${base}/security/cases/${caseId}`);
    const thread = await holder.locator('#thread').innerText();
    assert.match(thread, /We cancelled the withdrawal/);
    assert.ok(thread.includes('Dana Reyes') && thread.includes(staffId), thread);
    assert.match(thread, /verified staff ID/);
    assert.equal(await holder.locator(`a[href="/verify?channel=${staffId}"]`).count(), 1);
    assert.ok(!(await holder.locator('main').innerText()).includes(NOTE), 'internal notes stay internal');
    await shot(holder, 'support-reply-seen-by-holder');

    await holder.locator(`a[href="/verify?channel=${staffId}"]`).click();
    await holder.locator('#verdict').waitFor();
    assert.equal(await holder.locator('#verdict').getAttribute('data-status'), 'official');

    await holder.goto(`${base}/security/funds`);
    assert.equal((await holder.locator('#balances tr[data-asset="BTC"] td').nth(1).innerText()).trim(), '1.25');
    assert.equal(await holder.locator('#withdrawals tr').nth(1).getAttribute('data-state'), 'cancelled');
  });

  it('a freeze from the old email link opens a case with its facts; the agent answers; the case link shows it', async () => {
    const email = `frozen.${stamp}@example.com`;
    const uid = env.cli(['user', 'create', '--email', email], `${PASSWORD}\n`).match(/UID (\d+)/)[1];
    const owner = await (await env.newContext()).newPage();
    const attacker = await (await env.newContext()).newPage();
    for (const page of [owner, attacker]) {
      await page.goto(`${base}/login`);
      await page.getByLabel('Email address').fill(email);
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/security$/);
    }
    const notice = await waitForMail(mail, base, email, 'New sign-in to your account');
    const disable = await notice.locator('a[href*="/disable/"]').first().getAttribute('href');
    await owner.goto(disable);
    await owner.getByRole('button', { name: 'Disable my account now' }).click();
    await owner.getByRole('heading', { name: 'Your account is frozen' }).waitFor();
    const caseLink = await owner.locator('#case-link').getAttribute('href');
    await attacker.goto(`${base}/security`);
    assert.equal(path(attacker), '/login', 'every session ended');

    // The agent finds the new case in the queue, with the four facts filled in.
    await staff.goto(`${base}/support`);
    const row = staff.locator('#queue tbody tr', { hasText: uid });
    assert.equal(await row.count(), 1, 'the freeze opened one case for this account');
    await row.getByRole('link').first().click();
    await staff.waitForURL(/\/support\/cases\/[0-9a-f-]+$/);
    assert.equal((await staff.locator('#fact-uid').innerText()).trim(), uid);
    assert.match(await staff.locator('#fact-email').innerText(), /@example\.com/);
    assert.match(await staff.locator('#fact-measures').innerText(), /Sessions ended|frozen/i);
    assert.ok((await staff.locator('#fact-detected').innerText()).trim().length > 0, 'a detection time');
    assert.equal(await staff.locator('#freeze').count(), 0, 'no freeze button on a frozen account');
    await staff.getByLabel('Message to the holder').fill('Your account is frozen and safe. We will call you back.');
    await staff.getByRole('button', { name: 'Send to the holder' }).click();
    await staff.locator('#notice').waitFor();
    await shot(staff, 'support-case-from-freeze');

    // Whoever froze it reads the reply through the case link, with no session.
    await owner.goto(caseLink);
    await owner.getByRole('heading', { name: 'Your case' }).waitFor();
    const thread = await owner.locator('#thread').innerText();
    assert.match(thread, /Your account is frozen and safe/);
    assert.ok(thread.includes(staffId), thread);
  });
});
