//! The withdrawal address allowlist: list it, add an address (aal2 step-up, then an emailed link,
//! then the cooling period), remove one (at once), turn the list on (at once, cancelling a pending
//! turn-off) or off (aal2 step-up, effective after the delay). Every change is audited and emailed
//! in its own transaction. The rules are in `custos_core::allowlist`; this module applies them.

use std::net::IpAddr;
use std::time::Duration;

use custos_core::Timestamp;
use custos_core::allowlist::{self, EntryState, Mode, ModeChange};
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::crypto::BearerToken;
use custos_core::ids::{AllowlistEntryId, LinkTokenId};
use custos_core::link_token::LinkPurpose;
use custos_core::login::AccountStatus;
use custos_core::notice::{AllowlistEntrySummary, Notice};
use custos_core::step_up::Requirement;
use custos_core::webhook::WebhookEvent;
use custos_store::{AccountRecord, AllowlistEntryRecord, AllowlistModeRecord, LinkTokenRecord, Tx};
use serde::{Deserialize, Serialize};

use super::notify::{self, Recipient};
use super::{audit, step_up};
use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// A new entry as asked for.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntryRequest {
    /// `BTC`, `ETH`, `USDT`.
    pub asset: String,
    /// The network's code for this asset, e.g. `BTC`, `ETH`, `TRX`.
    pub network: String,
    /// Checked against the network's format (checksums included) and stored in canonical form.
    pub address: String,
    /// Only on networks that use memos (tags).
    #[serde(default)]
    pub memo: Option<String>,
    /// 1 to 64 characters, for you to recognise the address by.
    pub label: String,
}

/// One entry as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    pub id: String,
    pub asset: String,
    pub network: String,
    pub address: String,
    pub memo: Option<String>,
    pub label: String,
    /// `awaiting_confirmation`, `confirmation_expired`, `cooling`, `active` (or `removed`).
    pub state: &'static str,
    /// RFC 3339, like every time here.
    pub created_at: String,
    /// Until when the emailed link confirms it (while awaiting confirmation).
    pub confirm_by: Option<String>,
    pub confirmed_at: Option<String>,
    /// From when withdrawals may use it (once confirmed: the end of the cooling period).
    pub usable_from: Option<String>,
}

impl EntryView {
    pub fn new(e: &AllowlistEntryRecord, now: Timestamp) -> Self {
        let state = e.facts().state(now);
        Self {
            id: e.id.to_string(),
            asset: e.asset.clone(),
            network: e.network.clone(),
            address: e.address.clone(),
            memo: e.memo.clone(),
            label: e.label.clone(),
            state: state.as_str(),
            created_at: e.created_at.rfc3339(),
            confirm_by: matches!(state, EntryState::AwaitingConfirmation { .. })
                .then(|| e.confirm_by.rfc3339()),
            confirmed_at: e.confirmed_at.map(Timestamp::rfc3339),
            usable_from: e.usable_from.map(Timestamp::rfc3339),
        }
    }
}

/// The allowlist as its owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AllowlistView {
    /// `off`, `on`, or `turning_off` (still enforced until `turns_off_at`).
    pub mode: &'static str,
    /// Whether withdrawals must go to an active entry now.
    pub enforced: bool,
    /// When a requested turn-off takes effect; turning the allowlist on before then cancels it.
    pub turns_off_at: Option<String>,
    /// How long a confirmed entry cools down, in seconds.
    pub cooling_seconds: u64,
    /// How long a turn-off takes, in seconds.
    pub disable_delay_seconds: u64,
    /// Newest first; removed entries are not listed.
    pub entries: Vec<EntryView>,
}

fn view(state: &AppState, mode: Mode, entries: &[AllowlistEntryRecord], now: Timestamp) -> AllowlistView {
    let mode = mode.at(now);
    AllowlistView {
        mode: mode.as_str(),
        enforced: mode.enforced(now),
        turns_off_at: match mode {
            Mode::TurningOff { at } => Some(at.rfc3339()),
            _ => None,
        },
        cooling_seconds: state.config.money.allowlist_cooling.as_secs(),
        disable_delay_seconds: state.config.money.allowlist_disable_delay.as_secs(),
        entries: entries.iter().map(|e| EntryView::new(e, now)).collect(),
    }
}

pub async fn list(state: &AppState, who: &UserSession) -> Result<AllowlistView, ApiError> {
    let now = state.clock.now();
    let mode = state.store.allowlist_mode(who.account_id).await?.mode();
    let entries = state.store.allowlist_entries(who.account_id).await?;
    Ok(view(state, mode, &entries, now))
}

