//! Parsing `custos.toml` and the environment: defaults, overrides, and errors that name the setting.

use super::*;

fn raw() -> RawConfig {
    let dir = std::env::temp_dir().join(format!("custos-config-test-{}", uuid::Uuid::new_v4().simple()));
    RawConfig { data_dir: Some(dir.display().to_string()), ..Default::default() }
}

#[test]
fn dev_mode_refuses_a_public_listen_address() {
    let o = Overrides { listen: Some("0.0.0.0:8080".into()), ..Default::default() };
    assert!(matches!(Config::from_raw(raw(), o), Err(ConfigError::DevNotLoopback(_))));
}

#[test]
fn production_refuses_to_start_without_a_master_key() {
    let r = RawConfig { public_url: Some("https://custos.example".into()), ..raw() };
    let o = Overrides {
        mode: Some("production".into()),
        listen: Some("0.0.0.0:8080".into()),
        ..Default::default()
    };
    assert!(matches!(Config::from_raw(r, o), Err(ConfigError::MissingMasterKey)));
}

#[test]
fn the_sla_clock_defaults_to_15_minutes_and_72_hours_and_is_configurable() {
    let d = Config::from_raw(raw(), Overrides::default()).unwrap();
    assert_eq!(d.sla.first_response, Duration::from_secs(15 * 60));
    assert_eq!(d.sla.resolution, Duration::from_secs(72 * 3600));
    let r = RawConfig { sla_first_response: Some("5m".into()), sla_resolution: Some("24h".into()), ..raw() };
    let c = Config::from_raw(r, Overrides::default()).unwrap();
    assert_eq!((c.sla.first_response.as_secs(), c.sla.resolution.as_secs()), (300, 86_400));
    for (first, resolution, setting) in [
        ("soon", "24h", "CUSTOS_SLA_FIRST_RESPONSE"),
        ("0s", "24h", "CUSTOS_SLA_FIRST_RESPONSE"),
        ("2h", "1h", "CUSTOS_SLA_RESOLUTION"),
    ] {
        let r = RawConfig {
            sla_first_response: Some(first.into()),
            sla_resolution: Some(resolution.into()),
            ..raw()
        };
        let err = Config::from_raw(r, Overrides::default()).unwrap_err().to_string();
        assert!(err.contains(setting), "{first}/{resolution}: {err}");
    }
}

#[test]
fn the_disable_link_lifetime_is_configurable_within_a_day_and_a_year() {
    let d = Config::from_raw(raw(), Overrides::default()).unwrap();
    assert_eq!(d.disable_link_ttl, Duration::from_secs(30 * 24 * 3600));
    let r = RawConfig { disable_link_ttl: Some("90d".into()), ..raw() };
    assert_eq!(Config::from_raw(r, Overrides::default()).unwrap().disable_link_ttl.as_secs(), 90 * 86_400);
    for bad in ["1h", "400d", "soon"] {
        let r = RawConfig { disable_link_ttl: Some(bad.into()), ..raw() };
        let err = Config::from_raw(r, Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("CUSTOS_DISABLE_LINK_TTL"), "{bad}: {err}");
    }
}

#[test]
fn bad_settings_are_named() {
    let r = RawConfig { session_idle: Some("soon".into()), ..raw() };
    let e = Config::from_raw(r, Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("CUSTOS_SESSION_IDLE"), "{e}");
    let r = RawConfig { trusted_proxies: Some("10.0.0.0/8, nope".into()), ..raw() };
    let e = Config::from_raw(r, Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("CUSTOS_TRUSTED_PROXIES") && e.contains("nope"), "{e}");
}

#[test]
fn risk_settings_are_parsed_and_bad_ones_named() {
    let c = Config::from_raw(raw(), Overrides::default()).unwrap();
    assert!(c.risk.ip_db.is_empty() && c.risk.risky.asns.is_empty() && c.risk.risky.cidrs.is_empty());
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let r = RawConfig {
        ip_db: Some(format!("{fixtures}/geo-fixture-city.mmdb, {fixtures}/ip2asn-fixture.tsv")),
        risky_asns: Some("AS64511, 9009".into()),
        risky_cidrs: Some("185.220.100.0/22".into()),
        ..raw()
    };
    let c = Config::from_raw(r, Overrides::default()).unwrap();
    assert_eq!(c.risk.ip_db.lookup("203.0.113.9".parse().unwrap()).asn, Some(64511));
    assert_eq!(c.risk.risky.asns.iter().copied().collect::<Vec<_>>(), [9009, 64511]);
    assert_eq!(c.risk.risky.cidrs.len(), 1);
    for (r, setting) in [
        (RawConfig { ip_db: Some("/nonexistent/city.mmdb".into()), ..raw() }, "CUSTOS_IP_DB"),
        (RawConfig { risky_asns: Some("AS12x".into()), ..raw() }, "CUSTOS_RISKY_ASNS"),
        (RawConfig { risky_cidrs: Some("10.0.0.0/33".into()), ..raw() }, "CUSTOS_RISKY_CIDRS"),
    ] {
        let e = Config::from_raw(r, Overrides::default()).unwrap_err().to_string();
        assert!(e.contains(setting), "{e}");
    }
}

