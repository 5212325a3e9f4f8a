//! One conformance suite for every store: the same scenarios against SQLite (a file) and against a real
//! PostgreSQL server of the test's own.

mod common;

use std::sync::Arc;

use common::{postgres::Postgres, Channel};
use spoke_node::{
    store::{
        CollateralDeposit, CollateralStatus, CommitmentSignatures, Payment, PaymentStatus,
        SqlStore, Store, StoredUpdate, Write, Written,
    },
    Error,
};
use spoke_protocol::{sha256, Address, EncryptedPreimage, Side, B256, U256};

async fn opened(store: &dyn Store, c: &Channel) -> StoredUpdate {
    assert_eq!(
        store
            .open_channel(&c.record(), &c.initial())
            .await
            .expect("open"),
        Written::Stored
    );
    store
        .latest(c.params.channel_id())
        .await
        .expect("latest")
        .expect("the opening state")
}

async fn channels_open_once_and_are_found_by_id_and_user(store: &dyn Store) {
    let c = Channel::new(1, 0);
    let opening = opened(store, &c).await;
    assert_eq!(opening.nonce, 0);
    assert_eq!(opening.state, c.initial());
    assert_eq!(
        store
            .open_channel(&c.record(), &c.initial())
            .await
            .expect("again"),
        Written::AlreadyStored
    );
    assert_eq!(
        store.channel(c.params.channel_id()).await.expect("get"),
        Some(c.record())
    );
    assert_eq!(
        store.channel(B256::repeat_byte(9)).await.expect("get"),
        None
    );

    let later = Channel::new(1, 3);
    opened(store, &later).await;
    assert_eq!(
        store.channel_of_user(c.params.user).await.expect("by user"),
        Some(later.record())
    );
}

async fn updates_are_stored_at_consecutive_nonces_only(store: &dyn Store) {
    let c = Channel::new(2, 0);
    let opening = opened(store, &c).await;
    let first = c.next(&opening, 10);
    assert_eq!(store.append(&first).await.expect("append"), Written::Stored);
    assert_eq!(
        store.latest(c.params.channel_id()).await.expect("latest"),
        Some(first.clone())
    );

    // A retry of the same write is answered with what is stored.
    assert_eq!(
        store.append(&first).await.expect("retry"),
        Written::AlreadyStored
    );
    // Different content at a stored nonce is equivocation.
    let other = c.next(&opening, 11);
    assert!(matches!(
        store.append(&other).await,
        Err(Error::Equivocation { nonce: 1, .. })
    ));
    // A skipped nonce is refused.
    let second = c.next(&first, 5);
    let third = c.next(&second, 5);
    assert!(matches!(
        store.append(&third).await,
        Err(Error::NonceGap {
            latest: 1,
            got: 3,
            ..
        })
    ));
    assert_eq!(
        store.append(&second).await.expect("append"),
        Written::Stored
    );
    assert_eq!(
        store
            .latest(c.params.channel_id())
            .await
            .expect("latest")
            .map(|u| u.nonce),
        Some(2)
    );
    assert_eq!(
        store
            .update_at(c.params.channel_id(), 1)
            .await
            .expect("at 1"),
        Some(first)
    );

    let stranger = Channel::new(3, 0);
    let orphan = stranger.next(
        &StoredUpdate {
            state: stranger.initial(),
            ..opening.clone()
        },
        1,
    );
    assert!(matches!(
        store.append(&orphan).await,
        Err(Error::UnknownChannel(_))
    ));
}

