//! The support console over HTTP, on SQLite and PostgreSQL: the scenario end to end (a
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

    // The holder freezes with the disable link of a security email to their address.
    let told = wait_for_body(&app, EMAIL, "/disable/").await;
    let answer = json_ok(freeze_json(&app, &link_token(&told.text_body, "/disable/")).await).await;
    assert_eq!(answer["already_frozen"], false);
    let case_link = answer["case_link"].as_str().expect("the receipt carries the case link").to_owned();
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
        .account_by_email_key(&custos_core::email::Email::parse(EMAIL).unwrap().key())
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
    assert_eq!((facts["uid"].as_u64(), facts["email"].as_str()), (Some(account.uid.get()), Some(EMAIL)));
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
