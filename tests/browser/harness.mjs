// Shared by the browser tests: start the real custos binary on a free port with a fresh data
// directory (dev mode, cheap Argon2, fast outbox), launch Debian's Chromium through playwright-core,
// take desktop and phone screenshots, and read the dev mailbox.
//
// Not a test file itself (node --test only runs *.test.mjs here).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { URI } from 'otpauth';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
// A CUSTOS_BIN given on the command line is relative to where the command runs; the default to here.
export const BIN = process.env.CUSTOS_BIN
  ? resolve(process.env.CUSTOS_BIN)
  : resolve(here, '../../target/debug/custos');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SHOTS = process.env.CUSTOS_SHOTS ?? join(tmpdir(), 'custos-shots');
export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

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
function serverEnv(extra) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CUSTOS_')));
  return {
    ...env,
    CUSTOS_MODE: 'dev',
    CUSTOS_ARGON2_MEMORY_KIB: '1024',
    CUSTOS_ARGON2_ITERATIONS: '1',
    CUSTOS_OUTBOX_POLL: '100ms',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
    ...extra,
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

/**
 * Starts custos and Chromium. `stop()` ends both, writes the server's log to SHOTS/`logName`, and
 * removes the data directory. Console errors of every context made with `newContext` (CSP
 * violations among them) collect in `consoleErrors`. `env` adds CUSTOS_* settings for this server.
 * `dataDir` is the server's data directory, for CLI commands run beside it (`custos staff create`).
 * `host` is the name the browser uses for it; any other than 127.0.0.1 (e.g. `localhost`, which
 * WebAuthn needs) also becomes the server's public URL, so its links use it.
 */
export async function start(logName, env = {}, { host = '127.0.0.1' } = {}) {
  assert.ok(existsSync(BIN), `no custos binary at ${BIN}: build it (cargo build -p custos) or set CUSTOS_BIN`);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  mkdirSync(SHOTS, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'custos-browser-data-'));
  const port = await freePort();
  const base = `http://${host}:${port}`;
  const publicUrl = host === '127.0.0.1' ? {} : { CUSTOS_PUBLIC_URL: base };
  // cwd is the fresh data directory, so no stray ./custos.toml is picked up.
  const server = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir], {
    cwd: dataDir,
    env: serverEnv({ ...publicUrl, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serverLog = '';
  const keep = (chunk) => {
    serverLog = (serverLog + chunk).slice(-20_000);
  };
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  // Never leave the server behind, whatever happens to the test process.
  const killOnExit = () => server.kill('SIGKILL');
  process.on('exit', killOnExit);
  // Node may resolve localhost to ::1 first; the server listens on 127.0.0.1.
  await waitForHealth(`http://127.0.0.1:${port}`, server, () => serverLog);

  const browser = await chromium.launch({
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
  const consoleErrors = [];

  async function newContext() {
    const ctx = await browser.newContext({ viewport: DESKTOP });
    ctx.setDefaultTimeout(10_000);
    ctx.on('console', (m) => {
      // A 4xx page (a refused code) is logged as a failed load; that is not a page defect.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        consoleErrors.push(`${m.location().url}: ${m.text()}`);
      }
    });
    return ctx;
  }

  async function stop() {
    await browser.close().catch(() => {});
    if (server.exitCode === null && server.signalCode === null) {
      await new Promise((done) => {
        const hard = setTimeout(() => server.kill('SIGKILL'), 3_000);
        server.once('exit', () => {
          clearTimeout(hard);
          done();
        });
        server.kill('SIGTERM');
      });
    }
    process.off('exit', killOnExit);
    if (serverLog) writeFileSync(join(SHOTS, logName), serverLog);
    rmSync(dataDir, { recursive: true, force: true });
  }

  /** Runs the custos CLI against the running server's data directory; answers its stdout. */
  const cli = (args, input) =>
    execFileSync(BIN, [...args, '--data-dir', dataDir], { cwd: dataDir, env: serverEnv({}), input, encoding: 'utf8' });
  return { base, dataDir, newContext, consoleErrors, stop, cli };
}

/** Full-page screenshots at desktop and phone size, for people to look at (not asserted on). */
export async function shot(page, name) {
  for (const [suffix, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: join(SHOTS, `${name}-${suffix}.png`), fullPage: true });
  }
  await page.setViewportSize(DESKTOP);
}

export const path = (page) => new URL(page.url()).pathname;

/**
 * The newest mail to `email` whose subject starts with `subject`, once there are more than `seen`
 * of them (the outbox worker delivers asynchronously). Uses `page` to read the dev mailbox.
 */
export async function waitForMail(page, base, email, subject, seen = 0) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    await page.goto(`${base}/dev/mailbox`);
    const mails = page
      .locator('article.mail')
      .filter({ hasText: `To ${email}` })
      .filter({ has: page.locator('h2', { hasText: subject }) });
    if ((await mails.count()) > seen) return mails.first();
    await page.waitForTimeout(100);
  }
  throw new Error(`no new mail "${subject}…" to ${email} reached the dev mailbox`);
}

/** How many mails to `email` with a subject starting `subject` the dev mailbox holds now. */
export async function countMail(page, base, email, subject) {
  await page.goto(`${base}/dev/mailbox`);
  return page
    .locator('article.mail')
    .filter({ hasText: `To ${email}` })
    .filter({ has: page.locator('h2', { hasText: subject }) })
    .count();
}

/**
 * Registers `email` through the form and confirms the address from the dev mailbox (read with
 * `mail`, a page of its own). Leaves `page` on the confirmed page, which shows the UID.
 */
export async function registerAccount(page, mail, base, email, password) {
  await page.goto(`${base}/register`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
  const link = await (await waitForMail(mail, base, email, 'Confirm your email address'))
    .locator('a[href*="/verify-email/"]').first().getAttribute('href');
  await page.goto(link);
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  await page.waitForLoadState('load');
}

/** Signs in with email and password on the login form; lands on the security center. */
export async function signInAccount(page, base, email, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
}

/**
 * From the security center of a signed-in `page`: confirms with the password and an emailed code,
 * scans the QR code's `otpauth://` link, and turns the authenticator app on with its first code.
 * Returns that link (the TOTP secret). Leaves `page` on the recovery codes.
 */
export async function enrolAuthenticator(page, mail, base, email, password) {
  await page.locator('#totp-row').getByRole('link', { name: 'Add an authenticator app' }).click();
  const seen = await countMail(mail, base, email, 'Your confirmation code');
  await page.getByLabel('Your password').fill(password);
  await page.getByRole('button', { name: 'Email me a code' }).click();
  const subject = await (await waitForMail(mail, base, email, 'Your confirmation code', seen)).locator('h2').innerText();
  await page.getByLabel('Code from the email').fill(subject.match(/(\d{6})/)[1]);
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('button', { name: 'Show the QR code' }).click();
  const uri = await page.getByRole('link', { name: 'Open this in your authenticator app' }).getAttribute('href');
  await page.getByLabel('Six-digit code').fill(URI.parse(uri).generate());
  await page.getByRole('button', { name: 'Turn on the authenticator app' }).click();
  await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
  return uri;
}
