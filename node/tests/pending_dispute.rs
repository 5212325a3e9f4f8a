//! The node freezes a channel as soon as a dispute transaction of it enters the mempool, on a real anvil chain
//! whose blocks are mined only when a test says so: updates get 409 `CHANNEL_FROZEN` before any block is mined
//! while other channels keep working; a stale dispute is answered right behind it, in the same block; a dispute
//! that leaves the mempool unmined releases the channel only after it has been gone for 12 blocks and two minutes;
//! and over an RPC that does not show pending transactions the node warns once and freezes on the mined event.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    primitives::Bytes,
    providers::{Provider, ProviderBuilder},
    sol_types::SolCall,
};
use axum::http::StatusCode;
use common::{count_eth, count_user_eth, open_with_deposit, propose_as_user, Node, Opened};
use serde_json::{json, Value};
use spoke_contracts::{bindings::ChannelManager, sol_state};
use spoke_node::{
    api::{
        dispute,
        mempool::{self, Mempool},
        rpc_proxy::RpcProxy,
        watch,
    },
    chain::RpcChain,
    store::{DisputeAction, DisputeTxStatus, Store, StoredUpdate},
};
use spoke_protocol::{ChannelState, B256, U256};

const ALICE: usize = 1;
const BOB: usize = 2;
const WAIT: Duration = Duration::from_secs(15);
/// Anvil's block gas limit.
const BLOCK_GAS: u64 = 30_000_000;

fn eth(tenths: u64) -> U256 {
    U256::from(tenths) * U256::from(10u64).pow(U256::from(17u64))
}

/// A user with a channel whose user deposit of 2 ETH is counted in steps of `steps` tenths, each co-signed
/// through the API: the channel's newest state is at nonce `steps.len()`.
async fn channel_with(n: &Node, index: usize, steps: &[u64]) -> (Opened, ChannelState) {
    let o = open_with_deposit(n, index, eth(20)).await;
    let mut state = ChannelState::initial(o.params.channel_id());
    for step in steps {
        state = count_eth(n, &o, &state, eth(*step)).await;
    }
    (o, state)
}

/// The state the node stored at `nonce`, with both signatures.
async fn stored(n: &Node, o: &Opened, nonce: u64) -> StoredUpdate {
    let update = n
        .store
        .update_at(o.params.channel_id(), nonce)
        .await
        .expect("read")
        .expect("stored");
    assert!(update.is_double_signed());
    update
}

/// The user disputes its channel with `state` from its own account; the transaction's hash once anvil has it,
/// without waiting for a block.
async fn dispute_pending(n: &Node, index: usize, o: &Opened, state: &StoredUpdate) -> B256 {
    let sig =
        |s: Option<spoke_protocol::Signature>| Bytes::from(s.expect("signed").as_bytes().to_vec());
    let pending = n
        .manager(index)
        .dispute(
            o.params.user,
            o.params.node,
            sol_state(&state.state),
            sig(state.user_signature),
            sig(state.node_signature),
        )
        .send()
        .await
        .expect("the dispute reaches the mempool");
    *pending.tx_hash()
}

/// `POST /channel/propose` of counting `tenths` more of the user's deposit on `current`.
async fn propose_count(
    n: &Node,
    o: &Opened,
    current: &ChannelState,
    tenths: u64,
) -> (StatusCode, Value) {
    propose_as_user(n, o, current, count_user_eth(eth(tenths)))
        .await
        .1
}

async fn head(n: &Node) -> u64 {
    n.account(BOB).1.get_block_number().await.expect("head")
}

async fn is_pending(n: &Node, hash: B256) -> bool {
    let tx = n
        .account(BOB)
        .1
        .get_transaction_by_hash(hash)
        .await
        .expect("lookup");
    tx.is_some_and(|tx| tx.block_number.is_none())
}

async fn disputed_nonce(n: &Node, o: &Opened) -> u64 {
    n.manager(BOB)
        .channel(o.params.channel_id())
        .call()
        .await
        .expect("channel")
        .disputeNonce
}

/// One pass of the node's mempool watch.
async fn pass(n: &Node, memory: &mut Mempool) {
    mempool::watch_mempool(&n.state, memory)
        .await
        .expect("pass");
}

/// Blocks are mined only on `evm_mine` / `anvil_mine` from here on.
async fn stop_mining(n: &Node) {
    n.chain_rpc("evm_setAutomine", json!([false])).await;
}

async fn frozen(n: &Node, o: &Opened) -> bool {
    n.store
        .is_frozen(o.params.channel_id())
        .await
        .expect("frozen")
}

/// The node's background work (both loops), stopped when the test ends.
struct Watcher(tokio::task::JoinHandle<()>);

