//! `custos demo`: a victim account with a believable history, made by running the real use cases
//! at past times (a manual clock), so everything in it — sessions, login events, audit chain,
//! notices — is exactly what production would have recorded.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use custos_core::clock::ManualClock;
use custos_core::email::Email;
use custos_core::password::Password;

use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;
use crate::usecases::{accounts::Registration, login, operator};

pub const VICTIM_EMAIL: &str = "alice@example.com";
pub const VICTIM_PASSWORD: &str = "correct horse battery staple";
pub const OTHER_EMAIL: &str = "bob@example.com";
pub const OTHER_PASSWORD: &str = "tulip quarry lantern fjord";

fn client(ip: &str, ua: &str, device: &str) -> Client {
    Client {
        ip: ip.parse::<IpAddr>().unwrap_or(IpAddr::from([127, 0, 0, 1])),
        user_agent: ua.to_owned(),
        device_key: Some(device.to_owned()),
    }
}

/// Seeds the demo accounts unless they exist. Returns whether anything was written.
pub async fn seed(state: &AppState) -> Result<bool, ApiError> {
    let key = Email::parse(VICTIM_EMAIL).map(|e| e.key()).unwrap_or_default();
    if state.store.account_by_email_key(&key).await?.is_some() {
        return Ok(false);
    }
    let clock = Arc::new(ManualClock::new(state.clock.now().minus(Duration::from_secs(14 * 86_400))));
    let past = AppState::new(state.store.clone(), clock.clone(), state.config.clone(), state.hashes.clone());

    let mut uids = Vec::new();
    for (email, password) in [(VICTIM_EMAIL, VICTIM_PASSWORD), (OTHER_EMAIL, OTHER_PASSWORD)] {
        let reg = Registration { email: email.into(), password: Password::new(password.into()), phone: None };
        uids.push(operator::create_account(&past, reg, "demo").await?);
    }
    // Their balances, as the exchange's books would have reported them.
    for (uid, asset, amount) in [
        (uids[0], "BTC", "1.25"),
        (uids[0], "ETH", "8.5"),
        (uids[0], "USDT", "4200"),
        (uids[1], "USDT", "150"),
    ] {
        operator::dev_deposit(&past, uid.get(), asset, amount).await?;
    }
    simulate_prices(&past, Duration::from_secs(14 * 86_400)).await?;
    let login_as = |c: Client, password: &'static str| {
        let past = past.clone();
        async move {
            let req =
                login::LoginRequest { email: VICTIM_EMAIL.into(), password: Password::new(password.into()) };
            login::login(&past, req, &c).await
        }
    };

    // Two weeks ago: Alice's laptop at home. A week ago: her phone on the same network.
    let laptop = client(
        "198.51.100.23",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "demo-alice-laptop",
    );
    login_as(laptop.clone(), VICTIM_PASSWORD).await?;
    clock.advance(Duration::from_secs(7 * 86_400));
    let phone = client(
        "198.51.100.23",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Safari/604.1",
        "demo-alice-phone",
    );
    login_as(phone, VICTIM_PASSWORD).await?;

    // Last night: someone else guesses, then gets in from a network and device she has never used.
    clock.advance(Duration::from_secs(6 * 86_400 + 3_600));
    let attacker = client(
        "203.0.113.66",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0 Safari/537.36",
        "demo-unknown",
    );
    for guess in ["alice2024!alice2024!", "Password123456789", "correct horse battery"] {
        clock.advance(Duration::from_secs(40));
        let _refused = login_as(attacker.clone(), guess).await;
    }
    clock.advance(Duration::from_secs(120));
    login_as(attacker, VICTIM_PASSWORD).await?;

    // This morning, the laptop again.
    clock.advance(Duration::from_secs(8 * 3_600));
    login_as(laptop, VICTIM_PASSWORD).await?;
    seed_official_channels(&past).await?;
    Ok(true)
}

/// The channels a user of the demo can check at `/verify` (try `cust0s.example` for a lookalike).
pub const OFFICIAL_CHANNELS: [(&str, &str, &str); 5] = [
    ("domain", "custos.example", "our website and app"),
    ("email", "support@custos.example", "support replies come only from this address"),
    ("email", "security@custos.example", "security notices"),
    ("phone", "+44 20 7946 0000", "support hotline (we never call first to ask for codes)"),
    ("social", "x:@custoshelp", "support on X"),
];

async fn seed_official_channels(state: &AppState) -> Result<(), ApiError> {
    use crate::usecases::official_channels::{Registrar, add};
    for (kind, value, note) in OFFICIAL_CHANNELS {
        add(state, Registrar::Operator("demo"), kind, value, Some(note)).await?;
    }
    Ok(())
}

/// The demo's price feed: a quote per asset every six hours over `span`, from the past clock's
/// now on, with BTC and ETH sliding (a market fall the diagnosis can explain) and USDT at par.
async fn simulate_prices(past: &AppState, span: Duration) -> Result<(), ApiError> {
    let start = past.clock.now();
    let step = Duration::from_secs(6 * 3_600);
    let steps = span.as_secs() / step.as_secs();
    let mut tx = past.store.begin().await?;
    for i in 0..=steps {
        let at = start.plus(step * u32::try_from(i).unwrap_or(u32::MAX));
        // Whole-dollar quotes, in quote atomic units (six decimals).
        for (asset, from, to) in [("BTC", 64_000u128, 52_000u128), ("ETH", 3_400, 2_900), ("USDT", 1, 1)] {
            let dollars = from - (from - to) * u128::from(i) / u128::from(steps.max(1));
            let price = custos_core::money::Amount::from_atomic(dollars * 1_000_000);
            tx.insert_price(asset, at, price).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
