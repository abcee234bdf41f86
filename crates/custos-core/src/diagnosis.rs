//! "Was I hacked?" (issue 6, item 2): the emergency protocol's diagnose step computed from the
//! account's own events. It lists the reference's definitive indicators with the evidence that
//! triggered each one, the benign explanations it can back with evidence, a verdict that leans to
//! "treat as compromised", next steps, and hints about how the attacker got in.
//!
//! The rule for a sign-in is deliberately strict. A sign-in is *recognised* only when its device is
//! one the account had used before and its location is unremarkable — or remarkable only because
//! of a VPN the owner passed a second factor through. The device id is asserted by the client and
//! travels with stolen cookies, so a recognised device never *clears* an outflow that other facts
//! condemn; it only keeps an unremarkable sign-in from being reported.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;

use crate::Timestamp;
use crate::ids::SessionId;
use crate::risk::SignalCode;

/// A successful sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInFact {
    pub at: Timestamp,
    pub session: Option<SessionId>,
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub signals: Vec<SignalCode>,
    /// A second factor was passed in this session (at sign-in or by a step-up).
    pub second_factor: bool,
}

impl SignInFact {
    fn has(&self, c: SignalCode) -> bool {
        self.signals.contains(&c)
    }

    /// A VPN (or hosting, Tor) network on a device the account knows, with a second factor passed:
    /// the reference's first benign explanation for an odd location.
    fn vpn_explained(&self) -> bool {
        self.has(SignalCode::RiskyNetwork) && !self.has(SignalCode::NewDevice) && self.second_factor
    }

    /// Impossible travel alone does not make a known device's sign-in odd: it is measured from
    /// the previous sign-in, which may have been the intruder's — the owner coming back from a
    /// country the account knows is the other end of that pair. (The egress gate still holds the
    /// session's outflows: tightening needs no such care.)
    pub fn recognised(&self) -> bool {
        let odd_place = self.has(SignalCode::NewCountry);
        !self.has(SignalCode::NewDevice) && (!odd_place || self.vpn_explained())
    }

    fn high_risk(&self) -> bool {
        crate::risk::is_high_risk(&self.signals)
    }

    fn describe(&self) -> String {
        let mut s = format!("sign-in at {}", when(self.at));
        if let Some(ip) = self.ip {
            s.push_str(&format!(" from {ip}"));
        }
        let place: Vec<String> =
            self.country.iter().cloned().chain(self.asn.map(|a| format!("AS{a}"))).collect();
        if !place.is_empty() {
            s.push_str(&format!(" ({})", place.join(", ")));
        }
        if !self.signals.is_empty() {
            let codes: Vec<&str> = self.signals.iter().map(|c| c.as_str()).collect();
            s.push_str(&format!(" [{}]", codes.join(", ")));
        }
        s.push_str(if self.second_factor { ", second factor passed" } else { ", password only" });
        s
    }
}

/// A credential or binding change, and the session that made it (none: a link or support).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFact {
    pub at: Timestamp,
    pub kind: ChangeKind,
    pub session: Option<SessionId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Password,
    Email,
    Phone,
    SecondFactorRemoved,
    SecondFactorAdded,
    PasswordResetRequested,
    PasswordReset,
}

impl ChangeKind {
    fn words(self) -> &'static str {
        match self {
            Self::Password => "password changed",
            Self::Email => "email address changed",
            Self::Phone => "mobile number changed",
            Self::SecondFactorRemoved => "second factor removed",
            Self::SecondFactorAdded => "second factor added",
            Self::PasswordResetRequested => "password-reset email requested",
            Self::PasswordReset => "password reset by emailed link",
        }
    }
}

/// A withdrawal or internal transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct OutflowFact {
    pub at: Timestamp,
    /// `withdrawal` or `transfer`.
    pub kind: &'static str,
    pub id: String,
    pub asset: String,
    pub amount: String,
    pub state: String,
    pub session: Option<SessionId>,
    pub api_key: Option<String>,
    pub ip: Option<IpAddr>,
    /// The request came from elsewhere than the session's sign-in ([`crate::risk::session_moved`]):
    /// the evidence in words.
    pub session_moved: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyFact {
    pub at: Timestamp,
    pub id: String,
    pub session: Option<SessionId>,
    pub ip: Option<IpAddr>,
    pub scopes: Vec<String>,
}

