//! Argon2id off the async runtime, on a fixed set of hashing threads.
//!
//! `workers` threads, started with the pool and kept for its lifetime, run every hash; each keeps
//! its own Argon2 memory (19 MiB at the default cost), so memory is bounded by `workers` and no
//! hash pays for fresh pages. (Tokio's blocking pool would start threads as it liked and retire
//! them after ten idle seconds, each new one faulting in its memory again.) At most `queue` more
//! requests may wait; beyond that the request is refused at once with 503, so a flood of logins
//! costs the attacker a fast refusal instead of costing every user a slow queue.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use custos_core::password::{Password, PasswordHasher};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::error::ApiError;

type Job = Box<dyn FnOnce(&PasswordHasher) + Send>;

#[derive(Debug, Clone)]
pub struct HashPool {
    hasher: Arc<PasswordHasher>,
    admitted: Arc<Semaphore>,
    jobs: Sender<Job>,
}

impl HashPool {
    /// Starts `workers` hashing threads; they end when the last clone of the pool is dropped.
    pub fn new(hasher: PasswordHasher, workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let hasher = Arc::new(hasher);
        let (jobs, inbox) = channel::<Job>();
        let inbox = Arc::new(Mutex::new(inbox));
        for i in 0..workers {
            let (inbox, hasher) = (inbox.clone(), hasher.clone());
            let started = std::thread::Builder::new()
                .name(format!("custos-hash-{i}"))
                .spawn(move || work(&inbox, &hasher));
            if let Err(e) = started {
                // Fewer threads only means fewer hashes at once; with none, requests get 503.
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        Self { hasher, admitted: Arc::new(Semaphore::new(workers + queue)), jobs }
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        // The permit travels with the job: a request that gives up waiting still counts until
        // its hash is done, so the queue never holds more than it admitted.
        let permit: OwnedSemaphorePermit =
            self.admitted.clone().try_acquire_owned().map_err(|_| ApiError::Overloaded)?;
        let (answer, answered) = oneshot::channel();
        let wrapped: Job = Box::new(move |h: &PasswordHasher| {
            let result = job(h);
            // Free before answering: whoever is answered sees the place free again.
            drop(permit);
            let _ = answer.send(result);
        });
        self.jobs.send(wrapped).map_err(|_| ApiError::Overloaded)?;
        answered.await.map_err(|_| ApiError::Internal("a hashing job failed".into()))
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

/// One hashing thread: takes the next job until the pool is gone. A job that panics is dropped
/// (its caller gets an error); the thread goes on.
fn work(inbox: &Mutex<Receiver<Job>>, hasher: &PasswordHasher) {
    loop {
        let next = match inbox.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = next else { return };
        if catch_unwind(AssertUnwindSafe(|| job(hasher))).is_err() {
            tracing::error!("a hashing job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use custos_core::password::HashCost;

    use super::*;

    #[tokio::test]
    async fn hashes_on_its_threads_and_refuses_beyond_the_queue() {
        let pool = HashPool::new(PasswordHasher::new(HashCost::TEST).unwrap(), 1, 1);
        let phc = pool.hash(Password::new("correct horse battery staple".into())).await.unwrap();
        assert!(
            pool.verify(Password::new("correct horse battery staple".into()), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(!pool.verify(Password::new("wrong".into()), Some(phc)).await.unwrap());

        // One running and one queued fill it: the third is refused at once.
        let gate = Arc::new(std::sync::Barrier::new(2));
        let g = gate.clone();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(move |_| g.wait()).await.map(|_| ()) }
        });
        while pool.admitted.available_permits() == 2 {
            tokio::task::yield_now().await;
        }
        let second = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|_| ()).await }
        });
        while pool.admitted.available_permits() == 1 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.run(|_| ()).await, Err(ApiError::Overloaded)));
        gate.wait();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(pool.admitted.available_permits(), 2, "every permit came back");
    }
}
