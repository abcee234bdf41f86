//! Configuration: `custos.toml` plus `CUSTOS_*` environment variables, parsed once into typed
//! values with errors that name the setting. Durations are written `30s`, `24h`; lists are
//! comma-separated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use custos_core::api_key::{DEFAULT_SIGNATURE_WINDOW, KeyRules, MAX_SIGNATURE_WINDOW};
use custos_core::clock::parse_duration;
use custos_core::crypto::{Keyring, RootKey};
use custos_core::network::parse_cidr_list;
use custos_core::password::HashCost;
use custos_core::session::SessionPolicy;
use custos_core::webhook::WebhookSecret;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use ipnet::IpNet;
use serde::Deserialize;
use url::Url;

pub mod money;
pub use money::{MoneyConfig, WalletConfig, WalletKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Local development: dev mailbox, generated keys, loopback only.
    Dev,
    Production,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub public_url: Url,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// The SMS provider's Messages endpoint with credentials; `None`: the dev sink.
    pub sms_url: Option<String>,
    pub sms_from: String,
    pub trusted_proxies: Vec<IpNet>,
    pub money: MoneyConfig,
    pub keys: Keyring,
    pub sessions: SessionPolicy,
    pub hash_cost: HashCost,
    /// Argon2 computations that may run at once (each on a blocking thread).
    pub hash_workers: usize,
    /// Argon2 requests that may wait for a worker; beyond that, 503 at once.
    pub hash_queue: usize,
    /// Stranger-triggerable messages to one recipient per hour.
    pub mail_per_recipient_per_hour: u32,
    pub log_json: bool,
    /// How often the outbox worker polls when nothing wakes it.
    pub outbox_poll: Duration,
    /// How long a step-up counts (default 10 minutes).
    pub step_up_window: Duration,
    /// Where Standard Webhooks messages go; empty: none are queued.
    pub webhooks: Vec<WebhookEndpoint>,
    /// Lets webhooks use http and reach loopback and private addresses (development and tests).
    pub webhook_allow_insecure: bool,
    pub api_keys: ApiKeyRules,
    /// How long a "Not you? Disable account" link works (`CUSTOS_DISABLE_LINK_TTL`, default 30 days).
    pub disable_link_ttl: Duration,
    pub risk: RiskConfig,
    /// Incident cases: first response due (`CUSTOS_SLA_FIRST_RESPONSE`, default 15 min) and
    /// resolution due (`CUSTOS_SLA_RESOLUTION`, default 72 h) after a case opens.
    pub sla: custos_core::incident::SlaPolicy,
}

/// Risk signals at sign-in: where addresses are (`CUSTOS_IP_DB`) and which networks hide their
/// users (`CUSTOS_RISKY_ASNS`, `CUSTOS_RISKY_CIDRS`).
#[derive(Debug, Clone)]
pub struct RiskConfig {
    pub ip_db: std::sync::Arc<crate::geoip::IpDatabase>,
    pub risky: custos_core::risk::RiskyNetworks,
    pub travel: custos_core::risk::TravelPolicy,
}

impl RiskConfig {
    fn from_raw(ip_db: Option<&str>, asns: Option<&str>, cidrs: Option<&str>) -> Result<Self, ConfigError> {
        let ip_db = match ip_db.filter(|s| !s.trim().is_empty()) {
            Some(list) => crate::geoip::IpDatabase::open(list).map_err(|e| invalid("CUSTOS_IP_DB", e))?,
            None => crate::geoip::IpDatabase::empty(),
        };
        let risky = custos_core::risk::RiskyNetworks {
            asns: custos_core::risk::RiskyNetworks::parse_asns(asns.unwrap_or(""))
                .map_err(|e| invalid("CUSTOS_RISKY_ASNS", e))?,
            cidrs: parse_cidr_list(cidrs.unwrap_or("")).map_err(|e| invalid("CUSTOS_RISKY_CIDRS", e))?,
        };
        Ok(Self { ip_db: std::sync::Arc::new(ip_db), risky, travel: Default::default() })
    }
}

/// One receiver of webhooks and the secret its messages are signed with.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    pub url: Url,
    pub secret: WebhookSecret,
}

