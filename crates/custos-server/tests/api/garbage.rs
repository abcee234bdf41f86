//! Every operation the OpenAPI document lists, sent garbage: malformed JSON, the wrong JSON type,
//! each declared field set to values of every wrong kind, path ids that are not ids. Anonymous, as
//! a customer, as staff and with the integration service token, on SQLite and PostgreSQL. Nothing
//! may answer 5xx, and every refusal under `/api/` is a problem document (brief: "bad input gets a
//! clear problem+json error … never a 500"). The pages likewise: every page route, as a stranger,
//! a signed-in customer and staff, with garbage in the query and in forms with and without their
//! CSRF token.

use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::helpers::*;
use crate::staff::signed_in_staff;

/// Values of every JSON kind, and strings no field accepts.
fn garbage() -> Vec<Value> {
    vec![
        Value::Null,
        json!(-1),
        json!(0),
        json!(1.5),
        serde_json::from_str("1180591620717411303424").unwrap(),
        json!(true),
        json!(""),
        json!("\u{0}"),
        json!("../../etc/passwd"),
        json!("💥".repeat(300)),
        json!("x".repeat(20_000)),
        json!("1e400"),
        json!("2026-13-45T99:99:99Z"),
        json!("<script>alert(1)</script>"),
        json!([]),
        json!(["a"]),
        json!({}),
        json!({"a": 1}),
    ]
}

/// Path parameters that are not ids of anything.
const BAD_IDS: &[&str] =
    &["x", "0", "-1", "%00", "00000000-0000-0000-0000-000000000000", "%F0%9F%92%A5", "18446744073709551616"];

/// An operation: method, path template and the fields its JSON body declares (`None`: no body).
struct Operation {
    method: Method,
    path: String,
    fields: Option<Vec<String>>,
}

fn schema_fields(doc: &Value, schema: &Value, depth: u8) -> Vec<String> {
    if depth > 4 {
        return Vec::new();
    }
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap_or_default();
        return schema_fields(doc, &doc["components"]["schemas"][name], depth + 1);
    }
    let mut fields: Vec<String> =
        schema["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default();
    for key in ["allOf", "oneOf", "anyOf"] {
        for s in schema[key].as_array().into_iter().flatten() {
            fields.extend(schema_fields(doc, s, depth + 1));
        }
    }
    fields
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            let fields = (!body.is_null()).then(|| schema_fields(doc, body, 0));
            ops.push(Operation { method, path: path.clone(), fields });
        }
    }
    // What ends the caller's session or freezes the account goes last, so the rest meets a live one.
    let ends = ["freeze", "revoke", "logout", "password", "totp", "email", "panic", "/sessions/"];
    ops.sort_by_key(|o| ends.iter().any(|e| o.path.contains(e)));
    ops
}

/// The bodies sent to an operation that takes JSON: broken, the wrong type, empty, then every
/// declared field set to garbage (a different value each round).
fn bodies(fields: &[String]) -> Vec<(String, &'static str)> {
    let json = "application/json";
    let mut out = vec![
        ("{not json".to_owned(), json),
        ("[1, 2, 3]".to_owned(), json),
        ("{}".to_owned(), json),
        ("a=b".to_owned(), "application/x-www-form-urlencoded"),
    ];
    let values = garbage();
    for round in 0..values.len() {
        let mut body = Map::new();
        for (i, f) in fields.iter().enumerate() {
            body.insert(f.clone(), values[(round + i) % values.len()].clone());
        }
        out.push((Value::Object(body).to_string(), json));
    }
    out
}

on_both_backends!(
    "garbage";
    every_operation_answers_garbage_with_a_4xx_problem_and_never_a_5xx,
    every_page_answers_garbage_forms_without_a_5xx,
);

async fn every_operation_answers_garbage_with_a_4xx_problem_and_never_a_5xx(app: TestApp) {
    app.verified_account("garbage@example.com").await;
    let customer = app.login("garbage@example.com", "laptop").await;
    let (staff, _) = signed_in_staff(&app, "analyst@custos.example", "analyst").await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let ops = operations(&doc);
    assert!(ops.len() > 80, "the document lists the API: {}", ops.len());
    let callers = [None, Some(customer.as_str()), Some(staff.as_str()), Some(SERVICE_TOKEN)];
    let mut sent = 0;
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    let mut failures = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let bodies = op.fields.as_deref().map(bodies).unwrap_or_else(|| vec![(String::new(), "")]);
        for (i, (body, content_type)) in bodies.iter().enumerate() {
            let mut path = op.path.clone();
            while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
                path.replace_range(a..=b, BAD_IDS[(n + i) % BAD_IDS.len()]);
            }
            let caller = callers[(n + i) % callers.len()];
            let mut r = app.http.request(op.method.clone(), app.url(&path));
            if let Some(token) = caller {
                r = r.bearer_auth(token);
            }
            if !content_type.is_empty() {
                r = r.header("content-type", *content_type).body(body.clone());
            }
            if i % 3 == 0 {
                r = r.header("idempotency-key", "k".repeat(300));
            }
            let r = r.send().await.unwrap();
            sent += 1;
            let status = r.status();
            *seen.entry(status.as_u16()).or_default() += 1;
            let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let text = r.text().await.unwrap();
            let what = format!(
                "{} {path} ({caller:?}) {}: {status} {}",
                op.method,
                body.chars().take(120).collect::<String>(),
                text.chars().take(200).collect::<String>()
            );
            if status.is_server_error() {
                failures.push(what);
            } else if status.is_client_error() && status != StatusCode::METHOD_NOT_ALLOWED {
                let typed = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|p| p["type"].as_str().map(|t| t.starts_with("urn:custos:problem:")))
                    .unwrap_or(false);
                if ct != "application/problem+json" || !typed {
                    failures.push(format!("not a problem document: {what}"));
                }
            }
        }
    }
    assert!(sent > 1_000, "{sent} requests");
    // The sweep reached past the door: some requests were served, some refused as unauthenticated,
    // forbidden, not found and invalid.
    for code in [200, 401, 403, 404, 400, 422] {
        assert!(seen.contains_key(&code), "no {code} among {seen:?}");
    }
    assert!(failures.is_empty(), "{} of {sent} requests:\n{}", failures.len(), failures.join("\n"));
}

