//! End to end with native clients against a real node over HTTP and WebSocket, on a real anvil chain.

mod common;

use std::time::Duration;

use common::{dai, eventually, System};
use spoke_client::ClientEvent;
use spoke_protocol::U256;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_pay_each_other_in_both_directions_and_one_withdraws() {
    let sys = System::start(20).await;
    let alice = sys.client(1).await;
    let bob = sys.client(2).await;
    let dai_token = sys.deployment.dai;
    sys.fund(&alice, 1, dai(50)).await;
    sys.fund(&bob, 2, dai(50)).await;

    let mut bob_events = bob.events();
    // The node has no collateral in Bob's channel yet: the payment waits for the node's deposit.
    let id = alice
        .pay(bob.address(), dai_token, dai(5))
        .await
        .expect("pay");
    alice
        .wait_payment(id, Duration::from_secs(30))
        .await
        .expect("payment completes");
    eventually("Bob's balance", Duration::from_secs(10), || async {
        bob.balance(dai_token).await == dai(55)
    })
    .await;
    assert_eq!(alice.balance(dai_token).await, dai(45));
    let received = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(ClientEvent::PaymentReceived { amount, from, .. }) = bob_events.recv().await {
                return (amount, from);
            }
        }
    })
    .await
    .expect("a paymentReceived event");
    assert_eq!(received, (dai(5), alice.address()));

    // And back.
    let id = bob
        .pay(alice.address(), dai_token, dai(2))
        .await
        .expect("pay back");
    bob.wait_payment(id, Duration::from_secs(30))
        .await
        .expect("completes");
    eventually("Alice's balance", Duration::from_secs(10), || async {
        alice.balance(dai_token).await == dai(47)
    })
    .await;
    assert_eq!(bob.balance(dai_token).await, dai(53));

    // Both clients hold the same latest state as the node, signed by both.
    let history = alice.history(500).await.expect("history");
    assert_eq!(history.len(), 2);

    // Withdraw to a fresh address; the chain pays it.
    let to = spoke_protocol::Address::repeat_byte(0x77);
    let commitment = bob.withdraw(dai_token, dai(3), to).await.expect("withdraw");
    sys.chain(2)
        .withdraw(&bob.params().await, &commitment)
        .await
        .expect("executed");
    assert_eq!(sys.chain_balance(to).await, dai(3));
    assert_eq!(bob.balance(dai_token).await, dai(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_to_an_offline_user_completes_when_that_user_connects() {
    let sys = System::start(20).await;
    let alice = sys.client(1).await;
    let dai_token = sys.deployment.dai;
    sys.fund(&alice, 1, dai(20)).await;
    {
        // Bob gets collateral while online, then goes away.
        let bob = sys.client(2).await;
        bob.request_collateral(dai_token)
            .await
            .expect("collateral requested");
        eventually(
            "collateral in Bob's channel",
            Duration::from_secs(20),
            || async {
                bob.sync().await.is_ok()
                    && bob
                        .channel()
                        .await
                        .balances
                        .iter()
                        .any(|b| b.node >= dai(10))
            },
        )
        .await;
    }
    let bob_address = sys.secret_address(2);
    let id = alice
        .pay(bob_address, dai_token, dai(4))
        .await
        .expect("pay");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        alice.balance(dai_token).await,
        dai(16),
        "the payer's lock holds the amount"
    );

    let bob = sys.client(2).await;
    alice
        .wait_payment(id, Duration::from_secs(30))
        .await
        .expect("completes once Bob is back");
    eventually("Bob's balance", Duration::from_secs(10), || async {
        bob.balance(dai_token).await == dai(4)
    })
    .await;
    assert_eq!(U256::from(alice.channel().await.locks.len()), U256::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payer_who_goes_offline_is_resolved_when_back_and_the_preimage_is_revealed_meanwhile() {
    let sys = System::start_with_args(
        10,
        &["--reveal-after=1".into(), "--collateral-wait=20".into()],
    )
    .await;
    let dai_token = sys.deployment.dai;
    {
        let bob = sys.client(2).await;
        bob.request_collateral(dai_token).await.expect("collateral");
        eventually(
            "collateral in Bob's channel",
            Duration::from_secs(20),
            || async {
                bob.channel()
                    .await
                    .balances
                    .iter()
                    .any(|b| b.node >= dai(10))
            },
        )
        .await;
    }
    let alice = sys.client(1).await;
    sys.fund(&alice, 1, dai(20)).await;
    // Bob is away, so the payment waits at the node; then Alice goes away too.
    let id = alice
        .pay(sys.secret_address(2), dai_token, dai(4))
        .await
        .expect("pay");
    drop(alice);
    let bob = sys.client(2).await;
    eventually("Bob paid", Duration::from_secs(20), || async {
        bob.balance(dai_token).await == dai(4)
    })
    .await;
    let hashlock = bob
        .history(10)
        .await
        .expect("history")
        .into_iter()
        .find(|p| p.id == id)
        .expect("the payment")
        .hashlock;
    eventually(
        "the preimage in the registry",
        Duration::from_secs(20),
        || async { sys.revealed_at(hashlock).await != U256::ZERO },
    )
    .await;

    let alice = sys.client(1).await;
    alice
        .wait_payment(id, Duration::from_secs(20))
        .await
        .expect("resolved off chain when Alice is back");
    assert_eq!(alice.balance(dai_token).await, dai(16));
    assert!(alice.channel().await.locks.is_empty());
}
