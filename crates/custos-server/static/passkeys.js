// Passkeys: the one thing on custos pages that needs JavaScript (WebAuthn has no HTML form).
// Served by custos itself under `script-src 'self'`; no inline script, nothing from elsewhere.
//
// Each ceremony is two requests: the JSON API hands out options (`{ceremony, options}`), the
// browser asks the authenticator, and the answer (`credential.toJSON()`) goes to a page endpoint
// that checks the form token and sets the session cookie. Elements marked `data-passkey-ui` stay
// hidden unless this browser can do all of that; `data-passkey-unsupported` shows otherwise.
(() => {
  'use strict';

  const supported =
    typeof window.PublicKeyCredential === 'function' &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function' &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function' &&
    typeof PublicKeyCredential.prototype.toJSON === 'function';

  const status = document.getElementById('passkey-status');

  function say(text, tone) {
    if (!status) return;
    status.textContent = '';
    if (!text) return;
    const p = document.createElement('p');
    p.className = `notice ${tone ?? 'ok'}`;
    if (tone === 'error') p.setAttribute('role', 'alert');
    p.textContent = text;
    status.append(p);
  }

  /** A refusal from custos (problem+json), in the words it gave. */
  class Refused extends Error {
    constructor(problem) {
      const reason = Array.isArray(problem.reasons) && problem.reasons[0];
      super((reason && reason.detail) || problem.detail || 'That did not work. Try again.');
      this.problem = problem;
    }
  }

  async function post(url, body) {
    const r = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
    if (!r.ok) {
      let problem = {};
      try {
        problem = await r.json();
      } catch {
        // not problem+json: fall back to a generic sentence
      }
      throw new Refused(problem);
    }
    return r;
  }

  function explain(err) {
    if (err instanceof Refused) return err.message;
    if (err && err.name === 'NotAllowedError') {
      return 'The passkey request was cancelled or timed out. Try again when you are ready.';
    }
    if (err && err.name === 'InvalidStateError') {
      return 'This passkey is registered already.';
    }
    return 'Something went wrong talking to your passkey. Try again.';
  }

  /** Runs `work` for a button: one at a time, with what happened said next to it. */
  function on(button, busyText, work) {
    if (!button) return;
    button.addEventListener('click', async () => {
      if (button.disabled) return;
      button.disabled = true;
      say(busyText, 'warn');
      try {
        await work();
      } catch (err) {
        if (err instanceof Refused && err.problem.type === 'urn:custos:problem:step-up-required') {
          say('First confirm it\u2019s you. Taking you there\u2026', 'warn');
          window.location.assign('/security/confirm?next=/security');
          return;
        }
        say(explain(err), 'error');
      } finally {
        button.disabled = false;
      }
    });
  }

  async function getCredential(start) {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(start.options.publicKey);
    const credential = await navigator.credentials.get({ publicKey });
    return credential.toJSON();
  }

  for (const el of document.querySelectorAll('[data-passkey-ui]')) el.hidden = !supported;
  for (const el of document.querySelectorAll('[data-passkey-unsupported]')) el.hidden = supported;
  if (!supported) return;

  // Security center: add a passkey.
  const add = document.getElementById('passkey-add');
  on(add, 'Follow your browser\u2019s prompt to create the passkey\u2026', async () => {
    const start = await (await post('/api/v1/security/passkeys/register/start')).json();
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(start.options.publicKey);
    const credential = await navigator.credentials.create({ publicKey });
    const name = document.getElementById('passkey-new-name')?.value ?? '';
    const added = await (
      await post('/security/passkeys/register', {
        csrf: add.dataset.csrf,
        ceremony: start.ceremony,
        credential: credential.toJSON(),
        name: name.trim() || null,
      })
    ).json();
    if (Array.isArray(added.recovery_codes) && added.recovery_codes.length > 0) {
      say(`Passkey \u201c${added.name}\u201d added.`, 'ok');
      const list = document.getElementById('passkey-code-list');
      for (const code of added.recovery_codes) {
        const li = document.createElement('li');
        li.textContent = code;
        list.append(li);
      }
      document.getElementById('passkey-codes').hidden = false;
      add.closest('[data-passkey-ui]').hidden = true;
      return;
    }
    window.location.assign('/security?done=passkey-added');
  });

  // Step-up with a passkey (security center and the "Confirm it's you" page).
  const confirm = document.getElementById('passkey-confirm');
  on(confirm, 'Follow your browser\u2019s prompt to use your passkey\u2026', async () => {
    const start = await (await post('/api/v1/auth/step-up/passkey/start')).json();
    const credential = await getCredential(start);
    await post('/security/passkeys/step-up', { csrf: confirm.dataset.csrf, ceremony: start.ceremony, credential });
    window.location.assign(confirm.dataset.next || '/security');
  });

  // Login page: sign in with a passkey alone. Success answers with a redirect (and the session
  // cookie); fetch follows it, and the page goes where it led.
  const signIn = document.getElementById('passkey-sign-in');
  on(signIn, 'Follow your browser\u2019s prompt to use your passkey\u2026', async () => {
    const start = await (await post('/api/v1/auth/passkey/start')).json();
    const credential = await getCredential(start);
    const r = await post('/login/passkey', { csrf: signIn.dataset.csrf, ceremony: start.ceremony, credential });
    window.location.assign(r.redirected ? r.url : '/security');
  });

  // Second-factor page: answer the sign-in challenge with a passkey.
  const second = document.getElementById('passkey-second-factor');
  on(second, 'Follow your browser\u2019s prompt to use your passkey\u2026', async () => {
    const challenge = second.dataset.challenge;
    const start = await (await post('/api/v1/auth/login/passkey/start', { challenge })).json();
    const credential = await getCredential(start);
    const r = await post('/login/second-factor/passkey', {
      csrf: second.dataset.csrf,
      challenge,
      ceremony: start.ceremony,
      credential,
    });
    window.location.assign(r.redirected ? r.url : '/security');
  });
})();
