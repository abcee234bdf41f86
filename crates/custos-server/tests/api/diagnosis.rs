//! "Was I hacked?" over HTTP when nothing happened that should worry the owner: a new phone that
//! passed the second factor and did nothing, and the laptop behind a VPN with the second factor.

use std::time::Duration;

use custos_core::Clock;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::json_ok;
use crate::helpers::*;
use crate::risk::{HOME_IP, VPS_IP, activity, geo_options, owner_at_home, sign_in_from};

fn codes(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_owned()).collect()
}

async fn benign_scenario(app: &TestApp) {
    let email = "traveller@example.com";
    let (uri, _) = owner_at_home(app, email).await;

    // A new phone at home, with the second factor; it does nothing else.
    app.clock.advance(Duration::from_secs(3600));
    let phone = sign_in_from(app, email, "new-phone", "198.51.100.20", &uri).await;
    let d = json_ok(app.get_authed("/api/v1/security/diagnosis", &phone).await).await;
    assert_eq!(d["verdict"], "no_indicators", "{d:#}");
    assert!(d["indicators"].as_array().unwrap().is_empty());
    assert_eq!(codes(&d["benign"]), ["new-device-with-second-factor"]);
    let evidence = d["benign"][0]["evidence"][0]["detail"].as_str().unwrap();
    assert!(evidence.contains("198.51.100.20") && evidence.contains("no withdrawals"), "{evidence}");
    assert_eq!(d["next_steps"][0]["code"], "nothing-points-to-an-intruder");

    // Fourteen hours later the laptop signs in through a VPN exit in Singapore, second factor and
    // all: a new country and a listed network, explained.
    app.clock.advance(Duration::from_secs(14 * 3600));
    let laptop = sign_in_from(app, email, "laptop", VPS_IP, &uri).await;
    let events = activity(app, &laptop).await;
    let signals: Vec<&str> =
        events[0]["signals"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
    assert_eq!(signals, ["new-ip", "new-country", "new-asn", "risky-network"]);
    let d = json_ok(app.get_authed("/api/v1/security/diagnosis", &laptop).await).await;
    assert_eq!(d["verdict"], "no_indicators", "{d:#}");
    assert_eq!(codes(&d["benign"]), ["vpn-on-a-known-device", "new-device-with-second-factor"]);

    let page = app
        .http
        .get(app.url("/security/diagnosis"))
        .header("cookie", format!("custos_session={laptop}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"data-verdict="no_indicators""#) && html.contains("Nothing points to someone else")
    );
    assert!(html.contains("explained by a VPN"));
    // The security center links to it.
    let center = app
        .http
        .get(app.url("/security"))
        .header("cookie", format!("custos_session={laptop}"))
        .send()
        .await
        .unwrap();
    assert!(center.text().await.unwrap().contains(r#"href="/security/diagnosis""#));
}

#[tokio::test]
async fn a_new_device_with_a_second_factor_and_a_vpn_on_a_known_device_are_explained_not_indicators() {
    benign_scenario(&spawn_app_with(geo_options()).await).await;
}

#[tokio::test]
async fn on_postgres_a_new_device_and_a_vpn_are_explained_not_indicators() {
    let Some(app) = spawn_app_on_postgres_with("diagnosis: benign explanations", geo_options()).await else {
        return;
    };
    benign_scenario(&app).await;
}

#[tokio::test]
async fn the_diagnosis_needs_a_session() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/api/v1/security/diagnosis")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn push_prices(app: &TestApp, token: Option<&str>, quotes: Value) -> reqwest::Response {
    let mut r = app.http.post(app.url("/api/v1/integration/prices")).json(&json!({ "quotes": quotes }));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test]
async fn a_fall_in_prices_pushed_by_the_feed_explains_a_lower_portfolio_value() {
    let app = spawn_app_with(geo_options()).await;
    let email = "hodler@example.com";
    let (uri, _) = owner_at_home(&app, email).await; // holds 2 BTC

    // Only an authenticated service may push, and a bad batch is refused whole, every reason named.
    assert_eq!(
        push_prices(&app, None, json!([{"asset": "BTC", "price": "1"}])).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let bad = json!([{"asset": "DOGE", "price": "1"}, {"asset": "BTC", "price": "-3"},
                     {"asset": "BTC", "price": "1", "at": "2999-01-01T00:00:00Z"}]);
    let (status, p) = problem(push_prices(&app, Some(SERVICE_TOKEN), bad).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(codes(&p["reasons"]), ["asset-unknown", "price-invalid", "price-in-future"]);

    let r =
        json_ok(push_prices(&app, Some(SERVICE_TOKEN), json!([{"asset": "BTC", "price": "40000"}])).await)
            .await;
    assert_eq!((r["stored"].as_u64(), r["duplicates"].as_u64()), (Some(1), Some(0)));
    app.clock.advance(Duration::from_secs(3600));
    let later = json!([{"asset": "BTC", "price": "30000.5"}]);
    assert_eq!(json_ok(push_prices(&app, Some(SERVICE_TOKEN), later.clone()).await).await["stored"], 1);
    assert_eq!(json_ok(push_prices(&app, Some(SERVICE_TOKEN), later).await).await["duplicates"], 1);

    let token = sign_in_from(&app, email, "laptop", HOME_IP, &uri).await;
    let d = json_ok(app.get_authed("/api/v1/security/diagnosis", &token).await).await;
    assert_eq!(d["verdict"], "no_indicators", "{d:#}");
    assert_eq!(codes(&d["benign"]), ["value-drop-from-prices"]);
    let e = d["benign"][0]["evidence"][0]["detail"].as_str().unwrap();
    assert!(
        e.contains("BTC fell from 40000 to 30000.5") && e.contains("the 2 BTC you held lost 19999"),
        "{e}"
    );
}

#[tokio::test]
async fn the_demo_victim_is_diagnosed_suspicious_with_the_market_fall_explained() {
    let app = spawn_app_with(geo_options()).await;
    assert!(custos_server::demo::seed(&app.state).await.unwrap());
    let key = custos_core::email::Email::parse(custos_server::demo::VICTIM_EMAIL).unwrap().key();
    let alice = app.store.account_by_email_key(&key).await.unwrap().unwrap();
    // The simulated feed: a quote per asset every six hours for two weeks.
    let now = app.clock.now();
    let quotes =
        app.store.prices_between(now.minus(Duration::from_secs(15 * 86_400)), now, 1_000).await.unwrap();
    assert_eq!(quotes.len(), 3 * 57);
    let d = custos_server::usecases::diagnosis::diagnose_account(&app.state, alice.id).await.unwrap();
    let d = serde_json::to_value(d).unwrap();
    // The intruder's sign-in (a new device on the fixture's listed VPS network) did nothing yet:
    // suspicious, to be treated as confirmed.
    assert_eq!(d["verdict"], "suspicious", "{d:#}");
    assert_eq!(codes(&d["indicators"]), ["high-risk-sign-in"]);
    let e = d["indicators"][0]["evidence"][0]["detail"].as_str().unwrap();
    assert!(e.contains("203.0.113.66 (SG, AS64511)"), "{e}");
    assert_eq!(codes(&d["vector_hints"]), ["password-only-sign-in-on-unrecognised-device"]);
    assert!(codes(&d["benign"]).contains(&"value-drop-from-prices".to_owned()), "{d:#}");
}
