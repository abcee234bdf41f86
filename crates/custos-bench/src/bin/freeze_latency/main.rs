//! Freeze latency (issue 5's goal): p50 and p99 of freezing an account that holds 50 sessions,
//! 10 API keys and 20 pending withdrawals — the whole use case, one transaction — against one
//! durable single-row commit, measured interleaved in the same run so the shared machine's load
//! falls on both. Goal: the freeze takes at most 3× the commit.
//!
//! Two single-row commits are timed before each freeze. C is `custos-bench`'s figure C: a one-row
//! upsert that answers its row (one trip to the store, `BEGIN IMMEDIATE` riding with it), then
//! `COMMIT` (a second trip). C1 is the cheapest durable one-row commit the store makes: deleting
//! the row C wrote, a write nobody waits for, which rides with `COMMIT` in one trip. The goal is
//! judged against C1, the stricter; the ratio to C is printed as earlier sessions reported it.
//!
//! Each freeze gets a fresh account, prepared (in one transaction of its own) outside the timing;
//! the work a freeze leaves for after its commit (the incident's facts, its emails) ends before the
//! next sample.
//!
//! On SQLite two more rows say what the disk alone charges (`IoFloor`): C1's two WAL frames and
//! the freeze's 22, each written as SQLite writes a frame into a file beside the database and then
//! synced, between C1 and the freeze of every round. Where the two cost the same, the freeze's
//! distance from C1 is its own work (SQL, Rust, hand-offs to SQLite's thread), not its pages.
//!
//! `cargo run --release -p custos-bench --bin freeze_latency -- --freezes 200 [--postgres URL]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Parser;
use custos_core::Clock;
use custos_core::api_key::{ApiKeyId, IpAllowlist, KeyKind, Scopes};
use custos_core::clock::SystemClock;
use custos_core::crypto::{BearerToken, new_security_stamp};
use custos_core::ids::{AccountId, DeviceId, SessionId, Uid, WithdrawalId};
use custos_core::ledger::{Balance, Delta, EntryKind, Signed};
use custos_core::login::AccountStatus;
use custos_core::money::Amount;
use custos_core::session::Aal;
use custos_core::withdrawal::WithdrawalState;
use custos_server::config::RawConfig;
use custos_server::state::AppState;
use custos_server::usecases::freeze;
use custos_server::{Application, Config, Overrides};
use custos_store::testing::TempDir;
use custos_store::*;

#[derive(Debug, Parser)]
#[command(name = "freeze_latency", about = "Freeze latency against one durable commit, same run.")]
struct Args {
    /// How many freezes (and as many commits) to time.
    #[arg(long, default_value_t = 200)]
    freezes: usize,
    /// Runs on PostgreSQL (a fresh schema) instead of SQLite.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// SQLite only: before the last freeze, checkpoint the WAL; after it (and its after-commit
    /// work), copy the database and its WAL into DIR, so `scripts/wal_pages.py DIR` can say which
    /// tables and indexes the freeze's commit wrote, page by page.
    #[arg(long, value_name = "DIR")]
    wal_copy: Option<std::path::PathBuf>,
    /// Meanwhile, another account's session is touched (its last-seen time written, as every
    /// signed-in request does now and then) this many times a second, outside any transaction:
    /// the freeze then shares the store with other customers' writes.
    #[arg(long, default_value_t = 0)]
    touches_per_second: u32,
    /// SQLite only: the WAL frames the freeze's commit writes (`scripts/wal_pages.py` after
    /// `--wal-copy` counts them), for the I/O floor rows.
    #[arg(long, default_value_t = 22)]
    freeze_pages: usize,
    /// SQLite only: after the freezes, as many rounds of the SQL floor (`sql_floor.rs`): the
    /// freeze's statements and C1's run in this thread through rusqlite, with nothing around them.
    #[arg(long)]
    sql_floor: bool,
}

mod io_floor;
mod sql_floor;

