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
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
// A CUSTOS_BIN given on the command line is relative to where the command runs; the default to here.
const BIN = process.env.CUSTOS_BIN
  ? resolve(process.env.CUSTOS_BIN)
  : resolve(here, '../../target/debug/custos');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.CUSTOS_SHOTS ?? join(tmpdir(), 'custos-shots');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

const EMAIL = `ada.${Date.now()}@example.com`;
const PASSWORD = 'copper lantern orchard whistle';

/** A port nobody listens on right now (the server needs it up front: it is part of its links). */
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Child environment: ours, minus every CUSTOS_* setting that could point it elsewhere. */
function serverEnv() {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('CUSTOS_')),
  );
  return {
    ...env,
    CUSTOS_MODE: 'dev',
    CUSTOS_ARGON2_MEMORY_KIB: '1024',
    CUSTOS_ARGON2_ITERATIONS: '1',
    CUSTOS_OUTBOX_POLL: '100ms',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };
}

async function waitForHealth(base, child, log) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`custos exited with ${child.exitCode} before it was healthy:\n${log()}`);
    }
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`custos was not healthy within 15 s:\n${log()}`);
}

function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const hard = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(hard);
      done();
    });
    child.kill('SIGTERM');
  });
}

describe('security center in a real browser', { timeout: 60_000 }, () => {
  let server;
  let serverLog = '';
  let dataDir;
  let browser;
  let base;
  /** Console errors (CSP violations among them) seen on any page, checked at the end. */
  const consoleErrors = [];
  let a; // browser context A: the account holder
  let b; // browser context B: a second browser that A will sign out
  let pageA;
  let pageB;
  let uid;

  // Never leave the server behind, whatever happens to the test process.
  const killOnExit = () => server?.kill('SIGKILL');
  process.on('exit', killOnExit);

  before(async () => {
    assert.ok(existsSync(BIN), `no custos binary at ${BIN}: build it (cargo build -p custos) or set CUSTOS_BIN`);
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
    mkdirSync(SHOTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'custos-browser-data-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // cwd is the fresh data directory, so no stray ./custos.toml is picked up.
    server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
      cwd: dataDir,
      env: serverEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk) => {
      serverLog = (serverLog + chunk).slice(-20_000);
    };
    server.stdout.on('data', keep);
    server.stderr.on('data', keep);
    await waitForHealth(base, server, () => serverLog);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      // playwright-core gives every launch a fresh, temporary --user-data-dir of its own.
    });
    a = await browser.newContext({ viewport: DESKTOP });
    b = await browser.newContext({ viewport: DESKTOP });
    for (const ctx of [a, b]) {
      ctx.setDefaultTimeout(10_000);
      ctx.on('console', (m) => {
        // A 4xx page (a refused sign-in) is logged as a failed load; that is not a page defect.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
          consoleErrors.push(`${m.location().url}: ${m.text()}`);
        }
      });
    }
    pageA = await a.newPage();
    pageB = await b.newPage();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopServer(server);
    process.off('exit', killOnExit);
    // The server's own account of the run, for when a step fails.
    if (serverLog) writeFileSync(join(SHOTS, 'custos-server.log'), serverLog);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function shot(page, name) {
    for (const [suffix, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(viewport);
      await page.screenshot({ path: join(SHOTS, `${name}-${suffix}.png`), fullPage: true });
    }
    await page.setViewportSize(DESKTOP);
  }

  const path = (page) => new URL(page.url()).pathname;

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
    // The outbox worker delivers asynchronously: look until the mail is there.
    let link;
    const deadline = Date.now() + 10_000;
    while (!link && Date.now() < deadline) {
      await pageA.goto(`${base}/dev/mailbox`);
      const mail = pageA.locator('article', { hasText: 'Confirm your email address' }).filter({ hasText: EMAIL });
      if ((await mail.count()) > 0) {
        link = await mail.first().locator('a[href*="/verify-email/"]').first().getAttribute('href');
      } else {
        await pageA.waitForTimeout(100);
      }
    }
    assert.ok(link, 'the verification mail never reached the dev mailbox');
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

    await pageA.goto(`${base}/dev/mailbox`);
    assert.equal(await pageA.locator('article', { hasText: 'New sign-in to your account' }).count(), 2);
    await shot(pageA, 'mailbox-all');
  });

  it('produced no console errors (CSP violations included) on any page', () => {
    assert.deepEqual(consoleErrors, []);
  });
});
