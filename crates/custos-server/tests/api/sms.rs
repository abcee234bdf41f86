//! SMS: binding a number, the SMS factor at sign-in and step-up, and the HTTP provider against a
//! real HTTP server speaking the Messages API shape.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::credentials::{json_ok, step_up_by_email};
use crate::helpers::*;

const PHONE: &str = "+4915112345678";

/// The code in the first texted code to `phone` (the dev sink writes texts to the dev mailbox).
async fn texted_code(app: &TestApp, phone: &str) -> String {
    for _ in 0..250 {
        let texts = app.mails_to(phone).await;
        if let Some(t) =
            texts.iter().find(|m| m.subject == "SMS" && m.text_body.contains("is your custos code"))
        {
            return t.text_body.split_whitespace().next().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no text to {phone}");
}

async fn bind_phone(app: &TestApp, token: &str, phone: &str) -> Value {
    let r = app
        .http
        .post(app.url("/api/v1/security/phone"))
        .bearer_auth(token)
        .json(&json!({"phone": phone}))
        .send()
        .await
        .unwrap();
    let challenge = json_ok(r).await["challenge"].as_str().unwrap().to_owned();
    let code = texted_code(app, phone).await;
    let r = app
        .http
        .post(app.url("/api/v1/security/phone/confirm"))
        .bearer_auth(token)
        .json(&json!({"challenge": challenge, "code": code}))
        .send()
        .await
        .unwrap();
    json_ok(r).await
}

#[tokio::test]
async fn a_phone_is_bound_by_a_texted_code_and_sms_becomes_a_second_factor() {
    let app = spawn_app().await;
    app.verified_account("sms.user@example.com").await;
    let token = app.login("sms.user@example.com", "laptop").await;
    let token = step_up_by_email(&app, &token, "sms.user@example.com").await;
    bind_phone(&app, &token, PHONE).await;
    let r = app
        .http
        .put(app.url("/api/v1/security/sms"))
        .bearer_auth(&token)
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    json_ok(r).await;
    let me = json_ok(app.get_authed("/api/v1/me", &token).await).await;
    assert_eq!(me["phone"], "+49•••••••••78");

    let first = json_ok(app.login_raw("sms.user@example.com", PASSWORD, Some("laptop")).await).await;
    assert_eq!(first["second_factor_required"], true);
    assert!(first["methods"].as_array().unwrap().contains(&json!("sms")));
    let challenge = first["challenge"].as_str().unwrap();
    assert_eq!(
        app.post_json("/api/v1/auth/login/sms", json!({"challenge": challenge})).await.status(),
        StatusCode::ACCEPTED
    );
    // A second text within a minute is refused.
    assert_eq!(
        app.post_json("/api/v1/auth/login/sms", json!({"challenge": challenge})).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let code = {
        let mut code = String::new();
        for _ in 0..250 {
            let texts: Vec<_> = app
                .mails_to(PHONE)
                .await
                .into_iter()
                .filter(|m| m.text_body.contains("for signing in"))
                .collect();
            if let Some(t) = texts.first() {
                code = t.text_body.split_whitespace().next().unwrap().to_owned();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        code
    };
    assert_eq!(code.len(), 6);
    let wrong = app
        .post_json(
            "/api/v1/auth/login/second-factor",
            json!({"challenge": challenge, "method": "sms", "code": "000000"}),
        )
        .await;
    assert_eq!(problem(wrong).await.1["reasons"][0]["code"], "code-wrong");
    let ok = app
        .post_json(
            "/api/v1/auth/login/second-factor",
            json!({"challenge": challenge, "method": "sms", "code": code}),
        )
        .await;
    assert_eq!(json_ok(ok).await["aal"], "aal2");
}

#[tokio::test]
async fn replacing_the_phone_tells_the_old_number_and_locks_withdrawals() {
    let app = spawn_app().await;
    app.verified_account("newphone@example.com").await;
    let token = app.login("newphone@example.com", "laptop").await;
    let token = step_up_by_email(&app, &token, "newphone@example.com").await;
    bind_phone(&app, &token, PHONE).await;
    let r = bind_phone(&app, &token, "+4915199999999").await;
    assert!(r["withdrawal_lock_until"].as_str().is_some());
    for _ in 0..250 {
        if app
            .mails_to(PHONE)
            .await
            .iter()
            .any(|m| m.text_body.contains("mobile number of your account was changed"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the previous number was not told");
}

#[tokio::test]
async fn texts_go_to_an_http_provider_with_basic_auth_and_the_anti_phishing_code() {
    // A real HTTP server standing in for the provider: it records each request as a JSON line.
    let log = temp_path("sms-provider").with_extension("jsonl");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = r#"
import base64, json, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer
log = sys.argv[2]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length'])).decode()
        auth = base64.b64decode(self.headers.get('Authorization', 'Basic ').split(' ', 1)[1] or b'').decode()
        with open(log, 'a') as f:
            f.write(json.dumps({'path': self.path, 'auth': auth, 'form': dict(urllib.parse.parse_qsl(body))}) + '\n')
        self.send_response(201); self.send_header('Content-Type', 'application/json'); self.end_headers()
        self.wfile.write(b'{"sid": "SM1"}')
    def log_message(self, *a): pass
HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#;
    let mut server = std::process::Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .arg(&log)
        .spawn()
        .unwrap();
    for _ in 0..250 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let url = format!("http://AC123:s3cr%2Ft@127.0.0.1:{port}/2010-04-01/Accounts/AC123/Messages.json");
    let app = spawn_app_with(Options { sms_url: Some(url), ..Default::default() }).await;
    app.verified_account("provider@example.com").await;
    let token = app.login("provider@example.com", "laptop").await;
    let token = step_up_by_email(&app, &token, "provider@example.com").await;
    let r = app
        .http
        .put(app.url("/api/v1/security/anti-phishing-code"))
        .bearer_auth(&token)
        .json(&json!({"code": "blue otter"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .http
        .post(app.url("/api/v1/security/phone"))
        .bearer_auth(&token)
        .json(&json!({"phone": PHONE}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mut line = String::new();
    for _ in 0..250 {
        if let Some(l) = std::fs::read_to_string(&log).ok().and_then(|t| t.lines().next().map(str::to_owned))
        {
            line = l;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    let req: Value = serde_json::from_str(&line).expect("the provider got a request");
    assert_eq!(req["path"], "/2010-04-01/Accounts/AC123/Messages.json");
    assert_eq!(req["auth"], "AC123:s3cr/t");
    assert_eq!(req["form"]["To"], PHONE);
    assert_eq!(req["form"]["From"], "custos");
    let body = req["form"]["Body"].as_str().unwrap();
    assert!(body.contains("is your custos code for confirming your phone number"), "{body}");
    assert!(body.contains("Anti-phishing code: blue otter."), "{body}");
    assert!(
        app.store.dev_mail(10).await.unwrap().iter().all(|m| m.subject != "SMS"),
        "nothing in the dev sink"
    );
    let _ = std::fs::remove_file(&log);
}
