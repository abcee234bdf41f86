//! The support console's pages, on SQLite and PostgreSQL: the queue and a case as staff see them,
//! with the holder's words escaped, and every form refused without its CSRF token.

use std::time::Duration;

use reqwest::StatusCode;

use crate::credentials::json_ok;
use crate::helpers::*;
use crate::staff::signed_in_staff;
use crate::support_console::report;

on_both_backends!(
    "support console pages";
    the_pages_show_the_queue_and_the_case_escape_html_and_need_csrf,
);

/// A browser-like client holding the staff cookie (and the CSRF cookie the pages set).
fn staff_browser(app: &TestApp, token: &str) -> reqwest::Client {
    let jar = reqwest::cookie::Jar::default();
    jar.add_cookie_str(&format!("custos-staff={token}; Path=/"), &app.url("/").parse().unwrap());
    reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(jar))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_of(page: &str) -> String {
    link_token(page, "name=\"csrf\" value=\"")
}

async fn the_pages_show_the_queue_and_the_case_escape_html_and_need_csrf(app: TestApp) {
    app.verified_account("pages@example.com").await;
    let holder = app.login("pages@example.com", "laptop").await;
    let id = report(&app, &holder, "<script>alert(1)</script> took my coins").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (token, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    let b = staff_browser(&app, &token);
    app.clock.advance(Duration::from_secs(20 * 60));

    let home = b.get(app.url("/support")).send().await.unwrap().text().await.unwrap();
    assert!(home.contains(&format!("data-case=\"{id}\"")), "{home}");
    assert!(home.contains("class=\"breached\""), "an overdue case is highlighted: {home}");

    let case_url = app.url(&format!("/support/cases/{id}"));
    let page = b.get(&case_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "escaped: {page}");
    assert!(!page.contains("<script>alert(1)"), "never raw");
    assert!(page.contains("id=\"freeze\""), "a freeze button while the account is active");
    let csrf = csrf_of(&page);

    // Without the CSRF token nothing happens.
    let r = b
        .post(app.url(&format!("/support/cases/{id}/notes")))
        .form(&[("csrf", "nope"), ("body", "x")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(app.store.incident_notes(id.parse().unwrap()).await.unwrap().is_empty());

    // A note with markup, a message, a refused state change: each through its form.
    let post = |path: String, form: Vec<(&'static str, String)>| {
        let b = b.clone();
        let url = app.url(&path);
        async move { b.post(url).form(&form).send().await.unwrap() }
    };
    let r = post(
        format!("/support/cases/{id}/notes"),
        vec![("csrf", csrf.clone()), ("body", "<i>caller</i> unsure".into())],
    )
    .await;
    assert_eq!(
        (r.status(), r.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, format!("/support/cases/{id}?done=note").as_str())
    );
    let r = post(
        format!("/support/cases/{id}/messages"),
        vec![("csrf", csrf.clone()), ("body", "We are looking into it.".into()), ("reason", String::new())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = post(
        format!("/support/cases/{id}/state"),
        vec![("csrf", csrf.clone()), ("state", "triage".into()), ("reason", String::new())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Give a reason"), "the refusal in words");
    let page = b.get(&case_url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("&#60;i&#62;caller&#60;/i&#62; unsure"), "notes are escaped too");
    assert!(page.contains("We are looking into it."));

    // The holder's own case page: the staff message with the verified staff ID, never the note.
    let me = json_ok(app.get_authed("/api/v1/support/me", &token).await).await;
    let staff_id = me["staff_id"].as_str().unwrap();
    let hb = reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(reqwest::cookie::Jar::default()))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = hb.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let r = hb
        .post(app.url("/login"))
        .form(&[("csrf", csrf_of(&login).as_str()), ("email", "pages@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mine = hb.get(app.url(&format!("/security/cases/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(mine.contains("We are looking into it."), "{mine}");
    assert!(mine.contains(staff_id) && mine.contains(&format!("/verify?channel={staff_id}")), "{mine}");
    assert!(!mine.contains("caller"), "no internal note on the holder's page");
}
