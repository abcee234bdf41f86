//! IP data as text, parsed here and looked up without I/O: the public-domain ip2asn TSV
//! (<https://iptoasn.com>: `range_start range_end as_number country_code as_description`, one range
//! per line, IPv4 and IPv6) and the country-centroid table used when no city database places an
//! address. Reading the files is the server's job.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::risk::GeoPoint;

/// One range of the ip2asn table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsnRange {
    pub start: IpAddr,
    pub end: IpAddr,
    /// `None` for ranges ip2asn marks as not routed (AS 0).
    pub asn: Option<u32>,
    /// ISO 3166-1 alpha-2, upper case; `None` for ip2asn's `None`/`Unknown`.
    pub country: Option<String>,
    pub description: Option<String>,
}

/// The ranges, sorted by start, for binary search. Overlaps are not expected in ip2asn; if a file
/// has them, the range with the greatest start not after the address wins.
#[derive(Debug, Clone, Default)]
pub struct AsnTable {
    v4: Vec<(u32, u32, usize)>,
    v6: Vec<(u128, u128, usize)>,
    ranges: Vec<AsnRange>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    pub line: usize,
    pub problem: String,
}

impl AsnTable {
    /// Parses the TSV. Blank lines and lines starting with `#` are skipped; anything else that is
    /// not five tab-separated fields with a valid range is an error naming the line.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut t = Self::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |problem: &str| ParseError { line: i + 1, problem: problem.to_owned() };
            let f: Vec<&str> = line.splitn(5, '\t').collect();
            if f.len() < 4 {
                return Err(err("expected range_start, range_end, as_number, country_code, as_description"));
            }
            let start: IpAddr = f[0].trim().parse().map_err(|_| err("range_start is not an address"))?;
            let end: IpAddr = f[1].trim().parse().map_err(|_| err("range_end is not an address"))?;
            let asn: u32 = f[2].trim().parse().map_err(|_| err("as_number is not a number"))?;
            let country = match f[3].trim() {
                "" | "None" | "Unknown" | "ZZ" => None,
                c if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
                    Some(c.to_ascii_uppercase())
                }
                _ => return Err(err("country_code is not two letters")),
            };
            let description =
                f.get(4).map(|d| d.trim()).filter(|d| !d.is_empty() && *d != "Not routed").map(str::to_owned);
            let idx = t.ranges.len();
            match (start, end) {
                (IpAddr::V4(s), IpAddr::V4(e)) if u32::from(s) <= u32::from(e) => {
                    t.v4.push((u32::from(s), u32::from(e), idx))
                }
                (IpAddr::V6(s), IpAddr::V6(e)) if u128::from(s) <= u128::from(e) => {
                    t.v6.push((u128::from(s), u128::from(e), idx))
                }
                _ => return Err(err("range_start and range_end must be one family, start not after end")),
            }
            t.ranges.push(AsnRange { start, end, asn: (asn != 0).then_some(asn), country, description });
        }
        t.v4.sort_unstable();
        t.v6.sort_unstable();
        Ok(t)
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    pub fn lookup(&self, ip: IpAddr) -> Option<&AsnRange> {
        let idx = match ip {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(v6)),
            },
        }?;
        self.ranges.get(idx)
    }
}

fn find<T: Ord + Copy>(ranges: &[(T, T, usize)], x: T) -> Option<usize> {
    let after = ranges.partition_point(|(start, _, _)| *start <= x);
    let (_, end, idx) = ranges.get(after.checked_sub(1)?)?;
    (x <= *end).then_some(*idx)
}

/// Country centroids: `code,latitude,longitude[,name]` lines, `#` comments.
#[derive(Debug, Clone, Default)]
pub struct Centroids(HashMap<String, GeoPoint>);

