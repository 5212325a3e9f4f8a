//! The client against a node that lies. The node here is a test double: an axum server on 127.0.0.1 that speaks
//! the real API (the routes of `node/src/api`, the JSON of `spoke_protocol::wire`) and signs with a node key it
//! holds, honestly where a case does not need a lie. Each case asserts that the client refuses to sign, with a
//! reason that names the problem, and that its stored copy of the channel (the `FileStore` file and
//! `export_state()`) is what it was before. Each also has an honest control, so a refusal is known to come from
//! the lie and not from the harness.

use std::sync::Arc;

use spoke_client::{Client, Error, FileStore};
use spoke_protocol::{
    encrypt_preimage, encryption_key, propose, sha256,
    wire::{IncomingPayment, NodeConfig},
    Address, EncryptedPreimage, Lock, PreimageContext, Proposal, Side, SignedState, Timing, Update,
    B256, U256,
};

#[path = "malicious_node/harness.rs"]
mod harness;
use harness::*;

// ---- what the node pushes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_preimage_was_sealed_for_another_amount_or_expiry_is_refused() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    assert_eq!(before.nonce, 2);

    // The payer sealed the preimage to this client for 100 wei until `expiry`.
    let amount = wei(100);
    let expiry = now() + 24 * 3600;
    let preimage = fresh();
    let hashlock = sha256(preimage);
    let sealed = encrypt_preimage(
        &encryption_key(&B256::repeat_byte(USER_KEY)).expect("key"),
        preimage,
        &PreimageContext {
            hashlock,
            asset: ETH,
            amount,
            expiry,
        },
        &fresh(),
    )
    .expect("encrypt");
    let payer = signer(PAYEE_KEY).address();
    let lock = |amount, expiry, hashlock| Lock {
        id: fresh(),
        asset: ETH,
        amount,
        sender: Side::Node,
        hashlock,
        expiry,
    };
    let incoming = |lock: &Lock, sealed: Option<EncryptedPreimage>| IncomingPayment {
        id: lock.id,
        payer,
        encrypted_preimage: sealed,
    };

    let lies = [
        ("one wei less", lock(amount - wei(1), expiry, hashlock)),
        ("a minute later", lock(amount, expiry + 60, hashlock)),
        ("a minute sooner", lock(amount, expiry - 60, hashlock)),
        ("another hashlock", lock(amount, expiry, sha256(fresh()))),
    ];
    for (what, lie) in lies {
        let (state, proposal) = h.node_proposes(Update::CreateLock { lock: lie.clone() });
        h.offer(
            proposal,
            Some(state),
            Some(incoming(&lie, Some(sealed.clone()))),
        );
        let reason = assert_refused(
            client.sync().await,
            "the preimage does not open this lock",
            &mut events,
        );
        assert!(!reason.is_empty(), "{what}");
        assert_eq!(held(&h, &client).await, before, "{what}: nothing changed");
        assert!(
            !h.called("POST /channel/countersign"),
            "{what}: nothing was signed"
        );
    }

    // A lock that expires too soon to reveal its preimage on chain (R + G), sealed for that very expiry.
    let t = Timing::default();
    let soon = now() + t.reveal_time + t.safety_margin - 60;
    let sealed_soon = encrypt_preimage(
        &encryption_key(&B256::repeat_byte(USER_KEY)).expect("key"),
        preimage,
        &PreimageContext {
            hashlock,
            asset: ETH,
            amount,
            expiry: soon,
        },
        &fresh(),
    )
    .expect("encrypt");
    let hasty = lock(amount, soon, hashlock);
    let (state, proposal) = h.node_proposes(Update::CreateLock {
        lock: hasty.clone(),
    });
    h.offer(
        proposal,
        Some(state),
        Some(incoming(&hasty, Some(sealed_soon))),
    );
    assert_refused(client.sync().await, "too soon to reveal", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"));

    // A lock without its payment, or without a preimage: the client could never claim it.
    let honest = lock(amount, expiry, hashlock);
    let (state, proposal) = h.node_proposes(Update::CreateLock {
        lock: honest.clone(),
    });
    for (payment, names) in [
        (None, "without its payment"),
        (Some(incoming(&honest, None)), "no preimage"),
    ] {
        h.offer(proposal.clone(), Some(state.clone()), payment);
        assert_refused(client.sync().await, names, &mut events);
        assert_eq!(held(&h, &client).await, before, "nothing changed");
        assert!(!h.called("POST /channel/countersign"));
    }

    // The honest lock is signed, and the client claims it with the preimage at once: the countersignature goes
    // with the claim, in one request.
    let claims = |h: &Harness| {
        h.calls()
            .iter()
            .filter(|c| *c == "POST /channel/propose")
            .count()
    };
    let before_claim = claims(&h);
    h.offer(proposal, Some(state), Some(incoming(&honest, Some(sealed))));
    client.sync().await.expect("the honest lock is taken");
    assert_eq!(claims(&h), before_claim + 1);
    assert!(!h.called("POST /channel/countersign"));
    assert_eq!(client.balance(ETH).await, wei(FUNDED) + amount);
    assert_eq!(client.channel().await.nonce, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_proposals_past_a_nonce_gap_are_refused_and_stale_ones_never_signed() {
    // The chain shows the node's 5 more wei, so only the nonces are wrong.
    let h = Harness::on_chain(FUNDED + 5, 0).await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let collateral = |amount| Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(amount),
    };

    // Nonces 4 and u64::MAX, where 3 is next; each correctly signed by the node over the state it names.
    for nonce in [4, u64::MAX] {
        let mut base = h.state();
        base.nonce = nonce - 1;
        let (state, proposal) =
            propose(&base, collateral(5), &h.fake.ctx(Side::Node), &h.fake.node).expect("propose");
        h.offer(proposal, Some(state), None);
        assert_refused(client.sync().await, "skips ahead", &mut events);
        assert_eq!(held(&h, &client).await, before, "nothing changed");
    }

    // Another update at nonce 2, which the client already holds double-signed: never signed.
    let mut base = h.state();
    base.nonce = 1;
    let (state, proposal) =
        propose(&base, collateral(5), &h.fake.ctx(Side::Node), &h.fake.node).expect("propose");
    h.offer(proposal, Some(state), None);
    let _ = client.sync().await;
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");

    // The next nonce is taken.
    let (state, proposal) = h.node_proposes(collateral(5));
    h.offer(proposal, Some(state), None);
    client.sync().await.expect("the honest proposal is taken");
    assert_eq!(client.channel().await.nonce, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_proposal_at_a_stale_nonce_is_refused_with_a_reason() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let mut base = h.state();
    base.nonce = 1;
    let (state, proposal) = propose(
        &base,
        Update::CountDeposit {
            asset: ETH,
            side: Side::Node,
            amount: wei(5),
        },
        &h.fake.ctx(Side::Node),
        &h.fake.node,
    )
    .expect("propose");
    h.offer(proposal, Some(state), None);
    assert_refused(client.sync().await, "stale|nonce", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_proposal_signed_by_another_key_or_over_another_state_is_refused() {
    // The chain shows the node's 6 more wei: even the state that counts 6 is one it could count, so only the
    // signatures are wrong.
    let h = Harness::on_chain(FUNDED + 6, 0).await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let update = Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(5),
    };
    let (state, honest) = h.node_proposes(update.clone());

    // Signed by a stranger, over the very state.
    let forger = signer(FORGER_KEY);
    let forged = Proposal {
        signature: forger.sign_digest(&h.fake.digest(&state)).expect("sign"),
        ..honest.clone()
    };
    h.offer(forged, None, None);
    let reason = assert_refused(client.sync().await, "signature", &mut events);
    assert!(reason.contains(&forger.address().to_string()), "{reason}");

    // Signed by the user's own key: the client's signature is no node's.
    let mirrored = Proposal {
        signature: h.user.sign_digest(&h.fake.digest(&state)).expect("sign"),
        ..honest.clone()
    };
    h.offer(mirrored, None, None);
    assert_refused(client.sync().await, "signature", &mut events);

    // Signed by the node, but over a state with more for the node than the update gives.
    let (more, _) = h.node_proposes(Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(6),
    });
    let elsewhere = Proposal {
        signature: h
            .fake
            .node
            .sign_digest(&h.fake.digest(&more))
            .expect("sign"),
        ..honest.clone()
    };
    h.offer(elsewhere, None, None);
    assert_refused(client.sync().await, "signature", &mut events);

    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");

    h.offer(honest, Some(state), None);
    client.sync().await.expect("the honest proposal is taken");
    assert_eq!(client.channel().await.nonce, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_proposals_that_move_the_users_funds_are_refused() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let forged = |update| {
        let mut base = h.state();
        // `apply` is the validator: a proposal it refuses is built by hand, signed by the node over a state
        // that keeps every sum (the user's amount moved to the node).
        let mut state = base.clone();
        state.nonce += 1;
        state.assets[0].balance_user -= wei(10);
        state.assets[0].balance_node += wei(10);
        base.nonce += 1;
        Proposal {
            nonce: base.nonce,
            update,
            signature: h
                .fake
                .node
                .sign_digest(&h.fake.digest(&state))
                .expect("sign"),
        }
    };
    let to = Address::repeat_byte(0x7e);
    let cases = [
        (
            "the node counts a deposit for the user",
            h.node_proposes(Update::CountDeposit {
                asset: ETH,
                side: Side::User,
                amount: wei(10),
            })
            .1,
            "counts its own deposits",
        ),
        (
            "the node withdraws the user's funds",
            forged(Update::Withdraw {
                asset: ETH,
                side: Side::User,
                amount: wei(10),
                recipient: to,
            }),
            "may not propose a withdrawal for the user",
        ),
        (
            "the node locks the user's funds",
            forged(Update::CreateLock {
                lock: Lock {
                    id: fresh(),
                    asset: ETH,
                    amount: wei(10),
                    sender: Side::User,
                    hashlock: sha256(fresh()),
                    expiry: now() + 24 * 3600,
                },
            }),
            "may not propose a lock for the user",
        ),
    ];
    for (what, proposal, names) in cases {
        h.offer(proposal, None, None);
        let reason = assert_refused(client.sync().await, names, &mut events);
        assert!(!reason.is_empty(), "{what}");
        assert_eq!(held(&h, &client).await, before, "{what}: nothing changed");
        assert!(
            !h.called("POST /channel/countersign"),
            "{what}: nothing was signed"
        );
    }

    // The node's own withdrawal of its own funds is fine.
    let (state, proposal) = h.node_proposes(Update::Withdraw {
        asset: ETH,
        side: Side::Node,
        amount: wei(10),
        recipient: to,
    });
    h.offer(proposal, Some(state), None);
    client.sync().await.expect("the node's own withdrawal");
    assert_eq!(client.channel().await.nonce, 3);
    assert_eq!(client.balance(ETH).await, wei(FUNDED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_of_the_users_funds_proposed_by_the_node_is_refused() {
    let h = Harness::on_chain(FUNDED, FUNDED).await;
    let client = h.connect().await;
    let mut events = client.events();
    // The node counts the Dai it deposited into the channel: fine.
    let (state, proposal) = h.node_proposes(Update::CountDeposit {
        asset: h.dai,
        side: Side::Node,
        amount: wei(FUNDED),
    });
    h.offer(proposal, Some(state), None);
    client.sync().await.expect("the node's own deposit");
    let before = held(&h, &client).await;
    assert_eq!(before.nonce, 3);

    // Then it trades all of the user's ETH for 1 wei of its Dai, on a quote it signs itself.
    let quote = spoke_protocol::ExchangeQuote {
        channel_id: h.fake.params.channel_id(),
        id: fresh(),
        sell_asset: ETH,
        sell_amount: wei(FUNDED),
        buy_asset: h.dai,
        buy_amount: wei(1),
        expiry: now() + 60,
    };
    let node_signature = h
        .fake
        .node
        .sign_digest(&spoke_protocol::quote_digest(
            &h.fake.params.domain(),
            &quote,
        ))
        .expect("sign");
    // The validator lets only the user take a quote, so the node's proposal is built by hand: the state taking
    // the quote yields (as the user would propose it), signed by the node.
    let (state, taken) = propose(
        &h.state(),
        Update::Exchange {
            quote,
            node_signature,
        },
        &h.fake.ctx(Side::User),
        &h.user,
    )
    .expect("the trade's state");
    let proposal = Proposal {
        signature: h
            .fake
            .node
            .sign_digest(&h.fake.digest(&state))
            .expect("sign"),
        ..taken
    };
    h.forget_calls();
    h.offer(proposal, Some(state), None);
    assert_refused(client.sync().await, "exchange|trade|quote", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");
    assert_eq!(client.balance(ETH).await, wei(FUNDED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_deposit_the_chain_does_not_show_is_refused() {
    // A real chain with the contracts, where the node never deposits.
    let h = Harness::on_chain(0, 0).await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;

    let (state, proposal) = h.node_proposes(Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(500),
    });
    h.offer(proposal, Some(state), None);
    assert_refused(client.sync().await, "deposit|chain", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");
}

// ---- what the node answers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_refuses_a_key_that_is_not_the_payees_before_sending_anything() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let payee = signer(PAYEE_KEY).address();
    let before = held(&h, &client).await;

    for (lie, names) in [
        (KeyAnswer::NodeKeyForPayee, "not"),
        (KeyAnswer::NodeAddressAndKey, "not"),
    ] {
        h.fake.inner().key_answer = lie;
        h.forget_calls();
        let result = client.pay(payee, ETH, wei(10)).await.map(|_| ());
        let reason = assert_refused(result, names, &mut events);
        assert!(reason.contains(&payee.to_string()), "{lie:?}: {reason}");
        assert_eq!(
            h.calls(),
            vec!["GET /users/key".to_string()],
            "{lie:?}: nothing but the key was asked"
        );
        assert_eq!(held(&h, &client).await, before, "{lie:?}: nothing changed");
    }

    // 33 bytes that are no key at all: an error, and nothing sent.
    h.fake.inner().key_answer = KeyAnswer::NotAKey;
    h.forget_calls();
    let result = client.pay(payee, ETH, wei(10)).await;
    assert!(
        matches!(result, Err(Error::Protocol(_) | Error::Refused(_))),
        "{result:?}"
    );
    assert_eq!(h.calls(), vec!["GET /users/key".to_string()]);
    assert_eq!(held(&h, &client).await, before, "nothing changed");

    // The payee's own key: the payment goes out.
    h.fake.inner().key_answer = KeyAnswer::Honest;
    client
        .pay(payee, ETH, wei(10))
        .await
        .expect("the honest payment");
    assert!(h.called("POST /pay"));

    // A key once checked is kept: the next payment asks for none, so a later lie cannot take hold.
    h.fake.inner().key_answer = KeyAnswer::NodeKeyForPayee;
    h.forget_calls();
    client
        .pay(payee, ETH, wei(10))
        .await
        .expect("the second payment");
    assert!(!h.called("GET /users/key"), "{:?}", h.calls());
    assert_eq!(client.balance(ETH).await, wei(FUNDED - 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_countersignature_for_another_state_is_a_bad_answer_and_nothing_is_stored_as_signed() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let before = h.snapshot();
    let exported = client.export_state().await;
    assert_eq!(exported.as_ref().map(|s| s.state.nonce), Some(2));

    for (lie, names) in [
        (Answer::SignsAnotherState, "countersignature"),
        (Answer::NamesAnotherNonce, "nonce"),
    ] {
        h.fake.inner().answer = lie;
        let result = client.count_deposit(ETH, wei(1)).await;
        match &result {
            Err(Error::BadAnswer(message)) => {
                assert!(message.contains(names), "{lie:?}: {message}")
            }
            other => panic!("{lie:?}: expected a bad answer, got {other:?}"),
        }
        let after = h.snapshot();
        assert_eq!(
            (&after.latest, &after.commitments, &after.preimages),
            (&before.latest, &before.commitments, &before.preimages),
            "{lie:?}: the stored double-signed state did not change"
        );
        assert_eq!(client.export_state().await, exported, "{lie:?}");
        assert_eq!(client.channel().await.nonce, 2, "{lie:?}");
    }

    // A withdrawal whose state is countersigned but whose commitment signature is for another commitment.
    h.fake.inner().answer = Answer::SignsAnotherCommitment;
    let result = client
        .withdraw(ETH, wei(10), Address::repeat_byte(0x7e), false)
        .await;
    match &result {
        Err(Error::BadAnswer(message)) => assert!(message.contains("commitment"), "{message}"),
        other => panic!("expected a bad answer, got {other:?}"),
    }
    assert!(client.commitments().await.is_empty(), "no commitment kept");
    assert_eq!(h.snapshot().commitments, before.commitments);

    // An honest answer is stored.
    h.fake.inner().answer = Answer::Honest;
    client.count_deposit(ETH, wei(1)).await.expect("honest");
    assert_eq!(client.channel().await.nonce, 3);
    assert_eq!(
        h.snapshot().latest.map(|s| s.state.nonce),
        Some(3),
        "the double-signed state is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refuses_a_restored_state_the_user_never_signed() {
    let h = Harness::start().await;
    // A first, honest connection stores the channel at nonce 2.
    let client = h.connect().await;
    let genesis = client.export_state().await.expect("a state");
    drop(client);
    let file = h.file();
    assert!(!file.is_empty());

    // Nonce 3: the user's whole balance moved to the node, every sum kept.
    let mut robbed = genesis.state.clone();
    robbed.nonce = 3;
    robbed.assets[0].balance_user = U256::ZERO;
    robbed.assets[0].balance_node = wei(2 * FUNDED);
    let digest = h.fake.digest(&robbed);
    let node_signature = h.fake.node.sign_digest(&digest).expect("sign");
    let forgeries = [
        (
            "signed twice by the node",
            SignedState {
                state: robbed.clone(),
                user_signature: node_signature,
                node_signature,
            },
        ),
        (
            "with the user's signature of nonce 2",
            SignedState {
                state: robbed.clone(),
                user_signature: genesis.user_signature,
                node_signature,
            },
        ),
        (
            "with a stranger's signature",
            SignedState {
                state: robbed.clone(),
                user_signature: signer(FORGER_KEY).sign_digest(&digest).expect("sign"),
                node_signature,
            },
        ),
        (
            "with the user's signature but not the node's",
            SignedState {
                state: robbed.clone(),
                user_signature: h.user.sign_digest(&digest).expect("sign"),
                node_signature: signer(FORGER_KEY).sign_digest(&digest).expect("sign"),
            },
        ),
    ];
    for (what, forged) in forgeries {
        h.fake.inner().setup_latest = Some(forged.clone());
        match h.try_connect().await {
            Err(Error::Refused(reason)) => {
                assert!(reason.contains("does not check out"), "{what}: {reason}")
            }
            Err(e) => panic!("{what}: expected a refusal, got {e:?}"),
            Ok(_) => panic!("{what}: the client connected"),
        }
        assert_eq!(h.file(), file, "{what}: the stored channel did not change");
    }

    // The node's parameters name another user: refused as well.
    {
        let mut inner = h.fake.inner();
        inner.setup_latest = Some(genesis.clone());
        inner.setup_params.user = signer(FORGER_KEY).address();
    }
    match h.try_connect().await {
        Err(Error::Config(message)) => assert!(message.contains("another user"), "{message}"),
        Err(e) => panic!("expected a configuration error, got {e:?}"),
        Ok(_) => panic!("the client connected to another user's channel"),
    }
    assert_eq!(h.file(), file, "the stored channel did not change");

    // A client with no store at all stores nothing it refused.
    let fresh_dir = tempfile::tempdir().expect("dir");
    let fresh_path = fresh_dir.path().join("channel.json");
    {
        let mut inner = h.fake.inner();
        inner.setup_params.user = h.user.address();
        inner.setup_latest = Some(SignedState {
            state: robbed.clone(),
            user_signature: node_signature,
            node_signature,
        });
    }
    let result = Client::connect(
        h.client_config(),
        B256::repeat_byte(USER_KEY),
        Arc::new(FileStore::new(&fresh_path)),
    )
    .await;
    assert!(matches!(result, Err(Error::Refused(_))), "{result:?}");
    assert!(!fresh_path.exists(), "nothing stored");

    // The honest state still connects.
    h.fake.inner().setup_latest = Some(genesis.clone());
    let client = h.connect().await;
    assert_eq!(client.export_state().await, Some(genesis.clone()));

    // Once connected, a resync (GET /channel/restore) with the forgery, or with other parameters, is refused too.
    h.fake.inner().setup_latest = Some(SignedState {
        state: robbed.clone(),
        user_signature: node_signature,
        node_signature,
    });
    match client.resync().await {
        Err(Error::Refused(reason)) => assert!(reason.contains("does not check out"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    {
        let mut inner = h.fake.inner();
        inner.setup_latest = Some(genesis.clone());
        inner.setup_params.epoch = 1;
    }
    match client.resync().await {
        Err(Error::Refused(reason)) => assert!(reason.contains("other parameters"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(h.file(), file, "the stored channel did not change");
    assert_eq!(client.export_state().await, Some(genesis));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_or_a_configuration_for_another_node_chain_or_account_is_never_signed() {
    let h = Harness::start().await;
    let lies = [
        (LoginLie::Domain, "evil.example"),
        (LoginLie::Chain, "chain"),
        (LoginLie::Address, "0x"),
        (LoginLie::Expired, "expired"),
    ];
    for (lie, names) in lies {
        h.fake.inner().login_lie = Some(lie);
        h.forget_calls();
        match h.try_connect().await {
            Err(Error::Protocol(e)) => assert!(e.to_string().contains(names), "{lie:?}: {e}"),
            Err(e) => panic!("{lie:?}: expected the login to be refused, got {e:?}"),
            Ok(_) => panic!("{lie:?}: the client signed the login"),
        }
        assert!(
            !h.called("POST /auth/login"),
            "{lie:?}: no signature was sent"
        );
        assert!(h.file().is_empty(), "{lie:?}: nothing stored");
    }
    h.fake.inner().login_lie = None;

    // The node says it is another node, on another chain or contract, than the client was told to trust.
    let honest = h.fake.config.clone();
    let configs = [
        (
            "node key",
            NodeConfig {
                node: signer(FORGER_KEY).address(),
                ..honest.clone()
            },
        ),
        (
            "chain",
            NodeConfig {
                chain_id: 1,
                ..honest.clone()
            },
        ),
        (
            "contract",
            NodeConfig {
                channel_manager: Address::repeat_byte(0xdd),
                ..honest.clone()
            },
        ),
    ];
    for (what, lie) in configs {
        h.fake.inner().config_lie = Some(lie);
        h.forget_calls();
        match h.try_connect().await {
            Err(Error::Config(message)) => assert!(message.contains(what), "{what}: {message}"),
            Err(e) => panic!("{what}: expected a configuration error, got {e:?}"),
            Ok(_) => panic!("{what}: the client connected"),
        }
        assert_eq!(h.calls(), vec!["GET /config".to_string()], "{what}");
        assert!(h.file().is_empty(), "{what}: nothing stored");
    }
    h.fake.inner().config_lie = None;
    h.connect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_cannot_cancel_its_lock_to_the_client_before_it_expires() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    // The client takes the lock; the node then does not answer its resolve.
    h.fake.inner().answer = Answer::Unavailable;
    let lock = h.offer_sealed_lock(wei(100), now() + 24 * 3600);
    let amount = lock.amount;
    let taken = client.sync().await;
    assert!(
        matches!(&taken, Err(Error::Node { code, .. }) if code == "UNAVAILABLE"),
        "{taken:?}"
    );
    assert_eq!(client.channel().await.locks, vec![lock.clone()]);
    let before = held(&h, &client).await;
    assert_eq!(before.nonce, 3);
    while events.try_recv().is_ok() {}

    // Instead the node proposes to take its lock back, long before it expires.
    // The validator would not let the node make it, so it is built by hand: the lock gone back to the node.
    let mut cancelled = h.state();
    cancelled.nonce += 1;
    cancelled.locks.retain(|l| l.id != lock.id);
    cancelled.assets[0].locked_node -= amount;
    cancelled.assets[0].balance_node += amount;
    let cancel = Proposal {
        nonce: cancelled.nonce,
        update: Update::CancelLock { id: lock.id },
        signature: h
            .fake
            .node
            .sign_digest(&h.fake.digest(&cancelled))
            .expect("sign"),
    };
    h.forget_calls();
    h.offer(cancel, None, None);
    assert_refused(client.sync().await, "only from its expiry", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");

    // Once the node answers again, the client claims the lock with its preimage.
    {
        let mut inner = h.fake.inner();
        inner.pending = None;
        inner.pending_state = None;
        inner.answer = Answer::Honest;
    }
    client.refresh().await.expect("the resolve goes through");
    assert_eq!(client.balance(ETH).await, wei(FUNDED) + amount);
    assert!(client.channel().await.locks.is_empty());
}

// ---- a node that ignores the payee's resolve ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payee_whose_resolve_the_node_ignores_reveals_on_chain_before_the_deadline() {
    use alloy::providers::Provider;

    let h = Harness::on_chain(FUNDED, 0).await;
    let client = h.connect().await;
    // The node takes nothing the client proposes from now on, so the client's resolve is never countersigned.
    h.fake.inner().answer = Answer::Unavailable;

    let lock = h.offer_sealed_lock(wei(100), now() + 24 * 3600);
    let (hashlock, expiry) = (lock.hashlock, lock.expiry);
    let _ = client.sync().await;
    let held = client.export_state().await.expect("the lock is signed");
    assert!(
        held.state.locks.contains(&lock),
        "the lock stays: its resolve was not taken"
    );
    let chain = client.chain().expect("chain");
    // Long before the deadline the client waits for the node.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(chain.revealed_at(hashlock).await.expect("read"), 0);

    // The chain's clock reaches the reveal deadline less the safety margin: the client reveals on its own.
    let t = Timing::default();
    let now_on_chain = chain.timestamp().await.expect("time");
    let provider = alloy::providers::ProviderBuilder::new()
        .connect_http(h.eth_url.clone().expect("a chain").parse().expect("url"));
    let start = expiry - t.reveal_time - t.safety_margin;
    let _: serde_json::Value = provider
        .raw_request("evm_increaseTime".into(), (start - now_on_chain + 1,))
        .await
        .expect("evm_increaseTime");
    let _: serde_json::Value = provider
        .raw_request("evm_mine".into(), ())
        .await
        .expect("evm_mine");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let revealed = loop {
        let at = chain.revealed_at(hashlock).await.expect("read");
        if at != 0 {
            break at;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client did not reveal"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        revealed < expiry - t.reveal_time,
        "revealed at {revealed}, before the deadline {}: the lock is the payee's on chain",
        expiry - t.reveal_time
    );
}
