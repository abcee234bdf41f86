//! The support console over HTTP, on SQLite and PostgreSQL: the issue's scenario end to end (a
//! freeze whose interception fails leaves a withdrawal processing; an agent finds the case first in
//! the queue, opens it — audited —, has the wallet intercept the withdrawal and writes to the
//! holder, who sees the reply with the staff ID on the case link page), and the refusals: reason
//! required, illegal state changes, unknown ids, the agent's narrower timeline, notes never shown
//! to the holder.

use std::time::Duration;

use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::webhook::WebhookSecret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::json_ok;
use crate::freeze::freeze_json;
use crate::helpers::*;
use crate::money::{codes, funded};
use crate::staff::signed_in_staff;
use crate::wallet::{to_processing, wait_logged};

/// The address `wallet::to_processing` confirms withdrawals for.
const EMAIL: &str = "treasurer@example.com";

/// `POST` with a staff bearer token.
async fn staff_post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn wait_for_body(app: &TestApp, to: &str, needle: &str) -> custos_store::DevMail {
    for _ in 0..250 {
        if let Some(m) = app.mails_to(to).await.into_iter().find(|m| m.text_body.contains(needle)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail to {to} containing {needle:?}");
}

/// The app handing withdrawals to `wallet` (holds end at once; the clock is the wall clock, as the
/// wallet checks signature timestamps against its own), on SQLite or on PostgreSQL.
async fn wallet_app(wallet: &PythonServer, secret: &WebhookSecret, postgres: bool) -> Option<TestApp> {
    let o = Options {
        wallet: Some((format!("{}/v1", wallet.base()), secret.expose())),
        withdrawal_hold: Some(Duration::ZERO),
        ..Default::default()
    };
    let app = if postgres {
        spawn_app_on_postgres_with("support console: the scenario", o).await?
    } else {
        spawn_app_with(o).await
    };
    app.clock.set(custos_core::Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()));
    Some(app)
}

#[tokio::test]
async fn the_scenario_on_sqlite() {
    scenario(false).await;
}

#[tokio::test]
async fn the_scenario_on_postgres() {
    scenario(true).await;
}

async fn scenario(postgres: bool) {
    let secret = WebhookSecret::generate();
    let wallet = PythonServer::start("wallet_service.py", &[&secret.expose(), "0"]).await;
    let Some(app) = wallet_app(&wallet, &secret, postgres).await else { return };

    // A funded account with an anti-phishing code and a withdrawal the wallet is processing.
    let (_uri, token) = funded(&app, EMAIL).await;
    let r = app
        .http
        .put(app.url("/api/v1/security/anti-phishing-code"))
        .bearer_auth(&token)
        .json(&json!({"code": "amber-otter"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let wid = to_processing(&app, &token, "0.5", &mut Vec::new()).await;
    wait_logged(&wallet, |e| e["status"] == 202 && e["body"].as_str().unwrap().contains(&wid)).await;

    // The wallet errors on the freeze's interception attempt: the withdrawal stays processing.
    let control = app.http.post(format!("{}/control-intercepts", wallet.base()));
    assert_eq!(control.json(&json!({"fail": 1})).send().await.unwrap().status(), StatusCode::NO_CONTENT);

    // The attacker, in the stepped-up session, moves the account to their own address.
    app.change_email(&token, "attacker@evil.example").await;

    // The holder freezes with the disable link in the "email changed" notice to the old address.
    let told = wait_for_body(&app, EMAIL, "The email address of your account was changed.").await;
    let answer = json_ok(freeze_json(&app, &link_token(&told.text_body, "/disable/")).await).await;
    assert_eq!(answer["already_frozen"], false);
    let case_link = answer["case_link"].as_str().expect("the receipt carries the case link").to_owned();
    assert_eq!(answer["case_link_emailed_to"], "t***@example.com", "only the address from before the change");
    let w = app.store.withdrawal(wid.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(w.state.as_str(), "processing", "the wallet did not answer the freeze");
    assert!(w.intercept.as_deref().unwrap().contains("unreachable"), "{:?}", w.intercept);
    let (_, locked) = balance_after_freeze(&app, &w).await;
    assert_ne!(locked, 0, "still reserved while the wallet may send it");

    // Another, younger case: ours must come first in the queue.
    let other = app.verified_account("other@example.com").await;
    let other_session = app.login("other@example.com", "laptop").await;
    let r = app
        .http
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(&other_session)
        .json(&json!({"noticed_at": time_now(&app), "description": "A strange sign-in"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{other}: {}", r.status());

    // An agent, created by the staff use case the CLI calls and set up with TOTP.
    let (agent, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    let me = json_ok(app.get_authed("/api/v1/support/me", &agent).await).await;
    let agent_id = me["staff_id"].as_str().unwrap().to_owned();

    let queue = json_ok(app.get_authed("/api/v1/support/queue", &agent).await).await;
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 2, "{queue:?}");
    let account = app
        .store
        .account_by_email_key(&custos_core::email::Email::parse("attacker@evil.example").unwrap().key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queue[0]["uid"], account.uid.get(), "the older case is due first: {queue:?}");
    assert_eq!(queue[0]["state"], "new");
    assert_eq!(queue[0]["origin"], "freeze:email_link");
    assert!(queue[0]["sla_words"].as_str().unwrap().contains("first response: due in"), "{queue:?}");
    assert_eq!(queue[0]["assignee"], Value::Null);
    let case_id = queue[0]["id"].as_str().unwrap().to_owned();

    // The case: the four facts, the timeline with the processing withdrawal, and the read audited.
    let case = json_ok(app.get_authed(&format!("/api/v1/support/incidents/{case_id}"), &agent).await).await;
    let facts = &case["incident"]["facts"];
    assert_eq!(
        (facts["uid"].as_u64(), facts["email"].as_str()),
        (Some(account.uid.get()), Some("attacker@evil.example")),
        "the account's address now"
    );
    assert!(facts["detected_at"].is_string(), "{facts}");
    assert!(facts["unauthorised_actions"].is_array());
    assert!(
        facts["measures_taken"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.as_str().unwrap().contains("unreachable")),
        "the receipt says the wallet was unreachable: {facts}"
    );
    assert_eq!(case["account_status"], "frozen");
    assert_eq!(case["timeline"]["full"], false, "an agent sees the recent window");
    let items = case["timeline"]["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    for k in ["sign_in", "security", "withdrawal", "freeze", "message"] {
        assert!(kinds.contains(&k), "the timeline has {k}: {kinds:?}");
    }
    let times: Vec<&str> = items.iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "merged by time: {times:?}");
    let open =
        items.iter().find(|i| i["open_withdrawal"]["id"] == wid.as_str()).expect("the open withdrawal");
    assert_eq!(open["open_withdrawal"]["action"], "intercept");
    let body = serde_json::to_string(&case).unwrap();
    for secret in ["password_hash", "totp_seed", "$argon2", "amber-otter"] {
        assert!(!body.contains(secret), "no secrets in the case view: {secret}");
    }
    let chain = app.store.audit_records(&Chain::Account(account.id).key(), 0, 1000).await.unwrap();
    assert!(
        chain
            .iter()
            .any(|r| matches!(&r.event, AuditEvent::StaffReadAccount { what } if what.contains(&case_id))
                && matches!(&r.actor, Actor::Staff { staff_id, .. } if *staff_id == agent_id)),
        "the read is in the account's chain with the agent as actor"
    );

    // The agent asks the wallet to intercept: now it answers, the withdrawal is cancelled.
    let path = format!("/api/v1/support/withdrawals/{wid}/intercept");
    let (status, p) = problem(staff_post(&app, &agent, &path, json!({})).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["reason-required".to_owned()]));
    let why = "Holder froze after a takeover; stopping the pending withdrawal";
    let stopped = json_ok(staff_post(&app, &agent, &path, json!({"reason": why})).await).await;
    assert_eq!(
        (stopped["state"].as_str(), stopped["intercept"].as_str()),
        (Some("cancelled"), Some("intercepted"))
    );
    let (_, locked) =
        balance_after_freeze(&app, &app.store.withdrawal(wid.parse().unwrap()).await.unwrap().unwrap()).await;
    assert_eq!(locked, 0, "the funds are back");
    let chain = app.store.audit_records(&Chain::Account(account.id).key(), 0, 1000).await.unwrap();
    assert!(chain.iter().any(|r| matches!(&r.event,
        AuditEvent::StaffActed { action, reason, .. } if action == "intercept_withdrawal" && reason == why)
        && matches!(r.actor, Actor::Staff { .. })));
    let (status, p) = problem(staff_post(&app, &agent, &path, json!({"reason": why})).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["withdrawal-final".to_owned()]));

    // The agent assigns the case to themself and writes to the holder.
    let assigned = staff_post(
        &app,
        &agent,
        &format!("/api/v1/support/incidents/{case_id}/assign"),
        json!({"staff_id": "me", "reason": "taking it"}),
    )
    .await;
    json_ok(assigned).await;
    let text = "We stopped the withdrawal of 0.5 BTC. Please reply here.";
    let sent = staff_post(
        &app,
        &agent,
        &format!("/api/v1/support/incidents/{case_id}/messages"),
        json!({"body": text}),
    )
    .await;
    assert_eq!(sent.status(), StatusCode::CREATED);
    let subject = format!("Support replied on your case (account {})", account.uid);
    let notice = app.wait_for_mail(EMAIL, &subject).await;
    assert!(notice.text_body.contains("amber-otter"), "with the anti-phishing code: {}", notice.text_body);
    assert!(!notice.text_body.contains("/case/"), "and no link");
    assert!(
        app.mails_to("attacker@evil.example").await.iter().all(|m| !m.subject.starts_with("Support replied")),
        "the reply notice goes to the address from before the change only"
    );

    // The holder sees the reply with the staff ID on the case link page, and how to check it.
    let page = app.get(&format!("/case/{}", link_token(&case_link, "/case/"))).await.text().await.unwrap();
    assert!(page.contains(text), "{page}");
    assert!(page.contains("agent person"), "the staff member's name");
    assert!(page.contains(&agent_id), "the staff ID");
    assert!(page.contains(&format!("/verify?channel={agent_id}")), "a link to check it: {page}");
    assert!(page.contains("verified staff ID"), "{page}");

    // The queue shows the assignee; the agent's read of the queue changed nothing else.
    let queue = json_ok(app.get_authed("/api/v1/support/queue", &agent).await).await;
    let ours = queue.as_array().unwrap().iter().find(|q| q["id"] == case_id.as_str()).unwrap().clone();
    assert_eq!(ours["assignee"]["staff_id"], agent_id.as_str());
    assert!(ours["sla_words"].as_str().unwrap().contains("first response: met"), "{ours}");
}

fn time_now(app: &TestApp) -> String {
    use custos_core::Clock;
    app.clock.now().rfc3339()
}

/// (available, locked) of the withdrawal's asset, in atomic units, from the store (every session
/// ended with the freeze).
async fn balance_after_freeze(app: &TestApp, w: &custos_store::WithdrawalRecord) -> (u128, u128) {
    let all = app.store.balances(w.account_id).await.unwrap();
    let b = all.into_iter().find(|(a, _)| *a == w.asset).expect("a balance row").1;
    (b.available.atomic(), b.locked.atomic())
}

on_both_backends!(
    "support console";
    the_queue_is_ordered_by_sla_and_a_customer_session_is_not_a_staff_one,
    actions_need_a_reason_refused_moves_and_unknown_ids_change_nothing_and_notes_stay_internal,
    an_agent_sees_the_recent_window_and_an_analyst_the_full_timeline,
    an_agent_cancels_a_withdrawal_awaiting_confirmation_and_the_funds_come_back,
);

pub(crate) async fn report(app: &TestApp, session: &str, text: &str) -> Value {
    let body = json!({"noticed_at": time_now(app), "description": text});
    let r =
        app.http.post(app.url("/api/v1/incidents")).bearer_auth(session).json(&body).send().await.unwrap();
    json_ok(r).await
}

async fn the_queue_is_ordered_by_sla_and_a_customer_session_is_not_a_staff_one(app: TestApp) {
    let (agent, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    app.verified_account("old@example.com").await;
    let old = app.login("old@example.com", "laptop").await;
    let older_case = report(&app, &old, "first").await["id"].as_str().unwrap().to_owned();
    // Support answers the older case at once: its first response is met.
    let path = format!("/api/v1/support/incidents/{older_case}/messages");
    assert_eq!(
        staff_post(&app, &agent, &path, json!({"body": "On it."})).await.status(),
        StatusCode::CREATED
    );
    app.clock.advance(Duration::from_secs(60));
    app.verified_account("new@example.com").await;
    let new = app.login("new@example.com", "laptop").await;
    let newer_case = report(&app, &new, "second").await["id"].as_str().unwrap().to_owned();
    // Twenty minutes on, the newer case's first response (15 min) is overdue: it comes first.
    app.clock.advance(Duration::from_secs(20 * 60));
    let queue = json_ok(app.get_authed("/api/v1/support/queue", &agent).await).await;
    let ids: Vec<&str> = queue.as_array().unwrap().iter().map(|q| q["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [newer_case.as_str(), older_case.as_str()]);
    assert_eq!((queue[0]["breached"].as_bool(), queue[1]["breached"].as_bool()), (Some(true), Some(false)));
    assert!(queue[0]["sla_words"].as_str().unwrap().contains("breached"), "{queue}");

    // A customer's session is not a staff session, and no session is none.
    let customer = app.login("old@example.com", "laptop").await;
    for path in ["/api/v1/support/queue".to_owned(), format!("/api/v1/support/incidents/{older_case}")] {
        assert_eq!(app.get_authed(&path, &customer).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.get(&path).await.status(), StatusCode::UNAUTHORIZED);
    }
    let r = staff_post(
        &app,
        &customer,
        &format!("/api/v1/support/incidents/{older_case}/notes"),
        json!({"body": "x"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn actions_need_a_reason_refused_moves_and_unknown_ids_change_nothing_and_notes_stay_internal(
    app: TestApp,
) {
    let uid = app.verified_account("holder@example.com").await;
    let holder = app.login("holder@example.com", "laptop").await;
    let id = report(&app, &holder, "I did not sign in from Lagos").await["id"].as_str().unwrap().to_owned();
    let (agent, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    let case_path = |what: &str| format!("/api/v1/support/incidents/{id}/{what}");
    let account =
        app.store.account_by_uid(custos_core::ids::Uid::parse(&uid).unwrap()).await.unwrap().unwrap();
    let chain_len = |app: &TestApp| {
        let key = Chain::Account(account.id).key();
        let store = app.store.clone();
        async move { store.audit_records(&key, 0, 10_000).await.unwrap().len() }
    };
    let before = chain_len(&app).await;

    // No reason, a blank one, an oversized one: 422 with the reason code, nothing changed.
    let long = "x".repeat(501);
    for (path, body, code) in [
        (case_path("state"), json!({"state": "triage"}), "reason-required"),
        (case_path("state"), json!({"state": "triage", "reason": "   "}), "reason-required"),
        (case_path("state"), json!({"state": "triage", "reason": long}), "reason-too-long"),
        (case_path("assign"), json!({"staff_id": "me"}), "reason-required"),
        (format!("/api/v1/support/accounts/{uid}/freeze"), json!({}), "reason-required"),
        (format!("/api/v1/support/accounts/{uid}/freeze"), json!({"reason": "a\u{7}b"}), "reason-invalid"),
        (case_path("assign"), json!({"staff_id": "CS-000000", "reason": "r"}), "assignee-invalid"),
        (case_path("notes"), json!({"body": ""}), "message-empty"),
        (case_path("messages"), json!({"body": "y".repeat(4001)}), "message-too-long"),
    ] {
        let (status, p) = problem(staff_post(&app, &agent, &path, body).await).await;
        assert_eq!((status, codes(&p)), (StatusCode::UNPROCESSABLE_ENTITY, vec![code.to_owned()]), "{path}");
    }
    assert_eq!(chain_len(&app).await, before, "no audit record: nothing happened");
    let case = app.store.incident(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((case.state.as_str(), case.assignee.as_deref()), ("new", None));
    assert_eq!(app.store.account_by_uid(account.uid).await.unwrap().unwrap().status.as_str(), "active");

    // The transition table decides: a new case cannot be closed; garbage is not a state.
    let (status, p) = problem(
        staff_post(&app, &agent, &case_path("state"), json!({"state": "closed", "reason": "done"})).await,
    )
    .await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["incident-transition-refused".to_owned()]));
    let (status, p) =
        problem(staff_post(&app, &agent, &case_path("state"), json!({"state": "gone", "reason": "r"})).await)
            .await;
    assert_eq!((status, codes(&p)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["state-invalid".to_owned()]));
    let moved = json_ok(
        staff_post(&app, &agent, &case_path("state"), json!({"state": "investigating", "reason": "looking"}))
            .await,
    )
    .await;
    assert_eq!(moved["state"], "investigating");

    // Unknown and malformed ids: 404, the same for all.
    let ghost = "0193a1b2-0000-7000-8000-000000000000";
    for (path, body) in [
        (format!("/api/v1/support/incidents/{ghost}/state"), json!({"state": "triage", "reason": "r"})),
        (format!("/api/v1/support/incidents/{ghost}/assign"), json!({"staff_id": "me", "reason": "r"})),
        (format!("/api/v1/support/incidents/{ghost}/messages"), json!({"body": "b"})),
        ("/api/v1/support/incidents/not-an-id/notes".to_owned(), json!({"body": "b"})),
        (format!("/api/v1/support/withdrawals/{ghost}/intercept"), json!({"reason": "r"})),
        ("/api/v1/support/withdrawals/nope/cancel".to_owned(), json!({"reason": "r"})),
        ("/api/v1/support/accounts/garbage/freeze".to_owned(), json!({"reason": "r"})),
    ] {
        let (status, p) = problem(staff_post(&app, &agent, &path, body).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {p}");
    }
    for path in [format!("/api/v1/support/incidents/{ghost}"), "/api/v1/support/incidents/nope".to_owned()] {
        assert_eq!(app.get_authed(&path, &agent).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        format!("/api/v1/support/withdrawals/{ghost}/cancel"),
        "/api/v1/support/accounts/999999999/freeze".to_owned(),
    ] {
        let (status, _) = problem(staff_post(&app, &agent, &path, json!({"reason": "r"})).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    // An internal note: in the staff view, never anywhere the holder looks.
    let note = "<b>SIM swap</b> suspected; caller could not name the last deposit";
    let r = staff_post(&app, &agent, &case_path("notes"), json!({"body": note})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let view = json_ok(app.get_authed(&format!("/api/v1/support/incidents/{id}"), &agent).await).await;
    assert_eq!(view["notes"][0]["body"], note);
    assert!(view["timeline"]["items"].as_array().unwrap().iter().any(|i| i["kind"] == "note"));
    let thread =
        app.get_authed(&format!("/api/v1/incidents/{id}/messages"), &holder).await.text().await.unwrap();
    assert!(!thread.contains("SIM swap"), "{thread}");
    let cases = app.get_authed("/api/v1/incidents", &holder).await.text().await.unwrap();
    assert!(!cases.contains("SIM swap"));

    // A staff freeze (channel support): audited with the reason; the case link goes to the holder.
    let why = "Holder called from the registered number";
    let frozen = json_ok(
        staff_post(&app, &agent, &format!("/api/v1/support/accounts/{uid}/freeze"), json!({"reason": why}))
            .await,
    )
    .await;
    assert_eq!(frozen["already_frozen"], false);
    assert_eq!(frozen["receipt"]["channel"], "support", "{frozen}");
    assert!(frozen.get("case_link").is_none(), "the case link is the holder's, not staff's");
    let records = app.store.audit_records(&Chain::Account(account.id).key(), 0, 10_000).await.unwrap();
    assert!(
        records.iter().any(|r| matches!(&r.event, AuditEvent::AccountFrozen { .. })
            && matches!(r.actor, Actor::Staff { .. }))
    );
    assert!(records.iter().any(|r| matches!(&r.event, AuditEvent::StaffActed { action, reason, .. } if action == "freeze_account" && reason == why)));
    let mail = app.wait_for_mail("holder@example.com", &format!("Your case about account {uid}")).await;
    let link = link_token(&mail.text_body, "/case/");
    let page = app.get(&format!("/case/{link}")).await.text().await.unwrap();
    assert!(page.contains("I did not sign in from Lagos"), "the case link opens the case");
    assert!(!page.contains("SIM swap"), "notes never reach the case link page");
    let again = json_ok(
        staff_post(&app, &agent, &format!("/api/v1/support/accounts/{uid}/freeze"), json!({"reason": why}))
            .await,
    )
    .await;
    assert_eq!(again["already_frozen"], true);
}

async fn an_agent_sees_the_recent_window_and_an_analyst_the_full_timeline(app: TestApp) {
    app.verified_account("long@example.com").await;
    app.login("long@example.com", "old-laptop").await;
    app.clock.advance(Duration::from_secs(40 * 24 * 3600));
    let holder = app.login("long@example.com", "new-phone").await;
    let id = report(&app, &holder, "Something is off").await["id"].as_str().unwrap().to_owned();
    let (agent, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    let (analyst, _) = signed_in_staff(&app, "analyst@custos.example", "analyst").await;
    let path = format!("/api/v1/support/incidents/{id}");
    let a = json_ok(app.get_authed(&path, &agent).await).await;
    let b = json_ok(app.get_authed(&path, &analyst).await).await;
    let sign_ins = |v: &Value| {
        v["timeline"]["items"].as_array().unwrap().iter().filter(|i| i["kind"] == "sign_in").count()
    };
    assert_eq!((a["timeline"]["full"].as_bool(), b["timeline"]["full"].as_bool()), (Some(false), Some(true)));
    assert!(a["timeline"]["since"].is_string());
    assert_eq!(sign_ins(&a), 1, "the agent sees the last 30 days");
    assert_eq!(sign_ins(&b), 2, "the analyst sees the sign-in 40 days ago too");
    let security = |v: &Value| {
        v["timeline"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["summary"].as_str().unwrap().contains("account registered"))
    };
    assert!(!security(&a) && security(&b), "registration is 40 days old");

    // Outside the role is 403 with nothing changed: an agent may not change what is official.
    let before = json_ok(app.get_authed("/api/v1/support/official-channels", &agent).await).await;
    let r = staff_post(
        &app,
        &agent,
        "/api/v1/support/official-channels",
        json!({"kind": "domain", "value": "evil.example"}),
    )
    .await;
    let (status, p) = problem(r).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["staff-role-insufficient".to_owned()]));
    let after = json_ok(app.get_authed("/api/v1/support/official-channels", &agent).await).await;
    assert_eq!(before, after);
}

async fn an_agent_cancels_a_withdrawal_awaiting_confirmation_and_the_funds_come_back(app: TestApp) {
    let (_uri, token) = funded(&app, "saver@example.com").await;
    let w = json_ok(crate::money::withdraw(&app, &token, crate::money::btc("0.3"), None).await).await;
    let wid = w["id"].as_str().unwrap().to_owned();
    assert_eq!(w["state"], "awaiting_confirmation");
    let id =
        report(&app, &token, "I did not ask for this withdrawal").await["id"].as_str().unwrap().to_owned();
    let (agent, _) = signed_in_staff(&app, "agent@custos.example", "agent").await;
    let view = json_ok(app.get_authed(&format!("/api/v1/support/incidents/{id}"), &agent).await).await;
    let open = view["timeline"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["open_withdrawal"]["id"] == wid.as_str())
        .cloned()
        .expect("the withdrawal");
    assert_eq!(open["open_withdrawal"]["action"], "cancel");
    let (status, p) = problem(
        staff_post(
            &app,
            &agent,
            &format!("/api/v1/support/withdrawals/{wid}/intercept"),
            json!({"reason": "r"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["withdrawal-not-processing".to_owned()]));
    let done = json_ok(
        staff_post(
            &app,
            &agent,
            &format!("/api/v1/support/withdrawals/{wid}/cancel"),
            json!({"reason": "holder did not ask for it"}),
        )
        .await,
    )
    .await;
    assert_eq!(done["state"], "cancelled");
    let (available, locked) = crate::money::balance(&app, &token, "BTC").await;
    assert_eq!((available.as_str(), locked.as_str()), ("2", "0"), "the funds are back");
    let w = app.store.withdrawal(wid.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(w.cancelled_by.as_deref(), Some("support"));
    let (status, p) = problem(
        staff_post(
            &app,
            &agent,
            &format!("/api/v1/support/withdrawals/{wid}/cancel"),
            json!({"reason": "again"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["withdrawal-final".to_owned()]));
}
