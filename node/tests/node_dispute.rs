//! The node follows disputes of its own channels through to its money, on a real anvil chain with a real SQLite
//! store: a user disputes and disappears, and after the window the node reveals, concludes, settles its locks and
//! claims exactly what the final state gives it, once; a stale dispute whose first answer failed (no ETH for gas)
//! is answered on a later tick, and an answer in flight is not sent again after a restart.

mod common;

use std::time::Duration;

use alloy::{
    primitives::Bytes,
    providers::{DynProvider, Provider},
};
use common::{unix_now, Node};
use serde_json::Value;
use spoke_contracts::{
    bindings::{ChannelManager, DevDai},
    sol_state,
};
use spoke_node::{
    api::{dispute, watch},
    store::{
        ChannelRecord, DisputeAction, DisputeTxStatus, Payment, PaymentStatus, Store, StoredUpdate,
        Write,
    },
};
use spoke_protocol::{
    sha256, state_digest, Address, ChannelState, Lock, Side, Signer, Update, B256, U256,
};

const USER: usize = 1;
/// Anvil's account that reads the chain and moves its clock: not a party to any channel here.
const BYSTANDER: usize = 7;
/// The deployment's challenge window in `common::Node`.
const WINDOW: u64 = 3600;
/// R (`Timing::default().reveal_time`): how long after the window the node leaves the conclusion to the disputer.
const GRACE: u64 = 3600;
const WAIT: Duration = Duration::from_secs(30);

