//! Brute-force throttling with growing delays, never a hard lockout.
//!
//! Failures are counted per key (an account, an IP address) inside a sliding window. The first
//! `free` failures cost nothing; after that each further failure doubles the wait, up to `max_delay`.
//! Because the wait is bounded and the account key is not applied to a device that has signed in
//! to that account before (the caller decides), a stranger hammering a victim's email can slow
//! themselves but cannot lock the victim out. Freeze paths are never throttled per account.

use std::time::Duration;

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRule {
    pub window: Duration,
    pub free: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl ThrottleRule {
    pub const LOGIN_PER_ACCOUNT: ThrottleRule = ThrottleRule {
        window: Duration::from_secs(15 * 60),
        free: 5,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(15 * 60),
    };
    pub const LOGIN_PER_IP: ThrottleRule = ThrottleRule {
        window: Duration::from_secs(15 * 60),
        free: 20,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(15 * 60),
    };
    /// Wrong one-time codes (TOTP, recovery, emailed, SMS) per account: a six-digit code must not
    /// be guessable by volume.
    pub const CODES_PER_ACCOUNT: ThrottleRule = ThrottleRule {
        window: Duration::from_secs(15 * 60),
        free: 5,
        base_delay: Duration::from_secs(2),
        max_delay: Duration::from_secs(15 * 60),
    };

    /// Wrong panic codes per source address, and nothing else: a freeze path is never throttled per
    /// account (DESIGN "Throttles never block tightening"), so a stranger's guesses slow only the
    /// stranger. 100-bit codes make guessing hopeless anyway; this keeps the endpoint cheap.
    pub const PANIC_CODE_PER_SOURCE: ThrottleRule = ThrottleRule {
        window: Duration::from_secs(15 * 60),
        free: 10,
        base_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(15 * 60),
    };

    /// The wait imposed after `failures` failures in the window.
    pub fn delay_after(&self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(30);
        self.base_delay.saturating_mul(1u32 << doublings).min(self.max_delay)
    }

    /// `Some(retry_after)` if an attempt now must wait, given the failure count and the time of the
    /// latest failure in the window.
    pub fn wait(&self, failures: u32, last_failure: Option<Timestamp>, now: Timestamp) -> Option<Duration> {
        let last = last_failure?;
        let open_at = last.plus(self.delay_after(failures));
        (now < open_at).then(|| open_at.since(now).max(Duration::from_secs(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_grow_after_the_free_attempts() {
        let r = ThrottleRule::LOGIN_PER_ACCOUNT;
        assert_eq!(r.delay_after(4), Duration::ZERO);
        assert_eq!(r.delay_after(5), Duration::from_secs(1));
        assert_eq!(r.delay_after(6), Duration::from_secs(2));
        assert_eq!(r.delay_after(9), Duration::from_secs(16));
    }

    #[test]
    fn the_wait_counts_from_the_last_failure() {
        let r = ThrottleRule::LOGIN_PER_ACCOUNT;
        let t0 = Timestamp::from_micros(0);
        assert_eq!(r.wait(7, Some(t0), t0), Some(Duration::from_secs(4)));
        assert_eq!(r.wait(7, Some(t0), t0.plus(Duration::from_secs(4))), None);
        assert_eq!(r.wait(2, Some(t0), t0), None);
        assert_eq!(r.wait(7, None, t0), None);
    }

    proptest! {
        #[test]
        fn no_failure_count_locks_anyone_out_for_longer_than_the_cap(n in 0u32..1_000_000) {
            prop_assert!(ThrottleRule::LOGIN_PER_ACCOUNT.delay_after(n) <= Duration::from_secs(15 * 60));
        }
    }
}
