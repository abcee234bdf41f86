use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;

use super::*;

const FRANKFURT: GeoPoint = GeoPoint { lat: 50.11, lon: 8.68 };
const SINGAPORE: GeoPoint = GeoPoint { lat: 1.35, lon: 103.82 };
const MAINZ: GeoPoint = GeoPoint { lat: 49.99, lon: 8.25 };

fn t(secs: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + secs * 1_000_000)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn info(country: &str, asn: u32, at: GeoPoint) -> IpInfo {
    IpInfo {
        country: Some(country.into()),
        asn: Some(asn),
        as_name: Some("Example".into()),
        location: Some(at),
    }
}

fn home() -> PriorLogin {
    PriorLogin {
        at: t(0),
        ip: Some(ip("198.51.100.7")),
        country: Some("DE".into()),
        asn: Some(64500),
        location: Some(FRANKFURT),
    }
}

fn codes(signals: &[Signal]) -> Vec<SignalCode> {
    signals.iter().map(|s| s.code).collect()
}

#[test]
fn haversine_matches_known_distances() {
    let d = FRANKFURT.distance_km(SINGAPORE);
    assert!((10_200.0..10_300.0).contains(&d), "{d}");
    assert!(FRANKFURT.distance_km(MAINZ) < 40.0);
    assert_eq!(FRANKFURT.distance_km(FRANKFURT), 0.0);
    assert!(GeoPoint::new(91.0, 0.0).is_none() && GeoPoint::new(0.0, f64::NAN).is_none());
}

#[test]
fn the_first_sign_in_of_an_account_is_new_against_nothing() {
    let i = info("DE", 64500, FRANKFURT);
    let login = NewLogin { at: t(0), ip: ip("198.51.100.7"), info: &i, new_device: true };
    assert!(assess(&login, &[], &RiskyNetworks::default(), &TravelPolicy::default()).is_empty());
}

#[test]
fn the_same_device_address_and_network_raise_nothing() {
    let i = info("DE", 64500, FRANKFURT);
    let login = NewLogin { at: t(3600), ip: ip("198.51.100.7"), info: &i, new_device: false };
    assert!(assess(&login, &[home()], &RiskyNetworks::default(), &TravelPolicy::default()).is_empty());
}

#[test]
fn singapore_an_hour_after_frankfurt_on_a_new_device_in_a_listed_network_is_high_risk() {
    let i = info("SG", 64666, SINGAPORE);
    let login = NewLogin { at: t(3600), ip: ip("203.0.113.9"), info: &i, new_device: true };
    let risky = RiskyNetworks { asns: [64666].into(), cidrs: Vec::new() };
    let s = assess(&login, &[home()], &risky, &TravelPolicy::default());
    assert_eq!(
        codes(&s),
        [
            SignalCode::NewDevice,
            SignalCode::NewIp,
            SignalCode::NewCountry,
            SignalCode::NewAsn,
            SignalCode::ImpossibleTravel,
            SignalCode::RiskyNetwork
        ]
    );
    let travel = &s[4].detail;
    assert!(travel.contains("from DE to SG") && travel.contains("1 h 0 min"), "{travel}");
    assert!(s[5].detail.contains("AS64666"));
    assert!(is_high_risk(&codes(&s)));
}

#[test]
fn a_flight_long_enough_is_not_impossible_travel() {
    let i = info("SG", 64501, SINGAPORE);
    // 10 250 km in 13 hours is under 900 km/h.
    let login = NewLogin { at: t(13 * 3600), ip: ip("203.0.113.9"), info: &i, new_device: false };
    let s = assess(&login, &[home()], &RiskyNetworks::default(), &TravelPolicy::default());
    assert!(!codes(&s).contains(&SignalCode::ImpossibleTravel));
    assert!(!is_high_risk(&codes(&s)), "a new country alone is a trip, not a hold");
}

#[test]
fn short_hops_are_ignored_however_fast() {
    let i = info("DE", 64501, MAINZ);
    let login = NewLogin { at: t(1), ip: ip("192.0.2.1"), info: &i, new_device: false };
    let s = assess(&login, &[home()], &RiskyNetworks::default(), &TravelPolicy::default());
    assert_eq!(codes(&s), [SignalCode::NewIp, SignalCode::NewAsn]);
}

#[test]
fn travel_is_measured_from_the_latest_located_sign_in() {
    let i = info("SG", 64501, SINGAPORE);
    let mut in_singapore = home();
    in_singapore.at = t(1800);
    in_singapore.location = Some(SINGAPORE);
    in_singapore.country = Some("SG".into());
    let unlocated = PriorLogin { at: t(3000), location: None, ..home() };
    let login = NewLogin { at: t(3600), ip: ip("198.51.100.7"), info: &i, new_device: false };
    let s = assess(
        &login,
        &[home(), unlocated, in_singapore],
        &RiskyNetworks::default(),
        &TravelPolicy::default(),
    );
    assert!(!codes(&s).contains(&SignalCode::ImpossibleTravel), "{s:?}");
}

