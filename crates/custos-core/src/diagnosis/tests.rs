use proptest::prelude::*;

use super::*;
use crate::risk::SignalCode::*;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + secs * 1_000_000)
}

fn sign_in(at: i64, signals: &[SignalCode], second_factor: bool) -> (SessionId, SignInFact) {
    let id = SessionId::new();
    let fact = SignInFact {
        at: t(at),
        session: Some(id),
        ip: Some("203.0.113.9".parse().unwrap()),
        country: Some("SG".into()),
        asn: Some(64511),
        signals: signals.to_vec(),
        second_factor,
    };
    (id, fact)
}

fn withdrawal(at: i64, session: Option<SessionId>, api_key: Option<&str>) -> OutflowFact {
    OutflowFact {
        at: t(at),
        kind: "withdrawal",
        id: "w-1".into(),
        asset: "BTC".into(),
        amount: "0.5".into(),
        state: "held".into(),
        session,
        api_key: api_key.map(str::to_owned),
        ip: None,
        session_moved: None,
    }
}

fn codes(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(|f| f.code).collect()
}

fn indicator_codes(d: &Diagnosis) -> Vec<&'static str> {
    d.indicators.iter().map(|i| i.finding.code).collect()
}

const ATTACKER: &[SignalCode] = &[NewDevice, NewIp, NewCountry, NewAsn, ImpossibleTravel, RiskyNetwork];

#[test]
fn an_empty_account_has_no_indicators_and_says_disabling_is_still_safe() {
    let d = diagnose(&Timeline::default());
    assert_eq!(d.verdict, Verdict::NoIndicators);
    assert!(d.indicators.is_empty() && d.benign.is_empty() && d.vector_hints.is_empty());
    assert_eq!(d.next_steps[0].code, "nothing-points-to-an-intruder");
}

#[test]
fn a_withdrawal_from_an_unrecognised_sign_in_is_definitive_with_its_evidence() {
    let (s, l) = sign_in(0, ATTACKER, true);
    let tl =
        Timeline { sign_ins: vec![l], outflows: vec![withdrawal(60, Some(s), None)], ..Default::default() };
    let d = diagnose(&tl);
    assert_eq!(d.verdict, Verdict::Compromised);
    assert_eq!(indicator_codes(&d), ["outflow-from-unrecognised-sign-in", "high-risk-sign-in"]);
    let e = &d.indicators[0].finding.evidence[0].detail;
    assert!(e.contains("withdrawal 0.5 BTC (w-1, held)") && e.contains("203.0.113.9 (SG, AS64511)"), "{e}");
    assert!(e.contains("impossible-travel"), "{e}");
    assert_eq!(d.indicators[0].strength, Strength::Definitive);
    assert_eq!(codes(&d.vector_hints), ["second-factor-passed-on-unrecognised-device"]);
    assert_eq!(d.next_steps[0].code, "disable-account");
    // The attacker's new device passed a second factor, but it did not do "nothing unusual".
    assert!(d.benign.is_empty());
}

#[test]
fn an_outflow_through_an_api_key_made_in_an_unrecognised_sign_in_is_traced_back_to_it() {
    let (s, l) = sign_in(0, &[NewDevice, NewIp], false);
    let key = ApiKeyFact {
        at: t(10),
        id: "ak_1".into(),
        session: Some(s),
        ip: None,
        scopes: vec!["withdraw".into()],
    };
    let tl = Timeline {
        sign_ins: vec![l],
        api_keys: vec![key],
        outflows: vec![withdrawal(100, None, Some("ak_1"))],
        ..Default::default()
    };
    let d = diagnose(&tl);
    assert_eq!(
        indicator_codes(&d),
        ["outflow-from-unrecognised-sign-in", "api-key-from-unrecognised-sign-in"]
    );
    assert!(d.indicators[0].finding.evidence[0].detail.contains("with API key ak_1"));
    assert_eq!(codes(&d.vector_hints), ["password-only-sign-in-on-unrecognised-device"]);
}

