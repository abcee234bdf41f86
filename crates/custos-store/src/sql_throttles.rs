//! The throttles' SQL, written once and expanded per backend like [`crate::sql_allowlist`].

/// Clearing a throttle: `$1` its key.
pub(crate) const CLEAR_THROTTLE: &str = "DELETE FROM throttles WHERE key = $1";

macro_rules! impl_throttles_sql {
    ($db:ty, $backend:ident, $tx:ident) => {
        mod throttles_sql {
            use std::time::Duration;

            use custos_core::Timestamp;
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::backend::*;
            use crate::records::*;
            use crate::Result;

            #[async_trait::async_trait]
            impl crate::throttles::ThrottleTx for $tx {
            async fn record_failure(&mut self, key: &str, now: Timestamp, window: Duration) -> Result<ThrottleState> {
                // With whatever is queued (a held-back `BEGIN IMMEDIATE`, when it opens the
                // transaction): one trip.
                let r = self
                    .with_queue(
                        "INSERT INTO throttles (key, failures, window_start, last_failure_at) VALUES ($1, 1, $2, $2) \
                         ON CONFLICT (key) DO UPDATE SET \
                           failures = CASE WHEN throttles.window_start <= $3 THEN 1 ELSE throttles.failures + 1 END, \
                           window_start = CASE WHEN throttles.window_start <= $3 THEN $2 ELSE throttles.window_start END, \
                           last_failure_at = $2 \
                         RETURNING failures, window_start, last_failure_at",
                        |q| q.bind(key).bind(micros(now)).bind(micros(now) - duration_micros(window)),
                    )?
                    .fetch_one(self.raw()?)
                    .await
                    .map_err(|e| crate::conflict_or(e, "queued write"))?;
                Ok(ThrottleState {
                    failures: u32::try_from(r.try_get::<i32, _>("failures")?).unwrap_or(0),
                    window_start: ts(r.try_get("window_start")?),
                    last_failure_at: ts(r.try_get("last_failure_at")?),
                })
            }

            async fn clear_throttle(&mut self, key: &str) -> Result<()> {
                self.write(&["throttles"], crate::sql_throttles::CLEAR_THROTTLE, |q| {
                    q
                        .bind(key)
                })
                .await?;
                Ok(())
            }
            }

            #[async_trait::async_trait]
            impl crate::throttles::ThrottleReader for $backend {
            async fn throttle_state(&self, key: &str) -> Result<Option<ThrottleState>> {
                let row = sqlx::query("SELECT failures, window_start, last_failure_at FROM throttles WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(ThrottleState {
                        failures: u32::try_from(r.try_get::<i32, _>("failures")?).unwrap_or(0),
                        window_start: ts(r.try_get("window_start")?),
                        last_failure_at: ts(r.try_get("last_failure_at")?),
                    })
                })
                .transpose()
            }
            }
        }
    };
}
pub(crate) use impl_throttles_sql;
