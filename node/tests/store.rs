//! One conformance suite for every store: the same scenarios against SQLite (a file) and against a real
//! PostgreSQL server of the test's own.

mod common;

use std::sync::Arc;

use common::{postgres::Postgres, Channel};
use spoke_node::{
    store::{ChannelRecord, CommitmentSignatures, SqlStore, Store, StoredUpdate, Written},
    Error,
};
use spoke_protocol::{Side, B256};

fn record(c: &Channel) -> ChannelRecord {
    ChannelRecord {
        channel_id: c.params.channel_id(),
        user: c.params.user,
        epoch: c.params.epoch,
    }
}

/// The update counting `amount` on top of `stored`, signed by the node only: what the node persists before it
/// sends its signature.
fn next(c: &Channel, stored: &StoredUpdate, amount: u64) -> StoredUpdate {
    let (update, state) = c.deposit(&stored.state, amount);
    StoredUpdate {
        channel_id: state.channel_id,
        nonce: state.nonce,
        update: Some(update),
        node_signature: Some(c.sign(Side::Node, &state)),
        user_signature: None,
        commitment_signatures: None,
        state,
    }
}

async fn opened(store: &dyn Store, c: &Channel) -> StoredUpdate {
    assert_eq!(
        store
            .open_channel(&record(c), &c.initial())
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
            .open_channel(&record(&c), &c.initial())
            .await
            .expect("again"),
        Written::AlreadyStored
    );
    assert_eq!(
        store.channel(c.params.channel_id()).await.expect("get"),
        Some(record(&c))
    );
    assert_eq!(
        store.channel(B256::repeat_byte(9)).await.expect("get"),
        None
    );

    let later = Channel::new(1, 3);
    opened(store, &later).await;
    assert_eq!(
        store.channel_of_user(c.params.user).await.expect("by user"),
        Some(record(&later))
    );
}

async fn updates_are_stored_at_consecutive_nonces_only(store: &dyn Store) {
    let c = Channel::new(2, 0);
    let opening = opened(store, &c).await;
    let first = next(&c, &opening, 10);
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
    let other = next(&c, &opening, 11);
    assert!(matches!(
        store.append(&other).await,
        Err(Error::Equivocation { nonce: 1, .. })
    ));
    // A skipped nonce is refused.
    let second = next(&c, &first, 5);
    let third = next(&c, &second, 5);
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
    let orphan = next(
        &stranger,
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
    let first = next(&c, &opening, 10);
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
    store.append(&next(&c, &first, 1)).await.expect("append");
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
    let mut update = next(&c, &opening, 10);
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

/// Many writers race for the same nonce with different content: exactly one wins, the rest are refused, and
/// what is stored is the winner's.
async fn racing_writers_cannot_both_win(store: Arc<dyn Store>) {
    let c = Arc::new(Channel::new(5, 0));
    let opening = opened(store.as_ref(), &c).await;
    let tasks: Vec<_> = (1..=16u64)
        .map(|amount| {
            let (store, c, opening) = (store.clone(), c.clone(), opening.clone());
            tokio::spawn(async move {
                let update = next(&c, &opening, amount);
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

async fn conformance(store: Arc<dyn Store>) {
    channels_open_once_and_are_found_by_id_and_user(store.as_ref()).await;
    updates_are_stored_at_consecutive_nonces_only(store.as_ref()).await;
    signatures_complete_a_state_once(store.as_ref()).await;
    withdrawal_commitment_signatures_are_kept_with_their_state(store.as_ref()).await;
    login_nonces_work_once_and_expire(store.as_ref()).await;
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
        let first = next(&c, &opening, 42);
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
