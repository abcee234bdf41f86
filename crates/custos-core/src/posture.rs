//! The security posture: a checklist with a score and what to do next. Pure: the caller gathers
//! the facts.
//!
//! The API-key items appear only on accounts that have live keys: an account without keys is not
//! made to look safer (or less safe) by items about something it does not use.

use serde::Serialize;

#[derive(Debug, Clone, Copy, Default)]
pub struct PostureFacts {
    pub email_verified: bool,
    /// An authenticator app or a passkey.
    pub has_second_factor: bool,
    pub unused_recovery_codes: u32,
    pub anti_phishing_code: bool,
    /// Live sessions other than the one asking.
    pub other_live_sessions: u32,
    /// Devices not seen for 90 days that are still on the account.
    pub stale_devices: u32,
    /// API keys neither revoked nor expired.
    pub live_api_keys: u32,
    /// Live keys usable from any address (no IP allowlist).
    pub api_keys_without_ips: u32,
    /// Live keys not used for 90 days (or never, and created more than 90 days ago).
    pub unused_api_keys: u32,
    /// The withdrawal address allowlist is enforced now (on, or on with a turn-off pending).
    pub allowlist_enforced: bool,
    /// A turn-off of the allowlist is pending.
    pub allowlist_turning_off: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PostureItem {
    pub code: &'static str,
    pub done: bool,
    pub weight: u8,
    pub title: &'static str,
    pub next_step: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Posture {
    /// 0–100: the weighted share of items done.
    pub score: u8,
    pub items: Vec<PostureItem>,
    /// API keys that can be used now (neither revoked nor expired).
    pub live_api_keys: u32,
}

pub fn assess(f: &PostureFacts) -> Posture {
    let mut items = vec![
        PostureItem {
            code: "email-verified",
            done: f.email_verified,
            weight: 10,
            title: "Email address verified",
            next_step: (!f.email_verified).then_some("Open the verification link we emailed you."),
        },
        PostureItem {
            code: "strong-password",
            // Every password custos accepts passes the full policy (length, strength, breached list).
            done: true,
            weight: 15,
            title: "Strong, unique password",
            next_step: None,
        },
        PostureItem {
            code: "second-factor",
            done: f.has_second_factor,
            weight: 35,
            title: "Second factor (authenticator app or passkey)",
            next_step: (!f.has_second_factor).then_some(
                "Add a passkey or an authenticator app: without one, a stolen password is enough.",
            ),
        },
        PostureItem {
            code: "recovery-codes",
            done: f.has_second_factor && f.unused_recovery_codes >= 3,
            weight: 10,
            title: "Recovery codes available",
            next_step: if !f.has_second_factor {
                Some("Add a second factor; the first one comes with ten recovery codes.")
            } else if f.unused_recovery_codes < 3 {
                Some("Generate new recovery codes and keep them offline.")
            } else {
                None
            },
        },
        PostureItem {
            code: "anti-phishing-code",
            done: f.anti_phishing_code,
            weight: 20,
            title: "Anti-phishing code",
            next_step: (!f.anti_phishing_code)
                .then_some("Set an anti-phishing code: real custos mail will always show it."),
        },
        PostureItem {
            code: "no-stale-access",
            done: f.other_live_sessions == 0 && f.stale_devices == 0,
            weight: 10,
            title: "No sessions or devices you don't use",
            next_step: (f.other_live_sessions > 0 || f.stale_devices > 0)
                .then_some("Review where you're signed in and end what you don't recognise."),
        },
        PostureItem {
            code: "withdrawal-allowlist",
            // A list that is about to turn itself off is not protection to count on.
            done: f.allowlist_enforced && !f.allowlist_turning_off,
            weight: 10,
            title: "Withdrawal address allowlist on",
            next_step: if f.allowlist_turning_off {
                Some(
                    "Your allowlist is turning off. If you did not ask for that, turn it on again to cancel.",
                )
            } else if !f.allowlist_enforced {
                Some(
                    "Turn on the withdrawal allowlist: withdrawals then only go to addresses you confirmed by email \
                     a day before.",
                )
            } else {
                None
            },
        },
    ];
    if f.live_api_keys > 0 {
        items.push(PostureItem {
            code: "api-keys-ip-restricted",
            done: f.api_keys_without_ips == 0,
            weight: 10,
            title: "API keys only work from your own addresses",
            next_step: (f.api_keys_without_ips > 0).then_some(
                "Replace keys without an IP allowlist with keys limited to the addresses your programs use: \
                 a leaked key then cannot be used from anywhere else.",
            ),
        });
        items.push(PostureItem {
            code: "no-unused-api-keys",
            done: f.unused_api_keys == 0,
            weight: 10,
            title: "No API keys unused for 90 days",
            next_step: (f.unused_api_keys > 0)
                .then_some("Revoke the API keys you no longer use; every live key is a way in."),
        });
    }
    let total: u32 = items.iter().map(|i| u32::from(i.weight)).sum();
    let done: u32 = items.iter().filter(|i| i.done).map(|i| u32::from(i.weight)).sum();
    Posture {
        score: u8::try_from(done * 100 / total.max(1)).unwrap_or(100),
        items,
        live_api_keys: f.live_api_keys,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_account_scores_low_and_is_told_what_to_do() {
        let p = assess(&PostureFacts { email_verified: true, ..Default::default() });
        // Verified email (10), a policy-checked password (15), no other sessions (10), of 110.
        assert_eq!(p.score, 31);
        let todo: Vec<_> = p.items.iter().filter(|i| !i.done).map(|i| i.code).collect();
        assert_eq!(todo, ["second-factor", "recovery-codes", "anti-phishing-code", "withdrawal-allowlist"]);
        assert!(p.items.iter().all(|i| i.done == i.next_step.is_none()));
    }

    #[test]
    fn everything_done_is_100() {
        let p = assess(&PostureFacts {
            email_verified: true,
            has_second_factor: true,
            unused_recovery_codes: 10,
            anti_phishing_code: true,
            other_live_sessions: 0,
            stale_devices: 0,
            allowlist_enforced: true,
            ..Default::default()
        });
        assert_eq!(p.score, 100);
    }

    #[test]
    fn an_allowlist_that_is_turning_off_is_not_counted_and_says_how_to_cancel() {
        let base = PostureFacts { email_verified: true, ..Default::default() };
        let item = |f: &PostureFacts| {
            assess(f).items.into_iter().find(|i| i.code == "withdrawal-allowlist").unwrap()
        };
        assert!(!item(&base).done);
        assert!(item(&PostureFacts { allowlist_enforced: true, ..base }).done);
        let leaving = item(&PostureFacts { allowlist_enforced: true, allowlist_turning_off: true, ..base });
        assert!(!leaving.done);
        assert!(leaving.next_step.unwrap().contains("turn it on again"));
    }

    #[test]
    fn api_key_items_appear_only_with_live_keys_and_count_against_open_keys() {
        let base = PostureFacts { email_verified: true, ..Default::default() };
        let without = assess(&base);
        assert!(without.items.iter().all(|i| !i.code.contains("api-key")));
        let with =
            assess(&PostureFacts { live_api_keys: 3, api_keys_without_ips: 1, unused_api_keys: 0, ..base });
        let item = |code: &str| with.items.iter().find(|i| i.code == code).unwrap().clone();
        assert!(!item("api-keys-ip-restricted").done);
        assert!(item("api-keys-ip-restricted").next_step.is_some());
        assert!(item("no-unused-api-keys").done);
        assert_eq!(with.live_api_keys, 3);
        assert!(with.score < 100);
        let tidy = assess(&PostureFacts { live_api_keys: 2, ..base });
        assert!(tidy.items.iter().filter(|i| i.code.contains("api-key")).all(|i| i.done));
    }
}
