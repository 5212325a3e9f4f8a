//! Many channels writing at once, as under load: on SQLite their batches are committed together in groups
//! (`store/sql/group.rs`), on PostgreSQL in concurrent transactions. Either way each batch is all or nothing on its
//! own: one that fails is undone alone, with its own error, and every other one is stored whole.

mod common;

use std::sync::Arc;

use common::{postgres::Postgres, Channel};
use spoke_node::{
    store::{ChannelRecord, Payment, PaymentStatus, SqlStore, Store, StoredUpdate, Write, Written},
    Error,
};
use spoke_protocol::{sha256, Address, Side, B256, U256};

const CHANNELS: u8 = 48;

fn update(c: &Channel, previous: &spoke_protocol::ChannelState, amount: u64) -> StoredUpdate {
    let (update, state) = c.deposit(previous, amount);
    StoredUpdate {
        channel_id: state.channel_id,
        nonce: state.nonce,
        update: Some(update),
        node_signature: Some(c.sign(Side::Node, &state)),
        user_signature: Some(c.sign(Side::User, &state)),
        commitment_signatures: None,
        state,
    }
}

fn payment(c: &Channel, seed: u8) -> Payment {
    let payer_lock_id = B256::repeat_byte(seed);
    Payment {
        id: Payment::id_for(c.params.channel_id(), payer_lock_id),
        payer: c.params.user,
        payee: None,
        link_address: None,
        asset: Address::ZERO,
        amount: U256::from(1_000u64),
        hashlock: sha256(B256::repeat_byte(!seed)),
        payer_channel: c.params.channel_id(),
        payer_lock_id,
        payer_expiry: common::NOW + 7_200,
        payee_channel: None,
        payee_expiry: common::NOW + 3_600,
        encrypted_preimage: None,
        preimage: None,
        revealed: false,
        status: PaymentStatus::Accepted,
        created_at: common::NOW,
        updated_at: common::NOW,
    }
}

/// Each channel sends two batches at the same moment: a good one (its nonce-1 update and a payment) and, on every
/// other channel, a bad one (a nonce-3 update, which skips nonce 2, and another payment).
async fn failing_batches_are_undone_alone(store: Arc<dyn Store>) {
    let channels: Vec<Arc<Channel>> = (1..=CHANNELS)
        .map(|i| Arc::new(Channel::new(i, 0)))
        .collect();
    for c in &channels {
        let record = ChannelRecord {
            channel_id: c.params.channel_id(),
            user: c.params.user,
            epoch: 0,
        };
        store
            .open_channel(&record, &c.initial())
            .await
            .expect("open");
    }
    let mut tasks = Vec::new();
    for (i, c) in channels.iter().enumerate() {
        let (store_a, c_a) = (store.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            let first = update(&c_a, &c_a.initial(), 10);
            let p = payment(&c_a, 1);
            let result = store_a
                .write(&[Write::Append(&first), Write::Payment(&p)])
                .await;
            (true, result)
        }));
        if i % 2 == 1 {
            let (store_b, c_b) = (store.clone(), c.clone());
            tasks.push(tokio::spawn(async move {
                let first = update(&c_b, &c_b.initial(), 10);
                let second = update(&c_b, &first.state, 20);
                let skipping = update(&c_b, &second.state, 30);
                let q = payment(&c_b, 2);
                let result = store_b
                    .write(&[Write::Payment(&q), Write::Append(&skipping)])
                    .await;
                (false, result)
            }));
        }
    }
    for task in tasks {
        match task.await.expect("task") {
            (true, result) => assert_eq!(
                result.expect("a good batch is stored"),
                vec![Written::Stored, Written::Stored]
            ),
            (false, result) => assert!(
                matches!(result, Err(Error::NonceGap { .. })),
                "a batch skipping a nonce is refused with its own error, got {result:?}"
            ),
        }
    }
    for (i, c) in channels.iter().enumerate() {
        let latest = store
            .latest(c.params.channel_id())
            .await
            .expect("latest")
            .expect("a state");
        assert_eq!(latest.nonce, 1, "channel {i}: the good batch's update only");
        assert_eq!(latest, update(c, &c.initial(), 10));
        assert!(store
            .payment(payment(c, 1).id)
            .await
            .expect("read")
            .is_some());
        assert_eq!(
            store.payment(payment(c, 2).id).await.expect("read"),
            None,
            "channel {i}: the failed batch's payment is undone with it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failing_batches_in_a_group_are_undone_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    failing_batches_are_undone_alone(Arc::new(SqlStore::connect(&url).await.expect("connect")))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failing_batches_are_undone_alone() {
    let server = Postgres::start();
    failing_batches_are_undone_alone(Arc::new(
        SqlStore::connect(&server.url).await.expect("connect"),
    ))
    .await;
}
