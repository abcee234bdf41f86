//! custos-bench: the benchmark harness. One process, one run: every figure is reported as a ratio
//! against a baseline measured in the same run on the same machine, because absolute numbers on a
//! shared machine mean little. See `BENCHMARKS.md` at the repository root.
//!
//! Baselines: raw Argon2id verifications (A), a bare axum handler doing one indexed store read (B),
//! one durable commit (C). Measured against them: password login (vs A) and `GET /api/v1/me` (vs B).
//! Later issues add a key to [`GROUPS`] (next to what it is compared with), a branch to
//! [`measure`], and a row to [`rows`].

mod bare;
mod load;
mod report;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use axum::http::header;
use clap::Parser;
use custos_core::Clock;
use custos_core::clock::{SystemClock, parse_duration};
use custos_core::crypto::{BearerToken, TokenHash};
use custos_core::password::{HashCost, Password, PasswordHasher};
use custos_server::config::RawConfig;
use custos_server::usecases::{accounts::Registration, operator};
use custos_server::{Application, Config, Overrides};
use custos_store::Store;
use custos_store::testing::TempDir;
use tokio::sync::oneshot;

use load::{Outcome, Sample, Window};
use report::{Round, Row};

/// The allocator `custos serve` runs with (see `crates/custos/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "correct horse battery staple bench";
const DEVICE: &str = "bench-device";
/// The integration caller's service token (configured in the app under test).
const SERVICE_TOKEN: &str = "custos-bench-service-token-0123456789abcdef";

#[derive(Debug, Parser)]
#[command(
    name = "custos-bench",
    about = "Benchmarks custos against baselines measured in the same run; prints markdown tables."
)]
struct Args {
    /// Measured window of each measurement (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s", value_parser = duration)]
    duration: Duration,
    /// Unmeasured warm-up before each slice.
    #[arg(long, default_value = "250ms", value_parser = duration)]
    warmup: Duration,
    /// Slices each window is cut into, interleaved with the other members of its group.
    #[arg(long, default_value_t = 10)]
    slices: u32,
    /// Concurrent keep-alive HTTP clients (and concurrent store readers).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Repeats the whole sequence; values are medians over rounds, ratios medians of per-round ratios.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Runs the store-based measurements on PostgreSQL (a fresh schema, dropped afterwards) instead
    /// of SQLite, e.g. postgres://postgres@127.0.0.1:5432/postgres.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Runs only these measurements (comma-separated keys: argon2, login, bare_read, me, commit,
    /// argon2_reuse, bare_null, healthz, bare_two, store_read), e.g. to profile one of them.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Installs the log subscriber `custos serve` uses (`info,sqlx=warn`, text) writing to a sink,
    /// to price request logging. Off by default.
    #[arg(long)]
    log: bool,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration like 5s or 500ms"))
}

