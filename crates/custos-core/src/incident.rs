//! Incident cases (issue 6, "report"): what happened to an account, told once by the platform and
//! then by the holder and support in a thread, with an SLA clock.
//!
//! A case is opened by every freeze (whatever the channel) and by the holder's report; an account
//! has at most one open case (any state but `closed`), and a later freeze or report attaches to it.
//! Everything that decides — which state may follow which, what a message may contain, whether the
//! SLA is breached — is here; the store keeps rows and the server carries the decisions out.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::freeze::FreezeChannel;
use crate::reason::Reason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    New,
    Triage,
    Investigating,
    WaitingOnUser,
    Resolved,
    Closed,
}

impl IncidentState {
    pub const ALL: [Self; 6] =
        [Self::New, Self::Triage, Self::Investigating, Self::WaitingOnUser, Self::Resolved, Self::Closed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Triage => "triage",
            Self::Investigating => "investigating",
            Self::WaitingOnUser => "waiting_on_user",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// For people: "waiting for your answer" rather than `waiting_on_user`.
    pub fn words(self) -> &'static str {
        match self {
            Self::New => "new — support has not looked at it yet",
            Self::Triage => "being triaged by support",
            Self::Investigating => "being investigated",
            Self::WaitingOnUser => "waiting for your answer",
            Self::Resolved => "resolved",
            Self::Closed => "closed",
        }
    }

    /// Every state but `closed` is open: the account's next freeze or report attaches to it.
    pub fn is_open(self) -> bool {
        self != Self::Closed
    }

    /// The allowed transitions. Support moves a case forward; a resolved case goes back to
    /// triage when the holder writes again (or support reopens it); closed is final.
    pub fn may_become(self, to: Self) -> bool {
        use IncidentState::*;
        matches!(
            (self, to),
            (New, Triage | Investigating | WaitingOnUser | Resolved)
                | (Triage, Investigating | WaitingOnUser | Resolved)
                | (Investigating, Triage | WaitingOnUser | Resolved)
                | (WaitingOnUser, Triage | Investigating | Resolved)
                | (Resolved, Triage | Closed)
        )
    }

    /// The state a message from the holder moves the case to, if any: an answer puts a case
    /// waiting on them back in support's hands, and a message on a resolved case reopens it.
    pub fn after_user_message(self) -> Option<Self> {
        match self {
            Self::WaitingOnUser => Some(Self::Investigating),
            Self::Resolved => Some(Self::Triage),
            _ => None,
        }
    }

    /// The state another freeze or report moves an open case to, if any (it is news to support).
    pub fn after_new_report(self) -> Option<Self> {
        match self {
            Self::WaitingOnUser | Self::Resolved => Some(Self::Triage),
            _ => None,
        }
    }
}

/// Why a case was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IncidentOrigin {
    Freeze { channel: FreezeChannel },
    UserReport,
}

impl IncidentOrigin {
    /// Stored form: `freeze:email_link`, `user_report`.
    pub fn as_string(self) -> String {
        match self {
            Self::Freeze { channel } => format!("freeze:{}", channel.as_str()),
            Self::UserReport => "user_report".into(),
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.split_once(':') {
            Some(("freeze", c)) => FreezeChannel::parse(c).map(|channel| Self::Freeze { channel }),
            None if s == "user_report" => Some(Self::UserReport),
            _ => None,
        }
    }
}

/// The four facts the emergency protocol asks a victim to give support, pre-filled by custos.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentFacts {
    pub uid: u64,
    pub email: String,
    /// When the anomaly was first seen: the diagnosis' first indicator, else when the case opened.
    /// Editable by the holder.
    pub detected_at: Option<Timestamp>,
    /// What was done without the holder: from the diagnosis, editable.
    pub unauthorised_actions: Vec<String>,
    /// What was done about it: the freeze receipt in sentences, plus what the holder adds.
    pub measures_taken: Vec<String>,
}

/// Bounds on what the holder may write into the facts.
pub const MAX_FACT_ITEMS: usize = 50;
pub const MAX_FACT_LEN: usize = 500;

/// Checks a list of facts typed by the holder (unauthorised actions, measures taken): blank lines
/// are dropped, each line is at most 500 printable characters, at most 50 lines.
pub fn parse_fact_lines(field: &'static str, lines: &[String]) -> Result<Vec<String>, Reason> {
    let out: Vec<String> = lines.iter().map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
    if out.len() > MAX_FACT_ITEMS {
        return Err(Reason::new(field, format!("At most {MAX_FACT_ITEMS} lines.")));
    }
    if out.iter().any(|l| l.chars().count() > MAX_FACT_LEN || l.chars().any(char::is_control)) {
        return Err(Reason::new(
            field,
            format!("Each line is at most {MAX_FACT_LEN} characters, without control characters."),
        ));
    }
    Ok(out)
}

