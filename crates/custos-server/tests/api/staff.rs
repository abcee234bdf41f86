//! Staff: created by an operator with a setup link, enrolled with a password and TOTP, signed in
//! with both; least privilege per role; reads of user data audited; official-channel checks.

use std::time::Duration;

use custos_core::audit::{Actor, AuditEvent};
use custos_server::usecases::official_channels::{self, Registrar};
use custos_server::usecases::staff::{self, NewStaff};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{json_ok, pyotp_code};
use crate::helpers::*;

const STAFF_PASSWORD: &str = "plum vortex harbor quilt";

/// Creates a staff member the way `custos staff create` does; returns the setup token.
pub(crate) async fn create_staff(app: &TestApp, email: &str, role: &str) -> String {
    let new = NewStaff { email: email.into(), name: format!("{role} person"), role: role.into() };
    let created = staff::create(&app.state, new, "ops").await.expect("staff created");
    assert!(created.code.as_str().starts_with("CS-"));
    link_token(&created.setup_link, "/support/setup/")
}

/// Setup link → password → TOTP confirmed; returns the otpauth URI (the staff member's app).
pub(crate) async fn enrol(app: &TestApp, token: &str) -> String {
    let e = json_ok(
        app.post_json("/api/v1/support/setup", json!({"token": token, "password": STAFF_PASSWORD})).await,
    )
    .await;
    let uri = e["otpauth_uri"].as_str().unwrap().to_owned();
    let code = pyotp_code(app, &uri);
    let r =
        json_ok(app.post_json("/api/v1/support/setup/confirm", json!({"token": token, "code": code})).await)
            .await;
    assert!(r["staff_id"].as_str().unwrap().starts_with("CS-"));
    uri
}

pub(crate) async fn staff_login(app: &TestApp, email: &str, code: &str) -> reqwest::Response {
    app.post_json("/api/v1/support/login", json!({"email": email, "password": STAFF_PASSWORD, "code": code}))
        .await
}

/// A signed-in staff member of `role`; returns (session token, otpauth URI).
pub(crate) async fn signed_in_staff(app: &TestApp, email: &str, role: &str) -> (String, String) {
    let token = create_staff(app, email, role).await;
    let uri = enrol(app, &token).await;
    app.clock.advance(Duration::from_secs(30));
    let r = json_ok(staff_login(app, email, &pyotp_code(app, &uri)).await).await;
    assert_eq!(r["aal"], "aal2");
    (r["session_token"].as_str().unwrap().to_owned(), uri)
}

#[tokio::test]
async fn a_staff_member_enrols_through_the_setup_link_and_signs_in_only_with_password_and_totp() {
    let app = spawn_app().await;
    let token = create_staff(&app, "dana@custos.example", "agent").await;

    // Before setup, the account cannot sign in at all.
    let (status, body) = problem(staff_login(&app, "dana@custos.example", "000000").await).await;
    assert_eq!(
        (status, body["type"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "urn:custos:problem:invalid-credentials")
    );

    // The customer password policy applies.
    let weak =
        app.post_json("/api/v1/support/setup", json!({"token": token, "password": "password123"})).await;
    let (status, body) = problem(weak).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["reasons"].as_array().unwrap().iter().any(|r| r["code"] == "password-too-short"), "{body}");

    // A password alone does not activate: the TOTP must be confirmed.
    let e = json_ok(
        app.post_json("/api/v1/support/setup", json!({"token": token, "password": STAFF_PASSWORD})).await,
    )
    .await;
    let uri = e["otpauth_uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("otpauth://totp/"));
    let (status, _) = problem(staff_login(&app, "dana@custos.example", &pyotp_code(&app, &uri)).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "pending staff cannot sign in");
    let wrong =
        app.post_json("/api/v1/support/setup/confirm", json!({"token": token, "code": "000000"})).await;
    assert_eq!(problem(wrong).await.0, StatusCode::BAD_REQUEST);
    let ok = app
        .post_json("/api/v1/support/setup/confirm", json!({"token": token, "code": pyotp_code(&app, &uri)}))
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    // The link is spent.
    let again =
        app.post_json("/api/v1/support/setup", json!({"token": token, "password": STAFF_PASSWORD})).await;
    assert_eq!(problem(again).await.1["type"], "urn:custos:problem:link-invalid");

    // Password without a code, or with a wrong or replayed code: refused, all alike.
    app.clock.advance(Duration::from_secs(30));
    for code in ["", "123456"] {
        let (status, body) = problem(staff_login(&app, "dana@custos.example", code).await).await;
        assert_eq!(
            (status, body["type"].as_str().unwrap()),
            (StatusCode::UNAUTHORIZED, "urn:custos:problem:invalid-credentials")
        );
    }
    let code = pyotp_code(&app, &uri);
    let r = json_ok(staff_login(&app, "dana@custos.example", &code).await).await;
    assert_eq!((r["aal"].clone(), r["role"].clone()), (json!("aal2"), json!("agent")));
    let replay = staff_login(&app, "dana@custos.example", &code).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED, "a TOTP code is accepted once");

    let me = json_ok(app.get_authed("/api/v1/support/me", r["session_token"].as_str().unwrap()).await).await;
    assert_eq!((me["email"].clone(), me["role"].clone()), (json!("dana@custos.example"), json!("agent")));
    assert_eq!(me["staff_id"], r["staff_id"]);
}