impl Drop for Watcher {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[tokio::test]
async fn a_dispute_in_the_mempool_freezes_its_channel_before_any_block_is_mined() {
    let n = Node::start(vec![]).await;
    let (alice, alice_state) = channel_with(&n, ALICE, &[10]).await;
    let (bob, bob_state) = channel_with(&n, BOB, &[10]).await;
    let latest = stored(&n, &alice, 1).await;
    stop_mining(&n).await;
    // The filter is made before the dispute is broadcast: it shows what enters the mempool after it.
    mempool::watch_mempool(&n.state, &mut Mempool::default())
        .await
        .expect("first look");
    let _watcher = Watcher(watch::spawn(n.state.clone()));

    let before = head(&n).await;
    let hash = dispute_pending(&n, ALICE, &alice, &latest).await;
    let start = Instant::now();
    while !frozen(&n, &alice).await {
        assert!(start.elapsed() < WAIT, "the node never froze the channel");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(head(&n).await, before, "no block was mined");
    assert!(
        is_pending(&n, hash).await,
        "the dispute is still in the mempool"
    );

    let (status, body) = propose_count(&n, &alice, &alice_state, 5).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "CHANNEL_FROZEN", "{body}");
    // Another channel of the node is not touched.
    let bob_next = count_eth(&n, &bob, &bob_state, eth(5)).await;
    assert_eq!(bob_next.nonce, 2);
    assert!(!frozen(&n, &bob).await);

    // Once mined, the freeze is final: the record of the mempool's transaction is gone, the channel frozen.
    n.chain_rpc("evm_mine", json!([])).await;
    let start = Instant::now();
    while !n.store.pending_disputes().await.expect("read").is_empty() {
        assert!(
            start.elapsed() < WAIT,
            "the mined dispute never confirmed the freeze"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(frozen(&n, &alice).await);
    let (status, body) = propose_count(&n, &alice, &alice_state, 5).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test]
async fn a_stale_dispute_in_the_mempool_is_answered_right_behind_it() {
    let n = Node::start(vec![]).await;
    // Nonce 1 counts 1 ETH of the user's deposit, nonce 2 half an ETH more.
    let (alice, _) = channel_with(&n, ALICE, &[10, 5]).await;
    let id = alice.params.channel_id();
    let stale = stored(&n, &alice, 1).await;
    stop_mining(&n).await;
    let mut memory = Mempool::default();
    mempool::watch_mempool(&n.state, &mut memory)
        .await
        .expect("first look");
    let before = head(&n).await;
    let dispute_hash = dispute_pending(&n, ALICE, &alice, &stale).await;

    mempool::watch_mempool(&n.state, &mut memory)
        .await
        .expect("pass");
    assert!(frozen(&n, &alice).await);
    let sent = n.store.dispute_txs(id).await.expect("txs");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].action, DisputeAction::Answer { nonce: 2 });
    assert_eq!(sent[0].status, DisputeTxStatus::Sent);
    // The answer is in the mempool beside the dispute, before any block: a `respond` with the state at nonce 2.
    assert_eq!(head(&n).await, before);
    let answer = n
        .account(BOB)
        .1
        .get_transaction_by_hash(sent[0].tx_hash)
        .await
        .expect("lookup")
        .expect("the RPC has the answer");
    assert!(answer.block_number.is_none(), "not mined yet");
    assert_eq!(answer.inner.signer(), n.state.node);
    let call =
        ChannelManager::respondCall::abi_decode(alloy::consensus::Transaction::input(&answer))
            .expect("a respond call");
    assert_eq!(call.state.nonce, 2);
    assert!(is_pending(&n, dispute_hash).await);

    // One block: the dispute, then the answer behind it; the chain holds the node's newer state.
    n.chain_rpc("evm_mine", json!([])).await;
    let provider = n.account(BOB).1;
    let disputed = provider
        .get_transaction_receipt(dispute_hash)
        .await
        .expect("read")
        .expect("mined");
    let answered = provider
        .get_transaction_receipt(sent[0].tx_hash)
        .await
        .expect("read")
        .expect("mined");
    assert!(disputed.status() && answered.status(), "both went through");
    assert_eq!(disputed.block_number, answered.block_number);
    assert!(disputed.transaction_index < answered.transaction_index);
    assert_eq!(disputed_nonce(&n, &alice).await, 2);

    // The pass over mined disputes finds the answer done and sends nothing more.
    let sent_by_node = provider
        .get_transaction_count(n.state.node)
        .await
        .expect("nonce");
    let mut disputes = dispute::Memory::default();
    watch::watch_chain(&n.state).await.expect("watch");
    dispute::follow_disputes(&n.state, &mut disputes)
        .await
        .expect("follow");
    mempool::watch_mempool(&n.state, &mut memory)
        .await
        .expect("pass");
    let txs = n.store.dispute_txs(id).await.expect("txs");
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].status, DisputeTxStatus::Mined);
    assert_eq!(
        provider
            .get_transaction_count(n.state.node)
            .pending()
            .await
            .expect("nonce"),
        sent_by_node,
        "one answer"
    );
    assert!(n.store.pending_disputes().await.expect("read").is_empty());
}

