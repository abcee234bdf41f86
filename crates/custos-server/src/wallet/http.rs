//! The `http` wallet connector: the exchange's own wallet service, called over HTTP. The protocol
//! is in docs/wallet.md. Every request is signed the way our webhooks are (Standard Webhooks:
//! `webhook-id`, `webhook-timestamp`, `webhook-signature` over the exact body), so the wallet can
//! verify it with any Standard Webhooks library and refuse replays by `webhook-id`.
//!
//! The wallet URL is set by the operator and usually points into a private network, so unlike
//! outbound webhooks it may resolve to private addresses; redirects are still never followed and
//! proxies from the environment are ignored.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::asset::{AssetSpec, find};
use custos_core::webhook::{WebhookSecret, sign};
use custos_store::WithdrawalRecord;
use serde::{Deserialize, Serialize};
use url::Url;

use super::{InterceptOutcome, WalletConnector, WalletStep};

/// Submissions and status questions may wait this long.
const TIMEOUT: Duration = Duration::from_secs(10);
/// An interception is asked while a cancel or a freeze waits for the answer: keep it short.
const INTERCEPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest TxID or failure text taken from the wallet.
const MAX_TEXT: usize = 256;

pub struct HttpWallet {
    client: reqwest::Client,
    base: Url,
    secret: WebhookSecret,
    assets: Vec<AssetSpec>,
}

/// What custos hands the wallet: everything it needs to sign and broadcast, amounts as decimal
/// strings in the asset's unit.
#[derive(Debug, Serialize)]
struct Submission<'a> {
    id: String,
    asset: &'a str,
    network: &'a str,
    address: &'a str,
    memo: Option<&'a str>,
    amount: String,
    fee: String,
}

/// The wallet's answer about one withdrawal.
#[derive(Debug, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum StatusAnswer {
    Pending,
    Broadcast { txid: String },
    Confirmed,
    Failed { reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum InterceptAnswer {
    Intercepted,
    TooLate { txid: String },
}

impl HttpWallet {
    pub fn new(base: Url, secret: WebhookSecret, assets: Vec<AssetSpec>) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .build()
            .expect("a client without TLS configuration of its own always builds");
        Self { client, base, secret, assets }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.as_str().trim_end_matches('/'))
    }

    /// One signed request. `msg_id` is the Standard Webhooks message id: stable for a submission
    /// (the wallet deduplicates retries by it), unique for questions.
    fn signed(
        &self,
        method: reqwest::Method,
        path: &str,
        msg_id: &str,
        now: Timestamp,
        body: Vec<u8>,
    ) -> reqwest::RequestBuilder {
        let ts = now.as_micros() / 1_000_000;
        self.client
            .request(method, self.url(path))
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sign(&self.secret, msg_id, ts, &body))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
    }

    fn submission<'a>(&self, w: &'a WithdrawalRecord) -> Result<Submission<'a>, String> {
        let decimals = find(&self.assets, &w.asset).map(|a| a.decimals).ok_or("unknown asset")?;
        Ok(Submission {
            id: w.id.to_string(),
            asset: &w.asset,
            network: &w.network,
            address: &w.address,
            memo: w.memo.as_deref(),
            amount: w.amount.format(decimals),
            fee: w.fee.format(decimals),
        })
    }
}

fn question_id(kind: &str, w: &WithdrawalRecord, now: Timestamp) -> String {
    format!("{kind}_{}_{}", w.id, now.as_micros())
}

/// Wallet answers are outside input: a TxID is short printable ASCII, never a page of HTML.
fn bounded_text(s: String) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= MAX_TEXT && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    ok.then_some(s)
}

#[async_trait::async_trait]
impl WalletConnector for HttpWallet {
    async fn submit(&self, w: &WithdrawalRecord, now: Timestamp) -> Result<(), String> {
        let body = serde_json::to_vec(&self.submission(w)?).map_err(|e| e.to_string())?;
        let resp = self
            .signed(reqwest::Method::POST, "/withdrawals", &format!("submit_{}", w.id), now, body)
            .send()
            .await
            .map_err(|e| format!("wallet: {}", e.without_url()))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("wallet answered {s} to the submission")),
        }
    }

    async fn status(&self, w: &WithdrawalRecord, now: Timestamp) -> WalletStep {
        let path = format!("/withdrawals/{}", w.id);
        let sent = self
            .signed(reqwest::Method::GET, &path, &question_id("status", w, now), now, Vec::new())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id = %w.id, error = %e.without_url(), "wallet status: unreachable");
                return WalletStep::Pending;
            }
        };
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return WalletStep::Unknown;
        }
        if !resp.status().is_success() {
            tracing::warn!(id = %w.id, status = %resp.status(), "wallet status: refused");
            return WalletStep::Pending;
        }
        match resp.json::<StatusAnswer>().await {
            Ok(StatusAnswer::Pending) => WalletStep::Pending,
            Ok(StatusAnswer::Confirmed) => WalletStep::Confirmed,
            Ok(StatusAnswer::Broadcast { txid }) => match bounded_text(txid) {
                Some(txid) => WalletStep::Broadcast { txid },
                None => WalletStep::Pending,
            },
            Ok(StatusAnswer::Failed { reason }) => {
                WalletStep::Failed(bounded_text(reason).unwrap_or_else(|| "failed".into()))
            }
            Err(e) => {
                tracing::warn!(id = %w.id, error = %e.without_url(), "wallet status: unreadable answer");
                WalletStep::Pending
            }
        }
    }

    async fn intercept(&self, w: &WithdrawalRecord, now: Timestamp) -> InterceptOutcome {
        let path = format!("/withdrawals/{}/intercept", w.id);
        let sent = self
            .signed(reqwest::Method::POST, &path, &question_id("intercept", w, now), now, b"{}".to_vec())
            .timeout(INTERCEPT_TIMEOUT)
            .send()
            .await;
        let resp = match sent {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => return InterceptOutcome::Unreachable(format!("wallet answered {}", r.status())),
            Err(e) => return InterceptOutcome::Unreachable(format!("{}", e.without_url())),
        };
        match resp.json::<InterceptAnswer>().await {
            Ok(InterceptAnswer::Intercepted) => InterceptOutcome::Intercepted,
            Ok(InterceptAnswer::TooLate { txid }) => match bounded_text(txid) {
                Some(txid) => InterceptOutcome::TooLate { txid },
                None => InterceptOutcome::Unreachable("the wallet's TxID is not readable".into()),
            },
            Err(_) => InterceptOutcome::Unreachable("the wallet's answer is not readable".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wallet_text_is_bounded_and_printable() {
        assert_eq!(bounded_text("ab12".into()).as_deref(), Some("ab12"));
        assert_eq!(bounded_text(String::new()), None);
        assert_eq!(bounded_text("a".repeat(MAX_TEXT + 1)), None);
        assert_eq!(bounded_text("tx\nid".into()), None);
    }

    #[test]
    fn answers_parse_by_their_tag() {
        let a: StatusAnswer = serde_json::from_str(r#"{"state":"broadcast","txid":"ab"}"#).unwrap();
        assert!(matches!(a, StatusAnswer::Broadcast { txid } if txid == "ab"));
        assert!(serde_json::from_str::<StatusAnswer>(r#"{"state":"sent"}"#).is_err());
        let i: InterceptAnswer = serde_json::from_str(r#"{"outcome":"too_late","txid":"cd"}"#).unwrap();
        assert!(matches!(i, InterceptAnswer::TooLate { txid } if txid == "cd"));
    }
}
