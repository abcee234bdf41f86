//! Webhooks against the reference Standard Webhooks library: a Python receiver
//! (`tests/python/webhook_receiver.py`) verifies every delivery with `standardwebhooks`.

use std::time::Duration;

use custos_core::webhook::{WebhookEvent, WebhookSecret};
use custos_core::{Clock, Timestamp};
use custos_server::usecases::notify;
use custos_store::{OutboxRecord, OutboxTopic};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// The Python receiver; answers 500 to the first `fail_first` requests.
struct Receiver(PythonServer);

impl Receiver {
    async fn start(secret: &WebhookSecret, fail_first: u32) -> Self {
        Self(PythonServer::start("webhook_receiver.py", &[&secret.expose(), &fail_first.to_string()]).await)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/custos", self.0.port)
    }

    async fn requests(&self, n: usize) -> Vec<Value> {
        self.0.requests(n).await
    }
}

/// The app, sending webhooks to `receiver`. The receiver checks `webhook-timestamp` against its own
/// clock (five minutes' tolerance), so the injected clock starts at the real time.
async fn app_for(receiver: &Receiver, secret: &WebhookSecret) -> TestApp {
    let app =
        spawn_app_with(Options { webhook: Some((receiver.url(), secret.expose())), ..Default::default() })
            .await;
    app.clock.set(Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc()));
    app
}

/// Queues `event` the way a command does: inside a store transaction, then wakes the worker.
async fn queue(app: &TestApp, event: WebhookEvent, data: Value, key: &str) {
    let mut tx = app.store.begin().await.unwrap();
    let now = app.clock.now();
    notify::webhook(tx.as_mut(), &app.state, None, event, data, key.to_owned(), now).await.unwrap();
    tx.commit().await.unwrap();
    app.state.outbox_wake.notify_one();
}

async fn the_only_webhook_row(app: &TestApp) -> OutboxRecord {
    let pending = app.store.outbox_pending(10).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].topic, OutboxTopic::Webhook);
    pending.into_iter().next().unwrap()
}

