//! Proves on a real anvil chain that `spoke-protocol` and `ChannelManager.sol` agree: every hash the protocol
//! computes is the contract's, states and commitments it signs are accepted, and tampered, misdirected or
//! replayed ones revert.

mod common;

use alloy::primitives::{Address, B256, U256};
use common::*;
use sha2::{Digest, Sha256};
use spoke_contracts::{bindings::ChannelManager, sol_commitment, sol_lock, sol_state};
use spoke_protocol::{
    channel_id, commitment_digest, domain, lock_leaf, locks_root, merkle_proof, state_digest,
    state_struct_hash, ChannelState, Lock, Side, Update,
};

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn hashlock(preimage: B256) -> B256 {
    B256::from_slice(&Sha256::digest(preimage.as_slice()))
}

fn lock(n: u8, asset: Address, amount: U256, sender: Side, expiry: u64) -> Lock {
    Lock {
        id: B256::repeat_byte(n),
        asset,
        amount,
        sender,
        hashlock: hashlock(B256::repeat_byte(n)),
        expiry,
    }
}

/// A channel where the user counted 1 ETH and 500 Dai and the node 1000 Dai.
async fn funded(w: &World) -> ChannelState {
    w.deposit_eth(Side::User, eth(1)).await;
    w.deposit_dai(Side::User, eth(500)).await;
    w.deposit_dai(Side::Node, eth(1000)).await;
    let mut s = ChannelState::initial(w.params.channel_id());
    for (asset, side, amount) in [
        (Address::ZERO, Side::User, eth(1)),
        (w.deployment.dai, Side::User, eth(500)),
        (w.deployment.dai, Side::Node, eth(1000)),
    ] {
        s = w
            .step(
                &s,
                Update::CountDeposit {
                    asset,
                    side,
                    amount,
                },
                side,
            )
            .await;
    }
    s
}

#[tokio::test]
async fn every_hash_matches_the_contract() {
    let w = World::new().await;
    let m = &w.user.manager;
    let (user, node) = (w.params.user, w.params.node);

    assert_eq!(
        m.channelId(user, node, 0).call().await.expect("call"),
        w.params.channel_id()
    );
    assert_eq!(
        m.channelId(user, node, 7).call().await.expect("call"),
        channel_id(w.params.chain_id, w.params.contract, user, node, 7)
    );
    let dom = w.params.domain();
    assert_eq!(
        m.domainSeparator().call().await.expect("call"),
        dom.separator()
    );

    let mut s = funded(&w).await;
    let now = w.now().await;
    for n in 1..=3u8 {
        let sender = if n == 2 { Side::Node } else { Side::User };
        let l = lock(n, w.deployment.dai, eth(n as u64), sender, now + 7200);
        s = w.step(&s, Update::CreateLock { lock: l }, sender).await;
    }
    assert_eq!(
        m.hashState(sol_state(&s)).call().await.expect("call"),
        state_struct_hash(&s)
    );
    assert_eq!(
        m.stateDigest(sol_state(&s)).call().await.expect("call"),
        state_digest(&dom, &s)
    );
    for l in &s.locks {
        assert_eq!(
            m.lockLeaf(s.channel_id, sol_lock(l))
                .call()
                .await
                .expect("call"),
            lock_leaf(s.channel_id, l)
        );
    }

    let withdraw = Update::Withdraw {
        asset: w.deployment.dai,
        side: Side::User,
        amount: eth(5),
        recipient: user,
    };
    let after = w.step(&s, withdraw.clone(), Side::User).await;
    let c = withdraw.commitment(&after).expect("commitment");
    assert_eq!(
        m.commitmentDigest(sol_commitment(&c))
            .call()
            .await
            .expect("call"),
        commitment_digest(&dom, &c)
    );

    let empty = ChannelState::initial(w.params.channel_id());
    assert_eq!(
        m.hashState(sol_state(&empty)).call().await.expect("call"),
        state_struct_hash(&empty)
    );
}

