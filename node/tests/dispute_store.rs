//! The node's record of its own disputes, one suite on SQLite (a file) and on a real PostgreSQL server of the
//! test's own: transactions come back in the order they were sent (even within one second) with their latest
//! status, and a channel is in dispute from its freeze until its dispute is finished; a freeze from the mempool is
//! lifted only once every transaction that caused it is gone, and never once a mined dispute confirmed it.

mod common;

use std::sync::Arc;

use common::{postgres::Postgres, Channel};
use spoke_node::store::{
    ChannelRecord, DisputeAction, DisputeTx, DisputeTxStatus, PendingDisputeTx, SqlStore, Store,
};
use spoke_protocol::{Address, B256};

async fn conformance(store: Arc<dyn Store>) {
    let c = Channel::new(1, 0);
    let other = Channel::new(2, 0);
    for c in [&c, &other] {
        store
            .open_channel(
                &ChannelRecord {
                    channel_id: c.params.channel_id(),
                    user: c.params.user,
                    epoch: 0,
                },
                &c.initial(),
            )
            .await
            .expect("open");
    }
    let id = c.params.channel_id();
    assert!(store.channels_in_dispute().await.expect("list").is_empty());
    store.freeze(id).await.expect("freeze");
    let listed = store.channels_in_dispute().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].channel_id, id);

    // Same second, hashes in descending order: the order sent is kept, not the hashes'.
    let actions = [
        DisputeAction::Answer { nonce: 7 },
        DisputeAction::Reveal,
        DisputeAction::Conclude,
        DisputeAction::Settle {
            lock_id: B256::repeat_byte(0xab),
        },
        DisputeAction::Claim {
            asset: Address::repeat_byte(0x11),
        },
    ];
    let sent: Vec<DisputeTx> = actions
        .iter()
        .enumerate()
        .map(|(i, action)| DisputeTx {
            channel_id: id,
            tx_hash: B256::repeat_byte(0xf0 - i as u8),
            action: *action,
            status: DisputeTxStatus::Sent,
            sent_at: 1_700_000_000,
        })
        .collect();
    for tx in &sent {
        store.record_dispute_tx(tx).await.expect("record");
    }
    let mut mined = sent[1].clone();
    mined.status = DisputeTxStatus::Mined;
    store.record_dispute_tx(&mined).await.expect("update");
    let mut expected = sent.clone();
    expected[1].status = DisputeTxStatus::Mined;
    assert_eq!(store.dispute_txs(id).await.expect("read"), expected);
    assert!(store
        .dispute_txs(other.params.channel_id())
        .await
        .expect("read")
        .is_empty());

    store.finish_dispute(id).await.expect("finish");
    assert!(store.channels_in_dispute().await.expect("list").is_empty());
    assert!(store.is_frozen(id).await.expect("frozen"), "still frozen");

    // Frozen from the mempool by two transactions (the second replaced the first, say).
    let pending = other.params.channel_id();
    let first = PendingDisputeTx {
        channel_id: pending,
        tx_hash: B256::repeat_byte(0x0a),
        nonce: 3,
        seen_at: 1_700_000_000,
    };
    let second = PendingDisputeTx {
        tx_hash: B256::repeat_byte(0x0b),
        nonce: 4,
        ..first.clone()
    };
    for tx in [&first, &first, &second] {
        store.record_pending_dispute(tx).await.expect("record");
        store.freeze(pending).await.expect("freeze");
    }
    let recorded = store.pending_disputes().await.expect("read");
    assert_eq!(recorded, vec![first.clone(), second.clone()]);
    assert!(
        !store
            .release_freeze(pending, &[first.tx_hash])
            .await
            .expect("release"),
        "the second is still there"
    );
    assert!(store.is_frozen(pending).await.expect("frozen"));
    assert_eq!(
        store.pending_disputes().await.expect("read"),
        vec![second.clone()]
    );
    assert!(store
        .release_freeze(pending, &[second.tx_hash])
        .await
        .expect("release"));
    assert!(!store.is_frozen(pending).await.expect("frozen"), "released");
    assert!(store.pending_disputes().await.expect("read").is_empty());
    assert!(store.channels_in_dispute().await.expect("list").is_empty());

    // Once a mined dispute confirmed the freeze, what the mempool showed is forgotten and nothing releases it.
    store.record_pending_dispute(&first).await.expect("record");
    store.freeze(pending).await.expect("freeze");
    store.confirm_freeze(pending).await.expect("confirm");
    assert!(store.pending_disputes().await.expect("read").is_empty());
    assert!(!store
        .release_freeze(pending, &[first.tx_hash])
        .await
        .expect("release"));
    assert!(store.is_frozen(pending).await.expect("frozen"), "final");
}

#[tokio::test]
async fn sqlite_dispute_records_conform() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("node.db").display());
    conformance(Arc::new(SqlStore::connect(&url).await.expect("connect"))).await;
}

#[tokio::test]
async fn postgres_dispute_records_conform() {
    let server = Postgres::start();
    conformance(Arc::new(
        SqlStore::connect(&server.url).await.expect("connect"),
    ))
    .await;
}