/// `24 hours`, `90 minutes`, `2 days`: a delay in words for emails.
pub(crate) fn in_words(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s.is_multiple_of(86_400) && s >= 2 * 86_400 {
        (s / 86_400, "day")
    } else if s.is_multiple_of(3_600) && s > 0 {
        (s / 3_600, "hour")
    } else if s.is_multiple_of(60) && s > 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn describe(e: &AllowlistEntryRecord) -> String {
    format!(
        "\"{}\" ({} on {}, {}{})",
        e.label,
        e.asset,
        e.network,
        e.address,
        e.memo.as_ref().map(|m| format!(", memo {m}")).unwrap_or_default()
    )
}

/// What changed, for the exchange: `allowlist.changed` with `change` one of `entry_added`,
/// `entry_confirmed`, `entry_removed`, `turned_on`, `turn_off_scheduled`, `turn_off_cancelled`.
struct Change<'a> {
    what: &'static str,
    entry: Option<&'a AllowlistEntryRecord>,
    turns_off_at: Option<Timestamp>,
}

/// Queues the webhook for `change`, keyed `allowlist.changed:{key}`.
async fn announce(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &AccountRecord,
    change: Change<'_>,
    key: &str,
    now: Timestamp,
) -> Result<(), ApiError> {
    let data = serde_json::json!({
        "uid": account.uid.get(),
        "change": change.what,
        "entry": change.entry.map(|e| EntryView::new(e, now)),
        "turns_off_at": change.turns_off_at.map(Timestamp::rfc3339),
    });
    let event = WebhookEvent::AllowlistChanged;
    notify::webhook(tx, state, Some(account.id), event, data, format!("{event}:{key}"), now).await
}

/// Emails the owner `sentence` and announces `change`, both keyed by `key`.
#[allow(clippy::too_many_arguments)]
async fn tell(
    tx: &mut dyn Tx,
    state: &AppState,
    account: &AccountRecord,
    sentence: String,
    change: Change<'_>,
    key: String,
    ip: Option<IpAddr>,
    now: Timestamp,
) -> Result<(), ApiError> {
    let notice = Notice::AllowlistChanged { change: sentence, at: now, ip: ip.map(|i| i.to_string()) };
    notify::email(tx, state, Recipient::holder(account), notice, key.clone(), now).await?;
    announce(tx, state, account, change, &key, now).await
}

/// Adds an address: checked against its network, refused as a duplicate or beyond the cap, and
/// usable only after the owner follows the emailed link and the cooling period has passed. Needs a
/// recent step-up with a second factor (it loosens where money may go).
pub async fn add(
    state: &AppState,
    who: &UserSession,
    req: &NewEntryRequest,
    ip: Option<IpAddr>,
) -> Result<EntryView, ApiError> {
    let money = &state.config.money;
    let new = allowlist::check_new_entry(
        &money.assets,
        &req.asset,
        &req.network,
        &req.address,
        req.memo.as_deref(),
        &req.label,
    )
    .map_err(ApiError::Validation)?;
    step_up::require(state, who, Requirement::RecentAal2).await?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if account.status != AccountStatus::Active {
        return Err(ApiError::AccountInactive);
    }
    let existing: Vec<_> = tx.allowlist_entries_of(account.id).await?.iter().map(|e| e.facts()).collect();
    allowlist::may_add(&existing, &new.destination(), now).map_err(ApiError::Conflict)?;

    let ttl = LinkPurpose::ConfirmAllowlistEntry.default_ttl();
    let entry = AllowlistEntryRecord {
        id: AllowlistEntryId::new(),
        account_id: account.id,
        asset: new.asset.to_owned(),
        network: new.network.to_owned(),
        address: new.address.clone(),
        memo: new.memo.clone(),
        label: new.label.clone(),
        created_at: now,
        confirm_by: now.plus(ttl),
        confirmed_at: None,
        usable_from: None,
        removed_at: None,
    };
    tx.insert_allowlist_entry(&entry).await?;
    let token = BearerToken::generate();
    let link = LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash: token.hash(),
        purpose: LinkPurpose::ConfirmAllowlistEntry,
        account_id: account.id,
        subject: Some(entry.id.to_string()),
        stamp_at_issue: account.security_stamp.clone(),
        created_at: now,
        expires_at: entry.confirm_by,
        used_at: None,
    };
    tx.insert_link_token(&link).await?;
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        Actor::User { account: account.id, session: Some(who.session_id) },
        AuditEvent::AllowlistEntryAdded {
            entry: entry.id.to_string(),
            asset: entry.asset.clone(),
            network: entry.network.clone(),
            address: entry.address.clone(),
            memo: entry.memo.clone(),
        },
    )
    .await?;
    let notice = Notice::ConfirmAllowlistEntry {
        entry: AllowlistEntrySummary {
            label: entry.label.clone(),
            asset: entry.asset.clone(),
            network: entry.network.clone(),
            address: entry.address.clone(),
            memo: entry.memo.clone(),
        },
        confirm_url: state.config.link(&format!("/confirm-allowlist-entry/{}", token.expose())),
        expires_at: entry.confirm_by,
        cooling: in_words(money.allowlist_cooling),
        ip: ip.map(|i| i.to_string()),
    };
    let key = format!("confirm_allowlist_entry:{}", entry.id);
    notify::email(&mut *tx, state, Recipient::holder(&account), notice, key.clone(), now).await?;
    let change = Change { what: "entry_added", entry: Some(&entry), turns_off_at: None };
    announce(&mut *tx, state, &account, change, &key, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(EntryView::new(&entry, now))
}

