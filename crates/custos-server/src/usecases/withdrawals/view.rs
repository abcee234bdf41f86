//! A withdrawal as its owner sees it, in the API and on the pages.

use custos_core::Timestamp;
use custos_core::asset::{self, AssetSpec};
use custos_core::withdrawal::WithdrawalState;
use custos_store::WithdrawalRecord;
use serde::{Deserialize, Serialize};

/// A withdrawal as its owner sees it: every field, amounts as decimal strings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WithdrawalView {
    pub id: String,
    pub state: &'static str,
    pub asset: String,
    pub network: String,
    pub amount: String,
    pub fee: String,
    pub address: String,
    pub memo: Option<String>,
    pub txid: Option<String>,
    /// Whether the owner can still stop it (before the wallet has it; or ask the wallet while processing).
    pub cancellable: bool,
    pub hold_until: Option<String>,
    #[schema(value_type = Vec<crate::error::ReasonDoc>)]
    pub hold_reasons: Vec<StoredReason>,
    /// `session` or `api_key`.
    pub requested_via: &'static str,
    pub api_key_id: Option<String>,
    pub session_id: Option<String>,
    pub device_id: Option<String>,
    pub ip: Option<String>,
    pub created_at: String,
    pub confirmed_at: Option<String>,
    pub queued_at: Option<String>,
    pub processing_at: Option<String>,
    pub broadcast_at: Option<String>,
    pub completed_at: Option<String>,
    pub cancelled_at: Option<String>,
    pub cancelled_by: Option<String>,
    /// The wallet's answer when interception was asked for.
    pub intercept: Option<String>,
    pub failure: Option<String>,
}

/// A hold reason as stored with the withdrawal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredReason {
    pub code: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
}

pub(super) fn stored_reasons(w: &WithdrawalRecord) -> Vec<StoredReason> {
    w.hold_reasons.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default()
}

impl WithdrawalView {
    pub fn new(w: &WithdrawalRecord, assets: &[AssetSpec]) -> Self {
        let decimals = asset::find(assets, &w.asset).map(|a| a.decimals).unwrap_or(0);
        let t = |v: Option<Timestamp>| v.map(|t| t.rfc3339());
        Self {
            id: w.id.to_string(),
            state: w.state.as_str(),
            asset: w.asset.clone(),
            network: w.network.clone(),
            amount: w.amount.format(decimals),
            fee: w.fee.format(decimals),
            address: w.address.clone(),
            memo: w.memo.clone(),
            txid: w.txid.clone(),
            cancellable: w.state.cancellable() || w.state.interceptable(),
            hold_until: t(w.hold_until.filter(|_| w.state == WithdrawalState::Held)),
            hold_reasons: stored_reasons(w),
            requested_via: w.requested_via.as_str(),
            api_key_id: w.api_key_id.clone(),
            session_id: w.session_id.map(|s| s.to_string()),
            device_id: w.device_id.map(|d| d.to_string()),
            ip: w.ip.map(|i| i.to_string()),
            created_at: w.created_at.rfc3339(),
            confirmed_at: t(w.confirmed_at),
            queued_at: t(w.queued_at),
            processing_at: t(w.processing_at),
            broadcast_at: t(w.broadcast_at),
            completed_at: t(w.completed_at),
            cancelled_at: t(w.cancelled_at),
            cancelled_by: w.cancelled_by.clone(),
            intercept: w.intercept.clone(),
            failure: w.failure.clone(),
        }
    }
}
