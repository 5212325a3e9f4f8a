//! The node's record of its own disputes, one suite on SQLite (a file) and on a real PostgreSQL server of the
//! test's own: transactions come back in the order they were sent (even within one second) with their latest
//! status, and a channel is in dispute from its freeze until its dispute is finished.

mod common;

use std::sync::Arc;

use common::{postgres::Postgres, Channel};
use spoke_node::store::{
    ChannelRecord, DisputeAction, DisputeTx, DisputeTxStatus, SqlStore, Store,
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
