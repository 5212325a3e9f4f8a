//! What the node process spends, read from outside it: CPU time and resident memory from `/proc`, its fsync and
//! fdatasync calls counted by `perf stat` on the kernel's syscall tracepoints (cheap: no ptrace stops), and its
//! store's commits from its own `/metrics`. When perf is missing or not allowed, the fsync figures are absent from
//! the report rather than guessed.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// What the node's store has committed so far.
#[derive(Debug, Clone, Copy)]
pub struct StoreWrites {
    /// Batches: a user's update with everything it sets in motion is one.
    pub batches: u64,
    /// Database transactions; a group commit takes several batches.
    pub transactions: u64,
}

/// The node's store counters, read from its `/metrics` (the bench starts it with `--metrics-public`). One
/// HTTP/1.0 request, which the node answers and closes.
pub fn store_writes(node: SocketAddr) -> Option<StoreWrites> {
    let mut stream = TcpStream::connect_timeout(&node, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {node}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let counter = |name: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    };
    Some(StoreWrites {
        batches: counter("spoke_store_batches_total")?,
        transactions: counter("spoke_store_transactions_total")?,
    })
}

/// CPU time (user + system) of a process so far, in milliseconds.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis are fixed.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000.0 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux this runs on; `getconf` confirms it when present.
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Peak resident memory of a process, in MiB.
pub fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// `perf stat` attached to a process, counting its fsync and fdatasync calls until [`SyncCounter::stop`].
#[derive(Debug)]
pub struct SyncCounter {
    child: Child,
    output: std::path::PathBuf,
}

const EVENTS: &str = "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync";

impl SyncCounter {
    /// `None` when perf cannot count these events here.
    pub fn attach(pid: u32, dir: &std::path::Path) -> Option<SyncCounter> {
        let output = dir.join(format!("perf-{pid}-{}.txt", std::process::id()));
        let child = Command::new("perf")
            .args(["stat", "-x", ",", "-e", EVENTS, "-o"])
            .arg(&output)
            .args(["-p", &pid.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf needs a moment to attach its counters.
        std::thread::sleep(Duration::from_millis(300));
        Some(SyncCounter { child, output })
    }

    /// Stops counting; the number of fsync + fdatasync calls, or `None` when perf did not count them.
    pub fn stop(mut self) -> Option<u64> {
        // perf prints its counts on SIGINT.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let text = std::fs::read_to_string(&self.output).ok()?;
        let _ = std::fs::remove_file(&self.output);
        let mut total = 0;
        let mut seen = 0;
        for line in text.lines() {
            let mut fields = line.split(',');
            let (Some(count), Some(_unit), Some(event)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if event.starts_with("syscalls:sys_enter_f") {
                total += count.trim().parse::<u64>().ok()?;
                seen += 1;
            }
        }
        (seen == 2).then_some(total)
    }
}

impl Drop for SyncCounter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
