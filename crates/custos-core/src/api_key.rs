//! API keys: what a key may do (scopes), where it may be used from (IP allowlist), how long it
//! lives, and the rules for creating one. The request-signing scheme is in [`signing`]; the
//! client-facing specification of both is `docs/api-keys.md`.
//!
//! Two kinds of key. Ed25519: the client generates the key pair and submits only the public key, so
//! custos never holds anything that can sign. HMAC-SHA256: custos generates a 256-bit secret, shows
//! it once, and keeps it sealed at rest ([`crate::crypto::KeyPurpose::ApiSecret`]).
//!
//! Keys that can move money (withdraw, transfer) must name the addresses they will be used from:
//! a stolen key then cannot be used from the thief's machine. Keys without an IP allowlist expire
//! sooner.

pub mod signing;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{Reason, Timestamp};

pub use signing::{
    DEFAULT_SIGNATURE_WINDOW, MAX_SIGNATURE_WINDOW, Nonce, SignatureHeaders, canonical_request,
    check_freshness, nonce_expires_at, verify_signature,
};

const DAY: u64 = 86_400;

/// What a key may do. `withdraw` and `transfer` move money out of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Trade,
    Withdraw,
    Transfer,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Trade, Scope::Withdraw, Scope::Transfer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
            Self::Withdraw => "withdraw",
            Self::Transfer => "transfer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    pub fn moves_money(self) -> bool {
        matches!(self, Self::Withdraw | Self::Transfer)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of scopes. [`Scopes::parse`] is the way in from outside and never yields an empty set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// Parses the scope list of a create request, refusing unknown names, repeats and an empty list;
    /// every problem is reported, not just the first.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, Vec<Reason>> {
        let mut reasons = Vec::new();
        let mut set = Scopes::default();
        if names.is_empty() {
            reasons.push(Reason::new("api-key-scopes-empty", "Choose at least one scope."));
        }
        for name in names {
            let name = name.as_ref();
            match Scope::parse(name) {
                None => reasons.push(Reason::new(
                    "api-key-scope-unknown",
                    format!(
                        "Unknown scope {:?}; the scopes are read, trade, withdraw and transfer.",
                        truncate(name)
                    ),
                )),
                Some(scope) if set.contains(scope) => reasons.push(Reason::new(
                    "api-key-scope-duplicate",
                    format!("The scope {} is listed twice.", scope.as_str()),
                )),
                Some(scope) => set.0 |= scope.bit(),
            }
        }
        if reasons.is_empty() { Ok(set) } else { Err(reasons) }
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The key can take value out of the account (withdraw or transfer).
    pub fn moves_money(self) -> bool {
        self.iter().any(Scope::moves_money)
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// In a fixed order (read, trade, withdraw, transfer), for storage and display.
    pub fn as_strs(self) -> Vec<&'static str> {
        self.iter().map(Scope::as_str).collect()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.as_strs()).finish()
    }
}

impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyKind {
    #[serde(rename = "ed25519")]
    Ed25519,
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
}

impl KeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::HmacSha256 => "hmac-sha256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ed25519, Self::HmacSha256].into_iter().find(|k| k.as_str() == s)
    }
}

/// At most this many entries in a key's IP allowlist.
pub const MAX_ALLOWLIST_ENTRIES: usize = 30;
/// The widest networks an allowlist may name. Anything broader (`0.0.0.0/0`, a /8) would turn the
/// "money keys need an allowlist" rule into a formality.
pub const MIN_IPV4_PREFIX: u8 = 16;
pub const MIN_IPV6_PREFIX: u8 = 48;