/// API-key lifetimes and how far a signed request's timestamp may be from our clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiKeyRules {
    /// `CUSTOS_API_KEY_TTL_WITHOUT_IPS` (default 30 days, at most the 365-day maximum of any key).
    pub keys: KeyRules,
    /// `CUSTOS_API_KEY_SIGNATURE_WINDOW` (default 30 s, at most 60 s).
    pub signature_window: Duration,
}

impl Default for ApiKeyRules {
    fn default() -> Self {
        Self { keys: KeyRules::default(), signature_window: DEFAULT_SIGNATURE_WINDOW }
    }
}

fn api_key_rules(ttl: Option<&str>, window: Option<&str>) -> Result<ApiKeyRules, ConfigError> {
    let d = ApiKeyRules::default();
    let ttl_without_ips = duration("CUSTOS_API_KEY_TTL_WITHOUT_IPS", ttl, d.keys.ttl_without_ips)?;
    if ttl_without_ips.is_zero() || ttl_without_ips > d.keys.max_ttl {
        return Err(invalid("CUSTOS_API_KEY_TTL_WITHOUT_IPS", "must be more than 0 and at most 365d"));
    }
    let signature_window = duration("CUSTOS_API_KEY_SIGNATURE_WINDOW", window, d.signature_window)?;
    // The signing scheme's bound (docs/api-keys.md): a wider window keeps captured requests usable.
    if signature_window.is_zero() || signature_window > MAX_SIGNATURE_WINDOW {
        return Err(invalid("CUSTOS_API_KEY_SIGNATURE_WINDOW", "must be more than 0 and at most 60s"));
    }
    Ok(ApiKeyRules { keys: KeyRules { ttl_without_ips, ..d.keys }, signature_window })
}

/// A disable link only freezes, so a long life costs little and helps a victim who finds an old
/// email late; it must still end (at most a year) and last long enough to be found (a day).
fn disable_link_ttl(v: Option<&str>) -> Result<Duration, ConfigError> {
    let ttl = duration(
        "CUSTOS_DISABLE_LINK_TTL",
        v,
        custos_core::link_token::LinkPurpose::DisableAccount.default_ttl(),
    )?;
    if ttl < Duration::from_secs(24 * 3600) || ttl > Duration::from_secs(365 * 24 * 3600) {
        return Err(invalid("CUSTOS_DISABLE_LINK_TTL", "must be between 24h and 365d"));
    }
    Ok(ttl)
}

/// The SLA clock of incident cases. Both must be positive, and the first response due before
/// the resolution.
fn sla(
    first: Option<&str>,
    resolution: Option<&str>,
) -> Result<custos_core::incident::SlaPolicy, ConfigError> {
    let d = custos_core::incident::SlaPolicy::default();
    let first_response = duration("CUSTOS_SLA_FIRST_RESPONSE", first, d.first_response)?;
    let resolution = duration("CUSTOS_SLA_RESOLUTION", resolution, d.resolution)?;
    if first_response.is_zero() {
        return Err(invalid("CUSTOS_SLA_FIRST_RESPONSE", "must be more than 0"));
    }
    if resolution < first_response {
        return Err(invalid("CUSTOS_SLA_RESOLUTION", "must be at least CUSTOS_SLA_FIRST_RESPONSE"));
    }
    Ok(custos_core::incident::SlaPolicy { first_response, resolution })
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("setting {setting}: {problem}")]
    Invalid { setting: &'static str, problem: String },
    #[error(
        "production mode needs CUSTOS_MASTER_KEY (32 random bytes as 64 hex characters; `custos keygen` makes one)"
    )]
    MissingMasterKey,
    #[error(
        "dev mode serves the dev mailbox and refuses to listen on {0}: use a loopback address or CUSTOS_MODE=production"
    )]
    DevNotLoopback(SocketAddr),
    #[error("key file {path}: {problem}")]
    KeyFile { path: PathBuf, problem: String },
}

