//! The withdrawal address allowlist over HTTP with an injected clock: an address is usable only
//! after its emailed confirmation and 24 hours of cooling; turning the list off takes 48 hours and
//! is cancelled by turning it on; loosening needs a fresh aal2 step-up, tightening never does; bad
//! entries are refused with reason codes and store nothing. The flows run on SQLite and PostgreSQL.

use std::time::Duration;

use custos_core::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{json_ok, pyotp_code, second_factor_login, wait_for_subject_prefix};
use crate::helpers::*;
use crate::money::{btc, funded, withdraw};

const BTC_ADDRESS: &str = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
const H: u64 = 3_600;

fn codes(problem: &Value) -> Vec<String> {
    problem["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

async fn list(app: &TestApp, token: &str) -> Value {
    json_ok(app.get_authed("/api/v1/allowlist", token).await).await
}

async fn add(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/api/v1/allowlist")).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn set_mode(app: &TestApp, token: &str, enabled: bool) -> reqwest::Response {
    app.http
        .put(app.url("/api/v1/allowlist/mode"))
        .bearer_auth(token)
        .json(&json!({ "enabled": enabled }))
        .send()
        .await
        .unwrap()
}

fn cold_wallet() -> Value {
    json!({ "asset": "BTC", "network": "BTC", "address": BTC_ADDRESS, "label": "cold wallet" })
}

/// Signs in again with password and TOTP: a fresh aal2 session, stepped up now (sessions end
/// after 12 hours, and the tests move the clock by days).
async fn sign_in_again(app: &TestApp, email: &str, uri: &str) -> String {
    let code = pyotp_code(app, uri);
    json_ok(second_factor_login(app, email, "totp", &code).await).await["session_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits (bounded) for a delivered mail to `to` whose text holds `needle`.
async fn wait_for_body(app: &TestApp, to: &str, needle: &str) -> custos_store::DevMail {
    for _ in 0..250 {
        if let Some(m) = app.mails_to(to).await.into_iter().find(|m| m.text_body.contains(needle)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail to {to} saying {needle:?}");
}

/// Moves the clock by `d` and signs in again.
async fn later(app: &TestApp, email: &str, uri: &str, d: Duration) -> String {
    app.clock.advance(d);
    sign_in_again(app, email, uri).await
}

async fn refused_withdrawal(app: &TestApp, token: &str) -> Vec<String> {
    let (status, p) = problem(withdraw(app, token, btc("0.1"), None).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{p}");
    codes(&p)
}

async fn accepted_withdrawal(app: &TestApp, token: &str) {
    let r = withdraw(app, token, btc("0.1"), None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
}

/// add → confirm by the emailed link → denied while cooling → allowed once 24 h have passed.
async fn an_address_cools_down_after_its_emailed_confirmation(app: &TestApp, email: &str) {
    let (uri, token) = funded(app, email).await;
    let on = json_ok(set_mode(app, &token, true).await).await;
    assert_eq!((on["mode"].as_str(), on["enforced"].as_bool()), (Some("on"), Some(true)));

    // On, and the address is not listed: denied with the gate's reason, nothing reserved.
    assert_eq!(refused_withdrawal(app, &token).await, ["address-not-allowlisted"]);

    let r = add(app, &token, cold_wallet()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let entry: Value = r.json().await.unwrap();
    assert_eq!(entry["state"], "awaiting_confirmation");
    assert!(entry["usable_from"].is_null() && entry["confirm_by"].is_string());
    // Awaiting its confirmation, the entry counts for nothing.
    assert_eq!(refused_withdrawal(app, &token).await, ["address-not-allowlisted"]);

    let mail = wait_for_subject_prefix(app, email, "Confirm a new withdrawal address").await;
    assert!(mail.text_body.contains(BTC_ADDRESS), "the email shows the address");
    assert!(mail.text_body.contains("24 hours"), "and the cooling period");
    let link = link_token(&mail.text_body, "/confirm-allowlist-entry/");
    // The link's page shows the address and changes nothing (mail scanners prefetch links).
    let page = app.http.get(app.url(&format!("/confirm-allowlist-entry/{link}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(BTC_ADDRESS));
    assert_eq!(list(app, &token).await["entries"][0]["state"], "awaiting_confirmation");

    let confirmed = json_ok(app.post_json("/api/v1/allowlist/confirm", json!({ "token": link })).await).await;
    assert_eq!(confirmed["state"], "cooling");
    let usable_from = app.clock.now().plus(Duration::from_secs(24 * H));
    assert_eq!(confirmed["usable_from"].as_str(), Some(usable_from.rfc3339().as_str()));
    let (status, _) =
        problem(app.post_json("/api/v1/allowlist/confirm", json!({ "token": link })).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the link works once");

    let (status, p) = problem(withdraw(app, &token, btc("0.1"), None).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["allowlist-entry-cooling".to_owned()]));
    assert_eq!(p["reasons"][0]["until"].as_i64(), Some(usable_from.as_micros()), "says until when");

    // One second before the end of the cooling period: still cooling.
    let token = later(app, email, &uri, Duration::from_secs(24 * H - 1)).await;
    assert_eq!(refused_withdrawal(app, &token).await, ["allowlist-entry-cooling"]);
    // At the end: usable.
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(list(app, &token).await["entries"][0]["state"], "active");
    accepted_withdrawal(app, &token).await;
    // Another address is still refused.
    let other = json!({ "asset": "BTC", "network": "BTC", "address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "amount": "0.1" });
    let (_, p) = problem(withdraw(app, &token, other, None).await).await;
    assert_eq!(codes(&p), ["address-not-allowlisted"]);
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert!(report.broken.is_empty(), "{report:?}");
}

/// Off takes 48 h (still enforced at 47 h 59 m), is emailed, and turning it on cancels it.
async fn turning_off_takes_48_hours_and_is_cancelled_by_turning_on(app: &TestApp, email: &str) {
    let (uri, token) = funded(app, email).await;
    json_ok(set_mode(app, &token, true).await).await;
    let asked = app.clock.now();
    let off = json_ok(set_mode(app, &token, false).await).await;
    let due = asked.plus(Duration::from_secs(48 * H));
    assert_eq!((off["mode"].as_str(), off["enforced"].as_bool()), (Some("turning_off"), Some(true)));
    assert_eq!(off["turns_off_at"].as_str(), Some(due.rfc3339().as_str()));
    let mail = wait_for_body(app, email, "asked to turn off your withdrawal allowlist").await;
    assert_eq!(mail.subject, "Your withdrawal allowlist changed");
    assert!(mail.text_body.contains("turn the allowlist on again"), "{}", mail.text_body);
    assert!(mail.text_body.contains(&due.to_string()), "says when: {}", mail.text_body);
    // Asking again does not restart the delay.
    app.clock.advance(Duration::from_secs(60));
    let again = json_ok(set_mode(app, &token, false).await).await;
    assert_eq!(again["turns_off_at"].as_str(), Some(due.rfc3339().as_str()));

    let token = later(app, email, &uri, Duration::from_secs(48 * H - 60 - 60)).await;
    assert_eq!(refused_withdrawal(app, &token).await, ["address-not-allowlisted"], "enforced at 47 h 59 m");

    // Cancelled by turning it on: still enforced after the time it would have turned off.
    let on = json_ok(set_mode(app, &token, true).await).await;
    assert_eq!((on["mode"].as_str(), on["turns_off_at"].as_str()), (Some("on"), None));
    let token = later(app, email, &uri, Duration::from_secs(2 * H)).await;
    assert_eq!(refused_withdrawal(app, &token).await, ["address-not-allowlisted"]);

    // Asked again, it runs its full 48 hours, and then it is off.
    json_ok(set_mode(app, &token, false).await).await;
    let token = later(app, email, &uri, Duration::from_secs(48 * H)).await;
    let now = list(app, &token).await;
    assert_eq!((now["mode"].as_str(), now["enforced"].as_bool()), (Some("off"), Some(false)));
    accepted_withdrawal(app, &token).await;
}

#[tokio::test]
async fn an_allowlisted_address_is_usable_only_after_email_confirmation_and_24_hours() {
    let app = spawn_app().await;
    an_address_cools_down_after_its_emailed_confirmation(&app, "cooling@example.com").await;
}

#[tokio::test]
async fn turning_the_allowlist_off_takes_48_hours_and_turning_it_on_again_cancels_it() {
    let app = spawn_app().await;
    turning_off_takes_48_hours_and_is_cancelled_by_turning_on(&app, "leaving@example.com").await;
}

#[tokio::test]
async fn on_postgres_an_allowlisted_address_cools_down_before_use() {
    let Some(app) = spawn_app_on_postgres("API flow: allowlist cooling").await else { return };
    an_address_cools_down_after_its_emailed_confirmation(&app, "cooling.pg@example.com").await;
}

#[tokio::test]
async fn on_postgres_turning_the_allowlist_off_takes_48_hours() {
    let Some(app) = spawn_app_on_postgres("API flow: allowlist turn-off").await else { return };
    turning_off_takes_48_hours_and_is_cancelled_by_turning_on(&app, "leaving.pg@example.com").await;
}

#[tokio::test]
async fn loosening_needs_a_fresh_second_factor_step_up_and_tightening_never_does() {
    let app = spawn_app().await;
    let (uri, token) = funded(&app, "stale@example.com").await;
    json_ok(add(&app, &token, cold_wallet()).await).await;
    // The step-up lapses (10 minutes); the session lives on.
    app.clock.advance(Duration::from_secs(11 * 60));
    let other = json!({ "asset": "BTC", "network": "BTC", "address": "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "label": "x" });
    let (status, p) = problem(add(&app, &token, other).await).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("urn:custos:problem:step-up-required"))
    );
    assert_eq!(codes(&p), ["step-up-required"]);
    assert!(p["methods"].as_array().unwrap().iter().any(|m| m == "totp"));

    // Tightening: on, with no step-up.
    assert_eq!(json_ok(set_mode(&app, &token, true).await).await["mode"], "on");
    // Loosening: off needs the step-up; nothing changes without it.
    let (status, p) = problem(set_mode(&app, &token, false).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["step-up-required".to_owned()]));
    assert_eq!(list(&app, &token).await["mode"], "on");
    // Removing is tightening too.
    let id = list(&app, &token).await["entries"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/allowlist/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(list(&app, &token).await["entries"].as_array().unwrap().is_empty());
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/allowlist/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::NOT_FOUND, "removed once");
    // The removed entry's emailed link no longer confirms anything.
    let mail = wait_for_subject_prefix(&app, "stale@example.com", "Confirm a new withdrawal address").await;
    let link = link_token(&mail.text_body, "/confirm-allowlist-entry/");
    let (status, p) =
        problem(app.post_json("/api/v1/allowlist/confirm", json!({ "token": link })).await).await;
    assert_eq!(
        (status, p["type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("urn:custos:problem:link-invalid"))
    );
    wait_for_body(&app, "stale@example.com", "was removed from your withdrawal allowlist").await;

    // After a step-up with the second factor, off is accepted.
    let code = pyotp_code(&app, &uri);
    let r = app
        .http
        .post(app.url("/api/v1/auth/step-up"))
        .bearer_auth(&token)
        .json(&json!({ "method": "totp", "code": code }))
        .send()
        .await
        .unwrap();
    let token = json_ok(r).await["session_token"].as_str().unwrap().to_owned();
    assert_eq!(json_ok(set_mode(&app, &token, false).await).await["mode"], "turning_off");

    // An account without a second factor cannot add at all: it must enrol one first.
    app.verified_account("plain@example.com").await;
    let plain = app.login("plain@example.com", "laptop").await;
    let (status, p) = problem(add(&app, &plain, cold_wallet()).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["second-factor-required".to_owned()]));
    assert_eq!(p["type"], "urn:custos:problem:step-up-required");
}

#[tokio::test]
async fn bad_entries_are_refused_with_reason_codes_and_nothing_is_stored() {
    let app = spawn_app().await;
    let (_, token) = funded(&app, "typo@example.com").await;
    let entry = |asset: &str, network: &str, address: &str, memo: Option<&str>, label: &str| json!({ "asset": asset, "network": network, "address": address, "memo": memo, "label": label });
    let cases = [
        (
            entry("BTC", "BTC", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", None, "x"),
            vec!["address-invalid"],
        ),
        (
            entry("BTC", "BTC", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", None, "x"),
            vec!["address-invalid"],
        ),
        (
            entry("ETH", "ETH", BTC_ADDRESS, Some("1"), ""),
            vec!["address-invalid", "memo-not-allowed", "label-invalid"],
        ),
        (
            entry("USDT", "TRX", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", None, "x"),
            vec!["address-invalid"],
        ),
        (entry("DOGE", "DOGE", BTC_ADDRESS, None, "x"), vec!["unknown-asset"]),
        (entry("USDT", "SOL", BTC_ADDRESS, None, "x"), vec!["unknown-network"]),
    ];
    for (body, expected) in cases {
        let (status, p) = problem(add(&app, &token, body.clone()).await).await;
        assert_eq!(
            (status, codes(&p)),
            (StatusCode::UNPROCESSABLE_ENTITY, expected.iter().map(|s| s.to_string()).collect()),
            "{body}"
        );
    }
    // Not the expected shape: 400.
    let (status, _) = problem(add(&app, &token, json!({ "asset": "BTC", "colour": "red" })).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let r = app
        .http
        .put(app.url("/api/v1/allowlist/mode"))
        .bearer_auth(&token)
        .json(&json!({ "enabled": "yes" }))
        .send()
        .await
        .unwrap();
    assert_eq!(problem(r).await.0, StatusCode::BAD_REQUEST);
    assert!(list(&app, &token).await["entries"].as_array().unwrap().is_empty(), "nothing stored");
    assert!(app.mails_to("typo@example.com").await.iter().all(|m| !m.subject.contains("withdrawal address")));

    // The same destination twice: 409, once stored.
    json_ok(add(&app, &token, cold_wallet()).await).await;
    let upper =
        json!({ "asset": "btc", "network": "btc", "address": BTC_ADDRESS.to_uppercase(), "label": "again" });
    let (status, p) = problem(add(&app, &token, upper).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["allowlist-entry-duplicate".to_owned()]));
    assert_eq!(list(&app, &token).await["entries"].as_array().unwrap().len(), 1);
    // A malformed or foreign id is simply not found.
    let r = app.http.delete(app.url("/api/v1/allowlist/not-an-id")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(problem(r).await.0, StatusCode::NOT_FOUND);
}

async fn wait_for_withdrawal(app: &TestApp, id: &str, state: &str) -> custos_store::WithdrawalRecord {
    let wid = id.parse().unwrap();
    for _ in 0..250 {
        let w = app.store.withdrawal(wid).await.unwrap().unwrap();
        if w.state.as_str() == state {
            return w;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("withdrawal {id} never reached {state}");
}

#[tokio::test]
async fn turning_the_allowlist_on_stops_withdrawals_already_on_their_way_to_unlisted_addresses() {
    let app = spawn_app().await;
    let email = "late@example.com";
    let (_, token) = funded(&app, email).await;
    // Requested and confirmed while the allowlist is off: held (new device, new address).
    let held = json_ok(withdraw(&app, &token, btc("0.2"), None).await).await;
    let mail = wait_for_subject_prefix(&app, email, "Confirm your withdrawal of 0.2").await;
    let link = link_token(&mail.text_body, "/confirm-withdrawal/");
    let w = json_ok(app.post_json("/api/v1/withdrawals/confirm", json!({ "token": link })).await).await;
    assert_eq!(w["state"], "held");
    // Requested while off, not confirmed yet.
    let pending = json_ok(withdraw(&app, &token, btc("0.1"), None).await).await;
    let mail = wait_for_subject_prefix(&app, email, "Confirm your withdrawal of 0.1").await;
    let link = link_token(&mail.text_body, "/confirm-withdrawal/");

    json_ok(set_mode(&app, &token, true).await).await;

    // The confirmation is refused with the allowlist's reason; nothing changes.
    let (status, p) =
        problem(app.post_json("/api/v1/withdrawals/confirm", json!({ "token": link })).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::FORBIDDEN, vec!["address-not-allowlisted".to_owned()]));
    wait_for_withdrawal(&app, pending["id"].as_str().unwrap(), "awaiting_confirmation").await;

    // The hold ends: the held one is cancelled rather than sent, the other expires, and every
    // reserved unit is back.
    app.clock.advance(Duration::from_secs(24 * H + 1));
    let w = wait_for_withdrawal(&app, held["id"].as_str().unwrap(), "cancelled").await;
    assert_eq!(w.cancelled_by.as_deref(), Some("allowlist"));
    assert!(w.txid.is_none());
    let w = wait_for_withdrawal(&app, pending["id"].as_str().unwrap(), "cancelled").await;
    assert_eq!(w.cancelled_by.as_deref(), Some("expired"));
    let mail = wait_for_body(&app, email, "withdrawal allowlist does not allow this address").await;
    assert!(mail.subject.starts_with("Withdrawal of 0.2 BTC"), "{}", mail.subject);
}

#[tokio::test]
async fn a_full_allowlist_refuses_one_more_address_and_stores_nothing() {
    let app = spawn_app().await;
    let (_, token) = funded(&app, "full@example.com").await;
    let account = app.store.account_by_email_key("full@example.com").await.unwrap().unwrap();
    let now = app.clock.now();
    let mut tx = app.store.begin().await.unwrap();
    for i in 0..custos_core::allowlist::MAX_ENTRIES {
        let e = custos_store::AllowlistEntryRecord {
            id: custos_core::ids::AllowlistEntryId::new(),
            account_id: account.id,
            asset: "USDT".into(),
            network: "TRX".into(),
            address: "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".into(),
            memo: Some(format!("{i}")),
            label: format!("entry {i}"),
            created_at: now,
            confirm_by: now.plus(Duration::from_secs(H)),
            confirmed_at: Some(now),
            usable_from: Some(now),
            removed_at: None,
        };
        tx.insert_allowlist_entry(&e).await.unwrap();
    }
    tx.commit().await.unwrap();
    let (status, p) = problem(add(&app, &token, cold_wallet()).await).await;
    assert_eq!((status, codes(&p)), (StatusCode::CONFLICT, vec!["allowlist-full".to_owned()]));
    assert_eq!(list(&app, &token).await["entries"].as_array().unwrap().len(), 200);
    // Removing one makes room.
    let id = list(&app, &token).await["entries"][0]["id"].as_str().unwrap().to_owned();
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/allowlist/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(add(&app, &token, cold_wallet()).await.status(), StatusCode::CREATED);
}
