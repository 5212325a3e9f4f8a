//! A user starts an exit and disappears before concluding it (`Client::exit` dropped while it waits out the
//! window): the node, running as it does in production against a real anvil chain, concludes the dispute once the
//! chain's clock passes the window and R, and claims exactly the node's balance of the final state, once.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::{dai, eventually, pay_and_wait, System};
use spoke_client::{ClientEvent, ExitStep};
use spoke_contracts::bindings::ChannelManager;

/// The challenge window of the harness's deployment.
const WINDOW: u64 = 3600;
/// R, the node's default reveal time: how long after the window the node leaves the conclusion to the user.
const GRACE: u64 = 3600;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_concludes_and_claims_a_dispute_its_user_abandoned() {
    let system = System::start(10).await;
    let payer = system.client(1).await;
    let payee = system.client(2).await;
    system.collateralize(&payee).await;
    system.fund(&payer, dai(10)).await;
    pay_and_wait(&payer, payee.address(), system.deployment.dai, dai(3)).await;
    let latest = payer.export_state().await.expect("a double-signed state");
    let owed = latest
        .state
        .asset(system.deployment.dai)
        .expect("the asset")
        .balance_node;
    assert_eq!(owed, dai(3), "the node holds what the payer paid");
    let channel_id = latest.state.channel_id;

    // The payer disputes, then goes away while it waits for the window.
    let mut events = payer.events();
    let exiting = {
        let payer = payer.clone();
        tokio::spawn(async move { payer.exit().await })
    };
    loop {
        match events.recv().await {
            Ok(ClientEvent::Exit(ExitStep::Waiting { .. })) => break,
            Ok(_) => {}
            Err(e) => panic!("the client's events ended: {e}"),
        }
    }
    exiting.abort();
    payer.close();
    drop(payer);

    let manager = ChannelManager::new(system.deployment.channel_manager, system.provider());
    let status = || async {
        manager
            .channel(channel_id)
            .call()
            .await
            .expect("channel")
            .status
    };
    assert_eq!(status().await, 1, "disputed");

    // Past the window, the conclusion is left to the user for R: the node does not conclude yet.
    system.advance(WINDOW + 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status().await, 1, "still the user's to conclude");

    system.advance(GRACE).await;
    let node_claims = || async {
        manager
            .Claimed_filter()
            .topic1(channel_id)
            .from_block(0)
            .query()
            .await
            .expect("logs")
            .into_iter()
            .map(|(claimed, _)| claimed)
            .filter(|c| c.side == 1)
            .collect::<Vec<_>>()
    };
    eventually("the node's claim", Duration::from_secs(30), || async {
        !node_claims().await.is_empty()
    })
    .await;
    assert_eq!(status().await, 2, "concluded");
    // A few more passes of the node's loop change nothing.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let claims = node_claims().await;
    assert_eq!(claims.len(), 1, "one claim: {claims:?}");
    assert_eq!(claims[0].amount, owed, "exactly the node's balance");
    assert_eq!(claims[0].to, system.secret_address(0), "paid to the node");
    let concluded = manager
        .Concluded_filter()
        .topic1(channel_id)
        .from_block(0)
        .query()
        .await
        .expect("logs");
    assert_eq!(concluded.len(), 1);
    assert_eq!(
        concluded[0].0.nonce, latest.state.nonce,
        "at the payer's latest state"
    );
}