fn dai(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// The channel of `USER` with the node, whose states are built and signed here and stored as the node would.
use common::Channel as Pair;

impl Pair {
    /// Stores the channel in the node with these updates, each signed by both, as the API would have.
    async fn store(&self, n: &Node, updates: &[(Update, Side)]) -> Vec<ChannelState> {
        let initial = ChannelState::initial(self.id());
        n.store
            .open_channel(
                &ChannelRecord {
                    channel_id: self.id(),
                    user: self.params.user,
                    epoch: 0,
                },
                &initial,
            )
            .await
            .expect("open");
        let mut states = vec![initial];
        for (update, proposer) in updates {
            let next = self.apply_now(states.last().expect("a state"), update, *proposer);
            let digest = state_digest(&self.params.domain(), &next);
            n.store
                .append(&StoredUpdate {
                    channel_id: self.id(),
                    nonce: next.nonce,
                    update: Some(update.clone()),
                    state: next.clone(),
                    user_signature: Some(self.user.sign_digest(&digest).expect("sign")),
                    node_signature: Some(self.node.sign_digest(&digest).expect("sign")),
                    commitment_signatures: None,
                })
                .await
                .expect("append");
            states.push(next);
        }
        states
    }

    /// The user disputes with `state` from its own account.
    async fn user_disputes(&self, n: &Node, state: &ChannelState) {
        let digest = state_digest(&self.params.domain(), state);
        let sig =
            |s: &Signer| Bytes::from(s.sign_digest(&digest).expect("sign").as_bytes().to_vec());
        let receipt = manager(n, USER)
            .dispute(
                self.params.user,
                self.params.node,
                sol_state(state),
                sig(&self.user),
                sig(&self.node),
            )
            .send()
            .await
            .expect("dispute sent")
            .get_receipt()
            .await
            .expect("receipt");
        assert!(receipt.status(), "the dispute went through");
    }
}

fn manager(n: &Node, account: usize) -> ChannelManager::ChannelManagerInstance<DynProvider> {
    ChannelManager::new(n.deployment.channel_manager, n.account(account).1)
}

async fn rpc(n: &Node, method: &'static str, params: Value) {
    let _: Value = n
        .account(BYSTANDER)
        .1
        .raw_request(method.into(), params)
        .await
        .expect(method);
}

/// Moves the chain's clock `seconds` forward and mines a block at the new time.
async fn advance(n: &Node, seconds: u64) {
    rpc(n, "evm_increaseTime", serde_json::json!([seconds])).await;
    rpc(n, "evm_mine", serde_json::json!([])).await;
}

/// How many transactions the node's account has sent.
async fn node_sent(n: &Node) -> u64 {
    n.account(BYSTANDER)
        .1
        .get_transaction_count(n.state.node)
        .await
        .expect("nonce")
}

/// How many transactions the node's account has sent, counting those not mined yet.
async fn node_pending(n: &Node) -> u64 {
    n.account(BYSTANDER)
        .1
        .get_transaction_count(n.state.node)
        .pending()
        .await
        .expect("nonce")
}

async fn dai_of(n: &Node, who: Address) -> U256 {
    DevDai::new(n.deployment.dai, n.account(BYSTANDER).1)
        .balanceOf(who)
        .call()
        .await
        .expect("balance")
}

/// Both sides deposit `amount` Dai into the channel on chain.
async fn both_deposit(n: &Node, pair: &Pair, amount: U256) {
    let (_, user) = n.account(USER);
    let token = DevDai::new(n.deployment.dai, user.clone());
    for account in [pair.params.user, n.state.node] {
        let r = token.mint(account, amount).send().await.expect("mint");
        r.get_receipt().await.expect("minted");
    }
    let r = token
        .approve(n.deployment.channel_manager, U256::MAX)
        .send()
        .await
        .expect("approve");
    r.get_receipt().await.expect("approved");
    let r = manager(n, USER)
        .deposit(pair.params.user, n.state.node, n.deployment.dai, 0, amount)
        .send()
        .await
        .expect("deposit");
    assert!(r.get_receipt().await.expect("deposited").status());
    let hash = n
        .state
        .tx
        .deposit(pair.params.user, n.deployment.dai, amount)
        .await
        .expect("node deposit");
    n.state.tx.wait(hash, 1, WAIT).await.expect("mined");
}

/// One tick of the node's loop for disputes: read the chain, then follow every disputed channel.
async fn tick(n: &Node, memory: &mut dispute::Memory) {
    watch::watch_chain(&n.state).await.expect("watch");
    dispute::follow_disputes(&n.state, memory)
        .await
        .expect("follow");
}

/// `GET /admin/disputes` with an admin token.
async fn admin_disputes(n: &Node) -> Vec<Value> {
    const TOKEN: &str = "an-admin-token-of-the-operator-0123456789";
    let mut state = n.state.clone();
    state.admin_token = Some(TOKEN.parse().expect("a token"));
    let router = spoke_node::api::app(state).expect("router");
    let (status, body) = common::call(&router, common::get("/admin/disputes", Some(TOKEN))).await;
    assert_eq!(status, axum::http::StatusCode::OK, "{body}");
    body.as_array().expect("a list").clone()
}

fn count(asset: Address, side: Side, amount: U256) -> (Update, Side) {
    (
        Update::CountDeposit {
            asset,
            side,
            amount,
        },
        side,
    )
}

#[tokio::test]
async fn after_the_users_dispute_the_node_reveals_concludes_settles_its_locks_and_claims_once() {
    let n = Node::start(vec![]).await;
    let pair = Pair::on_node(&n, USER);
    let asset = n.deployment.dai;
    both_deposit(&n, &pair, dai(10)).await;

    let now = unix_now();
    let paid_preimage = B256::repeat_byte(0x51);
    // The user pays the node 3 under a preimage the node learned from the payee (the payer never came back).
    let paid = Lock {
        id: B256::repeat_byte(0xa1),
        asset,
        amount: dai(3),
        sender: Side::User,
        hashlock: sha256(paid_preimage),
        expiry: now + 3 * 3600,
    };
    // The node locks 2 to the user; nobody ever reveals its preimage, so it returns to the node at expiry.
    let refunded = Lock {
        id: B256::repeat_byte(0xb2),
        asset,
        amount: dai(2),
        sender: Side::Node,
        hashlock: sha256(B256::repeat_byte(0x62)),
        expiry: now + 4 * 3600,
    };
    // A lock to the user that the user's preimage opens: its outcome is the user's, not the node's to settle.
    let users_preimage = B256::repeat_byte(0x73);
    let users = Lock {
        id: B256::repeat_byte(0xc3),
        asset,
        amount: dai(1),
        sender: Side::Node,
        hashlock: sha256(users_preimage),
        expiry: now + 4 * 3600,
    };
    let states = pair
        .store(
            &n,
            &[
                count(asset, Side::User, dai(10)),
                count(asset, Side::Node, dai(10)),
                (Update::CreateLock { lock: paid.clone() }, Side::User),
                (
                    Update::CreateLock {
                        lock: refunded.clone(),
                    },
                    Side::Node,
                ),
                (
                    Update::CreateLock {
                        lock: users.clone(),
                    },
                    Side::Node,
                ),
            ],
        )
        .await;
    let last = states.last().expect("a state").clone();
    let entry = last.asset(asset).expect("the asset");
    // What the final state gives the node: its balance, plus the locks that settle to it.
    let expected = entry.balance_node + paid.amount + refunded.amount;
    assert_eq!(
        expected,
        dai(12),
        "10 − 2 − 1 locked to the user, + 3 paid, + 2 refunded"
    );

    let payment = Payment {
        id: Payment::id_for(pair.id(), paid.id),
        payer: pair.params.user,
        payee: Some(Address::repeat_byte(0x99)),
        link_address: None,
        asset,
        amount: paid.amount,
        hashlock: paid.hashlock,
        payer_channel: pair.id(),
        payer_lock_id: paid.id,
        payer_expiry: paid.expiry,
        payee_channel: None,
        payee_expiry: paid.expiry - 7200,
        encrypted_preimage: None,
        preimage: Some(paid_preimage),
        revealed: false,
        status: PaymentStatus::Resolved,
        created_at: now,
        updated_at: now,
    };
    // The node's refund lock forwarded another user's payment to this user, who never took it.
    let forwarded = Payment {
        id: refunded.id,
        payer: Address::repeat_byte(0x98),
        payee: Some(pair.params.user),
        hashlock: refunded.hashlock,
        amount: refunded.amount,
        payer_channel: B256::repeat_byte(0x77),
        payer_lock_id: B256::repeat_byte(0x78),
        payer_expiry: refunded.expiry + 7200,
        payee_channel: Some(pair.id()),
        payee_expiry: refunded.expiry,
        preimage: None,
        status: PaymentStatus::Forwarded,
        ..payment.clone()
    };
    n.store
        .write(&[Write::Payment(&payment), Write::Payment(&forwarded)])
        .await
        .expect("payments");

    // The user reveals its own preimage and disputes with the latest state, then disappears.
    let r = manager(&n, USER)
        .reveal(users_preimage)
        .send()
        .await
        .expect("reveal");
    assert!(r.get_receipt().await.expect("revealed").status());
    pair.user_disputes(&n, &last).await;

    let before = dai_of(&n, n.state.node).await;
    let sent_before = node_sent(&n).await;
    let mut memory = dispute::Memory::default();

    // During the window: the node reveals the preimage it knows (before expiry − G), and does nothing else.
    tick(&n, &mut memory).await;
    assert!(n.store.is_frozen(pair.id()).await.expect("frozen"));
    let revealed_at = manager(&n, BYSTANDER)
        .revealedAt(paid.hashlock)
        .call()
        .await
        .expect("revealedAt");
    assert!(
        revealed_at > U256::ZERO,
        "the node revealed the payer's preimage"
    );
    tick(&n, &mut memory).await;
    assert_eq!(
        node_sent(&n).await,
        sent_before + 1,
        "one reveal, nothing more yet"
    );
    assert_eq!(
        dai_of(&n, n.state.node).await,
        before,
        "nothing to claim before the window closes"
    );

    // Past the window, the conclusion is left to the user for R.
    advance(&n, WINDOW + 60).await;
    tick(&n, &mut memory).await;
    assert_eq!(
        node_sent(&n).await,
        sent_before + 1,
        "the user may still conclude"
    );

    // Past R too, but before the node's refund lock expires: conclude, settle the paid lock, claim.
    advance(&n, GRACE).await;
    tick(&n, &mut memory).await;
    let after_first = dai_of(&n, n.state.node).await;
    assert_eq!(
        after_first - before,
        entry.balance_node + paid.amount,
        "balance plus the paid lock, the refund lock still waiting for its expiry"
    );
    assert!(
        manager(&n, BYSTANDER)
            .lockSettled(spoke_protocol::lock_leaf(pair.id(), &paid))
            .call()
            .await
            .expect("settled"),
        "the paid lock settled"
    );
    let sent_mid = node_sent(&n).await;
    assert_eq!(sent_mid, sent_before + 4, "reveal, conclude, settle, claim");
    // The operator sees where the dispute stands.
    let listed = admin_disputes(&n).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        listed[0]["channelId"],
        serde_json::json!(format!("{:#x}", pair.id()))
    );
    let steps: Vec<(&str, &str)> = listed[0]["transactions"]
        .as_array()
        .expect("transactions")
        .iter()
        .map(|t| {
            (
                t["action"].as_str().expect("action"),
                t["status"].as_str().expect("status"),
            )
        })
        .collect();
    let settle = format!("settle:{:#x}", paid.id);
    let claim = format!("claim:{asset:#x}");
    assert_eq!(
        steps,
        vec![
            ("reveal", "mined"),
            ("conclude", "mined"),
            (settle.as_str(), "mined"),
            (claim.as_str(), "mined"),
        ]
    );
    tick(&n, &mut memory).await;
    assert_eq!(
        node_sent(&n).await,
        sent_mid,
        "nothing to do until the refund lock expires"
    );

    // Past the refund lock's expiry: it settles back to the node and the rest is claimed.
    advance(&n, 2 * 3600).await;
    tick(&n, &mut memory).await;
    assert_eq!(
        dai_of(&n, n.state.node).await - before,
        expected,
        "exactly what the final state gives the node"
    );
    let sent_end = node_sent(&n).await;
    assert_eq!(
        sent_end,
        sent_mid + 2,
        "settle the refund lock, claim again"
    );
    assert!(
        !manager(&n, BYSTANDER)
            .lockSettled(spoke_protocol::lock_leaf(pair.id(), &users))
            .call()
            .await
            .expect("settled"),
        "the user's lock is left to the user"
    );

    // The store says what was done; nothing is done again, not on later ticks nor after a restart.
    let done: Vec<_> = n
        .store
        .dispute_txs(pair.id())
        .await
        .expect("txs")
        .into_iter()
        .map(|t| (t.action, t.status))
        .collect();
    let mined = DisputeTxStatus::Mined;
    assert_eq!(
        done,
        vec![
            (DisputeAction::Reveal, mined),
            (DisputeAction::Conclude, mined),
            (DisputeAction::Settle { lock_id: paid.id }, mined),
            (DisputeAction::Claim { asset }, mined),
            (
                DisputeAction::Settle {
                    lock_id: refunded.id
                },
                mined
            ),
            (DisputeAction::Claim { asset }, mined),
        ]
    );
    assert!(
        n.store
            .channels_in_dispute()
            .await
            .expect("list")
            .is_empty(),
        "the dispute is finished"
    );
    assert!(admin_disputes(&n).await.is_empty());
    let payment = n
        .store
        .payment(payment.id)
        .await
        .expect("read")
        .expect("payment");
    assert_eq!(payment.status, PaymentStatus::Completed);
    assert!(payment.revealed);
    let forwarded = n
        .store
        .payment(forwarded.id)
        .await
        .expect("read")
        .expect("payment");
    assert_eq!(
        forwarded.status,
        PaymentStatus::Refunding,
        "the payee can no longer be paid: the payer's lock goes back"
    );
    tick(&n, &mut memory).await;
    tick(&n, &mut dispute::Memory::default()).await;
    assert_eq!(node_sent(&n).await, sent_end, "nothing twice");
    assert_eq!(dai_of(&n, n.state.node).await - before, expected);
}

