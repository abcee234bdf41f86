use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn login_before_verification_is_refused_with_email_not_verified() {
    let app = spawn_app().await;
    app.register("early@example.com").await;
    let (status, body) = problem(app.login_raw("early@example.com", PASSWORD, None).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], "urn:custos:problem:email-not-verified");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;
    app.verified_account("known@example.com").await;
    let (s1, b1) = problem(app.login_raw("known@example.com", "not the right passphrase", None).await).await;
    let (s2, b2) = problem(app.login_raw("nobody@example.com", "not the right passphrase", None).await).await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(b1["type"], "urn:custos:problem:invalid-credentials");
}

#[tokio::test]
async fn login_gives_a_bearer_token_and_a_device_token_when_none_was_sent() {
    let app = spawn_app().await;
    app.verified_account("bearer@example.com").await;
    let r: Value = app.login_raw("bearer@example.com", PASSWORD, None).await.json().await.unwrap();
    let token = r["session_token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    assert_eq!(r["aal"], "aal1");
    assert!(r["device_token"].as_str().is_some());
    assert_eq!(app.get_authed("/api/v1/me", token).await.status(), StatusCode::OK);
    // A client that names its device gets no device token back.
    let r: Value =
        app.login_raw("bearer@example.com", PASSWORD, Some("my-phone")).await.json().await.unwrap();
    assert!(r["device_token"].is_null());
}

#[tokio::test]
async fn a_new_device_sign_in_sends_a_notice_and_a_known_device_does_not() {
    let app = spawn_app().await;
    app.verified_account("notice@example.com").await;
    app.login("notice@example.com", "laptop").await;
    app.wait_for_mail("notice@example.com", "New sign-in to your account").await;
    app.login("notice@example.com", "laptop").await;
    app.login("notice@example.com", "phone").await;
    // Wait for the phone's notice, then count: exactly two notices (laptop once, phone once).
    for _ in 0..100 {
        let n = app
            .mails_to("notice@example.com")
            .await
            .iter()
            .filter(|m| m.subject.starts_with("New sign-in"))
            .count();
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let notices: Vec<_> = app
        .mails_to("notice@example.com")
        .await
        .into_iter()
        .filter(|m| m.subject == "New sign-in to your account")
        .collect();
    assert_eq!(notices.len(), 2);
    assert!(notices[0].text_body.contains("127.0.0.1"));
}

#[tokio::test]
async fn repeated_failures_are_throttled_but_the_owners_known_device_still_signs_in() {
    let app = spawn_app().await;
    app.verified_account("target@example.com").await;
    app.login("target@example.com", "owners-laptop").await;
    for _ in 0..5 {
        let r = app.login_raw("target@example.com", "attacker guess number one", Some("attacker")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = app.login_raw("target@example.com", "attacker guess number two", Some("attacker")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    let (_, body) = problem(r).await;
    assert_eq!(body["reasons"][0]["code"], "too-many-attempts");
    // Even the right password waits on an unknown device…
    assert_eq!(
        app.login_raw("target@example.com", PASSWORD, Some("attacker")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // …but the owner's known device is not locked out by a stranger.
    assert_eq!(
        app.login_raw("target@example.com", PASSWORD, Some("owners-laptop")).await.status(),
        StatusCode::OK
    );
    // And the wait ends: no hard lockout.
    app.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(
        app.login_raw("target@example.com", PASSWORD, Some("attacker")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    app.verified_account("bye@example.com").await;
    let token = app.login("bye@example.com", "laptop").await;
    assert_eq!(app.post_authed("/api/v1/auth/logout", &token).await.status(), StatusCode::NO_CONTENT);
    let (status, body) = problem(app.get_authed("/api/v1/me", &token).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "urn:custos:problem:unauthenticated");
}

#[tokio::test]
async fn the_hashing_queue_answers_503_when_full_instead_of_queueing_forever() {
    let app = spawn_app_with(Options {
        hash_workers: Some(1),
        hash_queue: Some(0),
        cost: Some(custos_core::password::HashCost { memory_kib: 19_456, iterations: 2, parallelism: 1 }),
        ..Default::default()
    })
    .await;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (http, url) = (app.http.clone(), app.url("/api/v1/auth/login"));
        let body = json!({"email": format!("u{i}@example.com"), "password": "whatever passphrase is long"});
        set.spawn(async move { http.post(url).json(&body).send().await.unwrap().status() });
    }
    let statuses: Vec<StatusCode> = set.join_all().await;
    assert!(statuses.contains(&StatusCode::SERVICE_UNAVAILABLE), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::SERVICE_UNAVAILABLE || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}
