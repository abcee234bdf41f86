//! Decoding one-row answers: a JSON array per table, written by SQLite's and PostgreSQL's JSON
//! functions alike. A read of many rows on SQLite costs a hand-off between its worker thread and
//! the caller per row; as one row of JSON it costs one. Used where a command reads many rows on
//! its hot path: the freeze (see [`crate::sql_freeze`]) and the sign-ins a login is compared with.
//! Anything that does not decode is `Corrupt`: the command refuses rather than act on rows it
//! cannot read.

use custos_core::Timestamp;
use custos_core::api_key::{ApiKeyId, Scopes};
use custos_core::ids::{SessionId, TransferId, Uid, WithdrawalId};
use custos_core::money::Amount;
use custos_core::transfer::TransferState;
use custos_core::withdrawal::WithdrawalState;
use serde::Deserialize;

use crate::backend::corrupt;
use crate::incidents::{ContactChange, ContactKind};
use crate::{FreezeApplied, FreezeRows, LiveApiKey, LiveSession, OpenTransfer, OpenWithdrawal, Result};

/// `[id, ip, user_agent, created_at]`. Identifiers, addresses of the network kind, states and
/// amounts are borrowed from the answer (they never need escaping); free text is owned.
#[derive(Deserialize)]
struct SessionJson<'a>(&'a str, Option<&'a str>, String, i64);

/// `[id, label, scopes, created_at]`
#[derive(Deserialize)]
struct ApiKeyJson<'a>(&'a str, String, &'a str, i64);

/// `[id, state, asset, network, address, amount, fee, txid, broadcast_at, created_at]`
#[derive(Deserialize)]
struct WithdrawalJson<'a>(
    &'a str,
    &'a str,
    String,
    String,
    String,
    &'a str,
    &'a str,
    Option<String>,
    Option<i64>,
    i64,
);

/// `[id, state, asset, amount, to_uid, created_at]`
#[derive(Deserialize)]
struct TransferJson<'a>(&'a str, &'a str, String, &'a str, i64, i64);

fn parse<'a, T: Deserialize<'a>>(json: &'a str, what: &str) -> Result<Vec<T>> {
    serde_json::from_str(json).map_err(|_| corrupt(what))
}

/// A UUID as either backend prints it: hyphenated (PostgreSQL) or 32 upper-case hex digits
/// (SQLite's `hex`; the freeze's read does not pay for `lower()`, which took half the time of its
/// fifty sessions' JSON).
fn uuid(s: &str, what: &str) -> Result<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| corrupt(what))
}

fn amount(s: &str, what: &str) -> Result<Amount> {
    Amount::from_storage(s).ok_or_else(|| corrupt(what))
}

pub(crate) fn rows(sessions: &str, api_keys: &str, withdrawals: &str, transfers: &str) -> Result<FreezeRows> {
    let mut out = FreezeRows {
        sessions: parse::<SessionJson>(sessions, "freeze sessions")?
            .into_iter()
            .map(|SessionJson(id, ip, user_agent, created_at)| {
                Ok(LiveSession {
                    id: SessionId::from_uuid(uuid(id, "session id")?),
                    ip: ip.and_then(|i| i.parse().ok()),
                    user_agent,
                    created_at: Timestamp::from_micros(created_at),
                })
            })
            .collect::<Result<_>>()?,
        api_keys: parse::<ApiKeyJson>(api_keys, "freeze api keys")?
            .into_iter()
            .map(|ApiKeyJson(id, label, scopes, created_at)| {
                let names: Vec<&str> = scopes.split(',').filter(|s| !s.is_empty()).collect();
                Ok(LiveApiKey {
                    id: ApiKeyId::parse(id).ok_or_else(|| corrupt("api key id"))?,
                    label,
                    scopes: Scopes::parse(&names).map_err(|_| corrupt("api key scopes"))?,
                    created_at: Timestamp::from_micros(created_at),
                })
            })
            .collect::<Result<_>>()?,
        withdrawals: parse::<WithdrawalJson>(withdrawals, "freeze withdrawals")?
            .into_iter()
            .map(
                |WithdrawalJson(
                    id,
                    state,
                    asset,
                    network,
                    address,
                    amount_text,
                    fee,
                    txid,
                    broadcast_at,
                    created_at,
                )| {
                    Ok(OpenWithdrawal {
                        id: WithdrawalId::from_uuid(uuid(id, "withdrawal id")?),
                        state: WithdrawalState::parse(state).ok_or_else(|| corrupt("withdrawal state"))?,
                        amount: amount(amount_text, "withdrawal amount")?,
                        fee: amount(fee, "withdrawal fee")?,
                        asset,
                        network,
                        address,
                        txid,
                        broadcast_at: broadcast_at.map(Timestamp::from_micros),
                        created_at: Timestamp::from_micros(created_at),
                    })
                },
            )
            .collect::<Result<_>>()?,
        transfers: parse::<TransferJson>(transfers, "freeze transfers")?
            .into_iter()
            .map(|TransferJson(id, state, asset, amount_text, to_uid, created_at)| {
                Ok(OpenTransfer {
                    id: TransferId::from_uuid(uuid(id, "transfer id")?),
                    state: TransferState::parse(state).ok_or_else(|| corrupt("transfer state"))?,
                    amount: amount(amount_text, "transfer amount")?,
                    asset,
                    to_uid: Uid::from_u64_unchecked(u64::try_from(to_uid).map_err(|_| corrupt("uid"))?),
                    created_at: Timestamp::from_micros(created_at),
                })
            })
            .collect::<Result<_>>()?,
        contact_changes: Vec::new(),
        balances: Vec::new(),
    };
    // The order the receipt lists them in: oldest first, ties by id.
    out.sessions.sort_by_key(|s| (s.created_at, s.id));
    out.api_keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    out.withdrawals.sort_by_key(|w| (w.created_at, w.id));
    out.transfers.sort_by_key(|t| (t.created_at, t.id));
    Ok(out)
}

