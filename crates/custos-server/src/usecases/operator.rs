//! Commands an operator runs at the command line: create an account, verify the audit trail.

use custos_core::audit::{Actor, AuditEvent, BrokenChain, Chain, GENESIS, verify_from};
use custos_core::crypto::new_security_stamp;
use custos_core::ids::{AccountId, Uid};
use custos_core::login::AccountStatus;
use custos_store::{AccountRecord, Store, StoreError};

use super::accounts::{Registration, validate};
use super::audit;
use crate::error::ApiError;
use crate::state::AppState;

/// Creates an account with its address already verified (the operator vouches for it).
pub async fn create_account(state: &AppState, reg: Registration, operator: &str) -> Result<Uid, ApiError> {
    let (email, phone) = validate(&reg)?;
    let mac = super::password::skeleton_mac(state, &reg.password);
    let password_hash = state.hashes.hash(reg.password).await?;
    for _ in 0..5 {
        let now = state.clock.now();
        let account = AccountRecord {
            id: AccountId::new(),
            uid: Uid::random(),
            email: email.as_str().to_owned(),
            email_key: email.key(),
            email_verified_at: Some(now),
            phone: phone.clone(),
            status: AccountStatus::Active,
            password_hash: password_hash.clone(),
            security_stamp: new_security_stamp(),
            anti_phishing_code: None,
            created_at: now,
            withdrawal_lock_until: None,
            withdrawal_lock_reason: None,
            phone_verified_at: None,
            sms_enabled_at: None,
        };
        let mut tx = state.store.begin().await?;
        match tx.insert_account(&account).await {
            Ok(()) => {}
            Err(StoreError::Conflict("uid")) => continue,
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::Validation(vec![custos_core::Reason::new(
                    "email-taken",
                    "An account with this address already exists.",
                )]));
            }
            Err(e) => return Err(e.into()),
        }
        super::password::remember(&mut *tx, account.id, &password_hash, mac.clone(), now).await?;
        let actor = Actor::Operator { name: operator.to_owned() };
        audit(
            &mut *tx,
            Chain::Account(account.id),
            now,
            actor,
            AuditEvent::OperatorCreatedAccount { uid: account.uid.get() },
        )
        .await?;
        tx.commit().await?;
        return Ok(account.uid);
    }
    Err(ApiError::Internal("could not allocate a unique UID".into()))
}

/// Creates an integration service token (`custos service-token create`): shown once, stored as
/// its SHA-256, audited on the system chain with the operator's name.
pub async fn create_service_token(
    state: &AppState,
    name: &str,
    operator: &str,
) -> Result<custos_core::crypto::BearerToken, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::Validation(vec![custos_core::Reason::new(
            "service-token-name-invalid",
            "Name the service in 1–64 printable characters.",
        )]));
    }
    let token = custos_core::crypto::BearerToken::generate();
    let now = state.clock.now();
    let record = custos_store::ServiceTokenRecord {
        id: custos_core::ids::ServiceTokenId::new(),
        name: name.to_owned(),
        token_hash: token.hash(),
        created_at: now,
        revoked_at: None,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_service_token(&record).await?;
    let actor = Actor::Operator { name: operator.to_owned() };
    audit(&mut *tx, Chain::System, now, actor, AuditEvent::ServiceTokenCreated { name: record.name }).await?;
    tx.commit().await?;
    Ok(token)
}

/// Credits an account from the command line — demo and dev mode only: in production, money
/// arrives from the exchange's books through the integration API.
pub async fn dev_deposit(state: &AppState, uid: u64, asset: &str, amount: &str) -> Result<(), ApiError> {
    if state.config.mode != crate::config::Mode::Dev {
        return Err(ApiError::Refused(vec![custos_core::Reason::new(
            "dev-mode-only",
            "In production, deposits arrive through POST /api/v1/integration/ledger-events.",
        )]));
    }
    let event = super::ledger::LedgerEvent {
        event_id: format!("cli-deposit-{}", uuid::Uuid::now_v7()),
        kind: super::ledger::EventKind::Deposit,
        uid,
        asset: asset.to_owned(),
        amount: amount.to_owned(),
    };
    super::ledger::ingest(state, &[event]).await?;
    Ok(())
}

/// What `custos audit verify` found.
#[derive(Debug, Default)]
pub struct AuditReport {
    pub chains: u64,
    pub records: u64,
    pub broken: Vec<BrokenChain>,
}

/// Verifies every chain page by page; `progress` is told how many records each page checked.
pub async fn verify_audit(store: &Store, mut progress: impl FnMut(u64)) -> Result<AuditReport, StoreError> {
    const PAGE: u32 = 1_000;
    let mut report = AuditReport::default();
    for chain in store.audit_chains().await? {
        report.chains += 1;
        let mut head = (0i64, GENESIS);
        loop {
            let page = store.audit_records(&chain, head.0, PAGE).await?;
            if page.is_empty() {
                break;
            }
            let before = report.records;
            let result = verify_from(&mut head, &mut report.records, &page);
            progress(report.records - before);
            if let Err(broken) = result {
                report.broken.push(broken);
                break;
            }
            if page.len() < PAGE as usize {
                break;
            }
        }
    }
    Ok(report)
}
