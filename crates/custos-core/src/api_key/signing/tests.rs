use super::*;
use crate::api_key::HmacSecret;
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;

// Known answers computed outside Rust, with Python 3.11's hashlib/hmac/base64 and pyca/cryptography
// 48.0.0 (Ed25519PrivateKey.from_private_bytes(bytes(range(32)))), over the request below.
const KAT_KEY_ID: &str = "ck_abcdefghijklmnopqrstuvwx";
const KAT_TIMESTAMP_MS: i64 = 1_767_225_600_123;
const KAT_NONCE: &str = "kat-nonce_0123456789";
const KAT_METHOD: &str = "POST";
const KAT_TARGET: &str = "/api/v1/withdrawals?asset=BTC&dry_run=true";
const KAT_BODY: &[u8] = br#"{"address":"bc1qexample","amount":"0.5"}"#;
const KAT_CANONICAL: &str = "custos-v1\nck_abcdefghijklmnopqrstuvwx\n1767225600123\n\
    kat-nonce_0123456789\nPOST\n/api/v1/withdrawals?asset=BTC&dry_run=true\n\
    2bb6b955f3de1c8b93a49f478456ebb3af47cb6d0b16466c312213acb379bcff";
/// `"cs_" + urlsafe_b64encode(bytes(range(32, 64))).rstrip("=")`
const KAT_HMAC_SECRET: &str = "cs_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";
const KAT_HMAC_SIGNATURE: &str = "J2OLBxAaQUSKZcDAh9xe1BazRZIeqkFMi+luHQLaJqs=";
const KAT_ED25519_PUBLIC: &str = "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
const KAT_ED25519_SIGNATURE: &str =
    "rzOp4mMkUghU5f3Llxgke0BZ9e6cR4GmAX+pnj3QsPHf6p4XBlDG+T9zXH9KvPucX6uDbxNXOyWZMQt58zCtAA==";

fn kat_canonical() -> Vec<u8> {
    let id = ApiKeyId::parse(KAT_KEY_ID).unwrap();
    let nonce = Nonce::parse(KAT_NONCE).unwrap();
    canonical_request(&id, KAT_TIMESTAMP_MS, &nonce, KAT_METHOD, KAT_TARGET, KAT_BODY)
}

fn kat_public() -> [u8; 32] {
    *Ed25519PublicKey::parse(KAT_ED25519_PUBLIC).unwrap().as_bytes()
}

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_micros(ms * 1_000)
}

#[test]
fn the_canonical_request_matches_the_documented_layout() {
    assert_eq!(String::from_utf8(kat_canonical()).unwrap(), KAT_CANONICAL);
}

#[test]
fn an_hmac_signature_made_by_python_verifies() {
    let secret = HmacSecret::parse(KAT_HMAC_SECRET).unwrap();
    let canonical = kat_canonical();
    assert!(verify_signature(KeyKind::HmacSha256, secret.key_material(), &canonical, KAT_HMAC_SIGNATURE));
    assert!(!verify_signature(KeyKind::HmacSha256, b"cs_other", &canonical, KAT_HMAC_SIGNATURE));
    assert!(!verify_signature(KeyKind::Ed25519, secret.key_material(), &canonical, KAT_HMAC_SIGNATURE));
}

#[test]
fn an_ed25519_signature_made_by_python_verifies() {
    let canonical = kat_canonical();
    assert!(verify_signature(KeyKind::Ed25519, &kat_public(), &canonical, KAT_ED25519_SIGNATURE));
    assert!(!verify_signature(KeyKind::HmacSha256, &kat_public(), &canonical, KAT_ED25519_SIGNATURE));
    // Our test signer derives the same public key from the same seed.
    let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
    assert_eq!(SigningKey::from_bytes(&seed).verifying_key().to_bytes(), kat_public());
}

#[test]
fn malformed_signatures_and_key_material_never_verify() {
    let canonical = kat_canonical();
    let unpadded = KAT_HMAC_SIGNATURE.trim_end_matches('=');
    let url_safe = KAT_ED25519_SIGNATURE.replace('+', "-").replace('/', "_");
    assert!(!verify_signature(KeyKind::HmacSha256, KAT_HMAC_SECRET.as_bytes(), &canonical, unpadded));
    assert!(!verify_signature(KeyKind::HmacSha256, KAT_HMAC_SECRET.as_bytes(), &canonical, ""));
    assert!(!verify_signature(KeyKind::HmacSha256, b"", &canonical, KAT_HMAC_SIGNATURE));
    assert!(!verify_signature(KeyKind::Ed25519, &kat_public(), &canonical, &url_safe));
    assert!(!verify_signature(KeyKind::Ed25519, &kat_public()[..31], &canonical, KAT_ED25519_SIGNATURE));
    // Truncated HMAC tags are not accepted: verify_slice wants the full 32 bytes.
    let raw = STANDARD.decode(KAT_HMAC_SIGNATURE).unwrap();
    let short = STANDARD.encode(&raw[..16]);
    assert!(!verify_signature(KeyKind::HmacSha256, KAT_HMAC_SECRET.as_bytes(), &canonical, &short));
}