fn webhook(url: Option<&str>, secret: Option<&str>, insecure: Option<bool>) -> Result<Config, String> {
    let r = RawConfig {
        webhook_url: url.map(str::to_owned),
        webhook_secret: secret.map(str::to_owned),
        webhook_allow_insecure: insecure,
        ..raw()
    };
    Config::from_raw(r, Overrides::default()).map_err(|e| e.to_string())
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn a_webhook_needs_both_url_and_secret() {
    assert!(webhook(None, None, None).unwrap().webhooks.is_empty());
    let e = webhook(Some("https://hooks.example.com/custos"), None, None).unwrap_err();
    assert!(e.contains("CUSTOS_WEBHOOK_SECRET"), "{e}");
    let e = webhook(None, Some(SECRET), None).unwrap_err();
    assert!(e.contains("CUSTOS_WEBHOOK_URL"), "{e}");
    let e = webhook(Some("https://hooks.example.com/custos"), Some("whsec_!!"), None).unwrap_err();
    assert!(e.contains("CUSTOS_WEBHOOK_SECRET") && !e.contains("!!"), "{e}");
    let c = webhook(Some("https://hooks.example.com/custos"), Some(SECRET), None).unwrap();
    assert_eq!(c.webhooks.len(), 1);
    assert_eq!(c.webhooks[0].url.as_str(), "https://hooks.example.com/custos");
    assert!(!format!("{c:?}").contains("MfKQ9r8"), "the secret never shows in Debug");
}

#[test]
fn webhooks_go_over_https_to_public_hosts_unless_insecure_is_allowed() {
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://10.0.0.5/",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]:8443/",
        "https://localhost/",
        "ftp://hooks.example.com/",
    ] {
        let e = webhook(Some(url), Some(SECRET), None).unwrap_err();
        assert!(e.contains("CUSTOS_WEBHOOK_URL"), "{url}: {e}");
    }
    assert!(webhook(Some("http://127.0.0.1:9000/hook"), Some(SECRET), Some(true)).is_ok());
    assert!(webhook(Some("ftp://127.0.0.1/"), Some(SECRET), Some(true)).is_err());
}

#[test]
fn api_key_settings_have_defaults_and_bounds() {
    let c = Config::from_raw(raw(), Overrides::default()).unwrap();
    assert_eq!(c.api_keys, ApiKeyRules::default());
    assert_eq!(c.api_keys.keys.ttl_without_ips, Duration::from_secs(30 * 86_400));
    assert_eq!(c.api_keys.signature_window, Duration::from_secs(30));
    let r = RawConfig {
        api_key_ttl_without_ips: Some("7d".into()),
        api_key_signature_window: Some("60s".into()),
        ..raw()
    };
    let c = Config::from_raw(r, Overrides::default()).unwrap();
    assert_eq!(c.api_keys.keys.ttl_without_ips, Duration::from_secs(7 * 86_400));
    assert_eq!(c.api_keys.signature_window, Duration::from_secs(60));
    let r = RawConfig { api_key_signature_window: Some("61s".into()), ..raw() };
    let e = Config::from_raw(r, Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("CUSTOS_API_KEY_SIGNATURE_WINDOW"), "{e}");
    let r = RawConfig { api_key_ttl_without_ips: Some("400d".into()), ..raw() };
    let e = Config::from_raw(r, Overrides::default()).unwrap_err().to_string();
    assert!(e.contains("CUSTOS_API_KEY_TTL_WITHOUT_IPS"), "{e}");
}

#[test]
fn defaults_are_a_working_dev_setup() {
    let r = raw();
    let dir = r.data_dir.clone();
    let c = Config::from_raw(r, Overrides::default()).unwrap();
    assert_eq!(c.mode, Mode::Dev);
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert!(c.database_url.starts_with("sqlite:"));
    assert_eq!(c.link("/verify"), "http://127.0.0.1:8080/verify");
    assert!(!c.secure_cookies());
    // The dev key is generated once and reused.
    let again =
        Config::from_raw(RawConfig { data_dir: dir, ..Default::default() }, Overrides::default()).unwrap();
    assert_eq!(c.keys.current().id(), again.keys.current().id());
}
