//! The request-signing scheme (specified for clients in `docs/api-keys.md`).
//!
//! A signed request carries four headers: `X-Custos-Key` (key id), `X-Custos-Timestamp` (Unix
//! milliseconds), `X-Custos-Nonce` and `X-Custos-Signature` (standard base64). The signature covers
//!
//! ```text
//! custos-v1\n{key id}\n{timestamp}\n{nonce}\n{METHOD}\n{path?query}\n{hex sha256(body)}
//! ```
//!
//! The version line separates this from anything else the same key might sign; the key id binds
//! the signature to one key even if a client registers one Ed25519 public key on several keys
//! (with different scopes). The body enters as its SHA-256, so the string has no ambiguous
//! framing: every other field is free of newlines by construction (parsed headers, an HTTP method
//! token, a request target).
//!
//! Freshness bounds how long a captured request stays usable; within that window the store refuses
//! a second use of a (key id, nonce) pair, keeping each nonce until [`nonce_expires_at`].

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit as _, Mac};
use sha2::{Digest, Sha256};

use super::{ApiKeyId, Ed25519PublicKey, KeyKind};
use crate::{Reason, Timestamp};

pub const HEADER_KEY: &str = "X-Custos-Key";
pub const HEADER_TIMESTAMP: &str = "X-Custos-Timestamp";
pub const HEADER_NONCE: &str = "X-Custos-Nonce";
pub const HEADER_SIGNATURE: &str = "X-Custos-Signature";

/// The first line of every canonical request.
pub const SCHEME_VERSION: &str = "custos-v1";

/// How far a request's timestamp may be from the server's clock, either way, unless configured
/// otherwise.
pub const DEFAULT_SIGNATURE_WINDOW: Duration = Duration::from_secs(30);
/// The widest window the scheme allows (issue: at most 60 s); wider configurations are clamped.
pub const MAX_SIGNATURE_WINDOW: Duration = Duration::from_secs(60);

pub const NONCE_MIN_CHARS: usize = 16;
pub const NONCE_MAX_CHARS: usize = 64;
/// Timestamps are at most 15 decimal digits (≈ year 33658), so milliseconds × 1000 fits an `i64`.
const TIMESTAMP_MAX_DIGITS: usize = 15;

/// A client-chosen request nonce: 16 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nonce(String);

