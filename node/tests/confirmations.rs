//! A user's deposit counts in the channel only once the chain has buried it under the node's `--confirmations`
//! blocks, and a deposit that a reorganisation takes away never counts (the security test plan's C6). The node
//! reads the ChannelManager's ledger at `head - confirmations`, so the test drives anvil's chain: blocks mined
//! on demand, and a reorg made with `evm_snapshot` / `evm_revert`.

mod common;

use axum::http::StatusCode;
use common::{
    count_user_eth, open_with_deposit, propose_as_user, refused, stored_latest, Node, Opened,
};
use serde_json::json;
use spoke_protocol::{ChannelState, U256};

const CONFIRMATIONS: u64 = 3;

/// Proposes counting `amount` wei into the opening state; the node's answer.
async fn count_deposit(n: &Node, o: &Opened, amount: u64) -> (StatusCode, serde_json::Value) {
    let initial = ChannelState::initial(o.params.channel_id());
    propose_as_user(n, o, &initial, count_user_eth(U256::from(amount)))
        .await
        .1
}

async fn mine(n: &Node, blocks: u64) {
    n.chain_rpc("anvil_mine", json!([blocks])).await;
}

#[tokio::test]
async fn a_deposit_counts_only_under_enough_blocks_and_never_once_a_reorg_removed_it() {
    let n = Node::start_with_confirmations(CONFIRMATIONS).await;
    let before_deposit = n.chain_rpc("evm_snapshot", json!([])).await;

    // Mined, with fewer than CONFIRMATIONS blocks on top: not yet. The contracts were deployed in the blocks just
    // before, so at first the confirmed block is older than the ChannelManager: still just "not yet".
    let o = open_with_deposit(&n, 1, U256::from(1000)).await;
    for _ in 0..CONFIRMATIONS - 1 {
        refused(
            count_deposit(&n, &o, 1000).await,
            StatusCode::BAD_REQUEST,
            "DEPOSIT_NOT_CONFIRMED",
        );
        mine(&n, 1).await;
    }
    refused(
        count_deposit(&n, &o, 1000).await,
        StatusCode::BAD_REQUEST,
        "DEPOSIT_NOT_CONFIRMED",
    );

    // A reorganisation takes the deposit away; however many blocks follow, it is not there to count.
    assert_eq!(
        n.chain_rpc("evm_revert", json!([before_deposit])).await,
        json!(true)
    );
    mine(&n, 2 * CONFIRMATIONS).await;
    let message = refused(
        count_deposit(&n, &o, 1000).await,
        StatusCode::BAD_REQUEST,
        "DEPOSIT_NOT_CONFIRMED",
    );
    assert!(
        message.contains('0'),
        "the chain shows no deposit: {message}"
    );
    assert_eq!(
        stored_latest(&n, o.params.channel_id()).await.nonce,
        0,
        "nothing was counted"
    );

    // Deposited again on the chain as it now is, and buried deep enough: it counts.
    let o = open_with_deposit(&n, 1, U256::from(1000)).await;
    mine(&n, CONFIRMATIONS).await;
    let (status, body) = count_deposit(&n, &o, 1000).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored_latest(&n, o.params.channel_id()).await.nonce, 1);
}
