//! Staff: support agents, analysts and administrators, separate from customer accounts.
//!
//! Least privilege is one table, [`minimum_role`]: every [`StaffAction`] names the least role that
//! may take it, and roles are ordered (`agent` < `analyst` < `admin`), so a higher role holds every
//! right of a lower one. [`authorize`] is the only decision; handlers call it before anything else.
//!
//! A staff member is known to users by a public **staff ID** (`CS-` and six digits), shown beside
//! every support message, so a user can check it on the public verification page.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Reason;

/// `uuid_id!` lives in `ids`; staff ids are defined here with the same shape so the staff room
/// holds everything staff.
macro_rules! uuid_id_local {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
            pub const fn from_uuid(u: uuid::Uuid) -> Self {
                Self(u)
            }
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

uuid_id_local!(
    /// A staff member's internal id. Users see the [`StaffCode`] instead.
    StaffId
);
uuid_id_local!(StaffSessionId);

/// How long a staff setup link lives: long enough to open it the same day, short enough that a
/// forgotten one is dead before anybody finds it.
pub const SETUP_TTL: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Agent,
    Analyst,
    Admin,
}

impl StaffRole {
    pub const ALL: [StaffRole; 3] = [Self::Agent, Self::Analyst, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Analyst => "analyst",
            Self::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s.trim().to_ascii_lowercase())
    }
}

/// What a staff member may be allowed to do. The console's actions each map to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StaffAction {
    ReadQueue,
    ReadCase,
    /// The account summary: UID, email, status, sessions count, recent sign-ins with signals.
    ReadAccountSummary,
    MessageUser,
    ChangeCaseState,
    AddNote,
    FreezeAccount,
    /// Every login, risk signal and security change of an account, not just the recent ones.
    ReadFullTimeline,
    CancelWithdrawal,
    InterceptWithdrawal,
    ManageOfficialChannels,
}

impl StaffAction {
    pub const ALL: [StaffAction; 11] = [
        Self::ReadQueue,
        Self::ReadCase,
        Self::ReadAccountSummary,
        Self::MessageUser,
        Self::ChangeCaseState,
        Self::AddNote,
        Self::FreezeAccount,
        Self::ReadFullTimeline,
        Self::CancelWithdrawal,
        Self::InterceptWithdrawal,
        Self::ManageOfficialChannels,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReadQueue => "read_queue",
            Self::ReadCase => "read_case",
            Self::ReadAccountSummary => "read_account_summary",
            Self::MessageUser => "message_user",
            Self::ChangeCaseState => "change_case_state",
            Self::AddNote => "add_note",
            Self::FreezeAccount => "freeze_account",
            Self::ReadFullTimeline => "read_full_timeline",
            Self::CancelWithdrawal => "cancel_withdrawal",
            Self::InterceptWithdrawal => "intercept_withdrawal",
            Self::ManageOfficialChannels => "manage_official_channels",
        }
    }
}

/// The least-privilege table: the least role that may take each action. Freezing and stopping a
/// withdrawal (cancelling one not yet sent, asking the wallet to intercept one it is processing)
/// are an agent's rights because they only tighten (DESIGN: tighten freely) — the agent on a case
/// must be able to stop the money leaving; reading the full history needs an analyst; changing
/// what users are told is official needs an admin.
pub fn minimum_role(action: StaffAction) -> StaffRole {
    use StaffAction::*;
    match action {
        ReadQueue | ReadCase | ReadAccountSummary | MessageUser | ChangeCaseState | AddNote
        | FreezeAccount | CancelWithdrawal | InterceptWithdrawal => StaffRole::Agent,
        ReadFullTimeline => StaffRole::Analyst,
        ManageOfficialChannels => StaffRole::Admin,
    }
}

/// Whether `role` may take `action`; the refusal carries `staff-role-insufficient`.
pub fn authorize(role: StaffRole, action: StaffAction) -> Result<(), Reason> {
    let needed = minimum_role(action);
    if role >= needed {
        Ok(())
    } else {
        Err(Reason::new(
            "staff-role-insufficient",
            format!(
                "Your role ({}) may not {}; it needs the {} role.",
                role.as_str(),
                action.as_str().replace('_', " "),
                needed.as_str()
            ),
        ))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffStatus {
    /// Created; the setup link has not been completed (no password, no second factor yet).
    Pending,
    Active,
    Disabled,
}

impl StaffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Active, Self::Disabled].into_iter().find(|x| x.as_str() == s)
    }
}

/// A public staff ID: `CS-` and six digits. Random, unique (the store enforces it), and not a
/// secret: users are meant to check it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StaffCode(String);

impl StaffCode {
    pub fn random() -> Self {
        let n: u32 = rand::random_range(0..1_000_000);
        Self(format!("CS-{n:06}"))
    }

