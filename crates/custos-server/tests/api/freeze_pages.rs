//! The kill switch's pages, driven like a browser (cookies, form tokens): the freeze button in
//! the security center, the disable page, the public freeze page, and the way there from login.

use reqwest::StatusCode;

use crate::credentials::{json_ok, wait_for_subject_prefix};
use crate::helpers::*;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(reqwest::cookie::Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_of(page: &str) -> String {
    link_token(page, "name=\"csrf\" value=\"")
}

#[tokio::test]
async fn the_freeze_button_on_the_security_center_freezes_and_shows_the_receipt() {
    let app = spawn_app().await;
    app.verified_account("button@example.com").await;
    let phone = app.login("button@example.com", "phone").await;
    let b = browser();
    let login = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("href=\"/freeze\""), "the login page shows the way to freeze when locked out");
    let r = b
        .post(app.url("/login"))
        .form(&[("csrf", csrf_of(&login).as_str()), ("email", "button@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for page in ["/security", "/security/api-keys", "/security/funds", "/security/confirm"] {
        let html = b.get(app.url(page)).send().await.unwrap().text().await.unwrap();
        assert!(html.contains("action=\"/security/freeze\""), "{page} has the freeze button");
    }
    let center = b.get(app.url("/security")).send().await.unwrap().text().await.unwrap();

    // Without the form token: refused, nothing changes.
    let r = b.post(app.url("/security/freeze")).form(&[("csrf", "forged")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get_authed("/api/v1/me", &phone).await.status(), StatusCode::OK);

    let r = b
        .post(app.url("/security/freeze"))
        .form(&[("csrf", csrf_of(&center).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let receipt = r.text().await.unwrap();
    assert!(receipt.contains("Your account is frozen"), "{receipt}");
    assert!(receipt.contains("id=\"sessions-revoked\">2<"), "both sessions ended: {receipt}");
    assert_eq!(app.get_authed("/api/v1/me", &phone).await.status(), StatusCode::UNAUTHORIZED);
    let after = b.get(app.url("/security")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER, "this browser is signed out too");
}

#[tokio::test]
async fn the_disable_page_confirms_first_then_freezes_and_says_so_when_already_frozen() {
    let app = spawn_app().await;
    app.verified_account("pagelink@example.com").await;
    let session = app.login("pagelink@example.com", "laptop").await;
    let mail = wait_for_subject_prefix(&app, "pagelink@example.com", "New sign-in").await;
    let token = link_token(&mail.text_body, "/disable/");
    let b = browser();
    let page = b.get(app.url(&format!("/disable/{token}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("p•••@example.com"), "{page}");
    assert_eq!(app.get_authed("/api/v1/me", &session).await.status(), StatusCode::OK, "GET changed nothing");

    // Frozen meanwhile by another channel: the link says so and shows that freeze's receipt.
    json_ok(app.post_authed("/api/v1/security/freeze", &session).await).await;
    let r = b
        .post(app.url(&format!("/disable/{token}")))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let receipt = r.text().await.unwrap();
    assert!(receipt.contains("It was already frozen"), "{receipt}");
    assert!(receipt.contains("from the security center"), "{receipt}");
}

#[tokio::test]
async fn the_public_freeze_page_takes_a_panic_code_and_refuses_a_wrong_one_next_to_the_form() {
    let app = spawn_app().await;
    let (_, aal2) = crate::money::funded(&app, "pagepanic@example.com").await;
    let code = json_ok(app.post_authed("/api/v1/security/panic-code", &aal2).await).await["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = browser();
    let page = b.get(app.url("/freeze")).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let r = b
        .post(app.url("/freeze"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("account", "pagepanic@example.com"),
            ("panic_code", "AAAA-AAAA-AAAA-AAAA-AAAA"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let again = r.text().await.unwrap();
    assert!(again.contains("do not match") && again.contains("value=\"pagepanic@example.com\""), "{again}");
    let r = b
        .post(app.url("/freeze"))
        .form(&[("csrf", csrf.as_str()), ("account", "pagepanic@example.com"), ("panic_code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Your account is frozen"));
    let me = app.get_authed("/api/v1/me", &aal2).await;
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_panic_code_page_shows_a_new_code_once_and_asks_for_a_second_factor_first() {
    let app = spawn_app().await;
    let (_, aal2) = crate::money::funded(&app, "paper@example.com").await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("custos_session={aal2}; Path=/"), &app.base.parse().unwrap());
    let b = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let center = b.get(app.url("/security")).send().await.unwrap().text().await.unwrap();
    assert!(center.contains("href=\"/security/panic-code\""), "linked from the security center");
    let page = b.get(app.url("/security/panic-code")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Make a panic code"), "{page}");
    let r = b
        .post(app.url("/security/panic-code"))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let shown = r.text().await.unwrap();
    let code = link_token(&shown, "id=\"panic-code\">");
    assert_eq!(code.len(), 24, "{shown}");
    let again = b.get(app.url("/security/panic-code")).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("Replace my panic code") && !again.contains(&code), "shown once");
    let frozen = json_ok(
        app.post_json(
            "/api/v1/freeze",
            serde_json::json!({"account": "paper@example.com", "panic_code": code}),
        )
        .await,
    )
    .await;
    assert_eq!(frozen["receipt"]["channel"], "panic_code");

    // Without a second factor the page says what is missing instead of making a code.
    app.verified_account("nofactor@example.com").await;
    let b = browser();
    let login = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    b.post(app.url("/login"))
        .form(&[
            ("csrf", csrf_of(&login).as_str()),
            ("email", "nofactor@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let page = b.get(app.url("/security/panic-code")).send().await.unwrap().text().await.unwrap();
    let r = b
        .post(app.url("/security/panic-code"))
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("needs a second factor"));
}