#[test]
fn binding_changes_from_unrecognised_sign_ins_are_definitive_but_adding_a_factor_is_not() {
    let (s, l) = sign_in(0, &[NewDevice], false);
    let change = |kind| ChangeFact { at: t(5), kind, session: Some(s) };
    let tl = Timeline {
        sign_ins: vec![l.clone()],
        changes: vec![change(ChangeKind::SecondFactorAdded)],
        ..Default::default()
    };
    assert_eq!(diagnose(&tl).verdict, Verdict::NoIndicators);
    for kind in [ChangeKind::Password, ChangeKind::Email, ChangeKind::Phone, ChangeKind::SecondFactorRemoved]
    {
        let tl = Timeline { sign_ins: vec![l.clone()], changes: vec![change(kind)], ..Default::default() };
        let d = diagnose(&tl);
        assert_eq!(d.verdict, Verdict::Compromised, "{kind:?}");
        assert_eq!(indicator_codes(&d), ["security-change-from-unrecognised-sign-in"]);
    }
}

#[test]
fn a_high_risk_sign_in_that_did_nothing_is_suspicious_not_benign() {
    let (_, l) = sign_in(0, &[NewDevice, RiskyNetwork], true);
    let d = diagnose(&Timeline { sign_ins: vec![l], ..Default::default() });
    assert_eq!(d.verdict, Verdict::Suspicious);
    assert_eq!(d.indicators[0].strength, Strength::Suspicious);
    assert_eq!(d.next_steps[0].code, "disable-account", "a suspicion is treated as confirmed");
    assert!(d.benign.is_empty());
}

#[test]
fn a_vpn_on_a_known_device_with_a_second_factor_is_benign_even_with_impossible_travel() {
    let (s, l) = sign_in(0, &[NewIp, NewCountry, ImpossibleTravel, RiskyNetwork], true);
    let tl =
        Timeline { sign_ins: vec![l], outflows: vec![withdrawal(60, Some(s), None)], ..Default::default() };
    let d = diagnose(&tl);
    assert_eq!(d.verdict, Verdict::NoIndicators, "{d:?}");
    assert_eq!(codes(&d.benign), ["vpn-on-a-known-device"]);
    // Without the second factor the same sign-in is not explained.
    let (s, mut l) = sign_in(0, &[NewIp, NewCountry, ImpossibleTravel, RiskyNetwork], false);
    l.second_factor = false;
    let tl =
        Timeline { sign_ins: vec![l], outflows: vec![withdrawal(60, Some(s), None)], ..Default::default() };
    assert_eq!(diagnose(&tl).verdict, Verdict::Compromised);
}

#[test]
fn the_owner_coming_back_home_after_an_intruder_abroad_is_not_an_indicator() {
    let (_, intruder) = sign_in(0, ATTACKER, false);
    let (_, mut home) = sign_in(8 * 3600, &[ImpossibleTravel], false);
    home.country = Some("DE".into());
    let d = diagnose(&Timeline { sign_ins: vec![intruder, home], ..Default::default() });
    assert_eq!(indicator_codes(&d), ["high-risk-sign-in"]);
    assert_eq!(d.indicators[0].finding.evidence.len(), 1, "only the intruder's sign-in: {d:?}");
    assert!(d.indicators[0].finding.evidence[0].detail.contains("new-device"));
}

#[test]
fn a_new_device_that_passed_a_second_factor_and_did_nothing_is_benign() {
    let (_, l) = sign_in(0, &[NewDevice, NewIp], true);
    let d = diagnose(&Timeline { sign_ins: vec![l], ..Default::default() });
    assert_eq!(d.verdict, Verdict::NoIndicators);
    assert_eq!(codes(&d.benign), ["new-device-with-second-factor"]);
    assert!(d.benign[0].evidence[0].detail.contains("no withdrawals"));
}

#[test]
fn own_trades_explain_a_lower_balance_and_a_fresh_key_before_trades_is_a_vector_hint() {
    let (s, l) = sign_in(0, &[], true);
    let key = ApiKeyFact {
        at: t(10),
        id: "ak_2".into(),
        session: Some(s),
        ip: Some("192.0.2.77".parse().unwrap()),
        scopes: vec!["trade".into()],
    };
    let trade = TradeFact { at: t(3600), asset: "BTC".into(), delta: "-0.4".into() };
    let tl = Timeline { sign_ins: vec![l], api_keys: vec![key], trades: vec![trade], ..Default::default() };
    let d = diagnose(&tl);
    assert_eq!(d.verdict, Verdict::NoIndicators);
    assert_eq!(codes(&d.benign), ["balance-change-from-trades"]);
    assert_eq!(codes(&d.vector_hints), ["api-key-then-trades"]);
    assert!(d.vector_hints[0].evidence[0].detail.contains("from 192.0.2.77"));
}

