//! Incident cases over HTTP, on SQLite and PostgreSQL: a freeze opens the case with the facts
//! filled in and a private case link that only the pre-change address receives; the holder's
//! report, list and thread; another account's case is a 404; bad messages are refused with reason
//! codes; HTML in messages is escaped; bad case links are a 404 page; support's reply reaches the
//! thread and the holder is told.

use custos_core::Clock;
use custos_core::incident::IncidentState;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{json_ok, step_up_by_email};
use crate::freeze::freeze_json;
use crate::helpers::*;

on_both_backends!(
    "incidents";
    a_freeze_from_the_old_email_link_opens_a_case_only_the_old_address_can_reach_after_every_session_is_gone,
    another_accounts_case_is_not_found_and_bad_reports_and_messages_are_refused_with_reasons,
    html_in_messages_is_shown_as_text_on_the_pages,
    forged_malformed_and_expired_case_links_answer_a_404_page,
    a_staff_reply_reaches_the_thread_moves_the_case_and_tells_the_holder,
);

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

async fn wait_for_body(app: &TestApp, to: &str, needle: &str) -> custos_store::DevMail {
    for _ in 0..250 {
        if let Some(m) = app.mails_to(to).await.into_iter().find(|m| m.text_body.contains(needle)) {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no mail to {to} containing {needle:?}");
}

fn reason_codes(body: &Value) -> Vec<String> {
    body["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

async fn a_freeze_from_the_old_email_link_opens_a_case_only_the_old_address_can_reach_after_every_session_is_gone(
    app: TestApp,
) {
    let uid = app.verified_account("owner@example.com").await;
    // The attacker signs in from a new device and moves the account to their own address.
    let attacker = app.login("owner@example.com", "attacker-laptop").await;
    let attacker = step_up_by_email(&app, &attacker, "owner@example.com").await;
    app.change_email(&attacker, "attacker@evil.example").await;
    let attacker = app.login("attacker@evil.example", "attacker-laptop").await;

    // The owner freezes with the disable link in the "email changed" notice to the old address.
    let told =
        wait_for_body(&app, "owner@example.com", "The email address of your account was changed.").await;
    let answer = json_ok(freeze_json(&app, &link_token(&told.text_body, "/disable/")).await).await;
    assert_eq!(answer["already_frozen"], false);
    let case_link = answer["case_link"].as_str().expect("the receipt carries the case link").to_owned();
    assert!(case_link.contains("/case/"), "{case_link}");
    assert_eq!(answer["case_link_emailed_to"], "o***@example.com", "only the address from before the change");
    assert_eq!(app.get_authed("/api/v1/me", &attacker).await.status(), StatusCode::UNAUTHORIZED);

    // The link went to the old address, never to the attacker's.
    let mail = app.wait_for_mail("owner@example.com", &format!("Your case about account {uid}")).await;
    let emailed = link_token(&mail.text_body, "/case/");
    app.state.outbox_wake.notify_one();
    for m in app.mails_to("attacker@evil.example").await {
        assert!(!m.text_body.contains("/case/"), "the attacker's address got a case link: {}", m.subject);
    }

    // The case exists with the four facts filled in.
    let account =
        app.store.account_by_uid(custos_core::ids::Uid::parse(&uid).unwrap()).await.unwrap().unwrap();
    let cases = app.store.incidents_of(account.id).await.unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].state, IncidentState::New);
    assert_eq!(cases[0].origin.as_string(), "freeze:email_link");
    assert_eq!(cases[0].facts.uid.to_string(), uid);
    assert!(
        cases[0].facts.measures_taken.iter().any(|m| m.contains("Sessions ended: 1.")),
        "{:?}",
        cases[0].facts
    );

    // Both links open the case with no session at all; the facts are filled in by then.
    let b = browser();
    for token in [link_token(&case_link, "/case/"), emailed.clone()] {
        let r = b.get(app.url(&format!("/case/{token}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("id=\"fact-uid\">{uid}<")), "{page}");
        assert!(page.contains("Sessions ended: 1."), "{page}");
        assert!(!page.contains("being worked out"), "the detection time is filled in: {page}");
        assert!(page.contains("id=\"sla-first-response\" data-status=\"due\""), "{page}");
    }
    let filled = app.store.incident(cases[0].id).await.unwrap().unwrap();
    assert!(filled.facts_filled_at.is_some());
    assert!(filled.facts.detected_at.is_some());
    assert!(filled.facts.detected_at.unwrap() <= filled.opened_at);

    // The holder of the link writes to support.
    let page = b.get(app.url(&format!("/case/{emailed}"))).send().await.unwrap().text().await.unwrap();
    let r = b
        .post(app.url(&format!("/case/{emailed}")))
        .form(&[("csrf", csrf_of(&page).as_str()), ("body", "I did not change my email.\r\nPlease help.")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page =
        b.get(app.url(&format!("/case/{emailed}?done=sent"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("I did not change my email.\nPlease help."), "{page}");
    // Without the form token, nothing is written.
    let r = b
        .post(app.url(&format!("/case/{emailed}")))
        .form(&[("csrf", "forged"), ("body", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.store.incident_messages(cases[0].id).await.unwrap().iter().filter(|m| m.body == "x").count(),
        0
    );

    // A second use of a disable link finds the account frozen and the same open case.
    let again = json_ok(freeze_json(&app, &link_token(&told.text_body, "/disable/")).await).await;
    assert_eq!(again["already_frozen"], true);
    assert!(again["case_link"].as_str().is_some());
    assert_eq!(app.store.incidents_of(account.id).await.unwrap().len(), 1, "one open case per account");
}

async fn report(app: &TestApp, session: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/api/v1/incidents")).bearer_auth(session).json(&body).send().await.unwrap()
}

async fn another_accounts_case_is_not_found_and_bad_reports_and_messages_are_refused_with_reasons(
    app: TestApp,
) {
    app.verified_account("alice@example.com").await;
    app.verified_account("bob@example.com").await;
    let alice = app.login("alice@example.com", "laptop").await;
    let bob = app.login("bob@example.com", "laptop").await;
    let noticed = app.clock.now().rfc3339();

    let case = json_ok(
        report(
            &app,
            &alice,
            json!({"noticed_at": noticed, "description": "A withdrawal I did not make.",
                   "unauthorised_actions": ["Withdrawal of 0.5 BTC"], "measures_taken": ["Changed my email password"]}),
        )
        .await,
    )
    .await;
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["origin"], "user_report");
    assert_eq!(case["state"], "new");
    assert_eq!(case["facts"]["detected_at"], Value::String(noticed.clone()));
    assert!(
        case["facts"]["unauthorised_actions"].as_array().unwrap().contains(&json!("Withdrawal of 0.5 BTC"))
    );
    assert_eq!(case["sla"]["first_response"]["status"], "due");
    assert_eq!(case["sla"]["first_response"]["words"], "due in 15 min");

    // A second report adds to the open case.
    let again = json_ok(
        report(&app, &alice, json!({"noticed_at": noticed, "description": "And a new API key."})).await,
    )
    .await;
    assert_eq!(again["id"], id.as_str());
    let list = json_ok(app.get_authed("/api/v1/incidents", &alice).await).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let thread = json_ok(app.get_authed(&format!("/api/v1/incidents/{id}/messages"), &alice).await).await;
    let bodies: Vec<_> =
        thread["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert!(
        bodies.contains(&"A withdrawal I did not make.") && bodies.contains(&"And a new API key."),
        "{bodies:?}"
    );

    // Alice corrects the facts; every bad value is refused at once, and Bob cannot touch them.
    let put = |who: &str, body: Value| {
        app.http
            .put(app.url(&format!("/api/v1/incidents/{id}/facts")))
            .bearer_auth(who.to_owned())
            .json(&body)
            .send()
    };
    let edited = json_ok(
        put(&alice, json!({"detected_at": "2026-01-02T03:04:05Z", "unauthorised_actions": ["Login from 203.0.113.9"]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(edited["facts"]["detected_at"], "2026-01-02T03:04:05Z");
    assert_eq!(edited["facts"]["unauthorised_actions"], json!(["Login from 203.0.113.9"]));
    assert_eq!(edited["facts"]["measures_taken"], json!(["Changed my email password"]), "left as it was");
    let (status, p) = problem(
        put(&alice, json!({"detected_at": "2999-01-01T00:00:00Z", "measures_taken": ["\u{1}"]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reason_codes(&p), ["detected-at-invalid", "measures-taken-invalid"]);
    assert_eq!(
        put(&bob, json!({"detected_at": "2026-01-01T00:00:00Z"})).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Bob sees nothing of it: the same 404 as for a case that does not exist.
    assert!(json_ok(app.get_authed("/api/v1/incidents", &bob).await).await.as_array().unwrap().is_empty());
    for path in [id.clone(), uuid::Uuid::now_v7().to_string(), "nonsense".into()] {
        let (status, body) =
            problem(app.get_authed(&format!("/api/v1/incidents/{path}/messages"), &bob).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let r = app
            .http
            .post(app.url(&format!("/api/v1/incidents/{path}/messages")))
            .bearer_auth(&bob)
            .json(&json!({"body": "hello"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(app.get_authed("/api/v1/incidents", "not-a-session").await.status(), StatusCode::UNAUTHORIZED);

    // Bad messages: 422 with a reason code each; nothing is written.
    let post = |body: Value| {
        let app = &app;
        let alice = alice.clone();
        let id = id.clone();
        async move {
            app.http
                .post(app.url(&format!("/api/v1/incidents/{id}/messages")))
                .bearer_auth(alice)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let before = app.store.incident_messages(id.parse().unwrap()).await.unwrap().len();
    for (body, code) in [
        (json!({"body": "x".repeat(4001)}), "message-too-long"),
        (json!({"body": "   "}), "message-empty"),
        (json!({"body": "bell \u{7}"}), "message-invalid-characters"),
        (json!({"body": "see file", "attachments": [{"name": "a.png"}]}), "attachments-not-supported"),
    ] {
        let (status, p) = problem(post(body).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(reason_codes(&p), [code]);
    }
    let (status, _) = problem(post(json!({"body": "x", "extra": 1})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unknown fields are refused");
    assert_eq!(app.store.incident_messages(id.parse().unwrap()).await.unwrap().len(), before);
    assert_eq!(json_ok(post(json!({"body": "x".repeat(4000)})).await).await["author"], "user");

    // Bad reports: every reason at once.
    let (status, p) = problem(
        report(
            &app,
            &bob,
            json!({"noticed_at": "yesterday", "description": "", "unauthorised_actions": ["y".repeat(501)]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reason_codes(&p), ["noticed-at-invalid", "message-empty", "unauthorised-actions-invalid"]);
    let (status, p) = problem(
        report(&app, &bob, json!({"noticed_at": noticed, "description": "d", "attachments": []})).await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reason_codes(&p), ["attachments-not-supported"]);
    assert!(json_ok(app.get_authed("/api/v1/incidents", &bob).await).await.as_array().unwrap().is_empty());
}

async fn html_in_messages_is_shown_as_text_on_the_pages(app: TestApp) {
    app.verified_account("html@example.com").await;
    let b = browser();
    let login = b.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let r = b
        .post(app.url("/login"))
        .form(&[("csrf", csrf_of(&login).as_str()), ("email", "html@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let center = b.get(app.url("/security")).send().await.unwrap().text().await.unwrap();
    assert!(center.contains("href=\"/security/cases\""), "the security center links to the cases");
    let cases = b.get(app.url("/security/cases")).send().await.unwrap().text().await.unwrap();
    assert!(cases.contains("id=\"no-cases\""), "{cases}");
    let r = b
        .post(app.url("/security/cases"))
        .form(&[
            ("csrf", csrf_of(&cases).as_str()),
            ("noticed_at", "2020-01-01T00:00"),
            ("description", "<script>alert(1)</script>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a time more than a year ago is refused");
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"report-errors\""), "{page}");
    assert!(!page.contains("<script>alert(1)</script>"), "the echoed draft is escaped");

    let now = app.clock.now().rfc3339();
    let r = b
        .post(app.url("/security/cases"))
        .form(&[
            ("csrf", csrf_of(&cases).as_str()),
            ("noticed_at", &now[..16]),
            ("description", "<script>alert(1)</script><b>bold</b>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    let page = b.get(app.url(&to)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62;&#60;b&#62;bold&#60;/b&#62;"), "{page}");
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(!page.contains("<b>bold</b>"));

    // A message from the case page lands in the thread; an oversized one is refused beside the field.
    let r = b
        .post(app.url(&format!("{}/messages", to.split('?').next().unwrap())))
        .form(&[("csrf", csrf_of(&page).as_str()), ("body", "x".repeat(4001).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("id=\"message-error\""));
}

async fn forged_malformed_and_expired_case_links_answer_a_404_page(app: TestApp) {
    app.verified_account("links@example.com").await;
    let session = app.login("links@example.com", "laptop").await;
    let answer = json_ok(app.post_authed("/api/v1/security/freeze", &session).await).await;
    let good = link_token(answer["case_link"].as_str().unwrap(), "/case/");
    let b = browser();
    assert_eq!(b.get(app.url(&format!("/case/{good}"))).send().await.unwrap().status(), StatusCode::OK);
    let forged = custos_core::crypto::BearerToken::generate().expose().to_owned();
    for bad in [forged.as_str(), "short", "%3Cscript%3E", &good[..good.len() - 1]] {
        let r = b.get(app.url(&format!("/case/{bad}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
        assert!(r.text().await.unwrap().contains("This case link is not valid"));
    }
    // A disable link is not a case link.
    let disable_mail = app.wait_for_mail("links@example.com", "Your account is frozen").await;
    assert!(!disable_mail.text_body.contains("/case/"), "the freeze notice carries no case link");
    // Expired after 90 days.
    app.clock.advance(std::time::Duration::from_secs(91 * 24 * 3600));
    assert_eq!(
        b.get(app.url(&format!("/case/{good}"))).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

async fn a_staff_reply_reaches_the_thread_moves_the_case_and_tells_the_holder(app: TestApp) {
    let uid = app.verified_account("reply@example.com").await;
    let session = app.login("reply@example.com", "laptop").await;
    let session = step_up_by_email(&app, &session, "reply@example.com").await;
    let r = app
        .http
        .put(app.url("/api/v1/security/anti-phishing-code"))
        .bearer_auth(&session)
        .json(&json!({"code": "blue-heron"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let noticed = app.clock.now().rfc3339();
    let case =
        json_ok(report(&app, &session, json!({"noticed_at": noticed, "description": "Help"})).await).await;
    let id: custos_core::ids::IncidentId = case["id"].as_str().unwrap().parse().unwrap();

    app.clock.advance(std::time::Duration::from_secs(20 * 60));
    let overdue = json_ok(app.get_authed("/api/v1/incidents", &session).await).await;
    assert_eq!(overdue[0]["sla"]["first_response"]["status"], "breached");

    use custos_server::usecases::incidents;
    let refused = incidents::staff_set_state(&app.state, id, "S-1", IncidentState::Closed).await;
    assert!(refused.is_err(), "a new case cannot be closed at once");
    incidents::staff_reply(
        &app.state,
        id,
        "S-17",
        "Ana",
        "Which address did you use?",
        Some(IncidentState::WaitingOnUser),
    )
    .await
    .unwrap();
    let thread = json_ok(app.get_authed(&format!("/api/v1/incidents/{id}/messages"), &session).await).await;
    assert_eq!(thread["incident"]["state"], "waiting_on_user");
    assert_eq!(thread["incident"]["sla"]["first_response"]["words"], "met (late)");
    let last = thread["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["author"].as_str(), last["staff_name"].as_str()), (Some("staff"), Some("Ana")));
    let notice = app
        .wait_for_mail("reply@example.com", &format!("Support replied on your case (account {uid})"))
        .await;
    assert!(!notice.text_body.contains("/case/"), "the notice carries no link");
    assert!(notice.text_body.contains("blue-heron"), "with the anti-phishing code: {}", notice.text_body);

    // The holder's answer puts the case back in support's hands.
    let r = app
        .http
        .post(app.url(&format!("/api/v1/incidents/{id}/messages")))
        .bearer_auth(&session)
        .json(&json!({"body": "owner@example.com"}))
        .send()
        .await
        .unwrap();
    json_ok(r).await;
    assert_eq!(app.store.incident(id).await.unwrap().unwrap().state, IncidentState::Investigating);
    incidents::staff_set_state(&app.state, id, "S-17", IncidentState::Resolved).await.unwrap();
    incidents::staff_set_state(&app.state, id, "S-17", IncidentState::Closed).await.unwrap();
    let (status, p) = problem(
        app.http
            .post(app.url(&format!("/api/v1/incidents/{id}/messages")))
            .bearer_auth(&session)
            .json(&json!({"body": "hello?"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(reason_codes(&p), ["incident-closed"]);
    assert!(
        incidents::staff_reply(&app.state, id, "S-17", "Ana", "late", None).await.is_err(),
        "closed is final"
    );
    // A new report opens a new case.
    let next =
        json_ok(report(&app, &session, json!({"noticed_at": noticed, "description": "Again"})).await).await;
    assert_ne!(next["id"].as_str().unwrap(), id.to_string());
    // The audit chain records every step.
    let chain = format!("account:{}", app.store.incident(id).await.unwrap().unwrap().account_id);
    let kinds: Vec<String> = app
        .store
        .audit_records(&chain, 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::to_value(&r.event).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    for k in ["incident_opened", "incident_message_added", "incident_state_changed", "incident_facts_edited"]
    {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}