/// Everything the measurements share: the store, the real app, the bare server, signed-in clients.
struct Fixture {
    store: Store,
    _dir: TempDir,
    client: reqwest::Client,
    app: SocketAddr,
    bare: SocketAddr,
    /// One live session per client.
    tokens: Vec<String>,
    hash_workers: usize,
    hash_queue: usize,
    /// Baseline A's hasher and the hash it verifies, made like the app makes them.
    argon2: (Arc<PasswordHasher>, Arc<str>),
    /// Baseline A's threads: as many as the app's hash pool runs, alive for the whole run.
    crew: load::Crew,
    stops: Vec<oneshot::Sender<()>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // reqwest is built without a TLS provider of its own: name ring before anything builds a client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    anyhow::ensure!(args.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(args.slices >= 1, "--slices must be at least 1");
    let known: Vec<&str> = GROUPS.iter().flat_map(|g| g.iter().copied()).collect();
    if let Some(bad) = args.only.iter().find(|k| !known.contains(&k.as_str())) {
        anyhow::bail!("--only: unknown measurement {bad:?}; known: {}", known.join(", "));
    }
    if args.log {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info,sqlx=warn"))
            .with_writer(std::io::sink)
            .init();
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let fx = setup(&args).await?;
    if args.concurrency > fx.hash_workers + fx.hash_queue {
        eprintln!(
            "warning: {} clients exceed the hash pool's {} workers + {} queue: expect 503s on login",
            args.concurrency, fx.hash_workers, fx.hash_queue
        );
    }
    let window = Window { warmup: args.warmup, measure: args.duration };

    let mut rounds = Vec::with_capacity(args.rounds);
    for n in 1..=args.rounds {
        eprintln!("round {n}/{}", args.rounds);
        rounds.push(measure_round(&fx, &args.only, window, args.slices).await?);
    }

    let backend = match &args.postgres {
        Some(_) => "PostgreSQL (synchronous commit)",
        None => "SQLite (WAL, synchronous=FULL)",
    };
    let (main_rows, diag_rows) = rows(fx.hash_workers, args.concurrency);
    let all: Vec<Row> = main_rows.iter().chain(&diag_rows).cloned().collect();
    let cost = HashCost::default();
    println!(
        "custos-bench — store: {backend}; {cores} cores; Argon2id m={} KiB t={} p={}; hash pool {} workers + {} queue; \
         {} clients; {}s measured per figure in {} interleaved slices, each after {}s warm-up; {} round(s){}\n",
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        fx.hash_workers,
        fx.hash_queue,
        args.concurrency,
        args.duration.as_secs_f64(),
        args.slices,
        args.warmup.as_secs_f64(),
        args.rounds,
        if args.log { "; request logging on" } else { "" },
    );
    println!("{}", report::ratios_table(&main_rows, &all, &rounds));
    println!("Diagnostics (where the time goes):\n");
    println!("{}", report::ratios_table(&diag_rows, &all, &rounds));
    println!("Counts and latency:\n");
    println!("{}", report::details_table(&all, &rounds));

    teardown(fx, args.postgres.is_some()).await;
    Ok(())
}

/// The rows of the two tables: the goals, then the decomposition that explains them.
fn rows(hash_threads: usize, clients: usize) -> (Vec<Row>, Vec<Row>) {
    let row = |key, name: &str, unit, baseline, goal, drivers| Row {
        key,
        name: name.to_owned(),
        unit,
        baseline,
        goal,
        drivers,
    };
    let main = vec![
        row("argon2", "A: raw Argon2id verify", "verifications/s", None, None, hash_threads),
        row("login", "POST /api/v1/auth/login", "req/s", Some("argon2"), Some(0.90), clients),
        row("bare_read", "B: bare axum handler, one indexed store read", "req/s", None, None, clients),
        row("me", "GET /api/v1/me", "req/s", Some("bare_read"), Some(0.70), clients),
        row(
            "authorize",
            "POST /api/v1/integration/authorize (session, trade)",
            "req/s",
            Some("bare_read"),
            Some(0.70),
            clients,
        ),
        row("commit", "C: one durable commit (single writer)", "commits/s", None, None, 1),
    ];
    let diag = vec![
        row(
            "argon2_reuse",
            "Argon2id, same cost, into reused memory (no allocation per hash)",
            "hashes/s",
            Some("argon2"),
            None,
            hash_threads,
        ),
        row(
            "bare_null",
            "bare axum handler, no store read (HTTP + client floor)",
            "req/s",
            None,
            None,
            clients,
        ),
        row(
            "healthz",
            "GET /healthz through the app's full middleware stack",
            "req/s",
            Some("bare_null"),
            None,
            clients,
        ),
        row(
            "bare_two",
            "bare axum handler, the two reads /me does (session + account)",
            "req/s",
            Some("bare_read"),
            None,
            clients,
        ),
        row("me", "GET /api/v1/me", "req/s", Some("bare_two"), None, clients),
        row("store_read", "session_with_account called directly, no HTTP", "reads/s", None, None, clients),
    ];
    (main, diag)
}

/// The groups of a round. The measurements of a group are compared with one another, so they run
/// interleaved: the window is cut into slices, and each slice runs every member, in forward order
/// on even slices and backward on odd ones (A B, B A, A B, …). A change in the machine's load —
/// it is shared — then falls on baseline and subject alike instead of on whichever ran second.
const GROUPS: &[&[&str]] = &[
    &["argon2", "login", "argon2_reuse"],
    &["bare_read", "me", "bare_two", "authorize"],
    &["bare_null", "healthz"],
    &["store_read"],
    &["commit"],
];

/// One pass over every measurement (or those named by `--only`).
async fn measure_round(fx: &Fixture, only: &[String], w: Window, slices: u32) -> anyhow::Result<Round> {
    let wanted = |key: &str| only.is_empty() || only.iter().any(|o| o == key);
    let slice = Window { warmup: w.warmup, measure: w.measure / slices };
    let mut round = Round::new();
    for group in GROUPS {
        let keys: Vec<&'static str> = group.iter().copied().filter(|k| wanted(k)).collect();
        let mut acc: Vec<Option<Sample>> = vec![None; keys.len()];
        for n in 0..slices {
            let order: Vec<usize> =
                if n % 2 == 0 { (0..keys.len()).collect() } else { (0..keys.len()).rev().collect() };
            for i in order {
                let s = measure(fx, keys[i], slice).await?;
                acc[i] = Some(match acc[i].take() {
                    Some(prev) => prev.combine(s),
                    None => s,
                });
            }
        }
        for (key, s) in keys.into_iter().zip(acc) {
            let Some(s) = s else { continue };
            eprintln!(
                "  {key:<12} {:>10.1}/s  ok={} non-2xx={} errors={} cpu-ms/op={:.3} page-faults/op={:.1}",
                s.rate(),
                s.ok,
                s.non_2xx,
                s.errors,
                s.cpu_ms_per_op().unwrap_or(0.0),
                s.faults_per_op().unwrap_or(0.0)
            );
            round.insert(key, s);
        }
    }
    Ok(round)
}

/// Runs one measurement for one window, counting the process's page faults and CPU time meanwhile.
async fn measure(fx: &Fixture, key: &str, w: Window) -> anyhow::Result<Sample> {
    let before = load::ProcStat::now();
    let mut s = measure_only(fx, key, w).await?;
    let after = load::ProcStat::now();
    s.faults = after.minor_faults.saturating_sub(before.minor_faults);
    s.cpu = after.cpu.saturating_sub(before.cpu);
    Ok(s)
}

async fn measure_only(fx: &Fixture, key: &str, w: Window) -> anyhow::Result<Sample> {
    let clients = fx.tokens.len();
    Ok(match key {
        // A: raw Argon2id at the server's cost, on as many threads as the hash pool runs.
        "argon2" => {
            let (hasher, phc) = fx.argon2.clone();
            let pw = Password::new(PASSWORD.into());
            fx.crew.run(w, Arc::new(move || hasher.verify(&pw, Some(&phc)))).await
        }
        // Argon2id at the same cost, into memory each thread keeps (no allocation per hash).
        "argon2_reuse" => {
            let params = argon2::Params::new(
                HashCost::default().memory_kib,
                HashCost::default().iterations,
                HashCost::default().parallelism,
                Some(32),
            )
            .map_err(|e| anyhow!("{e}"))?;
            let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let salt = *b"custos-bench-salt";
            let mut expected = [0u8; 32];
            let mut blocks = vec![argon2::Block::new(); a.params().block_count()];
            a.hash_password_into_with_memory(PASSWORD.as_bytes(), &salt, &mut expected, &mut blocks)
                .map_err(|e| anyhow!("{e}"))?;
            drop(blocks);
            fx.crew
                .run(
                    w,
                    Arc::new(move || {
                        thread_local! {
                            static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
                                const { std::cell::RefCell::new(Vec::new()) };
                        }
                        BLOCKS.with_borrow_mut(|blocks| {
                            blocks.resize(a.params().block_count(), argon2::Block::new());
                            let mut out = [0u8; 32];
                            a.hash_password_into_with_memory(
                                PASSWORD.as_bytes(),
                                &salt,
                                &mut out,
                                &mut blocks[..],
                            )
                            .is_ok()
                                && out == expected
                        })
                    }),
                )
                .await
        }
        // The real app, correct password, known device.
        "login" => {
            let body = serde_json::json!({ "email": EMAIL, "password": PASSWORD }).to_string();
            let url = format!("http://{}/api/v1/auth/login", fx.app);
            let c = fx.client.clone();
            load::closed_loop(clients, w, move |_| {
                load::http(
                    c.post(&url)
                        .header(header::CONTENT_TYPE, "application/json")
                        .header("x-custos-device", DEVICE)
                        .body(body.clone()),
                )
            })
            .await
        }
        "bare_null" => get_loop(fx, w, fx.bare, "/null").await,
        "healthz" => get_loop(fx, w, fx.app, "/healthz").await,
        "bare_read" => get_loop(fx, w, fx.bare, "/session").await,
        "me" => get_loop(fx, w, fx.app, "/api/v1/me").await,
        "bare_two" => get_loop(fx, w, fx.bare, "/session-and-account").await,
        // The gateway's question for each client's session, with the service token.
        "authorize" => {
            let url = format!("http://{}/api/v1/integration/authorize", fx.app);
            let c = fx.client.clone();
            let bodies: Arc<Vec<String>> = Arc::new(
                fx.tokens
                    .iter()
                    .map(|t| serde_json::json!({ "action": "trade", "session_token": t }).to_string())
                    .collect(),
            );
            load::closed_loop(clients, w, move |i| {
                load::http(
                    c.post(&url)
                        .header(header::AUTHORIZATION, format!("Bearer {SERVICE_TOKEN}"))
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(bodies[i % bodies.len()].clone()),
                )
            })
            .await
        }
        // The store read alone, no HTTP.
        "store_read" => {
            let hashes: Arc<Vec<TokenHash>> =
                Arc::new(fx.tokens.iter().filter_map(|t| BearerToken::parse(t).map(|t| t.hash())).collect());
            let store = fx.store.clone();
            load::closed_loop(clients, w, move |i| {
                let store = store.clone();
                let hashes = hashes.clone();
                async move {
                    match store.session_with_account(&hashes[i % hashes.len()]).await {
                        Ok(Some(_)) => Outcome::Ok,
                        Ok(None) => Outcome::Non2xx,
                        Err(_) => Outcome::Error,
                    }
                }
            })
            .await
        }
        // C: one durable commit of one small write, single writer.
        "commit" => {
            let store = fx.store.clone();
            load::closed_loop(1, w, move |_| {
                let store = store.clone();
                async move {
                    let result = async {
                        let mut tx = store.begin().await?;
                        tx.record_failure("bench:commit", SystemClock.now(), Duration::from_secs(60)).await?;
                        tx.commit().await
                    }
                    .await;
                    match result {
                        Ok(()) => Outcome::Ok,
                        Err(_) => Outcome::Error,
                    }
                }
            })
            .await
        }
        other => anyhow::bail!("unknown measurement {other:?}"),
    })
}

/// `GET` with each client's own session token.
async fn get_loop(fx: &Fixture, w: Window, addr: SocketAddr, path: &str) -> Sample {
    let clients = fx.tokens.len();
    let url = format!("http://{addr}{path}");
    let c = fx.client.clone();
    let auth: Arc<Vec<String>> = Arc::new(fx.tokens.iter().map(|t| format!("Bearer {t}")).collect());
    load::closed_loop(clients, w, move |i| {
        load::http(c.get(&url).header(header::AUTHORIZATION, &auth[i % auth.len()]))
    })
    .await
}

async fn setup(args: &Args) -> anyhow::Result<Fixture> {
    let (store, dir) = match &args.postgres {
        Some(url) => (
            custos_store::testing::fresh_postgres(url)
                .await
                .with_context(|| format!("PostgreSQL at {url}"))?,
            TempDir::new(),
        ),
        None => custos_store::testing::fresh_sqlite().await?,
    };
    let mut config = Config::from_raw(
        RawConfig { data_dir: Some(dir.path().display().to_string()), ..Default::default() },
        Overrides { listen: Some("127.0.0.1:0".into()), ..Default::default() },
    )?;
    config.hash_cost = HashCost::default();
    config.money.service_tokens = vec![("custos-bench".into(), TokenHash::of(SERVICE_TOKEN.as_bytes()))];
    let (hash_workers, hash_queue) = (config.hash_workers, config.hash_queue);
    let hasher = PasswordHasher::new(config.hash_cost).map_err(|e| anyhow!("{e}"))?;
    let phc = hasher.hash(&Password::new(PASSWORD.into()));
    anyhow::ensure!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "unexpected PHC {phc}");