/// What the diagnosis says for the facts: the time of the first indicator's earliest evidence
/// (the detection time), and each indicator's evidence as one line (the unauthorised actions).
pub fn facts_from_diagnosis(d: &crate::diagnosis::Diagnosis) -> (Option<Timestamp>, Vec<String>) {
    let detected = d.indicators.iter().flat_map(|i| i.finding.evidence.iter().map(|e| e.at)).min();
    let mut lines: Vec<(Timestamp, String)> = d
        .indicators
        .iter()
        .flat_map(|i| {
            i.finding.evidence.iter().map(move |e| (e.at, format!("{}: {}", i.finding.title, e.detail)))
        })
        .collect();
    lines.sort();
    let lines = lines
        .into_iter()
        .map(|(at, l)| {
            let l = format!("{} — {l}", at.rfc3339());
            l.chars().filter(|c| !c.is_control()).take(MAX_FACT_LEN).collect()
        })
        .take(MAX_FACT_ITEMS)
        .collect();
    (detected, lines)
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageAuthor {
    /// The account holder (signed in, or through the case link).
    User,
    /// A member of staff, by their id and the name shown to the holder.
    Staff { staff_id: String, display_name: String },
    /// custos itself (the case was opened, the facts were filled in…).
    System,
}

impl MessageAuthor {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Staff { .. } => "staff",
            Self::System => "system",
        }
    }
}

pub const MAX_MESSAGE_CHARS: usize = 4000;

/// A message body: 1–4000 characters, no control characters but newlines (CR LF becomes LF, as
/// browsers send textareas). It is text: pages escape it, nothing renders it as markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(s: &str) -> Result<Self, Reason> {
        let s = s.replace("\r\n", "\n");
        let s = s.trim();
        if s.is_empty() {
            return Err(Reason::new("message-empty", "Write a message."));
        }
        if s.chars().count() > MAX_MESSAGE_CHARS {
            return Err(Reason::new(
                "message-too-long",
                format!("A message is at most {MAX_MESSAGE_CHARS} characters."),
            ));
        }
        if s.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Reason::new(
                "message-invalid-characters",
                "A message may not contain control characters (other than line breaks).",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// For text custos writes itself (system messages); cut to the limit, control characters dropped.
    pub fn system(s: &str) -> Self {
        let clean: String =
            s.chars().filter(|c| !c.is_control() || *c == '\n').take(MAX_MESSAGE_CHARS).collect();
        Self(clean)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Attachments are not supported: a request that names them is refused, never half-accepted.
pub fn attachments_refused() -> Reason {
    Reason::new(
        "attachments-not-supported",
        "Attachments are not supported: describe what you saw in the message, or give transaction IDs.",
    )
}

/// The SLA: how soon support must answer first, and resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    pub first_response: Duration,
    pub resolution: Duration,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self { first_response: Duration::from_secs(15 * 60), resolution: Duration::from_secs(72 * 3600) }
    }
}

/// One SLA target at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SlaTarget {
    /// Done at `at`, `late` if after the due time.
    Met { due: Timestamp, at: Timestamp, late: bool },
    /// Not done; `due` is still ahead.
    Due { due: Timestamp },
    /// Not done and `due` has passed.
    Breached { due: Timestamp },
}

impl SlaTarget {
    fn at(due: Timestamp, done: Option<Timestamp>, now: Timestamp) -> Self {
        match done {
            Some(at) => Self::Met { due, at, late: at > due },
            None if now > due => Self::Breached { due },
            None => Self::Due { due },
        }
    }

    pub fn is_breached(&self) -> bool {
        matches!(self, Self::Breached { .. })
    }

    /// "due in 12 min", "breached 3 h 5 min ago", "met", "met (late)".
    pub fn words(&self, now: Timestamp) -> String {
        match *self {
            Self::Met { late: false, .. } => "met".into(),
            Self::Met { late: true, .. } => "met (late)".into(),
            Self::Due { due } => format!("due in {}", span(due.since(now))),
            Self::Breached { due } => format!("breached {} ago", span(now.since(due))),
        }
    }
}

/// The SLA of a case at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaClock {
    pub first_response: SlaTarget,
    pub resolution: SlaTarget,
}

impl SlaClock {
    /// The support queue's order: breached cases first, then the soonest first response due,
    /// then the soonest resolution due. A target already met sorts after every open one. The first
    /// element is `false` for a breached case, so that it sorts first.
    pub fn queue_key(&self) -> (bool, Option<Timestamp>, Option<Timestamp>) {
        let open_due = |t: &SlaTarget| match *t {
            SlaTarget::Met { .. } => None,
            SlaTarget::Due { due } | SlaTarget::Breached { due } => Some(due),
        };
        let breached = matches!(self.first_response, SlaTarget::Breached { .. })
            || matches!(self.resolution, SlaTarget::Breached { .. });
        // `None` (met) must sort last: map it to the far future.
        let far = |t: Option<Timestamp>| t.or(Some(Timestamp::from_micros(i64::MAX)));
        (!breached, far(open_due(&self.first_response)), far(open_due(&self.resolution)))
    }
}

