//! The security center's API keys page: a key created in the browser shows its secret once, counts
//! in the security checklist, and is revoked from the page; a refused form keeps what was typed.

use reqwest::StatusCode;

use crate::credentials::json_ok;
use crate::helpers::*;

/// A browser session (cookies) signed in through the login page; returns it with its form token.
async fn browser(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = link_token(&page, "name=\"csrf\" value=\"");
    let r = browser
        .post(app.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (browser, csrf)
}

#[tokio::test]
async fn the_api_keys_page_creates_shows_the_secret_once_and_revokes() {
    let app = spawn_app().await;
    app.verified_account("page.keys@example.com").await;
    let (browser, csrf) = browser(&app, "page.keys@example.com").await;
    let center = browser.get(app.url("/security")).send().await.unwrap().text().await.unwrap();
    assert!(center.contains("href=\"/security/api-keys\""), "linked from the security center");
    let page = browser.get(app.url("/security/api-keys")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("No API keys."));

    let form = [
        ("csrf", csrf.as_str()),
        ("label", "page bot"),
        ("kind", "hmac-sha256"),
        ("public_key", ""),
        ("scope_read", "on"),
        ("ip_allowlist", ""),
        ("valid_until", ""),
    ];
    let without_token: Vec<_> = form.iter().filter(|(k, _)| *k != "csrf").collect();
    let r = browser.post(app.url("/security/api-keys")).form(&without_token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "the form token is required");

    let r = browser.post(app.url("/security/api-keys")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let shown = r.text().await.unwrap();
    let secret = link_token(&shown, "id=\"key-secret\">");
    let id = link_token(&shown, "id=\"key-id\">");
    assert!(secret.starts_with("cs_") && id.starts_with("ck_"), "{shown}");

    let page = browser.get(app.url("/security/api-keys")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&id) && page.contains("page bot") && page.contains("any address"));
    assert!(!page.contains(&secret), "the secret is shown once");

    // The checklist now counts the key and asks for an allowlist.
    let token = app.login("page.keys@example.com", "laptop").await;
    let posture = json_ok(app.get_authed("/api/v1/security/posture", &token).await).await;
    assert_eq!(posture["live_api_keys"], 1);
    let item =
        posture["items"].as_array().unwrap().iter().find(|i| i["code"] == "api-keys-ip-restricted").unwrap();
    assert_eq!(item["done"], false);

    // A form error comes back with the reason and what was typed.
    let bad =
        [("csrf", csrf.as_str()), ("label", "mover"), ("kind", "hmac-sha256"), ("scope_withdraw", "on")];
    let r = browser.post(app.url("/security/api-keys")).form(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(text.contains("needs an IP allowlist") && text.contains("value=\"mover\""), "{text}");

    let r = browser
        .post(app.url(&format!("/security/api-keys/{id}/revoke")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page =
        browser.get(app.url("/security/api-keys?done=revoked")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("The key was revoked") && page.contains("(0 active)"), "{page}");
    let posture = json_ok(app.get_authed("/api/v1/security/posture", &token).await).await;
    assert_eq!(posture["live_api_keys"], 0);
}
