//! The security test plan's C8: two payments that both need the node's collateral in the payee's channel, while
//! the payee withdraws from it. In a test binary of its own: beside the 200-payment test, on two cores, counting
//! the collateral took over a minute (the payment is then refused cleanly and paid again; see below).

mod common;

use std::time::Duration;

use common::{dai, eventually, System};
use spoke_client::Client;
use spoke_protocol::{Address, U256};

/// The node's transactions so far (its account's nonce).
async fn node_transactions(sys: &System, node: Address) -> u64 {
    let count = sys
        .chain(0)
        .rpc(
            "eth_getTransactionCount",
            serde_json::json!([node, "latest"]),
        )
        .await
        .expect("transaction count");
    u64::from_str_radix(count.as_str().expect("hex").trim_start_matches("0x"), 16).expect("a count")
}

/// The security test plan's C8: two payments that both need the node's collateral in Bob's channel arrive while
/// Bob withdraws from that channel. Both payments complete, Bob's withdrawal is paid on chain, the node puts in
/// collateral once for each amount it was short (no deposit twice for one need, no retrying loop), and every
/// channel ends with no lock and the same state on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_payments_needing_collateral_while_the_payee_withdraws() {
    let sys = System::start(60).await;
    let asset = sys.deployment.dai;
    let alice = sys.client(1).await;
    let carol = sys.client(2).await;
    let bob = sys.client(3).await;
    let dave = sys.client(4).await;
    sys.fund(&alice, dai(50)).await;
    sys.fund(&carol, dai(50)).await;
    sys.fund(&bob, dai(20)).await;
    // The node's first collateral deposit also approves its token; that is behind it now.
    sys.collateralize(&dave).await;
    let node = bob.node_config().node;
    let before = node_transactions(&sys, node).await;
    let channel = bob.channel().await.channel_id;
    assert_eq!(
        sys.chain(0)
            .deposited(channel, asset, spoke_protocol::Side::Node, 0)
            .await
            .expect("ledger"),
        U256::ZERO
    );

    let to = Address::repeat_byte(0x5c);
    let withdrawing = {
        let bob = bob.clone();
        let chain = sys.chain(3);
        tokio::spawn(async move {
            let withdrawal = bob.withdraw(asset, dai(20), to, false).await?;
            chain
                .withdraw(&bob.params().await, &withdrawal.commitment)
                .await?;
            Ok::<_, spoke_client::Error>(())
        })
    };
    // A payment may also be refused, cleanly, when the collateral is not counted within --collateral-wait (a
    // loaded machine): 409 INSUFFICIENT_COLLATERAL with nothing locked. The payer then does what the hint says and
    // pays again, as an app would. What may not happen is a payment that is taken and never ends.
    let pay_until_taken = |payer: &Client| {
        let payer = payer.clone();
        let to = bob.address();
        tokio::spawn(async move {
            for _ in 0..3 {
                match payer.pay(to, asset, dai(15)).await {
                    Ok(id) => return payer.wait_payment(id, Duration::from_secs(120)).await,
                    Err(e) if e.code() == "INSUFFICIENT_COLLATERAL" => continue,
                    Err(e) => return Err(e),
                }
            }
            payer.pay(to, asset, dai(15)).await.map(drop)
        })
    };
    let payments = [pay_until_taken(&alice), pay_until_taken(&carol)];
    withdrawing
        .await
        .expect("task")
        .expect("Bob's withdrawal, on chain");
    for payment in payments {
        payment.await.expect("task").expect("the payment completes");
    }

    eventually("no lock left", Duration::from_secs(30), || async {
        let mut clear = true;
        for c in [&alice, &carol, &bob] {
            let _ = c.refresh().await;
            clear &= c.channel().await.locks.is_empty();
        }
        clear
    })
    .await;
    assert_eq!(
        sys.chain_balance(to).await,
        dai(20),
        "Bob's withdrawal paid"
    );
    assert_eq!(
        bob.balance(asset).await,
        dai(30),
        "Bob received both payments"
    );
    assert_eq!(alice.balance(asset).await, dai(35));
    assert_eq!(carol.balance(asset).await, dai(35));
    for c in [&alice, &carol, &bob] {
        assert!(
            !c.resync().await.expect("resync"),
            "{} was behind",
            c.address()
        );
    }
    // The collateral: at most one deposit for each payment that found the channel short, together exactly enough
    // for both, and nothing more afterwards.
    let deposits = node_transactions(&sys, node).await - before;
    let put_in = sys
        .chain(0)
        .deposited(channel, asset, spoke_protocol::Side::Node, 0)
        .await
        .expect("ledger");
    println!("the node made {deposits} deposit(s) into Bob's channel, {put_in} in all");
    assert!(
        (1..=2).contains(&deposits),
        "{deposits} collateral deposits"
    );
    assert!(
        put_in >= dai(30) && put_in <= dai(170),
        "{put_in} deposited"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        node_transactions(&sys, node).await - before,
        deposits,
        "the node went on depositing"
    );
}