use io_floor::IoFloor;

/// The WAL frames C1's commit writes (the throttle row's table leaf and its key's index).
const C1_PAGES: usize = 2;

const SESSIONS: usize = 50;
const KEYS: usize = 10;
const WITHDRAWALS: usize = 20;

/// The allocator `custos serve` runs with (see `crates/custos/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    if let Ok(filter) = std::env::var("CUSTOS_BENCH_LOG") {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).init();
    }
    anyhow::ensure!(args.freezes >= 10, "--freezes must be at least 10");
    let (store, dir) = match &args.postgres {
        Some(url) => (custos_store::testing::fresh_postgres(url).await?, TempDir::new()),
        None => custos_store::testing::fresh_sqlite().await?,
    };
    let (_app, state) = app_on(&store, &dir).await?;

    let toucher = match args.touches_per_second {
        0 => None,
        n => Some(touch_in_background(&store, n).await?),
    };
    let mut commits = Vec::with_capacity(args.freezes);
    let mut cheapest = Vec::with_capacity(args.freezes);
    let mut freezes = Vec::with_capacity(args.freezes);
    let mut settled = Vec::with_capacity(args.freezes);
    anyhow::ensure!(!(args.sql_floor && args.postgres.is_some()), "--sql-floor is SQLite's");
    let mut last_frozen = None;
    let mut floor = match &args.postgres {
        Some(_) => None,
        None => Some(IoFloor::new(dir.path(), args.freeze_pages)?),
    };
    // A few unrecorded rounds first: connections, statement caches, the file's first pages.
    for i in 0..args.freezes + 5 {
        let account = prepare(&store).await?;
        let c = timed_commit(&store).await?;
        let c1 = timed_cheapest_commit(&store).await?;
        if let Some(floor) = &mut floor {
            floor.sample(i >= 5)?;
        }
        let last = i + 1 == args.freezes + 5;
        if last && args.wal_copy.is_some() {
            store.execute_unchecked_for_tests("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
        let t = Instant::now();
        let (f, receipt) = timed_freeze(&state, account).await?;
        last_frozen = Some((account, receipt));
        // The work the freeze leaves for after its commit (the incident's facts from the
        // diagnosis, the emails delivered) finishes before the next sample, so no sample pays for
        // the one before it.
        settle(&store, account).await?;
        let s = t.elapsed();
        if let (true, Some(to)) = (last, &args.wal_copy) {
            std::fs::create_dir_all(to)?;
            for file in ["custos.db", "custos.db-wal"] {
                std::fs::copy(dir.path().join(file), to.join(file))?;
            }
        }
        if i >= 5 {
            commits.push(c);
            cheapest.push(c1);
            freezes.push(f);
            settled.push(s);
        }
    }
    let mut sql_floor = match (args.sql_floor, last_frozen) {
        (true, Some((frozen, receipt))) => {
            Some(run_sql_floor(&store, &dir, frozen, receipt, args.freezes).await?)
        }
        _ => None,
    };
    let mut touches = match toucher {
        Some((task, stop)) => {
            let _ = stop.send(());
            task.await?
        }
        None => Vec::new(),
    };
    let backend = if args.postgres.is_some() {
        "PostgreSQL (synchronous commit)"
    } else {
        "SQLite (WAL, synchronous=FULL)"
    };
    let (c50, c99) = (percentile(&mut commits, 50.0), percentile(&mut commits, 99.0));
    let (k50, k99) = (percentile(&mut cheapest, 50.0), percentile(&mut cheapest, 99.0));
    let (f50, f99) = (percentile(&mut freezes, 50.0), percentile(&mut freezes, 99.0));
    let (s50, s99) = (percentile(&mut settled, 50.0), percentile(&mut settled, 99.0));
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let meanwhile = match args.touches_per_second {
        0 => String::new(),
        n => format!("; meanwhile another account's session is touched {n} times a second"),
    };
    println!(
        "freeze_latency — store: {backend}; {} freezes of an account with {SESSIONS} sessions, {KEYS} API keys and \
         {WITHDRAWALS} pending withdrawals, each after two durable single-row commits (C, then C1){meanwhile}\n",
        args.freezes
    );
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "| Figure | p50 | p99 | p50 ratio to C1 | p99 ratio to C1 | p50 ratio to C | p99 ratio to C | Goal |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    println!(
        "| C1: the cheapest durable single-row commit (one trip on SQLite) | {:.2} ms | {:.2} ms | 1.00 | 1.00 | {:.2} | {:.2} | |",
        ms(k50),
        ms(k99),
        ratio(k50, c50),
        ratio(k99, c99)
    );
    println!(
        "| C: one durable single-row upsert answering its row (two trips on SQLite) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | 1.00 | 1.00 | |",
        ms(c50),
        ms(c99),
        ratio(c50, k50),
        ratio(c99, k99)
    );
    let (r50, r99) = (ratio(f50, k50), ratio(f99, k99));
    println!(
        "| freeze (use case, one transaction) | {:.2} ms | {:.2} ms | {r50:.2} | {r99:.2} | {:.2} | {:.2} | ≤ 3× C1 ({}) |",
        ms(f50),
        ms(f99),
        ratio(f50, c50),
        ratio(f99, c99),
        match (r50 <= 3.0, r99 <= 3.0) {
            (true, true) => "met",
            (true, false) => "met at p50, missed at p99",
            (false, true) => "missed at p50, met at p99",
            (false, false) => "missed",
        }
    );
    println!(
        "| freeze, then its after-commit work: the incident's facts, the emails (not the freeze's latency) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | {:.2} | {:.2} | |",
        ms(s50),
        ms(s99),
        ratio(s50, k50),
        ratio(s99, k99),
        ratio(s50, c50),
        ratio(s99, c99),
    );
    if let Some(floor) = &mut floor {
        for (pages, times, what) in [
            (C1_PAGES, &mut floor.small, "C1's commit"),
            (args.freeze_pages, &mut floor.large, "the freeze's commit"),
        ] {
            let (i50, i99) = (percentile(times, 50.0), percentile(times, 99.0));
            println!(
                "| I/O floor: {pages} WAL-sized frames written and synced as {what} writes them, no SQLite (not part of the goal) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | {:.2} | {:.2} | |",
                ms(i50),
                ms(i99),
                ratio(i50, k50),
                ratio(i99, k99),
                ratio(i50, c50),
                ratio(i99, c99),
            );
        }
    }
    if let Some(f) = &mut sql_floor {
        let (k50, k99) = (percentile(&mut f.c1, 50.0), percentile(&mut f.c1, 99.0));
        println!(
            "| SQL floor, C1: its statement and `COMMIT` in-process (rusqlite, no worker thread; not the goal's C1) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | | | |",
            ms(k50),
            ms(k99),
            ratio(k50, percentile(&mut cheapest, 50.0)),
            ratio(k99, percentile(&mut cheapest, 99.0)),
        );
        for (times, frames, what) in [
            (&mut f.whole, f.frames.0, "the freeze's statements, as the store sends them, in-process"),
            (&mut f.core, f.frames.1, "the core only: no receipt in the record, no outbox messages"),
        ] {
            let (w50, w99) = (percentile(times, 50.0), percentile(times, 99.0));
            println!(
                "| SQL floor, freeze: {what}; {frames} WAL frames (ratios to the SQL floor's C1) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | | | |",
                ms(w50),
                ms(w99),
                ratio(w50, k50),
                ratio(w99, k99),
            );
        }
    }
    if let Some(f) = &mut sql_floor {
        let (k50, k99) = (percentile(&mut f.c1, 50.0), percentile(&mut f.c1, 99.0));
        let (r50, r99) = (percentile(&mut f.rust, 50.0), percentile(&mut f.rust, 99.0));
        println!(
            "| Rust floor: the plan, the receipt, the `AccountFrozen` record's canonical encoding and hash (core's functions; ratios to the SQL floor's C1) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | | | |",
            ms(r50),
            ms(r99),
            ratio(r50, k50),
            ratio(r99, k99),
        );
        let (w50, w99) = (percentile(&mut f.whole, 50.0), percentile(&mut f.whole, 99.0));
        println!(
            "| in-process lower bound: the SQL floor's freeze plus the Rust floor (ratios to the SQL floor's C1) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | | | |",
            ms(w50 + r50),
            ms(w99 + r99),
            ratio(w50 + r50, k50),
            ratio(w99 + r99, k99),
        );
    }
    if let Some(f) = &sql_floor {
        println!("\nThe SQL floor's whole freeze, step by step (p50 of each step over the kept rounds):\n");
        println!("| Step | p50 |\n|---|---:|");
        for (i, what) in sql_floor::STEPS.iter().enumerate() {
            let mut times: Vec<Duration> = f.steps.iter().map(|s| s[i]).collect();
            println!("| {what} | {:.0} µs |", percentile(&mut times, 50.0).as_secs_f64() * 1e6);
        }
    }
    if !touches.is_empty() {
        let (t50, t99) = (percentile(&mut touches, 50.0), percentile(&mut touches, 99.0));
        println!(
            "| meanwhile: another account's session touched ({} touches; not part of the goal) | {:.2} ms | {:.2} ms | {:.2} | {:.2} | {:.2} | {:.2} | |",
            touches.len(),
            ms(t50),
            ms(t99),
            ratio(t50, k50),
            ratio(t99, k99),
            ratio(t50, c50),
            ratio(t99, c99),
        );
    }
    if args.postgres.is_some() {
        store
            .execute_unchecked_for_tests(
                "DO $$ BEGIN EXECUTE 'DROP SCHEMA ' || quote_ident(current_schema()) || ' CASCADE'; END $$",
            )
            .await
            .ok();
    }
    Ok(())
}

