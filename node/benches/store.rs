//! One store commit: what persisting a countersigned update costs the node, on SQLite in WAL mode with
//! `synchronous = FULL` (every commit reaches the disk), alone and with many channels committing at once. Run with
//! `cargo bench -p spoke-node` (or `./scripts/bench --full`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use common::Channel;
use criterion::{criterion_group, criterion_main, Criterion};
use spoke_node::store::{ChannelRecord, SqlStore, Store, StoredUpdate};
use spoke_protocol::{ChannelState, Side};

/// A channel of the tests' fixtures, and its latest state.
struct Bench {
    channel: Channel,
    latest: ChannelState,
}

impl Bench {
    fn new(index: u8) -> Bench {
        let channel = Channel::new(index, 0);
        let latest = channel.initial();
        Bench { channel, latest }
    }

    fn record(&self) -> ChannelRecord {
        ChannelRecord {
            channel_id: self.channel.id(),
            user: self.channel.params.user,
            epoch: 0,
        }
    }

    /// The next update, signed by both sides: one more unit of the user's deposit counted.
    fn next(&mut self) -> StoredUpdate {
        let (update, state) = self.channel.deposit(&self.latest, 1);
        self.latest = state.clone();
        StoredUpdate {
            channel_id: state.channel_id,
            nonce: state.nonce,
            update: Some(update),
            user_signature: Some(self.channel.sign(Side::User, &state)),
            node_signature: Some(self.channel.sign(Side::Node, &state)),
            commitment_signatures: None,
            state,
        }
    }
}

fn store_commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Arc::new(runtime.block_on(SqlStore::connect(&url)).expect("connect"));
    let mut channels: Vec<Bench> = (1..=32).map(Bench::new).collect();
    runtime.block_on(async {
        for channel in &channels {
            store
                .open_channel(&channel.record(), &channel.latest)
                .await
                .expect("open");
        }
    });

    let mut group = c.benchmark_group("store_commit");
    group.bench_function("one update, one channel (sqlite)", |b| {
        b.iter_batched(
            || channels[0].next(),
            |update| runtime.block_on(store.append(&update)).expect("append"),
            criterion::BatchSize::SmallInput,
        )
    });
    group.bench_function("32 updates, 32 channels at once (sqlite)", |b| {
        b.iter_batched(
            || channels.iter_mut().map(Bench::next).collect::<Vec<_>>(),
            |updates| {
                runtime.block_on(async {
                    let tasks: Vec<_> = updates
                        .into_iter()
                        .map(|update| {
                            let store = store.clone();
                            tokio::spawn(async move { store.append(&update).await })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("task").expect("append");
                    }
                })
            },
            criterion::BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, store_commit);
criterion_main!(benches);
