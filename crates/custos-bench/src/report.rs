//! The markdown tables: medians over rounds, ratios against baselines from the same run.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::load::Sample;

/// One measured thing, keyed so rows can name their baseline.
pub type Round = HashMap<&'static str, Sample>;

/// A row of a table: a measurement, optionally compared with a baseline and a goal.
#[derive(Debug, Clone)]
pub struct Row {
    pub key: &'static str,
    pub name: String,
    pub unit: &'static str,
    pub baseline: Option<&'static str>,
    /// Minimum ratio to the baseline, 0..=1.
    pub goal: Option<f64>,
    /// Clients or threads driving it.
    pub drivers: usize,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn rate(rounds: &[Round], key: &str) -> Option<f64> {
    median(rounds.iter().filter_map(|r| r.get(key)).map(Sample::rate).collect())
}

/// Median of the per-round ratios (each round's pair was measured minutes apart at most).
fn ratio(rounds: &[Round], key: &str, baseline: &str) -> Option<f64> {
    median(
        rounds
            .iter()
            .filter_map(|r| {
                let b = r.get(baseline)?.rate();
                (b > 0.0).then(|| r.get(key).map(|s| s.rate() / b))?
            })
            .collect(),
    )
}

fn fmt_rate(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn name_of<'a>(rows: &'a [Row], key: &'a str) -> &'a str {
    rows.iter().find(|r| r.key == key).map(|r| r.name.as_str()).unwrap_or(key)
}

/// Median of the per-round ratios of CPU time per operation (baseline's ÷ subject's): how much
/// more work the subject does per operation, whatever share of the machine it got.
fn cpu_ratio(rounds: &[Round], key: &str, baseline: &str) -> Option<f64> {
    median(
        rounds
            .iter()
            .filter_map(|r| Some(r.get(baseline)?.cpu_ms_per_op()? / r.get(key)?.cpu_ms_per_op()?))
            .collect(),
    )
}

/// `| measurement | value | baseline | ratio | goal | met? | CPU-time ratio |`
pub fn ratios_table(rows: &[Row], all: &[Row], rounds: &[Round]) -> String {
    let mut out = String::from(
        "| Measurement | Value | Baseline | Ratio | Goal | Met? | CPU-time ratio |\n|---|---:|---|---:|---:|:---:|---:|\n",
    );
    for row in rows {
        let value = rate(rounds, row.key)
            .map(|v| format!("{} {}", fmt_rate(v), row.unit))
            .unwrap_or_else(|| "—".into());
        let (baseline, ratio) = match row.baseline {
            Some(b) => (name_of(all, b).to_owned(), ratio(rounds, row.key, b)),
            None => ("—".into(), None),
        };
        let ratio_s = ratio.map(|r| format!("{:.1} %", r * 100.0)).unwrap_or_else(|| "—".into());
        let (goal, met) = match (row.goal, ratio) {
            (Some(g), Some(r)) => {
                (format!("≥ {:.0} %", g * 100.0), if r >= g { "yes" } else { "**no**" }.to_owned())
            }
            (Some(g), None) => (format!("≥ {:.0} %", g * 100.0), "?".into()),
            _ => ("—".into(), "—".into()),
        };
        let cpu = row
            .baseline
            .and_then(|b| cpu_ratio(rounds, row.key, b))
            .map(|r| format!("{:.1} %", r * 100.0))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(out, "| {} | {value} | {baseline} | {ratio_s} | {goal} | {met} | {cpu} |", row.name);
    }
    out
}

/// Counts and latencies, so refused or failed requests are never hidden inside a rate.
pub fn details_table(rows: &[Row], rounds: &[Round]) -> String {
    let mut out = String::from(
        "| Measurement | Clients/threads | Counted OK | Non-2xx | Errors | p50 ms | p99 ms | CPU ms/op | Page faults/op |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut seen = Vec::new();
    for row in rows {
        if seen.contains(&row.key) {
            continue;
        }
        seen.push(row.key);
        let samples: Vec<&Sample> = rounds.iter().filter_map(|r| r.get(row.key)).collect();
        let ok: u64 = samples.iter().map(|s| s.ok).sum();
        let non: u64 = samples.iter().map(|s| s.non_2xx).sum();
        let err: u64 = samples.iter().map(|s| s.errors).sum();
        let pct = |q: f64| {
            median(samples.iter().filter_map(|s| s.percentile_ms(q)).collect())
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "—".into())
        };
        let faults: u64 = samples.iter().map(|s| s.faults).sum();
        let ops: u64 = samples.iter().map(|s| s.all_ops).sum();
        let faults =
            if ops > 0 && faults > 0 { format!("{:.1}", faults as f64 / ops as f64) } else { "—".into() };
        let cpu: f64 = samples.iter().map(|s| s.cpu.as_secs_f64()).sum();
        let cpu =
            if ops > 0 && cpu > 0.0 { format!("{:.3}", cpu * 1_000.0 / ops as f64) } else { "—".into() };
        let _ = writeln!(
            out,
            "| {} | {} | {ok} | {non} | {err} | {} | {} | {cpu} | {faults} |",
            row.name,
            row.drivers,
            pct(0.5),
            pct(0.99)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn sample(ok: u64) -> Sample {
        Sample { ok, window: Duration::from_secs(1), ..Sample::default() }
    }

    #[test]
    fn ratios_are_medians_of_per_round_ratios() {
        let rounds: Vec<Round> = [(100, 80), (100, 60), (50, 45)]
            .into_iter()
            .map(|(b, m)| HashMap::from([("b", sample(b)), ("m", sample(m))]))
            .collect();
        assert_eq!(rate(&rounds, "b"), Some(100.0));
        assert_eq!(ratio(&rounds, "m", "b"), Some(0.8));
        let rows = [
            Row { key: "b", name: "base".into(), unit: "req/s", baseline: None, goal: None, drivers: 1 },
            Row {
                key: "m",
                name: "thing".into(),
                unit: "req/s",
                baseline: Some("b"),
                goal: Some(0.9),
                drivers: 1,
            },
        ];
        let t = ratios_table(&rows, &rows, &rounds);
        assert!(t.contains("| thing | 60.0 req/s | base | 80.0 % | ≥ 90 % | **no** | — |"), "{t}");
    }
}