impl Centroids {
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut m = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("code,") {
                continue;
            }
            let err = |problem: &str| ParseError { line: i + 1, problem: problem.to_owned() };
            let f: Vec<&str> = line.splitn(4, ',').map(str::trim).collect();
            if f.len() < 3 || f[0].len() != 2 {
                return Err(err("expected code,latitude,longitude[,name]"));
            }
            let lat: f64 = f[1].parse().map_err(|_| err("latitude is not a number"))?;
            let lon: f64 = f[2].parse().map_err(|_| err("longitude is not a number"))?;
            let p = GeoPoint::new(lat, lon).ok_or_else(|| err("coordinates out of range"))?;
            m.insert(f[0].to_ascii_uppercase(), p);
        }
        Ok(Self(m))
    }

    pub fn get(&self, country: &str) -> Option<GeoPoint> {
        self.0.get(&country.to_ascii_uppercase()).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TSV: &str = "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n\
                       1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n\
                       # a comment\n\
                       \n\
                       2001:db8::\t2001:db8:ffff:ffff:ffff:ffff:ffff:ffff\t64500\tde\tEXAMPLE-V6\n\
                       5.0.0.0\t5.0.0.127\t64501\tSG\t\n";

    #[test]
    fn ip2asn_ranges_are_found_for_both_families_and_only_inside() {
        let t = AsnTable::parse(TSV).unwrap();
        assert_eq!(t.len(), 4);
        let cf = t.lookup("1.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            (cf.asn, cf.country.as_deref(), cf.description.as_deref()),
            (Some(13335), Some("US"), Some("CLOUDFLARENET"))
        );
        let unrouted = t.lookup("1.0.2.9".parse().unwrap()).unwrap();
        assert_eq!(
            (unrouted.asn, unrouted.country.as_deref(), unrouted.description.as_deref()),
            (None, None, None)
        );
        let v6 = t.lookup("2001:db8::42".parse().unwrap()).unwrap();
        assert_eq!((v6.asn, v6.country.as_deref()), (Some(64500), Some("DE")));
        assert_eq!(t.lookup("::ffff:5.0.0.1".parse().unwrap()).unwrap().asn, Some(64501));
        assert!(t.lookup("5.0.0.128".parse().unwrap()).is_none());
        assert!(t.lookup("0.255.255.255".parse().unwrap()).is_none());
        assert!(t.lookup("2001:db9::".parse().unwrap()).is_none());
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number() {
        for (bad, line) in [
            ("1.0.0.0\t1.0.0.255\tx\tUS\tA\n", 1),
            ("1.0.0.0\t1.0.0.255\t1\tUS\tA\n1.0.0.9\t1.0.0.1\t1\tUS\tB\n", 2),
            ("1.0.0.0\t::1\t1\tUS\tA\n", 1),
            ("1.0.0.0 1.0.0.255 1 US A\n", 1),
            ("1.0.0.0\t1.0.0.255\t1\tUSA\tA\n", 1),
        ] {
            assert_eq!(AsnTable::parse(bad).unwrap_err().line, line, "{bad:?}");
        }
    }

    #[test]
    fn centroids_parse_and_refuse_nonsense() {
        let c = Centroids::parse(
            "code,latitude,longitude,name\nDE,51.1657,10.4515,Germany\nsg,1.3521,103.8198\n",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("de"), GeoPoint::new(51.1657, 10.4515));
        assert!(c.get("SG").is_some() && c.get("FR").is_none());
        assert_eq!(Centroids::parse("DE,95,0").unwrap_err().line, 1);
        assert!(Centroids::parse("DE,north,0").is_err());
    }

    #[test]
    fn the_shipped_centroid_table_parses_and_covers_the_fixtures() {
        let c = Centroids::parse(include_str!("../data/country_centroids.csv")).unwrap();
        assert!(c.len() >= 60, "{}", c.len());
        for code in ["DE", "SG", "US", "GB", "NL", "RU", "CN", "BR", "JP", "AU", "IN", "ZA"] {
            assert!(c.get(code).is_some(), "{code}");
        }
    }

    proptest! {
        /// Lookup agrees with a linear scan over disjoint ranges.
        #[test]
        fn lookup_agrees_with_a_linear_scan(starts in proptest::collection::btree_set(0u32..1_000_000, 1..30), probe in 0u32..1_100_000) {
            let starts: Vec<u32> = starts.into_iter().collect();
            let mut text = String::new();
            let mut ranges = Vec::new();
            for (i, s) in starts.iter().enumerate() {
                let end = starts.get(i + 1).map(|n| (s + n) / 2).unwrap_or(s + 10).max(*s);
                ranges.push((*s, end, i as u32 + 1));
                text.push_str(&format!("{}\t{}\t{}\tDE\tX\n", std::net::Ipv4Addr::from(*s), std::net::Ipv4Addr::from(end), i + 1));
            }
            let t = AsnTable::parse(&text).unwrap();
            let expected = ranges.iter().find(|(s, e, _)| *s <= probe && probe <= *e).map(|r| r.2);
            prop_assert_eq!(t.lookup(std::net::Ipv4Addr::from(probe).into()).and_then(|r| r.asn), expected);
        }
    }
}
