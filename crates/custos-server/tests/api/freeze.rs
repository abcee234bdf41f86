//! The kill switch over HTTP: the disable link in security emails, the security-center freeze,
//! the panic code, the operator's freeze and unfreeze, and the race between a freeze and
//! everything trying to get value out at the same moment.

use custos_core::Clock;
use custos_core::audit::AuditEvent;
use reqwest::StatusCode;
use serde_json::json;

use crate::credentials::{json_ok, pyotp_code, wait_for_subject_prefix};
use crate::freeze_race::Key;
use crate::helpers::*;
use crate::money::{btc, funded, withdraw};

/// Signs in on `device` with the password and a TOTP code; the session is aal2 and stepped up now.
async fn login_with_totp(app: &TestApp, (email, password): (&str, &str), device: &str, uri: &str) -> String {
    let r = json_ok(app.login_raw(email, password, Some(device)).await).await;
    let challenge = r["challenge"].as_str().unwrap();
    let code = pyotp_code(app, uri);
    let body = json!({"challenge": challenge, "method": "totp", "code": code});
    json_ok(app.post_json("/api/v1/auth/login/second-factor", body).await).await["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

const ATTACKER: &str = "attacker@evil.example";

pub(crate) async fn freeze_json(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/disable/{token}")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
}

async fn account_events(app: &TestApp) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    for chain in app.store.audit_chains().await.unwrap() {
        if chain.starts_with("account:") {
            out.extend(
                app.store.audit_records(&chain, 0, 10_000).await.unwrap().into_iter().map(|r| r.event),
            );
        }
    }
    out
}

#[tokio::test]
async fn the_disable_link_in_the_old_new_device_email_kills_the_attackers_session_key_and_withdrawal() {
    let app = spawn_app().await;
    let victim = "victim@example.com";
    let (uri, _victim_session) = funded(&app, victim).await;

    // The attacker has the password and a phished code, and signs in from a new device.
    app.clock.advance(std::time::Duration::from_secs(30));
    let attacker = login_with_totp(&app, (victim, PASSWORD), "attacker-phone", &uri).await;
    let notice = wait_for_subject_prefix(&app, victim, "New sign-in to your account").await;
    let disable = link_token(&notice.text_body, "/disable/");
    assert!(notice.text_body.contains("Not you? Disable your account"), "{}", notice.text_body);

    // They make an API key, start a withdrawal and change the password.
    let key = Key::create(&app, &attacker, &["read", "withdraw"]).await;
    let w = json_ok(withdraw(&app, &attacker, btc("0.5"), None).await).await;
    assert_eq!(w["state"], "awaiting_confirmation");
    let r = app
        .http
        .post(app.url("/api/v1/security/password"))
        .bearer_auth(&attacker)
        .json(&json!({"current_password": PASSWORD, "new_password": "attacker owns this account now 42"}))
        .send()
        .await
        .unwrap();
    let attacker = json_ok(r).await["session_token"].as_str().unwrap().to_owned();
    // Then they move the account to their own address, stepping up with the phished
    // authenticator again; the victim's old address is told, and keeps its earlier notice.
    app.clock.advance(std::time::Duration::from_secs(30));
    let body = json!({"method": "totp", "code": pyotp_code(&app, &uri)});
    let r = app
        .http
        .post(app.url("/api/v1/auth/step-up"))
        .bearer_auth(&attacker)
        .json(&body)
        .send()
        .await
        .unwrap();
    let attacker = json_ok(r).await["session_token"].as_str().unwrap().to_owned();
    app.change_email(&attacker, ATTACKER).await;
    // The confirmation ended every session; the attacker signs in again at the new address.
    assert_eq!(app.get_authed("/api/v1/me", &attacker).await.status(), StatusCode::UNAUTHORIZED);
    app.clock.advance(std::time::Duration::from_secs(30));
    let attacker =
        login_with_totp(&app, (ATTACKER, "attacker owns this account now 42"), "attacker-phone", &uri).await;
    assert_eq!(
        key.request(&app, "GET", "/api/v1/api-key/whoami", None).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(app.mails_to(ATTACKER).await.iter().all(|m| !m.text_body.contains(&disable)));

    // Opening the old email's link shows a page and changes nothing (mail scanners prefetch).
    let page = app.http.get(app.url(&format!("/disable/{disable}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("Disable my account now"));
    assert_eq!(app.get_authed("/api/v1/me", &attacker).await.status(), StatusCode::OK);

    // Pressing it freezes: the receipt lists what the attacker had.
    let answer = json_ok(freeze_json(&app, &disable).await).await;
    assert_eq!(answer["already_frozen"], false);
    let receipt = &answer["receipt"];
    assert_eq!(receipt["channel"], "email_link");
    // The password change ended the victim's own sessions; the attacker's is the one left.
    assert_eq!(receipt["sessions_revoked"].as_array().unwrap().len(), 1);
    assert_eq!(receipt["api_keys_revoked"][0]["id"], key.id.as_str());
    assert_eq!(receipt["withdrawals_cancelled"][0]["id"], w["id"]);

    // Everything the attacker held is dead, on the next request.
    assert_eq!(app.get_authed("/api/v1/me", &attacker).await.status(), StatusCode::UNAUTHORIZED);
    let gateway = crate::money::authorize(&app, json!({"action": "trade", "session_token": attacker})).await;
    assert_eq!(gateway["decision"], "deny", "the exchange's gateway is told too");
    let r = key.request(&app, "GET", "/api/v1/api-key/whoami", None).send().await.unwrap();
    assert!(matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{}", r.status());
    let stored = app.store.withdrawal(w["id"].as_str().unwrap().parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((stored.state.as_str(), stored.cancelled_by.as_deref()), ("cancelled", Some("freeze")));
    let (status, p) =
        problem(app.login_raw(ATTACKER, "attacker owns this account now 42", Some("attacker-phone")).await)
            .await;
    assert_eq!(
        (status, p["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("urn:custos:problem:account-inactive"))
    );
    let account = app.store.account_by_email_key(ATTACKER).await.unwrap().unwrap();
    let balances = app.store.balances(account.id).await.unwrap();
    let btc_balance = balances.iter().find(|(a, _)| a == "BTC").unwrap().1;
    assert_eq!(btc_balance.locked, custos_core::money::Amount::ZERO, "the reservation came back");

    // The same link again: the first receipt, nothing new.
    let again = json_ok(freeze_json(&app, &disable).await).await;
    assert_eq!((again["already_frozen"].as_bool(), &again["receipt"]), (Some(true), receipt));
    let frozen_mail = wait_for_subject_prefix(&app, ATTACKER, "Your account is frozen").await;
    assert!(frozen_mail.text_body.contains("Cancelled: withdrawal of 0.5 BTC"), "{}", frozen_mail.text_body);
    assert!(!frozen_mail.text_body.contains("/disable/"), "the freeze notice carries no disable link");
    // Every security email the victim got before the freeze carried its own disable link.
    for m in app.mails_to(victim).await {
        // The case link's email (docs/incidents.md) is not a security email either.
        let exempt = ["Confirm your email address", "Your account is frozen"].contains(&m.subject.as_str())
            || m.subject.starts_with("Your case about account");
        assert_eq!(m.text_body.contains("/disable/"), !exempt, "{}", m.subject);
    }
    let events = account_events(&app).await;
    assert_eq!(events.iter().filter(|e| matches!(e, AuditEvent::AccountFrozen { .. })).count(), 1);
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert!(report.broken.is_empty(), "{report:?}");
}

#[tokio::test]
async fn forged_malformed_and_expired_disable_links_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    app.verified_account("holder@example.com").await;
    let session = app.login("holder@example.com", "new-phone").await;
    let notice = wait_for_subject_prefix(&app, "holder@example.com", "New sign-in to your account").await;
    let good = link_token(&notice.text_body, "/disable/");

    let forged = custos_core::crypto::BearerToken::generate();
    for bad in [forged.expose(), "short", "../../etc/passwd"] {
        let (status, p) = problem(freeze_json(&app, bad).await).await;
        assert!(status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND, "{bad}: {status}");
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(p["type"], "urn:custos:problem:link-invalid");
        }
        let page = app.http.get(app.url(&format!("/disable/{bad}"))).send().await.unwrap();
        assert!(page.status().is_client_error(), "{bad}");
    }
    // A form post without the page's token is refused too.
    let r =
        app.http.post(app.url(&format!("/disable/{good}"))).form(&[("csrf", "nope")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_authed("/api/v1/me", &session).await.status(), StatusCode::OK, "nothing changed");

    // Thirty days later (the default lifetime) the link has run out.
    app.clock.advance(std::time::Duration::from_secs(30 * 24 * 3600));
    let (status, p) = problem(freeze_json(&app, &good).await).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("urn:custos:problem:link-invalid"))
    );
    let account = app.store.account_by_email_key("holder@example.com").await.unwrap().unwrap();
    assert_eq!(account.status.as_str(), "active");
}

#[tokio::test]
async fn a_panic_code_freezes_with_no_session_and_wrong_codes_slow_only_their_source() {
    let app = spawn_app().await;
    let (_, aal2) = funded(&app, "careful@example.com").await;
    let uid = json_ok(app.get_authed("/api/v1/me", &aal2).await).await["uid"].as_str().unwrap().to_owned();
    let first = json_ok(app.post_authed("/api/v1/security/panic-code", &aal2).await).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = json_ok(app.post_authed("/api/v1/security/panic-code", &aal2).await).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 24);
    assert_ne!(code, first);

    // The replaced code, a wrong one and an unknown account all get the same answer.
    let try_code = |account: &str, code: &str| {
        app.post_json("/api/v1/freeze", json!({"account": account, "panic_code": code}))
    };
    let (s1, p1) = problem(try_code(&uid, &first).await).await;
    let (s2, p2) = problem(try_code("nobody@example.com", &code).await).await;
    let (s3, p3) = problem(try_code(&uid, "not a code at all").await).await;
    assert_eq!((s1, s2, s3), (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST));
    assert_eq!(p1, p2);
    assert_eq!(p1, p3);
    // Past the free attempts, this address waits; the account is not locked by it.
    let mut throttled = false;
    for _ in 0..12 {
        let r = try_code(&uid, &first).await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "wrong codes from one address are slowed down");
    let me = json_ok(app.get_authed("/api/v1/me", &aal2).await).await;
    assert_eq!(me["status"], "active");

    // Once the window has passed the right code freezes — by email address as well as by UID, in
    // any case.
    app.clock.advance(std::time::Duration::from_secs(16 * 60));
    let frozen = json_ok(try_code("careful@example.com", &code.to_lowercase()).await).await;
    assert_eq!(
        (frozen["already_frozen"].as_bool(), frozen["receipt"]["channel"].as_str()),
        (Some(false), Some("panic_code"))
    );
    assert_eq!(app.get_authed("/api/v1/me", &aal2).await.status(), StatusCode::UNAUTHORIZED);
    // Frozen already: idempotent success with the first receipt.
    let again = json_ok(try_code(&uid, &code).await).await;
    assert_eq!(again["already_frozen"], true);
    assert_eq!(again["receipt"], frozen["receipt"]);
}

#[tokio::test]
async fn making_a_panic_code_needs_a_second_factor_step_up() {
    let app = spawn_app().await;
    app.verified_account("plain@example.com").await;
    let token = app.login("plain@example.com", "laptop").await;
    let (status, p) = problem(app.post_authed("/api/v1/security/panic-code", &token).await).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("urn:custos:problem:step-up-required"))
    );
}

#[tokio::test]
async fn the_security_center_freezes_its_own_account_without_step_up_and_answers_json() {
    let app = spawn_app().await;
    app.verified_account("self@example.com").await;
    let token = app.login("self@example.com", "laptop").await;
    let other = app.login("self@example.com", "tablet").await;
    let answer = json_ok(app.post_authed("/api/v1/security/freeze", &token).await).await;
    assert_eq!(answer["receipt"]["channel"], "security_center");
    assert_eq!(answer["receipt"]["sessions_revoked"].as_array().unwrap().len(), 2);
    for t in [&token, &other] {
        assert_eq!(app.get_authed("/api/v1/me", t).await.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn an_operator_freezes_from_the_command_line_use_case_and_an_unfreeze_needs_two_and_kills_old_credentials()
 {
    let app = spawn_app().await;
    let email = "restored@example.com";
    let (uri, _) = funded(&app, email).await;
    let uid: custos_core::ids::Uid = app.store.account_by_email_key(email).await.unwrap().unwrap().uid;
    let state = &app.state;
    let f = custos_server::usecases::freeze::by_operator(state, uid, "customer called, ticket 123", "alice")
        .await
        .unwrap();
    assert_eq!((f.already_frozen, f.receipt.channel.as_str()), (false, "support"));

    use custos_server::usecases::unfreeze::{Unfreeze, unfreeze};
    let req = Unfreeze {
        uid,
        reason: "identity verified, ticket 123".into(),
        operator: "alice".into(),
        approved_by: "Alice".into(),
        contact: "restored.new@example.com".into(),
    };
    assert!(
        matches!(unfreeze(state, &req).await, Err(custos_server::error::ApiError::Validation(_))),
        "one person is not two"
    );
    let req = Unfreeze { approved_by: "bob".into(), ..req };
    let done = unfreeze(state, &req).await.unwrap();
    assert!(done.withdrawal_lock_until > app.clock.now().plus(std::time::Duration::from_secs(47 * 3600)));

    // Old password and authenticator no longer sign in; the account is recovering, not active.
    let r = app.login_raw(email, PASSWORD, Some("laptop")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old address is not the account's any more");
    let r = app.login_raw("restored.new@example.com", PASSWORD, Some("laptop")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the old password is dead");
    let account = app.store.account_by_uid(uid).await.unwrap().unwrap();
    assert_eq!(account.status.as_str(), "recovering");
    let factors = app.store.second_factors(account.id).await.unwrap();
    assert!(!factors.any(), "no second factor from before the freeze survives");
    // The reset link went to the verified contact only.
    let mail = wait_for_subject_prefix(&app, "restored.new@example.com", "Recover your account").await;
    assert!(mail.text_body.contains("/reset-password/"));
    assert!(app.mails_to(email).await.iter().all(|m| !m.subject.starts_with("Recover your account")));
    let events = account_events(&app).await;
    assert!(
        events
            .iter()
            .any(|e| matches!(e, AuditEvent::AccountUnfrozen { approved_by, .. } if approved_by == "bob"))
    );
    // Not frozen any more: a second unfreeze is refused.
    assert!(matches!(unfreeze(state, &req).await, Err(custos_server::error::ApiError::Conflict(_))));

    // The holder sets a new password with the link, signs in, and can do nothing but enrol a new
    // second factor; once it is confirmed the account is active, with withdrawals still locked.
    let contact = "restored.new@example.com";
    let new_password = "a brand new passphrase after recovery";
    let token = link_token(&mail.text_body, "/reset-password/");
    let r = app
        .post_json(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": token, "new_password": new_password}),
        )
        .await;
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = json_ok(app.login_raw(contact, new_password, Some("recovered-laptop")).await).await;
    let session = r["session_token"].as_str().unwrap().to_owned();
    assert_eq!(json_ok(app.get_authed("/api/v1/me", &session).await).await["status"], "recovering");
    let (status, p) = problem(app.get_authed("/api/v1/balances", &session).await).await;
    assert_eq!(
        (status, p["reasons"][0]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("recovery-incomplete"))
    );
    let gateway = crate::money::authorize(&app, json!({"action": "trade", "session_token": session})).await;
    assert_eq!(gateway["decision"], "deny");

    let r = app
        .http
        .post(app.url("/api/v1/auth/step-up/email"))
        .bearer_auth(&session)
        .json(&json!({"password": new_password}))
        .send()
        .await
        .unwrap();
    let challenge = json_ok(r).await["challenge"].as_str().unwrap().to_owned();
    let code_mail = wait_for_subject_prefix(&app, contact, "Your confirmation code: ").await;
    let code = code_mail.subject.trim_start_matches("Your confirmation code: ").to_owned();
    let r = app
        .http
        .post(app.url("/api/v1/auth/step-up"))
        .bearer_auth(&session)
        .json(&json!({"method": "email_code", "code": code, "challenge": challenge}))
        .send()
        .await
        .unwrap();
    let session = json_ok(r).await["session_token"].as_str().unwrap().to_owned();
    let e = json_ok(app.post_authed("/api/v1/security/totp", &session).await).await;
    let new_uri = e["otpauth_uri"].as_str().unwrap().to_owned();
    assert_ne!(new_uri, uri, "a new seed");
    let code = pyotp_code(&app, &new_uri);
    let r = app
        .http
        .post(app.url("/api/v1/security/totp/confirm"))
        .bearer_auth(&session)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    let aal2 = json_ok(r).await["session_token"].as_str().unwrap().to_owned();
    assert_eq!(json_ok(app.get_authed("/api/v1/me", &aal2).await).await["status"], "active");
    let (status, p) = problem(withdraw(&app, &aal2, btc("0.1"), None).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(p["reasons"].as_array().unwrap().iter().any(|r| r["code"] == "withdrawal-locked"), "{p}");
    assert!(account_events(&app).await.iter().any(|e| matches!(e, AuditEvent::RecoveryCompleted)));
}

#[tokio::test]
async fn after_the_attacker_moves_the_account_to_their_address_the_old_address_still_freezes_it() {
    let app = spawn_app().await;
    app.verified_account("owner@example.com").await;
    let attacker = app.login("owner@example.com", "attacker-laptop").await;
    let attacker = crate::credentials::step_up_by_email(&app, &attacker, "owner@example.com").await;
    app.change_email(&attacker, ATTACKER).await;
    let attacker =
        json_ok(app.login_raw(ATTACKER, PASSWORD, Some("attacker-laptop")).await).await["session_token"]
            .as_str()
            .unwrap()
            .to_owned();

    // The old address was told, with a disable link that outlives the change.
    let mut told = None;
    for _ in 0..250 {
        told = app
            .mails_to("owner@example.com")
            .await
            .into_iter()
            .find(|m| m.text_body.contains("The email address of your account was changed."));
        if told.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let told = told.expect("the previous address is told");
    let answer = json_ok(freeze_json(&app, &link_token(&told.text_body, "/disable/")).await).await;
    assert_eq!(answer["already_frozen"], false);
    assert_eq!(app.get_authed("/api/v1/me", &attacker).await.status(), StatusCode::UNAUTHORIZED);
    let (status, _) = problem(app.login_raw(ATTACKER, PASSWORD, Some("attacker-laptop")).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // And the attacker cannot mail themselves a reset link for the frozen account.
    let r = app.post_json("/api/v1/auth/password-reset", json!({"email": ATTACKER})).await;
    assert!(r.status().is_success());
    // No link was made (the request is audited only when one is).
    assert!(!account_events(&app).await.iter().any(|e| matches!(e, AuditEvent::PasswordResetRequested)));
}

#[tokio::test]
async fn an_automatic_policy_freezes_through_the_same_use_case_as_the_system() {
    let app = spawn_app().await;
    app.verified_account("policy@example.com").await;
    let session = app.login("policy@example.com", "laptop").await;
    let account = app.store.account_by_email_key("policy@example.com").await.unwrap().unwrap();
    let f = custos_server::usecases::freeze::by_policy(
        &app.state,
        account.id,
        "impossible-travel",
        "two countries in a minute",
    )
    .await
    .unwrap();
    assert_eq!(
        (f.receipt.channel.as_str(), f.receipt.reason.as_str()),
        ("policy", "two countries in a minute")
    );
    assert_eq!(app.get_authed("/api/v1/me", &session).await.status(), StatusCode::UNAUTHORIZED);
    let chain = format!("account:{}", account.id);
    let records = app.store.audit_records(&chain, 0, 1000).await.unwrap();
    let frozen = records.iter().rev().find(|r| matches!(r.event, AuditEvent::AccountFrozen { .. })).unwrap();
    assert!(matches!(frozen.actor, custos_core::audit::Actor::System));
}
