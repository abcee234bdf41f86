//! Money settings: assets, egress-gate holds, the wallet connector's timing, service tokens.

use std::time::Duration;

use custos_core::asset::{AssetSpec, demo_assets};
use custos_core::crypto::TokenHash;
use custos_core::link_token::LinkPurpose;
use custos_core::webhook::WebhookSecret;
use url::Url;

use super::{ConfigError, duration, invalid};

#[derive(Debug, Clone)]
pub struct MoneyConfig {
    /// The assets and networks withdrawals may use (the demo set: BTC, ETH, USDT on ETH and TRX).
    pub assets: Vec<AssetSpec>,
    /// How long a risk hold lasts (`CUSTOS_WITHDRAWAL_HOLD`, default 24h).
    pub hold_for: Duration,
    /// A session on a device first seen less than this long ago is held (24h).
    pub new_device_age: Duration,
    /// How long the emailed confirmation link of a withdrawal works (10 minutes).
    pub confirm_ttl: Duration,
    pub wallet: WalletConfig,
    /// How long a confirmed allowlist entry cools down before it can be used
    /// (`CUSTOS_ALLOWLIST_COOLING`, default 24h).
    pub allowlist_cooling: Duration,
    /// How long after it is asked for turning the allowlist off takes effect
    /// (`CUSTOS_ALLOWLIST_DISABLE_DELAY`, default 48h); turning it on before then cancels it.
    pub allowlist_disable_delay: Duration,
    /// Integration callers: (name, SHA-256 of the token) from `CUSTOS_SERVICE_TOKENS`. Tokens made
    /// with `custos service-token create` live in the database instead.
    pub service_tokens: Vec<(String, TokenHash)>,
}

/// The wallet connector and its timing. The simulated wallet broadcasts a queued withdrawal after
/// `broadcast_delay` and sees it confirmed on chain `confirm_delay` later; tests set long delays to
/// keep withdrawals pending.
#[derive(Debug, Clone)]
pub struct WalletConfig {
    pub broadcast_delay: Duration,
    pub confirm_delay: Duration,
    /// How often the wallet worker looks for due work.
    pub poll: Duration,
    pub connector: WalletKind,
}

/// Which wallet custos hands withdrawals to (`CUSTOS_WALLET`).
#[derive(Clone)]
pub enum WalletKind {
    /// Built in, for development, demos and tests.
    Simulated,
    /// The exchange's wallet service over HTTP (docs/wallet.md): every call signed per Standard
    /// Webhooks with `secret`; the wallet reports back on the integration API.
    Http { url: Url, secret: WebhookSecret },
}

impl std::fmt::Debug for WalletKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Simulated => f.write_str("Simulated"),
            Self::Http { url, .. } => {
                f.debug_struct("Http").field("url", &url.as_str()).finish_non_exhaustive()
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct RawMoney<'a> {
    pub withdrawal_hold: Option<&'a str>,
    pub wallet_broadcast_delay: Option<&'a str>,
    pub wallet_confirm_delay: Option<&'a str>,
    pub wallet_poll: Option<&'a str>,
    pub wallet: Option<&'a str>,
    pub wallet_url: Option<&'a str>,
    pub wallet_secret: Option<&'a str>,
    /// Production refuses a wallet URL that is not https.
    pub production: bool,
    pub service_tokens: Option<&'a str>,
    pub allowlist_cooling: Option<&'a str>,
    pub allowlist_disable_delay: Option<&'a str>,
}

impl MoneyConfig {
    pub fn from_raw(raw: RawMoney<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            assets: demo_assets(),
            hold_for: duration(
                "CUSTOS_WITHDRAWAL_HOLD",
                raw.withdrawal_hold,
                Duration::from_secs(24 * 3600),
            )?,
            new_device_age: Duration::from_secs(24 * 3600),
            confirm_ttl: LinkPurpose::ConfirmWithdrawal.default_ttl(),
            wallet: WalletConfig {
                broadcast_delay: duration(
                    "CUSTOS_WALLET_BROADCAST_DELAY",
                    raw.wallet_broadcast_delay,
                    Duration::from_secs(30),
                )?,
                confirm_delay: duration(
                    "CUSTOS_WALLET_CONFIRM_DELAY",
                    raw.wallet_confirm_delay,
                    Duration::from_secs(600),
                )?,
                poll: duration("CUSTOS_WALLET_POLL", raw.wallet_poll, Duration::from_secs(1))?,
                connector: wallet_kind(&raw)?,
            },
            allowlist_cooling: duration(
                "CUSTOS_ALLOWLIST_COOLING",
                raw.allowlist_cooling,
                custos_core::allowlist::DEFAULT_COOLING,
            )?,
            allowlist_disable_delay: duration(
                "CUSTOS_ALLOWLIST_DISABLE_DELAY",
                raw.allowlist_disable_delay,
                custos_core::allowlist::DEFAULT_DISABLE_DELAY,
            )?,
            service_tokens: parse_service_tokens(raw.service_tokens.unwrap_or(""))?,
        })
    }
}

