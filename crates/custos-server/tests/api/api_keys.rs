//! API keys over HTTP: managing them with a session, and signed requests made by the Python
//! reference client (`tests/python/custos_signed_client.py`, written from `docs/api-keys.md`
//! alone), so the scheme is checked by an implementation that is not ours.

use std::process::Command;
use std::time::Duration;

use custos_core::Clock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{enrol_totp, json_ok};
use crate::helpers::*;

const WHOAMI: &str = "/api/v1/api-key/whoami";

fn client_script() -> String {
    format!("{}/../../tests/python/custos_signed_client.py", env!("CARGO_MANIFEST_DIR"))
}

/// Runs the reference client with `args`; returns its JSON output.
fn reference_client(args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(client_script())
        .args(args)
        .output()
        .expect("python3 is needed (and pip install cryptography==48.0.0 for Ed25519)");
    assert!(out.status.success(), "reference client: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The key a test signs with: its id and `--hmac-secret S` or `--ed25519-private-key SEED`.
#[derive(Clone)]
struct Signer {
    id: String,
    secret_flag: &'static str,
    secret: String,
}

impl Signer {
    /// The four headers the reference client computes for this request at the app's clock.
    fn headers(&self, app: &TestApp, method: &str, path: &str, body: Option<&str>) -> Vec<(String, String)> {
        let ts = (app.clock.now().as_micros() / 1_000).to_string();
        let mut args = vec!["--key-id", &self.id, self.secret_flag, &self.secret, "--dry-run", "--timestamp"];
        args.extend([ts.as_str(), method, path]);
        if let Some(b) = body {
            args.push(b);
        }
        let out = reference_client(&args);
        out["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> reqwest::Response {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_owned());
    }
    req.send().await.unwrap()
}

async fn signed_get(app: &TestApp, key: &Signer, path: &str) -> reqwest::Response {
    let headers = key.headers(app, "GET", path, None);
    send(app, "GET", path, &headers, None).await
}

async fn create_key(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http.post(app.url("/api/v1/api-keys")).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn hmac_key(app: &TestApp, token: &str, scopes: &[&str], ips: &[&str]) -> Signer {
    let body = json!({"label": "bot", "kind": "hmac-sha256", "scopes": scopes, "ip_allowlist": ips});
    let created = json_ok(create_key(app, token, body).await).await;
    Signer {
        id: created["id"].as_str().unwrap().to_owned(),
        secret_flag: "--hmac-secret",
        secret: created["secret"].as_str().unwrap().to_owned(),
    }
}

fn reasons(body: &Value) -> Vec<String> {
    body["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_owned()).collect()
}

async fn refused(r: reqwest::Response, status: StatusCode, code: &str) {
    let (got, body) = problem(r).await;
    assert_eq!(got, status, "{body}");
    assert!(reasons(&body).iter().any(|c| c == code), "expected {code}: {body}");
}

async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    json_ok(app.get_authed("/api/v1/api-keys", token).await).await["keys"].as_array().unwrap().clone()
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_and_the_hmac_secret_is_shown_once() {
    let app = spawn_app().await;
    app.verified_account("keys@example.com").await;
    let token = app.login("keys@example.com", "laptop").await;
    let body = json!({"label": "reporting", "kind": "hmac-sha256", "scopes": ["read"], "ip_allowlist": ["203.0.113.7"]});
    let r = create_key(&app, &token, body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ck_") && secret.starts_with("cs_"), "{created}");
    assert_eq!(created["ip_allowlist"], json!(["203.0.113.7/32"]));
    assert_eq!(created["status"], "active");
    // A key with an allowlist may live the full 365 days.
    let now = app.clock.now();
    assert_eq!(created["valid_until"], now.plus(Duration::from_secs(365 * 86_400)).rfc3339());

    let listed = list(&app, &token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(listed[0].get("secret").is_none(), "never listed: {}", listed[0]);
    assert!(!listed[0].to_string().contains(&secret));

    let mail = app.wait_for_mail("keys@example.com", "API key created").await;
    assert!(mail.text_body.contains(&id) && mail.text_body.contains("203.0.113.7/32"), "{}", mail.text_body);
    assert!(mail.text_body.contains("read"));
    assert!(!mail.text_body.contains(&secret), "the secret never goes by mail");

    let r =
        app.http.delete(app.url(&format!("/api/v1/api-keys/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let listed = list(&app, &token).await;
    assert_eq!(
        (listed[0]["status"].as_str(), listed[0]["revoke_reason"].as_str()),
        (Some("revoked"), Some("revoked_by_user"))
    );
    let mail = app.wait_for_mail("keys@example.com", "API key revoked").await;
    assert!(mail.text_body.contains(&id));

    // Revoke all: only live keys count.
    let token_keys: Vec<_> = [["read"], ["trade"]]
        .iter()
        .map(|s| json!({"label": "x", "kind": "hmac-sha256", "scopes": s}))
        .collect();
    for body in token_keys {
        assert_eq!(create_key(&app, &token, body).await.status(), StatusCode::CREATED);
    }
    let r = json_ok(app.post_authed("/api/v1/api-keys/revoke-all", &token).await).await;
    assert_eq!(r["revoked"], 2);
    assert!(list(&app, &token).await.iter().all(|k| k["status"] == "revoked"));
}

#[tokio::test]
async fn another_accounts_key_is_not_found_and_cannot_be_revoked() {
    let app = spawn_app().await;
    app.verified_account("owner@example.com").await;
    app.verified_account("stranger@example.com").await;
    let owner = app.login("owner@example.com", "laptop").await;
    let stranger = app.login("stranger@example.com", "phone").await;
    let key = hmac_key(&app, &owner, &["read"], &[]).await;
    let revoke = |token: String, id: String| {
        let app = &app;
        async move {
            app.http
                .delete(app.url(&format!("/api/v1/api-keys/{id}")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let (status, body) = problem(revoke(stranger.clone(), key.id.clone()).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (unknown, _) = problem(revoke(stranger.clone(), "ck_aaaaaaaaaaaaaaaaaaaaaaaa".into()).await).await;
    let (malformed, _) = problem(revoke(stranger, "not-a-key".into()).await).await;
    assert_eq!(
        (unknown, malformed),
        (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND),
        "same answer for all three"
    );
    assert!(list(&app, &owner).await.iter().all(|k| k["status"] == "active"));
    assert_eq!(app.get_authed("/api/v1/api-keys", "nonsense").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_create_request_is_refused_with_every_reason() {
    let app = spawn_app().await;
    app.verified_account("bad@example.com").await;
    let token = app.login("bad@example.com", "laptop").await;
    let body = json!({
        "label": "", "kind": "hmac-sha256", "public_key": "AAAA", "scopes": ["read", "fly"],
        "ip_allowlist": ["0.0.0.0/0", "not-an-ip"], "valid_until": "tomorrow"
    });
    let (status, body) = problem(create_key(&app, &token, body).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes = reasons(&body);
    for code in [
        "api-key-label-invalid",
        "api-key-public-key-unexpected",
        "api-key-scope-unknown",
        "api-key-ip-range-too-broad",
        "api-key-ip-malformed",
        "api-key-valid-until-malformed",
    ] {
        assert!(codes.iter().any(|c| c == code), "missing {code}: {body}");
    }
    let (status, _) = problem(create_key(&app, &token, json!({"label": "x"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a body of the wrong shape");
    assert!(list(&app, &token).await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn a_withdraw_scoped_key_needs_an_ip_allowlist_and_a_second_factor_step_up() {
    let app = spawn_app().await;
    app.verified_account("money@example.com").await;
    let token = app.login("money@example.com", "desk").await;
    let no_ips = json!({"label": "payout", "kind": "hmac-sha256", "scopes": ["read", "withdraw"]});
    refused(
        create_key(&app, &token, no_ips.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "api-key-ip-allowlist-required",
    )
    .await;

    let with_ips = json!({"label": "payout", "kind": "hmac-sha256", "scopes": ["read", "withdraw"], "ip_allowlist": ["198.51.100.0/24"]});
    let (status, body) = problem(create_key(&app, &token, with_ips.clone()).await).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (StatusCode::FORBIDDEN, Some("urn:custos:problem:step-up-required"))
    );
    assert_eq!(reasons(&body), ["second-factor-required"], "moving money needs a second factor first");
    assert!(list(&app, &token).await.is_empty());

    let (_, aal2, _) = enrol_totp(&app, "money@example.com").await;
    let r = create_key(&app, &aal2, with_ips).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["scopes"], json!(["read", "withdraw"]));

    // Once the step-up is older than the window, a money key needs a fresh one.
    app.clock.advance(Duration::from_secs(11 * 60));
    let again = json!({"label": "payout 2", "kind": "hmac-sha256", "scopes": ["transfer"], "ip_allowlist": ["198.51.100.7"]});
    refused(create_key(&app, &aal2, again).await, StatusCode::FORBIDDEN, "step-up-required").await;
    // A read-only key never needs one.
    let read = json!({"label": "reader", "kind": "hmac-sha256", "scopes": ["read"]});
    assert_eq!(create_key(&app, &aal2, read).await.status(), StatusCode::CREATED);

    // The outbox delivers asynchronously: wait (bounded) for the matrix row's notice.
    let mut told = false;
    for _ in 0..250 {
        let mails = app.mails_to("money@example.com").await;
        if mails.iter().any(|m| {
            m.subject == "Security change on your account"
                && m.text_body.contains("API key that can move funds")
        }) {
            told = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(told, "the account email is told about the money key");
}

#[tokio::test]
async fn the_reference_client_signs_requests_that_custos_accepts() {
    let app = spawn_app().await;
    let uid = app.verified_account("signer@example.com").await;
    let token = app.login("signer@example.com", "laptop").await;

    let hmac = hmac_key(&app, &token, &["read"], &["127.0.0.1"]).await;
    let r = signed_get(&app, &hmac, WHOAMI).await;
    let me = json_ok(r).await;
    assert_eq!(
        (me["key_id"].as_str(), me["account_uid"].as_str()),
        (Some(hmac.id.as_str()), Some(uid.as_str()))
    );
    assert_eq!(me["scopes"], json!(["read"]));

    let pair = reference_client(&["--generate-ed25519"]);
    let body = json!({"label": "ed", "kind": "ed25519", "public_key": pair["public_key"], "scopes": ["read", "trade"]});
    let created = json_ok(create_key(&app, &token, body).await).await;
    assert!(created.get("secret").is_none(), "custos holds no secret for an Ed25519 key");
    assert_eq!(created["public_key"], pair["public_key"]);
    let ed = Signer {
        id: created["id"].as_str().unwrap().to_owned(),
        secret_flag: "--ed25519-private-key",
        secret: pair["private_key"].as_str().unwrap().to_owned(),
    };
    // A query string and a body are signed as sent.
    let path = format!("{WHOAMI}?probe=1&b=%20x");
    let payload = r#"{"hello":"world"}"#;
    let headers = ed.headers(&app, "GET", &path, Some(payload));
    let me = json_ok(send(&app, "GET", &path, &headers, Some(payload)).await).await;
    assert_eq!(me["key_id"].as_str(), Some(ed.id.as_str()));
    assert_eq!(me["kind"], "ed25519");

    let listed = list(&app, &token).await;
    let used = listed.iter().find(|k| k["id"] == ed.id.as_str()).unwrap();
    assert_eq!(
        (used["last_used_at"].as_str(), used["last_used_ip"].as_str()),
        (Some(app.clock.now().rfc3339().as_str()), Some("127.0.0.1"))
    );
}

#[tokio::test]
async fn signed_requests_are_refused_with_the_reason_that_applies() {
    let app = spawn_app().await;
    app.verified_account("refused@example.com").await;
    let token = app.login("refused@example.com", "laptop").await;
    let key = hmac_key(&app, &token, &["read"], &[]).await;

    // No headers at all.
    refused(
        app.http.get(app.url(WHOAMI)).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "api-signature-missing",
    )
    .await;

    // A timestamp outside the window (the clock moved on after signing).
    let headers = key.headers(&app, "GET", WHOAMI, None);
    app.clock.advance(Duration::from_secs(31));
    refused(
        send(&app, "GET", WHOAMI, &headers, None).await,
        StatusCode::UNAUTHORIZED,
        "api-signature-expired",
    )
    .await;

    // The same headers twice: the nonce is refused.
    let headers = key.headers(&app, "GET", WHOAMI, None);
    assert_eq!(send(&app, "GET", WHOAMI, &headers, None).await.status(), StatusCode::OK);
    refused(send(&app, "GET", WHOAMI, &headers, None).await, StatusCode::UNAUTHORIZED, "api-nonce-reused")
        .await;

    // A body other than the one signed; a path other than the one signed.
    let headers = key.headers(&app, "GET", WHOAMI, Some(r#"{"amount":"1"}"#));
    refused(
        send(&app, "GET", WHOAMI, &headers, Some(r#"{"amount":"9"}"#)).await,
        StatusCode::UNAUTHORIZED,
        "api-signature-invalid",
    )
    .await;
    let headers = key.headers(&app, "GET", WHOAMI, None);
    refused(
        send(&app, "GET", &format!("{WHOAMI}?x=1"), &headers, None).await,
        StatusCode::UNAUTHORIZED,
        "api-signature-invalid",
    )
    .await;

    // An unknown key id gets the same answer as a bad signature.
    let unknown = Signer { id: "ck_aaaaaaaaaaaaaaaaaaaaaaaa".into(), ..key.clone() };
    refused(signed_get(&app, &unknown, WHOAMI).await, StatusCode::UNAUTHORIZED, "api-signature-invalid")
        .await;

    // From an address outside the key's allowlist (the test client is 127.0.0.1).
    let elsewhere = hmac_key(&app, &token, &["read"], &["203.0.113.0/24"]).await;
    refused(signed_get(&app, &elsewhere, WHOAMI).await, StatusCode::FORBIDDEN, "api-key-ip-not-allowed")
        .await;

    // A key without the route's scope.
    let trader = hmac_key(&app, &token, &["trade"], &[]).await;
    refused(signed_get(&app, &trader, WHOAMI).await, StatusCode::FORBIDDEN, "api-key-scope-missing").await;

    // A revoked key.
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/api-keys/{}", key.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused(signed_get(&app, &key, WHOAMI).await, StatusCode::FORBIDDEN, "api-key-revoked").await;

    // A key past its valid_until (30 days without an allowlist).
    let short = hmac_key(&app, &token, &["read"], &[]).await;
    assert_eq!(signed_get(&app, &short, WHOAMI).await.status(), StatusCode::OK);
    app.clock.advance(Duration::from_secs(30 * 86_400));
    refused(signed_get(&app, &short, WHOAMI).await, StatusCode::FORBIDDEN, "api-key-expired").await;
}

#[tokio::test]
async fn a_password_reset_revokes_every_api_key() {
    let app = spawn_app().await;
    app.verified_account("reset.keys@example.com").await;
    let token = app.login("reset.keys@example.com", "laptop").await;
    let key = hmac_key(&app, &token, &["read"], &[]).await;
    assert_eq!(signed_get(&app, &key, WHOAMI).await.status(), StatusCode::OK);
    app.post_json("/api/v1/auth/password-reset", json!({"email": "reset.keys@example.com"})).await;
    let link = link_token(
        &app.wait_for_mail("reset.keys@example.com", "Reset your password").await.text_body,
        "/reset-password/",
    );
    let body = json!({"token": link, "new_password": "tulip quarry lantern fjord"});
    assert_eq!(
        app.post_json("/api/v1/auth/password-reset/confirm", body).await.status(),
        StatusCode::NO_CONTENT
    );
    refused(signed_get(&app, &key, WHOAMI).await, StatusCode::FORBIDDEN, "api-key-revoked").await;
}

#[tokio::test]
async fn a_signed_client_withdraws_within_its_scopes_and_ips_and_is_refused_outside_them() {
    let app = spawn_app().await;
    let (_, aal2) = crate::money::funded(&app, "bot-owner@example.com").await;
    let body = crate::money::btc("0.1").to_string();
    let balance = |app: &TestApp| {
        let token = aal2.clone();
        let app_url = app.url("/api/v1/balances");
        let http = app.http.clone();
        async move {
            let all: Value = http.get(app_url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            all.as_array().unwrap().iter().find(|b| b["asset"] == "BTC").unwrap()["available"].clone()
        }
    };

    // Withdraw scope, and the test client's address (127.0.0.1) on the key's list: accepted, and
    // the withdrawal records which key asked. It still waits for the emailed confirmation.
    let payout = hmac_key(&app, &aal2, &["read", "withdraw"], &["127.0.0.1"]).await;
    let headers = payout.headers(&app, "POST", "/api/v1/withdrawals", Some(&body));
    let r = send(&app, "POST", "/api/v1/withdrawals", &headers, Some(&body)).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let w: Value = r.json().await.unwrap();
    assert_eq!(
        (w["requested_via"].as_str(), w["api_key_id"].as_str()),
        (Some("api_key"), Some(payout.id.as_str()))
    );
    assert_eq!(w["state"], "awaiting_confirmation");
    assert_eq!(balance(&app).await, "1.8998");

    // A replay of the same signed request is refused before anything happens.
    refused(
        send(&app, "POST", "/api/v1/withdrawals", &headers, Some(&body)).await,
        StatusCode::UNAUTHORIZED,
        "api-nonce-reused",
    )
    .await;

    // Read-only key: the gate refuses for the missing scope.
    let reader = hmac_key(&app, &aal2, &["read"], &[]).await;
    let headers = reader.headers(&app, "POST", "/api/v1/withdrawals", Some(&body));
    refused(
        send(&app, "POST", "/api/v1/withdrawals", &headers, Some(&body)).await,
        StatusCode::FORBIDDEN,
        "api-key-scope-missing",
    )
    .await;

    // Withdraw scope, but the request comes from outside the key's list.
    let elsewhere = hmac_key(&app, &aal2, &["withdraw"], &["198.51.100.7"]).await;
    let headers = elsewhere.headers(&app, "POST", "/api/v1/withdrawals", Some(&body));
    refused(
        send(&app, "POST", "/api/v1/withdrawals", &headers, Some(&body)).await,
        StatusCode::FORBIDDEN,
        "api-key-ip-not-allowed",
    )
    .await;

    assert_eq!(balance(&app).await, "1.8998", "refused requests reserve nothing");
}

#[tokio::test]
async fn a_transfer_scoped_key_settles_a_transfer_at_once_and_a_withdraw_key_may_not_transfer() {
    let app = spawn_app().await;
    let (_, aal2) = crate::money::funded(&app, "desk@example.com").await;
    let payee: u64 = app.verified_account("client@example.com").await.parse().unwrap();
    let body = json!({ "to_uid": payee, "asset": "BTC", "amount": "0.2" }).to_string();

    let desk = hmac_key(&app, &aal2, &["transfer"], &["127.0.0.1"]).await;
    let headers = desk.headers(&app, "POST", "/api/v1/transfers", Some(&body));
    let r = send(&app, "POST", "/api/v1/transfers", &headers, Some(&body)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let t: Value = r.json().await.unwrap();
    assert_eq!((t["state"].as_str(), t["api_key_id"].as_str()), (Some("settled"), Some(desk.id.as_str())));

    let payout = hmac_key(&app, &aal2, &["withdraw"], &["127.0.0.1"]).await;
    let headers = payout.headers(&app, "POST", "/api/v1/transfers", Some(&body));
    refused(
        send(&app, "POST", "/api/v1/transfers", &headers, Some(&body)).await,
        StatusCode::FORBIDDEN,
        "api-key-scope-missing",
    )
    .await;
}

#[tokio::test]
async fn the_gateway_forwards_signed_requests_and_learns_the_keys_scope_and_address_standing() {
    let app = spawn_app().await;
    app.verified_account("algo@example.com").await;
    let token = app.login("algo@example.com", "laptop").await;
    let trader = hmac_key(&app, &token, &["read", "trade"], &["203.0.113.0/24"]).await;
    let order = r#"{"side":"buy","qty":"1"}"#;
    let forward = |key: &Signer, ip: &str| {
        let h: std::collections::HashMap<String, String> = key
            .headers(&app, "POST", "/orders?pair=BTC-USDT", Some(order))
            .into_iter()
            .map(|(k, v)| (k.to_lowercase(), v))
            .collect();
        json!({
            "action": "trade",
            "ip": ip,
            "api_key": {
                "key_id": h["x-custos-key"], "timestamp": h["x-custos-timestamp"], "nonce": h["x-custos-nonce"],
                "signature": h["x-custos-signature"], "method": "POST", "path": "/orders?pair=BTC-USDT", "body": order,
            },
        })
    };
    let allowed = forward(&trader, "203.0.113.9");
    let a = crate::money::authorize(&app, allowed.clone()).await;
    assert_eq!(a["decision"], "allow", "{a}");
    // The same forwarded request again is a replay.
    let a = crate::money::authorize(&app, allowed).await;
    assert_eq!(reasons(&a), ["api-nonce-reused"]);
    // From outside the key's list; and a key without the trade scope.
    let a = crate::money::authorize(&app, forward(&trader, "198.51.100.1")).await;
    assert_eq!(
        (a["decision"].as_str(), reasons(&a)),
        (Some("deny"), vec!["api-key-ip-not-allowed".to_owned()])
    );
    let reader = hmac_key(&app, &token, &["read"], &[]).await;
    let a = crate::money::authorize(&app, forward(&reader, "198.51.100.1")).await;
    assert_eq!(reasons(&a), ["api-key-scope-missing"]);
    // A tampered body does not verify.
    let mut tampered = forward(&trader, "203.0.113.9");
    tampered["api_key"]["body"] = json!(r#"{"side":"sell","qty":"100"}"#);
    assert_eq!(reasons(&crate::money::authorize(&app, tampered).await), ["api-signature-invalid"]);
}
