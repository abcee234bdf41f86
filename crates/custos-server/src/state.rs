//! What every handler and worker shares. Built once by `Application::build`; no globals.

use std::sync::Arc;

use custos_core::Clock;
use custos_store::Store;
use tokio::sync::Notify;

use crate::config::Config;
use crate::hashing::HashPool;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    pub hashes: HashPool,
    /// Poked after a commit that wrote outbox rows, so delivery starts at once.
    pub outbox_wake: Notify,
    /// The WebAuthn relying party for passkeys; `None` when the public URL's host is an IP
    /// address (WebAuthn needs a domain name).
    pub webauthn: Option<webauthn_rs::Webauthn>,
    /// The exchange's wallet service (simulated by default).
    pub wallet: Arc<dyn crate::wallet::WalletConnector>,
}

impl AppState {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config, hashes: HashPool) -> Self {
        let webauthn = crate::usecases::passkeys::relying_party(&config);
        let wallet = crate::wallet::connector(&config.money);
        Self(Arc::new(Inner { store, clock, config, hashes, outbox_wake: Notify::new(), webauthn, wallet }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