/// `CUSTOS_WALLET` = `simulated` (default) or `http`, which needs `CUSTOS_WALLET_URL` (the base
/// URL of the wallet service; https in production) and `CUSTOS_WALLET_SECRET` (`whsec_…`).
fn wallet_kind(raw: &RawMoney<'_>) -> Result<WalletKind, ConfigError> {
    let url = raw.wallet_url.filter(|s| !s.is_empty());
    let secret = raw.wallet_secret.filter(|s| !s.is_empty());
    match raw.wallet.unwrap_or("simulated") {
        "simulated" => {
            if url.is_some() || secret.is_some() {
                return Err(invalid(
                    "CUSTOS_WALLET",
                    "CUSTOS_WALLET_URL or CUSTOS_WALLET_SECRET is set: set CUSTOS_WALLET=http to use them",
                ));
            }
            Ok(WalletKind::Simulated)
        }
        "http" => {
            let url =
                url.ok_or_else(|| invalid("CUSTOS_WALLET_URL", "CUSTOS_WALLET=http needs the wallet's URL"))?;
            let secret = secret.ok_or_else(|| {
                invalid("CUSTOS_WALLET_SECRET", "CUSTOS_WALLET=http needs a signing secret (whsec_…)")
            })?;
            let secret =
                WebhookSecret::parse(secret).map_err(|e| invalid("CUSTOS_WALLET_SECRET", e.to_string()))?;
            let url = Url::parse(url.trim_end_matches('/'))
                .map_err(|e| invalid("CUSTOS_WALLET_URL", e.to_string()))?;
            match url.scheme() {
                "https" => {}
                "http" if !raw.production => {}
                "http" => {
                    return Err(invalid("CUSTOS_WALLET_URL", "production talks to the wallet over https"));
                }
                _ => return Err(invalid("CUSTOS_WALLET_URL", "must be an http(s) URL")),
            }
            if url.host().is_none() {
                return Err(invalid("CUSTOS_WALLET_URL", "has no host"));
            }
            Ok(WalletKind::Http { url, secret })
        }
        other => Err(invalid("CUSTOS_WALLET", format!("{other:?}: use simulated or http"))),
    }
}

/// `name:token,name2:token2`; tokens are at least 32 characters and only their hashes are kept.
fn parse_service_tokens(s: &str) -> Result<Vec<(String, TokenHash)>, ConfigError> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (name, token) = entry.split_once(':').ok_or_else(|| {
                invalid("CUSTOS_SERVICE_TOKENS", "use name:token pairs separated by commas")
            })?;
            if name.is_empty() || token.len() < 32 {
                return Err(invalid(
                    "CUSTOS_SERVICE_TOKENS",
                    format!("{name:?}: a name and a token of at least 32 characters are needed"),
                ));
            }
            Ok((name.to_owned(), TokenHash::of(token.as_bytes())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_tokens_are_kept_as_hashes_and_short_ones_are_refused() {
        let t = "x".repeat(32);
        let parsed = parse_service_tokens(&format!("ledger:{t}, wallet:{t}y")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], ("ledger".to_owned(), TokenHash::of(t.as_bytes())));
        assert!(parse_service_tokens("ledger:short").is_err());
        assert!(parse_service_tokens("no-colon").is_err());
        assert!(parse_service_tokens("").unwrap().is_empty());
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn wallet(
        kind: Option<&str>,
        url: Option<&str>,
        secret: Option<&str>,
        production: bool,
    ) -> Result<WalletKind, String> {
        let raw = RawMoney {
            wallet: kind,
            wallet_url: url,
            wallet_secret: secret,
            production,
            ..RawMoney::default()
        };
        wallet_kind(&raw).map_err(|e| e.to_string())
    }

    #[test]
    fn the_wallet_is_simulated_unless_an_http_wallet_is_fully_configured() {
        assert!(matches!(wallet(None, None, None, false), Ok(WalletKind::Simulated)));
        let e = wallet(None, Some("https://wallet.internal"), None, false).unwrap_err();
        assert!(e.contains("CUSTOS_WALLET=http"), "{e}");
        let e = wallet(Some("http"), None, Some(SECRET), false).unwrap_err();
        assert!(e.contains("CUSTOS_WALLET_URL"), "{e}");
        let e = wallet(Some("http"), Some("https://wallet.internal"), None, false).unwrap_err();
        assert!(e.contains("CUSTOS_WALLET_SECRET"), "{e}");
        let e = wallet(Some("http"), Some("https://wallet.internal"), Some("whsec_??"), false).unwrap_err();
        assert!(e.contains("CUSTOS_WALLET_SECRET"), "{e}");
        let e = wallet(Some("chain"), None, None, false).unwrap_err();
        assert!(e.contains("simulated or http"), "{e}");
        match wallet(Some("http"), Some("https://wallet.internal/v1/"), Some(SECRET), true).unwrap() {
            WalletKind::Http { url, .. } => assert_eq!(url.as_str(), "https://wallet.internal/v1"),
            WalletKind::Simulated => panic!("expected http"),
        }
    }

    #[test]
    fn production_talks_to_the_wallet_over_https_only() {
        assert!(wallet(Some("http"), Some("http://127.0.0.1:9000"), Some(SECRET), false).is_ok());
        let e = wallet(Some("http"), Some("http://wallet.internal"), Some(SECRET), true).unwrap_err();
        assert!(e.contains("https"), "{e}");
        assert!(wallet(Some("http"), Some("ftp://wallet.internal"), Some(SECRET), false).is_err());
    }

    #[test]
    fn the_wallet_secret_never_reaches_debug_output() {
        let kind = wallet(Some("http"), Some("https://wallet.internal"), Some(SECRET), false).unwrap();
        let shown = format!("{kind:?}");
        assert!(shown.contains("wallet.internal") && !shown.contains("MfKQ9r8"), "{shown}");
    }
}
