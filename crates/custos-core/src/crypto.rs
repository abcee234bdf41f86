//! The one place that owns randomness, hashing, encryption and constant-time comparison.
//!
//! - Bearer tokens (sessions, emailed links, device ids) are 256 random bits, shown to their holder
//!   once and stored only as SHA-256 (a preimage search over 2^256 is the bar, so no salt or KDF).
//! - Keys at rest: one root key; HKDF-SHA256 (RFC 5869) derives an independent key per purpose;
//!   XChaCha20-Poly1305 seals with a random 192-bit nonce; every ciphertext starts with the key id
//!   of the root key that sealed it (rotation), and binds purpose and context (e.g. the account id)
//!   as associated data, so a ciphertext moved to another row or purpose fails to open.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Constant-time equality for secrets and their hashes. Use this, never `==`, on anything secret.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// A new per-account security stamp: 128 random bits. Rotating it ends every session and every
/// link that grants access (DESIGN "Link tokens").
pub fn new_security_stamp() -> Vec<u8> {
    rand::random::<[u8; 16]>().to_vec()
}

/// A 256-bit bearer secret in its transport form (base64url, 43 characters). `Debug` never prints it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BearerToken(String);

impl BearerToken {
    /// 256 bits from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes: [u8; 32] = rand::random();
        let t = Self(URL_SAFE_NO_PAD.encode(bytes));
        bytes.zeroize();
        t
    }

    /// Accepts only the exact shape we issue (43 base64url characters), so garbage never reaches
    /// the database and an oversized value is refused before it is hashed.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .then(|| Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(sha256(self.0.as_bytes()))
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// SHA-256 of a bearer token: what the store keeps and looks up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// SHA-256 of a presented secret (a service token from the environment, say).
    pub fn of(secret: &[u8]) -> Self {
        Self(sha256(secret))
    }

    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(Self)
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

/// Purposes a key may be derived for. Each yields an unrelated key; adding one never changes another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    TotpSeed,
    ApiSecret,
    OutboxPayload,
    AuditSigning,
    Cookie,
    PasswordSkeleton,
}

impl KeyPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::TotpSeed => b"custos/v1/totp-seed",
            Self::ApiSecret => b"custos/v1/api-secret",
            Self::OutboxPayload => b"custos/v1/outbox-payload",
            Self::AuditSigning => b"custos/v1/audit-signing",
            Self::Cookie => b"custos/v1/cookie",
            Self::PasswordSkeleton => b"custos/v1/password-skeleton",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("a root key is 32 bytes, written as 64 hex characters or 43 base64url characters")]
    BadRootKey,
    #[error("ciphertext was sealed with key {0}, which this node does not hold")]
    UnknownKeyId(String),
    #[error("ciphertext does not open: wrong key, purpose or context, or it was altered")]
    Unopenable,
}

/// The root of every key at rest. Zeroised on drop; `Debug` shows only its id.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootKey {
    bytes: [u8; 32],
    #[zeroize(skip)]
    id: [u8; 8],
}

impl RootKey {
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"custos/v1/key-id");
        h.update(bytes);
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self { bytes, id }
    }

    /// Parses 64 hex characters or 43 base64url characters.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let mut raw = if s.len() == 64 {
            hex::decode(s).map_err(|_| KeyError::BadRootKey)?
        } else {
            URL_SAFE_NO_PAD.decode(s).map_err(|_| KeyError::BadRootKey)?
        };
        let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| KeyError::BadRootKey)?;
        raw.zeroize();
        Ok(Self::from_bytes(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    pub fn id(&self) -> String {
        hex::encode(self.id)
    }

    fn derive(&self, purpose: KeyPurpose) -> DerivedKey {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"custos"), &self.bytes);
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 255*32 limit: expand cannot fail here.
        hk.expand(purpose.label(), &mut okm).unwrap_or_default();
        DerivedKey(okm)
    }

    /// Key material for a MAC or signature in the given purpose (e.g. cookie signing).
    pub fn derive_bytes(&self, purpose: KeyPurpose) -> [u8; 32] {
        self.derive(purpose).0
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RootKey(id={})", self.id())
    }
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct DerivedKey([u8; 32]);

/// The current root key plus retired ones that may still open old ciphertexts.
#[derive(Debug, Clone)]
pub struct Keyring {
    current: RootKey,
    retired: Vec<RootKey>,
}

const NONCE_LEN: usize = 24;
const KID_LEN: usize = 8;

impl Keyring {
    pub fn new(current: RootKey, retired: Vec<RootKey>) -> Self {
        Self { current, retired }
    }

    pub fn current(&self) -> &RootKey {
        &self.current
    }