async fn signatures_complete_a_state_once(store: &dyn Store) {
    let c = Channel::new(4, 0);
    let id = c.params.channel_id();
    let opening = opened(store, &c).await;
    let first = c.next(&opening, 10);
    store.append(&first).await.expect("append");
    assert_eq!(store.latest_double_signed(id).await.expect("query"), None);

    let user_sig = c.sign(Side::User, &first.state);
    assert_eq!(
        store
            .add_signature(id, 1, Side::User, &user_sig)
            .await
            .expect("add"),
        Written::Stored
    );
    assert_eq!(
        store
            .add_signature(id, 1, Side::User, &user_sig)
            .await
            .expect("again"),
        Written::AlreadyStored
    );
    let wrong = c.sign(Side::User, &opening.state);
    assert!(matches!(
        store.add_signature(id, 1, Side::User, &wrong).await,
        Err(Error::SignatureConflict {
            nonce: 1,
            side: Side::User,
            ..
        })
    ));
    assert!(matches!(
        store.add_signature(id, 7, Side::User, &user_sig).await,
        Err(Error::UnknownNonce { nonce: 7, .. })
    ));
    let latest = store
        .latest_double_signed(id)
        .await
        .expect("query")
        .expect("double-signed");
    assert_eq!((latest.nonce, latest.user_signature), (1, Some(user_sig)));
    assert!(latest.is_double_signed());

    // A newer state signed by the node alone does not replace the double-signed one.
    store.append(&c.next(&first, 1)).await.expect("append");
    assert_eq!(
        store
            .latest_double_signed(id)
            .await
            .expect("query")
            .map(|u| u.nonce),
        Some(1)
    );
}

async fn withdrawal_commitment_signatures_are_kept_with_their_state(store: &dyn Store) {
    let c = Channel::new(7, 0);
    let id = c.params.channel_id();
    let opening = opened(store, &c).await;
    let mut update = c.next(&opening, 10);
    let signatures = CommitmentSignatures {
        user: c.sign(Side::User, &update.state),
        node: c.sign(Side::Node, &update.state),
    };
    update.commitment_signatures = Some(signatures);
    store.append(&update).await.expect("append");
    let stored = store.update_at(id, 1).await.expect("read").expect("stored");
    assert_eq!(stored.commitment_signatures, Some(signatures));
}

async fn login_nonces_work_once_and_expire(store: &dyn Store) {
    store
        .issue_login_nonce("n-fresh", common::NOW + 60)
        .await
        .expect("issue");
    assert!(store
        .use_login_nonce("n-fresh", common::NOW)
        .await
        .expect("use"));
    assert!(!store
        .use_login_nonce("n-fresh", common::NOW)
        .await
        .expect("reuse"));
    store
        .issue_login_nonce("n-old", common::NOW + 60)
        .await
        .expect("issue");
    assert!(!store
        .use_login_nonce("n-old", common::NOW + 60)
        .await
        .expect("expired"));
    assert!(!store
        .use_login_nonce("never-issued", common::NOW)
        .await
        .expect("unknown"));
}

async fn expired_logins_are_pruned_and_live_ones_kept(store: &dyn Store) {
    let later = common::NOW + 10_000;
    for (nonce, expires_at) in [("p-expired", later), ("p-live", later + 60)] {
        store
            .issue_login_nonce(nonce, expires_at)
            .await
            .expect("issue");
    }
    let (expired, live) = (B256::repeat_byte(0xe1), B256::repeat_byte(0xe2));
    let user = Address::repeat_byte(0xe3);
    store
        .create_session(expired, user, later)
        .await
        .expect("session");
    store
        .create_session(live, user, later + 60)
        .await
        .expect("session");

    // At `later`, one nonce and one session have expired (and so has every nonce of the test before).
    assert!(store.prune_logins(later).await.expect("pruned") >= 2);
    assert_eq!(store.prune_logins(later).await.expect("pruned again"), 0);
    assert!(store
        .use_login_nonce("p-live", later)
        .await
        .expect("the live nonce is kept"));
    assert!(!store
        .use_login_nonce("p-expired", common::NOW)
        .await
        .expect("the expired nonce is gone, even for a clock behind"));
    assert_eq!(
        store.session_user(live, later).await.expect("read"),
        Some(user)
    );
    assert_eq!(
        store
            .session_user(expired, common::NOW)
            .await
            .expect("read"),
        None,
        "the expired session is gone, even for a clock behind"
    );
}