#[tokio::test]
async fn signed_states_are_accepted_and_a_newer_one_replaces_an_older_one() {
    let w = World::new().await;
    let (user, node) = (w.params.user, w.params.node);
    let s1 = funded(&w).await;
    let now = w.now().await;
    // The user pays the node 100 Dai with a lock that the node resolves.
    let l = lock(1, w.deployment.dai, eth(100), Side::User, now + 7200);
    let s2 = w
        .step(&s1, Update::CreateLock { lock: l }, Side::User)
        .await;
    let s3 = w
        .step(
            &s2,
            Update::ResolveLock {
                id: B256::repeat_byte(1),
                preimage: B256::repeat_byte(1),
            },
            Side::Node,
        )
        .await;

    // The user disputes with the older state; a watchtower answers with the newer one.
    let (st, us, ns) = dispute_args(&w.sign(&s2));
    send!(w.user.manager.dispute(user, node, st, us, ns));
    let id = w.params.channel_id();
    assert_eq!(
        w.user.manager.stateHash(id).call().await.expect("call"),
        state_struct_hash(&s2)
    );

    // Tampered: a balance changed after both signed.
    let signed3 = w.sign(&s3);
    let (mut tampered, us3, ns3) = dispute_args(&signed3);
    tampered.assets[1].balanceNode += U256::from(1);
    tampered.assets[1].balanceUser -= U256::from(1);
    assert_reverts!(
        w.watchtower
            .manager
            .respond(user, node, tampered, us3.clone(), ns3.clone()),
        ChannelManager::InvalidSignature
    );
    // Swapped signatures.
    let (st3, _, _) = dispute_args(&signed3);
    assert_reverts!(
        w.watchtower
            .manager
            .respond(user, node, st3.clone(), ns3.clone(), us3.clone()),
        ChannelManager::InvalidSignature
    );
    // Signed under another chain's domain.
    let foreign = domain(1, w.params.contract);
    let digest = state_digest(&foreign, &s3);
    let (fu, fn_) = (
        sig_bytes(&w.user.signer.sign_digest(&digest).expect("sign")),
        sig_bytes(&w.node.signer.sign_digest(&digest).expect("sign")),
    );
    assert_reverts!(
        w.watchtower
            .manager
            .respond(user, node, st3.clone(), fu, fn_),
        ChannelManager::InvalidSignature
    );

    send!(w.watchtower.manager.respond(user, node, st3, us3, ns3));
    assert_eq!(
        w.user.manager.stateHash(id).call().await.expect("call"),
        state_struct_hash(&s3)
    );
    // The older state cannot come back.
    let (st2, us2, ns2) = dispute_args(&w.sign(&s2));
    assert_reverts!(
        w.watchtower.manager.respond(user, node, st2, us2, ns2),
        ChannelManager::NonceNotNewer
    );

    // After the window: conclude with the final state and pay each side exactly its balance.
    w.warp(WINDOW).await;
    send!(w.watchtower.manager.conclude(user, node, sol_state(&s3)));
    let (user_eth, user_dai, node_dai) = (
        w.eth_balance(user).await,
        w.dai_balance(user).await,
        w.dai_balance(node).await,
    );
    for (asset, side) in [
        (Address::ZERO, Side::User),
        (w.deployment.dai, Side::User),
        (w.deployment.dai, Side::Node),
    ] {
        let call = w.watchtower.manager.claim(user, node, 0, asset, side as u8);
        send!(call);
    }
    assert_eq!(w.eth_balance(user).await - user_eth, eth(1));
    assert_eq!(w.dai_balance(user).await - user_dai, eth(400));
    assert_eq!(w.dai_balance(node).await - node_dai, eth(1100));

    // The concluded channel's states are dead: the pair is at epoch 1 now.
    assert_eq!(
        w.user
            .manager
            .currentEpoch(user, node)
            .call()
            .await
            .expect("call"),
        1
    );
    let (st3, us3, ns3) = dispute_args(&w.sign(&s3));
    assert_reverts!(
        w.user.manager.dispute(user, node, st3, us3, ns3),
        ChannelManager::WrongChannel
    );
}

