use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_openapi_document_lists_the_contract() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(app.url("/api/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/verify-email",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/sessions",
        "/api/v1/sessions/{id}",
        "/api/v1/sessions/revoke-others",
        "/api/v1/devices",
        "/api/v1/activity",
        "/api/v1/allowlist",
        "/api/v1/allowlist/{id}",
        "/api/v1/allowlist/mode",
        "/api/v1/allowlist/confirm",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
    let docs = app.http.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/login", "/api/v1/me", "/healthz"] {
        let r = app.http.get(app.url(path)).send().await.unwrap();
        let h = r.headers();
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("x-request-id"));
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    assert_eq!(app.http.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cross_site_post_carrying_cookies_is_refused() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/login"))
        .header("cookie", "custos_csrf=abc")
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", "abc"), ("email", "a@example.com"), ("password", "x")])
        .send()
        .await
        .unwrap();
    let (status, body) = problem(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["type"], "urn:custos:problem:csrf-rejected");
}

#[tokio::test]
async fn a_page_form_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/login"))
        .form(&[("email", "a@example.com"), ("password", "correct horse battery staple")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_login_page_signs_in_with_cookies_and_the_security_center_shows_the_account() {
    let app = spawn_app().await;
    let uid = app.verified_account("page@example.com").await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = link_token(&page, "name=\"csrf\" value=\"");
    let r = browser
        .post(app.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("email", "page@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set_cookies: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(
        set_cookies.iter().any(|c| c.starts_with("custos_session=")
            && c.contains("HttpOnly")
            && c.contains("SameSite=Lax"))
    );
    let center = browser.get(app.url("/security")).send().await.unwrap();
    assert_eq!(center.status(), StatusCode::OK);
    assert!(center.text().await.unwrap().contains(&uid));
    let anonymous = app.http.get(app.url("/security")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_dev_mailbox_is_served_in_dev_mode() {
    let app = spawn_app().await;
    app.register("box@example.com").await;
    app.wait_for_mail("box@example.com", "Confirm your email address").await;
    let page = app.http.get(app.url("/dev/mailbox")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Confirm your email address"));
}