/// Waits (bounded) until the worker has recorded `id` as delivered.
async fn delivered(app: &TestApp, id: custos_core::ids::OutboxId) -> OutboxRecord {
    for _ in 0..250 {
        let m = app.store.outbox_message(id).await.unwrap().unwrap();
        if m.delivered_at.is_some() {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("message {id} was not recorded as delivered");
}

#[tokio::test]
async fn a_standard_webhooks_receiver_verifies_our_signature_and_refuses_a_tampered_copy() {
    let secret = WebhookSecret::generate();
    let receiver = Receiver::start(&secret, 0).await;
    let app = app_for(&receiver, &secret).await;
    let frozen_at = app.clock.now();
    queue(&app, WebhookEvent::AccountFrozen, json!({"uid": "u_7f3k2"}), "account_frozen:u_7f3k2").await;
    let row = the_only_webhook_row(&app).await;
    assert_eq!(row.recipient, receiver.url());
    assert_eq!(row.idempotency_key, "account_frozen:u_7f3k2:0");

    let got = receiver.requests(1).await.remove(0);
    assert_eq!(got["verified"], true, "{got}");
    assert_eq!(got["status"], 204);
    assert_eq!(got["path"], "/hooks/custos");
    assert_eq!(got["headers"]["content-type"], "application/json");
    assert!(got["headers"]["webhook-id"].as_str().unwrap().starts_with("msg_"));
    let sent_at: i64 = got["headers"]["webhook-timestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(sent_at, app.clock.now().as_micros() / 1_000_000, "sent at the injected clock's time");
    assert_eq!(
        got["payload"],
        json!({"type": "account.frozen", "timestamp": frozen_at.rfc3339(), "data": {"uid": "u_7f3k2"}})
    );
    let done = delivered(&app, row.id).await;
    assert_eq!(done.attempts, 1);
    assert!(done.payload.is_some(), "webhook bodies hold no bearer secret and are kept");

    // The same headers over a changed body: the receiver must refuse it.
    let headers = got["headers"].as_object().unwrap();
    let tampered = got["body"].as_str().unwrap().replace("u_7f3k2", "u_attacker");
    let mut forged = app.http.post(receiver.url()).body(tampered);
    for (name, value) in headers {
        forged = forged.header(name.as_str(), value.as_str().unwrap());
    }
    assert_eq!(forged.send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    let refused = receiver.requests(2).await.remove(1);
    assert_eq!(refused["verified"], false, "{refused}");
    assert_eq!(refused["error"], "No matching signature found");
}

#[tokio::test]
async fn a_failing_endpoint_gets_the_same_message_again_after_the_backoff() {
    let secret = WebhookSecret::generate();
    let receiver = Receiver::start(&secret, 1).await;
    let app = app_for(&receiver, &secret).await;
    queue(&app, WebhookEvent::WithdrawalCreated, json!({"id": "wd_1", "amount": "0.5"}), "withdrawal:wd_1")
        .await;
    let id = the_only_webhook_row(&app).await.id;

    // The first attempt is answered 500: recorded as a failure and scheduled for later.
    let first = receiver.requests(1).await.remove(0);
    assert_eq!(first["status"], 500);
    let mut failed = app.store.outbox_message(id).await.unwrap().unwrap();
    for _ in 0..250 {
        if failed.last_error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        failed = app.store.outbox_message(id).await.unwrap().unwrap();
    }
    assert_eq!(failed.last_error.as_deref(), Some("webhook endpoint answered 500 Internal Server Error"));
    assert_eq!(failed.attempts, 1);
    assert!(failed.delivered_at.is_none());
    assert!(failed.next_attempt_at > app.clock.now(), "not retried before its backoff");

    app.clock.advance(Duration::from_secs(10));
    app.state.outbox_wake.notify_one();
    let second = receiver.requests(2).await.remove(1);
    assert_eq!(second["verified"], true, "{second}");
    assert_eq!(second["status"], 204);
    assert_eq!(second["payload"]["type"], "withdrawal.created");
    assert_eq!(
        second["headers"]["webhook-id"], first["headers"]["webhook-id"],
        "a retry carries the same webhook-id, so the receiver can deduplicate"
    );
    assert_ne!(second["headers"]["webhook-timestamp"], first["headers"]["webhook-timestamp"]);
    let done = delivered(&app, id).await;
    assert_eq!(done.attempts, 2);
}

#[tokio::test]
async fn without_an_endpoint_no_webhook_is_queued() {
    let app = spawn_app().await;
    queue(&app, WebhookEvent::ApiKeyCreated, json!({"key_id": "k1"}), "api_key_created:k1").await;
    assert!(app.store.outbox_pending(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_withdrawal_lifecycle_is_announced_to_the_exchange_and_verifies() {
    let secret = WebhookSecret::generate();
    let receiver = Receiver::start(&secret, 0).await;
    let app = app_for(&receiver, &secret).await;
    let (_, token) = crate::money::funded(&app, "hooked@example.com").await;
    let r = crate::money::withdraw(&app, &token, crate::money::btc("0.3"), None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let w: Value = r.json().await.unwrap();
    let id = w["id"].as_str().unwrap();
    let r = app.post_authed(&format!("/api/v1/withdrawals/{id}/cancel"), &token).await;
    assert_eq!(r.status(), StatusCode::OK);

    let got = receiver.requests(2).await;
    let mut types: Vec<&str> = got.iter().map(|g| g["payload"]["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["withdrawal.cancelled", "withdrawal.created"]);
    for g in &got {
        assert_eq!(g["verified"], true, "{g}");
        assert_eq!(g["payload"]["data"]["withdrawal"]["id"].as_str(), Some(id));
        assert_eq!(g["payload"]["data"]["withdrawal"]["amount"], "0.3");
        assert!(g["payload"]["data"]["uid"].is_u64());
    }
}

#[tokio::test]
async fn api_keys_created_and_revoked_are_announced() {
    let secret = WebhookSecret::generate();
    let receiver = Receiver::start(&secret, 0).await;
    let app = app_for(&receiver, &secret).await;
    app.verified_account("keys-hook@example.com").await;
    let token = app.login("keys-hook@example.com", "laptop").await;
    let body = json!({"label": "reports", "kind": "hmac-sha256", "scopes": ["read"]});
    let r = app.http.post(app.url("/api/v1/api-keys")).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r =
        app.http.delete(app.url(&format!("/api/v1/api-keys/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert!(r.status().is_success());

    let got = receiver.requests(2).await;
    let mut types: Vec<&str> = got.iter().map(|g| g["payload"]["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["api_key.created", "api_key.revoked"]);
    for g in &got {
        assert_eq!(g["verified"], true, "{g}");
        assert_eq!(g["payload"]["data"]["key_id"].as_str(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn allowlist_changes_are_announced_with_what_changed() {
    let secret = WebhookSecret::generate();
    let receiver = Receiver::start(&secret, 0).await;
    let app = app_for(&receiver, &secret).await;
    let (_, token) = crate::money::funded(&app, "list-hook@example.com").await;
    let put = |enabled: bool| {
        app.http
            .put(app.url("/api/v1/allowlist/mode"))
            .bearer_auth(&token)
            .json(&json!({ "enabled": enabled }))
    };
    assert_eq!(put(true).send().await.unwrap().status(), StatusCode::OK);
    let body = json!({ "asset": "BTC", "network": "BTC", "address": "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "label": "cold" });
    let r = app.http.post(app.url("/api/v1/allowlist")).bearer_auth(&token).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(put(false).send().await.unwrap().status(), StatusCode::OK);

    let got = receiver.requests(3).await;
    let mut changes: Vec<&str> =
        got.iter().map(|g| g["payload"]["data"]["change"].as_str().unwrap()).collect();
    changes.sort();
    assert_eq!(changes, ["entry_added", "turn_off_scheduled", "turned_on"]);
    for g in &got {
        assert_eq!(g["verified"], true, "{g}");
        assert_eq!(g["payload"]["type"], "allowlist.changed");
        assert!(g["payload"]["data"]["uid"].is_u64());
    }
    let added = got.iter().find(|g| g["payload"]["data"]["change"] == "entry_added").unwrap();
    assert_eq!(added["payload"]["data"]["entry"]["state"], "awaiting_confirmation");
    let off = got.iter().find(|g| g["payload"]["data"]["change"] == "turn_off_scheduled").unwrap();
    assert!(off["payload"]["data"]["turns_off_at"].is_string());
}

#[tokio::test]
async fn a_freeze_announces_the_incident_it_opened() {
    let secret = WebhookSecret::generate();
    let receiver = Receiver::start(&secret, 0).await;
    let app = app_for(&receiver, &secret).await;
    let uid = app.verified_account("case-hook@example.com").await;
    let token = app.login("case-hook@example.com", "laptop").await;
    let r = app.post_authed("/api/v1/security/freeze", &token).await;
    assert_eq!(r.status(), StatusCode::OK);

    let got = receiver.requests(2).await;
    let mut types: Vec<&str> = got.iter().map(|g| g["payload"]["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["account.frozen", "incident.opened"]);
    let opened = got.iter().find(|g| g["payload"]["type"] == "incident.opened").unwrap();
    assert_eq!(opened["verified"], true, "{opened}");
    assert_eq!(opened["payload"]["data"]["uid"].to_string(), uid);
    assert_eq!(opened["payload"]["data"]["origin"], "freeze:security_center");
    assert!(opened["payload"]["data"]["incident"].as_str().is_some());
}