    /// Accepts `CS-123456`, also as `cs123456`, `CS 123456` or `CS_123456`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let rest = s.get(..2).filter(|p| p.eq_ignore_ascii_case("cs")).map(|_| &s[2..])?;
        let digits = rest.trim_start_matches(['-', ' ', '_']);
        (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self(format!("CS-{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StaffCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most a staff action's reason may hold, in characters.
pub const MAX_REASON: usize = 500;

/// The reason every staff action must give (it goes into the audit record of the action): 1–500
/// characters after trimming, no control characters but line breaks. Refusals:
/// `reason-required`, `reason-too-long`, `reason-invalid`.
pub fn parse_reason(s: Option<&str>) -> Result<String, Reason> {
    let r = s.map(str::trim).unwrap_or("");
    if r.is_empty() {
        return Err(Reason::new(
            "reason-required",
            "Give a reason for this action; it is recorded in the audit trail.",
        ));
    }
    if r.chars().count() > MAX_REASON {
        return Err(Reason::new("reason-too-long", format!("A reason is at most {MAX_REASON} characters.")));
    }
    if r.chars().any(|c| c.is_control() && c != '\n' && c != '\r') {
        return Err(Reason::new("reason-invalid", "A reason holds no control characters."));
    }
    Ok(r.replace("\r\n", "\n"))
}

/// A display name: 1–80 printable characters, trimmed.
pub fn parse_display_name(s: &str) -> Result<String, Reason> {
    let name = s.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(Reason::new("staff-name-invalid", "Give a display name of 1–80 printable characters."));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use StaffAction::*;
    use StaffRole::*;

    /// The table written out as a spec: (action, agent, analyst, admin).
    const EXPECTED: [(StaffAction, bool, bool, bool); 11] = [
        (ReadQueue, true, true, true),
        (ReadCase, true, true, true),
        (ReadAccountSummary, true, true, true),
        (MessageUser, true, true, true),
        (ChangeCaseState, true, true, true),
        (AddNote, true, true, true),
        (FreezeAccount, true, true, true),
        (ReadFullTimeline, false, true, true),
        (CancelWithdrawal, true, true, true),
        (InterceptWithdrawal, true, true, true),
        (ManageOfficialChannels, false, false, true),
    ];

    #[test]
    fn every_role_and_action_pair_is_decided_as_the_table_says() {
        assert_eq!(EXPECTED.len(), StaffAction::ALL.len());
        for action in StaffAction::ALL {
            let (_, agent, analyst, admin) =
                *EXPECTED.iter().find(|(a, ..)| *a == action).expect("every action is in the spec");
            for (role, allowed) in [(Agent, agent), (Analyst, analyst), (Admin, admin)] {
                assert_eq!(authorize(role, action).is_ok(), allowed, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_code_and_the_role_needed() {
        let r = authorize(Agent, ManageOfficialChannels).unwrap_err();
        assert_eq!(r.code.0, "staff-role-insufficient");
        assert!(r.detail.contains("admin"), "{}", r.detail);
        let r = authorize(Analyst, ManageOfficialChannels).unwrap_err();
        assert_eq!(r.code.0, "staff-role-insufficient");
    }

    #[test]
    fn a_higher_role_holds_every_right_of_a_lower_one() {
        for action in StaffAction::ALL {
            if authorize(Agent, action).is_ok() {
                assert!(authorize(Analyst, action).is_ok());
            }
            if authorize(Analyst, action).is_ok() {
                assert!(authorize(Admin, action).is_ok());
            }
        }
    }

    #[test]
    fn roles_parse_and_print() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(StaffRole::parse(" Admin "), Some(Admin));
        assert_eq!(StaffRole::parse("root"), None);
        assert_eq!(StaffRole::parse(""), None);
    }

    #[test]
    fn staff_codes_are_cs_and_six_digits() {
        for _ in 0..50 {
            let c = StaffCode::random();
            assert_eq!(StaffCode::parse(c.as_str()), Some(c.clone()));
            assert_eq!(c.as_str().len(), 9);
        }
        assert_eq!(StaffCode::parse("cs123456").unwrap().as_str(), "CS-123456");
        assert_eq!(StaffCode::parse(" CS 004200 ").unwrap().as_str(), "CS-004200");
        for bad in ["CS-12345", "CS-1234567", "XX-123456", "CS-12a456", "", "C", "CS-", "ÇS-123456"] {
            assert_eq!(StaffCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reasons_are_required_bounded_and_printable() {
        assert_eq!(parse_reason(Some("  customer called  ")).unwrap(), "customer called");
        assert_eq!(parse_reason(Some("a\r\nb")).unwrap(), "a\nb");
        assert_eq!(parse_reason(None).unwrap_err().code.0, "reason-required");
        assert_eq!(parse_reason(Some("   ")).unwrap_err().code.0, "reason-required");
        assert!(parse_reason(Some(&"é".repeat(500))).is_ok(), "500 characters, not bytes");
        assert_eq!(parse_reason(Some(&"x".repeat(501))).unwrap_err().code.0, "reason-too-long");
        assert_eq!(parse_reason(Some("a\u{7}b")).unwrap_err().code.0, "reason-invalid");
    }

    #[test]
    fn stopping_money_is_an_agents_right_and_the_full_timeline_is_not() {
        assert!(authorize(Agent, CancelWithdrawal).is_ok());
        assert!(authorize(Agent, InterceptWithdrawal).is_ok());
        assert_eq!(authorize(Agent, ReadFullTimeline).unwrap_err().code.0, "staff-role-insufficient");
    }

    #[test]
    fn display_names_are_bounded_and_printable() {
        assert_eq!(parse_display_name("  Dana Reyes ").unwrap(), "Dana Reyes");
        assert!(parse_display_name("").is_err());
        assert!(parse_display_name("a\u{7}b").is_err());
        assert!(parse_display_name(&"x".repeat(81)).is_err());
    }
}
