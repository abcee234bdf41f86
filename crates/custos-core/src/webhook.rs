//! Outbound webhooks per the Standard Webhooks specification (standardwebhooks.com): the shared
//! secret, the `v1` signature, the event types and the message body.
//!
//! A receiver verifies `webhook-signature` = `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
//! over the exact bytes it received, and rejects timestamps too far from its own clock.

use std::fmt;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::general_purpose::GeneralPurpose;
use base64::engine::{DecodePaddingMode, GeneralPurposeConfig};
use hmac::{KeyInit as _, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Timestamp;

const SECRET_PREFIX: &str = "whsec_";

/// Standard base64, padding optional on input (receivers' libraries accept both), written padded.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookSecretError {
    #[error("a webhook secret starts with \"whsec_\"")]
    MissingPrefix,
    #[error("a webhook secret is \"whsec_\" followed by standard base64")]
    NotBase64,
    /// The specification asks for keys of 24 to 64 bytes.
    #[error("a webhook secret holds 24 to 64 bytes (it holds {0})")]
    BadLength(usize),
}

/// The key shared with one endpoint, written `whsec_` + base64 of its bytes. `Debug` never prints it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// 256 bits from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes: [u8; 32] = rand::random();
        let secret = Self(bytes.to_vec());
        bytes.zeroize();
        secret
    }

    pub fn parse(s: &str) -> Result<Self, WebhookSecretError> {
        let encoded = s.trim().strip_prefix(SECRET_PREFIX).ok_or(WebhookSecretError::MissingPrefix)?;
        let bytes = BASE64.decode(encoded).map_err(|_| WebhookSecretError::NotBase64)?;
        if !(24..=64).contains(&bytes.len()) {
            return Err(WebhookSecretError::BadLength(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// The transport form, `whsec_…`, to hand to the receiver's operator once.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// The `webhook-signature` header value for one message: `v1,<base64 HMAC-SHA256>`.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(&secret.0).expect("HMAC-SHA256 takes keys of any length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

/// What happened, as the `type` of a webhook message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    WithdrawalCreated,
    WithdrawalHeld,
    WithdrawalCancelled,
    WithdrawalBroadcast,
    WithdrawalConfirmed,
    TransferCreated,
    TransferCancelled,
    ApiKeyCreated,
    ApiKeyRevoked,
    AccountFrozen,
    /// An allowlist entry was added, confirmed or removed, or the allowlist turned on, scheduled
    /// to turn off, or had its turn-off cancelled (`data.change` says which).
    AllowlistChanged,
    /// An incident case was opened for the account (by a freeze or the holder's report).
    IncidentOpened,
}

impl WebhookEvent {
    pub const ALL: [Self; 12] = [
        Self::WithdrawalCreated,
        Self::WithdrawalHeld,
        Self::WithdrawalCancelled,
        Self::WithdrawalBroadcast,
        Self::WithdrawalConfirmed,
        Self::TransferCreated,
        Self::TransferCancelled,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::AccountFrozen,
        Self::AllowlistChanged,
        Self::IncidentOpened,
    ];

    /// The stable, documented name receivers switch on.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WithdrawalCreated => "withdrawal.created",
            Self::WithdrawalHeld => "withdrawal.held",
            Self::WithdrawalCancelled => "withdrawal.cancelled",
            Self::WithdrawalBroadcast => "withdrawal.broadcast",
            Self::WithdrawalConfirmed => "withdrawal.confirmed",
            Self::TransferCreated => "transfer.created",
            Self::TransferCancelled => "transfer.cancelled",
            Self::ApiKeyCreated => "api_key.created",
            Self::ApiKeyRevoked => "api_key.revoked",
            Self::AccountFrozen => "account.frozen",
            Self::AllowlistChanged => "allowlist.changed",
            Self::IncidentOpened => "incident.opened",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every message, in the specification's recommended shape:
/// `{"type": "withdrawal.created", "timestamp": "<RFC 3339>", "data": {…}}`. `data` is any
/// serialisable object (a struct is written as it is, without building a `Value` first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload<D = serde_json::Value> {
    pub r#type: String,
    /// When the event happened (not when it was sent), RFC 3339.
    pub timestamp: String,
    pub data: D,
}

impl<D> WebhookPayload<D> {
    pub fn new(event: WebhookEvent, at: Timestamp, data: D) -> Self {
        Self { r#type: event.as_str().to_owned(), timestamp: at.rfc3339(), data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the Standard Webhooks specification; the expected value was computed
    /// independently with Python's `hmac` module:
    /// `hmac.new(b64decode(key), b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}", sha256)`.
    #[test]
    fn signature_matches_an_independent_computation() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn any_change_to_id_time_or_body_changes_the_signature() {
        let secret = WebhookSecret::generate();
        let base = sign(&secret, "msg_1", 1_700_000_000, b"{}");
        assert_ne!(base, sign(&secret, "msg_2", 1_700_000_000, b"{}"));
        assert_ne!(base, sign(&secret, "msg_1", 1_700_000_001, b"{}"));
        assert_ne!(base, sign(&secret, "msg_1", 1_700_000_000, b"{ }"));
        assert_ne!(base, sign(&WebhookSecret::generate(), "msg_1", 1_700_000_000, b"{}"));
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let s = WebhookSecret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&text).unwrap().expose(), text);
        // Unpadded base64 is the same key.
        let unpadded = WebhookSecret::parse(text.trim_end_matches('=')).unwrap();
        assert_eq!(unpadded.expose(), text);
        let refused = |s: &str| WebhookSecret::parse(s).err();
        assert_eq!(refused("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Some(WebhookSecretError::MissingPrefix));
        assert_eq!(refused("whsec_not base64!"), Some(WebhookSecretError::NotBase64));
        assert_eq!(refused("whsec_c2hvcnQ="), Some(WebhookSecretError::BadLength(5)));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let s = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let shown = format!("{s:?}");
        assert_eq!(shown, "WebhookSecret(<redacted>)");
        assert!(!shown.contains("MfKQ"));
    }

    #[test]
    fn event_names_are_stable_and_parse_back() {
        let names: Vec<_> = WebhookEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "withdrawal.created",
                "withdrawal.held",
                "withdrawal.cancelled",
                "withdrawal.broadcast",
                "withdrawal.confirmed",
                "transfer.created",
                "transfer.cancelled",
                "api_key.created",
                "api_key.revoked",
                "account.frozen",
                "allowlist.changed",
                "incident.opened",
            ]
        );
        for e in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(e));
        }
        assert_eq!(WebhookEvent::parse("withdrawal.Created"), None);
    }

    #[test]
    fn the_payload_serialises_as_type_timestamp_data() {
        let p = WebhookPayload::new(
            WebhookEvent::AccountFrozen,
            Timestamp::from_micros(1_800_000_000_123_456),
            serde_json::json!({"uid": "u1"}),
        );
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(
            text,
            r#"{"type":"account.frozen","timestamp":"2027-01-15T08:00:00.123456Z","data":{"uid":"u1"}}"#
        );
        assert_eq!(serde_json::from_str::<WebhookPayload>(&text).unwrap(), p);
    }
}
