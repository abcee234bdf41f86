//! Short-lived authentication challenges: the half-way state between a correct password and a
//! second factor, and emailed step-up codes. Each has an expiry, an attempt limit and single use.

use std::time::Duration;

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengePurpose {
    /// The password was right; a second factor must follow within the challenge's life.
    LoginSecondFactor,
    /// A session without a second factor proved its password again; the emailed code must follow.
    StepUpEmail,
    /// A code was texted to the account's phone for a step-up.
    StepUpSms,
    /// A code was texted to a new number to prove the account holder has it.
    PhoneVerification,
}

impl ChallengePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSecondFactor => "login_second_factor",
            Self::StepUpEmail => "step_up_email",
            Self::StepUpSms => "step_up_sms",
            Self::PhoneVerification => "phone_verification",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::LoginSecondFactor, Self::StepUpEmail, Self::StepUpSms, Self::PhoneVerification]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    pub fn ttl(self) -> Duration {
        match self {
            Self::LoginSecondFactor => Duration::from_secs(5 * 60),
            Self::StepUpEmail | Self::StepUpSms | Self::PhoneVerification => Duration::from_secs(10 * 60),
        }
    }

    pub fn max_attempts(self) -> u32 {
        5
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRefusal {
    #[error("the challenge is unknown or for another purpose")]
    Unknown,
    #[error("the challenge expired")]
    Expired,
    #[error("the challenge was already used")]
    Used,
    #[error("too many wrong codes for this challenge")]
    Exhausted,
}

/// Whether a challenge may still be answered.
pub fn check_challenge(
    purpose: ChallengePurpose,
    expected: ChallengePurpose,
    expires_at: Timestamp,
    used: bool,
    attempts: u32,
    now: Timestamp,
) -> Result<(), ChallengeRefusal> {
    if purpose != expected {
        Err(ChallengeRefusal::Unknown)
    } else if used {
        Err(ChallengeRefusal::Used)
    } else if now >= expires_at {
        Err(ChallengeRefusal::Expired)
    } else if attempts >= purpose.max_attempts() {
        Err(ChallengeRefusal::Exhausted)
    } else {
        Ok(())
    }
}

/// A texted code may be sent again only this long after the last one (no SMS bombing, no cost
/// blow-up at the provider).
pub const SMS_RESEND_AFTER: Duration = Duration::from_secs(60);

/// A six-digit code for email or SMS, uniformly random.
pub fn new_numeric_code() -> String {
    format!("{:06}", rand::random_range(0..1_000_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_refused_when_expired_used_exhausted_or_misdirected() {
        let p = ChallengePurpose::LoginSecondFactor;
        let t = Timestamp::from_micros(10);
        assert_eq!(check_challenge(p, p, t, false, 0, Timestamp::from_micros(5)), Ok(()));
        assert_eq!(check_challenge(p, p, t, false, 0, t), Err(ChallengeRefusal::Expired));
        assert_eq!(check_challenge(p, p, t, true, 0, Timestamp::from_micros(5)), Err(ChallengeRefusal::Used));
        assert_eq!(
            check_challenge(p, p, t, false, 5, Timestamp::from_micros(5)),
            Err(ChallengeRefusal::Exhausted)
        );
        assert_eq!(
            check_challenge(p, ChallengePurpose::StepUpEmail, t, false, 0, Timestamp::from_micros(5)),
            Err(ChallengeRefusal::Unknown)
        );
    }

    #[test]
    fn numeric_codes_are_six_digits() {
        for _ in 0..100 {
            let c = new_numeric_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
