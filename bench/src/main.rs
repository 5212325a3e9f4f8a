//! `spoke-bench`: N native clients pay each other through a real `spoke-node` with durable storage on a local
//! anvil chain, and the figures land in `report.json` and `report.md`. See the README's Performance section.
//!
//! Scenarios: `closed` (workers each start their next payment when the last ended, payer and payee drawn at random
//! among all users; the shape of the Lightning load tests), `hot` (50 payers pay one payee), `open` (a rate sweep:
//! payments started at a fixed rate, doubled until p99 passes 10 ms or payments fail).

mod probe;
mod report;
mod scenario;
mod system;

use std::{io::Write, path::PathBuf, time::Duration};

use clap::Parser;
use serde_json::json;

use crate::{
    scenario::Pairs,
    system::{Db, Setup, System},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("setting up: {0}")]
    Setup(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the client: {0}")]
    Client(#[from] spoke_client::Error),
    #[error("the contracts: {0}")]
    Contracts(#[from] spoke_contracts::Error),
    #[error("writing the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Closed,
    Hot,
    Open,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DbKind {
    Sqlite,
    Postgres,
}

#[derive(Debug, Parser)]
#[command(
    name = "spoke-bench",
    version,
    about = "Load generator for spoke-node."
)]
struct Args {
    /// The long runs (10,000 payments in the closed loop) instead of the quick ones.
    #[arg(long)]
    full: bool,
    /// Scenarios to run, in order (default: all three).
    #[arg(long = "scenario", value_enum)]
    scenarios: Vec<Scenario>,
    /// Users, each with a funded channel and the node's collateral in it.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Concurrent payers in the closed loop.
    #[arg(long, default_value_t = 100)]
    workers: usize,
    /// Payments in the closed loop (default: 2,000 quick, 10,000 with --full).
    #[arg(long)]
    payments: Option<usize>,
    /// The node's storage.
    #[arg(long, value_enum, default_value = "sqlite")]
    db: DbKind,
    /// With `--db postgres`: the database the node uses (emptied of nothing: use a fresh one).
    #[arg(long, env = "SPOKE_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// The `spoke-node` binary to run.
    #[arg(long, default_value = "target/release/spoke-node")]
    node_bin: PathBuf,
    /// Where report.json and report.md go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Seed of the payer and payee draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("spoke-bench: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spoke-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn say(text: &str) {
    println!("==> {text}");
    let _ = std::io::stdout().flush();
}

async fn run(args: Args) -> Result<()> {
    if args.users < 2 {
        return Err(Error::Usage("--users must be at least 2".into()));
    }
    let db = match (args.db, &args.database_url) {
        (DbKind::Sqlite, _) => Db::Sqlite,
        (DbKind::Postgres, Some(url)) => Db::Postgres(url.clone()),
        (DbKind::Postgres, None) => {
            return Err(Error::Usage(
                "--db postgres needs --database-url (or SPOKE_BENCH_DATABASE_URL)".into(),
            ))
        }
    };
    let scenarios = if args.scenarios.is_empty() {
        vec![Scenario::Closed, Scenario::Hot, Scenario::Open]
    } else {
        args.scenarios.clone()
    };
    let machine = machine(&std::env::temp_dir());
    say(&format!("machine: {machine}"));
    say(&format!(
        "setting up: anvil, spoke-node ({:?}), {} users with deposits and collateral",
        args.db, args.users
    ));
    let setup = Setup {
        node_bin: args.node_bin.clone(),
        users: args.users,
        db,
    };
    let system = System::start(&setup).await?;
    // A short warm-up: connections, caches and the database's first pages.
    scenario::closed_loop(&system, args.workers.min(20), 200, Pairs::Random, args.seed).await;

    let mut summaries = Vec::new();
    for s in scenarios {
        match s {
            Scenario::Closed => {
                let payments = args
                    .payments
                    .unwrap_or(if args.full { 10_000 } else { 2_000 });
                say(&format!(
                    "closed loop: {} workers, {payments} payments among {} users",
                    args.workers, args.users
                ));
                let m = scenario::closed_loop(
                    &system,
                    args.workers,
                    payments,
                    Pairs::Random,
                    args.seed,
                )
                .await;
                summaries.push(m.summary(
                    "closed_loop",
                    json!({ "workers": args.workers, "payments": payments, "users": args.users }),
                ));
            }
            Scenario::Hot => {
                let payers = 50.min(args.users - 1);
                let payments = if args.full { 5_000 } else { 1_000 };
                say(&format!(
                    "hot payee: {payers} payers pay one payee, {payments} payments"
                ));
                let m =
                    scenario::closed_loop(&system, payers, payments, Pairs::HotPayee, args.seed)
                        .await;
                summaries.push(m.summary(
                    "hot_payee",
                    json!({ "payers": payers, "payments": payments }),
                ));
            }
            Scenario::Open => {
                let step = Duration::from_secs(if args.full { 10 } else { 3 });
                let mut rate = 50;
                for _ in 0..10 {
                    say(&format!(
                        "open loop: {rate} payments/s for {} s",
                        step.as_secs()
                    ));
                    let m = scenario::open_loop(&system, rate, step, args.seed).await;
                    let over = m.p99_ms().is_none_or(|p99| p99 > 10.0) || !m.failures.is_empty();
                    summaries.push(m.summary(
                        &format!("open_loop_{rate}"),
                        json!({ "rate": rate, "seconds": step.as_secs() }),
                    ));
                    if over {
                        break;
                    }
                    rate *= 2;
                }
            }
        }
        if let Some(last) = summaries.last() {
            say(&format!(
                "{}: {:.0} payments/s, p50 {} ms, p99 {} ms, {} failed",
                last.scenario,
                last.payments_per_sec,
                last.p50_ms.map_or("–".into(), |v| format!("{v:.1}")),
                last.p99_ms.map_or("–".into(), |v| format!("{v:.1}")),
                last.failed
            ));
        }
    }
    let md = report::write(&args.out, &machine, &summaries)?;
    println!("\n{md}");
    say(&format!(
        "wrote {}/report.json and report.md",
        args.out.display()
    ));
    Ok(())
}

/// The machine in one line: cores, CPU model, and the disk's rate of small synchronous writes where the node's
/// database lives (4 KiB write + fdatasync, 200 times), which bounds what one fsync per payment could reach.
fn machine(dir: &std::path::Path) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let fsyncs = fsync_rate(dir).map_or("unknown".into(), |r| format!("{r:.0}"));
    format!("{cores} cores, {model}; disk: {fsyncs} fdatasyncs/s (4 KiB writes)")
}

fn fsync_rate(dir: &std::path::Path) -> Option<f64> {
    let path = dir.join(format!("spoke-bench-fsync-{}", std::process::id()));
    let mut file = std::fs::File::create(&path).ok()?;
    let block = [0u8; 4096];
    let started = std::time::Instant::now();
    for _ in 0..200 {
        file.write_all(&block).ok()?;
        file.sync_data().ok()?;
    }
    let rate = 200.0 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Some(rate)
}