/// A trade settled on the exchange (a ledger trade fill).
#[derive(Debug, Clone, PartialEq)]
pub struct TradeFact {
    pub at: Timestamp,
    pub asset: String,
    /// Signed decimal, e.g. `-0.5`.
    pub delta: String,
}

#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub sign_ins: Vec<SignInFact>,
    pub changes: Vec<ChangeFact>,
    pub outflows: Vec<OutflowFact>,
    pub api_keys: Vec<ApiKeyFact>,
    pub trades: Vec<TradeFact>,
    /// Falls in the value of what the account held that prices alone explain
    /// ([`crate::portfolio::market_drops`]).
    pub market_drops: Vec<crate::portfolio::MarketDrop>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Compromised,
    /// The reference: "any credible suspicion of a breach must be treated as a confirmed incident".
    Suspicious,
    NoIndicators,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compromised => "compromised",
            Self::Suspicious => "suspicious",
            Self::NoIndicators => "no_indicators",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// One of the reference's definitive indicators.
    Definitive,
    /// Credible suspicion: to be treated as confirmed.
    Suspicious,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub at: Timestamp,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub title: &'static str,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    #[serde(flatten)]
    pub finding: Finding,
    pub strength: Strength,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextStep {
    pub code: &'static str,
    pub detail: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    pub verdict: Verdict,
    pub indicators: Vec<Indicator>,
    pub benign: Vec<Finding>,
    pub vector_hints: Vec<Finding>,
    pub next_steps: Vec<NextStep>,
}

/// How close in time events must be for a vector hint to link them.
const RESET_TO_SIGN_IN: Duration = Duration::from_secs(3600);
const KEY_TO_TRADES: Duration = Duration::from_secs(24 * 3600);

struct Collect {
    findings: Vec<(&'static str, &'static str, Strength, Vec<Evidence>)>,
}

impl Collect {
    fn add(&mut self, code: &'static str, title: &'static str, strength: Strength, e: Evidence) {
        match self.findings.iter_mut().find(|f| f.0 == code) {
            Some(f) => f.3.push(e),
            None => self.findings.push((code, title, strength, vec![e])),
        }
    }
}

fn ev(at: Timestamp, detail: String) -> Evidence {
    Evidence { at, detail }
}