/// Settings as written, before parsing. Every field is optional; defaults are applied in [`Config::from_raw`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub mode: Option<String>,
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub public_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub sms_url: Option<String>,
    pub sms_from: Option<String>,
    pub trusted_proxies: Option<String>,
    pub withdrawal_hold: Option<String>,
    pub wallet_broadcast_delay: Option<String>,
    pub wallet_confirm_delay: Option<String>,
    pub wallet_poll: Option<String>,
    pub wallet: Option<String>,
    pub wallet_url: Option<String>,
    pub wallet_secret: Option<String>,
    pub service_tokens: Option<String>,
    pub master_key: Option<String>,
    pub retired_keys: Option<String>,
    pub session_idle: Option<String>,
    pub session_absolute: Option<String>,
    pub argon2_memory_kib: Option<u32>,
    pub argon2_iterations: Option<u32>,
    pub argon2_parallelism: Option<u32>,
    pub hash_workers: Option<usize>,
    pub hash_queue: Option<usize>,
    pub mail_per_recipient_per_hour: Option<u32>,
    pub log_format: Option<String>,
    pub outbox_poll: Option<String>,
    pub step_up_window: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub webhook_allow_insecure: Option<bool>,
    pub api_key_ttl_without_ips: Option<String>,
    pub api_key_signature_window: Option<String>,
    pub disable_link_ttl: Option<String>,
    pub sla_first_response: Option<String>,
    pub sla_resolution: Option<String>,
    pub allowlist_cooling: Option<String>,
    pub allowlist_disable_delay: Option<String>,
    /// Comma-separated `.mmdb` and ip2asn TSV files.
    pub ip_db: Option<String>,
    pub risky_asns: Option<String>,
    pub risky_cidrs: Option<String>,
}

/// Command-line flags win over the file and the environment.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<String>,
    pub mode: Option<String>,
}

fn invalid(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { setting, problem: problem.into() }
}

fn duration(setting: &'static str, v: Option<&str>, default: Duration) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(s) => parse_duration(s)
            .ok_or_else(|| invalid(setting, format!("{s:?} is not a duration like 30s or 24h"))),
    }
}