#[tokio::test]
async fn a_failed_answer_to_a_stale_dispute_is_sent_again_on_a_later_tick_and_only_once() {
    let n = Node::start(vec![]).await;
    let pair = Pair::on_node(&n, USER);
    let asset = n.deployment.dai;
    both_deposit(&n, &pair, dai(10)).await;
    let states = pair
        .store(
            &n,
            &[
                count(asset, Side::User, dai(10)),
                count(asset, Side::Node, dai(10)),
            ],
        )
        .await;
    // The user disputes with nonce 1, where none of the node's 10 is counted: the node's newer state is 2.
    pair.user_disputes(&n, &states[1]).await;
    let sent_before = node_sent(&n).await;

    // The node's account has no ETH for gas at the moment: the answer fails and nothing is recorded as sent.
    let funds = n
        .account(BYSTANDER)
        .1
        .get_balance(n.state.node)
        .await
        .expect("balance");
    rpc(
        &n,
        "anvil_setBalance",
        serde_json::json!([n.state.node, "0x0"]),
    )
    .await;
    let mut memory = dispute::Memory::default();
    tick(&n, &mut memory).await;
    let disputed = || async {
        manager(&n, BYSTANDER)
            .channel(pair.id())
            .call()
            .await
            .expect("channel")
            .disputeNonce
    };
    assert_eq!(disputed().await, 1, "the first answer failed");
    assert!(n
        .store
        .dispute_txs(pair.id())
        .await
        .expect("txs")
        .is_empty());
    assert_eq!(node_sent(&n).await, sent_before);

    // Funded again, but blocks are not being mined: the next tick answers, and the answer stays in flight.
    rpc(
        &n,
        "anvil_setBalance",
        serde_json::json!([n.state.node, format!("{funds:#x}")]),
    )
    .await;
    rpc(&n, "evm_setAutomine", serde_json::json!([false])).await;
    tick(&n, &mut memory).await;
    let txs = n.store.dispute_txs(pair.id()).await.expect("txs");
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].status, DisputeTxStatus::Sent);
    // After a restart (a fresh loop, the same store) the answer in flight is waited for, not sent again.
    tick(&n, &mut dispute::Memory::default()).await;
    assert_eq!(
        node_pending(&n).await,
        sent_before + 1,
        "one answer in flight"
    );

    // Mined: recorded as such, and the dispute holds the node's newest state.
    rpc(&n, "evm_setAutomine", serde_json::json!([true])).await;
    rpc(&n, "evm_mine", serde_json::json!([])).await;
    tick(&n, &mut memory).await;
    assert_eq!(disputed().await, 2, "answered with the node's newest state");
    tick(&n, &mut memory).await;
    tick(&n, &mut dispute::Memory::default()).await;
    assert_eq!(node_sent(&n).await, sent_before + 1, "one answer");
    let txs = n.store.dispute_txs(pair.id()).await.expect("txs");
    assert_eq!(txs.len(), 1);
    assert_eq!(txs[0].action, DisputeAction::Answer { nonce: 2 });
    assert_eq!(txs[0].status, DisputeTxStatus::Mined);

    // After the window the node concludes at its own state and claims its 10.
    let before = dai_of(&n, n.state.node).await;
    advance(&n, WINDOW + GRACE + 1).await;
    tick(&n, &mut memory).await;
    assert_eq!(dai_of(&n, n.state.node).await - before, dai(10));
    assert_eq!(
        node_sent(&n).await,
        sent_before + 3,
        "answer, conclude, claim"
    );
}