fn link_subject(link: &LinkTokenRecord) -> Result<AllowlistEntryId, ApiError> {
    link.subject.as_deref().and_then(|s| s.parse().ok()).ok_or(ApiError::LinkInvalid)
}

/// Opens the confirmation link and its entry, which must still await confirmation.
async fn open(
    tx: &mut dyn Tx,
    token: &str,
    now: Timestamp,
) -> Result<(LinkTokenRecord, AccountRecord, AllowlistEntryRecord), ApiError> {
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let (link, account) = super::open_link(tx, &token, LinkPurpose::ConfirmAllowlistEntry, now).await?;
    let entry =
        tx.allowlist_entry_of(account.id, link_subject(&link)?).await?.ok_or(ApiError::LinkInvalid)?;
    if !matches!(entry.facts().state(now), EntryState::AwaitingConfirmation { .. }) {
        return Err(ApiError::LinkInvalid);
    }
    Ok((link, account, entry))
}

/// What the confirmation page shows before anything is done (GET changes nothing).
pub async fn preview(state: &AppState, token: &str) -> Result<EntryView, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (_, _, entry) = open(&mut *tx, token, now).await?;
    tx.rollback().await?;
    Ok(EntryView::new(&entry, now))
}

/// Confirms by the emailed link: the cooling period starts now. Refused when the account is no
/// longer active.
pub async fn confirm(state: &AppState, token: &str, ip: Option<IpAddr>) -> Result<EntryView, ApiError> {
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let (link, account, mut entry) = open(&mut *tx, token, now).await?;
    if account.status != AccountStatus::Active {
        return Err(ApiError::AccountInactive);
    }
    if !tx.mark_link_token_used(link.id, now).await? {
        return Err(ApiError::LinkInvalid);
    }
    let usable_from = now.plus(state.config.money.allowlist_cooling);
    if !tx.confirm_allowlist_entry(entry.id, now, usable_from).await? {
        return Err(ApiError::LinkInvalid);
    }
    entry.confirmed_at = Some(now);
    entry.usable_from = Some(usable_from);
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        Actor::Anonymous { ip },
        AuditEvent::AllowlistEntryConfirmed { entry: entry.id.to_string(), usable_from },
    )
    .await?;
    let change = format!(
        "The address {} was confirmed for your withdrawal allowlist. Withdrawals can use it from {usable_from}; \
         until then you can remove it and it will never have been usable.",
        describe(&entry)
    );
    let key = format!("allowlist_entry_confirmed:{}", entry.id);
    let what = Change { what: "entry_confirmed", entry: Some(&entry), turns_off_at: None };
    tell(&mut *tx, state, &account, change, what, key, ip, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(EntryView::new(&entry, now))
}

/// Removes an entry at once (tightening: a session is enough). Another account's entry, or one
/// already removed, is "not found".
pub async fn remove(
    state: &AppState,
    who: &UserSession,
    id: &str,
    ip: Option<IpAddr>,
) -> Result<(), ApiError> {
    let id: AllowlistEntryId = id.parse().map_err(|_| ApiError::NotFound)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    let entry = tx.allowlist_entry_of(account.id, id).await?.ok_or(ApiError::NotFound)?;
    if !tx.remove_allowlist_entry(account.id, id, now).await? {
        return Err(ApiError::NotFound);
    }
    audit(
        &mut *tx,
        Chain::Account(account.id),
        now,
        Actor::User { account: account.id, session: Some(who.session_id) },
        AuditEvent::AllowlistEntryRemoved { entry: id.to_string() },
    )
    .await?;
    let change = format!("The address {} was removed from your withdrawal allowlist.", describe(&entry));
    let key = format!("allowlist_entry_removed:{id}");
    let what = Change { what: "entry_removed", entry: Some(&entry), turns_off_at: None };
    tell(&mut *tx, state, &account, change, what, key, ip, now).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(())
}

