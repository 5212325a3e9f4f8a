//! One store commit: what persisting a countersigned update costs the node, on SQLite in WAL mode with
//! `synchronous = FULL` (every commit reaches the disk), alone and with many channels committing at once. Run with
//! `cargo bench -p spoke-node` (or `./scripts/bench --full`).

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use spoke_node::store::{ChannelRecord, SqlStore, Store, StoredUpdate};
use spoke_protocol::{
    apply, state_digest, Address, ChannelParams, ChannelState, Context, Side, Signer, Timing,
    Update, B256, U256,
};

const NOW: u64 = 1_700_000_000;

/// One channel, and the next update to store in it, signed by both sides.
struct Channel {
    user: Signer,
    node: Signer,
    params: ChannelParams,
    latest: ChannelState,
}

impl Channel {
    fn new(index: u8) -> Channel {
        let user = Signer::from_bytes(&B256::repeat_byte(index.max(1))).expect("user key");
        let node = Signer::from_bytes(&B256::repeat_byte(0xee)).expect("node key");
        let params = ChannelParams {
            chain_id: 31337,
            contract: Address::repeat_byte(0xcc),
            user: user.address(),
            node: node.address(),
            epoch: 0,
            allowed_assets: vec![],
            timing: Timing::default(),
            max_locks: 8,
        };
        let latest = ChannelState::initial(params.channel_id());
        Channel {
            user,
            node,
            params,
            latest,
        }
    }

    fn record(&self) -> ChannelRecord {
        ChannelRecord {
            channel_id: self.params.channel_id(),
            user: self.params.user,
            epoch: 0,
        }
    }

    fn next(&mut self) -> StoredUpdate {
        let update = Update::CountDeposit {
            asset: Address::ZERO,
            side: Side::User,
            amount: U256::from(1u64),
        };
        let ctx = Context {
            now: NOW,
            proposer: Side::User,
            params: &self.params,
        };
        let state = apply(&self.latest, &update, &ctx).expect("a valid deposit");
        let digest = state_digest(&self.params.domain(), &state);
        self.latest = state.clone();
        StoredUpdate {
            channel_id: state.channel_id,
            nonce: state.nonce,
            update: Some(update),
            user_signature: Some(self.user.sign_digest(&digest).expect("sign")),
            node_signature: Some(self.node.sign_digest(&digest).expect("sign")),
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
    let mut channels: Vec<Channel> = (1..=32).map(Channel::new).collect();
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
            || channels.iter_mut().map(Channel::next).collect::<Vec<_>>(),
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
