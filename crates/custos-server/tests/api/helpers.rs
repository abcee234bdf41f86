//! Typed helpers: each test starts the real application on port 0 with a fresh database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use custos_core::Timestamp;
use custos_core::clock::ManualClock;
use custos_core::password::HashCost;
use custos_server::config::RawConfig;
use custos_server::state::AppState;
use custos_server::{Application, Config, Overrides};
use custos_store::testing::TempDir;
use custos_store::{DevMail, Store};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub store: Store,
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The integration API's service token in every test app.
pub const SERVICE_TOKEN: &str = "test-service-token-0123456789abcdef";

#[derive(Default)]
pub struct Options {
    pub smtp_url: Option<String>,
    pub sms_url: Option<String>,
    pub hash_workers: Option<usize>,
    pub hash_queue: Option<usize>,
    pub cost: Option<HashCost>,
    /// `CUSTOS_PUBLIC_URL`, e.g. `http://localhost:0` for passkeys (WebAuthn needs a host name).
    pub public_url: Option<String>,
    /// `CUSTOS_WEBHOOK_URL` and `CUSTOS_WEBHOOK_SECRET`; set together, with insecure (http,
    /// loopback) endpoints allowed.
    pub webhook: Option<(String, String)>,
    /// `CUSTOS_WALLET=http` with this `CUSTOS_WALLET_URL` and `CUSTOS_WALLET_SECRET`.
    pub wallet: Option<(String, String)>,
    /// `CUSTOS_WITHDRAWAL_HOLD` (24 h by default).
    pub withdrawal_hold: Option<Duration>,
    /// Risk signals with the fixture IP databases (`tests/fixtures`), `CUSTOS_RISKY_ASNS` set to
    /// the fixture's VPS network AS64511, and loopback as a trusted proxy, so requests choose their
    /// address with `X-Forwarded-For`.
    pub geo: bool,
}

/// `CUSTOS_IP_DB` for the fixture databases: MaxMind City + ASN, and the ip2asn TSV.
pub fn fixture_ip_db() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    format!("{dir}/geo-fixture-city.mmdb,{dir}/geo-fixture-asn.mmdb,{dir}/ip2asn-fixture.tsv")
}

pub fn test_config(dir: &std::path::Path, o: &Options) -> Config {
    let raw = RawConfig {
        data_dir: Some(dir.display().to_string()),
        webhook_url: o.webhook.as_ref().map(|(url, _)| url.clone()),
        webhook_secret: o.webhook.as_ref().map(|(_, secret)| secret.clone()),
        webhook_allow_insecure: o.webhook.as_ref().map(|_| true),
        wallet: o.wallet.as_ref().map(|_| "http".to_owned()),
        wallet_url: o.wallet.as_ref().map(|(url, _)| url.clone()),
        wallet_secret: o.wallet.as_ref().map(|(_, secret)| secret.clone()),
        ip_db: o.geo.then(fixture_ip_db),
        risky_asns: o.geo.then(|| "AS64511".to_owned()),
        trusted_proxies: o.geo.then(|| "127.0.0.1".to_owned()),
        ..Default::default()
    };
    let mut config =
        Config::from_raw(raw, Overrides { listen: Some("127.0.0.1:0".into()), ..Default::default() })
            .expect("test config");
    let cost = o.cost.unwrap_or(HashCost::TEST);
    config.hash_cost = cost;
    config.smtp_url = o.smtp_url.clone();
    config.sms_url = o.sms_url.clone();
    config.hash_workers = o.hash_workers.unwrap_or(2);
    config.hash_queue = o.hash_queue.unwrap_or(64);
    config.outbox_poll = Duration::from_millis(50);
    config.money.wallet.poll = Duration::from_millis(50);
    if let Some(hold) = o.withdrawal_hold {
        config.money.hold_for = hold;
    }
    config.money.service_tokens =
        vec![("test-feed".into(), custos_core::crypto::TokenHash::of(SERVICE_TOKEN.as_bytes()))];
    if let Some(u) = &o.public_url {
        config.public_url = url::Url::parse(u).expect("test public URL");
    }
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(o: Options) -> TestApp {
    let dir = TempDir::new();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("custos.db").display())).await.unwrap();
    store.migrate().await.unwrap();
    spawn_app_on(store, dir, o).await
}

/// The same application on a fresh PostgreSQL schema; `None` (with a SKIPPED line) without a server.
pub async fn spawn_app_on_postgres(test: &str) -> Option<TestApp> {
    spawn_app_on_postgres_with(test, Options::default()).await
}

pub async fn spawn_app_on_postgres_with(test: &str, o: Options) -> Option<TestApp> {
    let url = custos_store::testing::postgres_url(test)?;
    let store = custos_store::testing::fresh_postgres(&url).await.expect("postgres store");
    Some(spawn_app_on(store, TempDir::new(), o).await)
}

async fn spawn_app_on(store: Store, dir: TempDir, o: Options) -> TestApp {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = test_config(dir.path(), &o);
    let clock = Arc::new(ManualClock::new(Timestamp::from_micros(1_800_000_000_000_000)));
    start_node(config, clock, store, dir).await
}

impl TestApp {
    /// A second node of the same deployment: another application, with its own workers and HTTP
    /// listener, on the same database, root key and clock — as two `custos serve` processes
    /// behind one load balancer would be.
    pub async fn second_node(&self) -> TestApp {
        let config = self.state.config.clone();
        start_node(config, self.clock.clone(), self.store.clone(), TempDir::new()).await
    }
}

