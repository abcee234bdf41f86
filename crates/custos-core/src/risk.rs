//! Risk signals at sign-in (issue 6, item 1): what is new or unlikely about a login compared with
//! the account's earlier ones — device, address, country, network (ASN), impossible travel, and
//! networks that hide their users (VPN, hosting, Tor exits; the operator lists them).
//!
//! Signals are facts with reason codes, stored with the login event and shown to the user. They
//! never *clear* anything: the device id is asserted by the client and travels with stolen cookies,
//! so a known device lowers no guard. They can only tighten (the egress gate holds outflows from a
//! session whose login was high-risk, see [`is_high_risk`]).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{Reason, Timestamp};

/// A signal's stable, kebab-case code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalCode {
    /// The device key has never signed in to this account.
    NewDevice,
    /// The address has never signed in to this account.
    NewIp,
    /// The address's country has never been seen on this account.
    NewCountry,
    /// The address's network (autonomous system) has never been seen on this account.
    NewAsn,
    /// The distance from the previous sign-in cannot have been covered in the time between them.
    ImpossibleTravel,
    /// The address belongs to a network the operator lists as VPN, hosting or Tor.
    RiskyNetwork,
    /// A sensitive action came from another country or a listed network than the session's
    /// sign-in ([`session_moved`]).
    SessionMoved,
}

impl SignalCode {
    pub const ALL: [SignalCode; 7] = [
        Self::NewDevice,
        Self::NewIp,
        Self::NewCountry,
        Self::NewAsn,
        Self::ImpossibleTravel,
        Self::RiskyNetwork,
        Self::SessionMoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewDevice => "new-device",
            Self::NewIp => "new-ip",
            Self::NewCountry => "new-country",
            Self::NewAsn => "new-asn",
            Self::ImpossibleTravel => "impossible-travel",
            Self::RiskyNetwork => "risky-network",
            Self::SessionMoved => "session-moved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// One signal with the evidence in words, as stored on the login event (JSON `{code, detail}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub code: SignalCode,
    pub detail: String,
}

impl Signal {
    fn new(code: SignalCode, detail: impl Into<String>) -> Self {
        Self { code, detail: detail.into() }
    }

    pub fn reason(&self) -> Reason {
        Reason::new(self.code.as_str(), self.detail.clone())
    }
}

/// A point on the globe, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    /// `None` unless −90 ≤ lat ≤ 90 and −180 ≤ lon ≤ 180 (and both finite).
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(Self { lat, lon })
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius 6 371.0088 km).
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        const R: f64 = 6_371.008_8;
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * R * a.sqrt().min(1.0).asin()
    }
}

/// What the IP databases know about an address. Every part may be missing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IpInfo {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub as_name: Option<String>,
    /// City-level location when a city database knows it, else the country's centroid.
    pub location: Option<GeoPoint>,
}

/// The operator's list of networks that hide where their users are (`CUSTOS_RISKY_ASNS`,
/// `CUSTOS_RISKY_CIDRS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RiskyNetworks {
    pub asns: BTreeSet<u32>,
    pub cidrs: Vec<IpNet>,
}

impl RiskyNetworks {
    /// Parses `AS64500, 64501` (the `AS` prefix optional).
    pub fn parse_asns(s: &str) -> Result<BTreeSet<u32>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let digits = p.strip_prefix("AS").or_else(|| p.strip_prefix("as")).unwrap_or(p);
                digits.parse::<u32>().map_err(|_| format!("not an AS number: {p}"))
            })
            .collect()
    }

    /// Why the address counts as risky, if it does: the listed range or AS it is in.
    pub fn classify(&self, ip: IpAddr, asn: Option<u32>) -> Option<String> {
        if let Some(net) = self.cidrs.iter().find(|n| n.contains(&ip)) {
            return Some(format!("{ip} is in {net}, listed as a VPN, hosting or Tor network"));
        }
        asn.filter(|a| self.asns.contains(a))
            .map(|a| format!("AS{a} is listed as a VPN, hosting or Tor network"))
    }
}

/// An earlier successful sign-in of the same account.
#[derive(Debug, Clone, PartialEq)]
pub struct PriorLogin {
    pub at: Timestamp,
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub location: Option<GeoPoint>,
}

/// The sign-in being judged.
#[derive(Debug, Clone)]
pub struct NewLogin<'a> {
    pub at: Timestamp,
    pub ip: IpAddr,
    pub info: &'a IpInfo,
    /// The device key has not signed in to this account before.
    pub new_device: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TravelPolicy {
    /// Faster than this between two sign-ins is impossible travel (a airliner cruises ~900 km/h).
    pub max_speed_kmh: f64,
    /// Distances below this are ignored: geolocation is that coarse (country centroids are worse).
    pub min_distance_km: f64,
}

impl Default for TravelPolicy {
    fn default() -> Self {
        Self { max_speed_kmh: 900.0, min_distance_km: 500.0 }
    }
}

