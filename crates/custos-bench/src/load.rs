//! Measuring loops: closed-loop HTTP clients, Argon2 threads, direct store calls, commits.
//!
//! Every loop runs a warm-up, then a measured window; only operations that *complete* inside the
//! window count, so a rate is `completed in window / window length`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one measurement saw.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Successful operations (2xx for HTTP) completed inside the window.
    pub ok: u64,
    /// HTTP responses outside 2xx completed inside the window (503 from the hash queue, 401, …).
    pub non_2xx: u64,
    /// Transport or store errors inside the window.
    pub errors: u64,
    pub window: Duration,
    /// Every operation that finished, warm-up included (the denominator of `faults`).
    pub all_ops: u64,
    /// Minor page faults of the whole process while this ran (Linux; 0 elsewhere).
    pub faults: u64,
    /// CPU time (user + system) of the whole process while this ran, clients included.
    pub cpu: Duration,
    /// Latency of every successful operation in the window, microseconds (empty when not recorded).
    pub latencies_us: Vec<u32>,
}

impl Sample {
    pub fn rate(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 { self.ok as f64 / secs } else { 0.0 }
    }

    /// Latency percentile in milliseconds (`q` in 0..=1).
    pub fn percentile_ms(&self, q: f64) -> Option<f64> {
        if self.latencies_us.is_empty() {
            return None;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let i = ((v.len() - 1) as f64 * q).round() as usize;
        Some(f64::from(v[i]) / 1_000.0)
    }

    /// Two measurements of the same thing taken at different times, as one (windows add up).
    pub fn combine(mut self, other: Sample) -> Sample {
        self.window += other.window;
        self.merge(other);
        self
    }

    /// Process-wide minor page faults per operation: memory taken fresh from the kernel shows here.
    pub fn faults_per_op(&self) -> Option<f64> {
        (self.all_ops > 0 && self.faults > 0).then(|| self.faults as f64 / self.all_ops as f64)
    }

    /// Process CPU milliseconds per operation: separates "needs more CPU" from "got less CPU".
    pub fn cpu_ms_per_op(&self) -> Option<f64> {
        (self.all_ops > 0 && !self.cpu.is_zero())
            .then(|| self.cpu.as_secs_f64() * 1_000.0 / self.all_ops as f64)
    }

    fn merge(&mut self, other: Sample) {
        self.all_ops += other.all_ops;
        self.cpu += other.cpu;
        self.faults += other.faults;
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }
}

/// The timing of one measurement: warm-up, then the measured window.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

impl Window {
    fn start(self) -> (Instant, Instant) {
        let from = Instant::now() + self.warmup;
        (from, from + self.measure)
    }
}

/// How one operation ended.
pub enum Outcome {
    Ok,
    Non2xx,
    Error,
}

/// Runs `concurrency` closed loops of `op(client_index)` (each waits for its answer before sending
/// the next), on the current runtime.
pub async fn closed_loop<F, Fut>(concurrency: usize, window: Window, op: F) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let op = Arc::new(op);
    let (from, until) = window.start();
    let mut tasks = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Sample::default();
            loop {
                let t0 = Instant::now();
                if t0 >= until {
                    break;
                }
                let outcome = op(i).await;
                let t1 = Instant::now();
                s.all_ops += 1;
                let counted = t1 >= from && t1 < until;
                match outcome {
                    Outcome::Ok if counted => {
                        s.ok += 1;
                        s.latencies_us.push(u32::try_from((t1 - t0).as_micros()).unwrap_or(u32::MAX));
                    }
                    Outcome::Non2xx if counted => s.non_2xx += 1,
                    Outcome::Error => {
                        if counted {
                            s.errors += 1;
                        }
                        // Don't spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    _ => {}
                }
            }
            s
        }));
    }
    let mut total = Sample { window: window.measure, ..Sample::default() };
    for t in tasks {
        if let Ok(s) = t.await {
            total.merge(s);
        }
    }
    total
}

/// One HTTP request, its body read to the end.
pub async fn http(req: reqwest::RequestBuilder) -> Outcome {
    match req.send().await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            match resp.bytes().await {
                Ok(_) if ok => Outcome::Ok,
                Ok(_) => Outcome::Non2xx,
                Err(_) => Outcome::Error,
            }
        }
        Err(_) => Outcome::Error,
    }
}

type Job = (Instant, Instant, Arc<dyn Fn() -> bool + Send + Sync>, std::sync::mpsc::Sender<Sample>);

/// Long-lived OS threads for CPU-bound loops (Argon2), like the server's hashing threads: created
/// once, so no measurement pays for thread start-up or a fresh malloc arena.
pub struct Crew {
    jobs: Vec<std::sync::mpsc::Sender<Job>>,
}

impl Crew {
    pub fn new(threads: usize) -> Self {
        let jobs = (0..threads.max(1))
            .map(|n| {
                let (tx, rx) = std::sync::mpsc::channel::<Job>();
                let spawned = std::thread::Builder::new().name(format!("bench-cpu-{n}")).spawn(move || {
                    while let Ok((from, until, op, reply)) = rx.recv() {
                        let _ = reply.send(spin(from, until, &*op));
                    }
                });
                if let Err(e) = spawned {
                    eprintln!("warning: could not start a benchmark thread: {e}");
                }
                tx
            })
            .collect();
        Self { jobs }
    }

    /// Runs `op` in a loop on every thread of the crew for the window.
    pub async fn run(&self, window: Window, op: Arc<dyn Fn() -> bool + Send + Sync>) -> Sample {
        let (from, until) = window.start();
        let (reply, replies) = std::sync::mpsc::channel();
        for job in &self.jobs {
            let _ = job.send((from, until, op.clone(), reply.clone()));
        }
        drop(reply);
        let mut total = Sample { window: window.measure, ..Sample::default() };
        let parts =
            tokio::task::spawn_blocking(move || replies.iter().collect::<Vec<_>>()).await.unwrap_or_default();
        for s in parts {
            total.merge(s);
        }
        total
    }
}

fn spin(from: Instant, until: Instant, op: &(dyn Fn() -> bool + Send + Sync)) -> Sample {
    let mut s = Sample::default();
    loop {
        let t0 = Instant::now();
        if t0 >= until {
            break;
        }
        let ok = op();
        let t1 = Instant::now();
        s.all_ops += 1;
        if t1 >= from && t1 < until {
            if ok {
                s.ok += 1;
                s.latencies_us.push(u32::try_from((t1 - t0).as_micros()).unwrap_or(u32::MAX));
            } else {
                s.errors += 1;
            }
        }
    }
    s
}

/// What `/proc/self/stat` says about this process (Linux; zeros elsewhere).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStat {
    pub minor_faults: u64,
    pub cpu: Duration,
}

impl ProcStat {
    pub fn now() -> Self {
        Self::read().unwrap_or_default()
    }

    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the parenthesised command name start at field 3 (state).
        let f: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        let field = |n: usize| f.get(n - 3)?.parse::<u64>().ok();
        // utime and stime are in clock ticks: 100 per second on Linux.
        let ticks = field(14)? + field(15)?;
        Some(Self { minor_faults: field(10)?, cpu: Duration::from_millis(ticks * 10) })
    }
}
