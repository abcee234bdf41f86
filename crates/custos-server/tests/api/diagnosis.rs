//! "Was I hacked?" over HTTP when nothing happened that should worry the owner: a new phone that
//! passed the second factor and did nothing, and the laptop behind a VPN with the second factor.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::credentials::json_ok;
use crate::helpers::*;
use crate::risk::{VPS_IP, activity, geo_options, owner_at_home, sign_in_from};

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