#[test]
fn a_weak_ed25519_key_verifies_nothing() {
    // With the identity as public key and R = identity, S = 0 "verifies" every message under the
    // cofactored or lax equation; verify_strict and our key check refuse it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut sig = [0u8; 64];
    sig[0] = 1;
    assert!(!verify_signature(KeyKind::Ed25519, &identity, &kat_canonical(), &STANDARD.encode(sig)));
}

#[test]
fn timestamps_within_the_window_either_way_are_fresh() {
    let t = KAT_TIMESTAMP_MS;
    let w = Duration::from_secs(30);
    assert_eq!(check_freshness(t, at_ms(t), w), Ok(()));
    assert_eq!(check_freshness(t, at_ms(t + 30_000), w), Ok(()));
    assert_eq!(check_freshness(t, at_ms(t - 30_000), w), Ok(()));
    assert_eq!(check_freshness(t, at_ms(t + 30_001), w).unwrap_err().code.0, "api-signature-expired");
    assert_eq!(check_freshness(t, at_ms(t - 30_001), w).unwrap_err().code.0, "api-signature-expired");
}

#[test]
fn a_configured_window_wider_than_sixty_seconds_is_clamped() {
    let t = KAT_TIMESTAMP_MS;
    let w = Duration::from_secs(3_600);
    assert_eq!(check_freshness(t, at_ms(t + 60_000), w), Ok(()));
    assert_eq!(check_freshness(t, at_ms(t + 60_001), w).unwrap_err().code.0, "api-signature-expired");
    assert_eq!(nonce_expires_at(t, w), nonce_expires_at(t, MAX_SIGNATURE_WINDOW));
}

#[test]
fn extreme_timestamps_are_stale_not_a_panic() {
    let now = at_ms(KAT_TIMESTAMP_MS);
    for t in [i64::MIN, i64::MAX, -1, 0] {
        assert!(check_freshness(t, now, DEFAULT_SIGNATURE_WINDOW).is_err());
        let _ = nonce_expires_at(t, DEFAULT_SIGNATURE_WINDOW);
    }
}

#[test]
fn a_nonce_is_kept_exactly_as_long_as_its_request_is_fresh() {
    let t = KAT_TIMESTAMP_MS;
    let w = DEFAULT_SIGNATURE_WINDOW;
    let forget = nonce_expires_at(t, w);
    assert!(check_freshness(t, forget.minus(Duration::from_micros(1)), w).is_ok());
    assert!(check_freshness(t, forget, w).is_err());
}

fn headers(
    key: Option<&str>,
    ts: Option<&str>,
    nonce: Option<&str>,
    sig: Option<&str>,
) -> Result<SignatureHeaders, Vec<&'static str>> {
    SignatureHeaders::parse(key, ts, nonce, sig).map_err(|r| r.iter().map(|r| r.code.0).collect())
}

#[test]
fn signature_headers_parse_and_rebuild_the_canonical_request() {
    let h =
        headers(Some(KAT_KEY_ID), Some("1767225600123"), Some(KAT_NONCE), Some(KAT_HMAC_SIGNATURE)).unwrap();
    assert_eq!(h.timestamp_ms, KAT_TIMESTAMP_MS);
    assert_eq!(h.canonical(KAT_METHOD, KAT_TARGET, KAT_BODY), KAT_CANONICAL.as_bytes());
    assert!(headers(Some(KAT_KEY_ID), Some("1"), Some(KAT_NONCE), Some(KAT_ED25519_SIGNATURE)).is_ok());
}

#[test]
fn missing_signature_headers_are_each_named() {
    let err = headers(None, None, Some(KAT_NONCE), None).unwrap_err();
    assert_eq!(err, ["api-signature-missing", "api-signature-missing", "api-signature-missing"]);
}

#[test]
fn malformed_signature_headers_are_refused_with_every_reason() {
    let err = headers(Some("ck_x"), Some("0123"), Some("short"), Some("!!")).unwrap_err();
    assert_eq!(
        err,
        ["api-key-id-malformed", "api-timestamp-malformed", "api-nonce-malformed", "api-signature-malformed"]
    );
    for ts in ["", "-5", "+5", "1.5", " 5", "1234567890123456", "1e12"] {
        assert_eq!(
            headers(Some(KAT_KEY_ID), Some(ts), Some(KAT_NONCE), Some(KAT_HMAC_SIGNATURE)).unwrap_err(),
            ["api-timestamp-malformed"],
            "{ts:?}"
        );
    }
    let wrong_length = STANDARD.encode([0u8; 48]);
    assert_eq!(
        headers(Some(KAT_KEY_ID), Some("5"), Some(KAT_NONCE), Some(&wrong_length)).unwrap_err(),
        ["api-signature-malformed"]
    );
}

