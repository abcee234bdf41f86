//! The composition root: `Application::build` wires store, keys, hashing, workers and router, and
//! binds the port. `main` and the tests call the same function.

use std::net::SocketAddr;
use std::sync::Arc;

use custos_core::Clock;
use custos_core::clock::SystemClock;
use custos_core::password::PasswordHasher;
use custos_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::hashing::HashPool;
use crate::outbox;
use crate::outbox::mail::Mailer;
use crate::outbox::sms::SmsSender;
use crate::outbox::webhook::WebhookSender;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("store: {0}")]
    Store(#[from] custos_store::StoreError),
    #[error("password hashing: {0}")]
    Hash(#[from] custos_core::password::HashError),
    #[error("messaging: {0}")]
    Mail(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct Application {
    state: AppState,
    listener: TcpListener,
    shutdown: watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Connects and migrates the store, starts the outbox worker and binds the listener.
    pub async fn build(config: Config) -> Result<Self, BuildError> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Self, BuildError> {
        if config.database_url.starts_with("sqlite:") {
            std::fs::create_dir_all(&config.data_dir).ok();
        }
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        Self::build_with_store(config, clock, store).await
    }

    pub async fn build_with_store(
        config: Config,
        clock: Arc<dyn Clock>,
        store: Store,
    ) -> Result<Self, BuildError> {
        let hasher = PasswordHasher::new(config.hash_cost)?;
        let hashes = HashPool::new(hasher, config.hash_workers, config.hash_queue);
        let mail =
            Mailer::from_config(config.smtp_url.as_deref(), &config.mail_from).map_err(BuildError::Mail)?;
        let sms =
            SmsSender::from_config(config.sms_url.as_deref(), &config.sms_from).map_err(BuildError::Mail)?;
        let webhooks = WebhookSender::new(config.webhook_allow_insecure).map_err(BuildError::Mail)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| BuildError::Bind { addr: config.listen, source })?;
        let state = AppState::new(store, clock, config, hashes);
        let (shutdown, rx) = watch::channel(false);
        let workers = (
            outbox::run(state.clone(), outbox::Channels { mail, sms, webhooks }, rx.clone()),
            crate::wallet::run(state.clone(), rx),
        );
        let worker = tokio::spawn(async move {
            tokio::join!(workers.0, workers.1);
        });
        Ok(Self { state, listener, shutdown, worker })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.state.config.listen)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `stop` resolves, then drains requests and stops the worker.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = crate::http::router(self.state.clone());
        let result = axum::serve(self.listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(stop)
            .await;
        let _ = self.shutdown.send(true);
        let _ = self.worker.await;
        self.state.store.close().await;
        result
    }
}
