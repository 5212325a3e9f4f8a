//! A payer learns how its payment ended from its own channel: when it takes the node's resolve (or cancel) of its
//! lock. Waiting for the payment then costs the node no request, which under load was three of a payment's seven.
//! A payee countersigns the node's lock with its resolve, in one request.

mod common;

use common::{answered, dai, pay_and_wait, System};
use spoke_protocol::wire::{PaymentRecord, PaymentStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_its_own_payment_asks_the_node_nothing() {
    let sys = System::start_with_args(10, |_| {
        vec!["--collateral-wait=20".into(), "--metrics-public".into()]
    })
    .await;
    let alice = sys.client(1).await;
    let bob = sys.client(2).await;
    sys.fund(&alice, dai(20)).await;
    sys.collateralize(&bob).await;
    // What two payments cost the node, route by route: the payer's lock, the payee's resolve carrying its
    // countersignature on the node's lock, the payer's countersignature on the node's resolve. Nothing else.
    let expected = [
        ("/payments/{id}", 0),
        ("/channel/pending", 0),
        ("/pay", 2),
        ("/channel/propose", 2),
        ("/channel/countersign", 2),
    ];
    let mut before = Vec::new();
    for (route, _) in expected {
        before.push(answered(&sys, route, None).await);
    }

    for amount in [3, 4] {
        pay_and_wait(&alice, bob.address(), sys.deployment.dai, dai(amount)).await;
    }

    for ((route, requests), before) in expected.into_iter().zip(before) {
        assert_eq!(
            answered(&sys, route, None).await - before,
            requests,
            "requests to {route}"
        );
    }
    assert_eq!(alice.balance(sys.deployment.dai).await, dai(13));
    // The node agrees, already: the client reads the outcome under the channel's lock, which it holds until the
    // node has its countersignature on the resolve.
    let records: Vec<PaymentRecord> = alice.history(10).await.expect("history");
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|r| r.status == PaymentStatus::Completed),
        "{records:?}"
    );
}
