//! Figures of one scenario, and the report: `report.json` (one object per scenario) and `report.md` (a table).

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::Serialize;

use crate::{probe::StoreWrites, Result};

/// What the probes saw of the node over one run; each is absent when it could not be read.
#[derive(Debug, Clone, Default)]
pub struct Probed {
    pub node_cpu_ms: Option<f64>,
    pub fsyncs: Option<u64>,
    pub writes: Option<StoreWrites>,
    pub node_peak_rss_mib: Option<f64>,
}

/// What one measured run saw.
#[derive(Debug, Clone)]
pub struct Measured {
    pub elapsed: Duration,
    /// Latencies of the completed payments, sorted.
    pub latencies: Vec<Duration>,
    /// Failed payments by error code.
    pub failures: BTreeMap<String, usize>,
    pub probed: Probed,
}

impl Measured {
    pub fn new(
        elapsed: Duration,
        outcomes: Vec<std::result::Result<Duration, String>>,
        probed: Probed,
    ) -> Measured {
        let mut latencies = Vec::with_capacity(outcomes.len());
        let mut failures = BTreeMap::new();
        for outcome in outcomes {
            match outcome {
                Ok(latency) => latencies.push(latency),
                Err(code) => *failures.entry(code).or_insert(0) += 1,
            }
        }
        latencies.sort();
        Measured {
            elapsed,
            latencies,
            failures,
            probed,
        }
    }

    /// The latency at quantile `q` (nearest rank), in milliseconds.
    fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank =
            ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
        Some(self.latencies[rank - 1].as_secs_f64() * 1000.0)
    }

    pub fn p99_ms(&self) -> Option<f64> {
        self.quantile_ms(0.99)
    }

    pub fn completed(&self) -> usize {
        self.latencies.len()
    }

    pub fn summary(&self, scenario: &str, parameters: serde_json::Value) -> Summary {
        let completed = self.completed() as f64;
        let per_payment = |total: f64| (completed > 0.0).then(|| total / completed);
        Summary {
            scenario: scenario.to_string(),
            parameters,
            completed: self.completed(),
            failed: self.failures.values().sum(),
            failures: self.failures.clone(),
            seconds: self.elapsed.as_secs_f64(),
            payments_per_sec: completed / self.elapsed.as_secs_f64().max(f64::EPSILON),
            p50_ms: self.quantile_ms(0.5),
            p99_ms: self.quantile_ms(0.99),
            p999_ms: self.quantile_ms(0.999),
            node_cpu_ms_per_payment: self.probed.node_cpu_ms.and_then(per_payment),
            fsyncs_per_payment: self.probed.fsyncs.and_then(|f| per_payment(f as f64)),
            batches_per_payment: self
                .probed
                .writes
                .and_then(|w| per_payment(w.batches as f64)),
            commits_per_payment: self
                .probed
                .writes
                .and_then(|w| per_payment(w.transactions as f64)),
            node_peak_rss_mib: self.probed.node_peak_rss_mib,
        }
    }
}

/// One scenario in the report.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub parameters: serde_json::Value,
    pub completed: usize,
    pub failed: usize,
    pub failures: BTreeMap<String, usize>,
    pub seconds: f64,
    pub payments_per_sec: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    /// CPU time (user + system) of the node process per completed payment.
    pub node_cpu_ms_per_payment: Option<f64>,
    /// fsync + fdatasync calls of the node process per completed payment (from perf; absent without it).
    pub fsyncs_per_payment: Option<f64>,
    /// Batches the node's store committed per completed payment: a durable step (a user's update with what it set
    /// in motion), whether or not it shared its transaction.
    pub batches_per_payment: Option<f64>,
    /// Database transactions the node's store committed per completed payment (group commits count once).
    pub commits_per_payment: Option<f64>,
    pub node_peak_rss_mib: Option<f64>,
}

/// Writes `report.json` and `report.md` into `dir`; returns the markdown.
pub fn write(dir: &Path, machine: &str, summaries: &[Summary]) -> Result<String> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(summaries)?;
    std::fs::write(dir.join("report.json"), json + "\n")?;
    let figure =
        |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    let mut md = format!(
        "Machine: {machine}\n\n| scenario | payments/s | p50 ms | p99 ms | p99.9 ms | node CPU ms/payment | batches/payment | commits/payment | fsyncs/payment | node RSS MiB | failed |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for s in summaries {
        md.push_str(&format!(
            "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.scenario,
            s.payments_per_sec,
            figure(s.p50_ms, 1),
            figure(s.p99_ms, 1),
            figure(s.p999_ms, 1),
            figure(s.node_cpu_ms_per_payment, 2),
            figure(s.batches_per_payment, 2),
            figure(s.commits_per_payment, 2),
            figure(s.fsyncs_per_payment, 2),
            figure(s.node_peak_rss_mib, 0),
            s.failed,
        ));
    }
    std::fs::write(dir.join("report.md"), &md)?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank_and_failures_are_counted_by_code() {
        let outcomes = (1..=1000)
            .map(|ms| Ok(Duration::from_millis(ms)))
            .chain([Err("TIMEOUT".to_string()), Err("TIMEOUT".to_string())])
            .collect();
        let m = Measured::new(
            Duration::from_secs(2),
            outcomes,
            Probed {
                node_cpu_ms: Some(500.0),
                fsyncs: Some(100),
                writes: Some(StoreWrites {
                    batches: 3000,
                    transactions: 250,
                }),
                node_peak_rss_mib: None,
            },
        );
        let s = m.summary("t", serde_json::json!({}));
        assert_eq!(s.completed, 1000);
        assert_eq!(s.failed, 2);
        assert_eq!(s.p50_ms, Some(500.0));
        assert_eq!(s.p99_ms, Some(990.0));
        assert_eq!(s.p999_ms, Some(999.0));
        assert_eq!(s.payments_per_sec, 500.0);
        assert_eq!(s.node_cpu_ms_per_payment, Some(0.5));
        assert_eq!(s.fsyncs_per_payment, Some(0.1));
        assert_eq!(s.batches_per_payment, Some(3.0));
        assert_eq!(s.commits_per_payment, Some(0.25));
    }

    #[test]
    fn an_empty_run_has_no_quantiles() {
        let m = Measured::new(
            Duration::from_secs(1),
            vec![Err("X".into())],
            Probed::default(),
        );
        let s = m.summary("t", serde_json::json!({}));
        assert_eq!(s.p50_ms, None);
        assert_eq!(s.fsyncs_per_payment, None);
        assert_eq!(s.commits_per_payment, None);
    }
}
