//! Passkeys over HTTP, answered by webauthn-authenticator-rs's software authenticator (a real
//! WebAuthn client: it builds `clientDataJSON` and signs with its own P-256 keys), not by our code.
//! The browser suite (tests/browser/passkeys.test.mjs) covers the same flows in Chromium.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

use crate::helpers::*;

/// The relying party the test app is configured as: RP id `localhost`, this origin.
const ORIGIN: &str = "http://localhost";

async fn passkey_app() -> TestApp {
    spawn_app_with(Options { public_url: Some(ORIGIN.into()), ..Default::default() }).await
}

/// A software authenticator that performs user verification (passkeys require it).
fn authenticator() -> SoftPasskey {
    SoftPasskey::new(true)
}

async fn json_ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn wait_for_subject_prefix(app: &TestApp, to: &str, prefix: &str) -> custos_store::DevMail {
    for _ in 0..250 {
        if let Some(m) = app.mails_to(to).await.into_iter().find(|m| m.subject.starts_with(prefix)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail starting {prefix:?} to {to}");
}

/// Signs in with the password and steps up with it plus the emailed code; returns the token.
async fn signed_in_and_stepped_up(app: &TestApp, email: &str) -> String {
    let token = app.login(email, "laptop").await;
    let r = post(app, "/api/v1/auth/step-up/email", Some(&token), json!({"password": PASSWORD})).await;
    let challenge = json_ok(r).await["challenge"].as_str().unwrap().to_owned();
    let mail = wait_for_subject_prefix(app, email, "Your confirmation code: ").await;
    let code = mail.subject.trim_start_matches("Your confirmation code: ").to_owned();
    let body = json!({"method": "email_code", "code": code, "challenge": challenge});
    json_ok(post(app, "/api/v1/auth/step-up", Some(&token), body).await).await["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The authenticator's answer to registration options, as `credential.toJSON()` would give it.
fn create(auth: &mut SoftPasskey, start: &Value) -> Value {
    let ccr: CreationChallengeResponse = serde_json::from_value(start["options"].clone()).unwrap();
    let cred = auth.do_registration(Url::parse(ORIGIN).unwrap(), ccr).expect("authenticator registers");
    serde_json::to_value(cred).unwrap()
}

/// The authenticator's answer to request options, from `origin`.
fn get_from(auth: &mut SoftPasskey, options: &Value, origin: &str) -> Value {
    let rcr: RequestChallengeResponse = serde_json::from_value(options.clone()).unwrap();
    let cred = auth.do_authentication(Url::parse(origin).unwrap(), rcr).expect("authenticator signs");
    serde_json::to_value(cred).unwrap()
}

fn get(auth: &mut SoftPasskey, start: &Value) -> Value {
    get_from(auth, &start["options"], ORIGIN)
}

/// Adds a passkey through the API; returns the finish answer (new token, recovery codes…) and
/// the credential the authenticator made.
async fn add_passkey(
    app: &TestApp,
    token: &str,
    auth: &mut SoftPasskey,
    name: Option<&str>,
) -> (Value, Value) {
    let start =
        json_ok(post(app, "/api/v1/security/passkeys/register/start", Some(token), json!({})).await).await;
    let credential = create(auth, &start);
    let body = json!({"ceremony": start["ceremony"], "credential": credential, "name": name});
    (
        json_ok(post(app, "/api/v1/security/passkeys/register/finish", Some(token), body).await).await,
        credential,
    )
}

/// A verified account with one passkey; returns the aal2 token from adding it, and the
/// credential id (base64url).
async fn account_with_passkey(app: &TestApp, email: &str, auth: &mut SoftPasskey) -> (String, String) {
    app.verified_account(email).await;
    let token = signed_in_and_stepped_up(app, email).await;
    let (added, credential) = add_passkey(app, &token, auth, Some("Laptop")).await;
    (added["session_token"].as_str().unwrap().to_owned(), credential["rawId"].as_str().unwrap().to_owned())
}

/// Signs in with the passkey alone. The software authenticator keeps no discoverable
/// credentials, so this client names the credential and attaches the user handle (the account
/// id) that a platform authenticator returns by itself.
async fn sign_in_alone(
    app: &TestApp,
    auth: &mut SoftPasskey,
    email: &str,
    credential_id: &str,
) -> reqwest::Response {
    let account = app.store.account_by_email_key(email).await.unwrap().unwrap();
    let start = json_ok(post(app, "/api/v1/auth/passkey/start", None, json!({})).await).await;
    assert_eq!(start["options"]["publicKey"]["allowCredentials"], json!([]), "nobody is known yet");
    assert!(start["options"].get("mediation").is_none(), "the page asks with the modal dialog");
    let mut options = start["options"].clone();
    options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": credential_id}]);
    let mut credential = get_from(auth, &options, ORIGIN);
    credential["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(account.id.as_uuid().as_bytes()));
    post(
        app,
        "/api/v1/auth/passkey/finish",
        None,
        json!({"ceremony": start["ceremony"], "credential": credential}),
    )
    .await
}

async fn step_up_start(app: &TestApp, token: &str) -> Value {
    json_ok(post(app, "/api/v1/auth/step-up/passkey/start", Some(token), json!({})).await).await
}

async fn step_up_finish(
    app: &TestApp,
    token: &str,
    ceremony: &Value,
    credential: Value,
) -> reqwest::Response {
    let body = json!({"ceremony": ceremony, "credential": credential});
    post(app, "/api/v1/auth/step-up/passkey/finish", Some(token), body).await
}

async fn me(app: &TestApp, token: &str) -> Value {
    json_ok(app.get_authed("/api/v1/me", token).await).await
}

#[tokio::test]
async fn a_passkey_is_added_after_a_step_up_and_then_asked_for_at_sign_in() {
    let app = passkey_app().await;
    let mut auth = authenticator();
    app.verified_account("pk@example.com").await;
    let token = app.login("pk@example.com", "laptop").await;
    let (status, body) =
        problem(post(&app, "/api/v1/security/passkeys/register/start", Some(&token), json!({})).await).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("urn:custos:problem:step-up-required"))
    );

    let token = signed_in_and_stepped_up(&app, "pk@example.com").await;
    let start =
        json_ok(post(&app, "/api/v1/security/passkeys/register/start", Some(&token), json!({})).await).await;
    let pk = &start["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "preferred", "discoverable, for sign-in");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert!(
        pk["challenge"].as_str().is_some_and(|c| c.len() >= 43),
        "base64url, as parseCreationOptionsFromJSON wants"
    );
    let credential = create(&mut auth, &start);
    let body = json!({"ceremony": start["ceremony"], "credential": credential, "name": "  Work   laptop "});
    let added =
        json_ok(post(&app, "/api/v1/security/passkeys/register/finish", Some(&token), body).await).await;
    assert_eq!(added["passkey"]["name"], "Work laptop");
    assert_eq!(
        added["recovery_codes"].as_array().unwrap().len(),
        10,
        "the first factor brings recovery codes"
    );
    let aal2 = added["session_token"].as_str().unwrap();
    assert_eq!(
        app.get_authed("/api/v1/me", &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old token died"
    );
    assert_eq!(me(&app, aal2).await["session"]["aal"], "aal2");
    let list = json_ok(app.get_authed("/api/v1/security/passkeys", aal2).await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["last_used_at"], Value::Null);
    let notice = app.wait_for_mail("pk@example.com", "Security change on your account").await;
    assert!(notice.text_body.contains("A passkey was added to your account."));

    // The ceremony was spent: the same answer again is refused.
    let body = json!({"ceremony": start["ceremony"], "credential": credential});
    let (_, body) =
        problem(post(&app, "/api/v1/security/passkeys/register/finish", Some(aal2), body).await).await;
    assert_eq!(body["reasons"][0]["code"], "ceremony-expired");

    // From now on the password alone is not enough.
    let r = json_ok(app.login_raw("pk@example.com", PASSWORD, Some("phone")).await).await;
    assert_eq!(r["second_factor_required"], true);
    assert_eq!(r["methods"], json!(["passkey", "recovery_code"]));
    let challenge = r["challenge"].as_str().unwrap();
    let start =
        json_ok(post(&app, "/api/v1/auth/login/passkey/start", None, json!({"challenge": challenge})).await)
            .await;
    let allowed = &start["options"]["publicKey"]["allowCredentials"];
    assert_eq!(allowed[0]["id"], credential["rawId"], "the account's passkeys are named");
    let body =
        json!({"challenge": challenge, "ceremony": start["ceremony"], "credential": get(&mut auth, &start)});
    let session = json_ok(post(&app, "/api/v1/auth/login/passkey/finish", None, body.clone()).await).await;
    assert_eq!(session["aal"], "aal2");
    let (_, refused) = problem(post(&app, "/api/v1/auth/login/passkey/finish", None, body).await).await;
    assert_eq!(refused["reasons"][0]["code"], "challenge-expired", "a sign-in challenge is answered once");
    let list = json_ok(app.get_authed("/api/v1/security/passkeys", aal2).await).await;
    assert!(list[0]["last_used_at"].is_string());
}

#[tokio::test]
async fn a_passkey_signs_in_without_email_or_password_and_respects_the_account_status() {
    let app = passkey_app().await;
    let mut auth = authenticator();
    let (_, credential_id) = account_with_passkey(&app, "alone@example.com", &mut auth).await;
    let session = json_ok(sign_in_alone(&app, &mut auth, "alone@example.com", &credential_id).await).await;
    assert_eq!(session["aal"], "aal2");
    let token = session["session_token"].as_str().unwrap();
    assert_eq!(me(&app, token).await["email"], "alone@example.com");
    let activity = json_ok(app.get_authed("/api/v1/activity", token).await).await;
    assert_eq!(activity[0]["outcome"], "succeeded");

    // A user handle naming another account is refused, and recorded against the address.
    let other = app.store.account_by_email_key("alone@example.com").await.unwrap().unwrap();
    let start = json_ok(post(&app, "/api/v1/auth/passkey/start", None, json!({})).await).await;
    let mut options = start["options"].clone();
    options["publicKey"]["allowCredentials"] = json!([{"type": "public-key", "id": credential_id}]);
    let mut credential = get_from(&mut auth, &options, ORIGIN);
    let mut wrong = other.id.as_uuid().into_bytes();
    wrong[15] ^= 1;
    credential["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(wrong));
    let body = json!({"ceremony": start["ceremony"], "credential": credential});
    let (status, body) = problem(post(&app, "/api/v1/auth/passkey/finish", None, body).await).await;
    assert_eq!(
        (status, body["reasons"][0]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("webauthn-refused"))
    );

    app.store.execute_unchecked_for_tests("UPDATE accounts SET status = 'frozen'").await.unwrap();
    let (status, body) =
        problem(sign_in_alone(&app, &mut auth, "alone@example.com", &credential_id).await).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("urn:custos:problem:account-inactive"))
    );
}

#[tokio::test]
async fn refused_answers_change_nothing_and_count_as_wrong_codes() {
    let app = passkey_app().await;
    let mut auth = authenticator();
    let (token, _) = account_with_passkey(&app, "refused@example.com", &mut auth).await;
    app.clock.advance(Duration::from_secs(11 * 60)); // the step-up from adding it has lapsed

    // Counter regression: two answers signed in order; the later one is accepted first, so the
    // earlier one's counter is behind what is stored — the sign of a cloned authenticator.
    let first = step_up_start(&app, &token).await;
    let second = step_up_start(&app, &token).await;
    let earlier = get(&mut auth, &first);
    let later = get(&mut auth, &second);
    let stepped = json_ok(step_up_finish(&app, &token, &second["ceremony"], later).await).await;
    let token = stepped["session_token"].as_str().unwrap().to_owned();
    let (status, body) = problem(step_up_finish(&app, &token, &first["ceremony"], earlier).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reasons"][0]["code"], "webauthn-refused");
    assert!(body["reasons"][0]["detail"].as_str().unwrap().contains("counter went backwards"), "{body}");

    // Wrong challenge: an answer to one ceremony sent to another.
    let a = step_up_start(&app, &token).await;
    let b = step_up_start(&app, &token).await;
    let (_, body) = problem(step_up_finish(&app, &token, &b["ceremony"], get(&mut auth, &a)).await).await;
    assert_eq!(body["reasons"][0]["code"], "webauthn-refused");
    assert!(body["reasons"][0]["detail"].as_str().unwrap().contains("different request"), "{body}");

    // Wrong origin: the authenticator was asked by another site (another port is another origin).
    for _ in 0..3 {
        let c = step_up_start(&app, &token).await;
        let answer = get_from(&mut auth, &c["options"], "http://localhost:4444");
        let (status, body) = problem(step_up_finish(&app, &token, &c["ceremony"], answer).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["reasons"][0]["detail"].as_str().unwrap().contains("another site"), "{body}");
    }

    // Five refusals: the code throttle now holds even a right answer back, and nothing changed.
    let d = step_up_start(&app, &token).await;
    let r = step_up_finish(&app, &token, &d["ceremony"], get(&mut auth, &d)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        me(&app, &token).await["session"]["aal"],
        "aal2",
        "the refused answers left the session as it was"
    );
    let list = json_ok(app.get_authed("/api/v1/security/passkeys", &token).await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn removing_a_passkey_needs_a_step_up_ends_other_sessions_and_pauses_withdrawals() {
    let app = passkey_app().await;
    let mut auth = authenticator();
    let (token, credential_id) = account_with_passkey(&app, "remove@example.com", &mut auth).await;
    let other = json_ok(sign_in_alone(&app, &mut auth, "remove@example.com", &credential_id).await).await;
    let other = other["session_token"].as_str().unwrap().to_owned();
    let id = json_ok(app.get_authed("/api/v1/security/passkeys", &token).await).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.clock.advance(Duration::from_secs(11 * 60));

    let delete = |t: String| {
        let url = app.url(&format!("/api/v1/security/passkeys/{id}"));
        let http = app.http.clone();
        async move { http.delete(url).bearer_auth(t).send().await.unwrap() }
    };
    let (status, body) = problem(delete(token.clone()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["methods"], json!(["passkey", "recovery_code"]), "a passkey is offered for the step-up");
    let start = step_up_start(&app, &token).await;
    let stepped =
        json_ok(step_up_finish(&app, &token, &start["ceremony"], get(&mut auth, &start)).await).await;
    let token = stepped["session_token"].as_str().unwrap().to_owned();

    let removed = json_ok(delete(token.clone()).await).await;
    let token = removed["session_token"].as_str().unwrap();
    assert_eq!(
        app.get_authed("/api/v1/me", &other).await.status(),
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    let me = me(&app, token).await;
    assert!(me["withdrawal_lock_until"].is_string(), "withdrawals pause for 24 hours");
    assert_eq!(me["session"]["aal"], "aal1", "no second factor is left to claim");
    assert_eq!(me["recovery_codes_left"], 0, "the recovery codes went with the last factor");
    // The removal notice follows the earlier "passkey added" one; wait for it specifically.
    let mut told = false;
    for _ in 0..250 {
        let mails = app.mails_to("remove@example.com").await;
        if mails.iter().any(|m| m.text_body.contains("A passkey was removed from your account.")) {
            told = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(told, "the account's email is told a passkey was removed");
    let r = json_ok(app.login_raw("remove@example.com", PASSWORD, Some("laptop")).await).await;
    assert!(r["session_token"].is_string(), "the password alone signs in again");

    let account = app.store.account_by_email_key("remove@example.com").await.unwrap().unwrap();
    let events: Vec<String> = app
        .store
        .audit_records(&custos_core::audit::Chain::Account(account.id).key(), 0, 200)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::to_value(&r.event).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    for e in ["passkey_added", "stepped_up", "passkey_removed"] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
}

#[tokio::test]
async fn passkeys_are_renamed_by_their_owner_only_and_names_are_checked() {
    let app = passkey_app().await;
    let mut auth = authenticator();
    let (token, _) = account_with_passkey(&app, "rename@example.com", &mut auth).await;
    let id = json_ok(app.get_authed("/api/v1/security/passkeys", &token).await).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = |t: &str, id: &str, name: &str| {
        app.http
            .patch(app.url(&format!("/api/v1/security/passkeys/{id}")))
            .bearer_auth(t)
            .json(&json!({"name": name}))
            .send()
    };
    let renamed = json_ok(patch(&token, &id, "Phone").await.unwrap()).await;
    assert_eq!(renamed["name"], "Phone");
    let (status, body) = problem(patch(&token, &id, " \t ").await.unwrap()).await;
    assert_eq!(
        (status, body["reasons"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("passkey-name-invalid"))
    );
    let (status, _) = problem(patch(&token, &"x".repeat(36), "Phone").await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    app.verified_account("stranger@example.com").await;
    let stranger = app.login("stranger@example.com", "laptop").await;
    assert_eq!(problem(patch(&stranger, &id, "Mine now").await.unwrap()).await.0, StatusCode::NOT_FOUND);
    let list = json_ok(app.get_authed("/api/v1/security/passkeys", &stranger).await).await;
    assert_eq!(list, json!([]), "nobody sees another account's passkeys");
    assert_eq!(json_ok(app.get_authed("/api/v1/security/passkeys", &token).await).await[0]["name"], "Phone");
}

#[tokio::test]
async fn without_a_host_name_passkeys_say_why_they_are_unavailable() {
    let app = spawn_app().await; // public URL http://127.0.0.1:…: WebAuthn needs a domain
    app.verified_account("ip@example.com").await;
    let token = app.login("ip@example.com", "laptop").await;
    let (status, body) = problem(post(&app, "/api/v1/auth/passkey/start", None, json!({})).await).await;
    assert_eq!(
        (status, body["reasons"][0]["code"].as_str()),
        (StatusCode::CONFLICT, Some("passkeys-unavailable"))
    );
    assert_eq!(json_ok(app.get_authed("/api/v1/security/passkeys", &token).await).await, json!([]));
}