/// Diagnoses the timeline. Pure: the same events give the same answer.
pub fn diagnose(t: &Timeline) -> Diagnosis {
    let by_session: HashMap<SessionId, &SignInFact> =
        t.sign_ins.iter().filter_map(|s| s.session.map(|id| (id, s))).collect();
    let key_session: HashMap<&str, SessionId> =
        t.api_keys.iter().filter_map(|k| k.session.map(|s| (k.id.as_str(), s))).collect();
    let unrecognised =
        |s: Option<SessionId>| s.and_then(|id| by_session.get(&id)).filter(|l| !l.recognised());

    let mut ind = Collect { findings: Vec::new() };
    let mut acted: Vec<SessionId> = Vec::new();

    for o in &t.outflows {
        let via_key = o.api_key.as_deref().and_then(|k| key_session.get(k).copied());
        let session = o.session.or(via_key);
        if let Some(l) = unrecognised(session) {
            let how = match &o.api_key {
                Some(k) => format!("with API key {k}, created in a "),
                None => "in a ".to_owned(),
            };
            ind.add(
                "outflow-from-unrecognised-sign-in",
                "Money was sent from a sign-in you may not recognise",
                Strength::Definitive,
                ev(
                    o.at,
                    format!(
                        "{} {} {} ({}, {}) requested {how}{}.",
                        o.kind,
                        o.amount,
                        o.asset,
                        o.id,
                        o.state.replace('_', " "),
                        l.describe()
                    ),
                ),
            );
        }
        if let Some(moved) = o.session_moved.as_deref().filter(|_| unrecognised(session).is_none()) {
            ind.add(
                "outflow-from-moved-session",
                "Money was requested by a session from somewhere else than where it signed in",
                Strength::Suspicious,
                ev(o.at, format!("{} {} {} ({}): {moved}", o.kind, o.amount, o.asset, o.id)),
            );
        }
        acted.extend(session);
    }
    for c in &t.changes {
        let binding = !matches!(
            c.kind,
            ChangeKind::SecondFactorAdded | ChangeKind::PasswordResetRequested | ChangeKind::PasswordReset
        );
        if let Some(l) = unrecognised(c.session).filter(|_| binding) {
            ind.add(
                "security-change-from-unrecognised-sign-in",
                "Your password, email, phone or second factor was changed from a sign-in you may not recognise",
                Strength::Definitive,
                ev(c.at, format!("{} in a {}.", capitalise(c.kind.words()), l.describe())),
            );
        }
        acted.extend(c.session);
    }
    for k in &t.api_keys {
        if let Some(l) = unrecognised(k.session) {
            ind.add(
                "api-key-from-unrecognised-sign-in",
                "An API key was created from a sign-in you may not recognise",
                Strength::Definitive,
                ev(
                    k.at,
                    format!("API key {} ({}) created in a {}.", k.id, k.scopes.join(", "), l.describe()),
                ),
            );
        }
        acted.extend(k.session);
    }
    for l in t.sign_ins.iter().filter(|l| l.high_risk() && !l.recognised()) {
        ind.add(
            "high-risk-sign-in",
            "A sign-in came from a place or network that does not fit your others",
            Strength::Suspicious,
            ev(l.at, format!("{}.", capitalise(&l.describe()))),
        );
    }

    let mut benign = Collect { findings: Vec::new() };
    for l in &t.sign_ins {
        if l.vpn_explained() {
            benign.add(
                "vpn-on-a-known-device",
                "An unusual location is explained by a VPN on a device you use, with your second factor",
                Strength::Suspicious,
                ev(l.at, format!("{}.", capitalise(&l.describe()))),
            );
        }
        let quiet = l.session.is_none_or(|s| !acted.contains(&s));
        if l.has(SignalCode::NewDevice) && l.second_factor && !l.high_risk() && quiet {
            benign.add(
                "new-device-with-second-factor",
                "A new device passed your second factor and did nothing unusual",
                Strength::Suspicious,
                ev(
                    l.at,
                    format!(
                        "{}; no withdrawals, transfers, API keys or security changes from it.",
                        capitalise(&l.describe())
                    ),
                ),
            );
        }
    }
    for tr in t.trades.iter().filter(|tr| tr.delta.starts_with('-')) {
        benign.add(
            "balance-change-from-trades",
            "Part of a lower balance is your own trading",
            Strength::Suspicious,
            ev(tr.at, format!("A trade settled {} {}.", tr.delta, tr.asset)),
        );
    }

    for m in &t.market_drops {
        benign.add(
            "value-drop-from-prices",
            "Part of a lower portfolio value is the market: prices fell, nothing left the account",
            Strength::Suspicious,
            ev(
                m.to_at,
                format!(
                    "{} fell from {} to {} (quotes of {} and {}): the {} {} you held lost {} of value in the \
                     feed's currency.",
                    m.asset,
                    m.from_price,
                    m.to_price,
                    when(m.from_at),
                    when(m.to_at),
                    m.held,
                    m.asset,
                    m.lost
                ),
            ),
        );
    }

    let hints = vector_hints(t, &by_session);
    let indicators: Vec<Indicator> = ind
        .findings
        .into_iter()
        .map(|(code, title, strength, evidence)| Indicator {
            finding: Finding { code, title, evidence },
            strength,
        })
        .collect();
    let verdict = if indicators.iter().any(|i| i.strength == Strength::Definitive) {
        Verdict::Compromised
    } else if !indicators.is_empty() {
        Verdict::Suspicious
    } else {
        Verdict::NoIndicators
    };
    Diagnosis {
        verdict,
        indicators,
        benign: benign
            .findings
            .into_iter()
            .map(|(code, title, _, evidence)| Finding { code, title, evidence })
            .collect(),
        vector_hints: hints,
        next_steps: next_steps(verdict),
    }
}

