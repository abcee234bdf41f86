//! Argon2id off the async runtime, on a bounded pool.
//!
//! At most `workers` hashes run at once (each on a blocking thread); at most `queue` more may wait.
//! Beyond that the request is refused at once with 503, so a flood of logins costs the attacker a
//! fast refusal instead of costing every user a slow queue.

use std::sync::Arc;

use custos_core::password::{Password, PasswordHasher};
use tokio::sync::Semaphore;

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct HashPool {
    hasher: Arc<PasswordHasher>,
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

impl HashPool {
    pub fn new(hasher: PasswordHasher, workers: usize, queue: usize) -> Self {
        Self {
            hasher: Arc::new(hasher),
            running: Arc::new(Semaphore::new(workers.max(1))),
            admitted: Arc::new(Semaphore::new(workers.max(1) + queue)),
        }
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| ApiError::Overloaded)?;
        let _running = self.running.clone().acquire_owned().await.map_err(|_| ApiError::Overloaded)?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || job(&hasher))
            .await
            .map_err(|e| ApiError::Internal(format!("hashing task failed: {e}")))
    }

    pub async fn hash(&self, pw: Password) -> Result<String, ApiError> {
        self.run(move |h| h.hash(&pw)).await
    }

    /// Verifies against `phc`, or against a dummy hash when there is no account, so both take
    /// the same time.
    pub async fn verify(&self, pw: Password, phc: Option<String>) -> Result<bool, ApiError> {
        self.run(move |h| h.verify(&pw, phc.as_deref())).await
    }
}