impl Nonce {
    pub fn parse(s: &str) -> Option<Self> {
        ((NONCE_MIN_CHARS..=NONCE_MAX_CHARS).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The four signature headers, parsed. `signature` is kept as sent (base64) for [`verify_signature`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub key_id: ApiKeyId,
    pub timestamp_ms: i64,
    pub nonce: Nonce,
    pub signature: String,
}

impl SignatureHeaders {
    /// Parses the header values (`None` for an absent header). Every problem is reported.
    pub fn parse(
        key: Option<&str>,
        timestamp: Option<&str>,
        nonce: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Self, Vec<Reason>> {
        let mut reasons = Vec::new();
        let mut need = |name: &str, value: Option<&str>| {
            if value.is_none() {
                reasons.push(Reason::new("api-signature-missing", format!("The {name} header is missing.")));
            }
        };
        need(HEADER_KEY, key);
        need(HEADER_TIMESTAMP, timestamp);
        need(HEADER_NONCE, nonce);
        need(HEADER_SIGNATURE, signature);

        let key_id = key.and_then(|k| {
            let id = ApiKeyId::parse(k);
            if id.is_none() {
                reasons.push(Reason::new(
                    "api-key-id-malformed",
                    format!("{HEADER_KEY} must be a key id like ck_ followed by 24 characters."),
                ));
            }
            id
        });
        let timestamp_ms = timestamp.and_then(|t| {
            let ms = parse_timestamp(t);
            if ms.is_none() {
                reasons.push(Reason::new(
                    "api-timestamp-malformed",
                    format!("{HEADER_TIMESTAMP} must be Unix time in milliseconds, in decimal digits."),
                ));
            }
            ms
        });
        let nonce = nonce.and_then(|n| {
            let parsed = Nonce::parse(n);
            if parsed.is_none() {
                reasons.push(Reason::new(
                    "api-nonce-malformed",
                    format!(
                        "{HEADER_NONCE} must be {NONCE_MIN_CHARS} to {NONCE_MAX_CHARS} characters \
                         of A-Z, a-z, 0-9, _ and -."
                    ),
                ));
            }
            parsed
        });
        let signature = signature.and_then(|s| {
            let ok = STANDARD.decode(s).is_ok_and(|raw| raw.len() == 64 || raw.len() == 32);
            if !ok {
                reasons.push(Reason::new(
                    "api-signature-malformed",
                    format!("{HEADER_SIGNATURE} must be the signature in standard base64 with padding."),
                ));
            }
            ok.then(|| s.to_owned())
        });
        match (key_id, timestamp_ms, nonce, signature) {
            (Some(key_id), Some(timestamp_ms), Some(nonce), Some(signature)) if reasons.is_empty() => {
                Ok(Self { key_id, timestamp_ms, nonce, signature })
            }
            _ => Err(reasons),
        }
    }

    /// The canonical request these headers sign, for the given method, request target and body.
    pub fn canonical(&self, method: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
        canonical_request(&self.key_id, self.timestamp_ms, &self.nonce, method, path_and_query, body)
    }
}

/// Only plain decimal digits without a leading zero, so the number prints back exactly as it was
/// sent and both sides sign the same text.
fn parse_timestamp(s: &str) -> Option<i64> {
    let digits_ok = !s.is_empty()
        && s.len() <= TIMESTAMP_MAX_DIGITS
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    digits_ok.then(|| s.parse().ok()).flatten()
}

/// `custos-v1\n{key id}\n{timestamp}\n{nonce}\n{method}\n{path_and_query}\n{hex sha256(body)}`,
/// with no trailing newline. `method` and `path_and_query` are taken exactly as the request
/// carried them: no case change, no percent-decoding, no reordering of the query.
pub fn canonical_request(
    key_id: &ApiKeyId,
    timestamp_ms: i64,
    nonce: &Nonce,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Vec<u8> {
    let body_hash = hex::encode(Sha256::digest(body));
    format!(
        "{SCHEME_VERSION}\n{key_id}\n{timestamp_ms}\n{nonce}\n{method}\n{path_and_query}\n{body_hash}",
        nonce = nonce.as_str()
    )
    .into_bytes()
}

fn window_micros(window: Duration) -> i64 {
    i64::try_from(window.min(MAX_SIGNATURE_WINDOW).as_micros()).unwrap_or(i64::MAX)
}

/// Accepts a timestamp within `window` (clamped to [`MAX_SIGNATURE_WINDOW`]) of `now`, on either
/// side: an old request may be a replay after its nonce was forgotten, and one from the future
/// could be held back and replayed later.
pub fn check_freshness(timestamp_ms: i64, now: Timestamp, window: Duration) -> Result<(), Reason> {
    let sent = i128::from(timestamp_ms) * 1_000;
    let skew = i128::from(now.as_micros()) - sent;
    if skew.abs() <= i128::from(window_micros(window)) {
        Ok(())
    } else {
        Err(Reason::new(
            "api-signature-expired",
            format!(
                "{HEADER_TIMESTAMP} is more than {} seconds from the server's time; \
                 check the client's clock.",
                window.min(MAX_SIGNATURE_WINDOW).as_secs()
            ),
        ))
    }
}

/// From this instant on, [`check_freshness`] refuses any request with this timestamp, so the store
/// may forget its nonce. Before it, a second request with the same (key id, nonce) must be refused
/// ([`nonce_reused`]).
pub fn nonce_expires_at(timestamp_ms: i64, window: Duration) -> Timestamp {
    Timestamp::from_micros(
        timestamp_ms.saturating_mul(1_000).saturating_add(window_micros(window)).saturating_add(1),
    )
}

/// Does `signature_b64` sign `canonical` under this key? `key_material` is the Ed25519 public key's
/// 32 bytes, or the HMAC secret's bytes ([`super::HmacSecret::key_material`]).
///
/// Ed25519 uses `verify_strict` (rejects small-order keys and non-canonical signatures, so a
/// signature cannot be mangled into a second valid one); HMAC compares in constant time
/// (`verify_slice`).
pub fn verify_signature(kind: KeyKind, key_material: &[u8], canonical: &[u8], signature_b64: &str) -> bool {
    let Ok(signature) = STANDARD.decode(signature_b64) else { return false };
    match kind {
        KeyKind::Ed25519 => {
            let Ok(bytes) = <[u8; 32]>::try_from(key_material) else { return false };
            let Ok(public) = Ed25519PublicKey::from_bytes(bytes) else { return false };
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public.as_bytes()) else { return false };
            let Ok(signature) = ed25519_dalek::Signature::from_slice(&signature) else { return false };
            key.verify_strict(canonical, &signature).is_ok()
        }
        KeyKind::HmacSha256 => {
            if key_material.is_empty() {
                return false;
            }
            let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key_material) else { return false };
            mac.update(canonical);
            mac.verify_slice(&signature).is_ok()
        }
    }
}

/// The answer for a bad signature and for an unknown key id alike, so a caller learns nothing about
/// which key ids exist.
pub fn invalid_signature() -> Reason {
    Reason::new("api-signature-invalid", "The request signature does not verify.")
}

/// The answer when a (key id, nonce) pair is seen a second time within the window.
pub fn nonce_reused() -> Reason {
    Reason::new("api-nonce-reused", "This nonce was already used; every request needs a fresh one.")
}

#[cfg(test)]
mod tests;