/// Turns the allowlist on (at once; cancels a pending turn-off) or off (needs a recent step-up
/// with a second factor; takes effect after the configured delay and is enforced until then).
/// Asking for the mode it already has (or a turn-off already pending) changes nothing.
pub async fn set_mode(
    state: &AppState,
    who: &UserSession,
    enabled: bool,
    ip: Option<IpAddr>,
) -> Result<AllowlistView, ApiError> {
    if !enabled {
        step_up::require(state, who, Requirement::RecentAal2).await?;
    }
    let now = state.clock.now();
    let money = &state.config.money;
    let mut tx = state.store.begin().await?;
    let account = tx.lock_account(who.account_id).await?.ok_or(ApiError::Unauthenticated)?;
    if !enabled && account.status != AccountStatus::Active {
        return Err(ApiError::AccountInactive);
    }
    let stored = tx.allowlist_mode_of(account.id).await?;
    let before = stored.mode();
    let (after, change) = if enabled {
        allowlist::turn_on(before, now)
    } else {
        allowlist::turn_off(before, now, money.allowlist_disable_delay)
    };
    let actor = Actor::User { account: account.id, session: Some(who.session_id) };
    let chain = Chain::Account(account.id);
    let (record, event, sentence, what) = match change {
        ModeChange::Unchanged => {
            let entries = tx.allowlist_entries_of(account.id).await?;
            tx.rollback().await?;
            return Ok(newest_first(state, after, entries, now));
        }
        ModeChange::TurnedOn => (
            AllowlistModeRecord { enabled_at: Some(now), off_at: None },
            AuditEvent::AllowlistModeChanged { enabled: true, effective_at: now },
            "Your withdrawal allowlist was turned on: from now on, withdrawals can only go to addresses on it \
             whose cooling period has ended."
                .to_owned(),
            Change { what: "turned_on", entry: None, turns_off_at: None },
        ),
        ModeChange::TurnOffCancelled => {
            let Mode::TurningOff { at: was_due } = before else {
                return Err(ApiError::Internal("a cancelled turn-off without one pending".into()));
            };
            (
                AllowlistModeRecord { enabled_at: stored.enabled_at, off_at: None },
                AuditEvent::AllowlistTurnOffCancelled { was_due },
                format!(
                    "The pending turn-off of your withdrawal allowlist (due at {was_due}) was cancelled: the \
                     allowlist stays on."
                ),
                Change { what: "turn_off_cancelled", entry: None, turns_off_at: None },
            )
        }
        ModeChange::TurnOffScheduled { at } => (
            AllowlistModeRecord { enabled_at: stored.enabled_at, off_at: Some(at) },
            AuditEvent::AllowlistModeChanged { enabled: false, effective_at: at },
            format!(
                "Someone asked to turn off your withdrawal allowlist. It stays on until {at}, and then withdrawals \
                 can go to any address. To cancel, turn the allowlist on again before then in your security center."
            ),
            Change { what: "turn_off_scheduled", entry: None, turns_off_at: Some(at) },
        ),
    };
    tx.set_allowlist_mode(account.id, record, now).await?;
    audit(&mut *tx, chain, now, actor, event).await?;
    let key = format!("allowlist_mode:{}:{}:{}", account.id, after.as_str(), now.as_micros());
    tell(&mut *tx, state, &account, sentence, what, key, ip, now).await?;
    let entries = tx.allowlist_entries_of(account.id).await?;
    tx.commit().await?;
    state.outbox_wake.notify_one();
    Ok(newest_first(state, after, entries, now))
}

fn newest_first(
    state: &AppState,
    mode: Mode,
    mut entries: Vec<AllowlistEntryRecord>,
    now: Timestamp,
) -> AllowlistView {
    entries.reverse();
    view(state, mode, &entries, now)
}

#[cfg(test)]
mod tests {
    use super::in_words;
    use std::time::Duration;

    #[test]
    fn delays_read_as_words() {
        assert_eq!(in_words(Duration::from_secs(24 * 3_600)), "24 hours");
        assert_eq!(in_words(Duration::from_secs(48 * 3_600)), "2 days");
        assert_eq!(in_words(Duration::from_secs(3_600)), "1 hour");
        assert_eq!(in_words(Duration::from_secs(90 * 60)), "90 minutes");
        assert_eq!(in_words(Duration::from_secs(61)), "61 seconds");
    }
}