#[tokio::test]
async fn withdrawal_commitments_pay_their_cumulative_difference_once() {
    let w = World::new().await;
    let (user, node) = (w.params.user, w.params.node);
    let dai = w.deployment.dai;
    let s = funded(&w).await;
    let recipient = Address::repeat_byte(0x5e);

    let first = Update::Withdraw {
        asset: dai,
        side: Side::User,
        amount: eth(10),
        recipient,
    };
    let s1 = w.step(&s, first.clone(), Side::User).await;
    let c1 = first.commitment(&s1).expect("commitment");
    let (us, ns) = w.sign_commitment(&c1);
    let call =
        w.watchtower
            .manager
            .withdraw(user, node, 0, sol_commitment(&c1), us.clone(), ns.clone());
    send!(call);
    assert_eq!(w.dai_balance(recipient).await, eth(10));
    // The same commitment again pays nothing.
    let again = w
        .watchtower
        .manager
        .withdraw(user, node, 0, sol_commitment(&c1), us, ns);
    assert_reverts!(again, ChannelManager::NothingToWithdraw);
    // An equal second withdrawal: cumulative 20 pays the difference, 10.
    let s2 = w.step(&s1, first.clone(), Side::User).await;
    let c2 = first.commitment(&s2).expect("commitment");
    assert_eq!(c2.cumulative, eth(20));
    let (us, ns) = w.sign_commitment(&c2);
    let call = w
        .watchtower
        .manager
        .withdraw(user, node, 0, sol_commitment(&c2), us, ns);
    send!(call);
    assert_eq!(w.dai_balance(recipient).await, eth(20));

    // A commitment signed under another contract's domain is refused.
    let foreign = domain(w.params.chain_id, Address::repeat_byte(0xdd));
    let digest = commitment_digest(&foreign, &c2);
    let (fu, fn_) = (
        sig_bytes(&w.user.signer.sign_digest(&digest).expect("sign")),
        sig_bytes(&w.node.signer.sign_digest(&digest).expect("sign")),
    );
    assert_reverts!(
        w.watchtower
            .manager
            .withdraw(user, node, 0, sol_commitment(&c2), fu, fn_),
        ChannelManager::InvalidSignature
    );

    // A dispute with a state from before the executed withdrawal cannot pay it again.
    let (st, us, ns) = dispute_args(&w.sign(&s1));
    assert_reverts!(
        w.user.manager.dispute(user, node, st, us, ns),
        ChannelManager::NonceBelowMinimum
    );
    // With the latest state the withdrawn 20 stays withdrawn: the user's exit is 480 Dai, not 500.
    let (st, us, ns) = dispute_args(&w.sign(&s2));
    send!(w.user.manager.dispute(user, node, st, us, ns));
    w.warp(WINDOW).await;
    send!(w.user.manager.conclude(user, node, sol_state(&s2)));
    let before = w.dai_balance(user).await;
    let call = w
        .watchtower
        .manager
        .claim(user, node, 0, dai, Side::User as u8);
    send!(call);
    assert_eq!(w.dai_balance(user).await - before, eth(480));
}

#[tokio::test]
async fn a_lock_settles_to_its_receiver_after_a_registry_reveal() {
    let w = World::new().await;
    let (user, node) = (w.params.user, w.params.node);
    let dai = w.deployment.dai;
    let mut s = funded(&w).await;
    let now = w.now().await;
    // Three locks, so the proofs have real siblings: 1 and 3 from the user, 2 from the node.
    for (n, sender) in [(1u8, Side::User), (2, Side::Node), (3, Side::User)] {
        let l = lock(n, dai, eth(10 * n as u64), sender, now + 2 * WINDOW);
        s = w.step(&s, Update::CreateLock { lock: l }, sender).await;
    }
    let (st, us, ns) = dispute_args(&w.sign(&s));
    assert_eq!(st.locksRoot, locks_root(s.channel_id, &s.locks));
    send!(w.node.manager.dispute(user, node, st, us, ns));

    // The node reveals lock 1's preimage before its expiry; lock 2 and 3 are never revealed.
    let reveal = w.watchtower.manager.reveal(B256::repeat_byte(1));
    send!(reveal);
    assert!(
        w.user
            .manager
            .revealedAt(hashlock(B256::repeat_byte(1)))
            .call()
            .await
            .expect("call")
            > U256::ZERO
    );

    let leaves: Vec<B256> = s.locks.iter().map(|l| lock_leaf(s.channel_id, l)).collect();
    let settle = |l: &Lock| {
        let proof = merkle_proof(&leaves, lock_leaf(s.channel_id, l)).expect("in the tree");
        w.watchtower
            .manager
            .settleLock(user, node, 0, sol_lock(l), proof)
    };
    // Before the window closes nothing settles.
    assert_reverts!(settle(&s.locks[0]), ChannelManager::ConsensusWindowOpen);
    w.warp(WINDOW).await;
    send!(settle(&s.locks[0]));
    assert_reverts!(settle(&s.locks[0]), ChannelManager::LockAlreadySettled);
    // Unrevealed locks return to their senders, but only once expired.
    assert_reverts!(settle(&s.locks[1]), ChannelManager::LockNotExpired);
    w.warp(WINDOW).await;
    send!(settle(&s.locks[1]));
    send!(settle(&s.locks[2]));
    // A lock that is not in the disputed state has no proof.
    let stranger = lock(9, dai, eth(1), Side::User, now + WINDOW);
    let bogus =
        w.watchtower
            .manager
            .settleLock(user, node, 0, sol_lock(&stranger), vec![leaves[0]]);
    assert_reverts!(bogus, ChannelManager::InvalidLockProof);

    send!(w.user.manager.conclude(user, node, sol_state(&s)));
    let (user_before, node_before) = (w.dai_balance(user).await, w.dai_balance(node).await);
    for side in [Side::User, Side::Node] {
        let call = w.watchtower.manager.claim(user, node, 0, dai, side as u8);
        send!(call);
    }
    // User: balance 500 − 10 − 30 = 460, + 30 back from lock 3 = 490.
    // Node: balance 1000 − 20 = 980, + 10 from lock 1 + 20 back from lock 2 = 1010.
    assert_eq!(w.dai_balance(user).await - user_before, eth(490));
    assert_eq!(w.dai_balance(node).await - node_before, eth(1010));
}

