//! The freeze race: withdrawals, transfers, signed API-key calls and session calls fire
//! concurrently while the account is frozen (DESIGN: "concurrency is tested, not assumed").

use base64::Engine;
use custos_core::Clock;
use custos_core::api_key::ApiKeyId;
use custos_core::api_key::signing::{Nonce, canonical_request};
use custos_core::audit::AuditEvent;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::json;

use crate::credentials::{json_ok, wait_for_subject_prefix};
use crate::helpers::*;
use crate::money::{btc, funded, withdraw};

/// An HMAC key the test can sign with in-process (the scheme of `docs/api-keys.md`).
pub(crate) struct Key {
    pub(crate) id: String,
    secret: String,
}

impl Key {
    pub(crate) async fn create(app: &TestApp, token: &str, scopes: &[&str]) -> Key {
        let body =
            json!({"label": "bot", "kind": "hmac-sha256", "scopes": scopes, "ip_allowlist": ["127.0.0.1"]});
        let r =
            app.http.post(app.url("/api/v1/api-keys")).bearer_auth(token).json(&body).send().await.unwrap();
        let created = json_ok(r).await;
        Key {
            id: created["id"].as_str().unwrap().to_owned(),
            secret: created["secret"].as_str().unwrap().to_owned(),
        }
    }

    /// A signed request, ready to send (signed now, at the app's clock, with a fresh nonce).
    pub(crate) fn request(
        &self,
        app: &TestApp,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let ts = app.clock.now().as_micros() / 1_000;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let canonical = canonical_request(
            &ApiKeyId::parse(&self.id).unwrap(),
            ts,
            &Nonce::parse(&nonce).unwrap(),
            method,
            path,
            body.unwrap_or("").as_bytes(),
        );
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(&canonical);
        let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let mut r = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .header("X-Custos-Key", &self.id)
            .header("X-Custos-Timestamp", ts.to_string())
            .header("X-Custos-Nonce", nonce)
            .header("X-Custos-Signature", signature);
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b.to_owned());
        }
        r
    }
}