/// The networks a key may be used from. Empty means "no restriction"; such a key cannot move money
/// and expires sooner ([`plan_new_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// Parses addresses (`203.0.113.7`, `2001:db8::1`, taken as /32 and /128) and networks
    /// (`203.0.113.0/24`). IPv4-mapped IPv6 entries are stored as the IPv4 they map. Every problem
    /// is reported, not just the first.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, Vec<Reason>> {
        let mut reasons = Vec::new();
        if entries.len() > MAX_ALLOWLIST_ENTRIES {
            reasons.push(Reason::new(
                "api-key-ip-allowlist-too-long",
                format!("An IP allowlist holds at most {MAX_ALLOWLIST_ENTRIES} entries."),
            ));
        }
        let mut nets: Vec<IpNet> = Vec::with_capacity(entries.len().min(MAX_ALLOWLIST_ENTRIES));
        for entry in entries.iter().take(MAX_ALLOWLIST_ENTRIES + 1) {
            let entry = entry.as_ref().trim();
            let net = match parse_net(entry) {
                Ok(net) => net,
                Err(reason) => {
                    reasons.push(reason);
                    continue;
                }
            };
            if nets.contains(&net) {
                reasons.push(Reason::new(
                    "api-key-ip-duplicate",
                    format!("{net} is listed twice in the IP allowlist."),
                ));
            } else {
                nets.push(net);
            }
        }
        if reasons.is_empty() { Ok(Self(nets)) } else { Err(reasons) }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn nets(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether `peer` is on the list. An empty list places no restriction and allows every address:
    /// callers deciding about money must also require a non-empty list ([`authorize`] does).
    /// A peer seen as an IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, as a dual-stack socket
    /// reports IPv4 clients) is matched as the IPv4 address it is.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&peer))
    }

    /// The entries in their canonical text form, for storage and display.
    pub fn as_strings(&self) -> Vec<String> {
        self.0.iter().map(IpNet::to_string).collect()
    }
}

fn parse_net(entry: &str) -> Result<IpNet, Reason> {
    let malformed =
        |why: &str| Reason::new("api-key-ip-malformed", format!("{:?} is not {why}.", truncate(entry)));
    let net = if entry.contains('/') {
        entry.parse::<IpNet>().map_err(|_| malformed("an IP address or a CIDR network"))?
    } else {
        IpNet::from(entry.parse::<IpAddr>().map_err(|_| malformed("an IP address or a CIDR network"))?)
    };
    let net = unmap_ipv4(net);
    if net.network() != net.addr() {
        return Err(Reason::new(
            "api-key-ip-malformed",
            format!("{net} has host bits set; did you mean {}?", net.trunc()),
        ));
    }
    let min = match net {
        IpNet::V4(_) => MIN_IPV4_PREFIX,
        IpNet::V6(_) => MIN_IPV6_PREFIX,
    };
    if net.prefix_len() < min {
        return Err(Reason::new(
            "api-key-ip-range-too-broad",
            format!(
                "{net} is too broad: IPv4 networks may be /{MIN_IPV4_PREFIX} or narrower, \
                 IPv6 /{MIN_IPV6_PREFIX} or narrower."
            ),
        ));
    }
    Ok(net)
}

/// `::ffff:a.b.c.d/n` (n ≥ 96) names IPv4 addresses; store it as `a.b.c.d/(n-96)` so it matches
/// the canonical form [`IpAllowlist::allows`] compares against.
fn unmap_ipv4(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && v6.prefix_len() >= 96
        && let Ok(n) = ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(n);
    }
    net
}

/// How long keys may live. `ttl_without_ips` is configurable (issue: 30 days by default);
/// `max_ttl` bounds every key (365 days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRules {
    pub ttl_without_ips: Duration,
    pub max_ttl: Duration,
}

impl Default for KeyRules {
    fn default() -> Self {
        Self { ttl_without_ips: Duration::from_secs(30 * DAY), max_ttl: Duration::from_secs(365 * DAY) }
    }
}

