//! The store's in-memory cache answers exactly what the database holds: after every kind of write, each read of a
//! warm handle equals the read of a fresh handle on the same database (what a restarted node sees).

mod common;

use common::{Channel, NOW};
use spoke_node::store::{
    CollateralDeposit, CollateralStatus, Payment, PaymentStatus, SqlStore, Store, Write,
};
use spoke_protocol::{sha256, Address, Side, B256, U256};

fn payment(payer: &Channel, payee: &Channel, seed: u8, status: PaymentStatus) -> Payment {
    let payer_lock_id = B256::repeat_byte(seed);
    Payment {
        id: Payment::id_for(payer.params.channel_id(), payer_lock_id),
        payer: payer.params.user,
        payee: Some(payee.params.user),
        link_address: None,
        asset: Address::ZERO,
        amount: U256::from(1_000),
        hashlock: sha256(B256::repeat_byte(!seed)),
        payer_channel: payer.params.channel_id(),
        payer_lock_id,
        payer_expiry: NOW + 7_200,
        payee_channel: Some(payee.params.channel_id()),
        payee_expiry: NOW + 3_600,
        encrypted_preimage: None,
        preimage: None,
        revealed: false,
        status,
        created_at: NOW + u64::from(seed),
        updated_at: NOW,
    }
}

/// Every read the cache serves, from the warm handle and from a fresh one, must agree.
async fn same_answers(warm: &SqlStore, url: &str, channels: &[&Channel], payments: &[B256]) {
    let cold = SqlStore::connect(url).await.expect("reopen");
    for c in channels {
        let id = c.params.channel_id();
        assert_eq!(
            warm.channel(id).await.expect("warm"),
            cold.channel(id).await.expect("cold")
        );
        assert_eq!(
            warm.channel_of_user(c.params.user).await.expect("warm"),
            cold.channel_of_user(c.params.user).await.expect("cold")
        );
        let latest = warm.latest(id).await.expect("warm");
        assert_eq!(latest, cold.latest(id).await.expect("cold"));
        assert_eq!(
            warm.latest_double_signed(id).await.expect("warm"),
            cold.latest_double_signed(id).await.expect("cold")
        );
        if let Some(latest) = latest {
            assert_eq!(
                warm.update_at(id, latest.nonce).await.expect("warm"),
                cold.update_at(id, latest.nonce).await.expect("cold")
            );
        }
        assert_eq!(
            warm.is_frozen(id).await.expect("warm"),
            cold.is_frozen(id).await.expect("cold")
        );
        assert_eq!(
            warm.collateral(Some(id)).await.expect("warm"),
            cold.collateral(Some(id)).await.expect("cold")
        );
        assert_eq!(
            warm.payments_to_drive(id, 32).await.expect("warm"),
            cold.payments_to_drive(id, 32).await.expect("cold")
        );
        assert_eq!(
            warm.user_key(c.params.user).await.expect("warm"),
            cold.user_key(c.params.user).await.expect("cold")
        );
    }
    for id in payments {
        assert_eq!(
            warm.payment(*id).await.expect("warm"),
            cold.payment(*id).await.expect("cold")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_store_answers_what_a_restarted_one_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    let store = SqlStore::connect(&url).await.expect("connect");
    let (payer, payee) = (Channel::new(1, 0), Channel::new(2, 0));

    // Read everything first, so the cache holds "nothing yet" for each of them.
    let p = payment(&payer, &payee, 5, PaymentStatus::Accepted);
    same_answers(&store, &url, &[&payer, &payee], &[p.id]).await;
    assert_eq!(store.latest(payer.id()).await.expect("latest"), None);

    for c in [&payer, &payee] {
        store
            .open_channel(&c.record(), &c.initial())
            .await
            .expect("open");
    }
    same_answers(&store, &url, &[&payer, &payee], &[p.id]).await;

    // A node proposal, then the user's countersignature.
    let opening = store
        .latest(payer.id())
        .await
        .expect("latest")
        .expect("opening");
    let first = payer.next(&opening, 10);
    store.append(&first).await.expect("append");
    same_answers(&store, &url, &[&payer], &[]).await;
    let user_signature = payer.sign(Side::User, &first.state);
    store
        .add_signature(payer.id(), first.nonce, Side::User, &user_signature)
        .await
        .expect("countersign");
    same_answers(&store, &url, &[&payer], &[]).await;

    // A payment moves through the drive lists of both channels.
    store.write(&[Write::Payment(&p)]).await.expect("payment");
    same_answers(&store, &url, &[&payer, &payee], &[p.id]).await;
    assert_eq!(
        store
            .payments_to_drive(payee.id(), 32)
            .await
            .expect("drive")
            .len(),
        1
    );
    for status in [
        PaymentStatus::Forwarded,
        PaymentStatus::Resolved,
        PaymentStatus::Completed,
    ] {
        let moved = Payment {
            status,
            ..p.clone()
        };
        store
            .write(&[Write::Payment(&moved)])
            .await
            .expect("payment");
        same_answers(&store, &url, &[&payer, &payee], &[p.id]).await;
    }

    // A proposal withdrawn, a freeze and its release, collateral, a user key.
    let second = payer.next(&first, 3);
    store.append(&second).await.expect("append");
    assert!(store
        .discard_unsigned(payer.id(), second.nonce)
        .await
        .expect("discard"));
    same_answers(&store, &url, &[&payer], &[]).await;
    store.freeze(payee.id()).await.expect("freeze");
    same_answers(&store, &url, &[&payee], &[]).await;
    let deposit = CollateralDeposit {
        channel_id: payee.id(),
        asset: Address::ZERO,
        amount: U256::from(7),
        tx_hash: None,
        status: CollateralStatus::Sending,
        created_at: NOW,
    };
    assert!(store.begin_collateral(&deposit).await.expect("begin"));
    same_answers(&store, &url, &[&payee], &[]).await;
    store
        .update_collateral(
            payee.id(),
            Address::ZERO,
            Some(B256::repeat_byte(1)),
            CollateralStatus::Sent,
        )
        .await
        .expect("update");
    same_answers(&store, &url, &[&payee], &[]).await;
    store
        .write(&[Write::CollateralDone {
            channel_id: payee.id(),
            asset: Address::ZERO,
        }])
        .await
        .expect("done");
    store
        .set_user_key(payer.params.user, &payer.user.public_key())
        .await
        .expect("key");
    same_answers(&store, &url, &[&payer, &payee], &[p.id]).await;

    // A new epoch of the same user is the user's channel from now on.
    let later = Channel::new(1, 1);
    store
        .open_channel(&later.record(), &later.initial())
        .await
        .expect("open");
    assert_eq!(
        store
            .channel_of_user(payer.params.user)
            .await
            .expect("by user"),
        Some(later.record())
    );
    same_answers(&store, &url, &[&payer, &payee, &later], &[p.id]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_cached_but_still_expires() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    let store = SqlStore::connect(&url).await.expect("connect");
    let token = B256::repeat_byte(4);
    assert_eq!(store.session_user(token, NOW).await.expect("none"), None);
    let user = Address::repeat_byte(8);
    store
        .create_session(token, user, NOW + 10)
        .await
        .expect("create");
    assert_eq!(
        store.session_user(token, NOW).await.expect("live"),
        Some(user)
    );
    assert_eq!(
        store.session_user(token, NOW + 10).await.expect("expired"),
        None
    );
}