/// Many writers race for the same nonce with different content: exactly one wins, the rest are refused, and
/// what is stored is the winner's.
async fn racing_writers_cannot_both_win(store: Arc<dyn Store>) {
    let c = Arc::new(Channel::new(5, 0));
    let opening = opened(store.as_ref(), &c).await;
    let tasks: Vec<_> = (1..=16u64)
        .map(|amount| {
            let (store, c, opening) = (store.clone(), c.clone(), opening.clone());
            tokio::spawn(async move {
                let update = c.next(&opening, amount);
                (store.append(&update).await, update)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (Ok(Written::Stored), update) => winners.push(update),
            (Ok(Written::AlreadyStored), _) => panic!("different content cannot be already stored"),
            (Err(Error::Equivocation { .. } | Error::Conflict(_)), _) => {}
            (Err(e), _) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins nonce 1");
    assert_eq!(
        store.latest(c.params.channel_id()).await.expect("latest"),
        winners.pop()
    );
}

/// A payment from `payer`'s channel under the payer lock `seed` (unique per payer channel), to `payee`.
fn payment(
    seed: u8,
    payer: &Channel,
    payee: Option<&Channel>,
    status: PaymentStatus,
    created_at: u64,
) -> Payment {
    let payer_lock_id = B256::repeat_byte(seed);
    Payment {
        id: Payment::id_for(payer.params.channel_id(), payer_lock_id),
        payer: payer.params.user,
        payee: payee.map(|c| c.params.user),
        link_address: None,
        asset: Address::ZERO,
        amount: U256::from(1_000 + u64::from(seed)),
        hashlock: sha256(B256::repeat_byte(!seed)),
        payer_channel: payer.params.channel_id(),
        payer_lock_id,
        payer_expiry: common::NOW + 7_200,
        payee_channel: payee.map(|c| c.params.channel_id()),
        payee_expiry: common::NOW + 3_600,
        encrypted_preimage: None,
        preimage: None,
        revealed: false,
        status,
        created_at,
        updated_at: created_at,
    }
}

fn ids(payments: &[Payment]) -> Vec<B256> {
    payments.iter().map(|p| p.id).collect()
}

/// A failing write anywhere in a batch undoes the writes before it: the update, signature, payment or collateral
/// row a handler stores with its channel update is never half-written.
async fn batches_are_all_or_nothing(store: &dyn Store) {
    let c = Channel::new(0x20, 0);
    let id = c.params.channel_id();
    let opening = opened(store, &c).await;
    let first = c.next(&opening, 10);
    store.append(&first).await.expect("append");
    let equivocating = c.next(&opening, 11);
    let p = payment(1, &c, None, PaymentStatus::Accepted, common::NOW);

    // The payment first, then an equivocating append: neither is stored.
    assert!(matches!(
        store
            .write(&[Write::Payment(&p), Write::Append(&equivocating)])
            .await,
        Err(Error::Equivocation { nonce: 1, .. })
    ));
    assert_eq!(store.payment(p.id).await.expect("read"), None);

    // A valid append, then a different update at the same nonce in the same batch: the first is undone.
    let second = c.next(&first, 5);
    let rival = c.next(&first, 6);
    assert!(matches!(
        store
            .write(&[
                Write::Append(&second),
                Write::Payment(&p),
                Write::Append(&rival)
            ])
            .await,
        Err(Error::Equivocation { nonce: 2, .. })
    ));
    assert_eq!(store.latest(id).await.expect("latest"), Some(first.clone()));
    assert_eq!(store.payment(p.id).await.expect("read"), None);

    // A signature, then an equivocating append: the signature slot stays empty.
    let user_sig = c.sign(Side::User, &first.state);
    assert!(store
        .write(&[
            Write::Signature {
                channel_id: id,
                nonce: 1,
                side: Side::User,
                signature: &user_sig,
            },
            Write::Append(&equivocating),
        ])
        .await
        .is_err());
    assert_eq!(
        store
            .update_at(id, 1)
            .await
            .expect("read")
            .and_then(|u| u.user_signature),
        None
    );

    // The store is still usable after the rollbacks, and a good batch answers one result per write.
    assert_eq!(
        store
            .write(&[
                Write::Signature {
                    channel_id: id,
                    nonce: 1,
                    side: Side::User,
                    signature: &user_sig,
                },
                Write::Append(&first),
                Write::Append(&second),
                Write::Payment(&p),
            ])
            .await
            .expect("batch"),
        vec![
            Written::Stored,
            Written::AlreadyStored,
            Written::Stored,
            Written::Stored
        ]
    );
    assert_eq!(store.latest(id).await.expect("latest"), Some(second));
    assert_eq!(store.payment(p.id).await.expect("read"), Some(p));
    assert!(store
        .latest_double_signed(id)
        .await
        .expect("read")
        .is_some_and(|u| u.nonce == 1));
}

async fn payments_round_trip_every_field_and_updates_replace_the_row(store: &dyn Store) {
    let payer = Channel::new(0x21, 0);
    let payee = Channel::new(0x22, 0);
    assert_eq!(
        store.payment(B256::repeat_byte(0x5a)).await.expect("read"),
        None
    );

    // A link payment: no payee until it is redeemed.
    let mut p = payment(1, &payer, None, PaymentStatus::Accepted, common::NOW);
    p.link_address = Some(Address::repeat_byte(0x1c));
    p.encrypted_preimage = Some(EncryptedPreimage {
        ephemeral_key: vec![2u8; 33].into(),
        ciphertext: vec![7u8; 48].into(),
    });
    assert_eq!(
        store.write(&[Write::Payment(&p)]).await.expect("insert"),
        vec![Written::Stored]
    );
    assert_eq!(store.payment(p.id).await.expect("read"), Some(p.clone()));

    // Redeemed and resolved: every field that can change does, and the stored row is the new one.
    let redeemed = Payment {
        payee: Some(payee.params.user),
        payee_channel: Some(payee.params.channel_id()),
        payee_expiry: p.payee_expiry + 60,
        encrypted_preimage: Some(EncryptedPreimage {
            ephemeral_key: vec![3u8; 33].into(),
            ciphertext: vec![8u8; 48].into(),
        }),
        preimage: Some(B256::repeat_byte(!1u8)),
        revealed: true,
        status: PaymentStatus::Resolved,
        updated_at: p.updated_at + 5,
        ..p.clone()
    };
    assert_eq!(
        store
            .write(&[Write::Payment(&redeemed)])
            .await
            .expect("update"),
        vec![Written::Stored]
    );
    let stored = store.payment(p.id).await.expect("read").expect("stored");
    assert_eq!(stored, redeemed);
    assert_eq!(stored.status, PaymentStatus::Resolved);
    assert_eq!(stored.preimage.map(sha256), Some(p.hashlock));

    // An update of the status alone.
    let completed = Payment {
        status: PaymentStatus::Completed,
        updated_at: redeemed.updated_at + 1,
        ..redeemed
    };
    store
        .write(&[Write::Payment(&completed)])
        .await
        .expect("update");
    assert_eq!(
        store.payment(p.id).await.expect("read"),
        Some(completed.clone())
    );

    // Columns that a payment's steps never change, changed anyway: the row is still replaced whole.
    let rewritten = Payment {
        amount: completed.amount + U256::from(1u64),
        payer_expiry: completed.payer_expiry + 1,
        created_at: completed.created_at + 1,
        ..completed
    };
    store
        .write(&[Write::Payment(&rewritten)])
        .await
        .expect("replace");
    assert_eq!(
        store.payment(p.id).await.expect("read"),
        Some(rewritten.clone())
    );
    // Read back by a query that no cache answers.
    let by_hashlock = store
        .payments_by_hashlock(p.hashlock)
        .await
        .expect("read by hashlock");
    assert_eq!(by_hashlock.iter().find(|q| q.id == p.id), Some(&rewritten));
}

/// The node's work in one channel: as the payer's counterparty it resolves or refunds, as the payee's it locks.
async fn payments_to_drive_are_the_node_s_next_steps_in_that_channel_oldest_first(
    store: &dyn Store,
) {
    let a = Channel::new(0x23, 0);
    let b = Channel::new(0x24, 0);
    let t = common::NOW + 10_000;
    let resolved = payment(1, &a, Some(&b), PaymentStatus::Resolved, t + 3);
    let refunding = payment(2, &a, Some(&b), PaymentStatus::Refunding, t + 2);
    let forwarded = payment(3, &a, Some(&b), PaymentStatus::Forwarded, t);
    let accepted_from_a = payment(4, &a, Some(&b), PaymentStatus::Accepted, t);
    let completed = payment(5, &a, Some(&b), PaymentStatus::Completed, t);
    let accepted_to_a = payment(1, &b, Some(&a), PaymentStatus::Accepted, t + 1);
    let resolved_to_a = payment(2, &b, Some(&a), PaymentStatus::Resolved, t + 4);
    let all = [
        &resolved,
        &refunding,
        &forwarded,
        &accepted_from_a,
        &completed,
        &accepted_to_a,
        &resolved_to_a,
    ];
    let writes: Vec<_> = all.iter().map(|p| Write::Payment(p)).collect();
    store.write(&writes).await.expect("write");

    let for_a = store
        .payments_to_drive(a.params.channel_id(), 10)
        .await
        .expect("query");
    assert_eq!(
        ids(&for_a),
        vec![accepted_to_a.id, refunding.id, resolved.id]
    );
    assert_eq!(for_a[0], accepted_to_a);
    let limited = store
        .payments_to_drive(a.params.channel_id(), 2)
        .await
        .expect("query");
    assert_eq!(ids(&limited), vec![accepted_to_a.id, refunding.id]);

    let for_b = store
        .payments_to_drive(b.params.channel_id(), 10)
        .await
        .expect("query");
    assert_eq!(ids(&for_b), vec![accepted_from_a.id, resolved_to_a.id]);
    assert!(store
        .payments_to_drive(Channel::new(0x25, 0).params.channel_id(), 10)
        .await
        .expect("query")
        .is_empty());
}

async fn payment_listings_are_ordered_and_limited(store: &dyn Store) {
    let alice = Channel::new(0x26, 0);
    let bob = Channel::new(0x27, 0);
    let carol = Channel::new(0x28, 0);
    // Later than every other case's payments, so they are the newest in the store.
    let t = common::NOW + 1_000_000;
    let sent = payment(1, &alice, Some(&bob), PaymentStatus::Completed, t);
    let received = payment(1, &carol, Some(&alice), PaymentStatus::Forwarded, t + 2);
    let unrelated = payment(2, &bob, Some(&carol), PaymentStatus::Failed, t + 1);
    let newest = payment(3, &alice, Some(&carol), PaymentStatus::Accepted, t + 3);
    for p in [&sent, &received, &unrelated, &newest] {
        store.write(&[Write::Payment(p)]).await.expect("write");
    }

    let of_alice = store
        .payments_of(alice.params.user, 10)
        .await
        .expect("query");
    assert_eq!(ids(&of_alice), vec![newest.id, received.id, sent.id]);
    assert_eq!(
        ids(&store
            .payments_of(alice.params.user, 2)
            .await
            .expect("query")),
        vec![newest.id, received.id]
    );
    assert!(store
        .payments_of(Address::repeat_byte(0x99), 10)
        .await
        .expect("query")
        .is_empty());

    assert_eq!(
        ids(&store.recent_payments(3).await.expect("query")),
        vec![newest.id, received.id, unrelated.id]
    );
    assert_eq!(store.recent_payments(1).await.expect("query"), vec![newest]);

    // By status, least recently changed first: the ones changed long ago come before every other case's.
    let stale = Payment {
        updated_at: 2,
        ..payment(4, &bob, Some(&alice), PaymentStatus::Refunding, t)
    };
    let staler = Payment {
        updated_at: 1,
        ..payment(5, &bob, Some(&alice), PaymentStatus::Refunding, t)
    };
    store
        .write(&[Write::Payment(&stale), Write::Payment(&staler)])
        .await
        .expect("write");
    let refunding = store
        .payments_with_status(PaymentStatus::Refunding, 2)
        .await
        .expect("query");
    assert_eq!(ids(&refunding), vec![staler.id, stale.id]);
    assert!(store
        .payments_with_status(PaymentStatus::Failed, 100)
        .await
        .expect("query")
        .iter()
        .all(|p| p.status == PaymentStatus::Failed));
}

async fn payments_are_counted_by_status(store: &dyn Store) {
    let count = |counts: &[(PaymentStatus, u64)], status| {
        counts
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    };
    let before = store.payment_counts().await.expect("count");
    assert!(
        before.iter().all(|(_, n)| *n > 0),
        "a status with no payments is left out: {before:?}"
    );
    let payer = Channel::new(0x2d, 0);
    let payee = Channel::new(0x2e, 0);
    let t = common::NOW + 2_000_000;
    let mut refunded = payment(3, &payer, Some(&payee), PaymentStatus::Refunding, t);
    for p in [
        &payment(1, &payer, Some(&payee), PaymentStatus::Completed, t),
        &payment(2, &payer, Some(&payee), PaymentStatus::Completed, t),
        &refunded,
    ] {
        store.write(&[Write::Payment(p)]).await.expect("write");
    }
    refunded.status = PaymentStatus::Failed;
    store
        .write(&[Write::Payment(&refunded)])
        .await
        .expect("write");

    let after = store.payment_counts().await.expect("count");
    for (status, more) in [
        (PaymentStatus::Completed, 2),
        (PaymentStatus::Failed, 1),
        (PaymentStatus::Refunding, 0),
        (PaymentStatus::Accepted, 0),
    ] {
        assert_eq!(
            count(&after, status),
            count(&before, status) + more,
            "{status:?}"
        );
    }
}

async fn channels_lists_the_newest_epoch_of_every_user(store: &dyn Store) {
    let old = Channel::new(0x29, 0);
    let new = Channel::new(0x29, 1);
    let other = Channel::new(0x2a, 0);
    for c in [&old, &new, &other] {
        opened(store, c).await;
    }
    let all = store.channels(0, 10_000).await.expect("list");
    assert!(all.contains(&new.record()));
    assert!(all.contains(&other.record()));
    assert!(!all.contains(&old.record()));
    let mut users: Vec<_> = all.iter().map(|c| c.user).collect();
    users.dedup();
    assert_eq!(users.len(), all.len(), "one channel per user: {all:?}");
    assert_eq!(
        store.channel_count().await.expect("count"),
        all.len() as u64
    );
    for c in &all {
        assert_eq!(
            store
                .channel_of_user(c.user)
                .await
                .expect("by user")
                .as_ref(),
            Some(c)
        );
    }

    // Pages in a stable order add up to the whole list.
    let first = store.channels(0, 2).await.expect("page");
    let rest = store.channels(2, 10_000).await.expect("page");
    assert_eq!(first.len(), 2);
    assert_eq!([first, rest].concat(), all);
    assert!(store
        .channels(all.len() as u32, 10)
        .await
        .expect("past the end")
        .is_empty());
}

async fn one_collateral_deposit_is_in_flight_per_channel_and_asset(store: &dyn Store) {
    let c = Channel::new(0x2b, 0);
    let id = c.params.channel_id();
    let dai = Address::repeat_byte(0xda);
    let deposit = CollateralDeposit {
        channel_id: id,
        asset: Address::ZERO,
        amount: U256::from(100),
        tx_hash: None,
        status: CollateralStatus::Sending,
        created_at: common::NOW,
    };
    assert!(store.begin_collateral(&deposit).await.expect("begin"));
    let second = CollateralDeposit {
        amount: U256::from(500),
        created_at: common::NOW + 1,
        ..deposit.clone()
    };
    assert!(!store.begin_collateral(&second).await.expect("again"));
    let in_dai = CollateralDeposit {
        asset: dai,
        created_at: common::NOW + 2,
        ..deposit.clone()
    };
    assert!(store.begin_collateral(&in_dai).await.expect("other asset"));
    assert_eq!(
        store.collateral(Some(id)).await.expect("list"),
        vec![deposit.clone(), in_dai.clone()],
        "the refused second deposit changed nothing"
    );

    let hash = B256::repeat_byte(0x7a);
    store
        .update_collateral(id, Address::ZERO, Some(hash), CollateralStatus::Sent)
        .await
        .expect("sent");
    // A later status without a hash keeps the hash.
    store
        .update_collateral(id, Address::ZERO, None, CollateralStatus::Confirmed)
        .await
        .expect("confirmed");
    let confirmed = CollateralDeposit {
        tx_hash: Some(hash),
        status: CollateralStatus::Confirmed,
        ..deposit.clone()
    };
    assert_eq!(
        store.collateral(Some(id)).await.expect("list"),
        vec![confirmed.clone(), in_dai.clone()]
    );
    let everywhere = store.collateral(None).await.expect("list");
    assert!(everywhere.contains(&confirmed) && everywhere.contains(&in_dai));
    assert!(store
        .collateral(Some(B256::repeat_byte(0x01)))
        .await
        .expect("list")
        .is_empty());

    // Counting the deposit ends it in the same transaction; a batch that fails ends nothing.
    let opening = opened(store, &c).await;
    let counted = c.next(&opening, 100);
    let rival = c.next(&opening, 99);
    assert!(store
        .write(&[
            Write::CollateralDone {
                channel_id: id,
                asset: Address::ZERO,
            },
            Write::Append(&counted),
            Write::Append(&rival),
        ])
        .await
        .is_err());
    assert_eq!(store.collateral(Some(id)).await.expect("list").len(), 2);
    assert_eq!(
        store
            .write(&[
                Write::Append(&counted),
                Write::CollateralDone {
                    channel_id: id,
                    asset: Address::ZERO,
                },
            ])
            .await
            .expect("batch"),
        vec![Written::Stored, Written::Stored]
    );
    assert_eq!(
        store.collateral(Some(id)).await.expect("list"),
        vec![in_dai]
    );
    // With the first one done, the channel may take another deposit of that asset.
    assert!(store.begin_collateral(&second).await.expect("begin"));
}

async fn only_an_unsigned_latest_proposal_is_discarded(store: &dyn Store) {
    let c = Channel::new(0x2c, 0);
    let id = c.params.channel_id();
    let opening = opened(store, &c).await;
    assert!(!store.discard_unsigned(id, 0).await.expect("discard"));
    assert_eq!(
        store.latest(id).await.expect("latest"),
        Some(opening.clone())
    );

    let first = c.next(&opening, 10);
    store.append(&first).await.expect("append");
    let second = c.next(&first, 10);
    store.append(&second).await.expect("append");
    // Not the latest, and not stored at all.
    assert!(!store.discard_unsigned(id, 1).await.expect("discard"));
    assert!(!store.discard_unsigned(id, 3).await.expect("discard"));
    assert!(!store
        .discard_unsigned(B256::repeat_byte(0x02), 1)
        .await
        .expect("discard"));
    assert_eq!(
        store.update_at(id, 1).await.expect("read"),
        Some(first.clone())
    );

    assert!(store.discard_unsigned(id, 2).await.expect("discard"));
    assert_eq!(store.latest(id).await.expect("latest"), Some(first.clone()));
    // The withdrawn proposal's nonce is free for another update.
    let instead = c.next(&first, 3);
    assert_eq!(
        store.append(&instead).await.expect("append"),
        Written::Stored
    );

    // Once the user signed it, it stays.
    store
        .add_signature(id, 2, Side::User, &c.sign(Side::User, &instead.state))
        .await
        .expect("sign");
    assert!(!store.discard_unsigned(id, 2).await.expect("discard"));
    assert!(store
        .latest(id)
        .await
        .expect("latest")
        .is_some_and(|u| u.nonce == 2 && u.user_signature.is_some()));
}

async fn a_user_key_is_set_once(store: &dyn Store) {
    let signer = |byte| spoke_protocol::Signer::from_bytes(&B256::repeat_byte(byte)).expect("key");
    let key = signer(0x2d).public_key();
    let user = key.address();
    assert_eq!(store.user_key(user).await.expect("read"), None);
    store.set_user_key(user, &key).await.expect("set");
    store
        .set_user_key(user, &key)
        .await
        .expect("the same key again");
    assert_eq!(store.user_key(user).await.expect("read"), Some(key));
    // Someone else's key is never stored as this user's.
    let other = signer(0x2e).public_key();
    assert!(store.set_user_key(user, &other).await.is_err());
    assert!(store.set_user_key(other.address(), &key).await.is_err());
    assert_eq!(store.user_key(user).await.expect("read"), Some(key));
    assert_eq!(store.user_key(other.address()).await.expect("read"), None);
}

async fn conformance(store: Arc<dyn Store>) {
    channels_open_once_and_are_found_by_id_and_user(store.as_ref()).await;
    updates_are_stored_at_consecutive_nonces_only(store.as_ref()).await;
    signatures_complete_a_state_once(store.as_ref()).await;
    withdrawal_commitment_signatures_are_kept_with_their_state(store.as_ref()).await;
    login_nonces_work_once_and_expire(store.as_ref()).await;
    expired_logins_are_pruned_and_live_ones_kept(store.as_ref()).await;
    batches_are_all_or_nothing(store.as_ref()).await;
    payments_round_trip_every_field_and_updates_replace_the_row(store.as_ref()).await;
    payments_to_drive_are_the_node_s_next_steps_in_that_channel_oldest_first(store.as_ref()).await;
    payment_listings_are_ordered_and_limited(store.as_ref()).await;
    payments_are_counted_by_status(store.as_ref()).await;
    channels_lists_the_newest_epoch_of_every_user(store.as_ref()).await;
    one_collateral_deposit_is_in_flight_per_channel_and_asset(store.as_ref()).await;
    only_an_unsigned_latest_proposal_is_discarded(store.as_ref()).await;
    a_user_key_is_set_once(store.as_ref()).await;
    racing_writers_cannot_both_win(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    conformance(Arc::new(SqlStore::connect(&url).await.expect("connect"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    let server = Postgres::start();
    conformance(Arc::new(
        SqlStore::connect(&server.url).await.expect("connect"),
    ))
    .await;
}

#[tokio::test]
async fn sqlite_keeps_everything_across_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    let c = Channel::new(6, 0);
    let first = {
        let store = SqlStore::connect(&url).await.expect("connect");
        let opening = opened(&store, &c).await;
        let first = c.next(&opening, 42);
        store.append(&first).await.expect("append");
        first
    };
    let store = SqlStore::connect(&url).await.expect("reopen");
    assert_eq!(
        store.latest(c.params.channel_id()).await.expect("latest"),
        Some(first)
    );
}

#[tokio::test]
async fn an_unknown_database_url_is_refused() {
    assert!(matches!(
        SqlStore::connect("mysql://x").await,
        Err(Error::UnsupportedDatabaseUrl(_))
    ));
}
