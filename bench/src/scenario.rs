//! The load shapes. A payment's latency is the payer's view of it: from `pay` to `wait_payment` returning, that
//! is until the payee was paid and the payer's lock resolved, both channels double-signed and durable at the node.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use spoke_client::Client;
use spoke_protocol::{Address, U256};

use crate::{
    probe,
    report::{Measured, Probed},
    system::System,
};

/// Each payment moves this much: small against every balance, so no run runs out of funds or collateral.
fn amount() -> U256 {
    U256::from(10u64).pow(U256::from(15u64))
}

const PAYMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Who pays whom.
#[derive(Debug, Clone, Copy)]
pub enum Pairs {
    /// Payer and payee drawn at random (distinct) among all users.
    Random,
    /// Every worker has its own payer; all pay user 0.
    HotPayee,
}

/// One payment, timed; the error's code when it failed.
async fn pay_once(payer: &Client, payee: Address, asset: Address) -> Result<Duration, String> {
    let started = Instant::now();
    let id = payer
        .pay(payee, asset, amount())
        .await
        .map_err(|e| e.code().to_string())?;
    payer
        .wait_payment(id, PAYMENT_TIMEOUT)
        .await
        .map_err(|e| e.code().to_string())?;
    Ok(started.elapsed())
}

/// `workers` tasks make `payments` payments between them, each starting its next payment when the last ended.
pub async fn closed_loop(
    system: &System,
    workers: usize,
    payments: usize,
    pairs: Pairs,
    seed: u64,
) -> Measured {
    let clients = Arc::new(system.clients.clone());
    let asset = system.deployment.dai;
    let next = Arc::new(AtomicUsize::new(0));
    let meter = Meter::start(system);
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|worker| {
            let clients = clients.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut rng =
                    fastrand::Rng::with_seed(seed ^ (worker as u64).wrapping_mul(0x9E37_79B9));
                let mut outcomes = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < payments {
                    let (payer, payee) = match pairs {
                        Pairs::Random => {
                            let payer = rng.usize(..clients.len());
                            let mut payee = rng.usize(..clients.len() - 1);
                            if payee >= payer {
                                payee += 1;
                            }
                            (payer, payee)
                        }
                        Pairs::HotPayee => (1 + worker % (clients.len() - 1), 0),
                    };
                    outcomes.push(pay_once(&clients[payer], clients[payee].address(), asset).await);
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(payments);
    for task in tasks {
        match task.await {
            Ok(done) => outcomes.extend(done),
            Err(e) => outcomes.push(Err(format!("worker panicked: {e}"))),
        }
    }
    meter.finish(started.elapsed(), outcomes)
}

/// Payments started at `rate` per second for `duration`, whatever the answers: the latency a steady stream sees.
pub async fn open_loop(system: &System, rate: u32, duration: Duration, seed: u64) -> Measured {
    let clients = system.clients.clone();
    let asset = system.deployment.dai;
    let mut rng = fastrand::Rng::with_seed(seed);
    let total = (rate as u64 * duration.as_millis() as u64 / 1000).max(1) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let meter = Meter::start(system);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = started + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let payer = rng.usize(..clients.len());
        let mut payee = rng.usize(..clients.len() - 1);
        if payee >= payer {
            payee += 1;
        }
        let payer = clients[payer].clone();
        let payee = clients[payee].address();
        tasks.push(tokio::spawn(
            async move { pay_once(&payer, payee, asset).await },
        ));
    }
    let mut outcomes = Vec::with_capacity(total);
    for task in tasks {
        outcomes.push(match task.await {
            Ok(outcome) => outcome,
            Err(e) => Err(format!("task panicked: {e}")),
        });
    }
    meter.finish(started.elapsed(), outcomes)
}

/// The node's CPU time and fsyncs over one measured run.
struct Meter {
    pid: u32,
    node: std::net::SocketAddr,
    cpu_ms: Option<f64>,
    syncs: Option<probe::SyncCounter>,
    writes: Option<probe::StoreWrites>,
}

impl Meter {
    fn start(system: &System) -> Meter {
        let pid = system.node.pid();
        let node = system.node.address;
        Meter {
            pid,
            node,
            syncs: probe::SyncCounter::attach(pid, &std::env::temp_dir()),
            cpu_ms: probe::cpu_ms(pid),
            writes: probe::store_writes(node),
        }
    }

    fn finish(self, elapsed: Duration, outcomes: Vec<Result<Duration, String>>) -> Measured {
        let cpu_ms = match (self.cpu_ms, probe::cpu_ms(self.pid)) {
            (Some(before), Some(after)) => Some(after - before),
            _ => None,
        };
        let fsyncs = self.syncs.and_then(probe::SyncCounter::stop);
        let writes = match (self.writes, probe::store_writes(self.node)) {
            (Some(before), Some(after)) => Some(probe::StoreWrites {
                batches: after.batches - before.batches,
                transactions: after.transactions - before.transactions,
            }),
            _ => None,
        };
        Measured::new(
            elapsed,
            outcomes,
            Probed {
                node_cpu_ms: cpu_ms,
                fsyncs,
                writes,
                node_peak_rss_mib: probe::peak_rss_mib(self.pid),
            },
        )
    }
}
