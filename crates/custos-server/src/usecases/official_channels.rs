//! The official-channel registry and the public "is this really us?" check (issue 6 item 5).
//!
//! Domains, sender addresses, phone numbers and social handles are registered by an operator
//! (`custos official add`) or an admin (`POST /api/v1/support/official-channels`); staff IDs come
//! from the staff table: an active staff member's ID is official, a disabled one's is "no longer
//! valid", anything else is not official. The decision is `custos_core::official_channel::judge`.

use custos_core::Reason;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::official_channel::{ChannelKind, Verdict, guess_kind, judge, normalise};
use custos_core::staff::{StaffAction, StaffCode, StaffStatus};
use custos_core::throttle::ThrottleRule;
use custos_store::{OfficialChannelRecord, StoreError};
use serde::Serialize;

use super::audit;
use super::staff::StaffCaller;
use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;

/// Public verification per source address: generous for a person, useless for enumeration.
pub const VERIFY_PER_IP: ThrottleRule = ThrottleRule {
    window: std::time::Duration::from_secs(60),
    free: 30,
    base_delay: std::time::Duration::from_secs(1),
    max_delay: std::time::Duration::from_secs(60),
};

fn parse_kind(kind: &str) -> Result<ChannelKind, ApiError> {
    ChannelKind::parse(kind).ok_or_else(|| {
        ApiError::Validation(vec![Reason::new(
            "channel-kind-invalid",
            "The kind is one of domain, email, phone, social or staff.",
        )])
    })
}

/// Who adds or removes an entry: an operator at the command line or an admin in the console.
pub enum Registrar<'a> {
    Operator(&'a str),
    Staff(&'a StaffCaller),
}

impl Registrar<'_> {
    fn check(&self) -> Result<(), ApiError> {
        match self {
            Self::Operator(_) => Ok(()),
            Self::Staff(s) => s.require(StaffAction::ManageOfficialChannels),
        }
    }
    fn actor(&self) -> Actor {
        match self {
            Self::Operator(name) => Actor::Operator { name: (*name).to_owned() },
            Self::Staff(s) => s.actor(),
        }
    }
    fn name(&self) -> String {
        match self {
            Self::Operator(name) => format!("operator {name}"),
            Self::Staff(s) => format!("staff {}", s.code),
        }
    }
}

fn registrable(kind: &str) -> Result<ChannelKind, ApiError> {
    match parse_kind(kind)? {
        ChannelKind::Staff => Err(ApiError::Validation(vec![Reason::new(
            "channel-kind-invalid",
            "Staff IDs are official while their staff member is active; they are not added by hand.",
        )])),
        k => Ok(k),
    }
}