#[test]
fn nonces_are_16_to_64_url_safe_characters() {
    assert!(Nonce::parse(&"a".repeat(16)).is_some());
    assert!(Nonce::parse(&"Z9_-".repeat(16)).is_some());
    for bad in
        ["a".repeat(15), "a".repeat(65), format!("{}=", "a".repeat(16)), format!("{} ", "a".repeat(16))]
    {
        assert!(Nonce::parse(&bad).is_none(), "{bad:?}");
    }
}

#[test]
fn the_answers_for_bad_signatures_and_replays_have_stable_codes() {
    assert_eq!(invalid_signature().code.0, "api-signature-invalid");
    assert_eq!(nonce_reused().code.0, "api-nonce-reused");
}

#[derive(Debug, Clone)]
struct Req {
    timestamp_ms: i64,
    nonce: String,
    method: String,
    target: String,
    body: Vec<u8>,
}

fn req() -> impl Strategy<Value = Req> {
    (
        0i64..100_000_000_000_000,
        "[A-Za-z0-9_-]{16,64}",
        prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]),
        "/[a-z0-9/?=&%._-]{0,40}",
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(timestamp_ms, nonce, method, target, body)| Req {
            timestamp_ms,
            nonce,
            method: method.to_owned(),
            target,
            body,
        })
}

fn canonical_of(id: &ApiKeyId, r: &Req) -> Vec<u8> {
    canonical_request(id, r.timestamp_ms, &Nonce::parse(&r.nonce).unwrap(), &r.method, &r.target, &r.body)
}

fn hmac_sign(key: &[u8], msg: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    STANDARD.encode(mac.finalize().into_bytes())
}

proptest! {
    #[test]
    fn a_signature_covers_every_part_of_the_request(a in req(), b in req(), which in 0usize..6) {
        let id = ApiKeyId::parse(KAT_KEY_ID).unwrap();
        let mut changed = a.clone();
        let mut other_id = id.clone();
        match which {
            0 => changed.timestamp_ms = b.timestamp_ms,
            1 => changed.nonce = b.nonce.clone(),
            2 => changed.method = b.method.clone(),
            3 => changed.target = b.target.clone(),
            4 => changed.body = b.body.clone(),
            _ => other_id = ApiKeyId::parse("ck_zyxwvutsrqponmlkjihgfedc").unwrap(),
        }
        let original = canonical_of(&id, &a);
        let altered = canonical_of(&other_id, &changed);
        prop_assume!(original != altered);

        let secret = HmacSecret::parse(KAT_HMAC_SECRET).unwrap();
        let mac = hmac_sign(secret.key_material(), &original);
        prop_assert!(verify_signature(KeyKind::HmacSha256, secret.key_material(), &original, &mac));
        prop_assert!(!verify_signature(KeyKind::HmacSha256, secret.key_material(), &altered, &mac));

        let signer = SigningKey::from_bytes(&std::array::from_fn(|i| i as u8));
        let sig = STANDARD.encode(signer.sign(&original).to_bytes());
        let public = signer.verifying_key().to_bytes();
        prop_assert!(verify_signature(KeyKind::Ed25519, &public, &original, &sig));
        prop_assert!(!verify_signature(KeyKind::Ed25519, &public, &altered, &sig));
    }

    #[test]
    fn header_parsing_never_panics(k in ".{0,40}", t in ".{0,20}", n in ".{0,70}", s in ".{0,100}") {
        let _ = SignatureHeaders::parse(Some(&k), Some(&t), Some(&n), Some(&s));
    }
}

/// Headers printed by the reference client, `tests/python/custos_signed_client.py --dry-run
/// --timestamp 1800000000000 --nonce client-nonce-ABCDEF_123 get '/api/v1/orders?symbol=BTC-USDT&limit=50'`
/// (with the KAT secret and seed above), parsed and verified the way the server will.
#[test]
fn requests_signed_by_the_python_reference_client_verify() {
    let target = "/api/v1/orders?symbol=BTC-USDT&limit=50";
    for (kind, key, signature) in [
        (
            KeyKind::HmacSha256,
            KAT_HMAC_SECRET.as_bytes().to_vec(),
            "6wBL2P71o/8cuDjiD/U4mAo5RUqkdsLSZbEIgXZW4lM=",
        ),
        (
            KeyKind::Ed25519,
            kat_public().to_vec(),
            "CygOw5BSTzMUh8mGYG+vP9OMDmQylWvtp3KeJ8bZOZHRYlmbUy1ZVYjFBLrR8YnwH0QRsllpVFO3EaD3dfNQCw==",
        ),
    ] {
        let h = SignatureHeaders::parse(
            Some("ck_q3v7mxk2p4hz6bnc5dr2tfwa"),
            Some("1800000000000"),
            Some("client-nonce-ABCDEF_123"),
            Some(signature),
        )
        .unwrap();
        assert_eq!(
            check_freshness(h.timestamp_ms, at_ms(1_800_000_010_000), DEFAULT_SIGNATURE_WINDOW),
            Ok(())
        );
        assert!(verify_signature(kind, &key, &h.canonical("GET", target, b""), &h.signature), "{kind:?}");
        assert!(!verify_signature(kind, &key, &h.canonical("GET", "/api/v1/orders", b""), &h.signature));
    }
}
