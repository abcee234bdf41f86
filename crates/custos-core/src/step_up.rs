//! Step-up (DESIGN "Step-up"): credential and binding changes need a recent proof — a second
//! factor when one is enrolled, otherwise a fresh password plus an emailed code, so an account
//! without 2FA can still enrol one. Moving money needs `aal2`: a second factor is required.

use std::time::Duration;

use crate::Timestamp;
use crate::session::Aal;

/// How recent a step-up must be (default 10 minutes).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Credential and binding changes.
    RecentStepUp,
    /// Money out: a recent step-up made with a second factor.
    RecentAal2,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepUpNeeded {
    /// Methods that would satisfy the requirement now, e.g. `["totp", "recovery_code"]` or
    /// `["password_and_email_code"]`; empty when a second factor must be enrolled first.
    pub methods: Vec<&'static str>,
    pub enrol_second_factor: bool,
}

/// What the session and account say.
#[derive(Debug, Clone, Copy)]
pub struct StepUpFacts {
    pub aal: Aal,
    pub stepped_up_at: Option<Timestamp>,
    pub has_totp: bool,
    pub has_passkey: bool,
    pub has_sms: bool,
    pub has_recovery_codes: bool,
}

impl StepUpFacts {
    /// Recovery codes back a factor up; they are not one of their own.
    pub fn has_second_factor(&self) -> bool {
        self.has_totp || self.has_passkey || self.has_sms
    }
}

pub fn methods(f: &StepUpFacts) -> Vec<&'static str> {
    if !f.has_second_factor() {
        return vec!["password_and_email_code"];
    }
    let mut m = Vec::new();
    if f.has_totp {
        m.push("totp");
    }
    if f.has_passkey {
        m.push("passkey");
    }
    if f.has_sms {
        m.push("sms");
    }
    if f.has_recovery_codes {
        m.push("recovery_code");
    }
    m
}

pub fn check(
    f: &StepUpFacts,
    need: Requirement,
    now: Timestamp,
    window: Duration,
) -> Result<(), StepUpNeeded> {
    let recent = f.stepped_up_at.is_some_and(|t| now < t.plus(window) && t <= now);
    let ok = match need {
        Requirement::RecentStepUp => recent && (f.aal == Aal::Aal2 || !f.has_second_factor()),
        Requirement::RecentAal2 => recent && f.aal == Aal::Aal2,
    };
    if ok {
        return Ok(());
    }
    let enrol = need == Requirement::RecentAal2 && !f.has_second_factor();
    Err(StepUpNeeded { methods: if enrol { Vec::new() } else { methods(f) }, enrol_second_factor: enrol })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(aal: Aal, stepped: Option<i64>, totp: bool) -> StepUpFacts {
        StepUpFacts {
            aal,
            stepped_up_at: stepped.map(|s| Timestamp::from_micros(s * 1_000_000)),
            has_totp: totp,
            has_passkey: false,
            has_sms: false,
            has_recovery_codes: totp,
        }
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_micros(s * 1_000_000)
    }

    #[test]
    fn without_a_second_factor_a_password_and_email_step_up_allows_credential_changes() {
        let f = facts(Aal::Aal1, Some(0), false);
        assert_eq!(check(&f, Requirement::RecentStepUp, at(60), DEFAULT_WINDOW), Ok(()));
        let never = facts(Aal::Aal1, None, false);
        assert_eq!(
            check(&never, Requirement::RecentStepUp, at(60), DEFAULT_WINDOW).unwrap_err().methods,
            ["password_and_email_code"]
        );
    }

    #[test]
    fn with_a_second_factor_only_an_aal2_step_up_counts() {
        let f = facts(Aal::Aal1, Some(0), true);
        let e = check(&f, Requirement::RecentStepUp, at(60), DEFAULT_WINDOW).unwrap_err();
        assert_eq!(e.methods, ["totp", "recovery_code"]);
        assert_eq!(
            check(&facts(Aal::Aal2, Some(0), true), Requirement::RecentStepUp, at(60), DEFAULT_WINDOW),
            Ok(())
        );
    }

    #[test]
    fn a_step_up_expires_after_the_window() {
        let f = facts(Aal::Aal2, Some(0), true);
        assert!(check(&f, Requirement::RecentStepUp, at(599), DEFAULT_WINDOW).is_ok());
        assert!(check(&f, Requirement::RecentStepUp, at(600), DEFAULT_WINDOW).is_err());
    }

    #[test]
    fn moving_money_needs_a_second_factor() {
        let f = facts(Aal::Aal1, Some(0), false);
        let e = check(&f, Requirement::RecentAal2, at(1), DEFAULT_WINDOW).unwrap_err();
        assert!(e.enrol_second_factor && e.methods.is_empty());
        assert!(
            check(&facts(Aal::Aal2, Some(0), true), Requirement::RecentAal2, at(1), DEFAULT_WINDOW).is_ok()
        );
    }

    fn passkey_only(aal: Aal, stepped: Option<i64>, recovery_codes: bool) -> StepUpFacts {
        StepUpFacts {
            has_totp: false,
            has_passkey: true,
            has_sms: false,
            has_recovery_codes: recovery_codes,
            ..facts(aal, stepped, false)
        }
    }

    #[test]
    fn a_passkey_is_a_second_factor_like_totp() {
        // A password-and-email step-up no longer counts once a passkey is enrolled.
        let e =
            check(&passkey_only(Aal::Aal1, Some(0), true), Requirement::RecentStepUp, at(60), DEFAULT_WINDOW)
                .unwrap_err();
        assert_eq!(e.methods, ["passkey", "recovery_code"]);
        assert!(!e.enrol_second_factor);
        let f = passkey_only(Aal::Aal2, Some(0), false);
        assert_eq!(check(&f, Requirement::RecentStepUp, at(60), DEFAULT_WINDOW), Ok(()));
        assert_eq!(
            check(&f, Requirement::RecentAal2, at(60), DEFAULT_WINDOW),
            Ok(()),
            "a passkey can move money"
        );
        let e = check(&passkey_only(Aal::Aal1, None, false), Requirement::RecentAal2, at(1), DEFAULT_WINDOW)
            .unwrap_err();
        assert_eq!((e.methods, e.enrol_second_factor), (vec!["passkey"], false));
    }

    #[test]
    fn every_enrolled_factor_is_offered() {
        let f = StepUpFacts { has_passkey: true, ..facts(Aal::Aal1, None, true) };
        assert_eq!(methods(&f), ["totp", "passkey", "recovery_code"]);
    }
}

#[cfg(test)]
mod sms_tests {
    use super::*;

    #[test]
    fn an_sms_only_account_steps_up_by_text() {
        let f = StepUpFacts {
            aal: Aal::Aal1,
            stepped_up_at: None,
            has_totp: false,
            has_passkey: false,
            has_sms: true,
            has_recovery_codes: false,
        };
        let e = check(&f, Requirement::RecentStepUp, Timestamp::from_micros(0), DEFAULT_WINDOW).unwrap_err();
        assert_eq!(e.methods, ["sms"]);
    }
}
