// The withdrawal allowlist in a real browser: from the security center to the allowlist page,
// turned on at once (no confirmation asked), an address refused for its format and then added,
// confirmed from the emailed link (the page changes nothing until the button), shown cooling down
// with the time it becomes usable; turning it off shows when that takes effect and how to cancel,
// and cancelling it keeps it on; removing the address needs nothing more than the click. The
// checklist counts the allowlist once it is on.
//
// Run from the repository root after `cargo build -p custos`:
//   CUSTOS_BIN=target/debug/custos node --test tests/browser/
// Screenshots go to CUSTOS_SHOTS (default <tmp>/custos-shots), named allowlist-*.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { enrolAuthenticator, path, registerAccount, shot, signInAccount, start, waitForMail } from './harness.mjs';

const stamp = Date.now();
const EMAIL = `allowlist.${stamp}@example.com`;
const PASSWORD = 'copper lantern orchard whistle';
const ADDRESS = 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';

describe('the withdrawal allowlist in a real browser', { timeout: 120_000 }, () => {
  let env;
  let base;
  let page;
  let mail;

  before(async () => {
    env = await start('custos-server-allowlist.log', { CUSTOS_MAIL_PER_RECIPIENT_PER_HOUR: '50' });
    base = env.base;
    page = await (await env.newContext()).newPage();
    mail = await (await env.newContext()).newPage();
  });

  after(async () => {
    await env?.stop();
  });

  it('sets up an account with an authenticator app', async () => {
    await registerAccount(page, mail, base, EMAIL, PASSWORD);

    await signInAccount(page, base, EMAIL, PASSWORD);
    await enrolAuthenticator(page, mail, base, EMAIL, PASSWORD);
  });

  it('turns the allowlist on at once and counts it on the checklist', async () => {
    await page.goto(`${base}/security`);
    const open = page.locator('#checklist-open li').filter({ hasText: 'Withdrawal address allowlist on' });
    assert.equal(await open.getByRole('link').getAttribute('href'), '/security/allowlist');
    await page.getByRole('link', { name: 'Manage the allowlist' }).click();
    assert.equal(path(page), '/security/allowlist');
    assert.equal(await page.locator('#allowlist-mode').getAttribute('data-mode'), 'off');
    await shot(page, 'allowlist-off');
    await page.getByRole('button', { name: 'Turn on' }).click();
    assert.match(await page.locator('#flash').innerText(), /The allowlist is on/);
    assert.equal(await page.locator('#allowlist-mode').getAttribute('data-mode'), 'on');

    await page.goto(`${base}/security`);
    assert.equal(await page.locator('#checklist-done li').filter({ hasText: 'Withdrawal address allowlist on' }).count(), 1);
  });

  it('refuses a mistyped address in words, then adds the right one and emails a link', async () => {
    await page.goto(`${base}/security/allowlist`);
    await page.getByLabel('Label').fill('cold wallet');
    await page.getByLabel('Asset and network').selectOption('BTC/BTC');
    await page.getByLabel('Address', { exact: true }).fill(ADDRESS.slice(0, -1) + '5');
    await page.getByRole('button', { name: 'Add the address' }).click();
    const refused = page.locator('#errors li');
    assert.deepEqual(await refused.evaluateAll((l) => l.map((e) => e.dataset.code)), ['address-invalid']);
    assert.match(await refused.first().innerText(), /checksum/);
    assert.equal(await page.getByLabel('Label').inputValue(), 'cold wallet', 'the form keeps what was typed');
    await shot(page, 'allowlist-refused');

    await page.getByLabel('Address', { exact: true }).fill(ADDRESS);
    await page.getByRole('button', { name: 'Add the address' }).click();
    assert.match(await page.locator('#flash').innerText(), /Check your email/);
    const entry = page.locator('#allowlist-entries li[data-entry]');
    assert.equal(await entry.getAttribute('data-state'), 'awaiting_confirmation');
    assert.match(await entry.innerText(), /waiting for your email confirmation/);
  });

  it('confirms from the emailed link and shows the address cooling down', async () => {
    const letter = await waitForMail(mail, base, EMAIL, 'Confirm a new withdrawal address');
    assert.match(await letter.innerText(), new RegExp(ADDRESS));
    const link = await letter.locator('a[href*="/confirm-allowlist-entry/"]').first().getAttribute('href');
    const other = await (await env.newContext()).newPage(); // the link works without a session
    await other.goto(link);
    assert.equal((await other.locator('#address').innerText()).trim(), ADDRESS);
    await shot(other, 'allowlist-confirm-page');
    await other.goto(link); // opening it again changed nothing
    await other.getByRole('button', { name: 'Confirm this address' }).click();
    await other.getByRole('heading', { name: 'Address confirmed' }).waitFor();
    assert.match(await other.locator('main').innerText(), /withdrawals can use it from/);

    await page.goto(`${base}/security/allowlist`);
    const entry = page.locator('#allowlist-entries li[data-entry]');
    assert.equal(await entry.getAttribute('data-state'), 'cooling');
    assert.match(await entry.innerText(), /usable from/);
    await shot(page, 'allowlist-cooling');
  });

  it('turns off only after a delay, and turning it on again cancels that', async () => {
    await page.getByRole('button', { name: 'Turn off' }).click();
    assert.equal(await page.locator('#allowlist-mode').getAttribute('data-mode'), 'turning_off');
    assert.match(await page.locator('#allowlist-turning-off').innerText(), /turns off at .*UTC/);
    await shot(page, 'allowlist-turning-off');
    await page.getByRole('button', { name: 'Keep it on (cancel the turn-off)' }).click();
    assert.equal(await page.locator('#allowlist-mode').getAttribute('data-mode'), 'on');
    await waitForMail(mail, base, EMAIL, 'Your withdrawal allowlist changed');
  });

  it('removes the address with one click', async () => {
    await page.goto(`${base}/security/allowlist`);
    await page.locator('#allowlist-entries li[data-entry]').getByRole('button', { name: 'Remove' }).click();
    assert.match(await page.locator('#flash').innerText(), /removed/);
    assert.equal(await page.locator('#allowlist-none').count(), 1);
    assert.deepEqual(env.consoleErrors, []);
  });
});