/// The signals for `login` given the account's earlier successful sign-ins (any order).
///
/// The first sign-in of an account has nothing to be new against: it carries only what is true of
/// the address alone (a risky network).
pub fn assess(
    login: &NewLogin<'_>,
    prior: &[PriorLogin],
    risky: &RiskyNetworks,
    travel: &TravelPolicy,
) -> Vec<Signal> {
    let mut out = Vec::new();
    if !prior.is_empty() {
        if login.new_device {
            out.push(Signal::new(SignalCode::NewDevice, "First sign-in from this device."));
        }
        if !prior.iter().any(|p| p.ip == Some(login.ip)) {
            out.push(Signal::new(SignalCode::NewIp, format!("First sign-in from {}.", login.ip)));
        }
        if let Some(c) = &login.info.country
            && !prior.iter().any(|p| p.country.as_deref() == Some(c.as_str()))
        {
            out.push(Signal::new(SignalCode::NewCountry, format!("First sign-in from country {c}.")));
        }
        if let Some(a) = login.info.asn
            && !prior.iter().any(|p| p.asn == Some(a))
        {
            let name = login.info.as_name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            out.push(Signal::new(SignalCode::NewAsn, format!("First sign-in from network AS{a}{name}.")));
        }
        if let Some(s) = impossible_travel(login, prior, travel) {
            out.push(s);
        }
    }
    if let Some(why) = risky.classify(login.ip, login.info.asn) {
        out.push(Signal::new(SignalCode::RiskyNetwork, why));
    }
    out
}

/// Compares with the latest earlier sign-in that has a location.
fn impossible_travel(login: &NewLogin<'_>, prior: &[PriorLogin], p: &TravelPolicy) -> Option<Signal> {
    let here = login.info.location?;
    let last = prior.iter().filter(|l| l.location.is_some() && l.at <= login.at).max_by_key(|l| l.at)?;
    let km = here.distance_km(last.location?);
    // NaN (never produced for valid points) counts as "too close to tell".
    if km.is_nan() || km < p.min_distance_km {
        return None;
    }
    let elapsed = login.at.since(last.at);
    let hours = elapsed.as_secs_f64() / 3600.0;
    // `km / hours` without dividing by zero: compare the distance with what the time allows.
    if km <= p.max_speed_kmh * hours {
        return None;
    }
    let from = last.country.as_deref().unwrap_or("the previous location");
    let to = login.info.country.as_deref().unwrap_or("here");
    Some(Signal::new(
        SignalCode::ImpossibleTravel,
        format!(
            "{km:.0} km from {from} to {to} in {}: faster than {:.0} km/h.",
            readable(elapsed),
            p.max_speed_kmh
        ),
    ))
}

fn readable(d: Duration) -> String {
    let m = d.as_secs() / 60;
    match m {
        0 => format!("{} s", d.as_secs()),
        1..60 => format!("{m} min"),
        _ => format!("{} h {} min", m / 60, m % 60),
    }
}

/// A sensitive action (a withdrawal, a transfer) asked from a session whose sign-in was placed
/// elsewhere: a country other than the sign-in's, or a listed VPN/hosting/Tor network the sign-in
/// did not come through. A session cookie stolen by malware or a phishing proxy is used like this;
/// the owner's phone switching from Wi-Fi to mobile data stays in one country.
pub fn session_moved(
    login_ip: Option<IpAddr>,
    login: &IpInfo,
    request_ip: IpAddr,
    request: &IpInfo,
    risky: &RiskyNetworks,
) -> Option<Signal> {
    if login_ip == Some(request_ip) {
        return None;
    }
    let from = login_ip.map(|i| i.to_string()).unwrap_or_else(|| "an unknown address".into());
    if let (Some(a), Some(b)) = (&login.country, &request.country)
        && a != b
    {
        return Some(Signal::new(
            SignalCode::SessionMoved,
            format!("Signed in from {from} ({a}); this request came from {request_ip} ({b})."),
        ));
    }
    let login_risky = login_ip.and_then(|ip| risky.classify(ip, login.asn)).is_some();
    match risky.classify(request_ip, request.asn) {
        Some(why) if !login_risky => Some(Signal::new(
            SignalCode::SessionMoved,
            format!("Signed in from {from}; this request came from {request_ip}: {why}."),
        )),
        _ => None,
    }
}

/// Whether outflows from a session opened by this sign-in must be held: travel nobody can make,
/// or a new device coming through a network that hides its users. (New device, address or
/// country alone are everyday events — a new phone, a trip — and already meet the gate's
/// new-device hold.)
pub fn is_high_risk(codes: &[SignalCode]) -> bool {
    let has = |c| codes.contains(&c);
    has(SignalCode::ImpossibleTravel)
        || (has(SignalCode::RiskyNetwork) && has(SignalCode::NewDevice))
        || has(SignalCode::SessionMoved)
}

#[cfg(test)]
mod tests;