#[tokio::test]
async fn a_dispute_that_is_never_mined_releases_its_channel_once_gone_for_12_blocks() {
    let n = Node::start(vec![]).await;
    let (alice, alice_state) = channel_with(&n, ALICE, &[10]).await;
    let latest = stored(&n, &alice, 1).await;
    stop_mining(&n).await;
    let mut memory = Mempool::default();
    mempool::watch_mempool(&n.state, &mut memory)
        .await
        .expect("first look");
    let hash = dispute_pending(&n, ALICE, &alice, &latest).await;
    let raw: Bytes = serde_json::from_value(
        n.chain_rpc("eth_getRawTransactionByHash", json!([hash]))
            .await,
    )
    .expect("the raw transaction");
    pass(&n, &mut memory).await;
    assert!(frozen(&n, &alice).await);

    // Blocks go by without it (it no longer fits in a block): while it is in the mempool, the freeze stays.
    n.chain_rpc("evm_setBlockGasLimit", json!([BLOCK_GAS / 600]))
        .await;
    n.chain_rpc("anvil_mine", json!(["0xc", "0xf"])).await;
    assert!(is_pending(&n, hash).await, "still in the mempool");
    pass(&n, &mut memory).await;
    pass(&n, &mut memory).await;
    assert!(
        frozen(&n, &alice).await,
        "frozen while the dispute may be mined"
    );

    // Dropped: the channel stays frozen until it has been missing for 12 blocks and two minutes of chain time.
    n.chain_rpc("anvil_dropTransaction", json!([hash])).await;
    n.chain_rpc("evm_setBlockGasLimit", json!([BLOCK_GAS]))
        .await;
    assert!(!is_pending(&n, hash).await);
    pass(&n, &mut memory).await;
    assert!(frozen(&n, &alice).await, "just missing");
    n.chain_rpc("anvil_mine", json!(["0xb", "0xf"])).await;
    pass(&n, &mut memory).await;
    assert!(frozen(&n, &alice).await, "missing for 11 blocks");
    let (status, body) = propose_count(&n, &alice, &alice_state, 5).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    n.chain_rpc("anvil_mine", json!(["0x1", "0xf"])).await;
    pass(&n, &mut memory).await;
    assert!(!frozen(&n, &alice).await, "released after 12 blocks");
    assert!(n.store.pending_disputes().await.expect("read").is_empty());
    let next = count_eth(&n, &alice, &alice_state, eth(5)).await;
    assert_eq!(next.nonce, 2, "the channel takes updates again");

    // The same dispute broadcast again freezes the channel again, and is now stale: it is answered behind it.
    n.chain_rpc("eth_sendRawTransaction", json!([raw])).await;
    pass(&n, &mut memory).await;
    assert!(frozen(&n, &alice).await, "frozen again");
    n.chain_rpc("evm_mine", json!([])).await;
    assert_eq!(
        disputed_nonce(&n, &alice).await,
        2,
        "answered in the same block"
    );
    watch::watch_chain(&n.state).await.expect("watch");
    pass(&n, &mut memory).await;
    assert!(frozen(&n, &alice).await, "frozen for good");
    assert!(n.store.pending_disputes().await.expect("read").is_empty());
}

/// Log lines written while the test's subscriber is set, for counting warnings.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        let bytes = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        String::from_utf8_lossy(&bytes).matches(needle).count()
    }
}

#[tokio::test]
async fn over_an_rpc_without_pending_transactions_the_node_warns_once_and_freezes_on_the_mined_event(
) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // The test runs on one thread: the subscriber sees everything the node logs here.
    let _logging = tracing::subscriber::set_default(subscriber);

    let n = Node::start(vec![]).await;
    let (alice, alice_state) = channel_with(&n, ALICE, &[10]).await;
    let latest = stored(&n, &alice, 1).await;
    // The node's own `/rpc` proxy: reads and logs, but no `eth_newPendingTransactionFilter` (-32601).
    let proxy = common::serve(
        RpcProxy::new(n.anvil.endpoint().as_str())
            .expect("proxy")
            .router(),
    )
    .await;
    let url = format!("http://{}/rpc", proxy.address)
        .parse()
        .expect("a URL");
    let provider = ProviderBuilder::new().connect_http(url).erased();
    let mut state = n.state.clone();
    state.chain = Arc::new(RpcChain::new(provider, n.deployment.channel_manager, 0));

    stop_mining(&n).await;
    let mut memory = Mempool::default();
    mempool::watch_mempool(&state, &mut memory)
        .await
        .expect("no pending filter is not an error");
    dispute_pending(&n, ALICE, &alice, &latest).await;
    for _ in 0..3 {
        mempool::watch_mempool(&state, &mut memory)
            .await
            .expect("pass");
    }
    assert!(!memory.watching());
    assert_eq!(
        logs.count("the chain RPC does not show pending transactions"),
        1,
        "warned once"
    );
    assert!(!frozen(&n, &alice).await, "nothing to see before the block");

    n.chain_rpc("evm_mine", json!([])).await;
    watch::watch_chain(&state).await.expect("watch");
    assert!(
        frozen(&n, &alice).await,
        "the mined event froze the channel"
    );
    let (status, body) = propose_count(&n, &alice, &alice_state, 5).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