/// The application on `store`, as `custos serve` builds it, with its data directory in `dir`.
async fn app_on(store: &Store, dir: &TempDir) -> anyhow::Result<(Application, AppState)> {
    let config = Config::from_raw(
        RawConfig { data_dir: Some(dir.path().display().to_string()), ..Default::default() },
        Overrides { listen: Some("127.0.0.1:0".into()), ..Default::default() },
    )?;
    let app = Application::build_with_store(config, Arc::new(SystemClock), store.clone()).await?;
    let state = app.state().clone();
    Ok((app, state))
}

/// The SQL floor's rounds, after the main loop: every account prepared first (through the store),
/// then `rounds` + 5 rounds of C1, the whole freeze and its core, in-process.
async fn run_sql_floor(
    store: &Store,
    dir: &TempDir,
    frozen: AccountId,
    receipt: custos_core::freeze::FreezeReceipt,
    rounds: usize,
) -> anyhow::Result<sql_floor::SqlFloor> {
    let mut accounts = Vec::with_capacity(2 * (rounds + 5));
    for _ in 0..2 * (rounds + 5) {
        accounts.push(prepare(store).await?);
    }
    let db = dir.path().join("custos.db");
    tokio::task::spawn_blocking(move || {
        let mut floor = sql_floor::SqlFloor::open(&db, frozen, &receipt)?;
        for (i, pair) in accounts.chunks_exact(2).enumerate() {
            floor.round(pair[0], pair[1], i >= 5)?;
        }
        Ok(floor)
    })
    .await?
}

