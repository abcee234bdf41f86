//! "Was I hacked?": gathers the account's timeline from the store (sign-ins with their signals,
//! the audit chain's credential and binding changes, withdrawals, transfers, API keys, trades) and
//! hands it to the pure [`custos_core::diagnosis::diagnose`]. Read-only: it changes nothing, so it
//! needs no transaction.

use std::collections::HashMap;
use std::time::Duration;

use custos_core::Timestamp;
use custos_core::asset;
use custos_core::audit::{Actor, AuditEvent, Chain};
use custos_core::diagnosis::{
    self, ApiKeyFact, ChangeFact, ChangeKind, Diagnosis, OutflowFact, SignInFact, Timeline, TradeFact,
};
use custos_core::ids::AccountId;
use custos_core::ledger::{EntryKind, Signed};
use custos_core::login::LoginOutcome;
use custos_core::portfolio::{self, Holding, MarketDrop, PricePoint};
use custos_core::session::Aal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::UserSession;
use crate::state::AppState;

/// How far back the diagnosis looks.
pub const WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);
/// Upper bounds on what one diagnosis reads (an account's last month fits well inside them).
const MAX_ROWS: u32 = 1_000;
const AUDIT_PAGE: u32 = 1_000;
const MAX_PRICES: u32 = 20_000;
const PRICE_LOOKBACK: Duration = Duration::from_secs(7 * 24 * 3600);

