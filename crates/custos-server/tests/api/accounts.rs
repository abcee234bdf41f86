use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn registering_answers_202_and_mails_a_verification_link() {
    let app = spawn_app().await;
    let r = app.register("new.user@Example.COM").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = app.wait_for_mail("new.user@example.com", "Confirm your email address").await;
    assert!(mail.text_body.contains("/verify-email/"));
    assert!(mail.html_body.contains("Confirm my address"));
}

#[tokio::test]
async fn registering_a_taken_address_answers_the_same_and_mails_the_owner_instead() {
    let app = spawn_app().await;
    app.verified_account("owner@example.com").await;
    let first: Value = app.register("other@example.com").await.json().await.unwrap();
    let r = app.register("Owner@example.com").await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.json::<Value>().await.unwrap(), first, "same body for a taken and a free address");
    let notice = app.wait_for_mail("owner@example.com", "Someone tried to sign up with your address").await;
    assert!(
        !notice.text_body.contains("/verify-email/"),
        "the owner gets no link that could change anything"
    );
    // The taken address never got a second account: signing in with the new password still fails.
    let r = app.login_raw("owner@example.com", "some other passphrase here", None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_verification_link_works_once_and_then_is_invalid() {
    let app = spawn_app().await;
    app.register("once@example.com").await;
    let mail = app.wait_for_mail("once@example.com", "Confirm your email address").await;
    let token = link_token(&mail.text_body, "/verify-email/");
    // Opening the link (a mail scanner prefetching it) changes nothing.
    let page = app.http.get(app.url(&format!("/verify-email/{token}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(app.login_raw("once@example.com", PASSWORD, None).await.status(), StatusCode::FORBIDDEN);

    let r = app.post_json("/api/v1/auth/verify-email", json!({"token": token})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let uid = r.json::<Value>().await.unwrap()["uid"].as_str().unwrap().to_owned();
    assert_eq!(uid.len(), 9);

    let (status, body) =
        problem(app.post_json("/api/v1/auth/verify-email", json!({"token": token})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["type"], "urn:custos:problem:link-invalid");
}

#[tokio::test]
async fn forged_and_malformed_verification_tokens_are_invalid_links() {
    let app = spawn_app().await;
    for token in ["", "abc", &"A".repeat(43), &"A".repeat(4000)] {
        let (status, body) =
            problem(app.post_json("/api/v1/auth/verify-email", json!({"token": token})).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{token}");
        assert_eq!(body["type"], "urn:custos:problem:link-invalid");
    }
}

#[tokio::test]
async fn an_expired_verification_link_is_refused() {
    let app = spawn_app().await;
    app.register("late@example.com").await;
    let mail = app.wait_for_mail("late@example.com", "Confirm your email address").await;
    app.clock.advance(std::time::Duration::from_secs(24 * 3600 + 1));
    let token = link_token(&mail.text_body, "/verify-email/");
    let (status, _) =
        problem(app.post_json("/api/v1/auth/verify-email", json!({"token": token})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_uid_is_shown_once_the_address_is_verified() {
    let app = spawn_app().await;
    let uid = app.verified_account("uid@example.com").await;
    let token = app.login("uid@example.com", "laptop").await;
    let me: Value = app.get_authed("/api/v1/me", &token).await.json().await.unwrap();
    assert_eq!(me["uid"], uid);
    assert_eq!(me["email"], "uid@example.com");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["session"]["aal"], "aal1");
}

#[tokio::test]
async fn uids_are_random_not_sequential() {
    let app = spawn_app().await;
    let a: u64 = app.verified_account("a@example.com").await.parse().unwrap();
    let b: u64 = app.verified_account("b@example.com").await.parse().unwrap();
    assert_ne!(a.abs_diff(b), 1);
}
