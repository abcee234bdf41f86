// Funds in a real browser: an account with an authenticator app gets a deposit through the
// integration API, requests a withdrawal on the funds page, opens the emailed confirmation link
// (the page shows where the money goes and changes nothing until the button), confirms, sees it
// held and highlighted with a cancel button, and cancels it: the funds are back.
//
// Run from the repository root after `cargo build -p custos`:
//   CUSTOS_BIN=target/debug/custos node --test tests/browser/
// Screenshots go to CUSTOS_SHOTS (default <tmp>/custos-shots), named funds-*.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { enrolAuthenticator, path, registerAccount, shot, signInAccount, start, waitForMail } from './harness.mjs';

const stamp = Date.now();
const EMAIL = `funds.${stamp}@example.com`;
const PASSWORD = 'copper lantern orchard whistle';
const SERVICE_TOKEN = 'browser-test-service-token-0123456789';
const ADDRESS = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';

describe('funds and withdrawals in a real browser', { timeout: 120_000 }, () => {
  let env;
  let base;
  let page;
  let mail;

  before(async () => {
    env = await start('custos-server-funds.log', {
      CUSTOS_SERVICE_TOKENS: `browser-test:${SERVICE_TOKEN}`,
      CUSTOS_MAIL_PER_RECIPIENT_PER_HOUR: '50',
    });
    base = env.base;
    page = await (await env.newContext()).newPage();
    mail = await (await env.newContext()).newPage();
  });

  after(async () => {
    await env?.stop();
  });

  it('sets up an account with an authenticator app and a deposit', async () => {
    await registerAccount(page, mail, base, EMAIL, PASSWORD);
    const uid = (await page.locator('.highlight, #uid, [data-uid]').first().innerText()).match(/\d{9}/)?.[0];
    assert.ok(uid, 'the UID is shown once the address is confirmed');

    await signInAccount(page, base, EMAIL, PASSWORD);
    await enrolAuthenticator(page, mail, base, EMAIL, PASSWORD);

    const r = await fetch(`${base}/api/v1/integration/ledger-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SERVICE_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ event_id: `dep-${stamp}`, type: 'deposit', uid: Number(uid), asset: 'BTC', amount: '1.25' }] }),
    });
    assert.equal(r.status, 200, await r.text());
  });

  it('requests a withdrawal, shows every refusal reason, and asks for email confirmation', async () => {
    await page.goto(`${base}/security`);
    await page.getByRole('link', { name: 'Open funds and withdrawals' }).click();
    assert.equal(path(page), '/security/funds');
    assert.equal((await page.locator('#balances tr[data-asset="BTC"] td').nth(1).innerText()).trim(), '1.25');

    await page.getByLabel('Destination address').fill(ADDRESS);
    await page.getByLabel('Amount').fill('5');
    await page.getByRole('button', { name: 'Request withdrawal' }).click();
    const refused = page.locator('#errors li');
    assert.deepEqual(await refused.evaluateAll((l) => l.map((e) => e.dataset.code)), ['insufficient-balance']);
    assert.equal(await page.getByLabel('Destination address').inputValue(), ADDRESS, 'the form keeps what was typed');
    await shot(page, 'funds-refused');

    await page.getByLabel('Amount').fill('0.5');
    await page.getByRole('button', { name: 'Request withdrawal' }).click();
    assert.match(await page.locator('#flash').innerText(), /Check your email/);
    const row = page.locator('#withdrawals tr').nth(1);
    assert.equal(await row.getAttribute('data-state'), 'awaiting_confirmation');
    assert.equal(await row.getAttribute('class'), 'pending');
    assert.equal((await page.locator('#balances tr[data-asset="BTC"] td').nth(2).innerText()).trim(), '0.5002');
    await shot(page, 'funds-requested');
  });

  it('shows the withdrawal behind the emailed link, confirms it, and cancels it while held', async () => {
    const letter = await waitForMail(mail, base, EMAIL, 'Confirm your withdrawal');
    assert.match(await letter.innerText(), new RegExp(ADDRESS));
    const link = await letter.locator('a[href*="/confirm-withdrawal/"]').first().getAttribute('href');
    const other = await (await env.newContext()).newPage(); // the link works without a session
    await other.goto(link);
    assert.equal((await other.locator('#address').innerText()).trim(), ADDRESS);
    await shot(other, 'funds-confirm-page');
    await other.goto(link); // opening it again changed nothing
    await other.getByRole('button', { name: 'Confirm this withdrawal' }).click();
    await other.getByRole('heading', { name: 'Withdrawal confirmed' }).waitFor();
    assert.match(await other.locator('main').innerText(), /First withdrawal to this address/);

    await page.goto(`${base}/security/funds`);
    const row = page.locator('#withdrawals tr').nth(1);
    assert.equal(await row.getAttribute('data-state'), 'held');
    assert.match(await row.innerText(), /held until/);
    await shot(page, 'funds-held');
    await row.getByRole('button', { name: 'Cancel' }).click();
    assert.match(await page.locator('#flash').innerText(), /Cancelled/);
    assert.equal(await page.locator('#withdrawals tr').nth(1).getAttribute('data-state'), 'cancelled');
    assert.equal((await page.locator('#balances tr[data-asset="BTC"] td').nth(1).innerText()).trim(), '1.25');
    assert.deepEqual(env.consoleErrors, []);
  });
});