/// Decides whether a key with these scopes and this allowlist may be created, and until when it is
/// valid. Without an allowlist the key lives at most `ttl_without_ips` (a longer request is
/// shortened, not refused — the response shows the real `valid_until`); with one, at most
/// `max_ttl`. An absent `valid_until` means the longest allowed.
pub fn plan_new_key(
    scopes: Scopes,
    ips: &IpAllowlist,
    requested_valid_until: Option<Timestamp>,
    rules: &KeyRules,
    now: Timestamp,
) -> Result<Timestamp, Vec<Reason>> {
    let mut reasons = Vec::new();
    if scopes.is_empty() {
        reasons.push(Reason::new("api-key-scopes-empty", "Choose at least one scope."));
    }
    if scopes.moves_money() && ips.is_empty() {
        reasons.push(Reason::new(
            "api-key-ip-allowlist-required",
            "A key with the withdraw or transfer scope needs an IP allowlist.",
        ));
    }
    let latest = now.plus(rules.max_ttl);
    if let Some(t) = requested_valid_until {
        if t <= now {
            reasons.push(Reason::new("api-key-valid-until-past", "valid_until must be in the future."));
        } else if t > latest {
            reasons.push(
                Reason::new(
                    "api-key-valid-until-too-far",
                    format!("A key is valid for at most {} days.", rules.max_ttl.as_secs() / DAY),
                )
                .until(latest),
            );
        }
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    let cap = if ips.is_empty() { now.plus(rules.ttl_without_ips.min(rules.max_ttl)) } else { latest };
    Ok(requested_valid_until.map_or(cap, |t| t.min(cap)))
}

/// What the store knows about a key when a signed request arrives (after the signature verified).
#[derive(Debug, Clone)]
pub struct KeyFacts<'a> {
    pub scopes: Scopes,
    pub ip_allowlist: &'a IpAllowlist,
    pub valid_until: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// May this key make a request that needs `needed`, from `peer`, now? Reports every reason.
/// Money scopes are refused for a key without an allowlist even if one was stored somehow.
pub fn authorize(key: &KeyFacts<'_>, needed: Scope, peer: IpAddr, now: Timestamp) -> Result<(), Vec<Reason>> {
    let mut reasons = check_usable(key, now).err().unwrap_or_default();
    if !key.scopes.contains(needed) {
        reasons.push(Reason::new(
            "api-key-scope-missing",
            format!("This API key lacks the {} scope.", needed.as_str()),
        ));
    }
    let ip_ok = key.ip_allowlist.allows(peer) && !(needed.moves_money() && key.ip_allowlist.is_empty());
    if !ip_ok {
        reasons.push(ip_not_allowed());
    }
    if reasons.is_empty() { Ok(()) } else { Err(reasons) }
}

/// Whether the key can be used at all now, whatever the request: not revoked, not expired. Every
/// signed request passes this before its scope and address are looked at ([`authorize`]).
pub fn check_usable(key: &KeyFacts<'_>, now: Timestamp) -> Result<(), Vec<Reason>> {
    let mut reasons = Vec::new();
    if key.revoked_at.is_some_and(|t| t <= now) {
        reasons.push(Reason::new("api-key-revoked", "This API key has been revoked."));
    }
    if now >= key.valid_until {
        reasons.push(Reason::new("api-key-expired", "This API key has expired.").until(key.valid_until));
    }
    if reasons.is_empty() { Ok(()) } else { Err(reasons) }
}

/// Whether `peer` is on the key's allowlist (an empty list allows every address), whatever the
/// request. [`authorize`] adds the rule that money scopes need a non-empty list.
pub fn check_address(ip_allowlist: &IpAllowlist, peer: IpAddr) -> Result<(), Reason> {
    if ip_allowlist.allows(peer) { Ok(()) } else { Err(ip_not_allowed()) }
}

fn ip_not_allowed() -> Reason {
    Reason::new("api-key-ip-not-allowed", "This request did not come from the key's allowed addresses.")
}

/// A key's public id: `ck_` and 24 characters of lowercase base32 (120 random bits). Not secret;
/// it names the key in the `X-Custos-Key` header, in logs and in the security center.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKeyId(String);

const KEY_ID_PREFIX: &str = "ck_";
const KEY_ID_CHARS: usize = 24;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

impl ApiKeyId {
    pub fn generate() -> Self {
        let bytes: [u8; KEY_ID_CHARS] = rand::random();
        // 256 is a multiple of 32, so the low five bits of a uniform byte are uniform.
        let body: String = bytes.iter().map(|b| char::from(BASE32[usize::from(b & 31)])).collect();
        Self(format!("{KEY_ID_PREFIX}{body}"))
    }

    /// Accepts exactly the shape [`ApiKeyId::generate`] makes.
    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix(KEY_ID_PREFIX)?;
        // `BASE32`'s letters, as ranges.
        let base32 = |b: u8| matches!(b, b'a'..=b'z' | b'2'..=b'7');
        (body.len() == KEY_ID_CHARS && body.bytes().all(base32)).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyId({})", self.0)
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An HMAC-SHA256 key's secret: `cs_` and 43 base64url characters (256 random bits), shown to the
/// client once. The HMAC key is this whole string's ASCII bytes, prefix included — clients use it
/// as given, with no decoding step to get wrong. Seal [`HmacSecret::key_material`] at rest and pass
/// the opened bytes to [`verify_signature`].
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HmacSecret(String);

const SECRET_PREFIX: &str = "cs_";
const SECRET_BODY_CHARS: usize = 43;

impl HmacSecret {
    pub fn generate() -> Self {
        let mut bytes: [u8; 32] = rand::random();
        let s = Self(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)));
        bytes.zeroize();
        s
    }

    pub fn parse(s: &str) -> Option<Self> {
        let body = s.strip_prefix(SECRET_PREFIX)?;
        (body.len() == SECRET_BODY_CHARS
            && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(s.to_owned()))
    }

    /// The text shown to the client, once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: what to seal at rest and later give to [`verify_signature`].
    pub fn key_material(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSecret(<redacted>)")
    }
}

