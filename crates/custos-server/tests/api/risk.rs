//! Risk signals at sign-in over HTTP, with the fixture IP databases: the owner signs in at home in
//! Frankfurt; an attacker with the password and a phished code signs in an hour later from a VPS
//! network in Singapore on a new device. The signals are stored with the event, shown in the
//! activity list and the new-device email, and put the attacker's withdrawal on hold.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{json_ok, pyotp_code};
use crate::helpers::*;
use crate::money::{btc, codes, confirm_by_mail, deposit, withdraw};

pub(crate) const HOME_IP: &str = "198.51.100.7";
/// In the fixture's AS64511 (Example VPS SG), listed as risky.
pub(crate) const VPS_IP: &str = "203.0.113.9";

pub(crate) fn geo_options() -> Options {
    Options { geo: true, ..Default::default() }
}

/// Signs in with password and TOTP from `ip` on `device`; returns the session token.
pub(crate) async fn sign_in_from(app: &TestApp, email: &str, device: &str, ip: &str, uri: &str) -> String {
    // A fresh TOTP step for every sign-in (a step is accepted once).
    app.clock.advance(Duration::from_secs(31));
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("x-custos-device", device)
        .header("x-forwarded-for", ip)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let challenge = json_ok(r).await["challenge"].as_str().unwrap().to_owned();
    let code = pyotp_code(app, uri);
    let r = app
        .http
        .post(app.url("/api/v1/auth/login/second-factor"))
        .header("x-custos-device", device)
        .header("x-forwarded-for", ip)
        .json(&json!({"challenge": challenge, "method": "totp", "code": code}))
        .send()
        .await
        .unwrap();
    json_ok(r).await["session_token"].as_str().unwrap().to_owned()
}

/// A verified account with TOTP and 2 BTC whose owner last signed in at home (Frankfurt) on
/// `laptop`; returns (otpauth URI, home session token).
pub(crate) async fn owner_at_home(app: &TestApp, email: &str) -> (String, String) {
    let uid = app.verified_account(email).await;
    // The account's first sign-in, from home: the baseline later ones are compared with.
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("x-custos-device", "laptop")
        .header("x-forwarded-for", HOME_IP)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (uri, _, _) = crate::credentials::enrol_totp(app, email).await;
    deposit(app, &uid, "BTC", "2").await;
    let home = sign_in_from(app, email, "laptop", HOME_IP, &uri).await;
    (uri, home)
}

pub(crate) async fn activity(app: &TestApp, token: &str) -> Vec<Value> {
    json_ok(app.get_authed("/api/v1/activity", token).await).await.as_array().unwrap().clone()
}