    /// HMAC-SHA-256 under the current root key's key for `purpose`: a keyed fingerprint that the
    /// database alone cannot reverse (e.g. of a password's skeleton). Fingerprints made before a
    /// key rotation no longer match.
    pub fn mac(&self, purpose: KeyPurpose, data: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit as _, Mac};
        let key = self.current.derive(purpose);
        let Ok(mut m) = hmac::Hmac::<Sha256>::new_from_slice(&key.0) else { return [0; 32] };
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// `kid ‖ nonce ‖ ciphertext+tag`, bound to `purpose` and `context` as associated data.
    pub fn seal(&self, purpose: KeyPurpose, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let key = self.current.derive(purpose);
        let cipher = XChaCha20Poly1305::new_from_slice(&key.0).unwrap_or_else(|_| unreachable_key());
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let aad = associated_data(purpose, context);
        let ct =
            cipher.encrypt(&nonce_bytes.into(), Payload { msg: plaintext, aad: &aad }).unwrap_or_default();
        let mut out = Vec::with_capacity(KID_LEN + NONCE_LEN + ct.len());
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, purpose: KeyPurpose, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < KID_LEN + NONCE_LEN + 16 {
            return Err(KeyError::Unopenable);
        }
        let (kid, rest) = sealed.split_at(KID_LEN);
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let root = std::iter::once(&self.current)
            .chain(self.retired.iter())
            .find(|k| ct_eq(&k.id, kid))
            .ok_or_else(|| KeyError::UnknownKeyId(hex::encode(kid)))?;
        let key = root.derive(purpose);
        let cipher = XChaCha20Poly1305::new_from_slice(&key.0).map_err(|_| KeyError::Unopenable)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| KeyError::Unopenable)?;
        let aad = associated_data(purpose, context);
        cipher.decrypt(&nonce.into(), Payload { msg: ct, aad: &aad }).map_err(|_| KeyError::Unopenable)
    }
}

fn unreachable_key() -> XChaCha20Poly1305 {
    // A derived key is always 32 bytes, which is exactly XChaCha20-Poly1305's key length.
    XChaCha20Poly1305::new(&[0u8; 32].into())
}

fn associated_data(purpose: KeyPurpose, context: &[u8]) -> Vec<u8> {
    let mut aad = purpose.label().to_vec();
    aad.push(0);
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_parse_only_in_our_shape() {
        let t = BearerToken::generate();
        assert_eq!(t.expose().len(), 43);
        assert!(BearerToken::parse(t.expose()).is_some());
        assert!(BearerToken::parse("short").is_none());
        assert!(BearerToken::parse(&"a".repeat(44)).is_none());
        assert!(BearerToken::parse(&format!("{}=", &t.expose()[..42])).is_none());
        assert_eq!(format!("{t:?}"), "BearerToken(<redacted>)");
        assert_ne!(BearerToken::generate().hash(), t.hash());
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_purpose_and_context() {
        let ring = Keyring::new(RootKey::generate(), vec![]);
        let sealed = ring.seal(KeyPurpose::OutboxPayload, b"account-1", b"https://x/disable/secret");
        assert_eq!(
            ring.open(KeyPurpose::OutboxPayload, b"account-1", &sealed).unwrap(),
            b"https://x/disable/secret"
        );
        assert_eq!(ring.open(KeyPurpose::OutboxPayload, b"account-2", &sealed), Err(KeyError::Unopenable));
        assert_eq!(ring.open(KeyPurpose::TotpSeed, b"account-1", &sealed), Err(KeyError::Unopenable));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(KeyPurpose::OutboxPayload, b"account-1", &tampered), Err(KeyError::Unopenable));
    }

    #[test]
    fn a_retired_key_still_opens_what_it_sealed() {
        let old = RootKey::generate();
        let sealed = Keyring::new(old.clone(), vec![]).seal(KeyPurpose::TotpSeed, b"a", b"seed");
        let rotated = Keyring::new(RootKey::generate(), vec![old.clone()]);
        assert_eq!(rotated.open(KeyPurpose::TotpSeed, b"a", &sealed).unwrap(), b"seed");
        let forgotten = Keyring::new(RootKey::generate(), vec![]);
        assert_eq!(
            forgotten.open(KeyPurpose::TotpSeed, b"a", &sealed),
            Err(KeyError::UnknownKeyId(old.id()))
        );
    }

    #[test]
    fn root_keys_parse_from_hex_and_base64url() {
        let k = RootKey::generate();
        assert_eq!(RootKey::parse(&k.to_hex()).unwrap().id(), k.id());
        assert!(matches!(RootKey::parse("00ff"), Err(KeyError::BadRootKey)));
        assert_eq!(format!("{k:?}"), format!("RootKey(id={})", k.id()));
    }

    #[test]
    fn macs_are_keyed_and_purpose_bound() {
        let ring = Keyring::new(RootKey::generate(), vec![]);
        assert_eq!(
            ring.mac(KeyPurpose::PasswordSkeleton, b"x"),
            ring.mac(KeyPurpose::PasswordSkeleton, b"x")
        );
        assert_ne!(ring.mac(KeyPurpose::PasswordSkeleton, b"x"), ring.mac(KeyPurpose::Cookie, b"x"));
        let other = Keyring::new(RootKey::generate(), vec![]);
        assert_ne!(
            ring.mac(KeyPurpose::PasswordSkeleton, b"x"),
            other.mac(KeyPurpose::PasswordSkeleton, b"x")
        );
    }

    #[test]
    fn ct_eq_compares_length_and_content() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
