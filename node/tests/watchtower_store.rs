//! The watchtower's store, one suite on SQLite (a file) and on a real PostgreSQL server of the test's own: a state
//! replaces a watched one only at a higher nonce, the dispute nonce only rises, and what needs work follows from
//! what is stored.

mod common;

use std::sync::Arc;

use common::{postgres::Postgres, Channel};
use spoke_node::{
    store::{Registered, SqlStore, WatchStatus, WatchtowerStore},
    Error,
};
use spoke_protocol::{ChannelState, Side, SignedState, B256};

/// The channel's states at nonces 1..=count, each counting one more wei and signed by both sides.
fn states(c: &Channel, count: u64) -> Vec<SignedState> {
    let mut state = c.initial();
    (1..=count)
        .map(|_| {
            state = c.deposit(&state, 1).1;
            signed(c, &state)
        })
        .collect()
}

fn signed(c: &Channel, state: &ChannelState) -> SignedState {
    SignedState {
        state: state.clone(),
        user_signature: c.sign(Side::User, state),
        node_signature: c.sign(Side::Node, state),
    }
}

async fn only_a_newer_state_replaces_a_watched_one(store: &dyn WatchtowerStore) {
    let c = Channel::new(1, 0);
    let id = c.params.channel_id();
    let s = states(&c, 3);
    assert_eq!(store.watched_state(id).await.expect("read"), None);
    assert_eq!(
        store.watch(&c.params, &s[1]).await.expect("watch"),
        Registered::Added
    );
    assert_eq!(
        store.watch(&c.params, &s[1]).await.expect("again"),
        Registered::Unchanged
    );
    assert!(matches!(
        store.watch(&c.params, &s[0]).await,
        Err(Error::StaleState { channel_id, watched: 2, got: 1 }) if channel_id == id
    ));
    let mut other = c.initial();
    other = c.deposit(&other, 5).1;
    other = c.deposit(&other, 5).1;
    assert!(matches!(
        store.watch(&c.params, &signed(&c, &other)).await,
        Err(Error::ConflictingState { nonce: 2, .. })
    ));
    let stored = store.watched_state(id).await.expect("read").expect("there");
    assert_eq!(
        (stored.signed, stored.params),
        (s[1].clone(), c.params.clone())
    );
    assert!(stored.needs_check);

    store.record_checked(id).await.expect("checked");
    assert_eq!(
        store.watch(&c.params, &s[2]).await.expect("newer"),
        Registered::Replaced
    );
    let stored = store.watched_state(id).await.expect("read").expect("there");
    assert_eq!(stored.nonce(), 3);
    assert!(
        stored.needs_check,
        "a replaced state has its record read again"
    );
}

async fn the_dispute_nonce_only_rises_and_decides_what_needs_work(store: &dyn WatchtowerStore) {
    let c = Channel::new(2, 0);
    let id = c.params.channel_id();
    let s = states(&c, 3);
    store.watch(&c.params, &s[2]).await.expect("watch");
    let needing =
        |list: Vec<spoke_node::store::WatchedState>| list.iter().any(|w| w.channel_id() == id);
    assert!(needing(store.watched_needing_work().await.expect("read")));
    store.record_checked(id).await.expect("checked");
    assert!(!needing(store.watched_needing_work().await.expect("read")));

    assert!(!store
        .record_dispute(B256::repeat_byte(9), 1)
        .await
        .expect("unwatched"));
    assert!(store.record_dispute(id, 1).await.expect("dispute"));
    assert!(!store.record_dispute(id, 1).await.expect("the same"));
    assert!(!store.record_dispute(id, 0).await.expect("lower"));
    let watched = store.watched_state(id).await.expect("read").expect("there");
    assert_eq!(watched.disputed_nonce, Some(1));
    assert!(watched.is_stale_dispute());
    assert_eq!(watched.status(), WatchStatus::Watching);
    assert!(needing(store.watched_needing_work().await.expect("read")));

    let tx = B256::repeat_byte(0x77);
    store
        .record_answer(id, Some((tx, 3)))
        .await
        .expect("answer");
    let watched = store.watched_state(id).await.expect("read").expect("there");
    assert_eq!(
        (watched.answer_in_flight(), watched.status()),
        (Some(tx), WatchStatus::Answered)
    );
    store.record_answer(id, None).await.expect("forget");
    let watched = store.watched_state(id).await.expect("read").expect("there");
    assert_eq!(
        (watched.answer, watched.status()),
        (None, WatchStatus::Watching)
    );

    assert!(store
        .record_dispute(id, 3)
        .await
        .expect("answered on chain"));
    assert!(!needing(store.watched_needing_work().await.expect("read")));

    assert!(store.record_concluded(id).await.expect("concluded"));
    assert!(!store.record_concluded(id).await.expect("once"));
    let watched = store.watched_state(id).await.expect("read").expect("there");
    assert_eq!(watched.status(), WatchStatus::Concluded);
    let listed = store.watched_states().await.expect("list");
    assert!(listed.iter().any(|w| w.channel_id() == id && w.concluded));
}

async fn conformance(store: Arc<dyn WatchtowerStore>) {
    only_a_newer_state_replaces_a_watched_one(store.as_ref()).await;
    the_dispute_nonce_only_rises_and_decides_what_needs_work(store.as_ref()).await;
}

#[tokio::test]
async fn sqlite_watchtower_store_conforms() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("watchtower.db").display());
    conformance(Arc::new(SqlStore::connect(&url).await.expect("connect"))).await;
}

#[tokio::test]
async fn postgres_watchtower_store_conforms() {
    let server = Postgres::start();
    conformance(Arc::new(
        SqlStore::connect(&server.url).await.expect("connect"),
    ))
    .await;
}
