//! The IP databases named in `CUSTOS_IP_DB` (comma-separated): MaxMind DB files (GeoLite2/GeoIP2
//! City or Country for the location, ASN for the network — separate files) and ip2asn TSV files
//! (network and country). Addresses no city database places fall back to their country's centroid
//! (`custos-core/data/country_centroids.csv`), which is enough for impossible travel.
//!
//! Files are read once at start-up; a file that cannot be read or parsed stops start-up with its
//! name, rather than silently judging every login without data.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use custos_core::ipdb::{AsnTable, Centroids};
use custos_core::risk::{GeoPoint, IpInfo};
use maxminddb::geoip2;

const CENTROIDS: &str = include_str!("../../custos-core/data/country_centroids.csv");

#[derive(Default)]
pub struct IpDatabase {
    files: Vec<PathBuf>,
    tsv: Vec<AsnTable>,
    /// City or Country databases.
    geo: Vec<maxminddb::Reader<Vec<u8>>>,
    asn: Vec<maxminddb::Reader<Vec<u8>>>,
    centroids: Centroids,
}

impl std::fmt::Debug for IpDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpDatabase").field("files", &self.files).finish_non_exhaustive()
    }
}

impl IpDatabase {
    /// No files: every lookup is empty (signals that need IP data are simply not raised).
    pub fn empty() -> Self {
        Self { centroids: shipped_centroids(), ..Self::default() }
    }

    /// Opens every file in the comma-separated list. A file is a MaxMind DB when it ends in
    /// `.mmdb`, an ip2asn TSV otherwise (`.tsv`, `.tsv.txt`…).
    pub fn open(list: &str) -> Result<Self, String> {
        let mut db = Self::empty();
        for path in list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from) {
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("mmdb")) {
                let reader = maxminddb::Reader::open_readfile(&path).map_err(|e| problem(&path, e))?;
                let kind = reader.metadata().database_type.to_ascii_lowercase();
                if kind.contains("asn") {
                    db.asn.push(reader);
                } else if kind.contains("city") || kind.contains("country") {
                    db.geo.push(reader);
                } else {
                    return Err(problem(&path, format!("unsupported MaxMind database type {kind:?}")));
                }
            } else {
                let text = std::fs::read_to_string(&path).map_err(|e| problem(&path, e))?;
                db.tsv.push(AsnTable::parse(&text).map_err(|e| problem(&path, e))?);
            }
            db.files.push(path);
        }
        Ok(db)
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// What the files say about `ip`; the first file that knows a part wins.
    pub fn lookup(&self, ip: IpAddr) -> IpInfo {
        let mut info = IpInfo::default();
        for r in &self.geo {
            let Ok(Some(city)) = r.lookup(ip).and_then(|l| l.decode::<geoip2::City<'_>>()) else {
                continue;
            };
            if info.country.is_none() {
                info.country = city.country.iso_code.map(str::to_ascii_uppercase);
            }
            if info.location.is_none()
                && let (Some(lat), Some(lon)) = (city.location.latitude, city.location.longitude)
            {
                info.location = GeoPoint::new(lat, lon);
            }
        }
        for r in &self.asn {
            let Ok(Some(asn)) = r.lookup(ip).and_then(|l| l.decode::<geoip2::Asn<'_>>()) else {
                continue;
            };
            info.asn = info.asn.or(asn.autonomous_system_number);
            info.as_name = info.as_name.or(asn.autonomous_system_organization.map(str::to_owned));
        }
        for t in &self.tsv {
            if let Some(range) = t.lookup(ip) {
                info.asn = info.asn.or(range.asn);
                info.as_name = info.as_name.or_else(|| range.description.clone());
                info.country = info.country.or_else(|| range.country.clone());
            }
        }
        if info.location.is_none() {
            info.location = info.country.as_deref().and_then(|c| self.centroids.get(c));
        }
        info
    }

    /// The fallback location of a country (for earlier logins whose address no longer resolves).
    pub fn centroid(&self, country: &str) -> Option<GeoPoint> {
        self.centroids.get(country)
    }
}

fn shipped_centroids() -> Centroids {
    // Parsed by a unit test in custos-core; an error here is a build defect, never user input.
    Centroids::parse(CENTROIDS).unwrap_or_default()
}

fn problem(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn maxmind_city_and_asn_files_place_an_address_and_name_its_network() {
        let db = IpDatabase::open(&format!(
            "{}, {}",
            fixture("geo-fixture-city.mmdb"),
            fixture("geo-fixture-asn.mmdb")
        ))
        .unwrap();
        let sg = db.lookup("203.0.113.9".parse().unwrap());
        assert_eq!(
            (sg.country.as_deref(), sg.asn, sg.as_name.as_deref()),
            (Some("SG"), Some(64511), Some("Example VPS SG"))
        );
        assert_eq!(sg.location, GeoPoint::new(1.29, 103.85), "the city's own coordinates, not a centroid");
        assert_eq!(db.lookup("10.1.2.3".parse().unwrap()), IpInfo::default());
    }

    #[test]
    fn ip2asn_alone_places_an_address_at_its_country_centroid() {
        let db = IpDatabase::open(&fixture("ip2asn-fixture.tsv")).unwrap();
        let nl = db.lookup("2001:db8::5".parse().unwrap());
        assert_eq!((nl.country.as_deref(), nl.asn), (Some("NL"), Some(64499)));
        assert_eq!(nl.location, db.centroid("NL"));
        assert!(nl.location.is_some());
    }

    #[test]
    fn a_file_that_is_missing_or_malformed_stops_start_up_with_its_name() {
        let e = IpDatabase::open("/nonexistent/geo.mmdb").unwrap_err();
        assert!(e.contains("/nonexistent/geo.mmdb"), "{e}");
        let bad = std::env::temp_dir().join(format!("custos-bad-{}.tsv", std::process::id()));
        std::fs::write(&bad, "1.0.0.0\tnot-an-ip\t1\tUS\tX\n").unwrap();
        let e = IpDatabase::open(&bad.display().to_string()).unwrap_err();
        let _ = std::fs::remove_file(&bad);
        assert!(e.contains("line 1"), "{e}");
        assert!(IpDatabase::open("").unwrap().is_empty());
    }
}