/// Each run lands the freeze at a different point among the requests (the scheduler decides), so
/// the race runs several times on each backend.
const RACE_RUNS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_freeze_race_on_sqlite() {
    for _ in 0..RACE_RUNS {
        race(&spawn_app().await, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_freeze_race_on_postgres() {
    for _ in 0..RACE_RUNS {
        let Some(app) = spawn_app_on_postgres("freeze race").await else { return };
        race(&app, None).await;
    }
}

/// Two nodes on one PostgreSQL: half the requests, and the freeze itself, go to the second node;
/// afterwards neither node accepts a credential from before the freeze.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_freeze_race_across_two_nodes_on_postgres() {
    for _ in 0..RACE_RUNS {
        let Some(app) = spawn_app_on_postgres("freeze race, two nodes").await else { return };
        let other = app.second_node().await;
        race(&app, Some(&other)).await;
    }
}

/// Withdrawals, transfers, signed API-key calls and session calls fire concurrently while the
/// account is frozen. Afterwards: in the account's audit chain nothing was requested after the
/// freeze; no withdrawal or transfer is left anywhere but `cancelled` (or settled before it); and
/// no credential from before the freeze is accepted. With `other`, odd requests and the freeze go
/// to that second node, and every check afterwards is made on both.
async fn race(app: &TestApp, other: Option<&TestApp>) {
    let (_, session) = funded(app, "raced@example.com").await;
    let receiver_uid = app.verified_account("receiver@example.com").await;
    let key = Key::create(app, &session, &["read", "withdraw", "transfer"]).await;
    let link = {
        let n = wait_for_subject_prefix(app, "raced@example.com", "API key created").await;
        link_token(&n.text_body, "/disable/")
    };

    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let http = app.http.clone();
        let session = session.clone();
        let node = if i % 2 == 1 { other.unwrap_or(app) } else { app };
        let base = node.base.clone();
        let signed_w = key.request(node, "POST", "/api/v1/withdrawals", Some(&btc("0.01").to_string()));
        let transfer =
            json!({"to_uid": receiver_uid.parse::<u64>().unwrap(), "asset": "BTC", "amount": "0.01"});
        let signed_t = key.request(node, "POST", "/api/v1/transfers", Some(&transfer.to_string()));
        set.spawn(async move {
            let mut statuses = Vec::new();
            let r = match i % 4 {
                0 => {
                    http.post(format!("{base}/api/v1/withdrawals"))
                        .bearer_auth(&session)
                        .json(&btc("0.01"))
                        .send()
                        .await
                }
                1 => {
                    http.post(format!("{base}/api/v1/transfers"))
                        .bearer_auth(&session)
                        .json(&transfer)
                        .send()
                        .await
                }
                2 => signed_w.send().await,
                _ => signed_t.send().await,
            };
            let r = r.unwrap();
            let status = r.status();
            if status == StatusCode::FORBIDDEN {
                // Refused because of the freeze, whichever check saw it first: the gate under the
                // account lock (authenticated just before the commit), the key's or the account's
                // standing (just after).
                let body: serde_json::Value = r.json().await.unwrap();
                let codes: Vec<&str> =
                    body["reasons"].as_array().unwrap().iter().filter_map(|x| x["code"].as_str()).collect();
                let kind = body["type"].as_str().unwrap_or_default();
                assert!(
                    codes.contains(&"account-frozen")
                        || kind == "urn:custos:problem:api-key-forbidden"
                        || kind == "urn:custos:problem:account-inactive",
                    "{body}"
                );
            }
            statuses.push(status);
            statuses.push(
                http.get(format!("{base}/api/v1/me")).bearer_auth(&session).send().await.unwrap().status(),
            );
            statuses
        });
        if i == 12 {
            let http = app.http.clone();
            let url = other.unwrap_or(app).url(&format!("/disable/{link}"));
            set.spawn(async move {
                vec![http.post(url).header("accept", "application/json").send().await.unwrap().status()]
            });
        }
    }
    let statuses: Vec<StatusCode> = set.join_all().await.into_iter().flatten().collect();
    assert!(statuses.iter().all(|s| !s.is_server_error()), "{statuses:?}");
    let mut seen = std::collections::BTreeMap::new();
    for s in &statuses {
        *seen.entry(s.as_u16()).or_insert(0) += 1;
    }
    eprintln!("race on {}: statuses {seen:?}", app.store.backend_name());

    // After the commit: nothing from before works, on any node.
    for node in std::iter::once(app).chain(other) {
        assert_eq!(node.get_authed("/api/v1/me", &session).await.status(), StatusCode::UNAUTHORIZED);
        let r = withdraw(node, &session, btc("0.01"), None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let signed = key.request(node, "POST", "/api/v1/withdrawals", Some(&btc("0.01").to_string()));
        let r = signed.send().await.unwrap();
        assert!(matches!(r.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{}", r.status());
    }

    // In the account's own order of events, nothing was requested after the freeze.
    let account = app.store.account_by_email_key("raced@example.com").await.unwrap().unwrap();
    let chain = format!("account:{}", account.id);
    let events: Vec<AuditEvent> =
        app.store.audit_records(&chain, 0, 10_000).await.unwrap().into_iter().map(|r| r.event).collect();
    let frozen_at =
        events.iter().position(|e| matches!(e, AuditEvent::AccountFrozen { .. })).expect("frozen");
    assert!(
        events[frozen_at..].iter().all(|e| !matches!(
            e,
            AuditEvent::WithdrawalRequested { .. } | AuditEvent::TransferRequested { .. }
        )),
        "a withdrawal or transfer was requested after the freeze"
    );
    for w in app.store.withdrawals(account.id, 500).await.unwrap() {
        assert_eq!(w.state.as_str(), "cancelled", "withdrawal {} escaped", w.id);
    }
    for t in app.store.transfers(account.id, 500).await.unwrap() {
        assert!(matches!(t.state.as_str(), "cancelled" | "settled"), "transfer {} escaped", t.id);
    }
    let report = custos_server::usecases::operator::verify_audit(&app.store, |_| {}).await.unwrap();
    assert!(report.broken.is_empty(), "{report:?}");
}
