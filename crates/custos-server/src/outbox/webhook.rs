//! Webhooks: one signed POST per message, per the Standard Webhooks specification.
//!
//! Outbound requests are a server-side request forgery risk (STACK: deny private ranges and
//! redirects unless configured): redirects are never followed, proxies from the environment are
//! ignored (a proxy would resolve names where we cannot check them), and unless insecure
//! endpoints are allowed every resolved address must be public — checked at each connection, so
//! a name that later resolves to 127.0.0.1 or the cloud metadata address is refused then too.

use std::net::SocketAddr;
use std::time::Duration;

use custos_core::crypto::sha256;
use custos_core::network::is_public_address;
use custos_core::webhook::sign;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::config::WebhookEndpoint;

const TIMEOUT: Duration = Duration::from_secs(10);

pub struct WebhookSender {
    client: reqwest::Client,
}

impl WebhookSender {
    /// `allow_insecure` (dev and tests only) lets deliveries reach loopback and private addresses.
    pub fn new(allow_insecure: bool) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT);
        if !allow_insecure {
            builder = builder.dns_resolver(PublicOnly);
        }
        let client = builder.build().map_err(|e| format!("webhook client: {e}"))?;
        Ok(Self { client })
    }

    /// POSTs `body` signed for `endpoint`. Only a 2xx answer counts as delivered; anything else
    /// (including a redirect) is a failure that the outbox retries with backoff.
    pub async fn send(
        &self,
        endpoint: &WebhookEndpoint,
        msg_id: &str,
        timestamp_secs: i64,
        body: Vec<u8>,
    ) -> Result<(), String> {
        let signature = sign(&endpoint.secret, msg_id, timestamp_secs, &body);
        let resp = self
            .client
            .post(endpoint.url.clone())
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp_secs.to_string())
            .header("webhook-signature", signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            // Endpoint URLs often carry a token in their path: keep it out of logs and last_error.
            .map_err(|e| format!("webhook endpoint: {}", e.without_url()))?;
        let status = resp.status();
        if status.is_success() { Ok(()) } else { Err(format!("webhook endpoint answered {status}")) }
    }
}

/// The `webhook-id` of the message queued under `idempotency_key`: the same on every retry, as the
/// specification requires, so receivers can deduplicate; derived by hashing so that the id is
/// always a valid header value and does not reveal how we key our outbox.
pub fn message_id(idempotency_key: &str) -> String {
    format!("msg_{}", hex::encode(&sha256(idempotency_key.as_bytes())[..16]))
}

/// The system resolver, keeping only public addresses; a name with none left fails to resolve.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public_address(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_is_stable_and_header_safe() {
        let a = message_id("withdrawal.created:0193 ü:0");
        assert_eq!(a, message_id("withdrawal.created:0193 ü:0"));
        assert_ne!(a, message_id("withdrawal.created:0193 ü:1"));
        assert!(a.starts_with("msg_") && a.len() == 36);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }

    #[tokio::test]
    async fn names_that_resolve_only_to_private_addresses_are_refused() {
        let name: Name = "localhost".parse().unwrap();
        let err = PublicOnly.resolve(name).await.err().expect("localhost is not public");
        assert!(err.to_string().contains("no public address"), "{err}");
    }
}
