//! A forced exit without the node (`Client::exit`) on a real anvil chain with time travel: the user disputes with
//! its latest double-signed state, waits out the challenge window, concludes and claims exactly its balance; a
//! user with a deposit but no co-signed state exits with the nonce-0 state; nothing is signed once an exit began; a
//! step someone else (the node) is doing at the same moment is waited for, not an error.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::time::Duration;

use common::{dai, pay_and_wait, System};
use spoke_client::{ChannelStatus, Client, ClientEvent, Error, ExitStep};
use spoke_protocol::{lock_leaf, merkle_proof, Lock, SignedState, U256};

/// The challenge window of the harness's deployment.
const WINDOW: u64 = 3600;

/// Runs `client.exit()`, moving the chain's clock past the window as soon as the client waits for it.
async fn exit_with_time_travel(
    system: &System,
    client: &Client,
) -> (spoke_client::ExitReport, Vec<ExitStep>) {
    let mut events = client.events();
    let mut exiting = {
        let client = client.clone();
        tokio::spawn(async move { client.exit().await })
    };
    let mut steps = Vec::new();
    let report = loop {
        tokio::select! {
            done = &mut exiting => break done.expect("joins").expect("the exit succeeds"),
            event = events.recv() => match event {
                Ok(ClientEvent::Exit(step)) => {
                    if matches!(step, ExitStep::Waiting { .. }) {
                        system.advance(WINDOW + 1).await;
                    }
                    steps.push(step);
                }
                Ok(_) => {}
                Err(e) => panic!("the client's events ended: {e}"),
            },
        }
    };
    while let Ok(event) = events.try_recv() {
        if let ClientEvent::Exit(step) = event {
            steps.push(step);
        }
    }
    (report, steps)
}

