//! The dapp's hourly autosigning cap is kept with the channel: a reconnect (a reload of the page) does not give
//! the app a fresh hour, and a refusal changes nothing stored.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{dai, System};
use spoke_client::{Error, SpendingCaps};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hourly_cap_survives_a_reconnect_and_a_refusal_stores_nothing() {
    let sys = System::start(20).await;
    let dai_token = sys.deployment.dai;
    let caps = SpendingCaps {
        per_payment: [(dai_token, dai(2))].into(),
        per_hour: [(dai_token, dai(3))].into(),
    };
    let with_caps = |config: &mut spoke_client::ClientConfig| config.caps = caps.clone();

    let alice = sys.client_with(1, with_caps).await;
    sys.fund(&alice, dai(10)).await;
    alice.create_link(dai_token, dai(2)).await.expect("2 of 3");
    let spent = alice.export_snapshot().await.spent;
    assert_eq!(spent.len(), 1);
    assert_eq!(spent[0].amount, dai(2));
    alice.close();
    drop(alice);

    // The page reloads: a new client on the same store, with the same caps.
    let alice = sys.client_with(1, with_caps).await;
    let before = alice.export_snapshot().await;
    assert_eq!(before.spent, spent, "the hour's spending is read back");
    let refused = alice.create_link(dai_token, dai(2)).await;
    assert!(
        matches!(refused, Err(Error::CapExceeded(_))),
        "2 more would make 4 of 3 in the hour: {refused:?}"
    );
    assert_eq!(
        alice.export_snapshot().await,
        before,
        "a refusal stores nothing"
    );
    let refused = alice.create_link(dai_token, dai(3)).await;
    assert!(
        matches!(refused, Err(Error::CapExceeded(_))),
        "above the per-payment cap"
    );
    alice
        .create_link(dai_token, dai(1))
        .await
        .expect("exactly the hour's cap");
    assert_eq!(alice.export_snapshot().await.spent.len(), 2);
    assert_eq!(alice.balance(dai_token).await, dai(7));

    // Without caps nothing is recorded.
    let bob = sys.client(2).await;
    sys.fund(&bob, dai(5)).await;
    bob.create_link(dai_token, dai(4)).await.expect("no caps");
    assert!(bob.export_snapshot().await.spent.is_empty());
}
