//! The client against a node that rate-limits its session: a 429 is waited out and sent again, so the calls
//! succeed, only later.

mod common;

use std::time::{Duration, Instant};

use common::{answered, System};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_session_limit_waits_and_its_calls_succeed() {
    let sys = System::start_with_args(4, |_| {
        vec!["--rate-limit-session=1/2".into(), "--metrics-public".into()]
    })
    .await;
    let alice = sys.client(1).await;
    let started = Instant::now();
    for _ in 0..5 {
        alice.history(10).await.expect("history, in time");
    }
    let refused = answered(&sys, "/payments", Some(429)).await;
    assert!(refused >= 1, "the node never refused a request");
    // Each refusal cost the client the second the node named before it was let through.
    assert!(started.elapsed() >= Duration::from_secs(refused.min(3)));
    assert_eq!(answered(&sys, "/payments", Some(200)).await, 5);
}