#[test]
fn listed_ranges_and_as_numbers_are_risky_networks() {
    let risky = RiskyNetworks {
        asns: RiskyNetworks::parse_asns("AS64666, 64667").unwrap(),
        cidrs: crate::network::parse_cidr_list("185.220.100.0/22, 2001:db8::/32").unwrap(),
    };
    assert!(risky.classify(ip("185.220.101.4"), None).unwrap().contains("185.220.100.0/22"));
    assert!(risky.classify(ip("2001:db8::1"), Some(1)).is_some());
    assert!(risky.classify(ip("192.0.2.1"), Some(64667)).unwrap().contains("AS64667"));
    assert!(risky.classify(ip("192.0.2.1"), Some(64500)).is_none());
    assert!(RiskyNetworks::parse_asns("AS12x").is_err());
    // A risky network on a known device is not by itself a hold: people use VPNs.
    assert!(!is_high_risk(&[SignalCode::RiskyNetwork, SignalCode::NewCountry]));
    assert!(is_high_risk(&[SignalCode::RiskyNetwork, SignalCode::NewDevice]));
}

#[test]
fn signals_round_trip_as_code_and_detail() {
    let s = Signal::new(SignalCode::ImpossibleTravel, "far");
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#"{"code":"impossible-travel","detail":"far"}"#);
    assert_eq!(serde_json::from_str::<Signal>(&json).unwrap(), s);
    for c in SignalCode::ALL {
        assert_eq!(SignalCode::parse(c.as_str()), Some(c));
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
}

fn point() -> impl Strategy<Value = GeoPoint> {
    (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(lat, lon)| GeoPoint { lat, lon })
}

proptest! {
    #[test]
    fn distance_is_a_symmetric_bounded_metric(a in point(), b in point(), c in point()) {
        let (ab, ba) = (a.distance_km(b), b.distance_km(a));
        prop_assert!((ab - ba).abs() < 1e-6);
        prop_assert!((0.0..=20_016.0).contains(&ab), "at most half the circumference: {ab}");
        prop_assert!(a.distance_km(a) < 1e-6);
        prop_assert!(ab <= a.distance_km(c) + c.distance_km(b) + 1e-6);
    }

    #[test]
    fn impossible_travel_is_exactly_distance_over_time_above_the_speed(
        a in point(), b in point(), secs in 0u64..200_000,
    ) {
        let prior = PriorLogin { at: t(0), ip: None, country: None, asn: None, location: Some(a) };
        let i = IpInfo { location: Some(b), ..IpInfo::default() };
        let at = t(0).plus(Duration::from_secs(secs));
        let login = NewLogin { at, ip: ip("192.0.2.1"), info: &i, new_device: false };
        let p = TravelPolicy::default();
        let flagged = codes(&assess(&login, &[prior], &RiskyNetworks::default(), &p))
            .contains(&SignalCode::ImpossibleTravel);
        let km = a.distance_km(b);
        let expected = km >= p.min_distance_km && km > p.max_speed_kmh * secs as f64 / 3600.0;
        prop_assert_eq!(flagged, expected);
    }

    #[test]
    fn no_signal_ever_appears_without_history_except_a_risky_network(
        new_device in any::<bool>(), a in point(), listed in any::<bool>(),
    ) {
        let i = IpInfo { country: Some("DE".into()), asn: Some(64500), as_name: None, location: Some(a) };
        let login = NewLogin { at: t(0), ip: ip("192.0.2.1"), info: &i, new_device };
        let risky = RiskyNetworks { asns: if listed { [64500].into() } else { BTreeSet::new() }, cidrs: vec![] };
        let s = codes(&assess(&login, &[], &risky, &TravelPolicy::default()));
        prop_assert_eq!(s, if listed { vec![SignalCode::RiskyNetwork] } else { vec![] });
    }
}

#[test]
fn a_session_used_from_another_country_or_a_listed_network_has_moved() {
    let home = info("DE", 64500, FRANKFURT);
    let risky = RiskyNetworks { asns: [64511].into(), cidrs: Vec::new() };
    let login_ip = Some(ip("198.51.100.7"));
    let moved =
        session_moved(login_ip, &home, ip("203.0.113.9"), &info("SG", 64511, SINGAPORE), &risky).unwrap();
    assert_eq!(moved.code, SignalCode::SessionMoved);
    assert!(moved.detail.contains("(DE)") && moved.detail.contains("(SG)"), "{}", moved.detail);
    // Same country, another network (Wi-Fi to mobile data): not moved.
    assert!(session_moved(login_ip, &home, ip("192.0.2.1"), &info("DE", 64501, MAINZ), &risky).is_none());
    // Same country, but through a listed network the sign-in did not use: moved.
    let vpn_de = info("DE", 64511, FRANKFURT);
    assert!(
        session_moved(login_ip, &home, ip("192.0.2.1"), &vpn_de, &risky).unwrap().detail.contains("AS64511")
    );
    // Signed in through that network already: not moved. Same address: never.
    assert!(session_moved(Some(ip("192.0.2.1")), &vpn_de, ip("192.0.2.2"), &vpn_de, &risky).is_none());
    assert!(session_moved(login_ip, &home, ip("198.51.100.7"), &IpInfo::default(), &risky).is_none());
    assert!(is_high_risk(&[SignalCode::SessionMoved]));
}
