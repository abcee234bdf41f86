//! Money out, driven over HTTP: deposits through the integration API, withdrawals through the
//! egress gate, confirmation by emailed link, holds, the simulated wallet, cancel and intercept.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{enrol_totp, json_ok};
use crate::helpers::*;

const BTC_ADDRESS: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";

async fn ledger_events(app: &TestApp, token: Option<&str>, events: Value) -> reqwest::Response {
    let mut r =
        app.http.post(app.url("/api/v1/integration/ledger-events")).json(&json!({ "events": events }));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

pub(crate) async fn deposit(app: &TestApp, uid: &str, asset: &str, amount: &str) {
    let id = format!("dep-{}", uuid::Uuid::new_v4());
    let events = json!([{ "event_id": id, "type": "deposit", "uid": uid.parse::<u64>().unwrap(),
        "asset": asset, "amount": amount }]);
    let r = json_ok(ledger_events(app, Some(SERVICE_TOKEN), events).await).await;
    assert_eq!(r["applied"], 1);
}

pub(crate) async fn balance(app: &TestApp, token: &str, asset: &str) -> (String, String) {
    let all = json_ok(app.get_authed("/api/v1/balances", token).await).await;
    let b = all.as_array().unwrap().iter().find(|b| b["asset"] == asset).unwrap().clone();
    (b["available"].as_str().unwrap().to_owned(), b["locked"].as_str().unwrap().to_owned())
}

pub(crate) async fn withdraw(
    app: &TestApp,
    token: &str,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut r = app.http.post(app.url("/api/v1/withdrawals")).bearer_auth(token).json(&body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    r.send().await.unwrap()
}

pub(crate) fn btc(amount: &str) -> Value {
    json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "amount": amount })
}

