//! The audit trail: typed, past-tense events in hash-linked chains.
//!
//! Every account has its own chain; events that belong to no account go to the system chain. A
//! record's hash is `SHA-256(prev_hash ‖ canonical)`, where `canonical` is the JSON encoding of
//! `{chain, seq, at, actor, event}` with object keys sorted and no whitespace (serde_json without
//! `preserve_order` sorts `Value` maps). Timestamps are whole microseconds, so a chain hashed
//! before a PostgreSQL round trip verifies after it. The first record links to 32 zero bytes.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::crypto::sha256;
use crate::ids::{AccountId, SessionId};

mod event;
pub use event::AuditEvent;

pub const GENESIS: [u8; 32] = [0; 32];

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The account holder, through a session.
    User { account: AccountId, session: Option<SessionId> },
    /// Someone not signed in (registration, login attempts, an emailed link), known by address.
    Anonymous { ip: Option<IpAddr> },
    /// An operator at the command line (`custos …`), by the name they gave.
    Operator { name: String },
    /// custos itself: workers, expiry, automatic policies.
    System,
    /// A support staff member, by public staff ID (`CS-123456`) and display name.
    Staff { staff_id: String, name: String },
}

/// Which chain a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chain {
    Account(AccountId),
    System,
}

impl Chain {
    pub fn key(&self) -> String {
        match self {
            Self::Account(a) => format!("account:{a}"),
            Self::System => "system".to_owned(),
        }
    }
}

/// Why a set of sessions was ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevokeReason {
    Logout,
    RevokedByUser,
    OthersRevokedByUser,
    SecurityStampRotated,
    CredentialChanged,
    AccountFrozen,
    Expired,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::RevokedByUser => "revoked_by_user",
            Self::OthersRevokedByUser => "others_revoked_by_user",
            Self::SecurityStampRotated => "security_stamp_rotated",
            Self::CredentialChanged => "credential_changed",
            Self::AccountFrozen => "account_frozen",
            Self::Expired => "expired",
        }
    }
}

/// A record as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub chain: String,
    pub seq: i64,
    pub at: Timestamp,
    pub actor: Actor,
    pub account: Option<AccountId>,
    pub event: AuditEvent,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// The bytes a record's hash covers, besides the previous hash.
///
/// Compact JSON of `{chain, seq, at, actor, event}` with the keys of every object sorted: the bytes
/// `serde_json` gives for it as a `Value` (whose objects are `BTreeMap`s), which is how every
/// record so far was hashed — written by [`crate::sorted_json`] without building the `Value`.
pub fn canonical(chain: &str, seq: i64, at: Timestamp, actor: &Actor, event: &AuditEvent) -> Vec<u8> {
    let event = crate::sorted_json::to_vec(event).unwrap_or_default();
    canonical_around(chain, seq, at, actor, &event)
}

/// [`canonical`] around an event already in canonical form. The record's keys in sorted order
/// are `actor`, `at`, `chain`, `event`, `seq`, so the event's bytes sit whole inside the record's:
/// an appender encodes the event once, for the hash and for storing.
fn canonical_around(chain: &str, seq: i64, at: Timestamp, actor: &Actor, event: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(event.len() + 160);
    out.extend_from_slice(b"{\"actor\":");
    out.extend_from_slice(&crate::sorted_json::to_vec(actor).unwrap_or_default());
    out.extend_from_slice(format!(",\"at\":{},\"chain\":", at.as_micros()).as_bytes());
    out.extend_from_slice(&serde_json::to_vec(chain).unwrap_or_default());
    out.extend_from_slice(b",\"event\":");
    out.extend_from_slice(event);
    out.extend_from_slice(format!(",\"seq\":{seq}}}").as_bytes());
    out
}

pub fn link(prev_hash: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(32 + canonical.len());
    buf.extend_from_slice(prev_hash);
    buf.extend_from_slice(canonical);
    sha256(&buf)
}

impl AuditRecord {
    /// Builds the next record of a chain whose head is `(prev_seq, prev_hash)` (`(0, GENESIS)` when empty).
    pub fn next(chain: Chain, head: (i64, [u8; 32]), at: Timestamp, actor: Actor, event: AuditEvent) -> Self {
        Self::next_encoded(chain, head, at, actor, event).0
    }