/// Touches a session of an account of its own `per_second` times a second until aborted (see
/// `Args::touches_per_second`).
/// Answers each touch's time when stopped.
async fn touch_in_background(
    store: &Store,
    per_second: u32,
) -> anyhow::Result<(tokio::task::JoinHandle<Vec<Duration>>, tokio::sync::oneshot::Sender<()>)> {
    let bystander = prepare(store).await?;
    let session =
        store.sessions(bystander, 1).await?.first().map(|s| s.id).ok_or_else(|| anyhow!("no session"))?;
    let store = store.clone();
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    Ok((
        tokio::spawn(async move {
            let mut times = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_second)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return times,
                }
                let t = Instant::now();
                match store.touch_session(session, SystemClock.now()).await {
                    Ok(()) => times.push(t.elapsed()),
                    Err(e) => eprintln!("touching the bystander's session failed: {e}"),
                }
            }
        }),
        stop,
    ))
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let rank = ((p / 100.0) * (v.len() as f64)).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

async fn timed_commit(store: &Store) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut tx = store.begin().await?;
    tx.record_failure("bench:commit", SystemClock.now(), Duration::from_secs(60)).await?;
    tx.commit().await?;
    Ok(t.elapsed())
}

/// C1: deletes the row `timed_commit` just wrote — a one-row change nobody waits for, sent with
/// `COMMIT` in one trip.
async fn timed_cheapest_commit(store: &Store) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mut tx = store.begin().await?;
    tx.clear_throttle("bench:commit").await?;
    tx.commit().await?;
    Ok(t.elapsed())
}