#[tokio::test]
async fn an_expired_or_garbage_setup_link_is_refused() {
    let app = spawn_app().await;
    let token = create_staff(&app, "late@custos.example", "agent").await;
    app.clock.advance(Duration::from_secs(61 * 60));
    let r = app.post_json("/api/v1/support/setup", json!({"token": token, "password": STAFF_PASSWORD})).await;
    assert_eq!(problem(r).await.1["type"], "urn:custos:problem:link-invalid");
    let r =
        app.post_json("/api/v1/support/setup", json!({"token": "nope", "password": STAFF_PASSWORD})).await;
    assert_eq!(problem(r).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn staff_login_is_throttled_per_account_without_revealing_who_exists() {
    let app = spawn_app().await;
    // The first five failures cost nothing (ThrottleRule::LOGIN_PER_ACCOUNT); then waits grow.
    for _ in 0..5 {
        let r = staff_login(&app, "ghost@custos.example", "123456").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let (status, body) = problem(staff_login(&app, "ghost@custos.example", "123456").await).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn a_staff_read_of_an_account_returns_no_secrets_and_is_audited_on_the_accounts_chain() {
    let app = spawn_app().await;
    let uid = app.verified_account("victim@example.com").await;
    app.login("victim@example.com", "laptop").await;
    let (agent, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;

    let summary = json_ok(app.get_authed(&format!("/api/v1/support/accounts/{uid}"), &agent).await).await;
    assert_eq!((summary["uid"].clone(), summary["email"].clone()), (json!(uid), json!("victim@example.com")));
    assert_eq!((summary["status"].clone(), summary["sessions_live"].clone()), (json!("active"), json!(1)));
    let logins = summary["recent_logins"].as_array().unwrap();
    assert_eq!(logins[0]["outcome"], "succeeded");
    assert!(logins[0]["signals"].is_array());
    let text = summary.to_string();
    for secret in ["argon2", "password_hash", "security_stamp", "token", "seed"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }

    let account =
        app.store.account_by_uid(custos_core::ids::Uid::parse(&uid).unwrap()).await.unwrap().unwrap();
    let chain = format!("account:{}", account.id);
    let records = app.store.audit_records(&chain, 0, 100).await.unwrap();
    let read = records
        .iter()
        .find(|r| matches!(&r.event, AuditEvent::StaffReadAccount { what } if what == "account_summary"));
    let read = read.expect("the read is an audit record on the account's chain");
    assert!(
        matches!(&read.actor, Actor::Staff { staff_id, name } if staff_id.starts_with("CS-") && name == "agent person")
    );

    // Unknown and garbage UIDs: 404; a customer's session is not a staff session.
    assert_eq!(
        problem(app.get_authed("/api/v1/support/accounts/999999999", &agent).await).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        problem(app.get_authed("/api/v1/support/accounts/<script>", &agent).await).await.0,
        StatusCode::NOT_FOUND
    );
    let customer = app.login("victim@example.com", "laptop").await;
    let r = app.get_authed(&format!("/api/v1/support/accounts/{uid}"), &customer).await;
    assert_eq!(problem(r).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem(app.get_authed(&format!("/api/v1/support/accounts/{uid}"), "").await).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_action_outside_the_role_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (agent, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    let (analyst, _) = signed_in_staff(&app, "analyst@custos.example", "analyst").await;
    let (admin, _) = signed_in_staff(&app, "admin@custos.example", "admin").await;
    let body = json!({"kind": "domain", "value": "custos.example", "note": "main site"});

    for token in [&agent, &analyst] {
        let r = app
            .http
            .post(app.url("/api/v1/support/official-channels"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, p) = problem(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(p["reasons"][0]["code"], "staff-role-insufficient", "{p}");
    }
    assert!(app.store.official_channels(None).await.unwrap().is_empty(), "nothing changed");

    let r = app
        .http
        .post(app.url("/api/v1/support/official-channels"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let again = app
        .http
        .post(app.url("/api/v1/support/official-channels"))
        .bearer_auth(&admin)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(again).await.0, StatusCode::CONFLICT);
    let list = json_ok(app.get_authed("/api/v1/support/official-channels", &agent).await).await;
    assert_eq!(list[0]["value"], "custos.example");

    let del = |token: &str| {
        app.http
            .delete(app.url("/api/v1/support/official-channels?kind=domain&value=custos.example"))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(problem(del(&agent).await.unwrap()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.store.official_channels(None).await.unwrap().len(), 1);
    assert_eq!(del(&admin).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(problem(del(&admin).await.unwrap()).await.0, StatusCode::NOT_FOUND);

    let records = app.store.audit_records("system", 0, 200).await.unwrap();
    assert!(records.iter().any(|r| matches!(r.event, AuditEvent::OfficialChannelAdded { .. })
        && matches!(r.actor, Actor::Staff { .. })));
    assert!(records.iter().any(|r| matches!(r.event, AuditEvent::OfficialChannelRemoved { .. })));
}

#[tokio::test]
async fn disabling_a_staff_member_ends_their_sessions_at_once_and_their_id_stops_being_official() {
    let app = spawn_app().await;
    let (token, _) = signed_in_staff(&app, "leaver@custos.example", "agent").await;
    let me = json_ok(app.get_authed("/api/v1/support/me", &token).await).await;
    let staff_id = me["staff_id"].as_str().unwrap().to_owned();
    let v = json_ok(app.get(&format!("/api/v1/verify?channel={staff_id}")).await).await;
    assert_eq!(
        (v["official"].clone(), v["kind"].clone(), v["note"].clone()),
        (json!(true), json!("staff"), json!("agent person"))
    );

    assert_eq!(staff::disable(&app.state, "leaver@custos.example", "ops").await.unwrap(), 1);
    assert_eq!(problem(app.get_authed("/api/v1/support/me", &token).await).await.0, StatusCode::UNAUTHORIZED);
    let v = json_ok(app.get(&format!("/api/v1/verify?channel={staff_id}")).await).await;
    assert_eq!((v["official"].clone(), v["status"].clone()), (json!(false), json!("no_longer_valid")));
    let v = json_ok(app.get("/api/v1/verify?channel=CS-000000&kind=staff").await).await;
    assert_eq!((v["official"].clone(), v["status"].clone()), (json!(false), json!("not_official")));
}

#[tokio::test]
async fn the_public_verify_api_normalises_warns_about_lookalikes_and_refuses_garbage() {
    let app = spawn_app().await;
    for (kind, value) in [
        ("domain", "custos.example"),
        ("email", "support@custos.example"),
        ("social", "x:@CustosHelp"),
        ("phone", "+44 20 7946 0000"),
    ] {
        official_channels::add(&app.state, Registrar::Operator("ops"), kind, value, Some("official"))
            .await
            .unwrap();
    }
    let check = |q: &str| {
        let url = app.url(&format!("/api/v1/verify?{q}"));
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let v = json_ok(check("channel=https://www.CUSTOS.example/login/").await).await;
    assert_eq!(
        (v["official"].clone(), v["kind"].clone(), v["value"].clone(), v["note"].clone()),
        (json!(true), json!("domain"), json!("custos.example"), json!("official"))
    );
    let v = json_ok(check("channel=cust0s.example").await).await;
    assert_eq!(
        (v["official"].clone(), v["status"].clone(), v["lookalike_of"].clone()),
        (json!(false), json!("lookalike"), json!("custos.example"))
    );
    assert!(v["message"].as_str().unwrap().contains("NOT an official channel"));
    let v = json_ok(check("channel=%40custoshelp").await).await;
    assert_eq!((v["official"].clone(), v["kind"].clone()), (json!(true), json!("social")));
    let v = json_ok(check("channel=https%3A%2F%2Ftwitter.com%2Fcustos_help").await).await;
    assert_eq!(v["status"], "lookalike");
    let v = json_ok(check("channel=%2B44%20(20)%207946-0000").await).await;
    assert_eq!((v["official"].clone(), v["value"].clone()), (json!(true), json!("+442079460000")));
    let v = json_ok(check("channel=Support%40Custos.example").await).await;
    assert_eq!(v["official"], true);
    let v = json_ok(check("channel=example.org").await).await;
    assert_eq!((v["official"].clone(), v["status"].clone()), (json!(false), json!("not_official")));

    for q in [
        "channel=",
        "channel=not%20a%20domain",
        "channel=abc&kind=phone",
        "channel=x&kind=pigeon",
        "kind=domain",
    ] {
        let (status, body) = problem(check(q).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
    }
    let long = "a".repeat(5000);
    assert_eq!(
        problem(check(&format!("channel={long}.com")).await).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn the_public_verify_api_is_throttled_per_address() {
    let app = spawn_app().await;
    let mut last = StatusCode::OK;
    for _ in 0..40 {
        last = app.get("/api/v1/verify?channel=example.org").await.status();
        if last == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn on_postgres_staff_enrol_read_an_account_and_are_disabled() {
    let Some(app) = spawn_app_on_postgres("staff: enrol, read, disable").await else {
        return;
    };
    let uid = app.verified_account("pg.victim@example.com").await;
    let (token, _) = signed_in_staff(&app, "pg.agent@custos.example", "agent").await;
    let summary = json_ok(app.get_authed(&format!("/api/v1/support/accounts/{uid}"), &token).await).await;
    assert_eq!(summary["email"], "pg.victim@example.com");
    let r = app
        .http
        .post(app.url("/api/v1/support/official-channels"))
        .bearer_auth(&token)
        .json(&json!({"kind": "domain", "value": "custos.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.1["reasons"][0]["code"], "staff-role-insufficient");
    official_channels::add(&app.state, Registrar::Operator("ops"), "domain", "custos.example", None)
        .await
        .unwrap();
    let v: Value = json_ok(app.get("/api/v1/verify?channel=custos-support.com").await).await;
    assert_eq!(v["status"], "lookalike");
    staff::disable(&app.state, "pg.agent@custos.example", "ops").await.unwrap();
    assert_eq!(app.get_authed("/api/v1/support/me", &token).await.status(), StatusCode::UNAUTHORIZED);
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert!(report.broken.is_empty(), "{report:?}");
}

#[tokio::test]
async fn the_demo_seeds_official_channels_users_can_check() {
    let app = spawn_app().await;
    assert!(custos_server::demo::seed(&app.state).await.unwrap());
    assert_eq!(
        app.store.official_channels(None).await.unwrap().len(),
        custos_server::demo::OFFICIAL_CHANNELS.len()
    );
    let v = json_ok(app.get("/api/v1/verify?channel=support%40custos.example").await).await;
    assert_eq!(v["official"], true);
    let v = json_ok(app.get("/api/v1/verify?channel=support%40cust0s.example").await).await;
    assert_eq!(v["status"], "lookalike");
}

#[tokio::test]
async fn the_console_page_takes_the_staff_cookie_and_cross_site_posts_with_it_are_refused() {
    let app = spawn_app().await;
    let uid = app.verified_account("victim@example.com").await;
    let (token, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    let cookie = format!("custos-staff={token}");

    let page =
        app.http.get(app.url(&format!("/support?uid={uid}"))).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("victim@example.com") && html.contains("agent person"), "{html}");
    let account =
        app.store.account_by_uid(custos_core::ids::Uid::parse(&uid).unwrap()).await.unwrap().unwrap();
    let records = app.store.audit_records(&format!("account:{}", account.id), 0, 100).await.unwrap();
    assert!(
        records.iter().any(|r| matches!(r.event, AuditEvent::StaffReadAccount { .. })),
        "the page's lookup is audited too"
    );

    // Without a staff session the console sends you to its sign-in; a customer cookie is not one.
    let anon = app.http.get(app.url("/support")).send().await.unwrap();
    assert_eq!(anon.headers()["location"], "/support/login");

    let forged = app
        .http
        .post(app.url("/support/logout"))
        .header("cookie", &cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    let (status, body) = problem(forged).await;
    assert_eq!(
        (status, body["type"].as_str().unwrap()),
        (StatusCode::FORBIDDEN, "urn:custos:problem:csrf-rejected")
    );
    assert_eq!(
        app.get_authed("/api/v1/support/me", &token).await.status(),
        StatusCode::OK,
        "still signed in"
    );
}