    /// [`Self::next`], with the event as the JSON its hash covers (sorted keys), ready to store:
    /// it reads back as the same event, and the receipt a freeze record carries is encoded once.
    pub fn next_encoded(
        chain: Chain,
        head: (i64, [u8; 32]),
        at: Timestamp,
        actor: Actor,
        event: AuditEvent,
    ) -> (Self, String) {
        let chain_key = chain.key();
        let seq = head.0 + 1;
        let encoded = crate::sorted_json::to_vec(&event).unwrap_or_default();
        let hash = link(&head.1, &canonical_around(&chain_key, seq, at, &actor, &encoded));
        let account = match chain {
            Chain::Account(a) => Some(a),
            Chain::System => None,
        };
        let record = Self { chain: chain_key, seq, at, actor, account, event, prev_hash: head.1, hash };
        // `sorted_json` writes `serde_json`'s own strings and numbers: always UTF-8.
        (record, String::from_utf8(encoded).unwrap_or_default())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chain {chain}: record {seq} is broken: {problem}")]
pub struct BrokenChain {
    pub chain: String,
    pub seq: i64,
    pub problem: &'static str,
}

/// Checks one chain, given in sequence order. Names the first broken record.
pub fn verify_chain<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Result<u64, BrokenChain> {
    let mut head = (0i64, GENESIS);
    let mut count = 0u64;
    verify_from(&mut head, &mut count, records)?;
    Ok(count)
}

/// Continues checking a chain from `head` (the last verified `(seq, hash)`), so a long chain can be
/// verified page by page. Advances `head` and `count` past every record that verifies.
pub fn verify_from<'a>(
    head: &mut (i64, [u8; 32]),
    count: &mut u64,
    records: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<(), BrokenChain> {
    let prev = head;
    for r in records {
        let broken = |problem| BrokenChain { chain: r.chain.clone(), seq: r.seq, problem };
        if r.seq != prev.0 + 1 {
            return Err(broken("sequence gap or reordering"));
        }
        if r.prev_hash != prev.1 {
            return Err(broken("previous-hash link does not match the record before it"));
        }
        if link(&r.prev_hash, &canonical(&r.chain, r.seq, r.at, &r.actor, &r.event)) != r.hash {
            return Err(broken("content does not match its hash (altered record)"));
        }
        *prev = (r.seq, r.hash);
        *count += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DeviceId;

    fn sample_chain(n: usize) -> Vec<AuditRecord> {
        let account = AccountId::new();
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let head = out.last().map(|r| (r.seq, r.hash)).unwrap_or((0, GENESIS));
            out.push(AuditRecord::next(
                Chain::Account(account),
                head,
                Timestamp::from_micros(1_700_000_000_000_000 + i as i64),
                Actor::System,
                AuditEvent::LoginFailed { ip: None, reason: format!("attempt {i}") },
            ));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&sample_chain(5)), Ok(5));
        assert_eq!(verify_chain(&[]), Ok(0));
    }

    #[test]
    fn an_altered_record_is_named() {
        let mut c = sample_chain(5);
        c[2].event = AuditEvent::EmailVerified;
        let err = verify_chain(&c).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.problem.contains("altered"));
    }

    #[test]
    fn a_deleted_record_is_named() {
        let mut c = sample_chain(5);
        c.remove(1);
        assert_eq!(verify_chain(&c).unwrap_err().seq, 3);
    }