async fn timed_freeze(
    state: &AppState,
    account: AccountId,
) -> anyhow::Result<(Duration, custos_core::freeze::FreezeReceipt)> {
    let t = Instant::now();
    let f =
        freeze::by_policy(state, account, "bench", "benchmark").await.map_err(|e| anyhow!("freeze: {e}"))?;
    let elapsed = t.elapsed();
    anyhow::ensure!(
        f.receipt.sessions_revoked.len() == SESSIONS
            && f.receipt.api_keys_revoked.len() == KEYS
            && f.receipt.withdrawals_cancelled.len() == WITHDRAWALS,
        "the freeze did not find the prepared account's credentials and withdrawals"
    );
    Ok((elapsed, f.receipt))
}

/// Waits until the freeze's incident has its facts (filled by a task the freeze spawns after it
/// commits) and the outbox has delivered its emails.
async fn settle(store: &Store, account: AccountId) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cases = store.incidents_of(account).await?;
        if cases.iter().any(|c| c.facts_filled_at.is_some()) && store.outbox_pending(1).await?.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the freeze's after-commit work did not end within 10 s");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

/// A fresh account with 50 live sessions, 10 live API keys and 20 withdrawals awaiting
/// confirmation (their amounts reserved), written in one transaction.
async fn prepare(store: &Store) -> anyhow::Result<AccountId> {
    let now = SystemClock.now();
    let id = AccountId::new();
    let stamp = new_security_stamp();
    let mut tx = store.begin().await?;
    tx.insert_account(&AccountRecord {
        id,
        uid: Uid::random(),
        email: format!("{}@bench.example", uuid_hex(id)),
        email_key: format!("{}@bench.example", uuid_hex(id)),
        email_verified_at: Some(now),
        phone: None,
        status: AccountStatus::Active,
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        security_stamp: stamp.clone(),
        anti_phishing_code: None,
        created_at: now,
        withdrawal_lock_until: None,
        withdrawal_lock_reason: None,
        phone_verified_at: None,
        sms_enabled_at: None,
    })
    .await?;
    let device = DeviceRecord {
        id: DeviceId::new(),
        account_id: id,
        key_hash: BearerToken::generate().hash(),
        user_agent: "bench".into(),
        first_seen_at: now,
        last_seen_at: now,
        last_ip: Some("203.0.113.9".parse()?),
    };
    tx.insert_device(&device).await?;
    for _ in 0..SESSIONS {
        tx.insert_session(&SessionRecord {
            id: SessionId::new(),
            account_id: id,
            token_hash: BearerToken::generate().hash(),
            device_id: device.id,
            ip: Some("203.0.113.9".parse()?),
            user_agent: "bench".into(),
            aal: Aal::Aal1,
            authenticated_at: now,
            stepped_up_at: None,
            created_at: now,
            last_seen_at: now,
            stamp_at_issue: stamp.clone(),
            revoked_at: None,
            revoke_reason: None,
        })
        .await?;
    }
    for _ in 0..KEYS {
        tx.insert_api_key(&ApiKeyRecord {
            id: ApiKeyId::generate(),
            account_id: id,
            label: "bench".into(),
            kind: KeyKind::Ed25519,
            public_key: Some(vec![7; 32]),
            secret_sealed: None,
            scopes: Scopes::parse(&["read"]).map_err(|_| anyhow!("scopes"))?,
            ip_allowlist: IpAllowlist::parse::<&str>(&[]).map_err(|_| anyhow!("allowlist"))?,
            created_at: now,
            valid_until: now.plus(Duration::from_secs(86_400)),
            revoked_at: None,
            revoke_reason: None,
            last_used_at: None,
            last_used_ip: None,
            created_by_session: None,
            created_ip: None,
        })
        .await?;
    }
    let (amount, fee) = (Amount::from_atomic(1_000_000), Amount::from_atomic(1_000));
    let total = amount.checked_add(fee).ok_or_else(|| anyhow!("overflow"))?;
    let locked = Amount::from_atomic(total.atomic() * WITHDRAWALS as u128);
    tx.lock_balance(id, "BTC", now).await?;
    let balance = Balance { available: Amount::from_atomic(100_000_000), locked };
    let entry = NewEntry {
        kind: EntryKind::Deposit,
        delta: Delta { available: Signed::Plus(balance.available), locked: Signed::Plus(locked) },
        reference: Some("bench"),
    };
    tx.write_balance(id, "BTC", balance, entry, now).await?;
    for _ in 0..WITHDRAWALS {
        tx.insert_withdrawal(&WithdrawalRecord {
            id: WithdrawalId::new(),
            account_id: id,
            asset: "BTC".into(),
            network: "BTC".into(),
            address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4".into(),
            memo: None,
            amount,
            fee,
            state: WithdrawalState::AwaitingConfirmation,
            hold_until: None,
            hold_reasons: None,
            txid: None,
            requested_via: RequestedVia::Session,
            session_id: None,
            api_key_id: None,
            device_id: Some(device.id),
            ip: None,
            idempotency_key: None,
            created_at: now,
            confirmed_at: None,
            queued_at: None,
            processing_at: None,
            broadcast_at: None,
            completed_at: None,
            cancelled_at: None,
            cancelled_by: None,
            intercept: None,
            failure: None,
            updated_at: now,
        })
        .await?;
    }
    tx.commit().await?;
    Ok(id)
}

fn uuid_hex(id: AccountId) -> String {
    id.as_uuid().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The floor runs the store's own statements: if the freeze's SQL changes, the floor must still
    /// change exactly the account and its withdrawals, write the whole receipt and count its
    /// frames, or this fails (the figures themselves are the benchmark's, not a test's).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sql_floor_replays_a_real_freeze_with_the_store_s_statements() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (store, dir) = custos_store::testing::fresh_sqlite().await.unwrap();
        let (_app, state) = app_on(&store, &dir).await.unwrap();
        let account = prepare(&store).await.unwrap();
        let (_, receipt) = timed_freeze(&state, account).await.unwrap();
        settle(&store, account).await.unwrap();
        let floor = run_sql_floor(&store, &dir, account, receipt, 2).await.unwrap();
        assert_eq!((floor.c1.len(), floor.whole.len(), floor.core.len(), floor.rust.len()), (2, 2, 2, 2));
        assert_eq!(floor.steps.len(), 2);
        let (whole, core) = floor.frames;
        assert!(
            core > 0 && whole > core,
            "the whole freeze writes more frames than its core: {whole} vs {core}"
        );
    }
}
