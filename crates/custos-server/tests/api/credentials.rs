//! Second factors, step-up, passwords and the anti-phishing code, driven over HTTP. TOTP codes come
//! from pyotp, a real authenticator implementation, not from our own code.

use std::process::Command;
use std::time::Duration;

use custos_core::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// The code pyotp computes for `uri` at the app's (manual) clock.
pub(crate) fn pyotp_code(app: &TestApp, uri: &str) -> String {
    let secs = app.clock.now().as_micros() / 1_000_000;
    let out = Command::new("python3")
        .args([
            "-c",
            "import pyotp, sys; print(pyotp.parse_uri(sys.argv[1]).at(int(sys.argv[2])))",
            uri,
            &secs.to_string(),
        ])
        .output()
        .expect("python3 with pyotp is needed (pip install pyotp==2.12.1)");
    assert!(out.status.success(), "pyotp: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub(crate) async fn json_ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Password + emailed code: the step-up an account without a second factor uses.
pub(crate) async fn step_up_by_email(app: &TestApp, token: &str, email: &str) -> String {
    let r = app
        .http
        .post(app.url("/api/v1/auth/step-up/email"))
        .bearer_auth(token)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let challenge = json_ok(r).await["challenge"].as_str().unwrap().to_owned();
    let mail = wait_for_subject_prefix(app, email, "Your confirmation code: ").await;
    let code = mail.subject.trim_start_matches("Your confirmation code: ").to_owned();
    let r = app
        .http
        .post(app.url("/api/v1/auth/step-up"))
        .bearer_auth(token)
        .json(&json!({"method": "email_code", "code": code, "challenge": challenge}))
        .send()
        .await
        .unwrap();
    json_ok(r).await["session_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn wait_for_subject_prefix(app: &TestApp, to: &str, prefix: &str) -> custos_store::DevMail {
    for _ in 0..250 {
        if let Some(m) = app.mails_to(to).await.into_iter().find(|m| m.subject.starts_with(prefix)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail starting {prefix:?} to {to}");
}

/// Enrols TOTP through the API; returns (otpauth URI, aal2 token, recovery codes).
pub(crate) async fn enrol_totp(app: &TestApp, email: &str) -> (String, String, Vec<String>) {
    let token = app.login(email, "laptop").await;
    let token = step_up_by_email(app, &token, email).await;
    let e = json_ok(app.post_authed("/api/v1/security/totp", &token).await).await;
    let uri = e["otpauth_uri"].as_str().unwrap().to_owned();
    assert!(e["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let code = pyotp_code(app, &uri);
    let r = app
        .http
        .post(app.url("/api/v1/security/totp/confirm"))
        .bearer_auth(&token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    let c = json_ok(r).await;
    let codes: Vec<String> =
        c["recovery_codes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10);
    let aal2 = c["session_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get_authed("/api/v1/me", &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the old token died"
    );
    (uri, aal2, codes)
}

pub(crate) async fn second_factor_login(
    app: &TestApp,
    email: &str,
    method: &str,
    code: &str,
) -> reqwest::Response {
    let r = json_ok(app.login_raw(email, PASSWORD, Some("laptop")).await).await;
    assert_eq!(r["second_factor_required"], true);
    let challenge = r["challenge"].as_str().unwrap();
    app.post_json(
        "/api/v1/auth/login/second-factor",
        json!({"challenge": challenge, "method": method, "code": code}),
    )
    .await
}

#[tokio::test]
async fn pyotp_enrols_and_signs_in_and_the_same_code_is_never_accepted_twice() {
    let app = spawn_app().await;
    app.verified_account("totp.user@example.com").await;
    let (uri, aal2, _) = enrol_totp(&app, "totp.user@example.com").await;
    let me = json_ok(app.get_authed("/api/v1/me", &aal2).await).await;
    assert_eq!((me["totp_enabled"].clone(), me["session"]["aal"].clone()), (json!(true), json!("aal2")));

    // Same 30-second step as the confirming code: refused as a replay.
    let code = pyotp_code(&app, &uri);
    let (status, body) =
        problem(second_factor_login(&app, "totp.user@example.com", "totp", &code).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reasons"][0]["code"], "code-replayed");

    app.clock.advance(Duration::from_secs(30));
    let code = pyotp_code(&app, &uri);
    let r = json_ok(second_factor_login(&app, "totp.user@example.com", "totp", &code).await).await;
    assert_eq!(r["aal"], "aal2");
    let (_, body) = problem(second_factor_login(&app, "totp.user@example.com", "totp", &code).await).await;
    assert_eq!(body["reasons"][0]["code"], "code-replayed", "the same code twice is refused");
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let app = spawn_app().await;
    app.verified_account("rc@example.com").await;
    let (_, _, codes) = enrol_totp(&app, "rc@example.com").await;
    assert_eq!(
        json_ok(second_factor_login(&app, "rc@example.com", "recovery_code", &codes[3].to_lowercase()).await)
            .await["aal"],
        "aal2"
    );
    let (_, body) =
        problem(second_factor_login(&app, "rc@example.com", "recovery_code", &codes[3]).await).await;
    assert_eq!(body["reasons"][0]["code"], "code-wrong");
}

#[tokio::test]
async fn wrong_second_factor_codes_are_throttled_and_recorded() {
    let app = spawn_app().await;
    app.verified_account("guess@example.com").await;
    enrol_totp(&app, "guess@example.com").await;
    for _ in 0..5 {
        let r = second_factor_login(&app, "guess@example.com", "totp", "000000").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = second_factor_login(&app, "guess@example.com", "totp", "000000").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn credential_changes_need_a_recent_step_up_and_say_how() {
    let app = spawn_app().await;
    app.verified_account("stepup@example.com").await;
    let token = app.login("stepup@example.com", "laptop").await;
    let (status, body) = problem(app.post_authed("/api/v1/security/totp", &token).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], "urn:custos:problem:step-up-required");
    assert_eq!(body["methods"], json!(["password_and_email_code"]));
    let token = step_up_by_email(&app, &token, "stepup@example.com").await;
    assert_eq!(app.post_authed("/api/v1/security/totp", &token).await.status(), StatusCode::OK);
    // Ten minutes later the step-up has lapsed.
    app.clock.advance(Duration::from_secs(10 * 60));
    let r = app
        .http
        .put(app.url("/api/v1/security/anti-phishing-code"))
        .bearer_auth(&token)
        .json(&json!({"code": "blue otter"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_password_change_ends_other_sessions_locks_withdrawals_and_tells_the_account_email() {
    let app = spawn_app().await;
    app.verified_account("change@example.com").await;
    let other = app.login("change@example.com", "phone").await;
    let token = app.login("change@example.com", "laptop").await;
    let token = step_up_by_email(&app, &token, "change@example.com").await;
    let r = app
        .http
        .post(app.url("/api/v1/security/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": PASSWORD, "new_password": "tulip quarry lantern fjord"}))
        .send()
        .await
        .unwrap();
    let body = json_ok(r).await;
    let new_token = body["session_token"].as_str().unwrap();
    assert!(body["withdrawal_lock_until"].as_str().is_some());
    assert_eq!(app.get_authed("/api/v1/me", &other).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_authed("/api/v1/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    let me = json_ok(app.get_authed("/api/v1/me", new_token).await).await;
    assert!(me["withdrawal_lock_until"].as_str().is_some());
    let notice = app.wait_for_mail("change@example.com", "Security change on your account").await;
    assert!(notice.text_body.contains("Your password was changed."));
    assert!(notice.text_body.contains("withdrawals are paused until"));
    // The old password no longer works; the new one does.
    assert_eq!(
        app.login_raw("change@example.com", PASSWORD, Some("x")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_raw("change@example.com", "tulip quarry lantern fjord", Some("x")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_policy_refuses_weak_leaked_and_recycled_passwords_with_every_reason() {
    let app = spawn_app().await;
    let (_, body) = problem(
        app.post_json("/api/v1/auth/register", json!({"email": "p@example.com", "password": "Password123!"}))
            .await,
    )
    .await;
    let codes: Vec<&str> =
        body["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["password-too-short", "password-breached", "password-too-weak"]);
    let (_, body) = problem(
        app.post_json(
            "/api/v1/auth/register",
            json!({"email": "p@example.com", "password": "qwertyuiopasdfghjkl"}),
        )
        .await,
    )
    .await;
    assert_eq!(body["reasons"][0]["code"], "password-too-weak");

    app.verified_account("recycle@example.com").await;
    let token = app.login("recycle@example.com", "laptop").await;
    let token = step_up_by_email(&app, &token, "recycle@example.com").await;
    for (candidate, reason) in
        [(PASSWORD, "password-reused"), ("correct horse battery staple7", "password-similar")]
    {
        let r = app
            .http
            .post(app.url("/api/v1/security/password"))
            .bearer_auth(&token)
            .json(&json!({"current_password": PASSWORD, "new_password": candidate}))
            .send()
            .await
            .unwrap();
        let (status, body) = problem(r).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            body["reasons"].as_array().unwrap().iter().any(|r| r["code"] == reason),
            "{candidate}: {body}"
        );
    }
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_only_the_newest_link_works() {
    let app = spawn_app().await;
    app.verified_account("reset@example.com").await;
    let session = app.login("reset@example.com", "laptop").await;
    let unknown = app.post_json("/api/v1/auth/password-reset", json!({"email": "nobody@example.com"})).await;
    let known = app.post_json("/api/v1/auth/password-reset", json!({"email": "reset@example.com"})).await;
    assert_eq!((unknown.status(), known.status()), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    let first = link_token(
        &app.wait_for_mail("reset@example.com", "Reset your password").await.text_body,
        "/reset-password/",
    );
    app.post_json("/api/v1/auth/password-reset", json!({"email": "reset@example.com"})).await;
    let mut second = first.clone();
    for _ in 0..250 {
        let mails: Vec<_> = app
            .mails_to("reset@example.com")
            .await
            .into_iter()
            .filter(|m| m.subject == "Reset your password")
            .collect();
        if mails.len() == 2 {
            second = mails
                .iter()
                .map(|m| link_token(&m.text_body, "/reset-password/"))
                .find(|t| *t != first)
                .unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_ne!(first, second);
    let body = json!({"token": first, "new_password": "tulip quarry lantern fjord"});
    assert_eq!(
        problem(app.post_json("/api/v1/auth/password-reset/confirm", body).await).await.0,
        StatusCode::BAD_REQUEST
    );
    let body = json!({"token": second, "new_password": "tulip quarry lantern fjord"});
    assert_eq!(
        app.post_json("/api/v1/auth/password-reset/confirm", body.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(app.get_authed("/api/v1/me", &session).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem(app.post_json("/api/v1/auth/password-reset/confirm", body).await).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(app.mails_to("nobody@example.com").await.is_empty());
    let t = app.login_raw("reset@example.com", "tulip quarry lantern fjord", Some("laptop")).await;
    let me = json_ok(app.get_authed("/api/v1/me", json_ok(t).await["session_token"].as_str().unwrap()).await)
        .await;
    assert!(me["withdrawal_lock_until"].as_str().is_some(), "a reset pauses withdrawals for 48 h");
}

#[tokio::test]
async fn the_anti_phishing_code_appears_in_every_later_email_and_is_masked_when_read_back() {
    let app = spawn_app().await;
    app.verified_account("apc@example.com").await;
    let token = app.login("apc@example.com", "laptop").await;
    let token = step_up_by_email(&app, &token, "apc@example.com").await;
    let r = app
        .http
        .put(app.url("/api/v1/security/anti-phishing-code"))
        .bearer_auth(&token)
        .json(&json!({"code": "blue otter 42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let me = json_ok(app.get_authed("/api/v1/me", &token).await).await;
    assert_eq!(me["anti_phishing_code"], "bl•••••••••42");
    app.login("apc@example.com", "phone").await;
    // Two new-device notices: the laptop's (before the code was set) and the phone's (after).
    let mut notices = Vec::new();
    for _ in 0..250 {
        notices = app
            .mails_to("apc@example.com")
            .await
            .into_iter()
            .filter(|m| m.subject == "New sign-in to your account")
            .collect();
        if notices.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let with_code =
        notices.iter().filter(|m| m.text_body.contains("Your anti-phishing code: blue otter 42")).count();
    assert_eq!(with_code, 1, "the notice sent after the code was set carries it");
    let change = app.wait_for_mail("apc@example.com", "Security change on your account").await;
    assert!(change.html_body.contains("blue otter 42"));
    let r = app
        .http
        .put(app.url("/api/v1/security/anti-phishing-code"))
        .bearer_auth(&token)
        .json(&json!({"code": "<b>"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.1["reasons"][0]["code"], "anti-phishing-code-invalid");
}

#[tokio::test]
async fn the_posture_lists_what_to_do_next() {
    let app = spawn_app().await;
    app.verified_account("posture@example.com").await;
    let token = app.login("posture@example.com", "laptop").await;
    let p = json_ok(app.get_authed("/api/v1/security/posture", &token).await).await;
    // Verified email, a policy-checked password and no other sessions: 35 of 110.
    assert_eq!(p["score"], 31);
    let todo: Vec<&str> = p["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["done"] == false)
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert_eq!(todo, ["second-factor", "recovery-codes", "anti-phishing-code", "withdrawal-allowlist"]);
}

#[tokio::test]
async fn an_email_change_is_confirmed_by_the_new_address_and_told_to_the_old_one() {
    let app = spawn_app().await;
    app.verified_account("old.address@example.com").await;
    let token = app.login("old.address@example.com", "laptop").await;
    let token = step_up_by_email(&app, &token, "old.address@example.com").await;
    let r = app
        .http
        .post(app.url("/api/v1/security/email"))
        .bearer_auth(&token)
        .json(&json!({"email": "new.address@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let confirm = app.wait_for_mail("new.address@example.com", "Confirm your new email address").await;
    let heads_up = app.wait_for_mail("old.address@example.com", "Security change on your account").await;
    assert!(heads_up.text_body.contains("asked to change its email address to n***@example.com"));
    // Nothing has changed yet.
    assert_eq!(app.get_authed("/api/v1/me", &token).await.status(), StatusCode::OK);

    let link = link_token(&confirm.text_body, "/confirm-email-change/");
    assert_eq!(
        app.post_json("/api/v1/security/email/confirm", json!({"token": link})).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get_authed("/api/v1/me", &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "every session ended"
    );
    for _ in 0..250 {
        let old = app.mails_to("old.address@example.com").await;
        if old.iter().any(|m| m.text_body.contains("The email address of your account was changed.")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let old = app.mails_to("old.address@example.com").await;
    assert!(
        old.iter().any(|m| m.text_body.contains("The email address of your account was changed.")),
        "the previous address is told"
    );
    assert_eq!(
        app.login_raw("old.address@example.com", PASSWORD, Some("laptop")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let t = json_ok(app.login_raw("new.address@example.com", PASSWORD, Some("laptop")).await).await;
    let me = json_ok(app.get_authed("/api/v1/me", t["session_token"].as_str().unwrap()).await).await;
    assert_eq!(me["email"], "new.address@example.com");
    assert!(me["withdrawal_lock_until"].as_str().is_some());
    // The link is spent.
    assert_eq!(
        problem(app.post_json("/api/v1/security/email/confirm", json!({"token": link})).await).await.0,
        StatusCode::BAD_REQUEST
    );
}