async fn start_node(config: Config, clock: Arc<ManualClock>, store: Store, dir: TempDir) -> TestApp {
    let app = Application::build_with_store(config, clock.clone(), store.clone()).await.expect("app builds");
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { base, http, state, clock, store, _dir: dir, stop: Some(stop) }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.http.post(self.url(path)).json(&body).send().await.unwrap()
    }

    pub async fn post_authed(&self, path: &str, token: &str) -> Response {
        self.http.post(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_authed(&self, path: &str, token: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post_json("/api/v1/auth/register", json!({"email": email, "password": PASSWORD})).await
    }

    pub async fn login_raw(&self, email: &str, password: &str, device: Option<&str>) -> Response {
        let mut req = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}));
        if let Some(d) = device {
            req = req.header("x-custos-device", d);
        }
        req.send().await.unwrap()
    }

    /// Signs in on `device`; returns the session token.
    pub async fn login(&self, email: &str, device: &str) -> String {
        let r = self.login_raw(email, PASSWORD, Some(device)).await;
        assert_eq!(r.status(), StatusCode::OK, "login failed: {}", r.text().await.unwrap());
        r.json::<Value>().await.unwrap()["session_token"].as_str().unwrap().to_owned()
    }

    /// Registers and verifies `email`; returns its UID.
    pub async fn verified_account(&self, email: &str) -> String {
        assert_eq!(self.register(email).await.status(), StatusCode::ACCEPTED);
        let mail = self.wait_for_mail(email, "Confirm your email address").await;
        let token = link_token(&mail.text_body, "/verify-email/");
        let r = self.post_json("/api/v1/auth/verify-email", json!({"token": token})).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()["uid"].as_str().unwrap().to_owned()
    }

    /// Waits (bounded) for the outbox worker to deliver a message with this subject to the dev mailbox.
    /// Moves the account of the stepped-up session `token` to `to`: the request, then the link
    /// from the confirmation mail to the new address.
    pub async fn change_email(&self, token: &str, to: &str) {
        let body = serde_json::json!({ "email": to });
        let r = self
            .http
            .post(self.url("/api/v1/security/email"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let confirm = self.wait_for_mail(to, "Confirm your new email address").await;
        let token = link_token(&confirm.text_body, "/confirm-email-change/");
        let r = self.post_json("/api/v1/security/email/confirm", serde_json::json!({ "token": token })).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    pub async fn wait_for_mail(&self, to: &str, subject: &str) -> DevMail {
        for _ in 0..250 {
            let mail = self.store.dev_mail(100).await.unwrap();
            if let Some(m) = mail.into_iter().find(|m| m.recipient == to && m.subject == subject) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no mail {subject:?} to {to}");
    }

    pub async fn mails_to(&self, to: &str) -> Vec<DevMail> {
        self.store.dev_mail(100).await.unwrap().into_iter().filter(|m| m.recipient == to).collect()
    }
}

/// The token that follows `prefix` in a mail body.
pub fn link_token(body: &str, prefix: &str) -> String {
    let start = body.find(prefix).unwrap_or_else(|| panic!("no {prefix} link in {body}")) + prefix.len();
    body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

pub async fn problem(r: Response) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body: Value = r.json().await.unwrap();
    assert_eq!(ct, "application/problem+json", "{body}");
    assert!(body["type"].as_str().unwrap().starts_with("urn:custos:problem:"), "{body}");
    assert_eq!(body["status"].as_u64().unwrap(), u64::from(status.as_u16()));
    (status, body)
}

pub fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()))
}

/// A test peer written in Python (tests/python/), run as its own process on a free port:
/// `SCRIPT 0 ARG0 LOG ARG1…` — the first extra argument goes before the log path, as the
/// scripts expect. Each logs one JSON line per request it got. Killed on drop.
pub struct PythonServer {
    child: std::process::Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

impl PythonServer {
    /// Starts `script` on a port the kernel picks (the script prints it), so concurrent tests
    /// never race for one.
    pub async fn start(script: &str, args: &[&str]) -> Self {
        // One log per server: `with_extension` on `name.py-<uuid>` would replace `py-<uuid>` and
        // give every concurrent test the same file.
        let log = temp_path(script.trim_end_matches(".py")).with_extension("jsonl");
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python").join(script);
        let (first, rest) = args.split_first().expect("a secret comes first");
        let mut child = std::process::Command::new("python3")
            .arg(path)
            .arg("0")
            .arg(first)
            .arg(&log)
            .args(rest)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 is needed for these tests");
        let stdout = child.stdout.take().unwrap();
        // The first line is the port; a script that fails to start closes its output instead.
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).map(|_| line)
        })
        .await
        .unwrap();
        let Some(port) = line.ok().and_then(|l| l.trim().parse().ok()) else {
            let _ = child.kill();
            panic!("{script} did not start: is standardwebhooks installed? (scripts/test installs it)");
        };
        Self { child, port, log }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn logged(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (bounded) until the server has logged `n` requests.
    pub async fn requests(&self, n: usize) -> Vec<Value> {
        for _ in 0..250 {
            let lines = self.logged();
            if lines.len() >= n {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{} logged fewer than {n} requests", self.log.display());
    }
}