    let mut stops = Vec::new();
    let mut servers = Vec::new();

    let app = Application::build_with_store(config, Arc::new(SystemClock), store.clone()).await?;
    let app_addr = app.local_addr();
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    stops.push(stop);
    servers.push(tokio::spawn(async move {
        let _ = app
            .run_until(async {
                let _ = stopped.await;
            })
            .await;
    }));

    operator::create_account(
        &state,
        Registration { email: EMAIL.into(), password: Password::new(PASSWORD.into()), phone: None },
        "custos-bench",
    )
    .await
    .map_err(|e| anyhow!("create account: {e}"))?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    stops.push(stop);
    let bare = bare::router(store.clone());
    servers.push(tokio::spawn(async move {
        let _ = axum::serve(listener, bare)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    }));

    let client =
        reqwest::Client::builder().pool_max_idle_per_host(args.concurrency * 2).tcp_nodelay(true).build()?;

    // One session per client (the first login also makes `bench-device` a known device).
    let mut tokens = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let resp = client
            .post(format!("http://{app_addr}/api/v1/auth/login"))
            .header("x-custos-device", DEVICE)
            .json(&serde_json::json!({ "email": EMAIL, "password": PASSWORD }))
            .send()
            .await?;
        let status = resp.status();
        let v: serde_json::Value = resp.json().await?;
        let token = v["session_token"].as_str().ok_or_else(|| anyhow!("login failed with {status}: {v}"))?;
        tokens.push(token.to_owned());
    }
    // Both servers answer for every token before anything is measured.
    for (addr, path) in [(app_addr, "/api/v1/me"), (bare_addr, "/session")] {
        let resp = client.get(format!("http://{addr}{path}")).bearer_auth(&tokens[0]).send().await?;
        anyhow::ensure!(resp.status().is_success(), "{path} answered {}", resp.status());
    }

    Ok(Fixture {
        store,
        _dir: dir,
        client,
        app: app_addr,
        bare: bare_addr,
        tokens,
        hash_workers,
        hash_queue,
        argon2: (Arc::new(hasher), Arc::from(phc)),
        crew: load::Crew::new(hash_workers),
        stops,
        servers,
    })
}

async fn teardown(fx: Fixture, postgres: bool) {
    if postgres {
        // The schema was made for this run only.
        if let Err(e) = fx
            .store
            .execute_unchecked_for_tests(
                "DO $$ BEGIN EXECUTE 'DROP SCHEMA ' || quote_ident(current_schema()) || ' CASCADE'; END $$",
            )
            .await
        {
            eprintln!("warning: could not drop the benchmark's PostgreSQL schema: {e}");
        }
    }
    for stop in fx.stops {
        let _ = stop.send(());
    }
    for s in fx.servers {
        let _ = s.await;
    }
}