pub(crate) fn codes(problem: &Value) -> Vec<String> {
    problem["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

/// A verified account with TOTP, 2 BTC, and an aal2 session stepped up just now; returns the
/// otpauth URI and the session token.
pub(crate) async fn funded(app: &TestApp, email: &str) -> (String, String) {
    let uid = app.verified_account(email).await;
    let (uri, aal2, _) = enrol_totp(app, email).await;
    deposit(app, &uid, "BTC", "2").await;
    (uri, aal2)
}

/// Signs in again with password and a TOTP code (sessions end after 12 hours).
async fn sign_in_again(app: &TestApp, email: &str, uri: &str) -> String {
    let code = crate::credentials::pyotp_code(app, uri);
    let r = crate::credentials::second_factor_login(app, email, "totp", &code).await;
    json_ok(r).await["session_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn confirm_by_mail(app: &TestApp, email: &str) -> Value {
    let mail = crate::credentials::wait_for_subject_prefix(app, email, "Confirm your withdrawal").await;
    assert!(mail.text_body.contains(BTC_ADDRESS), "the email shows where the money goes");
    let token = link_token(&mail.text_body, "/confirm-withdrawal/");
    json_ok(app.post_json("/api/v1/withdrawals/confirm", json!({ "token": token })).await).await
}

/// Waits for the wallet worker to move a withdrawal; reads the store, since the clock may have
/// moved past every session.
pub(crate) async fn wait_for_state(app: &TestApp, id: &str, state: &str) -> Value {
    let wid = id.parse().unwrap();
    for _ in 0..250 {
        let w = app.store.withdrawal(wid).await.unwrap().unwrap();
        if w.state.as_str() == state {
            let view =
                custos_server::usecases::withdrawals::WithdrawalView::new(&w, &app.state.config.money.assets);
            return serde_json::to_value(view).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("withdrawal {id} never reached {state}");
}

#[tokio::test]
async fn deposits_arrive_once_per_event_id_from_an_authenticated_service_only() {
    let app = spawn_app().await;
    let uid: u64 = app.verified_account("feed@example.com").await.parse().unwrap();
    let token = app.login("feed@example.com", "laptop").await;
    let event =
        json!([{ "event_id": "ev-1", "type": "deposit", "uid": uid, "asset": "BTC", "amount": "1.5" }]);

    let (status, _) = problem(ledger_events(&app, None, event.clone()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) =
        problem(ledger_events(&app, Some("wrong-token-wrong-token-wrong-token"), event.clone()).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert_eq!(json_ok(ledger_events(&app, Some(SERVICE_TOKEN), event.clone()).await).await["applied"], 1);
    let again = json_ok(ledger_events(&app, Some(SERVICE_TOKEN), event).await).await;
    assert_eq!((again["applied"].as_u64(), again["duplicates"].as_u64()), (Some(0), Some(1)));
    assert_eq!(balance(&app, &token, "BTC").await, ("1.5".into(), "0".into()));

    // Same id, other content: refused, and nothing else in the batch is applied.
    let reused = json!([
        { "event_id": "ev-2", "type": "deposit", "uid": uid, "asset": "BTC", "amount": "1" },
        { "event_id": "ev-1", "type": "deposit", "uid": uid, "asset": "BTC", "amount": "9" },
    ]);
    let (status, p) = problem(ledger_events(&app, Some(SERVICE_TOKEN), reused).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["event-id-reused".to_owned()]));
    // Bad values: every one named, nothing applied.
    let bad = json!([
        { "event_id": "ev-3", "type": "deposit", "uid": uid, "asset": "BTC", "amount": "0.123456789" },
        { "event_id": "ev-4", "type": "deposit", "uid": uid, "asset": "DOGE", "amount": "1" },
        { "event_id": "ev-5", "type": "deposit", "uid": 123, "asset": "BTC", "amount": "1" },
        { "event_id": "ev-6", "type": "deposit", "uid": uid, "asset": "BTC", "amount": "-1" },
    ]);
    let (status, p) = problem(ledger_events(&app, Some(SERVICE_TOKEN), bad).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(codes(&p), ["amount-invalid", "unknown-asset", "unknown-account", "amount-invalid"]);
    // A trade fill can take money away, never below zero.
    let fill =
        json!([{ "event_id": "ev-7", "type": "trade_fill", "uid": uid, "asset": "BTC", "amount": "-2" }]);
    let (status, p) = problem(ledger_events(&app, Some(SERVICE_TOKEN), fill).await).await;
    assert_eq!(
        (status, codes(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["insufficient-balance".to_owned()])
    );
    let fill =
        json!([{ "event_id": "ev-8", "type": "trade_fill", "uid": uid, "asset": "BTC", "amount": "-0.5" }]);
    json_ok(ledger_events(&app, Some(SERVICE_TOKEN), fill).await).await;
    assert_eq!(balance(&app, &token, "BTC").await.0, "1");
}

#[tokio::test]
async fn a_withdrawal_is_confirmed_by_email_held_on_a_new_device_then_sent_and_final() {
    let app = spawn_app().await;
    // Without a second factor on the account, no money moves: the answer says to enrol one.
    let plain_uid = app.verified_account("no2fa@example.com").await;
    deposit(&app, &plain_uid, "BTC", "1").await;
    let plain = app.login("no2fa@example.com", "laptop").await;
    let (status, p) = problem(withdraw(&app, &plain, btc("0.5"), None).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["second-factor-required".to_owned()]));

    let (uri, token) = funded(&app, "saver@example.com").await;

    let r = withdraw(&app, &token, btc("0.5"), Some("k-1")).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let w: Value = r.json().await.unwrap();
    assert_eq!((w["state"].as_str(), w["fee"].as_str()), (Some("awaiting_confirmation"), Some("0.0002")));
    assert_eq!((w["requested_via"].as_str(), w["ip"].as_str()), (Some("session"), Some("127.0.0.1")));
    let id = w["id"].as_str().unwrap().to_owned();
    // Reserved at once: amount + fee.
    assert_eq!(balance(&app, &token, "BTC").await, ("1.4998".into(), "0.5002".into()));
    // A retry with the same key is the same withdrawal; the same key for something else is refused.
    let again: Value = withdraw(&app, &token, btc("0.5"), Some("k-1")).await.json().await.unwrap();
    assert_eq!(again["id"].as_str(), Some(id.as_str()));
    let (status, p) = problem(withdraw(&app, &token, btc("0.6"), Some("k-1")).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["idempotency-key-reused".to_owned()]));
    assert_eq!(balance(&app, &token, "BTC").await.1, "0.5002", "nothing more reserved");

    // Confirmed by the emailed link: held, because the device and the address are new.
    let w = confirm_by_mail(&app, "saver@example.com").await;
    assert_eq!(w["state"], "held");
    let mut reasons = codes(&json!({ "reasons": w["hold_reasons"] }));
    reasons.sort();
    assert_eq!(reasons, ["first-use-of-address", "new-device"]);
    assert!(w["hold_until"].is_string());

    // The hold runs out; the wallet takes it, and it can still be intercepted while processing.
    app.clock.advance(Duration::from_secs(24 * 3600 + 1));
    let w = wait_for_state(&app, &id, "processing").await;
    assert!(w["queued_at"].is_string() && w["processing_at"].is_string());
    assert_eq!(w["cancellable"], true);

    // Broadcast after the wallet's delay: final, and the money has left the ledger.
    app.clock.advance(Duration::from_secs(31));
    let w = wait_for_state(&app, &id, "broadcast").await;
    let token = sign_in_again(&app, "saver@example.com", &uri).await;
    assert_eq!(w["txid"].as_str().unwrap().len(), 64);
    assert_eq!(w["cancellable"], false);
    let (status, p) =
        problem(app.post_authed(&format!("/api/v1/withdrawals/{id}/cancel"), &token).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["withdrawal-final".to_owned()]));
    assert_eq!(balance(&app, &token, "BTC").await, ("1.4998".into(), "0".into()));
    app.clock.advance(Duration::from_secs(601));
    wait_for_state(&app, &id, "confirmed").await;
    let sent =
        crate::credentials::wait_for_subject_prefix(&app, "saver@example.com", "Withdrawal of 0.5 BTC: sent")
            .await;
    assert!(sent.text_body.contains(w["txid"].as_str().unwrap()));
}

#[tokio::test]
async fn cancelling_before_the_wallet_returns_the_funds_and_processing_ones_are_intercepted() {
    let app = spawn_app().await;
    let (uri, token) = funded(&app, "canceller@example.com").await;

    // Awaiting confirmation: cancelled at once, funds back, and the link no longer works.
    let w: Value = withdraw(&app, &token, btc("0.25"), None).await.json().await.unwrap();
    let id = w["id"].as_str().unwrap();
    let c = json_ok(app.post_authed(&format!("/api/v1/withdrawals/{id}/cancel"), &token).await).await;
    assert_eq!((c["state"].as_str(), c["cancelled_by"].as_str()), (Some("cancelled"), Some("user")));
    assert_eq!(balance(&app, &token, "BTC").await, ("2".into(), "0".into()));
    let mail =
        crate::credentials::wait_for_subject_prefix(&app, "canceller@example.com", "Confirm your withdrawal")
            .await;
    let link = link_token(&mail.text_body, "/confirm-withdrawal/");
    let (status, _) =
        problem(app.post_json("/api/v1/withdrawals/confirm", json!({ "token": link })).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Processing: the wallet is asked to intercept it, and does (it has not broadcast yet).
    let w: Value = withdraw(&app, &token, btc("0.25"), None).await.json().await.unwrap();
    let id = w["id"].as_str().unwrap().to_owned();
    let link = {
        let mut found = None;
        for _ in 0..250 {
            let all = app.mails_to("canceller@example.com").await;
            let confirms: Vec<_> =
                all.iter().filter(|m| m.subject.starts_with("Confirm your withdrawal")).collect();
            if confirms.len() == 2 {
                found = Some(
                    confirms
                        .iter()
                        .map(|m| link_token(&m.text_body, "/confirm-withdrawal/"))
                        .find(|t| *t != link)
                        .unwrap(),
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        found.expect("a second confirmation mail")
    };
    json_ok(app.post_json("/api/v1/withdrawals/confirm", json!({ "token": link })).await).await;
    app.clock.advance(Duration::from_secs(24 * 3600 + 1));
    wait_for_state(&app, &id, "processing").await;
    let token = sign_in_again(&app, "canceller@example.com", &uri).await;
    let c = json_ok(app.post_authed(&format!("/api/v1/withdrawals/{id}/cancel"), &token).await).await;
    assert_eq!((c["state"].as_str(), c["intercept"].as_str()), (Some("cancelled"), Some("intercepted")));
    assert_eq!(balance(&app, &token, "BTC").await, ("2".into(), "0".into()));

    // Someone else's withdrawal does not exist as far as this account can tell.
    app.verified_account("other@example.com").await;
    let stranger = app.login("other@example.com", "laptop").await;
    let (status, _) =
        problem(app.post_authed(&format!("/api/v1/withdrawals/{id}/cancel"), &stranger).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unconfirmed_withdrawal_is_cancelled_when_its_link_runs_out() {
    let app = spawn_app().await;
    let (_, token) = funded(&app, "forgetful@example.com").await;
    let w: Value = withdraw(&app, &token, btc("0.1"), None).await.json().await.unwrap();
    let id = w["id"].as_str().unwrap();
    app.clock.advance(Duration::from_secs(10 * 60 + 1));
    let fresh = token;
    let w = wait_for_state(&app, id, "cancelled").await;
    assert_eq!(w["cancelled_by"], "expired");
    assert_eq!(balance(&app, &fresh, "BTC").await.0, "2");
}

#[tokio::test]
async fn the_gate_names_every_reason_it_refuses_and_nothing_is_reserved() {
    let app = spawn_app().await;
    let (_, token) = funded(&app, "refused@example.com").await;

    let cases: [(Value, &[&str]); 2] =
        [(btc("3"), &["insufficient-balance"]), (btc("0.0001"), &["amount-below-minimum"])];
    for (body, want) in &cases {
        let (status, p) = problem(withdraw(&app, &token, body.clone(), None).await).await;
        assert_eq!((status, p["type"].as_str()), (StatusCode::FORBIDDEN, Some("urn:custos:problem:refused")));
        assert_eq!(codes(&p), *want);
    }
    // The daily limit (5 BTC) counts what was already requested today.
    deposit(
        &app,
        &app.store.account_by_email_key("refused@example.com").await.unwrap().unwrap().uid.to_string(),
        "BTC",
        "10",
    )
    .await;
    assert_eq!(withdraw(&app, &token, btc("4"), None).await.status(), StatusCode::ACCEPTED);
    let (_, p) = problem(withdraw(&app, &token, btc("1.5"), None).await).await;
    assert_eq!(codes(&p), ["daily-limit-exceeded"]);

    // A password change locks withdrawals for 24 hours (the credential matrix).
    let (available, _) = balance(&app, &token, "BTC").await;
    let r = app
        .http
        .post(app.url("/api/v1/security/password"))
        .bearer_auth(&token)
        .json(&json!({ "current_password": PASSWORD, "new_password": "an entirely new and long passphrase 42" }))
        .send()
        .await
        .unwrap();
    let changed = json_ok(r).await;
    let token = changed["session_token"].as_str().map(str::to_owned).unwrap_or(token);
    let (status, p) = problem(withdraw(&app, &token, btc("0.1"), None).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(codes(&p).contains(&"withdrawal-locked".to_owned()), "{p}");
    assert_eq!(balance(&app, &token, "BTC").await.0, available, "a refusal reserves nothing");

    // A step-up older than its window: the answer names the ways to step up again.
    app.clock.advance(Duration::from_secs(11 * 60));
    let (status, p) = problem(withdraw(&app, &token, btc("0.1"), None).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["step-up-required".to_owned()]));
    assert!(p["methods"].as_array().unwrap().iter().any(|m| m == "totp"), "{p}");
}

#[tokio::test]
async fn bad_withdrawal_input_is_refused_with_a_reason_and_changes_nothing() {
    let app = spawn_app().await;
    let (_, token) = funded(&app, "typo@example.com").await;
    let cases = [
        (
            json!({ "asset": "BTC", "network": "BTC", "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "amount": "0.1" }),
            "address-invalid",
        ),
        (
            json!({ "asset": "ETH", "network": "ETH", "address": "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", "amount": "0.1" }),
            "address-invalid",
        ),
        (
            json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "amount": "0.123456789" }),
            "amount-invalid",
        ),
        (
            json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "amount": "0" }),
            "amount-invalid",
        ),
        (
            json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "amount": "-1" }),
            "amount-invalid",
        ),
        (
            json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "amount": "1e3" }),
            "amount-invalid",
        ),
        (
            json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "amount": "999999999999999999999999999999999999999999" }),
            "amount-invalid",
        ),
        (
            json!({ "asset": "DOGE", "network": "DOGE", "address": BTC_ADDRESS, "amount": "1" }),
            "unknown-asset",
        ),
        (
            json!({ "asset": "USDT", "network": "SOL", "address": BTC_ADDRESS, "amount": "1" }),
            "unknown-network",
        ),
        (
            json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "memo": "123", "amount": "0.1" }),
            "memo-not-allowed",
        ),
    ];
    for (body, code) in cases {
        let (status, p) = problem(withdraw(&app, &token, body.clone(), None).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(codes(&p), [code], "{body}");
    }
    let (status, _) = problem(withdraw(&app, &token, json!({ "asset": "BTC" }), None).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(balance(&app, &token, "BTC").await, ("2".into(), "0".into()));
    assert!(
        json_ok(app.get_authed("/api/v1/withdrawals", &token).await).await.as_array().unwrap().is_empty()
    );
}

pub(crate) async fn transfer(app: &TestApp, token: &str, to_uid: &str, amount: &str) -> reqwest::Response {
    let body = json!({ "to_uid": to_uid.parse::<u64>().unwrap(), "asset": "BTC", "amount": amount });
    app.http.post(app.url("/api/v1/transfers")).bearer_auth(token).json(&body).send().await.unwrap()
}

/// (available, locked) of an account's BTC, from the store (sessions may have expired).
async fn btc_held(app: &TestApp, email: &str) -> (String, String) {
    let a = app.store.account_by_email_key(email).await.unwrap().unwrap();
    let b =
        app.store.balances(a.id).await.unwrap().into_iter().find(|(code, _)| code == "BTC").map(|(_, b)| b);
    let b = b.unwrap_or_default();
    (b.available.format(8), b.locked.format(8))
}

#[tokio::test]
async fn a_transfer_from_a_new_device_is_held_cancellable_and_settles_when_the_hold_ends() {
    let app = spawn_app().await;
    let (_, token) = funded(&app, "payer@example.com").await;
    let payee = app.verified_account("payee@example.com").await;

    // Refusals change nothing.
    let me = app.store.account_by_email_key("payer@example.com").await.unwrap().unwrap().uid.to_string();
    let (status, p) = problem(transfer(&app, &token, &me, "0.1").await).await;
    assert_eq!((status, codes(&p)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["transfer-to-self".to_owned()]));
    let (status, p) = problem(transfer(&app, &token, "100000001", "0.1").await).await;
    assert_eq!((status, codes(&p)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["unknown-recipient".to_owned()]));
    let (status, p) = problem(transfer(&app, &token, &payee, "2.5").await).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["insufficient-balance".to_owned()]));

    // Held (the session's device is new): reserved, and the sender can cancel it.
    let t = json_ok(transfer(&app, &token, &payee, "0.5").await).await;
    assert_eq!((t["state"].as_str(), t["direction"].as_str()), (Some("held"), Some("sent")));
    assert_eq!(codes(&json!({ "reasons": t["hold_reasons"] })), ["new-device"]);
    assert_eq!(btc_held(&app, "payer@example.com").await, ("1.5".into(), "0.5".into()));
    let id = t["id"].as_str().unwrap();
    let c = json_ok(app.post_authed(&format!("/api/v1/transfers/{id}/cancel"), &token).await).await;
    assert_eq!(c["state"], "cancelled");
    assert_eq!(btc_held(&app, "payer@example.com").await, ("2".into(), "0".into()));

    // Held again; when the hold ends the worker settles it into the payee's balance.
    let t = json_ok(transfer(&app, &token, &payee, "0.75").await).await;
    let id = t["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(24 * 3600 + 1));
    for _ in 0..250 {
        if btc_held(&app, "payee@example.com").await.0 == "0.75" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(btc_held(&app, "payee@example.com").await, ("0.75".into(), "0".into()));
    assert_eq!(
        btc_held(&app, "payer@example.com").await,
        ("1.25".into(), "0".into()),
        "nothing created or lost"
    );
    let settled = app.store.transfer(id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(settled.state.as_str(), "settled");
    crate::credentials::wait_for_subject_prefix(&app, "payee@example.com", "You received 0.75 BTC").await;
}

pub(crate) async fn authorize(app: &TestApp, body: Value) -> Value {
    let r = app
        .http
        .post(app.url("/api/v1/integration/authorize"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    json_ok(r).await
}

#[tokio::test]
async fn the_gateway_learns_whether_a_session_may_trade_or_move_money_now() {
    let app = spawn_app().await;
    let r = app
        .http
        .post(app.url("/api/v1/integration/authorize"))
        .json(&json!({"action": "trade"}))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::UNAUTHORIZED, "service callers only");
    let r = app
        .http
        .post(app.url("/api/v1/integration/authorize"))
        .bearer_auth(SERVICE_TOKEN)
        .json(&json!({"action": "trade"}))
        .send()
        .await
        .unwrap();
    let (status, p) = problem(r).await;
    assert_eq!(
        (status, codes(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["credential-required".to_owned()])
    );

    // Password only: may trade, may not move money.
    let uid = app.verified_account("trader@example.com").await;
    let plain = app.login("trader@example.com", "laptop").await;
    let a = authorize(&app, json!({"action": "trade", "session_token": plain})).await;
    assert_eq!((a["decision"].as_str(), a["uid"].as_u64()), (Some("allow"), uid.parse().ok()));
    let a = authorize(&app, json!({"action": "withdraw", "session_token": plain})).await;
    assert_eq!(
        (a["decision"].as_str(), codes(&a)),
        (Some("deny"), vec!["second-factor-required".to_owned()])
    );

    // Stepped up with a second factor: may withdraw, until the step-up is too old.
    let (_, aal2) = funded(&app, "mover@example.com").await;
    assert_eq!(
        authorize(&app, json!({"action": "transfer", "session_token": aal2})).await["decision"],
        "allow"
    );
    app.clock.advance(Duration::from_secs(11 * 60));
    let a = authorize(&app, json!({"action": "withdraw", "session_token": aal2})).await;
    assert_eq!(codes(&a), ["step-up-required"]);

    // An unknown or ended session: deny, and nothing says whose it might have been.
    let a = authorize(&app, json!({"action": "read", "session_token": "not-a-token"})).await;
    assert_eq!(
        (a["decision"].as_str(), codes(&a), a["uid"].is_null()),
        (Some("deny"), vec!["session-invalid".to_owned()], true)
    );
    let r = app.post_authed("/api/v1/auth/logout", &plain).await;
    assert!(r.status().is_success());
    let a = authorize(&app, json!({"action": "trade", "session_token": plain})).await;
    assert_eq!(codes(&a), ["session-invalid"]);
}