impl SlaPolicy {
    /// `first_response_at` is support's first message; `resolved_at` when the case was resolved.
    pub fn clock(
        &self,
        opened_at: Timestamp,
        first_response_at: Option<Timestamp>,
        resolved_at: Option<Timestamp>,
        now: Timestamp,
    ) -> SlaClock {
        SlaClock {
            first_response: SlaTarget::at(opened_at.plus(self.first_response), first_response_at, now),
            resolution: SlaTarget::at(opened_at.plus(self.resolution), resolved_at, now),
        }
    }
}

/// A duration in words, to the minute: "2 d 3 h", "3 h 5 min", "12 min", "less than a minute".
pub fn span(d: Duration) -> String {
    let m = d.as_secs() / 60;
    let (days, hours, mins) = (m / 1440, (m / 60) % 24, m % 60);
    match (days, hours, mins) {
        (0, 0, 0) => "less than a minute".into(),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(min: i64) -> Timestamp {
        Timestamp::from_micros(1_800_000_000_000_000 + min * 60_000_000)
    }

    #[test]
    fn the_queue_puts_breached_cases_first_then_the_soonest_first_response_then_resolution() {
        let p = SlaPolicy::default();
        let now = t(100);
        let breached = p.clock(t(0), None, None, now); // first response due at 15: breached
        let soon = p.clock(t(95), None, None, now); // due at 110
        let later = p.clock(t(99), None, None, now); // due at 114
        let answered_old = p.clock(t(50), Some(t(55)), None, now); // resolution due sooner
        let answered_new = p.clock(t(90), Some(t(91)), None, now);
        let mut v = vec![
            ("answered_new", answered_new.queue_key()),
            ("later", later.queue_key()),
            ("answered_old", answered_old.queue_key()),
            ("breached", breached.queue_key()),
            ("soon", soon.queue_key()),
        ];
        v.sort_by_key(|(_, k)| *k);
        let order: Vec<_> = v.into_iter().map(|(n, _)| n).collect();
        assert_eq!(order, ["breached", "soon", "later", "answered_old", "answered_new"]);
    }

    #[test]
    fn a_case_moves_forward_and_closed_is_final() {
        use IncidentState::*;
        assert!(New.may_become(Triage));
        assert!(Triage.may_become(Investigating));
        assert!(Investigating.may_become(WaitingOnUser));
        assert!(WaitingOnUser.may_become(Resolved));
        assert!(Resolved.may_become(Closed));
        assert!(Resolved.may_become(Triage), "a resolved case may be reopened");
        for s in IncidentState::ALL {
            assert!(!Closed.may_become(s), "closed is final ({s:?})");
            assert!(!s.may_become(s), "no self-transition ({s:?})");
            assert!(!s.may_become(New), "nothing goes back to new ({s:?})");
        }
        assert!(!New.may_become(Closed), "only a resolved case closes");
        assert!(!Investigating.may_become(Closed));
    }

    #[test]
    fn the_holders_message_reopens_a_resolved_case_and_answers_a_waiting_one() {
        use IncidentState::*;
        assert_eq!(Resolved.after_user_message(), Some(Triage));
        assert_eq!(WaitingOnUser.after_user_message(), Some(Investigating));
        assert_eq!(Investigating.after_user_message(), None);
        for s in IncidentState::ALL {
            if let Some(next) = s.after_user_message().or(s.after_new_report()) {
                assert!(s.may_become(next), "{s:?} → {next:?} must be allowed");
            }
        }
    }

    #[test]
    fn origins_and_states_round_trip_through_their_stored_form() {
        for s in IncidentState::ALL {
            assert_eq!(IncidentState::parse(s.as_str()), Some(s));
        }
        for o in [
            IncidentOrigin::UserReport,
            IncidentOrigin::Freeze { channel: FreezeChannel::EmailLink },
            IncidentOrigin::Freeze { channel: FreezeChannel::Policy },
        ] {
            assert_eq!(IncidentOrigin::parse(&o.as_string()), Some(o));
        }
        assert_eq!(IncidentOrigin::parse("freeze:nonsense"), None);
        assert_eq!(IncidentOrigin::parse("user_report:x"), None);
    }

    #[test]
    fn a_message_is_bounded_text() {
        assert_eq!(MessageBody::parse("  hello\r\nthere ").unwrap().as_str(), "hello\nthere");
        assert_eq!(MessageBody::parse(" \n ").unwrap_err().code.0, "message-empty");
        let long = "x".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(MessageBody::parse(&long).unwrap_err().code.0, "message-too-long");
        assert!(MessageBody::parse(&"é".repeat(MAX_MESSAGE_CHARS)).is_ok(), "characters, not bytes");
        assert_eq!(MessageBody::parse("a\u{0}b").unwrap_err().code.0, "message-invalid-characters");
        assert_eq!(MessageBody::parse("a\tb").unwrap_err().code.0, "message-invalid-characters");
        assert_eq!(MessageBody::parse("<script>x</script>").unwrap().as_str(), "<script>x</script>");
    }

    #[test]
    fn fact_lines_drop_blanks_and_refuse_oversized_lines() {
        let ok = parse_fact_lines("f", &["  a ".into(), "".into(), "b".into()]).unwrap();
        assert_eq!(ok, ["a", "b"]);
        assert!(parse_fact_lines("f", &["x".repeat(MAX_FACT_LEN + 1)]).is_err());
        assert!(parse_fact_lines("f", &vec!["x".to_owned(); MAX_FACT_ITEMS + 1]).is_err());
        assert!(parse_fact_lines("f", &["a\u{7}".into()]).is_err());
    }

    #[test]
    fn the_diagnosis_gives_the_first_indicator_as_detection_time_and_its_evidence_as_actions() {
        use crate::diagnosis::{Diagnosis, Evidence, Finding, Indicator, Strength, Verdict};
        let ind = |code, at: Vec<i64>| Indicator {
            finding: Finding {
                code,
                title: code,
                evidence: at.into_iter().map(|m| Evidence { at: t(m), detail: format!("at {m}") }).collect(),
            },
            strength: Strength::Definitive,
        };
        let d = Diagnosis {
            verdict: Verdict::Compromised,
            indicators: vec![ind("withdrawal", vec![30]), ind("sign-in", vec![10, 20])],
            benign: vec![],
            vector_hints: vec![],
            next_steps: vec![],
        };
        let (detected, lines) = facts_from_diagnosis(&d);
        assert_eq!(detected, Some(t(10)));
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("sign-in: at 10"), "{lines:?}");
        assert!(lines[2].ends_with("withdrawal: at 30"), "{lines:?}");
        let empty = Diagnosis { indicators: vec![], ..d };
        assert_eq!(facts_from_diagnosis(&empty), (None, vec![]));
    }

    #[test]
    fn the_sla_clock_says_due_breached_or_met() {
        let sla = SlaPolicy::default();
        let c = sla.clock(t(0), None, None, t(3));
        assert_eq!(c.first_response, SlaTarget::Due { due: t(15) });
        assert_eq!(c.first_response.words(t(3)), "due in 12 min");
        let c = sla.clock(t(0), None, None, t(200));
        assert!(c.first_response.is_breached());
        assert_eq!(c.first_response.words(t(200)), "breached 3 h 5 min ago");
        assert_eq!(c.resolution.words(t(200)), "due in 2 d 20 h");
        let c = sla.clock(t(0), Some(t(10)), None, t(200));
        assert_eq!(c.first_response.words(t(200)), "met");
        let c = sla.clock(t(0), Some(t(20)), Some(t(5000)), t(6000));
        assert_eq!(c.first_response.words(t(6000)), "met (late)");
        assert!(matches!(c.resolution, SlaTarget::Met { late: true, .. }));
    }

    proptest! {
        #[test]
        fn every_walk_along_allowed_transitions_stays_closed_once_closed(steps in proptest::collection::vec(0usize..6, 0..40)) {
            let mut s = IncidentState::New;
            for i in steps {
                let next = IncidentState::ALL[i];
                if s.may_become(next) {
                    prop_assert!(s != IncidentState::Closed);
                    s = next;
                }
            }
            prop_assert_eq!(s.is_open(), s != IncidentState::Closed);
        }

        #[test]
        fn a_parsed_message_never_holds_control_characters_or_exceeds_the_limit(s in "\\PC{0,20}[\\x00-\\x1f]?\\PC{0,20}") {
            if let Ok(m) = MessageBody::parse(&s) {
                prop_assert!(m.as_str().chars().count() <= MAX_MESSAGE_CHARS);
                prop_assert!(m.as_str().chars().all(|c| !c.is_control() || c == '\n'));
            }
        }

        #[test]
        fn the_sla_is_breached_exactly_when_overdue_and_not_done(now in 0i64..10_000) {
            let c = SlaPolicy::default().clock(t(0), None, None, t(now));
            prop_assert_eq!(c.first_response.is_breached(), now > 15);
            prop_assert_eq!(c.resolution.is_breached(), now > 72 * 60);
        }
    }
}