pub async fn timeline(state: &AppState, account: AccountId) -> Result<Timeline, ApiError> {
    let since = state.clock.now().minus(WINDOW);
    let store = &state.store;
    let assets = &state.config.money.assets;
    let decimals = |a: &str| asset::find(assets, a).map(|s| s.decimals).unwrap_or(0);

    let sessions = store.sessions(account, MAX_ROWS).await?;
    let aal2: HashMap<_, _> = sessions.iter().map(|s| (s.id, s.aal == Aal::Aal2)).collect();
    let events = store.login_events(account, MAX_ROWS).await?;
    let login_ip: HashMap<_, _> = events.iter().filter_map(|e| e.session_id.map(|s| (s, e.ip))).collect();
    let risk = &state.config.risk;
    let moved = |session: Option<custos_core::ids::SessionId>, ip: Option<std::net::IpAddr>| {
        let (from, to) = (login_ip.get(&session?).copied().flatten(), ip?);
        let at_login = from.map(|i| risk.ip_db.lookup(i)).unwrap_or_default();
        custos_core::risk::session_moved(from, &at_login, to, &risk.ip_db.lookup(to), &risk.risky)
            .map(|s| s.detail)
    };
    let sign_ins = events
        .into_iter()
        .filter(|e| e.outcome == LoginOutcome::Succeeded && e.at >= since)
        .map(|e| SignInFact {
            at: e.at,
            session: e.session_id,
            ip: e.ip,
            country: e.country,
            asn: e.asn.and_then(|a| u32::try_from(a).ok()),
            signals: e.signals.iter().map(|s| s.code).collect(),
            second_factor: e.session_id.and_then(|s| aal2.get(&s).copied()).unwrap_or(false),
        })
        .collect();

    let mut changes = Vec::new();
    let chain = Chain::Account(account).key();
    let mut after = 0;
    loop {
        let page = store.audit_records(&chain, after, AUDIT_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page.iter().filter(|r| r.at >= since) {
            let kind = match &r.event {
                AuditEvent::PasswordChanged => ChangeKind::Password,
                AuditEvent::PasswordResetRequested => ChangeKind::PasswordResetRequested,
                AuditEvent::PasswordReset => ChangeKind::PasswordReset,
                AuditEvent::EmailChanged { .. } => ChangeKind::Email,
                AuditEvent::PhoneChanged => ChangeKind::Phone,
                AuditEvent::TotpDisabled
                | AuditEvent::TotpReset
                | AuditEvent::PasskeyRemoved { .. }
                | AuditEvent::SmsFactorDisabled => ChangeKind::SecondFactorRemoved,
                AuditEvent::TotpEnabled | AuditEvent::PasskeyAdded { .. } | AuditEvent::SmsFactorEnabled => {
                    ChangeKind::SecondFactorAdded
                }
                _ => continue,
            };
            let session = match &r.actor {
                Actor::User { session, .. } => *session,
                _ => None,
            };
            changes.push(ChangeFact { at: r.at, kind, session });
        }
        if page.len() < AUDIT_PAGE as usize {
            break;
        }
    }

    let mut outflows: Vec<OutflowFact> = store
        .withdrawals(account, MAX_ROWS)
        .await?
        .into_iter()
        .filter(|w| w.created_at >= since)
        .map(|w| OutflowFact {
            at: w.created_at,
            kind: "withdrawal",
            id: w.id.to_string(),
            amount: w.amount.format(decimals(&w.asset)),
            asset: w.asset,
            state: w.state.as_str().to_owned(),
            session_moved: moved(w.session_id, w.ip),
            session: w.session_id,
            api_key: w.api_key_id,
            ip: w.ip,
        })
        .collect();
    outflows.extend(
        store
            .transfers(account, MAX_ROWS)
            .await?
            .into_iter()
            .filter(|t| t.from_account == account && t.created_at >= since)
            .map(|t| OutflowFact {
                at: t.created_at,
                kind: "transfer",
                id: t.id.to_string(),
                amount: t.amount.format(decimals(&t.asset)),
                asset: t.asset,
                state: t.state.as_str().to_owned(),
                session_moved: moved(t.session_id, t.ip),
                session: t.session_id,
                api_key: t.api_key_id,
                ip: t.ip,
            }),
    );

    let api_keys = store
        .api_keys(account)
        .await?
        .into_iter()
        .filter(|k| k.created_at >= since)
        .map(|k| ApiKeyFact {
            at: k.created_at,
            id: k.id.to_string(),
            session: k.created_by_session,
            ip: k.created_ip,
            scopes: k.scopes.as_strs().into_iter().map(str::to_owned).collect(),
        })
        .collect();

    let trades = store
        .ledger_entries(account, MAX_ROWS)
        .await?
        .into_iter()
        .filter(|e| e.kind == EntryKind::TradeFill && e.created_at >= since)
        .map(|e| {
            let d = decimals(&e.asset);
            let delta = match e.delta.available {
                Signed::Plus(a) => a.format(d),
                Signed::Minus(a) => format!("-{}", a.format(d)),
            };
            TradeFact { at: e.created_at, asset: e.asset, delta }
        })
        .collect();

    let market_drops = market_drops(state, account, since).await?;
    Ok(Timeline { sign_ins, changes, outflows, api_keys, trades, market_drops })
}

/// What the account held when the window opened (today's balances with the window's ledger
/// entries undone), valued at the price feed's quotes then and now.
async fn market_drops(
    state: &AppState,
    account: AccountId,
    since: Timestamp,
) -> Result<Vec<MarketDrop>, ApiError> {
    let now = state.clock.now();
    let entries = state.store.ledger_entries(account, MAX_ROWS).await?;
    // A full page whose oldest entry is inside the window: the opening balances cannot be rebuilt.
    if entries.len() == MAX_ROWS as usize && entries.last().is_some_and(|e| e.created_at >= since) {
        return Ok(Vec::new());
    }
    let mut holdings = Vec::new();
    for (asset, balance) in state.store.balances(account).await? {
        let Some(spec) = asset::find(&state.config.money.assets, &asset) else { continue };
        let Some(now) = balance.total() else { continue };
        let changes = entries
            .iter()
            .filter(|e| e.asset == asset)
            .flat_map(|e| [(e.created_at, e.delta.available), (e.created_at, e.delta.locked)])
            .collect();
        holdings.push(Holding { asset, decimals: spec.decimals, now, changes });
    }
    // Quotes from a little before the window, so the price in force when it opened is known.
    let prices: Vec<PricePoint> = state
        .store
        .prices_between(since.minus(PRICE_LOOKBACK), now, MAX_PRICES)
        .await?
        .into_iter()
        .map(|p| PricePoint { at: p.at, asset: p.asset, price: p.price })
        .collect();
    Ok(portfolio::market_drops(&holdings, &prices, since, now))
}

pub async fn diagnose(state: &AppState, who: &UserSession) -> Result<DiagnosisView, ApiError> {
    diagnose_account(state, who.account_id).await
}

/// The diagnosis of any account (the user's own route above; operators and tests).
pub async fn diagnose_account(state: &AppState, account: AccountId) -> Result<DiagnosisView, ApiError> {
    Ok(diagnose_with_timeline(state, account).await?.0)
}

/// The diagnosis and the timeline it was computed from (the page draws the timeline).
pub async fn diagnose_with_timeline(
    state: &AppState,
    account: AccountId,
) -> Result<(DiagnosisView, Timeline), ApiError> {
    let t = timeline(state, account).await?;
    Ok((DiagnosisView::new(&diagnosis::diagnose(&t), state.clock.now()), t))
}

/// The diagnosis as the API returns it and the page shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiagnosisView {
    /// `compromised`, `suspicious` (treat as confirmed: disable the account) or `no_indicators`.
    pub verdict: &'static str,
    pub generated_at: String,
    /// How far back the account's events were read.
    pub window_days: u64,
    /// The reference's indicators of compromise that the events show, each with its evidence.
    pub indicators: Vec<IndicatorView>,
    /// Innocent explanations the events support, each with its evidence.
    pub benign: Vec<FindingView>,
    /// How the attacker may have got in, read from the order of events.
    pub vector_hints: Vec<FindingView>,
    pub next_steps: Vec<NextStepView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorView {
    pub code: &'static str,
    pub title: &'static str,
    /// `definitive` or `suspicious`.
    pub strength: &'static str,
    pub evidence: Vec<EvidenceView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FindingView {
    pub code: &'static str,
    pub title: &'static str,
    pub evidence: Vec<EvidenceView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EvidenceView {
    pub at: String,
    pub detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NextStepView {
    pub code: &'static str,
    pub detail: &'static str,
}

fn evidence(e: &[diagnosis::Evidence]) -> Vec<EvidenceView> {
    e.iter().map(|e| EvidenceView { at: e.at.rfc3339(), detail: e.detail.clone() }).collect()
}

fn finding(f: &diagnosis::Finding) -> FindingView {
    FindingView { code: f.code, title: f.title, evidence: evidence(&f.evidence) }
}

impl DiagnosisView {
    pub fn new(d: &Diagnosis, now: Timestamp) -> Self {
        Self {
            verdict: d.verdict.as_str(),
            generated_at: now.rfc3339(),
            window_days: WINDOW.as_secs() / 86_400,
            indicators: d
                .indicators
                .iter()
                .map(|i| IndicatorView {
                    code: i.finding.code,
                    title: i.finding.title,
                    strength: match i.strength {
                        diagnosis::Strength::Definitive => "definitive",
                        diagnosis::Strength::Suspicious => "suspicious",
                    },
                    evidence: evidence(&i.finding.evidence),
                })
                .collect(),
            benign: d.benign.iter().map(finding).collect(),
            vector_hints: d.vector_hints.iter().map(finding).collect(),
            next_steps: d
                .next_steps
                .iter()
                .map(|s| NextStepView { code: s.code, detail: s.detail })
                .collect(),
        }
    }
}