impl Config {
    /// Reads `path` (default `custos.toml`, if present) and `CUSTOS_*` variables, then the overrides.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Self, ConfigError> {
        let file = path.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("custos.toml"));
        let raw: RawConfig = Figment::new()
            .merge(Toml::file(file))
            .merge(Env::prefixed("CUSTOS_").ignore(&["test_postgres_url", "config"]))
            .extract()
            .map_err(Box::new)?;
        Self::from_raw(raw, overrides)
    }

    pub fn from_raw(mut raw: RawConfig, o: Overrides) -> Result<Self, ConfigError> {
        raw.listen = o.listen.or(raw.listen);
        raw.data_dir = o.data_dir.or(raw.data_dir);
        raw.mode = o.mode.or(raw.mode);

        let mode = match raw.mode.as_deref().unwrap_or("dev") {
            "dev" | "development" => Mode::Dev,
            "production" | "prod" => Mode::Production,
            other => {
                return Err(invalid("CUSTOS_MODE", format!("{other:?}: use dev or production")));
            }
        };
        let listen: SocketAddr = raw
            .listen
            .as_deref()
            .unwrap_or("127.0.0.1:8080")
            .parse()
            .map_err(|_| invalid("CUSTOS_LISTEN", "use host:port, e.g. 127.0.0.1:8080"))?;
        if mode == Mode::Dev && !listen.ip().is_loopback() {
            return Err(ConfigError::DevNotLoopback(listen));
        }
        let data_dir = PathBuf::from(raw.data_dir.as_deref().unwrap_or("./custos-data"));
        let database_url = match raw.database_url {
            Some(u)
                if u.starts_with("sqlite:") || u.starts_with("postgres:") || u.starts_with("postgresql:") =>
            {
                u
            }
            Some(_) => return Err(invalid("CUSTOS_DATABASE_URL", "use a sqlite: or postgres:// URL")),
            None => format!("sqlite:{}", data_dir.join("custos.db").display()),
        };
        let public_url = match raw.public_url.as_deref() {
            Some(u) => Url::parse(u.trim_end_matches('/'))
                .map_err(|e| invalid("CUSTOS_PUBLIC_URL", e.to_string()))?,
            None => Url::parse(&format!("http://{listen}"))
                .map_err(|e| invalid("CUSTOS_PUBLIC_URL", e.to_string()))?,
        };
        if !matches!(public_url.scheme(), "http" | "https") {
            return Err(invalid("CUSTOS_PUBLIC_URL", "must be http or https"));
        }
        if mode == Mode::Production && public_url.scheme() != "https" {
            return Err(invalid("CUSTOS_PUBLIC_URL", "production serves users over https"));
        }
        let trusted_proxies = parse_cidr_list(raw.trusted_proxies.as_deref().unwrap_or(""))
            .map_err(|e| invalid("CUSTOS_TRUSTED_PROXIES", e))?;

        let webhook_allow_insecure = raw.webhook_allow_insecure.unwrap_or(false);
        let webhooks = webhook_endpoints(
            raw.webhook_url.as_deref().filter(|s| !s.is_empty()),
            raw.webhook_secret.as_deref().filter(|s| !s.is_empty()),
            webhook_allow_insecure,
        )?;

        let keys = load_keys(mode, &data_dir, raw.master_key.as_deref(), raw.retired_keys.as_deref())?;

        let defaults = SessionPolicy::default();
        let sessions = SessionPolicy {
            idle: duration("CUSTOS_SESSION_IDLE", raw.session_idle.as_deref(), defaults.idle)?,
            absolute: duration(
                "CUSTOS_SESSION_ABSOLUTE",
                raw.session_absolute.as_deref(),
                defaults.absolute,
            )?,
            touch_every: defaults.touch_every,
        };
        let cost_default = HashCost::default();
        let hash_cost = HashCost {
            memory_kib: raw.argon2_memory_kib.unwrap_or(cost_default.memory_kib),
            iterations: raw.argon2_iterations.unwrap_or(cost_default.iterations),
            parallelism: raw.argon2_parallelism.unwrap_or(cost_default.parallelism),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let log_json = match raw.log_format.as_deref().unwrap_or("text") {
            "json" => true,
            "text" => false,
            other => {
                return Err(invalid("CUSTOS_LOG_FORMAT", format!("{other:?}: use text or json")));
            }
        };
        Ok(Self {
            mode,
            listen,
            data_dir,
            database_url,
            public_url,
            smtp_url: raw.smtp_url.filter(|s| !s.is_empty()),
            mail_from: raw.mail_from.unwrap_or_else(|| "custos security <security@custos.localhost>".into()),
            sms_url: raw.sms_url.filter(|s| !s.is_empty()),
            sms_from: raw.sms_from.unwrap_or_else(|| "custos".into()),
            trusted_proxies,
            money: MoneyConfig::from_raw(money::RawMoney {
                withdrawal_hold: raw.withdrawal_hold.as_deref(),
                wallet_broadcast_delay: raw.wallet_broadcast_delay.as_deref(),
                wallet_confirm_delay: raw.wallet_confirm_delay.as_deref(),
                wallet_poll: raw.wallet_poll.as_deref(),
                wallet: raw.wallet.as_deref(),
                wallet_url: raw.wallet_url.as_deref(),
                wallet_secret: raw.wallet_secret.as_deref(),
                production: mode == Mode::Production,
                service_tokens: raw.service_tokens.as_deref(),
                allowlist_cooling: raw.allowlist_cooling.as_deref(),
                allowlist_disable_delay: raw.allowlist_disable_delay.as_deref(),
            })?,
            keys,
            sessions,
            hash_cost,
            hash_workers: raw.hash_workers.unwrap_or(cores).max(1),
            hash_queue: raw.hash_queue.unwrap_or(64),
            mail_per_recipient_per_hour: raw.mail_per_recipient_per_hour.unwrap_or(5),
            log_json,
            outbox_poll: duration("CUSTOS_OUTBOX_POLL", raw.outbox_poll.as_deref(), Duration::from_secs(1))?,
            step_up_window: duration(
                "CUSTOS_STEP_UP_WINDOW",
                raw.step_up_window.as_deref(),
                custos_core::step_up::DEFAULT_WINDOW,
            )?,
            webhooks,
            webhook_allow_insecure,
            api_keys: api_key_rules(
                raw.api_key_ttl_without_ips.as_deref(),
                raw.api_key_signature_window.as_deref(),
            )?,
            disable_link_ttl: disable_link_ttl(raw.disable_link_ttl.as_deref())?,
            risk: RiskConfig::from_raw(
                raw.ip_db.as_deref(),
                raw.risky_asns.as_deref(),
                raw.risky_cidrs.as_deref(),
            )?,
            sla: sla(raw.sla_first_response.as_deref(), raw.sla_resolution.as_deref())?,
        })
    }

    /// Whether cookies may carry `Secure` and the `__Host-` prefix (everything but dev over http).
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// `https://host[:port]`, for Origin checks.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// An absolute link under the public URL.
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }
}

