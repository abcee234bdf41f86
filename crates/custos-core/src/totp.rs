//! TOTP second factor (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, at most one step of drift
//! either way (§5.2), 160-bit seeds (RFC 4226 §4 recommends 160). A code is accepted at most once:
//! the caller stores the step of the last accepted code and passes it back (the replay guard).

use crate::Timestamp;

pub const SEED_BYTES: usize = 20;
const DIGITS: usize = 6;
const STEP_SECS: u64 = 30;
const SKEW_STEPS: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpRefusal {
    #[error("a code is six digits")]
    Malformed,
    #[error("the code is wrong or outside the time window")]
    Wrong,
    #[error("the code was already used")]
    Replayed,
}

/// A new random seed, 160 bits.
pub fn new_seed() -> [u8; SEED_BYTES] {
    rand::random()
}

fn totp(seed: &[u8], account: &str, issuer: &str) -> Option<totp_rs::Totp> {
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(SKEW_STEPS)
        .with_step_duration(STEP_SECS)
        .with_secret(seed)
        .with_account_name(account)
        .with_issuer(Some(issuer))
        .build()
        .ok()
}

/// The `otpauth://totp/…` URI an authenticator app scans.
pub fn otpauth_uri(seed: &[u8], account: &str, issuer: &str) -> Option<String> {
    totp(seed, account, issuer)?.to_url().ok()
}

/// Base32 of the seed, for typing into an app by hand.
pub fn seed_base32(seed: &[u8]) -> String {
    totp_rs::Secret::from(seed).to_base32()
}

/// Accepts `code` if it matches a step within one of `now` and is later than `last_step`.
/// Returns the step to store as the new `last_step`.
pub fn verify(seed: &[u8], code: &str, now: Timestamp, last_step: Option<u64>) -> Result<u64, TotpRefusal> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpRefusal::Malformed);
    }
    let t = totp(seed, "-", "-").ok_or(TotpRefusal::Wrong)?;
    let secs = u64::try_from(now.as_micros() / 1_000_000).unwrap_or(0);
    let step = t.check(code, secs).ok_or(TotpRefusal::Wrong)?;
    if last_step.is_some_and(|last| step <= last) {
        return Err(TotpRefusal::Replayed);
    }
    Ok(step)
}

/// The code for a time (tests and the demo's simulated authenticator).
pub fn code_at(seed: &[u8], at: Timestamp) -> String {
    let secs = u64::try_from(at.as_micros() / 1_000_000).unwrap_or(0);
    totp(seed, "-", "-").map(|t| t.generate(secs).to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SEED: &[u8] = b"12345678901234567890";

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_micros(secs * 1_000_000)
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors_pass_in_six_digits() {
        // Appendix B lists 8-digit codes; a 6-digit code is the same truncation mod 10^6.
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(RFC_SEED, at(t)), code, "T={t}");
            assert!(verify(RFC_SEED, code, at(t), None).is_ok(), "T={t}");
        }
    }

    #[test]
    fn one_step_of_drift_is_accepted_and_two_are_not() {
        let code = code_at(RFC_SEED, at(1_000_000_000));
        assert!(verify(RFC_SEED, &code, at(1_000_000_000 + 30), None).is_ok());
        assert!(verify(RFC_SEED, &code, at(1_000_000_000 - 30), None).is_ok());
        assert_eq!(verify(RFC_SEED, &code, at(1_000_000_000 + 90), None), Err(TotpRefusal::Wrong));
    }

    #[test]
    fn a_code_is_never_accepted_twice() {
        let now = at(1_700_000_000);
        let code = code_at(RFC_SEED, now);
        let step = verify(RFC_SEED, &code, now, None).unwrap();
        assert_eq!(verify(RFC_SEED, &code, now, Some(step)), Err(TotpRefusal::Replayed));
        // Nor an older one still inside the window.
        let previous = code_at(RFC_SEED, at(1_700_000_000 - 30));
        assert_eq!(verify(RFC_SEED, &previous, now, Some(step)), Err(TotpRefusal::Replayed));
    }

    #[test]
    fn malformed_codes_are_refused_before_any_work() {
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(verify(RFC_SEED, bad, at(59), None), Err(TotpRefusal::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let seed = new_seed();
        let uri = otpauth_uri(&seed, "alice@example.com", "custos").unwrap();
        assert!(uri.starts_with("otpauth://totp/custos:alice%40example.com?"), "{uri}");
        assert!(uri.contains(&format!("secret={}", seed_base32(&seed))));
        assert!(uri.contains("issuer=custos"));
    }
}
