//! One timeline of an account for the support console's case view, merged by time: sign-ins with
//! their risk signals, security changes (the account's audit chain), withdrawals and transfers
//! with their state changes, freezes, and the case's messages and internal notes.
//!
//! An agent sees the recent window ([`RECENT_WINDOW`], at most [`RECENT_ITEMS`] items); an analyst
//! and up (`StaffAction::ReadFullTimeline`) sees everything the store keeps, up to [`FULL_ITEMS`].
//! Audit events carry no secrets (no hashes, seeds, tokens or codes), and the timeline only shows
//! their type and plain fields.

use std::time::Duration;

use custos_core::Timestamp;
use custos_core::asset;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::ids::AccountId;
use custos_core::incident::MessageAuthor;
use custos_store::{IncidentMessageRecord, IncidentNoteRecord, WithdrawalRecord};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// What an agent sees: the last 30 days…
pub const RECENT_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// …and at most this many items, the newest.
pub const RECENT_ITEMS: usize = 200;
/// The most one full timeline holds (per source, and in all).
pub const FULL_ITEMS: usize = 5_000;
const AUDIT_PAGE: u32 = 1_000;

/// A withdrawal still in reach: what support may do with it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenWithdrawal {
    pub id: String,
    pub state: String,
    /// `cancel` (the wallet does not have it yet) or `intercept` (the wallet is processing it).
    pub action: &'static str,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineItem {
    /// RFC 3339.
    pub at: String,
    /// `sign_in`, `security`, `withdrawal`, `transfer`, `freeze`, `message` or `note`.
    pub kind: &'static str,
    pub summary: String,
    /// Risk signals of a sign-in, `code: evidence`.
    pub signals: Vec<String>,
    /// On a withdrawal's request item while it can still be stopped.
    pub open_withdrawal: Option<OpenWithdrawal>,
    #[serde(skip)]
    #[schema(ignore)]
    pub(crate) when: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseTimeline {
    /// True for analysts and up: every record, not just the recent window.
    pub full: bool,
    /// The window's start for an agent (RFC 3339); `None` for the full timeline.
    pub since: Option<String>,
    /// True when older items were left out to keep within the limit.
    pub truncated: bool,
    /// Oldest first.
    pub items: Vec<TimelineItem>,
}

fn item(when: Timestamp, kind: &'static str, summary: String) -> TimelineItem {
    TimelineItem { at: when.rfc3339(), kind, summary, signals: Vec::new(), open_withdrawal: None, when }
}

/// Who did it, in words for staff.
pub fn actor_words(a: &Actor) -> String {
    match a {
        Actor::User { session: Some(s), .. } => format!("the holder's session {s}"),
        Actor::User { session: None, .. } => "the holder".into(),
        Actor::Anonymous { ip: Some(ip) } => format!("someone not signed in, from {ip}"),
        Actor::Anonymous { ip: None } => "someone not signed in".into(),
        Actor::Operator { name } => format!("operator {name}"),
        Actor::System => "custos".into(),
        Actor::Staff { staff_id, name } => format!("staff {name} ({staff_id})"),
    }
}

/// `password_changed`, `email_changed (new_domain=…)`: the event's type and its plain fields.
fn event_words(e: &AuditEvent) -> Option<String> {
    // Reads by staff are in the chain but are not part of the account's story; messages are shown
    // from the thread itself.
    if matches!(e, AuditEvent::StaffReadAccount { .. } | AuditEvent::IncidentMessageAdded { .. }) {
        return None;
    }
    let v = serde_json::to_value(e).ok()?;
    let obj = v.as_object()?;
    let kind = obj.get("type")?.as_str()?.replace('_', " ");
    let fields: Vec<String> = obj
        .iter()
        .filter(|(k, _)| k.as_str() != "type")
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}: {s}"),
            other => format!("{k}: {other}"),
        })
        .collect();
    Some(if fields.is_empty() { kind } else { format!("{kind} — {}", fields.join(", ")) })
}

fn withdrawal_items(w: &WithdrawalRecord, decimals: u8, out: &mut Vec<TimelineItem>) {
    let amount = format!("{} {}", w.amount.format(decimals), w.asset);
    let mut first = item(
        w.created_at,
        "withdrawal",
        format!("Withdrawal of {amount} to {} requested — now {}", w.address, w.state.as_str()),
    );
    first.open_withdrawal = if w.state.cancellable() {
        Some(OpenWithdrawal { id: w.id.to_string(), state: w.state.as_str().into(), action: "cancel" })
    } else if w.state.interceptable() {
        Some(OpenWithdrawal { id: w.id.to_string(), state: w.state.as_str().into(), action: "intercept" })
    } else {
        None
    };
    out.push(first);
    let steps = [
        (w.confirmed_at, "confirmed by the emailed link"),
        (w.processing_at, "handed to the wallet (processing)"),
        (w.broadcast_at, "broadcast"),
        (w.completed_at, "completed"),
    ];
    for (at, what) in steps {
        if let Some(at) = at {
            let txid = match (what, &w.txid) {
                ("broadcast", Some(t)) => format!(" as {t}"),
                _ => String::new(),
            };
            out.push(item(at, "withdrawal", format!("Withdrawal of {amount} {what}{txid}")));
        }
    }
    if let Some(at) = w.cancelled_at {
        let by = w.cancelled_by.as_deref().unwrap_or("unknown");
        out.push(item(at, "withdrawal", format!("Withdrawal of {amount} cancelled (by {by})")));
    }
    if let Some(i) = &w.intercept {
        out.push(item(w.updated_at, "withdrawal", format!("Withdrawal of {amount}: interception — {i}")));
    }
}