#[tokio::test]
async fn a_deposit_without_a_cosigned_state_exits_with_the_nonce_zero_state() {
    let w = World::new().await;
    let (user, node) = (w.params.user, w.params.node);
    w.deposit_eth(Side::User, eth(2)).await;
    send!(w.user.manager.disputeWithoutState(user, node));
    w.warp(WINDOW).await;
    let empty = ChannelState::initial(w.params.channel_id());
    send!(w.node.manager.conclude(user, node, sol_state(&empty)));
    let before = w.eth_balance(user).await;
    let call = w
        .watchtower
        .manager
        .claim(user, node, 0, Address::ZERO, Side::User as u8);
    send!(call);
    assert_eq!(w.eth_balance(user).await - before, eth(2));
}

/// A small deterministic generator, so a failure names the seed that produced it.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn amount(&mut self) -> U256 {
        // Mostly small, sometimes near 2^128 or 2^256: the encodings must agree at every width.
        match self.next() % 4 {
            0 => U256::from(self.next() % 1000),
            1 => U256::from_limbs([self.next(), self.next(), 0, 0]),
            2 => U256::MAX - U256::from(self.next() % 3),
            _ => U256::from_limbs([self.next(), self.next(), self.next(), self.next()]),
        }
    }

    fn b256(&mut self) -> B256 {
        let mut b = [0u8; 32];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        B256::from(b)
    }
}

/// A random state: up to 8 assets, up to 5 locks, amounts of every width.
fn random_state(rng: &mut XorShift) -> ChannelState {
    let mut assets: Vec<Address> = (0..rng.next() % 9)
        .map(|_| Address::from_word(rng.b256()))
        .collect();
    assets.sort();
    ChannelState {
        channel_id: rng.b256(),
        nonce: rng.next(),
        assets: assets
            .into_iter()
            .map(|asset| spoke_protocol::AssetState {
                asset,
                balance_user: rng.amount(),
                balance_node: rng.amount(),
                counted_user: rng.amount(),
                counted_node: rng.amount(),
                withdrawn_user: rng.amount(),
                withdrawn_node: rng.amount(),
                locked_user: rng.amount(),
                locked_node: rng.amount(),
            })
            .collect(),
        locks: (0..rng.next() % 6)
            .map(|_| Lock {
                id: rng.b256(),
                asset: Address::from_word(rng.b256()),
                amount: rng.amount(),
                sender: if rng.next().is_multiple_of(2) {
                    Side::User
                } else {
                    Side::Node
                },
                hashlock: rng.b256(),
                expiry: rng.next(),
            })
            .collect(),
    }
}

/// How many random states are hashed on both sides (the security test plan's A2 asks for 10,000).
const RANDOM_STATES: usize = 10_000;
/// Calls to anvil in flight at once: the comparison is bound by round trips, not by either side's hashing.
const IN_FLIGHT: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_states_hash_identically_on_both_sides() {
    let w = World::new().await;
    let dom = w.params.domain();
    let mut rng = XorShift(0x5eed_5b0c_u64);
    let states: Vec<ChannelState> = (0..RANDOM_STATES).map(|_| random_state(&mut rng)).collect();
    let states = std::sync::Arc::new(states);
    let mut checks = tokio::task::JoinSet::new();
    for lane in 0..IN_FLIGHT {
        let (m, states, dom) = (w.user.manager.clone(), states.clone(), dom.clone());
        checks.spawn(async move {
            for round in (lane..states.len()).step_by(IN_FLIGHT) {
                let state = &states[round];
                let on_chain = m.stateDigest(sol_state(state)).call().await.expect("call");
                assert_eq!(
                    on_chain,
                    state_digest(&dom, state),
                    "round {round}: {state:?}"
                );
                for l in &state.locks {
                    let leaf = m
                        .lockLeaf(state.channel_id, sol_lock(l))
                        .call()
                        .await
                        .expect("call");
                    assert_eq!(leaf, lock_leaf(state.channel_id, l), "round {round}: {l:?}");
                }
            }
        });
    }
    while let Some(lane) = checks.join_next().await {
        lane.expect("a lane of checks");
    }
    // The generator reaches every shape: no assets and eight, no locks and five.
    for (what, sizes) in [
        (
            "assets",
            states.iter().map(|s| s.assets.len()).collect::<Vec<_>>(),
        ),
        ("locks", states.iter().map(|s| s.locks.len()).collect()),
    ] {
        let (least, most) = (sizes.iter().min(), sizes.iter().max());
        assert_eq!(least, Some(&0), "{what}");
        assert_eq!(most, Some(if what == "assets" { &8 } else { &5 }), "{what}");
    }
}
