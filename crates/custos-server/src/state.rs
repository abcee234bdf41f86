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
}

impl AppState {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config, hashes: HashPool) -> Self {
        Self(Arc::new(Inner { store, clock, config, hashes, outbox_wake: Notify::new() }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