/// The page routes (the router's, by hand: pages are not in the OpenAPI document). `{}` is a path
/// parameter.
const PAGES: &[&str] = &[
    "/",
    "/login",
    "/login/passkey",
    "/login/second-factor",
    "/login/second-factor/passkey",
    "/register",
    "/forgot-password",
    "/reset-password",
    "/reset-password/{}",
    "/verify-email",
    "/verify-email/{}",
    "/disable/{}",
    "/freeze",
    "/verify",
    "/case/{}",
    "/confirm-withdrawal",
    "/confirm-withdrawal/{}",
    "/confirm-allowlist-entry",
    "/confirm-allowlist-entry/{}",
    "/security",
    "/security/diagnosis",
    "/security/funds",
    "/security/funds/withdraw",
    "/security/funds/withdrawals/{}/cancel",
    "/security/allowlist/mode",
    "/security/allowlist/{}/remove",
    "/security/anti-phishing-code",
    "/security/api-keys",
    "/security/api-keys/{}/revoke",
    "/security/cases",
    "/security/cases/{}",
    "/security/cases/{}/messages",
    "/security/confirm",
    "/security/confirm/email",
    "/security/confirm/email-code",
    "/security/passkeys/{}/rename",
    "/security/two-factor/confirm",
    "/security/recovery-codes",
    "/security/password",
    "/support",
    "/support/login",
    "/support/setup",
    "/support/setup/confirm",
    "/support/setup/{}",
    "/support/cases/{}",
    "/support/cases/{}/{}",
    "/support/cases/{}/withdrawals/{}/{}",
];

/// Form fields the pages take, each sent with garbage.
const FORM_FIELDS: &[&str] = &[
    "email",
    "password",
    "new_password",
    "code",
    "amount",
    "asset",
    "address",
    "network",
    "memo",
    "token",
    "reason",
    "account",
    "panic_code",
    "text",
    "description",
    "noticed_at",
    "mode",
    "label",
    "name",
    "kind",
    "phone",
    "uid",
    "fee",
    "to_uid",
    "note",
    "state",
    "staff_id",
    "totp",
    "assignee",
];

fn client(cookie: Option<(&TestApp, &str)>) -> reqwest::Client {
    let jar = reqwest::cookie::Jar::default();
    if let Some((app, cookie)) = cookie {
        jar.add_cookie_str(&format!("{cookie}; Path=/"), &app.url("/").parse().unwrap());
    }
    reqwest::Client::builder()
        .cookie_provider(std::sync::Arc::new(jar))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn every_page_answers_garbage_forms_without_a_5xx(app: TestApp) {
    app.verified_account("pages.garbage@example.com").await;
    let signed_in = client(None);
    let login = signed_in.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    let csrf = link_token(&login, "name=\"csrf\" value=\"");
    let r = signed_in
        .post(app.url("/login"))
        .form(&[("csrf", csrf.as_str()), ("email", "pages.garbage@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in through the form");
    let (staff, _) = signed_in_staff(&app, "pages.analyst@custos.example", "analyst").await;
    let staff = client(Some((&app, &format!("custos-staff={staff}"))));
    let browsers = [client(None), signed_in, staff];
    let values: Vec<String> = garbage()
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let (mut sent, mut failures) = (0, Vec::new());
    let mut seen = std::collections::BTreeMap::<u16, usize>::new();
    for (n, page) in PAGES.iter().enumerate() {
        for round in 0..6 {
            let i = n + round;
            let mut path = page.to_string();
            while let Some(at) = path.find("{}") {
                path.replace_range(at..at + 2, BAD_IDS[(i + at) % BAD_IDS.len()]);
            }
            let b = &browsers[i % browsers.len()];
            let r = if round % 2 == 0 {
                b.get(app.url(&format!("{path}?{}={}", FORM_FIELDS[i % FORM_FIELDS.len()], "%FF%00x")))
            } else {
                let mut form: Vec<(&str, &str)> = FORM_FIELDS
                    .iter()
                    .enumerate()
                    .map(|(k, f)| (*f, values[(i + k) % values.len()].as_str()))
                    .collect();
                if round % 4 == 1 {
                    form.push(("csrf", csrf.as_str()));
                }
                b.post(app.url(&path)).form(&form)
            };
            let r = r.send().await.unwrap();
            sent += 1;
            *seen.entry(r.status().as_u16()).or_default() += 1;
            if r.status().is_server_error() {
                failures.push(format!("{path} (browser {}): {}", i % browsers.len(), r.status()));
            }
        }
    }
    // Pages were shown, forms without their token refused, unknown ids not found.
    for code in [200, 403, 404] {
        assert!(seen.contains_key(&code), "no {code} among {seen:?}");
    }
    assert!(failures.is_empty(), "{} of {sent} requests:\n{}", failures.len(), failures.join("\n"));
}