/// The webhook endpoint, if any: URL and secret come together. Unless `allow_insecure`, the URL
/// must be https to a host that is not loopback or private (STACK: deny private ranges); host
/// names are checked again when they resolve, at every delivery.
fn webhook_endpoints(
    url: Option<&str>,
    secret: Option<&str>,
    allow_insecure: bool,
) -> Result<Vec<WebhookEndpoint>, ConfigError> {
    let (url, secret) = match (url, secret) {
        (None, None) => return Ok(Vec::new()),
        (Some(_), None) => {
            return Err(invalid(
                "CUSTOS_WEBHOOK_SECRET",
                "CUSTOS_WEBHOOK_URL is set: its signing secret (whsec_…) is needed too",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid("CUSTOS_WEBHOOK_URL", "CUSTOS_WEBHOOK_SECRET is set but no endpoint URL is"));
        }
        (Some(u), Some(s)) => (u, s),
    };
    let secret = WebhookSecret::parse(secret).map_err(|e| invalid("CUSTOS_WEBHOOK_SECRET", e.to_string()))?;
    let url = Url::parse(url).map_err(|e| invalid("CUSTOS_WEBHOOK_URL", e.to_string()))?;
    let bad = |problem: &str| invalid("CUSTOS_WEBHOOK_URL", problem.to_owned());
    match (url.scheme(), allow_insecure) {
        ("https", _) | ("http", true) => {}
        ("http", false) => return Err(bad("must be https (CUSTOS_WEBHOOK_ALLOW_INSECURE=true allows http)")),
        _ => return Err(bad("must be an https URL")),
    }
    let public = match url.host() {
        None => return Err(bad("has no host")),
        Some(url::Host::Ipv4(ip)) => custos_core::network::is_public_address(ip.into()),
        Some(url::Host::Ipv6(ip)) => custos_core::network::is_public_address(ip.into()),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    };
    if !public && !allow_insecure {
        return Err(bad(
            "points at a loopback or private address (CUSTOS_WEBHOOK_ALLOW_INSECURE=true allows it)",
        ));
    }
    Ok(vec![WebhookEndpoint { url, secret }])
}

fn load_keys(
    mode: Mode,
    data_dir: &Path,
    master: Option<&str>,
    retired: Option<&str>,
) -> Result<Keyring, ConfigError> {
    let retired = retired
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| RootKey::parse(s).map_err(|e| invalid("CUSTOS_RETIRED_KEYS", e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let current = match (master, mode) {
        (Some(k), _) => RootKey::parse(k).map_err(|e| invalid("CUSTOS_MASTER_KEY", e.to_string()))?,
        (None, Mode::Production) => return Err(ConfigError::MissingMasterKey),
        (None, Mode::Dev) => dev_key(data_dir)?,
    };
    Ok(Keyring::new(current, retired))
}

/// Dev mode only: a root key generated once and kept in `<data dir>/master.key`, mode 0600.
fn dev_key(data_dir: &Path) -> Result<RootKey, ConfigError> {
    let path = data_dir.join("master.key");
    let err = |problem: String| ConfigError::KeyFile { path: path.clone(), problem };
    if let Ok(text) = std::fs::read_to_string(&path) {
        return RootKey::parse(&text).map_err(|e| err(e.to_string()));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
    let key = RootKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut f = match options.open(&path) {
        Ok(f) => f,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
            return RootKey::parse(&text).map_err(|e| err(e.to_string()));
        }
        Err(e) => return Err(err(e.to_string())),
    };
    f.write_all(key.to_hex().as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests;