    /// How records were encoded before `sorted_json`: through a `Value`. Every chain written so
    /// far was hashed over these bytes.
    fn canonical_via_value(
        chain: &str,
        seq: i64,
        at: Timestamp,
        actor: &Actor,
        event: &AuditEvent,
    ) -> Vec<u8> {
        let v = serde_json::json!({ "chain": chain, "seq": seq, "at": at.as_micros(), "actor": actor, "event": event });
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn canonical_bytes_are_those_every_chain_was_hashed_over() {
        use crate::freeze::*;
        let receipt = FreezeReceipt {
            uid: 208_214_097,
            frozen_at: Timestamp::from_micros(1_796_315_259_704_134),
            channel: FreezeChannel::EmailLink,
            reason: "\"Not you?\" link — used\n".into(),
            sessions_revoked: (0..3)
                .map(|i| RevokedSession {
                    id: format!("01a23cbb-a2f5-708b-98b2-1d36ff317d1{i}"),
                    ip: (i != 1).then(|| "2001:db8::1".into()),
                    user_agent: "Mozilla/5.0 (X11; Linux) ü".into(),
                    created_at: Timestamp::from_micros(i),
                })
                .collect(),
            api_keys_revoked: vec![RevokedApiKey {
                id: "k".into(),
                label: "bot".into(),
                scopes: vec!["read".into(), "trade".into()],
            }],
            withdrawals_cancelled: vec![WithdrawalLine {
                id: "w".into(),
                state: "queued".into(),
                asset: "BTC".into(),
                network: "BTC".into(),
                amount: "0.01".into(),
                address: "bc1q".into(),
                txid: None,
                outcome: Some("intercepted".into()),
            }],
            withdrawals_intercepted: Vec::new(),
            withdrawals_not_stopped: Vec::new(),
            withdrawals_beyond_reach: Vec::new(),
            transfers_cancelled: vec![TransferLine {
                id: "t".into(),
                asset: "ETH".into(),
                amount: "1".into(),
                to_uid: 7,
            }],
        };
        let account = AccountId::new();
        let cases = [
            (Actor::System, AuditEvent::EmailVerified),
            (
                Actor::Anonymous { ip: Some("203.0.113.9".parse().unwrap()) },
                AuditEvent::AccountFrozen {
                    channel: "email_link".into(),
                    reason: "r".into(),
                    receipt: Box::new(receipt),
                },
            ),
            (
                Actor::User { account, session: Some(SessionId::new()) },
                AuditEvent::LoginSucceeded {
                    session: SessionId::new(),
                    device: DeviceId::new(),
                    ip: None,
                    new_device: false,
                },
            ),
            (
                Actor::Staff { staff_id: "CS-123456".into(), name: "Ana".into() },
                AuditEvent::WithdrawalLockSet { until: Timestamp::from_micros(-5), reason: "48 h".into() },
            ),
            (Actor::Operator { name: "ops".into() }, AuditEvent::PanicCodeGenerated),
        ];
        for (actor, event) in &cases {
            let chain = Chain::Account(account).key();
            assert_eq!(
                canonical(&chain, 42, Timestamp::from_micros(9), actor, event),
                canonical_via_value(&chain, 42, Timestamp::from_micros(9), actor, event),
                "{event:?}"
            );
        }
    }

    #[test]
    fn an_event_encoded_for_storing_reads_back_and_its_record_verifies() {
        let event =
            AuditEvent::LoginFailed { ip: Some("203.0.113.9".parse().unwrap()), reason: "a \"b\" ü".into() };
        let at = Timestamp::from_micros(1_700_000_000_000_000);
        let (record, stored) =
            AuditRecord::next_encoded(Chain::System, (0, GENESIS), at, Actor::System, event.clone());
        assert_eq!(serde_json::from_str::<AuditEvent>(&stored).unwrap(), event);
        assert_eq!(record, AuditRecord::next(Chain::System, (0, GENESIS), at, Actor::System, event));
        assert_eq!(verify_chain(&[record]), Ok(1));
    }

    #[test]
    fn canonical_encoding_is_stable() {
        let a = canonical("system", 1, Timestamp::from_micros(5), &Actor::System, &AuditEvent::EmailVerified);
        assert_eq!(
            String::from_utf8(a).unwrap(),
            r#"{"actor":{"kind":"system"},"at":5,"chain":"system","event":{"type":"email_verified"},"seq":1}"#
        );
    }

    #[test]
    fn events_round_trip_through_json() {
        let e = AuditEvent::LoginSucceeded {
            session: SessionId::new(),
            device: DeviceId::new(),
            ip: Some("203.0.113.9".parse().unwrap()),
            new_device: true,
        };
        let back: AuditEvent = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
