//! The private case link: minted with a case (or for an account found frozen already), it reads
//! and adds to that one case, with no session and whatever the account's stamp.

use custos_core::Timestamp;
use custos_core::audit::Actor;
use custos_core::crypto::{BearerToken, TokenHash};
use custos_core::ids::{IncidentId, LinkTokenId};
use custos_core::link_token::LinkPurpose;
use custos_store::{AccountRecord, IncidentRecord, LinkTokenRecord, Tx};

use super::{CaseLink, CaseView, MessageView, case_view, post_user_message};
use crate::error::ApiError;
use crate::state::AppState;

async fn mint_case_link(
    tx: &mut dyn Tx,
    state: &AppState,
    case: &IncidentRecord,
    now: Timestamp,
) -> Result<String, ApiError> {
    let token = BearerToken::generate();
    store_case_link(tx, case, token.hash(), now).await?;
    Ok(case_url(state, &token))
}

pub(crate) fn case_url(state: &AppState, token: &BearerToken) -> String {
    state.config.link(&format!("/case/{}", token.expose()))
}

pub(crate) async fn store_case_link(
    tx: &mut dyn Tx,
    case: &IncidentRecord,
    token_hash: TokenHash,
    now: Timestamp,
) -> Result<(), ApiError> {
    tx.insert_link_token(&LinkTokenRecord {
        id: LinkTokenId::new(),
        token_hash,
        purpose: LinkPurpose::CaseAccess,
        account_id: case.account_id,
        subject: Some(case.id.to_string()),
        // The stamp does not kill case links (they only read and add to one case).
        stamp_at_issue: Vec::new(),
        created_at: now,
        expires_at: now.plus(LinkPurpose::CaseAccess.default_ttl()),
        used_at: None,
    })
    .await?;
    Ok(())
}

/// On a receipt of an account found frozen already: a fresh link to its open case, if it has one
/// (the holder of a disable link may freeze, so may reach the case the freeze opened). Not emailed.
pub(crate) async fn link_for_frozen(
    state: &AppState,
    tx: &mut dyn Tx,
    account: &AccountRecord,
    now: Timestamp,
) -> Result<Option<CaseLink>, ApiError> {
    match tx.open_incident_of(account.id).await? {
        Some(case) => {
            Ok(Some(CaseLink { url: mint_case_link(tx, state, &case, now).await?, emailed_to: None }))
        }
        None => Ok(None),
    }
}

/// The case a case link opens. Forged, malformed, expired links — and links whose case is gone —
/// are `LinkInvalid` (the page answers 404).
async fn case_of_link(state: &AppState, token: &str) -> Result<IncidentRecord, ApiError> {
    let token = BearerToken::parse(token).ok_or(ApiError::LinkInvalid)?;
    let now = state.clock.now();
    let mut tx = state.store.begin().await?;
    let mut opened = crate::usecases::open_link(&mut *tx, &token, LinkPurpose::CaseAccess, now).await;
    tx.rollback().await?;
    // A link from a receipt may arrive before the freeze's follow-up has opened the case, or while
    // it does (then `open_pending` answers once it is done).
    if matches!(opened, Err(ApiError::LinkInvalid))
        && crate::usecases::case_followup::open_pending(
            state,
            &crate::usecases::case_followup::follow_up_key(&token.hash()),
        )
        .await?
    {
        let mut tx = state.store.begin().await?;
        opened = crate::usecases::open_link(&mut *tx, &token, LinkPurpose::CaseAccess, now).await;
        tx.rollback().await?;
    }
    let (link, account) = opened?;
    let id: IncidentId = link.subject.as_deref().and_then(|s| s.parse().ok()).ok_or(ApiError::LinkInvalid)?;
    match state.store.incident(id).await? {
        Some(c) if c.account_id == account.id => Ok(c),
        _ => Err(ApiError::LinkInvalid),
    }
}

/// What the case link shows: the one case, its facts, SLA and thread. Nothing about the account.
pub async fn case_by_link(state: &AppState, token: &str) -> Result<CaseView, ApiError> {
    let case = case_of_link(state, token).await?;
    case_view(state, case).await
}

/// A message from whoever holds the case link (no session: the account may be frozen).
pub async fn post_by_link(
    state: &AppState,
    token: &str,
    body: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<MessageView, ApiError> {
    let case = case_of_link(state, token).await?;
    post_user_message(state, case.id, body, Actor::Anonymous { ip }).await
}
