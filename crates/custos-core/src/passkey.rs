//! Passkeys (WebAuthn): the decisions that need no cryptography — what a passkey may be called,
//! and whether an in-flight ceremony may still be answered. The signatures themselves are checked
//! by webauthn-rs in the server; this module stays pure.
//!
//! A ceremony is the state between "here are the options" and "here is the authenticator's
//! answer". Like every one-time challenge it has a purpose, an expiry and single use (STYLE
//! "Every one-time code has an expiry, an attempt counter, single use, and a replay guard"): the
//! WebAuthn challenge inside it is the replay guard, and a ceremony is spent by its first answer,
//! right or wrong, so an answer cannot be retried against the same challenge.

use std::time::Duration;

use crate::Timestamp;

/// The longest name a passkey may have, in characters.
pub const NAME_MAX_CHARS: usize = 64;

/// What the holder calls a passkey ("Work laptop", "iPhone"). Shown on pages and in notices, so
/// no control characters and a bounded length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyNameError {
    #[error("give the passkey a name")]
    Empty,
    #[error("a passkey name is at most 64 characters")]
    TooLong,
    #[error("a passkey name cannot contain control characters")]
    ControlCharacter,
}

impl PasskeyName {
    /// Trims surrounding whitespace and collapses inner runs of whitespace to one space.
    pub fn parse(s: &str) -> Result<Self, PasskeyNameError> {
        if s.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err(PasskeyNameError::ControlCharacter);
        }
        let name = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            Err(PasskeyNameError::Empty)
        } else if name.chars().count() > NAME_MAX_CHARS {
            Err(PasskeyNameError::TooLong)
        } else {
            Ok(Self(name))
        }
    }

    /// The name a passkey gets when its holder gave none: "Passkey", "Passkey 2", …
    pub fn default_for(existing: usize) -> Self {
        Self(if existing == 0 { "Passkey".to_owned() } else { format!("Passkey {}", existing + 1) })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CeremonyPurpose {
    /// A signed-in holder adds a passkey.
    Register,
    /// The password was right; a passkey answers the login challenge as the second factor.
    LoginSecondFactor,
    /// A signed-in holder proves a passkey again (step-up).
    StepUp,
    /// Sign-in with a passkey alone (a discoverable credential names its account).
    SignIn,
}

impl CeremonyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::LoginSecondFactor => "login_second_factor",
            Self::StepUp => "step_up",
            Self::SignIn => "sign_in",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Register, Self::LoginSecondFactor, Self::StepUp, Self::SignIn]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// The WebAuthn timeout we send is five minutes; the state lives as long.
    pub fn ttl(self) -> Duration {
        Duration::from_secs(5 * 60)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CeremonyRefusal {
    #[error("the passkey request is unknown or belongs to something else")]
    Unknown,
    #[error("the passkey request expired")]
    Expired,
    #[error("the passkey request was already answered")]
    Used,
}

/// Whether a ceremony may still be answered.
pub fn check_ceremony(
    purpose: CeremonyPurpose,
    expected: CeremonyPurpose,
    expires_at: Timestamp,
    used: bool,
    now: Timestamp,
) -> Result<(), CeremonyRefusal> {
    if purpose != expected {
        Err(CeremonyRefusal::Unknown)
    } else if used {
        Err(CeremonyRefusal::Used)
    } else if now >= expires_at {
        Err(CeremonyRefusal::Expired)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(PasskeyName::parse("  Work   laptop ").unwrap().as_str(), "Work laptop");
        assert_eq!(PasskeyName::parse("   "), Err(PasskeyNameError::Empty));
        assert_eq!(PasskeyName::parse(&"x".repeat(65)), Err(PasskeyNameError::TooLong));
        assert!(PasskeyName::parse(&"é".repeat(64)).is_ok(), "characters, not bytes");
        assert_eq!(PasskeyName::parse("a\u{1b}[31mb"), Err(PasskeyNameError::ControlCharacter));
        assert_eq!(PasskeyName::parse("line\nbreak").unwrap().as_str(), "line break");
    }

    #[test]
    fn unnamed_passkeys_are_numbered() {
        assert_eq!(PasskeyName::default_for(0).as_str(), "Passkey");
        assert_eq!(PasskeyName::default_for(2).as_str(), "Passkey 3");
    }

    #[test]
    fn a_ceremony_is_refused_when_misdirected_used_or_expired() {
        let p = CeremonyPurpose::StepUp;
        let t = Timestamp::from_micros(10);
        let before = Timestamp::from_micros(5);
        assert_eq!(check_ceremony(p, p, t, false, before), Ok(()));
        assert_eq!(check_ceremony(p, p, t, false, t), Err(CeremonyRefusal::Expired));
        assert_eq!(check_ceremony(p, p, t, true, before), Err(CeremonyRefusal::Used));
        assert_eq!(
            check_ceremony(CeremonyPurpose::Register, p, t, false, before),
            Err(CeremonyRefusal::Unknown),
            "a registration cannot be answered as a step-up"
        );
    }

    #[test]
    fn purposes_round_trip() {
        for p in [
            CeremonyPurpose::Register,
            CeremonyPurpose::LoginSecondFactor,
            CeremonyPurpose::StepUp,
            CeremonyPurpose::SignIn,
        ] {
            assert_eq!(CeremonyPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(CeremonyPurpose::parse("other"), None);
    }

    proptest! {
        #[test]
        fn a_parsed_name_is_never_empty_long_or_controlled(s in "\\PC{0,80}") {
            if let Ok(n) = PasskeyName::parse(&s) {
                prop_assert!(!n.as_str().is_empty());
                prop_assert!(n.as_str().chars().count() <= NAME_MAX_CHARS);
                prop_assert!(!n.as_str().chars().any(char::is_control));
            }
        }
    }
}