/// `amount` of Dai from `payer` to `payee`, completed.
async fn pay(system: &System, payer: &Client, payee: &Client, amount: U256) {
    pay_and_wait(payer, payee.address(), system.deployment.dai, amount).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_exits_with_the_node_offline_and_receives_exactly_its_balance() {
    let system = System::start(10).await;
    let payer = system.client(1).await;
    let payee = system.client(2).await;
    system.collateralize(&payee).await;
    system.fund(&payer, dai(10)).await;
    pay(&system, &payer, &payee, dai(3)).await;
    let latest = payer.export_state().await.expect("a double-signed state");
    let before = system.chain_balance(payer.address()).await;

    system.stop_node();
    let (report, steps) = exit_with_time_travel(&system, &payer).await;

    assert_eq!(report.final_nonce, Some(latest.state.nonce));
    assert!(report.is_done(), "no lock is left: {report:?}");
    assert_eq!(
        system.chain_balance(payer.address()).await - before,
        dai(7),
        "the payer gets back its deposit less what it paid"
    );
    assert!(matches!(steps.first(), Some(ExitStep::Frozen)), "{steps:?}");
    assert!(steps
        .iter()
        .any(|s| matches!(s, ExitStep::Disputed { tx: Some(_), .. })));
    assert!(steps
        .iter()
        .any(|s| matches!(s, ExitStep::Concluded { .. })));
    assert!(steps
        .iter()
        .any(|s| matches!(s, ExitStep::Claimed { amount, .. } if *amount == dai(7))));
    let params = payer.params().await;
    let chain = payer.chain().expect("chain");
    assert_eq!(
        chain
            .channel_status(params.channel_id())
            .await
            .expect("status")
            .status,
        ChannelStatus::Concluded
    );

    // Nothing more is signed in this channel, and a second call finds nothing left to do.
    match payer
        .pay(payee.address(), system.deployment.dai, dai(1))
        .await
    {
        Err(Error::Refused(reason)) => assert!(reason.contains("exited"), "{reason}"),
        other => panic!("a payment after the exit: {other:?}"),
    }
    let again = payer.exit().await.expect("idempotent");
    assert!(again.is_done());
    assert_eq!(
        system.chain_balance(payer.address()).await - before,
        dai(7),
        "nothing is paid twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_without_a_co_signed_state_exits_with_the_nonce_0_state() {
    let system = System::start(10).await;
    let user = system.client(3).await;
    let chain = user.chain().expect("chain");
    chain
        .deposit(user.node_config().node, system.deployment.dai, dai(5))
        .await
        .expect("deposited, never counted");
    assert!(user.export_state().await.is_none());
    let before = system.chain_balance(user.address()).await;

    system.stop_node();
    let (report, steps) = exit_with_time_travel(&system, &user).await;

    assert_eq!(report.final_nonce, Some(0));
    assert!(steps.iter().any(|s| matches!(
        s,
        ExitStep::Disputed {
            nonce: 0,
            tx: Some(_),
            ..
        }
    )));
    assert_eq!(
        system.chain_balance(user.address()).await - before,
        dai(5),
        "the whole deposit comes back"
    );
    assert_eq!(
        chain
            .book(user.params().await.channel_id(), system.deployment.dai)
            .await
            .expect("book")
            .owed(spoke_protocol::Side::User),
        U256::ZERO
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_dispute_is_answered_by_the_node_with_the_newer_state_and_the_exit_ends_there() {
    let system = System::start(10).await;
    let payer = system.client(1).await;
    let payee = system.client(2).await;
    system.collateralize(&payee).await;
    system.fund(&payer, dai(10)).await;
    let old = payer.export_state().await.expect("the funded state");
    pay(&system, &payer, &payee, dai(4)).await;
    let latest = payer.export_state().await.expect("the newest state");
    assert!(latest.state.nonce > old.state.nonce);
    let before = system.chain_balance(payer.address()).await;

    // The payer cheats: it disputes with the state from before it paid.
    let params = payer.params().await;
    let chain = payer.chain().expect("chain");
    chain
        .dispute(&params, &old)
        .await
        .expect("the stale dispute is mined");
    common::eventually("the node's answer", Duration::from_secs(20), || async {
        chain
            .channel_status(params.channel_id())
            .await
            .expect("status")
            .dispute_nonce
            == latest.state.nonce
    })
    .await;

    let (report, _) = exit_with_time_travel(&system, &payer).await;
    assert_eq!(report.final_nonce, Some(latest.state.nonce));
    assert_eq!(
        system.chain_balance(payer.address()).await - before,
        dai(6),
        "the payer gets only what the newest state gives it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_stale_dispute_is_beaten_by_the_users_newer_state() {
    use alloy::primitives::Bytes;
    use spoke_contracts::bindings::ChannelManager;

    // A cheating node does not answer its own dispute: its watcher (which would) looks once an hour here.
    let system = System::start_with_args(10, |_| {
        vec![
            "--collateral-wait=10".into(),
            "--watch-interval-ms=3600000".into(),
        ]
    })
    .await;
    let payer = system.client(1).await;
    let payee = system
        .client_with(2, |config| {
            config.watch_chain_every = Some(Duration::from_millis(200))
        })
        .await;
    system.collateralize(&payee).await;
    let old = payee.export_state().await.expect("collateralized");
    system.fund(&payer, dai(10)).await;
    pay(&system, &payer, &payee, dai(4)).await;
    let latest = payee.export_state().await.expect("paid state");
    assert!(latest.state.nonce > old.state.nonce);
    let mut events = payee.events();

    // The node (anvil's account 0) cheats: it disputes the payee's channel with the state before the payment.
    let manager = ChannelManager::new(system.deployment.channel_manager, system.provider());
    let sig = |s: &spoke_protocol::Signature| Bytes::from(s.as_bytes().to_vec());
    manager
        .dispute(
            payee.address(),
            payee.node_config().node,
            spoke_contracts::sol_state(&old.state),
            sig(&old.user_signature),
            sig(&old.node_signature),
        )
        .send()
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("the node's stale dispute is mined");

    let answered = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(ClientEvent::Exit(ExitStep::Answered { nonce, .. })) = events.recv().await {
                return nonce;
            }
        }
    })
    .await
    .expect("the payee answers");
    assert_eq!(answered, latest.state.nonce);
    let params = payee.params().await;
    let chain = payee.chain().expect("chain");
    assert_eq!(
        chain
            .channel_status(params.channel_id())
            .await
            .expect("status")
            .dispute_nonce,
        latest.state.nonce
    );
    // Frozen: the payee signs nothing more here; its exit concludes with the newer state.
    let before = system.chain_balance(payee.address()).await;
    let (report, _) = exit_with_time_travel(&system, &payee).await;
    assert_eq!(report.final_nonce, Some(latest.state.nonce));
    assert_eq!(
        system.chain_balance(payee.address()).await - before,
        dai(4),
        "the payee gets the payment the stale state left out"
    );
}

/// A payer with 10 Dai deposited and a 3 Dai lock in its channel that the payee never took (it went away), with
/// the node stopped: the state with the lock, the lock, and the payer's balance on chain.
async fn payer_left_with_a_lock(system: &System) -> (Client, SignedState, Lock, U256) {
    let payer = system.client(1).await;
    let payee = system.client(2).await;
    system.collateralize(&payee).await;
    payee.close();
    drop(payee);
    system.fund(&payer, dai(10)).await;
    payer
        .pay(system.secret_address(2), system.deployment.dai, dai(3))
        .await
        .expect("the payer's lock is signed");
    let latest = payer.export_state().await.expect("the state with the lock");
    let lock = latest.state.locks.first().cloned().expect("one lock");
    let before = system.chain_balance(payer.address()).await;
    system.stop_node();
    (payer, latest, lock, before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_never_revealed_goes_back_to_its_sender_at_its_expiry_and_a_second_exit_claims_it() {
    let system = System::start(10).await;
    let (payer, latest, lock, before) = payer_left_with_a_lock(&system).await;

    let (report, steps) = exit_with_time_travel(&system, &payer).await;
    assert_eq!(report.final_nonce, Some(latest.state.nonce));
    assert_eq!(
        report.waiting_locks,
        vec![lock.clone()],
        "the lock waits for its expiry"
    );
    assert!(!report.is_done());
    assert_eq!(
        system.chain_balance(payer.address()).await - before,
        dai(7),
        "everything but the lock is paid at once"
    );
    assert!(!steps
        .iter()
        .any(|s| matches!(s, ExitStep::LockSettled { .. })));

    // Past the lock's expiry, with its preimage never revealed, the lock is the payer's again.
    let chain = payer.chain().expect("chain");
    let now = chain.timestamp().await.expect("time");
    system.advance(lock.expiry.saturating_sub(now) + 1).await;
    let mut events = payer.events();
    let report = payer.exit().await.expect("the second exit");
    assert!(report.is_done(), "{report:?}");
    // Other events may come first (the node's last WebSocket messages); the settlement must be among them.
    let settled = std::iter::from_fn(|| events.try_recv().ok()).any(|event| {
        matches!(event, ClientEvent::Exit(ExitStep::LockSettled { lock_id, .. }) if lock_id == lock.id)
    });
    assert!(settled, "the second exit reports the lock's settlement");
    assert_eq!(
        system.chain_balance(payer.address()).await - before,
        dai(10),
        "the whole deposit is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_whose_lock_someone_else_is_settling_waits_for_it_and_goes_on() {
    let system = System::start(10).await;
    let (payer, latest, lock, before) = payer_left_with_a_lock(&system).await;
    let (report, _) = exit_with_time_travel(&system, &payer).await;
    assert_eq!(report.waiting_locks, vec![lock.clone()]);
    let now = payer
        .chain()
        .expect("chain")
        .timestamp()
        .await
        .expect("time");
    system.advance(lock.expiry.saturating_sub(now) + 1).await;

    // Someone else's settlement of the same lock (the node's, say) waits in the mempool when the payer, which sees
    // the lock unsettled in the latest block, tries its own: its gas estimate fails on the other transaction
    // (anvil estimates on the pending state). The exit waits for that transaction instead of failing.
    let params = payer.params().await;
    let id = params.channel_id();
    let leaves: Vec<_> = latest
        .state
        .locks
        .iter()
        .map(|l| lock_leaf(id, l))
        .collect();
    let proof = merkle_proof(&leaves, lock_leaf(id, &lock)).expect("the lock's proof");
    system.set_automine(false).await;
    let rival = {
        let (chain, lock) = (system.chain(3), lock.clone());
        tokio::spawn(async move { chain.settle_lock(&params, &lock, proof).await })
    };
    system.pending_transactions(1).await;
    let exiting = {
        let payer = payer.clone();
        tokio::spawn(async move { payer.exit().await })
    };
    // The payer's reads and its failed estimate take well under a second on anvil.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !exiting.is_finished(),
        "the exit ended while the other settlement was pending: {:?}",
        exiting.await
    );
    system.set_automine(true).await;
    system.mine().await;
    rival
        .await
        .expect("joins")
        .expect("the other settlement is mined first");
    let report = exiting
        .await
        .expect("joins")
        .expect("the exit goes on past its reverted settlement");
    assert!(report.is_done(), "{report:?}");
    assert_eq!(
        system.chain_balance(payer.address()).await - before,
        dai(10),
        "the whole deposit is back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_preimage_was_revealed_before_its_expiry_settles_to_its_receiver() {
    let system = System::start_with_args(10, |_| {
        vec!["--reveal-after=1".into(), "--collateral-wait=20".into()]
    })
    .await;
    {
        let payee = system.client(2).await;
        system.collateralize(&payee).await;
    }
    let payer = system.client(1).await;
    system.fund(&payer, dai(20)).await;
    // The payer stops listening once its lock is signed, so it never countersigns the node's resolve: the node
    // reveals the preimage on chain instead.
    let id = payer
        .pay(system.secret_address(2), system.deployment.dai, dai(4))
        .await
        .expect("the payer's lock is signed");
    payer.close();
    let latest = payer.export_state().await.expect("the state with the lock");
    let lock = latest.state.locks.first().cloned().expect("one lock");
    let payee = system.client(2).await;
    common::eventually("the payee paid", Duration::from_secs(20), || async {
        payee.balance(system.deployment.dai).await == dai(4)
    })
    .await;
    common::eventually(
        "the preimage in the registry",
        Duration::from_secs(20),
        || async { system.revealed_at(lock.hashlock).await != U256::ZERO },
    )
    .await;
    let before = system.chain_balance(payer.address()).await;

    let (report, steps) = exit_with_time_travel(&system, &payer).await;
    assert_eq!(report.final_nonce, Some(latest.state.nonce), "payment {id}");
    assert!(report.is_done(), "{report:?}");
    assert!(steps
        .iter()
        .any(|s| matches!(s, ExitStep::LockSettled { lock_id, .. } if *lock_id == lock.id)));
    assert_eq!(
        system.chain_balance(payer.address()).await - before,
        dai(16),
        "the revealed lock went to the node, which paid the payee"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amount_withdrawn_earlier_is_not_paid_again_by_a_dispute_with_an_older_state() {
    let system = System::start(10).await;
    let user = system.client(1).await;
    system.fund(&user, dai(10)).await;
    let old = user.export_state().await.expect("the funded state");
    let before = system.chain_balance(user.address()).await;
    let withdrawal = user
        .withdraw(system.deployment.dai, dai(4), user.address(), true)
        .await
        .expect("withdrawn");
    let tx = withdrawal.tx.expect("the node sent it");
    user.chain()
        .expect("chain")
        .wait_receipt(tx)
        .await
        .expect("mined");
    assert_eq!(system.chain_balance(user.address()).await - before, dai(4));

    // The state from before the withdrawal cannot be disputed any more: the executed commitment raised the
    // contract's minimum dispute nonce.
    let params = user.params().await;
    let chain = user.chain().expect("chain");
    let refused = chain.dispute(&params, &old).await;
    assert!(
        refused.is_err(),
        "a dispute with the pre-withdrawal state: {refused:?}"
    );

    let (report, _) = exit_with_time_travel(&system, &user).await;
    assert!(report.is_done());
    assert_eq!(
        system.chain_balance(user.address()).await - before,
        dai(10),
        "4 withdrawn and 6 at the exit: the 4 are not paid twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_exit_the_pair_opens_the_next_epochs_channel_and_the_old_one_is_finished_from_its_archive(
) {
    let system = System::start(10).await;
    let payee = system.client(2).await;
    system.collateralize(&payee).await;
    payee.close();
    drop(payee);
    let payer = system.client(1).await;
    system.fund(&payer, dai(10)).await;
    payer
        .pay(system.secret_address(2), system.deployment.dai, dai(3))
        .await
        .expect("the payer's lock is signed");
    let old_params = payer.params().await;
    let lock = payer.export_state().await.expect("state").state.locks[0].clone();
    let before = system.chain_balance(payer.address()).await;
    let (report, _) = exit_with_time_travel(&system, &payer).await;
    assert_eq!(report.waiting_locks.len(), 1);
    payer.close();
    drop(payer);

    // The same user connects again: a new channel, of the next epoch, and a deposit now belongs to it.
    let again = system.client(1).await;
    let params = again.params().await;
    assert_eq!(params.epoch, old_params.epoch + 1);
    assert_ne!(params.channel_id(), old_params.channel_id());
    assert_eq!(again.balance(system.deployment.dai).await, U256::ZERO);
    system.fund(&again, dai(5)).await;
    assert_eq!(again.balance(system.deployment.dai).await, dai(5));
    let chain = again.chain().expect("chain");
    assert_eq!(
        chain
            .book(params.channel_id(), system.deployment.dai)
            .await
            .expect("book")
            .deposit_user,
        dai(5)
    );
    assert_eq!(
        chain
            .book(old_params.channel_id(), system.deployment.dai)
            .await
            .expect("book")
            .deposit_user,
        dai(3),
        "the old channel keeps only what its lock holds, claimed later"
    );

    // The old channel's snapshot was archived, not overwritten: its lock is settled and claimed from it.
    let now = chain.timestamp().await.expect("time");
    system.advance(lock.expiry.saturating_sub(now) + 1).await;
    let report = again
        .exit_archived(old_params.epoch)
        .await
        .expect("the old exit finishes");
    assert!(report.is_done(), "{report:?}");
    assert_eq!(
        system.chain_balance(again.address()).await + dai(5) - before,
        dai(10),
        "7 at the exit, 3 from the lock later, 5 into the new channel"
    );
}