/// An Ed25519 public key submitted by a client: 32 bytes (RFC 8032 §5.1.5 encoding) written in
/// standard base64 with padding (44 characters). Refuses encodings that are not a canonical point
/// on the curve and weak (small-order) keys, for which forged signatures exist.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ed25519PublicKey([u8; 32]);

impl Ed25519PublicKey {
    pub fn parse(b64: &str) -> Result<Self, Reason> {
        let malformed = || {
            Reason::new(
                "api-key-public-key-malformed",
                "public_key must be the 32-byte Ed25519 public key in standard base64 (44 characters).",
            )
        };
        let raw = STANDARD.decode(b64.trim()).map_err(|_| malformed())?;
        let bytes: [u8; 32] = raw.as_slice().try_into().map_err(|_| malformed())?;
        Self::from_bytes(bytes)
    }

    /// Checks raw bytes, e.g. read back from the store.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, Reason> {
        let invalid =
            || Reason::new("api-key-public-key-invalid", "public_key is not a valid Ed25519 public key.");
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| invalid())?;
        // Decompression accepts some non-canonical encodings (y ≥ p); re-encoding exposes them.
        if key.to_edwards().compress().to_bytes() != bytes {
            return Err(invalid());
        }
        if key.is_weak() {
            return Err(Reason::new(
                "api-key-public-key-weak",
                "public_key is a weak (small-order) Ed25519 key; generate a fresh key pair.",
            ));
        }
        Ok(Self(bytes))
    }

    /// The 32 bytes to store and to give to [`verify_signature`].
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({})", self.to_base64())
    }
}

/// The create request's `kind` and `public_key` together: an Ed25519 key needs a public key, an
/// HMAC key must not bring one (custos generates its secret).
pub fn check_key_material(
    kind: KeyKind,
    public_key: Option<&str>,
) -> Result<Option<Ed25519PublicKey>, Reason> {
    match (kind, public_key) {
        (KeyKind::Ed25519, Some(pk)) => Ed25519PublicKey::parse(pk).map(Some),
        (KeyKind::Ed25519, None) => Err(Reason::new(
            "api-key-public-key-required",
            "An ed25519 key needs public_key: your Ed25519 public key in base64.",
        )),
        (KeyKind::HmacSha256, None) => Ok(None),
        (KeyKind::HmacSha256, Some(_)) => Err(Reason::new(
            "api-key-public-key-unexpected",
            "An hmac-sha256 key takes no public_key; custos generates its secret.",
        )),
    }
}

/// A label the user gives a key: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KeyLabel(String);

pub const MAX_LABEL_CHARS: usize = 64;

impl KeyLabel {
    pub fn parse(s: &str) -> Result<Self, Reason> {
        let s = s.trim();
        let n = s.chars().count();
        if n == 0 || n > MAX_LABEL_CHARS || s.chars().any(char::is_control) {
            return Err(Reason::new(
                "api-key-label-invalid",
                format!("A label is 1 to {MAX_LABEL_CHARS} characters, without control characters."),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// User input echoed in a reason's detail is cut short, so a huge field cannot bloat the response.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests;
