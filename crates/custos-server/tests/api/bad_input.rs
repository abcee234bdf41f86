use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn malformed_json_unknown_fields_and_wrong_types_are_400_problems() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/auth/register");
    let cases = [
        "{not json",
        r#"{"email": "a@example.com", "password": "correct horse battery staple", "admin": true}"#,
        r#"{"email": 42, "password": "correct horse battery staple"}"#,
        r#"{"password": "correct horse battery staple"}"#,
        "[]",
    ];
    for body in cases {
        let r =
            app.http.post(&url).header("content-type", "application/json").body(body).send().await.unwrap();
        let (status, problem) = problem(r).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem["type"], "urn:custos:problem:invalid-request");
    }
    assert!(app.store.dev_mail(10).await.unwrap().is_empty(), "nothing was registered");
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .body(r#"{"email":"a@example.com","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let app = spawn_app().await;
    let big = format!(r#"{{"email":"a@example.com","password":"{}"}}"#, "x".repeat(100_000));
    let r = app
        .http
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn invalid_emails_including_confusables_are_refused_with_reasons_and_create_nothing() {
    let app = spawn_app().await;
    for email in [
        "not-an-email",
        "аlice@example.com",
        "alice@exаmple.com",
        "alice@localhost",
        "a..b@example.com",
        "alice@@example.com",
    ] {
        let (status, body) = problem(app.register(email).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email}");
        assert_eq!(body["reasons"][0]["code"], "email-invalid", "{email}");
    }
    assert!(app.store.dev_mail(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_refused_registration_lists_every_reason() {
    let app = spawn_app().await;
    let r = app
        .post_json("/api/v1/auth/register", json!({"email": "nope", "password": "short", "phone": "12"}))
        .await;
    let (status, body) = problem(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> =
        body["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["email-invalid", "password-too-short", "password-too-weak", "phone-invalid"]);
}

#[tokio::test]
async fn passwords_over_1024_bytes_are_refused_before_hashing() {
    let app = spawn_app().await;
    let r = app
        .post_json("/api/v1/auth/login", json!({"email": "a@example.com", "password": "x".repeat(1025)}))
        .await;
    let (status, body) = problem(r).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["reasons"][0]["code"], "password-too-long");
}

#[tokio::test]
async fn missing_forged_or_malformed_bearer_tokens_are_401() {
    let app = spawn_app().await;
    let forged = "A".repeat(43);
    for auth in
        [None, Some("Bearer "), Some("Bearer garbage"), Some(&*format!("Bearer {forged}")), Some("Basic abc")]
    {
        let mut req = app.http.get(app.url("/api/v1/me"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let (status, body) = problem(req.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(body["type"], "urn:custos:problem:unauthenticated");
    }
}

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = spawn_app().await;
    let (status, _) = problem(app.http.get(app.url("/api/v1/nothing-here")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
