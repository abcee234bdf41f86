//! The `http` wallet connector against a separate wallet-service process
//! (`tests/python/wallet_service.py`) that verifies every call with the reference Standard
//! Webhooks library: hand-over with retry, the wallet's reports on the integration API, status
//! polling, and interception of a `processing` withdrawal.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::webhook::WebhookSecret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::json_ok;
use crate::helpers::*;
use crate::money::{balance, btc, codes, funded, wait_for_state, withdraw};

const EMAIL: &str = "treasurer@example.com";

/// The app handing withdrawals to `wallet`, with holds that end at once (the wallet checks
/// signatures' timestamps against its own clock, so the injected clock cannot jump a day ahead).
pub(crate) async fn app_for(wallet: &PythonServer, secret: &WebhookSecret) -> TestApp {
    let app = spawn_app_with(Options {
        wallet: Some((format!("{}/v1", wallet.base()), secret.expose())),
        withdrawal_hold: Some(Duration::ZERO),
        ..Default::default()
    })
    .await;
    app.clock.set(Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()));
    app
}

/// Confirms the newest withdrawal by its emailed link; `used` holds the links already used.
pub(crate) async fn confirm_next(app: &TestApp, used: &mut Vec<String>) {
    for _ in 0..250 {
        let fresh = app
            .mails_to(EMAIL)
            .await
            .into_iter()
            .filter(|m| m.subject.starts_with("Confirm your withdrawal"))
            .map(|m| link_token(&m.text_body, "/confirm-withdrawal/"))
            .find(|t| !used.contains(t));
        if let Some(token) = fresh {
            json_ok(app.post_json("/api/v1/withdrawals/confirm", json!({ "token": token })).await).await;
            used.push(token);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no new confirmation mail");
}

/// Requests `amount` BTC, confirms it by mail, and waits until custos has claimed it for the
/// wallet; returns its id.
pub(crate) async fn to_processing(
    app: &TestApp,
    token: &str,
    amount: &str,
    used: &mut Vec<String>,
) -> String {
    let w: Value = withdraw(app, token, btc(amount), None).await.json().await.unwrap();
    let id = w["id"].as_str().unwrap().to_owned();
    confirm_next(app, used).await;
    wait_for_state(app, &id, "processing").await;
    id
}

async fn report(app: &TestApp, id: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut r = app.http.post(app.url(&format!("/api/v1/integration/wallet/withdrawals/{id}"))).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// Waits (bounded) for a logged request matching `pred`.
pub(crate) async fn wait_logged(wallet: &PythonServer, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..250 {
        if let Some(e) = wallet.logged().into_iter().find(|e| pred(e)) {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the wallet never logged the expected request; it logged {} others", wallet.logged().len());
}

#[tokio::test]
async fn withdrawals_go_to_the_wallet_service_signed_and_its_reports_move_them() {
    let secret = WebhookSecret::generate();
    // The wallet is busy for the first hand-over: custos must hand it over again.
    let wallet = PythonServer::start("wallet_service.py", &[&secret.expose(), "1"]).await;
    let app = app_for(&wallet, &secret).await;
    let (_uri, token) = funded(&app, EMAIL).await;
    let mut used = Vec::new();
    let id = to_processing(&app, &token, "0.5", &mut used).await;

    let is_submission = |e: &Value| e["method"] == "POST" && e["path"] == "/v1/withdrawals";
    let accepted = wait_logged(&wallet, |e| is_submission(e) && e["status"] == 202).await;
    let submissions: Vec<Value> = wallet.logged().into_iter().filter(|e| is_submission(e)).collect();
    assert_eq!(submissions[0]["status"], 503, "the first hand-over was refused");
    assert!(submissions.len() >= 2);
    assert_eq!(
        submissions[0]["webhook_id"], accepted["webhook_id"],
        "a retried hand-over carries the same message id, so the wallet can deduplicate it"
    );
    let handed: Value = serde_json::from_str(accepted["body"].as_str().unwrap()).unwrap();
    assert_eq!(handed["id"], id.as_str());
    assert_eq!((handed["asset"].as_str(), handed["amount"].as_str()), (Some("BTC"), Some("0.5")));
    assert_eq!(handed["address"], btc("0.5")["address"]);
    assert!(handed["fee"].as_str().unwrap().parse::<f64>().is_ok());
    assert!(wallet.logged().iter().all(|e| e["verified"] == true), "every call custos made verifies");

    // The wallet reports back on the integration API; only a service may.
    let broadcast = json!({ "state": "broadcast", "txid": "9f2c1a0b7e" });
    assert_eq!(report(&app, &id, None, broadcast.clone()).await.status(), StatusCode::UNAUTHORIZED);
    let (status, p) = problem(report(&app, &id, Some(SERVICE_TOKEN), json!({ "state": "sent" })).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{p}");
    let (status, p) = problem(
        report(&app, &id, Some(SERVICE_TOKEN), json!({ "state": "broadcast", "txid": "a\nb" })).await,
    )
    .await;
    assert_eq!(
        (status, codes(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["wallet-report-invalid".to_owned()])
    );
    let (status, p) =
        problem(report(&app, &id, Some(SERVICE_TOKEN), json!({ "state": "confirmed" })).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["wallet-report-out-of-order".to_owned()]));
    let (status, _) = problem(
        report(&app, "0193a1b2-0000-7000-8000-000000000000", Some(SERVICE_TOKEN), broadcast.clone()).await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let sent = json_ok(report(&app, &id, Some(SERVICE_TOKEN), broadcast.clone()).await).await;
    assert_eq!((sent["state"].as_str(), sent["txid"].as_str()), (Some("broadcast"), Some("9f2c1a0b7e")));
    let again = json_ok(report(&app, &id, Some(SERVICE_TOKEN), broadcast).await).await;
    assert_eq!(again["state"], "broadcast", "a repeated report changes nothing");
    let (available, locked) = balance(&app, &token, "BTC").await;
    assert_eq!(locked, "0", "the reservation left with the broadcast");
    assert!(available.starts_with("1.4"), "2 − 0.5 − fee = {available}");

    // Confirmation arrives by polling: the wallet now says so.
    let control = app.http.post(format!("{}/control/{id}", wallet.base()));
    let set = control.json(&json!({ "state": "confirmed" })).send().await.unwrap();
    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    let done = wait_for_state(&app, &id, "confirmed").await;
    assert_eq!(done["txid"], "9f2c1a0b7e");

    // A processing withdrawal the owner cancels is intercepted by the wallet.
    let id = to_processing(&app, &token, "0.25", &mut used).await;
    wait_logged(&wallet, |e| {
        is_submission(e) && e["status"] == 202 && e["body"].as_str().unwrap().contains(&id)
    })
    .await;
    let c = json_ok(app.post_authed(&format!("/api/v1/withdrawals/{id}/cancel"), &token).await).await;
    assert_eq!((c["state"].as_str(), c["intercept"].as_str()), (Some("cancelled"), Some("intercepted")));
    let asked = wait_logged(&wallet, |e| e["path"] == format!("/v1/withdrawals/{id}/intercept")).await;
    assert_eq!(asked["verified"], true);
    let (_, locked) = balance(&app, &token, "BTC").await;
    assert_eq!(locked, "0", "the intercepted amount is back");
}

#[tokio::test]
async fn an_unreachable_wallet_stops_nothing_and_the_refusal_says_so() {
    let secret = WebhookSecret::generate();
    let wallet = PythonServer::start("wallet_service.py", &[&secret.expose(), "0"]).await;
    let app = app_for(&wallet, &secret).await;
    let (_uri, token) = funded(&app, EMAIL).await;
    let id = to_processing(&app, &token, "0.5", &mut Vec::new()).await;
    wait_logged(&wallet, |e| e["status"] == 202).await;
    drop(wallet);

    let (status, p) =
        problem(app.post_authed(&format!("/api/v1/withdrawals/{id}/cancel"), &token).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["withdrawal-not-intercepted".to_owned()]));
    let w = app.store.withdrawal(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(w.state.as_str(), "processing", "nothing is assumed: it may still be sent");
    assert!(w.intercept.unwrap().starts_with("wallet unreachable"));
    let (_, locked) = balance(&app, &token, "BTC").await;
    assert_ne!(locked, "0", "the funds stay reserved while the wallet may still send them");
}
