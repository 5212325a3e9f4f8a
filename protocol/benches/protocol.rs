//! The protocol's hot path: what one hop of a payment costs the node in hashing, signing, verifying and
//! applying. Run with `cargo bench -p spoke-protocol`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use sha2::{Digest, Sha256};
use spoke_protocol::{
    apply, recover, recover_public_key, state_digest, verify_with_key, Address, ChannelParams,
    ChannelState, Context, Lock, PublicKey, Side, Signer, Timing, Update, B256, U256,
};

const NOW: u64 = 1_700_000_000;

fn setup() -> (ChannelParams, Signer, ChannelState) {
    let user = Signer::from_bytes(&B256::repeat_byte(0x11)).expect("key");
    let node = Signer::from_bytes(&B256::repeat_byte(0x22)).expect("key");
    let dai = Address::repeat_byte(0xda);
    let params = ChannelParams {
        chain_id: 31337,
        contract: Address::repeat_byte(0xcc),
        user: user.address(),
        node: node.address(),
        epoch: 0,
        allowed_assets: vec![dai],
        timing: Timing::default(),
        max_locks: 64,
    };
    let mut state = ChannelState::initial(params.channel_id());
    for side in [Side::User, Side::Node] {
        let ctx = Context {
            now: NOW,
            proposer: side,
            params: &params,
            proposer_key: None,
        };
        let update = Update::CountDeposit {
            asset: dai,
            side,
            amount: U256::from(1_000_000u64),
        };
        state = apply(&state, &update, &ctx).expect("deposit");
    }
    // A channel with a few payments in flight, as a busy one has.
    for n in 1..=4u8 {
        let ctx = Context {
            now: NOW,
            proposer: Side::User,
            params: &params,
            proposer_key: None,
        };
        let lock = Lock {
            id: B256::repeat_byte(n),
            asset: dai,
            amount: U256::from(10u64),
            sender: Side::User,
            hashlock: B256::from_slice(&Sha256::digest([n; 32])),
            expiry: NOW + 3600,
        };
        state = apply(&state, &Update::CreateLock { lock }, &ctx).expect("lock");
    }
    (params, user, state)
}

fn bench(c: &mut Criterion) {
    let (params, user, state) = setup();
    let dom = params.domain();
    let digest = state_digest(&dom, &state);
    let signature = user.sign_digest(&digest).expect("sign");

    c.bench_function("hash state (1 asset, 4 locks)", |b| {
        b.iter(|| state_digest(&dom, black_box(&state)))
    });
    c.bench_function("sign digest", |b| {
        b.iter(|| user.sign_digest(black_box(&digest)))
    });
    c.bench_function("recover signer", |b| {
        b.iter(|| recover(black_box(&digest), black_box(&signature)))
    });
    let sec1 = recover_public_key(&digest, &signature).expect("recover");
    let key = PublicKey::from_sec1(&sec1).expect("key");
    c.bench_function("verify with known key", |b| {
        b.iter(|| verify_with_key(black_box(&digest), black_box(&signature), Side::User, &key))
    });
    c.bench_function("decode a compressed key", |b| {
        b.iter(|| PublicKey::from_sec1(black_box(&sec1)))
    });

    let dai = Address::repeat_byte(0xda);
    let lock = Lock {
        id: B256::repeat_byte(0x77),
        asset: dai,
        amount: U256::from(5u64),
        sender: Side::User,
        hashlock: B256::repeat_byte(0x01),
        expiry: NOW + 3600,
    };
    let create = Update::CreateLock { lock };
    let ctx = Context {
        now: NOW,
        proposer: Side::User,
        params: &params,
        proposer_key: None,
    };
    c.bench_function("apply create lock", |b| {
        b.iter(|| apply(black_box(&state), black_box(&create), &ctx))
    });
    let resolve = Update::ResolveLock {
        id: B256::repeat_byte(1),
        preimage: B256::repeat_byte(1),
    };
    let node_ctx = Context {
        now: NOW,
        proposer: Side::Node,
        params: &params,
        proposer_key: None,
    };
    c.bench_function("apply resolve lock", |b| {
        b.iter(|| apply(black_box(&state), black_box(&resolve), &node_ctx))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
