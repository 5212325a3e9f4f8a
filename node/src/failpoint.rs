//! Crash points for the kill -9 tests (node/tests/crash.rs). With `SPOKE_TEST_FAILPOINT=NAME@N` in the
//! environment, the process aborts the N-th time it passes the point `NAME` (`@N` left out: the first time): no
//! destructor, no flush, no answer, as if it had been sent SIGKILL there. Without the variable a point costs one
//! atomic load. The points:
//!
//! - `user-update:signed`: a user's update is validated and signed by the node, not yet stored;
//! - `user-update:committed`: it is stored (with the payment's step in its other channel), not yet answered;
//! - `countersign:committed`: a user's countersignature of the node's proposal is stored, not yet acted on;
//! - `node-update:committed`: a proposal of the node's own is stored, not yet pushed to its user.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    OnceLock,
};

/// The environment variable that arms a point.
pub const VARIABLE: &str = "SPOKE_TEST_FAILPOINT";

#[derive(Debug)]
struct Armed {
    name: String,
    /// Passes left before the abort.
    left: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(VARIABLE).ok()?;
            let (name, count) = match spec.split_once('@') {
                Some((name, count)) => (name, count.parse().ok()?),
                None => (spec.as_str(), 1),
            };
            Some(Armed {
                name: name.to_string(),
                left: AtomicU64::new(count),
            })
        })
        .as_ref()
}

/// What is armed, for the warning the node logs when it starts.
pub fn describe() -> Option<String> {
    armed().map(|a| format!("{}@{}", a.name, a.left.load(Ordering::Relaxed)))
}

/// Aborts the process here if this is the armed point's N-th pass.
pub fn hit(name: &str) {
    let Some(armed) = armed() else { return };
    if armed.name == name && armed.left.fetch_sub(1, Ordering::SeqCst) == 1 {
        eprintln!("{VARIABLE}: aborting at {name}");
        std::process::abort();
    }
}
