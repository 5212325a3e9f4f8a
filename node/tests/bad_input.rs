//! Adversarial input to the node's API. Every bad request gets a clear 4xx with a stable `code` and a message
//! that names the problem, and changes nothing: afterwards the channel's newest state at the node (in its store,
//! with its signatures) and what `GET /channel/restore` hands out are exactly what they were before.
//!
//! The node runs in-process (its router, driven with `oneshot`) over a real SQLite store and a real anvil chain;
//! the WebSocket tests serve the same router over TCP on 127.0.0.1.

mod common;

use std::{io::ErrorKind, net::TcpStream, time::Duration};

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use common::{
    assert_names, at_node, call, count_eth, count_user_eth, ctx_now, get, login, node_proposal,
    open_with_deposit, post_as, refused, restore, serve, stored_latest, unix_now, Db, Node, Opened,
};
use serde_json::{json, Value};
use spoke_protocol::{
    accept_proposal, apply, encrypt_preimage, hex, propose, sha256, state_digest,
    wire::KeyResponse, Address, ChannelState, EncryptedPreimage, Lock, PreimageContext, Proposal,
    Side, Signature, Timing, Update, B256, MAX_AMOUNT, U256,
};
use tokio_tungstenite::tungstenite::{
    self,
    client::IntoClientRequest,
    http::{header::AUTHORIZATION, HeaderValue},
    Bytes, HandshakeError, Message,
};

// ---- helpers ----

/// A new 32-byte value each call (ids, preimages, ephemeral keys).
fn fresh() -> B256 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    spoke_protocol::keccak256(format!("bad_input/{}/{n}", unix_now()))
}

fn wei(n: u64) -> U256 {
    U256::from(n)
}

/// A correctly signed user proposal of `update` at `nonce`, applied to `state` as if `state` stood at
/// `nonce - 1` (so a test can make one at any nonce).
fn proposal_at(o: &Opened, state: &ChannelState, nonce: u64, update: Update) -> Proposal {
    let mut base = state.clone();
    base.nonce = nonce - 1;
    propose(&base, update, &ctx_now(&o.params, Side::User), &o.user)
        .expect("propose")
        .1
}

/// A proposal the validator would never let the user make: the update as given, signed over `signed` (any state).
fn forced(o: &Opened, nonce: u64, update: Update, signed: &ChannelState) -> Proposal {
    Proposal {
        nonce,
        update,
        signature: o
            .user
            .sign_digest(&state_digest(&o.params.domain(), signed))
            .expect("sign"),
    }
}

fn sig_hex(s: &Signature) -> String {
    hex::encode_prefixed(s.as_bytes())
}

async fn submit(n: &Node, o: &Opened, body: Value) -> (StatusCode, Value) {
    call(&n.router, post_as("/channel/propose", body, &o.token)).await
}

async fn pay(n: &Node, o: &Opened, body: Value) -> (StatusCode, Value) {
    call(&n.router, post_as("/pay", body, &o.token)).await
}

async fn countersign(
    n: &Node,
    token: &str,
    nonce: u64,
    signature: &Signature,
) -> (StatusCode, Value) {
    call(
        &n.router,
        post_as(
            "/channel/countersign",
            json!({ "nonce": nonce, "signature": sig_hex(signature) }),
            token,
        ),
    )
    .await
}