/// Adds an entry (audited on the system chain). A value already registered: `409 conflict`.
pub async fn add(
    state: &AppState,
    by: Registrar<'_>,
    kind: &str,
    value: &str,
    note: Option<&str>,
) -> Result<OfficialChannelRecord, ApiError> {
    by.check()?;
    let kind = registrable(kind)?;
    let value = normalise(kind, value).map_err(|r| ApiError::Validation(vec![r]))?;
    let note = note.map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 200 || n.chars().any(char::is_control)) {
        return Err(ApiError::Validation(vec![Reason::new(
            "note-invalid",
            "A note is at most 200 printable characters.",
        )]));
    }
    let now = state.clock.now();
    let record = OfficialChannelRecord {
        id: uuid::Uuid::now_v7(),
        kind,
        value: value.clone(),
        note,
        created_at: now,
        created_by: by.name(),
    };
    let mut tx = state.store.begin().await?;
    match tx.insert_official_channel(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::Conflict(Reason::new(
                "channel-exists",
                "This channel is registered already.",
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let event = AuditEvent::OfficialChannelAdded { kind: kind.as_str().into(), value };
    audit(&mut *tx, Chain::System, now, by.actor(), event).await?;
    tx.commit().await?;
    Ok(record)
}

/// Removes an entry (audited). Not registered: `NotFound`.
pub async fn remove(state: &AppState, by: Registrar<'_>, kind: &str, value: &str) -> Result<(), ApiError> {
    by.check()?;
    let kind = registrable(kind)?;
    let value = normalise(kind, value).map_err(|r| ApiError::Validation(vec![r]))?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    if !tx.delete_official_channel(kind, &value).await? {
        return Err(ApiError::NotFound);
    }
    let event = AuditEvent::OfficialChannelRemoved { kind: kind.as_str().into(), value };
    audit(&mut *tx, Chain::System, now, by.actor(), event).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn list(state: &AppState) -> Result<Vec<OfficialChannelRecord>, ApiError> {
    Ok(state.store.official_channels(None).await?)
}

/// The public answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyAnswer {
    pub official: bool,
    /// `official | not_official | lookalike | no_longer_valid`
    pub status: &'static str,
    /// `domain | email | phone | social | staff`
    pub kind: &'static str,
    /// The value as checked, in canonical form.
    pub value: String,
    /// The registry's note (e.g. "support email"); for a staff ID, the staff member's name.
    pub note: Option<String>,
    /// For a lookalike: the official value it imitates.
    pub lookalike_of: Option<String>,
    /// What to do, in plain words.
    pub message: String,
}

/// `GET /api/v1/verify?channel=…[&kind=…]`: throttled per address; garbage is a `422` with a
/// reason, never a 500.
pub async fn verify(
    state: &AppState,
    client: &Client,
    channel: &str,
    kind: Option<&str>,
) -> Result<VerifyAnswer, ApiError> {
    let now = state.clock.now();
    let key = format!("verify:ip:{}", client.ip);
    if let Some(retry_after) = super::throttle_wait(state, &key, VERIFY_PER_IP, now).await? {
        return Err(ApiError::Throttled { retry_after });
    }
    // Every check counts towards the window (not only failures): the limit is on volume.
    let mut tx = state.store.begin().await?;
    tx.record_failure(&key, now, VERIFY_PER_IP.window).await?;
    tx.commit().await?;

    if channel.trim().is_empty() {
        return Err(ApiError::Validation(vec![Reason::new(
            "channel-missing",
            "Type the address, number, handle or staff ID to check.",
        )]));
    }
    let kind = match kind.map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => parse_kind(k)?,
        None => guess_kind(channel),
    };
    let value = normalise(kind, channel).map_err(|r| ApiError::Validation(vec![r]))?;
    if kind == ChannelKind::Staff {
        return verify_staff(state, value).await;
    }
    let registry = state.store.official_channels(Some(kind)).await?;
    let values: Vec<String> = registry.iter().map(|c| c.value.clone()).collect();
    let (verdict, matched) = judge(kind, &value, &values);
    let note = matched.and_then(|m| registry.iter().find(|c| c.value == m).and_then(|c| c.note.clone()));
    Ok(answer(kind, value, verdict, note))
}

async fn verify_staff(state: &AppState, value: String) -> Result<VerifyAnswer, ApiError> {
    let code = StaffCode::parse(&value).ok_or(ApiError::NotFound)?;
    let staff = state.store.staff_by_code(&code).await?;
    let (verdict, note) = match staff {
        Some(s) if s.status == StaffStatus::Active => (Verdict::Official, Some(s.name)),
        Some(s) if s.status == StaffStatus::Disabled => (Verdict::NoLongerValid, None),
        _ => (Verdict::NotOfficial, None),
    };
    Ok(answer(ChannelKind::Staff, value, verdict, note))
}

fn answer(kind: ChannelKind, value: String, verdict: Verdict, note: Option<String>) -> VerifyAnswer {
    let (official, status, lookalike_of, message) = match verdict {
        Verdict::Official => (
            true,
            "official",
            None,
            format!(
                "{value} is an official channel. Still: we never ask for your password, codes or recovery phrases."
            ),
        ),
        Verdict::NoLongerValid => (
            false,
            "no_longer_valid",
            None,
            format!(
                "{value} is NOT valid any more: it belonged to someone who no longer works in support. \
                 Do not follow their instructions; contact support through this site."
            ),
        ),
        Verdict::Lookalike { of } => (
            false,
            "lookalike",
            Some(of.clone()),
            format!(
                "This is NOT an official channel. {value} imitates our official {} {of}: it is very likely a scam. \
                 Do not reply, click, pay or share any code.",
                kind.as_str()
            ),
        ),
        Verdict::NotOfficial => (
            false,
            "not_official",
            None,
            format!(
                "This is NOT an official channel: {value} is not in our list. \
                 Do not share passwords, codes or funds with it; contact support through this site."
            ),
        ),
    };
    VerifyAnswer { official, status, kind: kind.as_str(), value, note, lookalike_of, message }
}