fn vector_hints(t: &Timeline, by_session: &HashMap<SessionId, &SignInFact>) -> Vec<Finding> {
    let mut h = Collect { findings: Vec::new() };
    let known_ip = |ip: IpAddr, before: Timestamp| {
        t.sign_ins.iter().any(|l| l.at < before && l.ip == Some(ip) && l.recognised())
    };
    for k in &t.api_keys {
        let from_new = k.ip.is_some_and(|ip| !known_ip(ip, k.at))
            || k.session.and_then(|s| by_session.get(&s)).is_some_and(|l| !l.recognised());
        let soon: Vec<&TradeFact> =
            t.trades.iter().filter(|tr| tr.at >= k.at && tr.at <= k.at.plus(KEY_TO_TRADES)).collect();
        if from_new && !soon.is_empty() {
            h.add(
                "api-key-then-trades",
                "An API key created from a new address was followed by trades: a key given to a third-party \
                 service, or created by someone else, may be trading for them",
                Strength::Suspicious,
                ev(
                    k.at,
                    format!(
                        "API key {} created{}; {} trade(s) settled within 24 hours after it.",
                        k.id,
                        k.ip.map(|ip| format!(" from {ip}")).unwrap_or_default(),
                        soon.len()
                    ),
                ),
            );
        }
    }
    for r in t.changes.iter().filter(|c| c.kind == ChangeKind::PasswordResetRequested) {
        let after = t.sign_ins.iter().find(|l| {
            l.at >= r.at
                && l.at <= r.at.plus(RESET_TO_SIGN_IN)
                && (l.has(SignalCode::NewIp) || l.has(SignalCode::NewAsn) || !l.recognised())
        });
        if let Some(l) = after {
            h.add(
                "sign-in-after-reset-email",
                "A sign-in from a new network came right after a password-reset email: your mailbox may be \
                 in someone else's hands",
                Strength::Suspicious,
                ev(l.at, format!("Reset email requested at {}; {} followed.", when(r.at), l.describe())),
            );
        }
    }
    for l in t.sign_ins.iter().filter(|l| !l.recognised()) {
        if l.second_factor {
            h.add(
                "second-factor-passed-on-unrecognised-device",
                "A sign-in you may not recognise passed your second factor: a phishing page that relays codes, \
                 a SIM swap (for text codes) or a copied authenticator",
                Strength::Suspicious,
                ev(l.at, format!("{}.", capitalise(&l.describe()))),
            );
        } else {
            h.add(
                "password-only-sign-in-on-unrecognised-device",
                "A sign-in you may not recognise needed only your password: it may be phished, reused from \
                 another site's breach, or stolen by malware",
                Strength::Suspicious,
                ev(l.at, format!("{}.", capitalise(&l.describe()))),
            );
        }
    }
    h.findings.into_iter().map(|(code, title, _, evidence)| Finding { code, title, evidence }).collect()
}

fn next_steps(v: Verdict) -> Vec<NextStep> {
    let step = |code, detail| NextStep { code, detail };
    let mut s = Vec::new();
    if v != Verdict::NoIndicators {
        s.push(step(
            "disable-account",
            "Disable your account now: it ends every session and API key, cancels withdrawals not yet sent, and \
             stops sign-in, trading and withdrawals. Treat a suspicion as confirmed — waiting can cost your funds.",
        ));
        s.push(step(
            "review-withdrawals",
            "Note every withdrawal you did not make: time, coin, amount, address and TxID. Pending ones may \
             still be stopped.",
        ));
        s.push(step(
            "contact-support",
            "Contact support through the official website with your UID, when you noticed, what was done and \
             that you disabled the account.",
        ));
        s.push(step(
            "secure-email",
            "Secure your email account: change its password, turn on its second factor, and delete filter rules \
             you did not make.",
        ));
        s.push(step(
            "reset-credentials",
            "When you recover the account: a new password unlike the old ones, a new authenticator, new recovery \
             codes, and every API key revoked.",
        ));
    } else {
        s.push(step(
            "nothing-points-to-an-intruder",
            "Nothing in your account's events points to someone else. If you still believe someone is in your \
             account, disable it anyway: that is always safe.",
        ));
        s.push(step(
            "keep-protection-up",
            "Keep a second factor on, turn on the withdrawal allowlist, and set an anti-phishing code.",
        ));
    }
    s
}

/// `2026-12-02 10:20 UTC`: evidence is read by people.
fn when(t: Timestamp) -> String {
    let d = t.to_offset_datetime();
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", d.year(), u8::from(d.month()), d.day(), d.hour(), d.minute())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests;