/// The merged timeline. `full`: everything (analyst and up); else the recent window.
pub async fn build(
    state: &AppState,
    account: AccountId,
    messages: &[IncidentMessageRecord],
    notes: &[IncidentNoteRecord],
    full: bool,
) -> Result<CaseTimeline, ApiError> {
    let now = state.clock.now();
    let since = (!full).then(|| now.minus(RECENT_WINDOW));
    let in_window = |t: Timestamp| since.is_none_or(|s| t >= s);
    let store = &state.store;
    let limit = u32::try_from(FULL_ITEMS).unwrap_or(u32::MAX);
    let mut items = Vec::new();

    for e in store.login_events(account, limit).await?.into_iter().filter(|e| in_window(e.at)) {
        let place = [e.ip.map(|i| i.to_string()), e.country.clone(), e.asn.map(|a| format!("AS{a}"))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        let mut it =
            item(e.at, "sign_in", format!("Sign-in {} from {place} ({})", e.outcome.as_str(), e.user_agent));
        it.signals = e.signals.iter().map(|s| format!("{}: {}", s.code.as_str(), s.detail)).collect();
        items.push(it);
    }

    let chain = Chain::Account(account).key();
    let mut after = 0;
    let mut read = 0;
    loop {
        let page = store.audit_records(&chain, after, AUDIT_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        read += page.len();
        for r in page.iter().filter(|r| in_window(r.at)) {
            if let Some(words) = event_words(&r.event) {
                items.push(item(r.at, "security", format!("{words} (by {})", actor_words(&r.actor))));
            }
        }
        if page.len() < AUDIT_PAGE as usize || read >= FULL_ITEMS * 4 {
            break;
        }
    }

    let assets = &state.config.money.assets;
    let decimals = |a: &str| asset::find(assets, a).map(|s| s.decimals).unwrap_or(0);
    for w in store.withdrawals(account, limit).await? {
        let mut mine = Vec::new();
        withdrawal_items(&w, decimals(&w.asset), &mut mine);
        // An open withdrawal always shows, however old: support must be able to stop it.
        items.extend(mine.into_iter().filter(|i| in_window(i.when) || i.open_withdrawal.is_some()));
    }
    for t in store.transfers(account, limit).await? {
        let dir = if t.from_account == account { "sent" } else { "received" };
        let amount = format!("{} {}", t.amount.format(decimals(&t.asset)), t.asset);
        if in_window(t.created_at) {
            items.push(item(
                t.created_at,
                "transfer",
                format!("Transfer of {amount} {dir} — now {}", t.state.as_str()),
            ));
        }
        for (at, what) in [(t.settled_at, "settled"), (t.cancelled_at, "cancelled")] {
            if let Some(at) = at.filter(|a| in_window(*a)) {
                items.push(item(at, "transfer", format!("Transfer of {amount} {dir} {what}")));
            }
        }
    }
    for f in store.freezes(account).await? {
        if in_window(f.frozen_at) {
            let lines = super::freeze::receipt_lines(&f.receipt).join(" ");
            let words = super::freeze::channel_words(f.channel);
            items.push(item(
                f.frozen_at,
                "freeze",
                format!("Account frozen {words} by {} — {}. {lines}", f.actor, f.reason),
            ));
        }
        if let Some(at) = f.unfrozen_at.filter(|a| in_window(*a)) {
            items.push(item(at, "freeze", "Account unfrozen".into()));
        }
    }
    for m in messages.iter().filter(|m| in_window(m.created_at)) {
        let who = match &m.author {
            MessageAuthor::User => "the holder".to_owned(),
            MessageAuthor::System => "custos".to_owned(),
            MessageAuthor::Staff { staff_id, display_name } => format!("{display_name} ({staff_id})"),
        };
        items.push(item(m.created_at, "message", format!("Message from {who}")));
    }
    for n in notes.iter().filter(|n| in_window(n.created_at)) {
        items.push(item(n.created_at, "note", format!("Internal note by {} ({})", n.staff_name, n.staff_id)));
    }

    items.sort_by_key(|i| i.when);
    let cap = if full { FULL_ITEMS } else { RECENT_ITEMS };
    let truncated = items.len() > cap;
    if truncated {
        let open: Vec<TimelineItem> =
            items[..items.len() - cap].iter().filter(|i| i.open_withdrawal.is_some()).cloned().collect();
        items.drain(..items.len() - cap);
        let mut kept = open;
        kept.append(&mut items);
        items = kept;
    }
    Ok(CaseTimeline { full, since: since.map(|s| s.rfc3339()), truncated, items })
}