#[derive(Deserialize)]
struct BalanceJson {
    asset: String,
    available: String,
    locked: String,
}

/// By asset.
pub(crate) fn balances(json: &str) -> Result<Vec<crate::HeldBalance>> {
    let mut out = parse::<BalanceJson>(json, "balances")?
        .into_iter()
        .map(|b| {
            Ok(crate::HeldBalance {
                balance: custos_core::ledger::Balance {
                    available: amount(&b.available, "available balance")?,
                    locked: amount(&b.locked, "locked balance")?,
                },
                asset: b.asset,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    out.sort_by(|a, b| a.asset.cmp(&b.asset));
    Ok(out)
}

#[derive(Deserialize)]
struct ContactChangeJson {
    id: String,
    kind: String,
    previous: String,
    changed_at: i64,
}

/// Oldest first, ties by id (the first email change of a window names the trusted address).
pub(crate) fn contact_changes(json: &str) -> Result<Vec<ContactChange>> {
    let mut changes = parse::<ContactChangeJson>(json, "contact changes")?
        .into_iter()
        .map(|c| {
            let key = (c.changed_at, uuid(&c.id, "contact change id")?);
            let kind = ContactKind::parse(&c.kind).ok_or_else(|| corrupt("contact kind"))?;
            let change = ContactChange {
                kind,
                previous: c.previous,
                changed_at: Timestamp::from_micros(c.changed_at),
            };
            Ok((key, change))
        })
        .collect::<Result<Vec<_>>>()?;
    changes.sort_by_key(|(key, _)| *key);
    Ok(changes.into_iter().map(|(_, c)| c).collect())
}

#[derive(Deserialize)]
struct PriorSignInJson {
    at: i64,
    ip: Option<String>,
    country: Option<String>,
    asn: Option<i64>,
}

/// Newest first.
pub(crate) fn prior_sign_ins(json: &str) -> Result<Vec<crate::PriorSignIn>> {
    let mut out: Vec<crate::PriorSignIn> = parse::<PriorSignInJson>(json, "prior sign-ins")?
        .into_iter()
        .map(|e| crate::PriorSignIn {
            at: Timestamp::from_micros(e.at),
            ip: e.ip.and_then(|i| i.parse().ok()),
            country: e.country,
            asn: e.asn,
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.at));
    Ok(out)
}

/// The sessions and API keys the freeze ended: every one it read (live under the account's stamp
/// and key cut). They are not written: the stamp the freeze rotates and the key cut it moves end
/// them all at once, so they cost the freeze no page of their tables however many there are (see
/// `freeze_sql!`).
fn ended_by_the_account(rows: &FreezeRows) -> (Vec<SessionId>, Vec<ApiKeyId>) {
    (rows.sessions.iter().map(|s| s.id).collect(), rows.api_keys.iter().map(|k| k.id.clone()).collect())
}

/// On PostgreSQL: the ids the freeze's CTEs returned, and the sessions and keys as read.
pub(crate) fn applied(rows: &FreezeRows, withdrawals: &str, transfers: &str) -> Result<FreezeApplied> {
    let ids = |json: &str, what: &str| -> Result<Vec<uuid::Uuid>> {
        parse::<String>(json, what)?.iter().map(|s| uuid(s, what)).collect()
    };
    let (sessions, api_keys) = ended_by_the_account(rows);
    let mut out = FreezeApplied {
        sessions,
        api_keys,
        withdrawals: ids(withdrawals, "cancelled withdrawal ids")?
            .into_iter()
            .map(WithdrawalId::from_uuid)
            .collect(),
        transfers: ids(transfers, "cancelled transfer ids")?.into_iter().map(TransferId::from_uuid).collect(),
    };
    out.sort();
    Ok(out)
}

/// The rows read that the freeze ends — every live session and key (ended by the account row, not
/// written), the withdrawals and transfers in a cancellable state (the states the statements name;
/// the conformance suite holds them to `cancellable`) — provided the writes changed exactly the
/// account and those withdrawals and transfers (`changed`, SQLite's count).
pub(crate) fn applied_as_read(rows: &FreezeRows, changed: i64) -> Result<FreezeApplied> {
    let (sessions, api_keys) = ended_by_the_account(rows);
    let mut out = FreezeApplied {
        sessions,
        api_keys,
        withdrawals: rows.withdrawals.iter().filter(|w| w.state.cancellable()).map(|w| w.id).collect(),
        transfers: rows.transfers.iter().filter(|t| t.state.cancellable()).map(|t| t.id).collect(),
    };
    let expected = 1 + out.withdrawals.len() + out.transfers.len();
    if usize::try_from(changed).ok() != Some(expected) {
        return Err(corrupt("freeze: the writes changed other rows than were read"));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_uuid_spellings_decode_alike() {
        let hyphenated = r#"["0190f1c2-7a3b-7c4d-8e5f-a0b1c2d3e4f5"]"#;
        let hex = r#"["0190f1c27a3b7c4d8e5fa0b1c2d3e4f5"]"#;
        let upper = r#"["0190F1C27A3B7C4D8E5FA0B1C2D3E4F5"]"#;
        let none = FreezeRows::default();
        let a = applied(&none, hyphenated, "[]").unwrap();
        let b = applied(&none, hex, "[]").unwrap();
        assert_eq!(a, b);
        assert_eq!(applied(&none, upper, "[]").unwrap(), a);
        assert_eq!(a.withdrawals.len(), 1);
    }

    #[test]
    fn anything_undecodable_is_corrupt_not_a_panic() {
        let none = FreezeRows::default();
        assert!(applied(&none, "not json", "[]").is_err());
        assert!(applied(&none, r#"["not-a-uuid"]"#, "[]").is_err());
        let bad_amount =
            r#"[["0190f1c27a3b7c4d8e5fa0b1c2d3e4f5","queued","BTC","BTC","x","-1","0",null,null,1]]"#;
        assert!(rows("[]", "[]", bad_amount, "[]").is_err());
        let bad_state = bad_amount.replace("queued", "vanished").replace("-1", "1");
        assert!(rows("[]", "[]", &bad_state, "[]").is_err());
        let short = r#"[["0190f1c27a3b7c4d8e5fa0b1c2d3e4f5","queued","BTC"]]"#;
        assert!(rows("[]", "[]", short, "[]").is_err(), "a row with columns missing");
        let fine = bad_amount.replace("-1", "1");
        assert_eq!(
            rows("[]", "[]", &fine, "[]").unwrap().withdrawals[0].total(),
            Some(Amount::from_atomic(1))
        );
    }

    #[test]
    fn rows_read_count_as_applied_only_when_the_changed_count_agrees() {
        let ws = r#"[["0190f1c27a3b7c4d8e5fa0b1c2d3e4f5","queued","BTC","BTC","x","1","0",null,null,1],
            ["0190f1c27a3b7c4d8e5fa0b1c2d3e4f6","processing","BTC","BTC","x","1","0",null,null,2]]"#;
        let session = r#"[["0190f1c27a3b7c4d8e5fa0b1c2d3e4f7",null,"ua \"quoted\" \u00e9",1]]"#;
        let read = rows(session, "[]", ws, "[]").unwrap();
        // The account and the queued withdrawal change; the processing one is the wallet's, and
        // the session ends with the stamp (not written).
        let applied = applied_as_read(&read, 2).unwrap();
        assert_eq!(applied.withdrawals, vec![read.withdrawals[0].id]);
        assert_eq!(applied.sessions, vec![read.sessions[0].id]);
        assert_eq!(read.sessions[0].user_agent, "ua \"quoted\" é", "free text is unescaped");
        assert!(applied_as_read(&read, 1).is_err(), "fewer rows changed than read");
        assert!(applied_as_read(&read, 3).is_err(), "more rows changed than read");
    }
}