/// A raw request to `path`, with an optional content type.
fn raw(
    path: &str,
    token: &str,
    content_type: Option<&str>,
    body: impl Into<Body>,
) -> Request<Body> {
    let mut builder = Request::post(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(t) = content_type {
        builder = builder.header(header::CONTENT_TYPE, t);
    }
    builder.body(body.into()).expect("request")
}

/// The key the node hands out for `user`, as a payer asks for it.
async fn key_of(n: &Node, payer: &Opened, user: Address) -> KeyResponse {
    let (status, body) = call(
        &n.router,
        get(&format!("/users/{user:#x}/key"), Some(&payer.token)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_value(body).expect("a key")
}

/// A payment's parts: the payer's lock of `amount` expiring at `payer_expiry`, the preimage encrypted to
/// `payee_key` for the node's lock of the same amount expiring at `payee_expiry`.
struct Payment {
    lock: Lock,
    payee_expiry: u64,
    encrypted: EncryptedPreimage,
}

fn payment(payee_key: &[u8], amount: U256, payee_expiry: u64, payer_expiry: u64) -> Payment {
    let preimage = fresh();
    let hashlock = sha256(preimage);
    let encrypted = encrypt_preimage(
        payee_key,
        preimage,
        &PreimageContext {
            hashlock,
            asset: Address::ZERO,
            amount,
            expiry: payee_expiry,
        },
        &fresh(),
    )
    .expect("encrypt");
    Payment {
        lock: Lock {
            id: fresh(),
            asset: Address::ZERO,
            amount,
            sender: Side::User,
            hashlock,
            expiry: payer_expiry,
        },
        payee_expiry,
        encrypted,
    }
}

fn pay_body(proposal: &Proposal, recipient: Address, p: &Payment) -> Value {
    json!({
        "proposal": proposal,
        "recipient": recipient,
        "payeeExpiry": p.payee_expiry,
        "encryptedPreimage": p.encrypted,
    })
}

/// Expiries that keep every margin: the payee's lock runs a day, the payer's Δ + G longer.
/// The `/pay` body of a payment of `amount` from `payer`, over its state `current`, to `payee`, whose channel key
/// is `payee_key`; with lock expiries that keep the node's margins.
fn payment_body(
    payer: &Opened,
    current: &ChannelState,
    payee: &Opened,
    payee_key: &[u8],
    amount: U256,
) -> Value {
    let (payee_expiry, payer_expiry) = good_expiries();
    let p = payment(payee_key, amount, payee_expiry, payer_expiry);
    let (_, proposal) = propose(
        current,
        Update::CreateLock {
            lock: p.lock.clone(),
        },
        &ctx_now(&payer.params, Side::User),
        &payer.user,
    )
    .expect("propose");
    pay_body(&proposal, payee.user.address(), &p)
}

fn good_expiries() -> (u64, u64) {
    let t = Timing::default();
    let payee = unix_now() + 24 * 3600;
    (payee, payee + t.expiry_delta + t.safety_margin)
}

/// The user's payments as the node lists them.
async fn payments_of(n: &Node, o: &Opened) -> Vec<Value> {
    let (status, body) = call(&n.router, get("/payments", Some(&o.token))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("a list").clone()
}

// ---- signatures and nonces ----

#[tokio::test]
async fn a_proposal_not_signed_by_the_user_over_its_own_result_is_bad_signature() {
    let n = Node::start(vec![]).await;
    let o = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let dom = o.params.domain();
    let (next, honest) = propose(
        &initial,
        count_user_eth(wei(1000)),
        &ctx_now(&o.params, Side::User),
        &o.user,
    )
    .expect("propose");
    let before = at_node(&n, &o).await;
    assert_eq!(before.latest.nonce, 0);

    // Signed by someone else, over the very state the update produces.
    let (stranger, _) = n.account(5);
    let by_stranger = Proposal {
        signature: stranger
            .sign_digest(&state_digest(&dom, &next))
            .expect("sign"),
        ..honest.clone()
    };
    let message = refused(
        submit(&n, &o, json!({ "proposal": by_stranger })).await,
        StatusCode::BAD_REQUEST,
        "BAD_SIGNATURE",
    );
    assert_names(&message, &stranger.address().to_string());

    // The user's own signature, but over another state (another amount).
    let other = apply(
        &initial,
        &count_user_eth(wei(999)),
        &ctx_now(&o.params, Side::User),
    )
    .expect("apply");
    let elsewhere = Proposal {
        signature: o
            .user
            .sign_digest(&state_digest(&dom, &other))
            .expect("sign"),
        ..honest.clone()
    };
    refused(
        submit(&n, &o, json!({ "proposal": elsewhere })).await,
        StatusCode::BAD_REQUEST,
        "BAD_SIGNATURE",
    );

    // The user's signature made malleable: s replaced by n − s (and v flipped) still recovers the user, but only
    // low-s signatures are valid here, as on chain.
    let order = U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .expect("the curve order");
    let s = honest.signature;
    let high_s = Signature::new(s.r(), order - s.s(), !s.v());
    let malleated = Proposal {
        signature: high_s,
        ..honest.clone()
    };
    refused(
        submit(&n, &o, json!({ "proposal": malleated })).await,
        StatusCode::BAD_REQUEST,
        "BAD_SIGNATURE",
    );

    // v outside 27/28 and a short signature do not even decode.
    let mut bytes = honest.signature.as_bytes();
    bytes[64] = 29;
    let mut body = json!({ "proposal": honest });
    body["proposal"]["signature"] = json!(hex::encode_prefixed(bytes));
    let message = refused(
        submit(&n, &o, body).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "27 or 28");
    let mut body = json!({ "proposal": honest });
    body["proposal"]["signature"] = json!(hex::encode_prefixed(&bytes[..64]));
    let message = refused(
        submit(&n, &o, body).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "65 bytes");

    assert_eq!(at_node(&n, &o).await, before, "nothing changed");

    // The honest proposal is taken: what was refused was the signature.
    let (status, body) = submit(&n, &o, json!({ "proposal": honest })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(stored_latest(&n, o.params.channel_id()).await.state, next);
}

#[tokio::test]
async fn stale_nonces_and_nonce_gaps_are_409_stale_nonce_and_change_nothing() {
    let n = Node::start(vec![]).await;
    let o = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let s1 = count_eth(&n, &o, &initial, wei(1000)).await;
    let before = at_node(&n, &o).await;
    assert_eq!((before.latest.nonce, &before.latest.state), (1, &s1));

    // Another update at the stored nonce 1.
    let stale = proposal_at(&o, &initial, 1, count_user_eth(wei(500)));
    let message = refused(
        submit(&n, &o, json!({ "proposal": stale })).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );
    assert_names(&message, "stale");

    // Nonce 0: the opening state is never proposed.
    let zero = forced(&o, 0, count_user_eth(wei(500)), &initial);
    refused(
        submit(&n, &o, json!({ "proposal": zero })).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );

    // Skipping a nonce, and skipping to the very last one.
    for nonce in [3, u64::MAX] {
        let gap = proposal_at(&o, &s1, nonce, count_user_eth(wei(500)));
        let message = refused(
            submit(&n, &o, json!({ "proposal": gap })).await,
            StatusCode::CONFLICT,
            "STALE_NONCE",
        );
        assert_names(&message, "skips ahead");
    }

    assert_eq!(at_node(&n, &o).await, before, "nothing changed");
}

#[tokio::test]
async fn a_retried_proposal_gets_the_identical_answer_and_another_one_at_a_stored_nonce_409() {
    let n = Node::start(vec![]).await;
    let o = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let ctx = ctx_now(&o.params, Side::User);
    let (s1, p1) = propose(&initial, count_user_eth(wei(1000)), &ctx, &o.user).expect("propose");
    let first = submit(&n, &o, json!({ "proposal": p1 })).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);

    // The same proposal again: the same answer, nothing new stored.
    assert_eq!(submit(&n, &o, json!({ "proposal": p1 })).await, first);
    assert_eq!(stored_latest(&n, o.params.channel_id()).await.nonce, 1);

    // A different proposal at the stored nonce.
    let (_, other) = propose(&initial, count_user_eth(wei(999)), &ctx, &o.user).expect("propose");
    refused(
        submit(&n, &o, json!({ "proposal": other })).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );

    // Once the channel moved on, the old proposal still gets its old answer, and a conflicting one still 409.
    let (_, p2) = propose(&s1, count_user_eth(wei(1000)), &ctx, &o.user).expect("propose");
    let second = submit(&n, &o, json!({ "proposal": p2 })).await;
    assert_eq!(second.0, StatusCode::OK, "{}", second.1);
    let before = at_node(&n, &o).await;
    assert_eq!(submit(&n, &o, json!({ "proposal": p1 })).await, first);
    assert_eq!(submit(&n, &o, json!({ "proposal": p2 })).await, second);
    refused(
        submit(&n, &o, json!({ "proposal": other })).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );
    assert_eq!(at_node(&n, &o).await, before, "nothing changed");
}

// ---- what the validator and the chain refuse ----

#[tokio::test]
async fn overspending_and_other_funds_are_invalid_updates() {
    let n = Node::start(vec![]).await;
    let a = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let b = open_with_deposit(&n, 2, U256::ZERO).await;
    let s1 = count_eth(
        &n,
        &a,
        &ChannelState::initial(a.params.channel_id()),
        wei(1000),
    )
    .await;
    let before = at_node(&n, &a).await;
    let to = Address::repeat_byte(0x7e);

    // A withdrawal of more than the balance.
    let withdraw = |side, amount| Update::Withdraw {
        asset: Address::ZERO,
        side,
        amount,
        recipient: to,
    };
    let commitment_sig = sig_hex(&a.user.sign_digest(&B256::repeat_byte(1)).expect("sign"));
    let message = refused(
        submit(
            &n,
            &a,
            json!({
                "proposal": forced(&a, 2, withdraw(Side::User, wei(1001)), &s1),
                "commitmentSignature": commitment_sig,
            }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_UPDATE",
    );
    assert_names(&message, "1001");

    // A withdrawal of the node's funds, proposed by the user.
    let message = refused(
        submit(
            &n,
            &a,
            json!({
                "proposal": forced(&a, 2, withdraw(Side::Node, wei(1)), &s1),
                "commitmentSignature": commitment_sig,
            }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_UPDATE",
    );
    assert_names(&message, "node");

    // A count above the largest amount a state may hold.
    let message = refused(
        submit(
            &n,
            &a,
            json!({ "proposal": forced(&a, 2, count_user_eth(MAX_AMOUNT), &s1) }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_UPDATE",
    );
    assert_names(&message, "maximum");

    // Locks: more than the balance, a lock the user makes the node send, one that runs past the longest lifetime.
    let key = key_of(&n, &a, b.user.address()).await;
    let (payee_expiry, payer_expiry) = good_expiries();
    let too_much = payment(&key.public_key, wei(1001), payee_expiry, payer_expiry);
    let message = refused(
        pay(
            &n,
            &a,
            pay_body(
                &forced(
                    &a,
                    2,
                    Update::CreateLock {
                        lock: too_much.lock.clone(),
                    },
                    &s1,
                ),
                b.user.address(),
                &too_much,
            ),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_UPDATE",
    );
    assert_names(&message, "1001");
    let mut node_sends = payment(&key.public_key, wei(10), payee_expiry, payer_expiry);
    node_sends.lock.sender = Side::Node;
    refused(
        pay(
            &n,
            &a,
            pay_body(
                &forced(
                    &a,
                    2,
                    Update::CreateLock {
                        lock: node_sends.lock.clone(),
                    },
                    &s1,
                ),
                b.user.address(),
                &node_sends,
            ),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_UPDATE",
    );
    let t = Timing::default();
    let far = unix_now() + t.max_lock_lifetime + 3600;
    let too_long = payment(&key.public_key, wei(10), payee_expiry, far);
    let message = refused(
        pay(
            &n,
            &a,
            pay_body(
                &forced(
                    &a,
                    2,
                    Update::CreateLock {
                        lock: too_long.lock.clone(),
                    },
                    &s1,
                ),
                b.user.address(),
                &too_long,
            ),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_UPDATE",
    );
    assert_names(&message, &far.to_string());

    assert_eq!(at_node(&n, &a).await, before, "nothing changed");
    assert_eq!(payments_of(&n, &a).await, Vec::<Value>::new(), "no payment");
    assert_eq!(stored_latest(&n, b.params.channel_id()).await.nonce, 0);
}

#[tokio::test]
async fn deposits_are_counted_for_the_user_only_as_far_as_the_chain_shows_and_locks_go_to_pay() {
    let n = Node::start(vec![]).await;
    let o = open_with_deposit(&n, 1, wei(1000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let ctx = ctx_now(&o.params, Side::User);
    let before = at_node(&n, &o).await;

    // The node's side is the node's to count.
    let node_side = Update::CountDeposit {
        asset: Address::ZERO,
        side: Side::Node,
        amount: wei(1),
    };
    let (_, proposal) = propose(&initial, node_side, &ctx, &o.user).expect("propose");
    refused(
        submit(&n, &o, json!({ "proposal": proposal })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_UPDATE",
    );

    // More than the chain shows.
    let (_, proposal) =
        propose(&initial, count_user_eth(wei(1001)), &ctx, &o.user).expect("propose");
    let message = refused(
        submit(&n, &o, json!({ "proposal": proposal })).await,
        StatusCode::BAD_REQUEST,
        "DEPOSIT_NOT_CONFIRMED",
    );
    assert_names(&message, "1000");

    // An asset that is not on the allowlist.
    let foreign = Update::CountDeposit {
        asset: Address::repeat_byte(0x42),
        side: Side::User,
        amount: wei(1),
    };
    refused(
        submit(
            &n,
            &o,
            json!({ "proposal": forced(&o, 1, foreign, &initial) }),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_UPDATE",
    );

    // A lock is a payment: /channel/propose sends it to /pay; the resolve and cancel endpoints take only theirs.
    let (_, payer_expiry) = good_expiries();
    let lock = Lock {
        id: fresh(),
        asset: Address::ZERO,
        amount: wei(1),
        sender: Side::User,
        hashlock: sha256(fresh()),
        expiry: payer_expiry,
    };
    let as_lock = forced(&o, 1, Update::CreateLock { lock }, &initial);
    refused(
        submit(&n, &o, json!({ "proposal": as_lock })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "USE_PAY",
    );
    let (_, deposit) =
        propose(&initial, count_user_eth(wei(1000)), &ctx, &o.user).expect("propose");
    for path in ["/payments/resolve", "/payments/cancel"] {
        let message = refused(
            call(
                &n.router,
                post_as(path, json!({ "proposal": deposit }), &o.token),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        );
        assert_names(&message, "Lock");
    }

    assert_eq!(at_node(&n, &o).await, before, "nothing changed");

    // Exactly what the chain shows is counted.
    let (status, body) = submit(&n, &o, json!({ "proposal": deposit })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// ---- payments ----

#[tokio::test]
async fn pay_refuses_lock_expiries_without_the_margins() {
    let n = Node::start(vec![]).await;
    let a = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let b = open_with_deposit(&n, 2, U256::ZERO).await;
    let s1 = count_eth(
        &n,
        &a,
        &ChannelState::initial(a.params.channel_id()),
        wei(1000),
    )
    .await;
    let key = key_of(&n, &a, b.user.address()).await;
    let before = at_node(&n, &a).await;
    let t = Timing::default();
    let now = unix_now();

    let cases = [
        // The payee's lock leaves no time to reveal on chain: expiry < now + R + G (by a minute).
        (
            now + t.reveal_time + t.safety_margin - 60,
            now + t.reveal_time + 2 * t.safety_margin + t.expiry_delta,
        ),
        // The payer's lock outlives the payee's by less than Δ (by a second).
        (now + 24 * 3600, now + 24 * 3600 + t.expiry_delta - 1),
        // The payer's lock expires first.
        (now + 24 * 3600, now + 12 * 3600),
    ];
    for (payee_expiry, payer_expiry) in cases {
        let p = payment(&key.public_key, wei(10), payee_expiry, payer_expiry);
        let (_, proposal) = propose(
            &s1,
            Update::CreateLock {
                lock: p.lock.clone(),
            },
            &ctx_now(&a.params, Side::User),
            &a.user,
        )
        .expect("a lock the validator takes");
        let message = refused(
            pay(&n, &a, pay_body(&proposal, b.user.address(), &p)).await,
            StatusCode::BAD_REQUEST,
            "EXPIRY_MARGIN",
        );
        assert_names(&message, "expiry");
    }

    assert_eq!(at_node(&n, &a).await, before, "nothing changed");
    assert_eq!(payments_of(&n, &a).await, Vec::<Value>::new(), "no payment");
    assert_eq!(stored_latest(&n, b.params.channel_id()).await.nonce, 0);
}

#[tokio::test]
async fn pay_to_an_unknown_recipient_or_oneself_or_with_a_malformed_preimage_is_refused() {
    let n = Node::start(vec![]).await;
    let a = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let b = open_with_deposit(&n, 2, U256::ZERO).await;
    let s1 = count_eth(
        &n,
        &a,
        &ChannelState::initial(a.params.channel_id()),
        wei(1000),
    )
    .await;
    let key = key_of(&n, &a, b.user.address()).await;
    assert_eq!(key.address, b.user.address());
    let before = at_node(&n, &a).await;
    let (payee_expiry, payer_expiry) = good_expiries();
    let p = payment(&key.public_key, wei(10), payee_expiry, payer_expiry);
    let (_, proposal) = propose(
        &s1,
        Update::CreateLock {
            lock: p.lock.clone(),
        },
        &ctx_now(&a.params, Side::User),
        &a.user,
    )
    .expect("propose");

    // Nobody the node knows; someone who logged in but never set a channel up.
    let nobody = Address::repeat_byte(0x99);
    let message = refused(
        pay(&n, &a, pay_body(&proposal, nobody, &p)).await,
        StatusCode::NOT_FOUND,
        "UNKNOWN_RECIPIENT",
    );
    assert_names(&message, &nobody.to_string());
    let (lurker, _) = n.account(3);
    login(&n.router, &lurker).await;
    refused(
        pay(&n, &a, pay_body(&proposal, lurker.address(), &p)).await,
        StatusCode::NOT_FOUND,
        "UNKNOWN_RECIPIENT",
    );

    // Oneself.
    let message = refused(
        pay(&n, &a, pay_body(&proposal, a.user.address(), &p)).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "yourself");

    // Encrypted preimages of the wrong sizes.
    let resized = |key_len: usize, ciphertext_len: usize| {
        let mut body = pay_body(&proposal, b.user.address(), &p);
        body["encryptedPreimage"] = json!({
            "ephemeralKey": hex::encode_prefixed(vec![2u8; key_len]),
            "ciphertext": hex::encode_prefixed(vec![7u8; ciphertext_len]),
        });
        body
    };
    for (key_len, ciphertext_len) in [(32, 48), (34, 48), (33, 47), (33, 49), (0, 0)] {
        let message = refused(
            pay(&n, &a, resized(key_len, ciphertext_len)).await,
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
        );
        assert_names(&message, "33-byte");
    }
    let mut body = pay_body(&proposal, b.user.address(), &p);
    body["encryptedPreimage"]["ciphertext"] = json!("0xzz");
    let message = refused(
        pay(&n, &a, body).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "ciphertext");
    let mut body = pay_body(&proposal, b.user.address(), &p);
    body["encryptedPreimage"]["tag"] = json!("0x00");
    let message = refused(
        pay(&n, &a, body).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "tag");

    // A payment's proposal is a lock.
    let (_, deposit) = propose(
        &s1,
        count_user_eth(wei(1)),
        &ctx_now(&a.params, Side::User),
        &a.user,
    )
    .expect("propose");
    let message = refused(
        pay(&n, &a, pay_body(&deposit, b.user.address(), &p)).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "createLock");

    // The key endpoint: not an address, and an address that never logged in.
    refused(
        call(&n.router, get("/users/0x1234/key", Some(&a.token))).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    refused(
        call(
            &n.router,
            get(&format!("/users/{nobody:#x}/key"), Some(&a.token)),
        )
        .await,
        StatusCode::NOT_FOUND,
        "UNKNOWN_RECIPIENT",
    );

    assert_eq!(at_node(&n, &a).await, before, "nothing changed");
    assert_eq!(payments_of(&n, &a).await, Vec::<Value>::new(), "no payment");
    assert_eq!(stored_latest(&n, b.params.channel_id()).await.nonce, 0);
}

/// A's funded channel, and B's channel with the node's collateral proposed: A can pay B at once. Returns A's
/// state after its deposit is counted.
async fn payer_and_payee(n: &Node) -> (Opened, Opened, ChannelState) {
    let a = open_with_deposit(n, 1, wei(1_000_000)).await;
    let b = open_with_deposit(n, 2, U256::ZERO).await;
    let s1 = count_eth(
        n,
        &a,
        &ChannelState::initial(a.params.channel_id()),
        wei(1000),
    )
    .await;
    node_proposal(n, &b).await;
    (a, b, s1)
}

#[tokio::test]
async fn a_retried_payment_gets_the_identical_answer() {
    let n = Node::start(vec![]).await;
    let (a, b, s1) = payer_and_payee(&n).await;
    let key = key_of(&n, &a, b.user.address()).await;
    let body = payment_body(&a, &s1, &b, &key.public_key, wei(5));
    let first = pay(&n, &a, body.clone()).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    let before = at_node(&n, &a).await;

    // The answer was lost; the client sends the very same request again.
    assert_eq!(pay(&n, &a, body).await, first, "the same answer");
    assert_eq!(at_node(&n, &a).await, before, "nothing changed");
    assert_eq!(payments_of(&n, &a).await.len(), 1, "one payment");
}

/// Sends each body to `path` at the same moment, each as its own request; the answers in the order given.
async fn all_at_once(
    n: &Node,
    o: &Opened,
    path: &'static str,
    bodies: Vec<Value>,
) -> Vec<(StatusCode, Value)> {
    let mut tasks = Vec::new();
    for body in bodies {
        let (router, token) = (n.router.clone(), o.token.clone());
        tasks.push(tokio::spawn(async move {
            call(&router, post_as(path, body, &token)).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("the request ran"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_payment_sent_five_times_at_once_is_made_once_with_one_answer() {
    for db in [Db::Sqlite, Db::Postgres] {
        the_same_payment_five_times_at_once(&Node::start_on(db, vec![]).await).await;
    }
}

async fn the_same_payment_five_times_at_once(n: &Node) {
    let (a, b, s1) = payer_and_payee(n).await;
    let key = key_of(n, &a, b.user.address()).await;
    let body = payment_body(&a, &s1, &b, &key.public_key, wei(5));

    let answers = all_at_once(n, &a, "/pay", vec![body; 5]).await;
    assert_eq!(answers[0].0, StatusCode::OK, "{}", answers[0].1);
    for answer in &answers[1..] {
        assert_eq!(answer, &answers[0], "every copy gets the same answer");
    }
    assert_eq!(
        stored_latest(n, a.params.channel_id()).await.nonce,
        s1.nonce + 1,
        "the channel moved once"
    );
    assert_eq!(payments_of(n, &a).await.len(), 1, "one payment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_five_different_proposals_at_one_nonce_sent_at_once_one_is_taken_and_four_are_409() {
    for db in [Db::Sqlite, Db::Postgres] {
        five_proposals_at_one_nonce_at_once(&Node::start_on(db, vec![]).await).await;
    }
}

async fn five_proposals_at_one_nonce_at_once(n: &Node) {
    let o = open_with_deposit(n, 1, wei(1_000_000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let ctx = ctx_now(&o.params, Side::User);
    let proposals: Vec<Proposal> = (0..5)
        .map(|i| {
            propose(&initial, count_user_eth(wei(1000 + i)), &ctx, &o.user)
                .expect("propose")
                .1
        })
        .collect();
    let bodies = proposals.iter().map(|p| json!({ "proposal": p })).collect();

    let answers = all_at_once(n, &o, "/channel/propose", bodies).await;
    let taken: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].0 == StatusCode::OK)
        .collect();
    assert_eq!(taken.len(), 1, "exactly one is taken: {answers:?}");
    for (i, answer) in answers.into_iter().enumerate() {
        if i != taken[0] {
            refused(answer, StatusCode::CONFLICT, "STALE_NONCE");
        }
    }
    let stored = stored_latest(n, o.params.channel_id()).await;
    assert_eq!(stored.nonce, 1);
    assert_eq!(
        stored.user_signature,
        Some(proposals[taken[0]].signature),
        "the stored state is the one that was taken"
    );
}

#[tokio::test]
async fn a_listing_limit_of_zero_or_more_than_the_most_is_clamped_and_one_that_is_no_count_is_400()
{
    let n = Node::start(vec![]).await;
    let (a, b, _) = payer_and_payee(&n).await;
    let key = key_of(&n, &a, b.user.address()).await;
    for amount in [5, 6] {
        let current = stored_latest(&n, a.params.channel_id()).await.state;
        let body = payment_body(&a, &current, &b, &key.public_key, wei(amount));
        let (status, body) = pay(&n, &a, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let listed = |query: &'static str| {
        let router = n.router.clone();
        let token = a.token.clone();
        async move { call(&router, get(&format!("/payments{query}"), Some(&token))).await }
    };
    for (query, count) in [
        ("?limit=0", 1),
        ("?limit=1", 1),
        ("?limit=4294967295", 2),
        ("", 2),
    ] {
        let (status, body) = listed(query).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(
            body.as_array().map(Vec::len),
            Some(count),
            "{query}: {body}"
        );
    }
    for query in ["?limit=-1", "?limit=abc", "?limit=4294967296", "?limit=1.5"] {
        let (status, body) = listed(query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["code"].is_string(), "{query}: a coded error: {body}");
    }
}

#[tokio::test]
async fn another_lock_at_a_stored_nonce_is_409() {
    let n = Node::start(vec![]).await;
    let (a, b, s1) = payer_and_payee(&n).await;
    let key = key_of(&n, &a, b.user.address()).await;
    let pay_with = |amount| payment_body(&a, &s1, &b, &key.public_key, wei(amount));
    let (status, body) = pay(&n, &a, pay_with(5)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = at_node(&n, &a).await;
    refused(
        pay(&n, &a, pay_with(6)).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );
    assert_eq!(at_node(&n, &a).await, before, "nothing changed");
    assert_eq!(payments_of(&n, &a).await.len(), 1, "one payment");
}

// ---- bodies that do not decode ----

#[tokio::test]
async fn bodies_that_do_not_decode_are_400_naming_the_problem_and_huge_ones_413() {
    let n = Node::start(vec![]).await;
    let o = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let s1 = count_eth(&n, &o, &initial, wei(1000)).await;
    let before = at_node(&n, &o).await;
    let (_, good) = propose(
        &s1,
        count_user_eth(wei(1)),
        &ctx_now(&o.params, Side::User),
        &o.user,
    )
    .expect("propose");
    let good = json!({ "proposal": good });
    let json_type = Some("application/json");

    let cases: Vec<(&str, String, &str)> = vec![
        ("cut short", "{\"proposal\":".into(), "EOF"),
        ("not JSON at all", "nonce=2".into(), "JSON"),
        (
            "bad hex in the signature",
            {
                let mut b = good.clone();
                b["proposal"]["signature"] = json!(format!("0x{}", "zz".repeat(65)));
                b.to_string()
            },
            "signature",
        ),
        (
            "an unknown top-level field",
            {
                let mut b = good.clone();
                b["sneaky"] = json!(1);
                b.to_string()
            },
            "sneaky",
        ),
        (
            "an unknown field in the update",
            {
                let mut b = good.clone();
                b["proposal"]["update"]["bonus"] = json!("0x1");
                b.to_string()
            },
            "bonus",
        ),
        (
            "an unknown kind",
            {
                let mut b = good.clone();
                b["proposal"]["update"]["kind"] = json!("mint");
                b.to_string()
            },
            "mint",
        ),
        (
            "an amount of 2^256",
            {
                let mut b = good.clone();
                b["proposal"]["update"]["amount"] = json!(format!("0x1{}", "0".repeat(64)));
                b.to_string()
            },
            "\"0x10000000000000000000000000000000000000000000000000000000000000000\"",
        ),
        (
            "an amount in bad hex",
            {
                let mut b = good.clone();
                b["proposal"]["update"]["amount"] = json!("0xgg");
                b.to_string()
            },
            "\"0xgg\"",
        ),
        (
            "a negative nonce",
            {
                let mut b = good.clone();
                b["proposal"]["nonce"] = json!(-2);
                b.to_string()
            },
            "nonce",
        ),
        (
            "a missing nonce",
            {
                let mut b = good.clone();
                b["proposal"]
                    .as_object_mut()
                    .expect("an object")
                    .remove("nonce");
                b.to_string()
            },
            "nonce",
        ),
        (
            "an address of 19 bytes",
            {
                let mut b = good.clone();
                b["proposal"]["update"]["asset"] = json!(format!("0x{}", "00".repeat(19)));
                b.to_string()
            },
            "proposal.update",
        ),
    ];
    // Every case is tried before the test fails, so one run lists every message that falls short.
    let mut wrong = Vec::new();
    for (what, body, named) in cases {
        let (status, answer) = call(
            &n.router,
            raw("/channel/propose", &o.token, json_type, body),
        )
        .await;
        let message = answer["message"].as_str().unwrap_or_default();
        if (status, answer["code"].as_str()) != (StatusCode::BAD_REQUEST, Some("BAD_REQUEST"))
            || !message.contains(named)
        {
            wrong.push(format!(
                "{what}: expected 400 BAD_REQUEST naming {named:?}, got {status}: {answer}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Without a JSON content type.
    let message = refused(
        call(
            &n.router,
            raw("/channel/propose", &o.token, None, good.to_string()),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "Content-Type");

    // Countersignatures decode the same way.
    let message = refused(
        call(
            &n.router,
            post_as(
                "/channel/countersign",
                json!({ "nonce": 2, "signature": sig_hex(&o.user.sign_digest(&B256::ZERO).expect("sign")), "also": true }),
                &o.token,
            ),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );
    assert_names(&message, "also");

    // Over the body limit (64 KiB), on every endpoint that takes a body.
    let mut huge = good.clone();
    huge["padding"] = json!("x".repeat(70 * 1024));
    for path in [
        "/channel/propose",
        "/pay",
        "/channel/countersign",
        "/payments/resolve",
        "/auth/login",
    ] {
        refused(
            call(&n.router, raw(path, &o.token, json_type, huge.to_string())).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "BODY_TOO_LARGE",
        );
    }

    // No session: refused before the body is read.
    let (status, body) = call(&n.router, common::post("/channel/propose", good.clone())).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED")),
        "{body}"
    );

    assert_eq!(at_node(&n, &o).await, before, "nothing changed");
    // The well-formed one goes through: what was refused was the form.
    let (status, body) = submit(&n, &o, good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_bad_value_inside_an_update_is_named_by_its_field() {
    let n = Node::start(vec![]).await;
    let o = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let initial = ChannelState::initial(o.params.channel_id());
    let (_, good) = propose(
        &initial,
        count_user_eth(wei(1)),
        &ctx_now(&o.params, Side::User),
        &o.user,
    )
    .expect("propose");
    let before = at_node(&n, &o).await;
    let mut wrong = Vec::new();
    for (field, value) in [
        ("amount", json!(format!("0x1{}", "0".repeat(64)))),
        ("amount", json!("0xgg")),
        ("asset", json!(format!("0x{}", "00".repeat(19)))),
        ("side", json!("both")),
    ] {
        let mut body = json!({ "proposal": good });
        body["proposal"]["update"][field] = value.clone();
        let (status, answer) = submit(&n, &o, body).await;
        let message = answer["message"].as_str().unwrap_or_default();
        if status != StatusCode::BAD_REQUEST || !message.contains(field) {
            wrong.push(format!(
                "{field} = {value}: expected 400 naming `{field}`, got {status}: {answer}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(at_node(&n, &o).await, before, "nothing changed");
}

// ---- one user's session reaches one channel ----

#[tokio::test]
async fn another_users_token_cannot_read_a_payment_or_countersign_for_someone_else() {
    let n = Node::start(vec![]).await;
    let a = open_with_deposit(&n, 1, wei(1_000_000)).await;
    let b = open_with_deposit(&n, 2, U256::ZERO).await;
    let c = open_with_deposit(&n, 3, U256::ZERO).await;
    let s1 = count_eth(
        &n,
        &a,
        &ChannelState::initial(a.params.channel_id()),
        wei(1000),
    )
    .await;

    // The node collateralizes B's channel: its countDeposit waits for B's countersignature. Then A pays B.
    let pending = node_proposal(&n, &b).await;
    let key = key_of(&n, &a, b.user.address()).await;
    let (status, body) = pay(&n, &a, payment_body(&a, &s1, &b, &key.public_key, wei(5))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["paymentId"]
        .as_str()
        .expect("a payment id")
        .to_string();

    // The payer and the payee see the payment; a third user does not, not even in its list.
    for o in [&a, &b] {
        let (status, body) = call(&n.router, get(&format!("/payments/{id}"), Some(&o.token))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"].as_str(), Some(id.as_str()));
    }
    let message = refused(
        call(&n.router, get(&format!("/payments/{id}"), Some(&c.token))).await,
        StatusCode::NOT_FOUND,
        "UNKNOWN_PAYMENT",
    );
    assert_names(&message, &id);
    assert_eq!(payments_of(&n, &c).await, Vec::<Value>::new());
    refused(
        call(&n.router, get("/payments/not-an-id", Some(&c.token))).await,
        StatusCode::BAD_REQUEST,
        "BAD_REQUEST",
    );

    // C's restore is C's channel, not B's.
    let restored = restore(&n, &c.token).await;
    assert_eq!(
        restored["params"]["user"].as_str().map(str::to_lowercase),
        Some(format!("{:#x}", c.user.address()))
    );

    // B's valid countersignature, sent with A's or C's token, reaches only A's or C's channel: refused there.
    let b_state = accept_proposal(
        &ChannelState::initial(b.params.channel_id()),
        &pending,
        &ctx_now(&b.params, Side::Node),
    )
    .expect("the node's proposal is valid");
    let b_signature = b.user.sign_digest(&b_state.digest).expect("sign");
    let (a_before, b_before, c_before) = (
        at_node(&n, &a).await,
        at_node(&n, &b).await,
        at_node(&n, &c).await,
    );
    assert_eq!(b_before.latest.nonce, pending.nonce);
    assert_eq!(b_before.latest.user_signature, None, "B has not signed yet");
    for o in [&a, &c] {
        refused(
            countersign(&n, &o.token, pending.nonce, &b_signature).await,
            StatusCode::CONFLICT,
            "STALE_NONCE",
        );
    }
    assert_eq!(
        at_node(&n, &a).await,
        a_before,
        "A's channel did not change"
    );
    assert_eq!(
        at_node(&n, &b).await,
        b_before,
        "B's channel did not change"
    );
    assert_eq!(
        at_node(&n, &c).await,
        c_before,
        "C's channel did not change"
    );

    // With B's own token it is taken.
    let (status, body) = countersign(&n, &b.token, pending.nonce, &b_signature).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        stored_latest(&n, b.params.channel_id())
            .await
            .user_signature,
        Some(b_signature)
    );
}

#[tokio::test]
async fn countersignatures_must_be_the_users_over_the_waiting_state() {
    let n = Node::start(vec![]).await;
    let b = open_with_deposit(&n, 2, U256::ZERO).await;
    let c = open_with_deposit(&n, 3, U256::ZERO).await;
    let pending = node_proposal(&n, &b).await;
    let initial = ChannelState::initial(b.params.channel_id());
    let accepted = accept_proposal(&initial, &pending, &ctx_now(&b.params, Side::Node))
        .expect("the node's proposal is valid");
    let before = at_node(&n, &b).await;
    assert_eq!(
        (before.latest.nonce, before.latest.user_signature),
        (1, None)
    );

    // Signed by someone else; signed by B over another state.
    let by_c = c.user.sign_digest(&accepted.digest).expect("sign");
    let message = refused(
        countersign(&n, &b.token, 1, &by_c).await,
        StatusCode::BAD_REQUEST,
        "BAD_SIGNATURE",
    );
    assert_names(&message, &c.user.address().to_string());
    let elsewhere = b
        .user
        .sign_digest(&state_digest(&b.params.domain(), &initial))
        .expect("sign");
    refused(
        countersign(&n, &b.token, 1, &elsewhere).await,
        StatusCode::BAD_REQUEST,
        "BAD_SIGNATURE",
    );

    // A nonce where nothing waits.
    let message = refused(
        countersign(
            &n,
            &b.token,
            7,
            &b.user.sign_digest(&accepted.digest).expect("sign"),
        )
        .await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );
    assert_names(&message, "7");

    // B's own proposal while the node's waits.
    let (_, mine) = propose(
        &initial,
        count_user_eth(wei(1)),
        &ctx_now(&b.params, Side::User),
        &b.user,
    )
    .expect("propose");
    refused(
        submit(&n, &b, json!({ "proposal": mine })).await,
        StatusCode::CONFLICT,
        "PENDING_PROPOSAL",
    );
    assert_eq!(at_node(&n, &b).await, before, "nothing changed");

    // The right signature is taken, once; a retry of it is answered the same; another one is refused.
    let signature = b.user.sign_digest(&accepted.digest).expect("sign");
    let first = countersign(&n, &b.token, 1, &signature).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!(countersign(&n, &b.token, 1, &signature).await, first);
    let after = at_node(&n, &b).await;
    assert_eq!(after.latest.user_signature, Some(signature));
    assert_eq!(after.restore["latest"]["state"]["nonce"], json!(1));
    refused(
        countersign(&n, &b.token, 1, &by_c).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );
    assert_eq!(at_node(&n, &b).await, after, "nothing changed");
}

#[tokio::test]
async fn a_countersignature_of_the_opening_state_is_refused() {
    let n = Node::start(vec![]).await;
    let b = open_with_deposit(&n, 2, U256::ZERO).await;
    let initial = ChannelState::initial(b.params.channel_id());
    let before = at_node(&n, &b).await;
    let signature = b
        .user
        .sign_digest(&state_digest(&b.params.domain(), &initial))
        .expect("sign");
    refused(
        countersign(&n, &b.token, 0, &signature).await,
        StatusCode::CONFLICT,
        "STALE_NONCE",
    );
    assert_eq!(at_node(&n, &b).await, before, "nothing changed");
}

// ---- the WebSocket ----

/// A WebSocket handshake to `url` over a fresh TCP connection whose reads give up after `timeout`.
fn ws_connect(
    address: std::net::SocketAddr,
    request: tungstenite::handshake::client::Request,
    timeout: Duration,
) -> Result<tungstenite::WebSocket<TcpStream>, tungstenite::Error> {
    let stream = TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(timeout)).expect("timeout");
    match tungstenite::client(request, stream) {
        Ok((socket, _)) => Ok(socket),
        Err(HandshakeError::Failure(e)) => Err(e),
        Err(HandshakeError::Interrupted(_)) => panic!("a blocking handshake was interrupted"),
    }
}

fn timed_out(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_websocket_frame_closes_the_connection() {
    let n = Node::start(vec![]).await;
    let (user, _) = n.account(1);
    let token = login(&n.router, &user).await;
    let served = serve(n.router.clone()).await;
    let address = served.address;
    let url = format!("ws://{address}/ws?token={token}");
    tokio::task::spawn_blocking(move || {
        let request = url.as_str().into_client_request().expect("request");
        let mut socket = ws_connect(address, request, Duration::from_secs(5)).expect("upgraded");

        // Frames under the limit are fine, also one larger than the node's read buffer (4 KiB): the socket still
        // answers a ping.
        socket
            .send(Message::text("x".repeat(1024)))
            .expect("a small frame");
        socket
            .send(Message::text("y".repeat(12 * 1024)))
            .expect("a 12 KiB frame");
        socket
            .send(Message::Ping(Bytes::from_static(b"still there?")))
            .expect("ping");
        loop {
            match socket.read() {
                Ok(Message::Pong(payload)) => {
                    assert_eq!(&payload[..], b"still there?");
                    break;
                }
                Ok(Message::Text(_)) => {}
                other => panic!("the socket should be open after a small frame: {other:?}"),
            }
        }

        // 64 KiB in one text frame: the node closes the connection.
        let sent = socket.send(Message::text("x".repeat(64 * 1024)));
        let ended = loop {
            match socket.read() {
                Ok(Message::Close(frame)) => break format!("close frame {frame:?}"),
                Ok(Message::Text(_) | Message::Pong(_) | Message::Ping(_)) => {}
                Ok(other) => panic!("unexpected {other:?}"),
                Err(e) if timed_out(&e) => {
                    panic!("the connection is still open 5 s after a 64 KiB frame (send: {sent:?})")
                }
                Err(e) => break format!("error {e}"),
            }
        };
        // Whatever ended it, nothing more goes through.
        let after = socket
            .send(Message::Ping(Bytes::from_static(b"anyone?")))
            .and_then(|()| socket.read());
        assert!(
            matches!(&after, Err(e) if !timed_out(e)),
            "the connection is closed ({ended}), but a ping got {after:?}"
        );
    })
    .await
    .expect("the WebSocket checks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_without_a_valid_token_is_refused_with_401() {
    let n = Node::start(vec![]).await;
    let (user, _) = n.account(1);
    let token = login(&n.router, &user).await;
    let served = serve(n.router.clone()).await;
    let address = served.address;
    tokio::task::spawn_blocking(move || {
        let bogus = "00".repeat(32);
        let mut by_header = format!("ws://{address}/ws")
            .into_client_request()
            .expect("request");
        by_header.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {bogus}")).expect("header"),
        );
        let mut not_bearer = format!("ws://{address}/ws")
            .into_client_request()
            .expect("request");
        not_bearer.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {token}")).expect("header"),
        );
        let requests = [
            (
                "no token",
                format!("ws://{address}/ws").into_client_request(),
            ),
            (
                "an unknown token",
                format!("ws://{address}/ws?token={bogus}").into_client_request(),
            ),
            (
                "an empty token",
                format!("ws://{address}/ws?token=").into_client_request(),
            ),
            ("an unknown bearer header", Ok(by_header)),
            ("a token not as a bearer", Ok(not_bearer)),
        ];
        for (what, request) in requests {
            match ws_connect(address, request.expect("request"), Duration::from_secs(5)) {
                Err(tungstenite::Error::Http(response)) => {
                    assert_eq!(response.status(), 401, "{what}");
                    let body: Value =
                        serde_json::from_slice(response.body().as_deref().expect("a body"))
                            .expect("a JSON body");
                    assert_eq!(body["code"], json!("UNAUTHORIZED"), "{what}: {body}");
                }
                Ok(_) => panic!("{what}: the WebSocket was opened"),
                Err(e) => panic!("{what}: {e}"),
            }
        }
        // The real token opens it.
        let url = format!("ws://{address}/ws?token={token}");
        ws_connect(
            address,
            url.as_str().into_client_request().expect("request"),
            Duration::from_secs(5),
        )
        .expect("a valid session opens the WebSocket");
    })
    .await
    .expect("the WebSocket checks");
}
