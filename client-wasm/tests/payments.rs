//! End to end with native clients against a real node over HTTP and WebSocket, on a real anvil chain.

mod common;

use std::time::Duration;

use common::{dai, eventually, pay_and_wait, System};
use spoke_client::{ClientEvent, NodeApi};
use spoke_protocol::{
    link_secrets, login_digest, redemption_digest, sha256,
    wire::{
        ChallengeRequest, ChallengeResponse, LoginRequest, LoginResponse, PaymentStatus,
        PendingProposal, RedeemLinkRequest, RedeemLinkResponse,
    },
    Address, Side, Signer, Update, B256, U256,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_pay_each_other_in_both_directions_and_one_withdraws() {
    let sys = System::start(20).await;
    let alice = sys.client(1).await;
    let bob = sys.client(2).await;
    let dai_token = sys.deployment.dai;
    sys.fund(&alice, dai(50)).await;
    sys.fund(&bob, dai(50)).await;

    let mut bob_events = bob.events();
    // The node has no collateral in Bob's channel yet: the payment waits for the node's deposit.
    pay_and_wait(&alice, bob.address(), dai_token, dai(5)).await;
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
    let withdrawal = bob
        .withdraw(dai_token, dai(3), to, false)
        .await
        .expect("withdraw");
    assert_eq!(withdrawal.tx, None);
    sys.chain(2)
        .withdraw(&bob.params().await, &withdrawal.commitment)
        .await
        .expect("executed");
    assert_eq!(sys.chain_balance(to).await, dai(3));
    assert_eq!(bob.balance(dai_token).await, dai(50));

    // Or the node sends it, and pays the gas.
    let withdrawal = bob
        .withdraw(dai_token, dai(2), to, true)
        .await
        .expect("withdraw through the node");
    assert!(withdrawal.tx.is_some(), "the node sent it");
    eventually(
        "the node's withdrawal on chain",
        Duration::from_secs(20),
        || async { sys.chain_balance(to).await == dai(5) },
    )
    .await;
    assert_eq!(bob.balance(dai_token).await, dai(48));
}

/// Between two users who are online, a payment is three durable steps at the node, not five: the node's lock to
/// the payee commits with the payer's lock, and its resolve of the payer's lock with the payee's resolve (which
/// carries the payee's countersignature on that lock); the payer's countersignature on the resolve is the third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_between_online_users_is_three_commits_at_the_node() {
    let sys = System::start(20).await;
    let alice = sys.client(1).await;
    let bob = sys.client(2).await;
    let dai_token = sys.deployment.dai;
    sys.fund(&alice, dai(50)).await;
    sys.collateralize(&bob).await;
    for n in 1..=3 {
        let before = sys.store_batches();
        let id = pay_and_wait(&alice, bob.address(), dai_token, dai(1)).await;
        eventually(
            "the node has the payer's countersignature",
            Duration::from_secs(10),
            || async { sys.payment_status(id).await == Some(PaymentStatus::Completed) },
        )
        .await;
        assert_eq!(sys.store_batches() - before, 3, "commits of payment {n}");
    }
    assert_eq!(bob.balance(dai_token).await, dai(3));
    assert_eq!(alice.balance(dai_token).await, dai(47));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_to_an_offline_user_completes_when_that_user_connects() {
    let sys = System::start(20).await;
    let alice = sys.client(1).await;
    let dai_token = sys.deployment.dai;
    sys.fund(&alice, dai(20)).await;
    {
        // Bob gets collateral while online, then goes away.
        let bob = sys.client(2).await;
        sys.collateralize(&bob).await;
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
    let sys = System::start_with_args(10, |_| {
        vec!["--reveal-after=1".into(), "--collateral-wait=20".into()]
    })
    .await;
    let dai_token = sys.deployment.dai;
    {
        let bob = sys.client(2).await;
        sys.collateralize(&bob).await;
    }
    let alice = sys.client(1).await;
    sys.fund(&alice, dai(20)).await;
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

/// A node API session for `secret` without a client: to look at the node between the steps a client takes.
async fn raw_session(sys: &System, secret: B256) -> NodeApi {
    let signer = Signer::from_bytes(&secret).expect("key");
    let mut api = NodeApi::new(&sys.node_url);
    let challenge: ChallengeResponse = api
        .post(
            "/auth/challenge",
            &ChallengeRequest {
                address: signer.address(),
            },
        )
        .await
        .expect("challenge");
    let signature = signer
        .sign_digest(&login_digest(&challenge.message))
        .expect("sign");
    let login: LoginResponse = api
        .post(
            "/auth/login",
            &LoginRequest {
                message: challenge.message,
                signature,
            },
        )
        .await
        .expect("login");
    api.set_token(login.token);
    api
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_is_redeemed_by_a_third_user_and_the_node_locks_before_it_sees_the_preimage() {
    let sys = System::start(20).await;
    let dai_token = sys.deployment.dai;
    let alice = sys.client(1).await;
    sys.fund(&alice, dai(20)).await;
    let carol = sys.client(3).await;
    sys.collateralize(&carol).await;
    let carol_params = carol.params().await;
    drop(carol);

    let (secret, id) = alice.create_link(dai_token, dai(3)).await.expect("link");
    assert_eq!(alice.balance(dai_token).await, dai(17));
    let secrets = link_secrets(&secret).expect("secrets");
    let hashlock = sha256(secrets.preimage);

    // Carol proves the link key, and nothing else: the node locks to her on that alone.
    let api = raw_session(&sys, sys.secret(3)).await;
    let digest = redemption_digest(&carol_params.domain(), hashlock, carol_params.channel_id());
    let signature = Signer::from_bytes(&secrets.link_key)
        .expect("link key")
        .sign_digest(&digest)
        .expect("sign");
    let redeemed: RedeemLinkResponse = api
        .post(
            "/links/redeem",
            &RedeemLinkRequest {
                hashlock,
                signature,
            },
        )
        .await
        .expect("redeemed");
    assert_eq!((redeemed.payment_id, redeemed.amount), (id, dai(3)));
    let pending: Option<PendingProposal> = api.get("/channel/pending").await.expect("pending");
    let pending = pending.expect("the node's lock to Carol waits for her");
    match &pending.proposal.update {
        Update::CreateLock { lock } => {
            assert_eq!((lock.hashlock, lock.amount), (hashlock, dai(3)));
            assert_eq!(lock.sender, Side::Node);
        }
        other => panic!("expected the node's lock, got {other:?}"),
    }
    // A second redeemer is refused: the first valid redemption won.
    let dave = raw_session(&sys, sys.secret(4)).await;
    let _: serde_json::Value = dave
        .post("/channel/setup", &serde_json::json!({}))
        .await
        .expect("setup");
    let err = dave
        .post::<_, RedeemLinkResponse>(
            "/links/redeem",
            &RedeemLinkRequest {
                hashlock,
                signature,
            },
        )
        .await
        .expect_err("a second redemption");
    assert!(
        matches!(
            err.code(),
            "BAD_SIGNATURE" | "UNKNOWN_LINK" | "LINK_REDEEMED"
        ),
        "{err}"
    );

    // Carol's client takes the lock, then reveals the preimage by resolving it.
    let carol = sys.client(3).await;
    carol
        .redeem_link(secret, Duration::from_secs(20))
        .await
        .expect("redeemed into Carol's balance");
    assert_eq!(carol.balance(dai_token).await, dai(3));
    alice
        .wait_payment(id, Duration::from_secs(20))
        .await
        .expect("Alice's lock resolved");
    assert_eq!(alice.balance(dai_token).await, dai(17));
    assert!(alice.channel().await.locks.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_at_a_quote_and_an_expired_or_reused_quote_is_refused() {
    // Dai for ETH at 2,000 Dai an ETH, no spread; quotes stand two seconds.
    let sys = System::start_with_args(10, |d| {
        vec![
            "--collateral-wait=20".into(),
            "--quote-seconds=2".into(),
            "--exchange-spread-bps=0".into(),
            format!("--exchange-rate={}:{}=1/2000", d.dai, Address::ZERO),
        ]
    })
    .await;
    let dai_token = sys.deployment.dai;
    let eth = Address::ZERO;
    let alice = sys.client(1).await;
    sys.fund(&alice, dai(100)).await;

    let bought = alice
        .exchange(dai_token, dai(20), eth, dai(1) / U256::from(100))
        .await
        .expect("exchanged");
    assert_eq!(bought, dai(1) / U256::from(100), "20 Dai buy 0.01 ETH");
    assert_eq!(alice.balance(dai_token).await, dai(80));
    assert_eq!(alice.balance(eth).await, bought);

    // A quote below what the client asks for is not signed.
    let quote = alice.quote(dai_token, dai(20), eth).await.expect("quote");
    let err = alice
        .execute_quote(quote.clone(), (dai_token, dai(20), eth), dai(1))
        .await
        .expect_err("too little");
    assert_eq!(err.code(), "REFUSED", "{err}");

    // The same quote taken twice: the node refuses the second.
    alice
        .execute_quote(quote.clone(), (dai_token, dai(20), eth), U256::ZERO)
        .await
        .expect("first use");
    let err = alice
        .execute_quote(quote, (dai_token, dai(20), eth), U256::ZERO)
        .await
        .expect_err("second use");
    assert_eq!(err.code(), "QUOTE_USED", "{err}");

    // An expired quote is refused (by the client's own validator, before anything is sent).
    let quote = alice.quote(dai_token, dai(20), eth).await.expect("quote");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = alice.export_state().await;
    let err = alice
        .execute_quote(quote, (dai_token, dai(20), eth), U256::ZERO)
        .await
        .expect_err("expired");
    assert!(err.to_string().contains("expired"), "{err}");
    assert_eq!(alice.export_state().await, before, "nothing changed");
    assert_eq!(alice.balance(dai_token).await, dai(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collateral_above_the_ceiling_goes_back_to_the_node_through_a_withdrawal_the_user_countersigns(
) {
    let sys = System::start_with_args(10, |_| {
        vec![
            "--collateral-wait=20".into(),
            format!("--collateral-ceiling={}", dai(20)),
        ]
    })
    .await;
    let dai_token = sys.deployment.dai;
    let alice = sys.client(1).await;
    let bob = sys.client(2).await;
    sys.fund(&bob, dai(100)).await;
    // Bob pays Alice 25 Dai in two payments: the node ends up holding 25 in Bob's channel, 5 above the ceiling.
    for amount in [dai(15), dai(10)] {
        let id = bob
            .pay(alice.address(), dai_token, amount)
            .await
            .expect("pay");
        bob.wait_payment(id, Duration::from_secs(30))
            .await
            .expect("completes");
    }
    let channel_id = bob.channel().await.channel_id;
    eventually(
        "the node's reclaim, countersigned",
        Duration::from_secs(20),
        || async {
            bob.export_state()
                .await
                .and_then(|s| s.state.asset(dai_token).cloned())
                .is_some_and(|a| a.withdrawn_node == dai(5) && a.balance_node == dai(20))
        },
    )
    .await;
    eventually(
        "the node's withdrawal on chain",
        Duration::from_secs(20),
        || async { sys.node_withdrawn(channel_id, dai_token).await == dai(5) },
    )
    .await;
    assert_eq!(
        bob.balance(dai_token).await,
        dai(75),
        "Bob's own balance is untouched"
    );
    assert_eq!(alice.balance(dai_token).await, dai(25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispute_seen_on_chain_freezes_the_channel_at_the_node() {
    let sys = System::start(20).await;
    let dai_token = sys.deployment.dai;
    let alice = sys.client(1).await;
    let mut events = alice.events();
    sys.fund(&alice, dai(10)).await;
    // The deposit's progress: mined, then each block the node waits for on top of it, up to all of them.
    let (sent, confirming) = tokio::time::timeout(Duration::from_secs(5), async {
        let (mut sent, mut confirming) = (None, Vec::new());
        loop {
            match events.recv().await {
                Ok(ClientEvent::DepositSent { amount, .. }) => sent = Some(amount),
                Ok(ClientEvent::DepositConfirming {
                    confirmations,
                    needed,
                    ..
                }) => {
                    confirming.push((confirmations, needed));
                    if confirmations == needed {
                        return (sent, confirming);
                    }
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the deposit's progress events");
    assert_eq!(sent, Some(dai(10)));
    // This node counts at once (`--confirmations=0`): one event, complete. The npm package's test runs against
    // `spoke-node dev`, which waits for one block, and sees the count rise.
    let needed = alice.node_config().deposit_confirmations;
    assert_eq!(confirming.last(), Some(&(needed, needed)), "{confirming:?}");
    assert!(
        confirming.windows(2).all(|w| w[0].0 < w[1].0),
        "each count once, rising: {confirming:?}"
    );

    // Alice disputes on chain with her latest state; the node's watcher sees it and freezes the channel.
    let signed = alice.export_state().await.expect("a state");
    let provider = spoke_contracts::http_provider(
        sys.anvil.endpoint().as_str(),
        alloy::signers::local::PrivateKeySigner::from(sys.anvil.keys()[1].clone()),
    )
    .expect("provider");
    let manager =
        spoke_contracts::bindings::ChannelManager::new(sys.deployment.channel_manager, provider);
    let sig = |s: &spoke_protocol::Signature| alloy::primitives::Bytes::from(s.as_bytes().to_vec());
    let receipt = manager
        .dispute(
            alice.address(),
            alice.node_config().node,
            spoke_contracts::sol_state(&signed.state),
            sig(&signed.user_signature),
            sig(&signed.node_signature),
        )
        .send()
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("mined");
    assert!(receipt.status());
    // Until the node has seen the dispute an update may still land; from then on every one is refused, and
    // changes nothing.
    let to = Address::repeat_byte(0x55);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let before = alice.export_state().await;
        match alice.withdraw(dai_token, dai(1), to, false).await {
            Err(e) if e.code() == "CHANNEL_FROZEN" => {
                assert_eq!(alice.export_state().await, before, "nothing changed");
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("an unexpected refusal: {e}"),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the channel was never frozen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_caps_the_collateral_it_puts_into_all_channels_together() {
    let sys = System::start_with_args(10, |_| {
        vec![
            "--collateral-wait=5".into(),
            format!("--collateral-total-cap={}", dai(15)),
        ]
    })
    .await;
    let dai_token = sys.deployment.dai;
    let alice = sys.client(1).await;
    let bob = sys.client(2).await;
    let carol = sys.client(3).await;
    sys.fund(&carol, dai(50)).await;
    sys.collateralize(&alice).await;
    // Another 10 Dai would make 20 in all, above the cap of 15: refused, by request or by payment.
    let err = bob
        .request_collateral(dai_token)
        .await
        .expect_err("over the cap");
    assert_eq!(err.code(), "INSUFFICIENT_COLLATERAL", "{err}");
    let err = carol
        .pay(bob.address(), dai_token, dai(5))
        .await
        .expect_err("over the cap");
    assert_eq!(err.code(), "INSUFFICIENT_COLLATERAL", "{err}");
    assert_eq!(carol.balance(dai_token).await, dai(50), "nothing locked");
    // Within what is deployed, payments go on.
    let id = carol
        .pay(alice.address(), dai_token, dai(5))
        .await
        .expect("pay");
    carol
        .wait_payment(id, Duration::from_secs(20))
        .await
        .expect("completes");
}