#[test]
fn a_sign_in_from_a_new_network_right_after_a_reset_email_hints_at_the_mailbox() {
    let (_, l) = sign_in(600, &[NewIp, NewAsn], false);
    let reset = ChangeFact { at: t(0), kind: ChangeKind::PasswordResetRequested, session: None };
    let d =
        diagnose(&Timeline { sign_ins: vec![l.clone()], changes: vec![reset.clone()], ..Default::default() });
    assert_eq!(codes(&d.vector_hints), ["sign-in-after-reset-email"]);
    let late = SignInFact { at: t(7200), ..l };
    let d = diagnose(&Timeline { sign_ins: vec![late], changes: vec![reset], ..Default::default() });
    assert!(d.vector_hints.is_empty());
}

fn signals() -> impl Strategy<Value = Vec<SignalCode>> {
    proptest::sample::subsequence(SignalCode::ALL.to_vec(), 0..=6)
}

proptest! {
    /// The verdict follows the indicators, and anything not "no indicators" starts with disabling
    /// the account. Money from an unrecognised sign-in is never anything but compromised.
    #[test]
    fn the_verdict_is_the_strongest_indicator_and_money_from_strangers_is_compromise(
        s in signals(), second_factor in any::<bool>(), sends in any::<bool>(),
    ) {
        let (id, l) = sign_in(0, &s, second_factor);
        let recognised = l.recognised();
        let outflows = if sends { vec![withdrawal(1, Some(id), None)] } else { vec![] };
        let d = diagnose(&Timeline { sign_ins: vec![l], outflows, ..Default::default() });
        let expected = if d.indicators.iter().any(|i| i.strength == Strength::Definitive) {
            Verdict::Compromised
        } else if d.indicators.is_empty() { Verdict::NoIndicators } else { Verdict::Suspicious };
        prop_assert_eq!(d.verdict, expected);
        prop_assert_eq!(d.next_steps[0].code == "disable-account", d.verdict != Verdict::NoIndicators);
        if sends && !recognised {
            prop_assert_eq!(d.verdict, Verdict::Compromised);
        }
        // A new device is never recognised, whatever else is true (the device id proves little,
        // but a device never seen before proves it is not the owner's usual one).
        if s.contains(&NewDevice) { prop_assert!(!recognised); }
        for i in &d.indicators { prop_assert!(!i.finding.evidence.is_empty()); }
        for b in &d.benign { prop_assert!(!b.evidence.is_empty()); }
    }
}

#[test]
fn a_market_drop_is_a_benign_explanation_with_the_prices_as_evidence() {
    let drop = crate::portfolio::MarketDrop {
        asset: "BTC".into(),
        held: "2".into(),
        from_at: t(0),
        from_price: "40000".into(),
        to_at: t(100),
        to_price: "30000".into(),
        lost: "20000".into(),
    };
    let d = diagnose(&Timeline { market_drops: vec![drop], ..Default::default() });
    assert_eq!(d.verdict, Verdict::NoIndicators);
    assert_eq!(codes(&d.benign), ["value-drop-from-prices"]);
    let e = &d.benign[0].evidence[0].detail;
    assert!(e.contains("BTC fell from 40000 to 30000") && e.contains("2 BTC you held lost 20000"), "{e}");
}

#[test]
fn money_asked_by_a_recognised_session_from_another_country_is_suspicious() {
    let (s, l) = sign_in(0, &[], true);
    let mut w = withdrawal(60, Some(s), None);
    w.session_moved =
        Some("Signed in from 198.51.100.7 (DE); this request came from 203.0.113.9 (SG).".into());
    let d = diagnose(&Timeline { sign_ins: vec![l], outflows: vec![w], ..Default::default() });
    assert_eq!(d.verdict, Verdict::Suspicious);
    assert_eq!(indicator_codes(&d), ["outflow-from-moved-session"]);
    assert!(d.indicators[0].finding.evidence[0].detail.contains("came from 203.0.113.9 (SG)"));
}