/// Waits (bounded) for a delivered message to `to` whose text contains `needle`.
pub(crate) async fn wait_for_body(app: &TestApp, to: &str, needle: &str) -> custos_store::DevMail {
    for _ in 0..250 {
        if let Some(m) = app.mails_to(to).await.into_iter().find(|m| m.text_body.contains(needle)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no mail to {to} containing {needle:?}");
}

fn signal_codes(event: &Value) -> Vec<String> {
    event["signals"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn an_attacker_far_away_on_a_vps_network_raises_signals_and_their_withdrawal_is_held() {
    attacker_scenario(&spawn_app_with(geo_options()).await).await;
}

#[tokio::test]
async fn on_postgres_an_attacker_far_away_is_flagged_held_and_diagnosed() {
    let Some(app) = spawn_app_on_postgres_with("risk signals and diagnosis", geo_options()).await else {
        return;
    };
    attacker_scenario(&app).await;
}

/// The owner at home; an attacker with the password and a phished code an hour later from a VPS
/// in Singapore on a new device, who withdraws.
async fn attacker_scenario(app: &TestApp) {
    let email = "victim@example.com";
    let (uri, home) = owner_at_home(app, email).await;

    // The home sign-in is placed (country and network) and, from a known place on a known
    // device, unremarkable.
    let events = activity(app, &home).await;
    assert_eq!((events[0]["country"].as_str(), events[0]["asn"].as_i64()), (Some("DE"), Some(64500)));
    assert_eq!((events[0]["high_risk"].as_bool(), signal_codes(&events[0]).len()), (Some(false), 0));

    app.clock.advance(Duration::from_secs(3600));
    let attacker = sign_in_from(app, email, "attacker-phone", VPS_IP, &uri).await;

    // (The home session has idled out by now; the list is the account's, whoever reads it.)
    let events = activity(app, &attacker).await;
    let e = &events[0];
    assert_eq!(
        (e["ip"].as_str(), e["country"].as_str(), e["asn"].as_i64()),
        (Some(VPS_IP), Some("SG"), Some(64511))
    );
    assert_eq!(
        signal_codes(e),
        ["new-device", "new-ip", "new-country", "new-asn", "impossible-travel", "risky-network"]
    );
    assert_eq!(e["high_risk"], true);
    let travel = e["signals"][4]["detail"].as_str().unwrap();
    assert!(travel.contains("from DE to SG"), "{travel}");

    // The new-device email names what was unusual.
    let mail = wait_for_body(app, email, "What was unusual").await;
    assert!(mail.text_body.contains(VPS_IP) && mail.text_body.contains("AS64511"), "{}", mail.text_body);

    // The attacker's withdrawal to a new address is held with the risky-login reason.
    let r = withdraw(app, &attacker, btc("0.5"), None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let w = confirm_by_mail(app, email).await;
    assert_eq!(w["state"], "held");
    let mut reasons = codes(&json!({ "reasons": w["hold_reasons"] }));
    reasons.sort();
    assert_eq!(reasons, ["first-use-of-address", "new-device", "risky-login"]);
    // So is an internal transfer: the same gate.
    let payee = app.verified_account("mule@example.com").await;
    let t = json_ok(crate::money::transfer(app, &attacker, &payee, "0.1").await).await;
    let mut reasons = codes(&json!({ "reasons": t["hold_reasons"] }));
    reasons.sort();
    assert_eq!(
        (t["state"].as_str(), reasons),
        (Some("held"), vec!["new-device".to_owned(), "risky-login".to_owned()])
    );

    // The security center shows the signals in the activity list.
    let page = app
        .http
        .get(app.url("/security"))
        .header("cookie", format!("custos_session={attacker}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("impossible travel") && html.contains("Withdrawals from this sign-in are held"));
    assert!(html.contains("SG · AS64511"), "country and network beside the address");

    // "Was I hacked?": compromised, with the withdrawal and the sign-in as evidence.
    let d = json_ok(app.get_authed("/api/v1/security/diagnosis", &attacker).await).await;
    assert_eq!(d["verdict"], "compromised", "{d:#}");
    let indicators: Vec<&str> =
        d["indicators"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
    assert_eq!(indicators, ["outflow-from-unrecognised-sign-in", "high-risk-sign-in"]);
    assert_eq!(
        d["indicators"][0]["evidence"].as_array().unwrap().len(),
        2,
        "the withdrawal and the transfer"
    );
    assert_eq!(d["indicators"][0]["strength"], "definitive");
    let evidence = d["indicators"][0]["evidence"][0]["detail"].as_str().unwrap();
    let wid = w["id"].as_str().unwrap();
    assert!(
        evidence.contains(wid) && evidence.contains("0.5 BTC") && evidence.contains(VPS_IP),
        "{evidence}"
    );
    assert!(
        evidence.contains("impossible-travel") && evidence.contains("second factor passed"),
        "{evidence}"
    );
    let hints: Vec<&str> =
        d["vector_hints"].as_array().unwrap().iter().map(|h| h["code"].as_str().unwrap()).collect();
    assert_eq!(hints, ["second-factor-passed-on-unrecognised-device"]);
    assert_eq!(d["next_steps"][0]["code"], "disable-account");
    assert!(d["benign"].as_array().unwrap().is_empty(), "the attacker's device did something unusual");

    let page = app
        .http
        .get(app.url("/security/diagnosis"))
        .header("cookie", format!("custos_session={attacker}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"data-verdict="compromised""#) && html.contains("Someone else has very likely"));
    assert!(html.contains(wid), "the evidence names the withdrawal");
    // The timeline draws the intruder's sign-in and the withdrawal in red.
    assert!(html.contains(r#"<svg class="timeline""#));
    assert!(html.contains(r#"<rect class="mark bad" "#) && html.contains("withdrawal 0.5 BTC"), "{html}");
}

#[tokio::test]
async fn a_known_device_home_again_raises_nothing_and_its_withdrawal_has_no_risk_hold() {
    let app = spawn_app_with(geo_options()).await;
    let email = "homebody@example.com";
    let (uri, _) = owner_at_home(&app, email).await;
    app.clock.advance(Duration::from_secs(3600));
    let again = sign_in_from(&app, email, "laptop", HOME_IP, &uri).await;
    let events = activity(&app, &again).await;
    assert!(signal_codes(&events[0]).is_empty(), "{}", events[0]);
    // The device is an hour old, so the gate's own new-device hold applies — not the risky-login one.
    let r = withdraw(&app, &again, btc("0.1"), None).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let w = confirm_by_mail(&app, email).await;
    assert!(!codes(&json!({ "reasons": w["hold_reasons"] })).contains(&"risky-login".to_owned()));
}

#[tokio::test]
async fn a_stolen_session_used_from_another_country_is_held_and_diagnosed_as_moved() {
    let app = spawn_app_with(geo_options()).await;
    let email = "cookie@example.com";
    let (uri, _) = owner_at_home(&app, email).await;
    app.clock.advance(Duration::from_secs(3600));
    let home = sign_in_from(&app, email, "laptop", HOME_IP, &uri).await;
    // The session's cookie, replayed from the VPS network in Singapore.
    let r = app
        .http
        .post(app.url("/api/v1/withdrawals"))
        .bearer_auth(&home)
        .header("x-forwarded-for", VPS_IP)
        .json(&btc("0.5"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let w = confirm_by_mail(&app, email).await;
    let mut reasons = codes(&json!({ "reasons": w["hold_reasons"] }));
    reasons.sort();
    assert_eq!(reasons, ["first-use-of-address", "new-device", "session-moved"]);
    let d = json_ok(app.get_authed("/api/v1/security/diagnosis", &home).await).await;
    assert_eq!(d["verdict"], "suspicious", "{d:#}");
    assert_eq!(d["indicators"][0]["code"], "outflow-from-moved-session");
    let e = d["indicators"][0]["evidence"][0]["detail"].as_str().unwrap();
    assert!(e.contains("(DE)") && e.contains("203.0.113.9 (SG)"), "{e}");
}
