//! The security posture: a checklist with a score and what to do next. Pure: the caller gathers
//! the facts. Items that later features add (withdrawal allowlist, API-key IP restrictions) slot in
//! as those features land.

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
}

pub fn assess(f: &PostureFacts) -> Posture {
    let items = vec![
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
    ];
    let total: u32 = items.iter().map(|i| u32::from(i.weight)).sum();
    let done: u32 = items.iter().filter(|i| i.done).map(|i| u32::from(i.weight)).sum();
    Posture { score: u8::try_from(done * 100 / total.max(1)).unwrap_or(100), items }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_account_scores_low_and_is_told_what_to_do() {
        let p = assess(&PostureFacts { email_verified: true, ..Default::default() });
        // Verified email (10), a policy-checked password (15), no other sessions (10).
        assert_eq!(p.score, 35);
        let todo: Vec<_> = p.items.iter().filter(|i| !i.done).map(|i| i.code).collect();
        assert_eq!(todo, ["second-factor", "recovery-codes", "anti-phishing-code"]);
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
        });
        assert_eq!(p.score, 100);
    }
}
