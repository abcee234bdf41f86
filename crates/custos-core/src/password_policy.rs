//! The password policy (NIST SP 800-63B rev. 4: length and known-bad checks, no composition rules).
//!
//! A password is refused, with *every* reason that applies, when it is:
//! - shorter than 12 characters, or than 15 while the account has no second factor (§3.1.1.2:
//!   a password that is the only factor must be at least 15);
//! - longer than 1 024 bytes;
//! - estimated weak (zxcvbn score below 3), with the user's email and name as context;
//! - on the shipped list of common and breached passwords (also when only its skeleton is);
//! - one of the last five passwords of the account;
//! - "similar" to a previous one: the same skeleton (case-folded, digits and symbols stripped from
//!   both ends), so `Tulip-Quarry-7` after `tulip-quarry` is refused.
//!
//! Checking history against Argon2 hashes is the caller's job (it needs the hash pool); this
//! module decides from the facts it is given.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::Reason;
use crate::password::{MAX_PASSWORD_BYTES, Password};

pub const MIN_CHARS_WITH_SECOND_FACTOR: usize = 12;
pub const MIN_CHARS_SINGLE_FACTOR: usize = 15;
pub const MIN_STRENGTH: u8 = 3;
pub const HISTORY_DEPTH: usize = 5;

static COMMON: OnceLock<HashSet<&'static str>> = OnceLock::new();

fn common_passwords() -> &'static HashSet<&'static str> {
    COMMON.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// The normalised skeleton: lower-cased, with digits, punctuation and whitespace stripped from
/// both ends. Two passwords with the same skeleton are "similar".
pub fn skeleton(pw: &str) -> String {
    pw.to_lowercase().trim_matches(|c: char| !c.is_alphabetic()).to_owned()
}

/// What the policy needs to know besides the password itself.
#[derive(Debug, Clone, Default)]
pub struct PolicyContext<'a> {
    pub has_second_factor: bool,
    /// Email, name, and anything else personal: the strength estimate penalises their use.
    pub user_inputs: Vec<&'a str>,
    /// True when the password equals one of the last [`HISTORY_DEPTH`] (checked by the caller).
    pub reused: bool,
    /// True when its skeleton matches a previous password's skeleton (checked by the caller).
    pub similar_to_previous: bool,
}

pub fn check(pw: &Password, ctx: &PolicyContext<'_>) -> Vec<Reason> {
    let text = pw.expose();
    let mut reasons = Vec::new();
    let min = if ctx.has_second_factor { MIN_CHARS_WITH_SECOND_FACTOR } else { MIN_CHARS_SINGLE_FACTOR };
    if text.chars().count() < min {
        let why = if ctx.has_second_factor {
            format!("Use at least {min} characters.")
        } else {
            format!("Use at least {min} characters while your account has no second factor.")
        };
        reasons.push(Reason::new("password-too-short", why));
    }
    if text.len() > MAX_PASSWORD_BYTES {
        reasons.push(Reason::new("password-too-long", format!("Use at most {MAX_PASSWORD_BYTES} bytes.")));
        // Estimating strength of a megabyte is pointless work; the other checks are cheap.
        return reasons;
    }
    let lower = text.to_lowercase();
    let skel = skeleton(text);
    if common_passwords().contains(lower.as_str())
        || (skel.len() >= 4 && common_passwords().contains(skel.as_str()))
    {
        reasons.push(Reason::new(
            "password-breached",
            "This password appears in lists of leaked passwords that attackers try first.",
        ));
    }
    if strength(text, &ctx.user_inputs) < MIN_STRENGTH {
        reasons.push(Reason::new(
            "password-too-weak",
            "This password is easy to guess (a pattern, a keyboard walk, a common word or your own details). \
             A few unrelated words make a strong one.",
        ));
    }
    if ctx.reused {
        reasons.push(Reason::new("password-reused", "Choose a password you have not used here before."));
    } else if ctx.similar_to_previous {
        reasons.push(Reason::new(
            "password-similar",
            "This is too close to a previous password (only digits or symbols at the ends differ).",
        ));
    }
    reasons
}

/// Personal words to penalise, from an email address: the address, its local part, and each word
/// of both (`alice.smith@example.com` → `alice`, `smith`, `example`, …).
pub fn personal_words(email: &str) -> Vec<String> {
    let mut words = vec![email.to_lowercase()];
    if let Some((local, _)) = email.split_once('@') {
        words.push(local.to_lowercase());
        words.push(local.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect());
    }
    words.extend(
        email
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 3)
            .map(str::to_owned),
    );
    words.sort();
    words.dedup();
    words
}

/// zxcvbn's 0–4 score.
pub fn strength(pw: &str, user_inputs: &[&str]) -> u8 {
    if pw.is_empty() {
        return 0;
    }
    u8::from(zxcvbn::zxcvbn(pw, user_inputs).score())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(pw: &str, ctx: &PolicyContext<'_>) -> Vec<&'static str> {
        check(&Password::new(pw.into()), ctx).iter().map(|r| r.code.0).collect()
    }

    #[test]
    fn password123_is_refused_with_every_reason() {
        let ctx = PolicyContext::default();
        assert_eq!(
            codes("Password123!", &ctx),
            ["password-too-short", "password-breached", "password-too-weak"]
        );
    }

    #[test]
    fn a_long_keyboard_walk_is_too_weak() {
        assert_eq!(codes("qwertyuiopasdfghjkl", &PolicyContext::default()), ["password-too-weak"]);
        assert!(codes("1qaz2wsx3edc4rfv5tgb", &PolicyContext::default()).contains(&"password-too-weak"));
    }

    #[test]
    fn a_leaked_list_entry_is_refused() {
        // On the shipped list and long enough to pass the length rule with a second factor.
        let leaked =
            include_str!("../data/common-passwords.txt").lines().find(|l| l.chars().count() >= 12).unwrap();
        let ctx = PolicyContext { has_second_factor: true, ..Default::default() };
        assert!(codes(leaked, &ctx).contains(&"password-breached"), "{leaked}");
    }

    #[test]
    fn the_previous_password_with_a_digit_added_is_similar() {
        assert_eq!(skeleton("Tulip quarry lantern fjord7"), skeleton("tulip quarry lantern fjord"));
        assert_eq!(skeleton("!!Tulip quarry lantern fjord2024!"), "tulip quarry lantern fjord");
        let ctx = PolicyContext { similar_to_previous: true, ..Default::default() };
        assert_eq!(codes("tulip quarry lantern fjord7", &ctx), ["password-similar"]);
    }

    #[test]
    fn a_long_passphrase_is_accepted() {
        assert!(codes("tulip quarry lantern fjord", &PolicyContext::default()).is_empty());
        let with_2fa = PolicyContext { has_second_factor: true, ..Default::default() };
        assert!(codes("vivid-otter-kayak", &with_2fa).is_empty());
    }

    #[test]
    fn the_users_own_details_weaken_a_password() {
        let words = personal_words("alice.wonderland@example.com");
        let ctx =
            PolicyContext { user_inputs: words.iter().map(String::as_str).collect(), ..Default::default() };
        assert!(codes("alicewonderland2024", &ctx).contains(&"password-too-weak"));
    }

    #[test]
    fn fifteen_characters_are_needed_without_a_second_factor_and_twelve_with_one() {
        let pw = "vivid-otter-kayak"; // 17
        assert!(!codes(&pw[..13], &PolicyContext::default()).is_empty());
        let with_2fa = PolicyContext { has_second_factor: true, ..Default::default() };
        assert!(!codes(&pw[..13], &with_2fa).contains(&"password-too-short"));
    }
}
