//! Fuzzing on the stable toolchain. The security test plan (B10) asks for cargo-fuzz, which needs nightly; this
//! project builds on stable, so proptest does the feeding: arbitrary bytes, byte-level mutations of valid
//! messages, and value-level mutations (a field replaced by a hostile value, removed, or added) of valid updates.
//!
//! - Nothing panics: not the node's decoder (serde), not the clients' (`json::FromJson`), not `apply`.
//! - When both decoders accept a text, they read the same update.
//! - Whatever `apply` accepts, from either side and at any time, is a state `validate_state` passes (value
//!   conserved, every amount in bounds, assets sorted and allowed, locks within the limit and adding up) with the
//!   nonce one higher. No signature is involved: as with LDK's fake-signature fuzzing, the mutations reach the
//!   validator instead of stopping at a signature check.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::Value;
use spoke_protocol::{
    apply, json, validate_state, ChannelState, Context, Proposal, Side, SignedState, Update, B256,
    U256,
};

/// A funded channel with a lock from each side, so that resolves and cancels have something to act on.
fn channel(f: &Fixture) -> ChannelState {
    let mut state = f.funded();
    for (n, side) in [(1u8, Side::User), (2, Side::Node)] {
        let update = Update::CreateLock {
            lock: lock(n, side, 50),
        };
        state = apply(&state, &update, &f.ctx(side)).expect("a lock");
    }
    state
}

/// Valid updates of every kind on [`channel`], as JSON: what the mutations start from.
fn seeds() -> Vec<Value> {
    let updates = [
        Update::CountDeposit {
            asset: DAI,
            side: Side::User,
            amount: u(1000),
        },
        Update::CreateLock {
            lock: lock(3, Side::User, 10),
        },
        Update::ResolveLock {
            id: B256::repeat_byte(2),
            preimage: preimage(2),
        },
        Update::CancelLock {
            id: B256::repeat_byte(1),
        },
        Update::Withdraw {
            asset: ETH,
            side: Side::Node,
            amount: u(10),
            recipient: spoke_protocol::Address::repeat_byte(0x77),
        },
    ];
    updates
        .iter()
        .map(|update| serde_json::to_value(update).expect("an update encodes"))
        .collect()
}

/// Values an attacker would put in a field.
fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(Value::from(0)),
        Just(Value::from(-1)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1e300)),
        Just(Value::from("")),
        Just(Value::from("0x")),
        Just(Value::from(format!("{:#x}", U256::MAX))),
        Just(Value::from(format!("{:#x}", spoke_protocol::MAX_AMOUNT))),
        Just(Value::from(format!(
            "{:#x}",
            spoke_protocol::MAX_AMOUNT + U256::from(1)
        ))),
        Just(Value::from(
            "115792089237316195423570985008687907853269984665640564039457584007913129639936"
        )),
        Just(Value::from(format!("{}", DAI))),
        Just(Value::from(format!("{}", ETH))),
        Just(Value::from(format!("{}", B256::repeat_byte(1)))),
        Just(Value::from(format!("{}", B256::repeat_byte(2)))),
        Just(Value::from("user")),
        Just(Value::from("node")),
        Just(Value::Array(vec![])),
        Just(Value::Object(Default::default())),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..2000).prop_map(|n| Value::from(n.to_string())),
        "[ -~]{0,80}".prop_map(Value::from),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    /// Replace the field at this index (of the sorted keys, wrapping) with a hostile value.
    Replace(usize, Value),
    Remove(usize),
    Add(String, Value),
    /// The same, one level down (inside `lock`).
    Nested(usize, Value),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), hostile()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => ("[a-zA-Z]{1,12}", hostile()).prop_map(|(k, v)| Edit::Add(k, v)),
        2 => (any::<usize>(), hostile()).prop_map(|(i, v)| Edit::Nested(i, v)),
    ]
}

fn nth_key(object: &serde_json::Map<String, Value>, i: usize) -> Option<String> {
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort();
    (!keys.is_empty()).then(|| keys[i % keys.len()].clone())
}

fn mutate(mut value: Value, edits: &[Edit]) -> Value {
    for edit in edits {
        let Some(object) = value.as_object_mut() else {
            return value;
        };
        match edit.clone() {
            Edit::Replace(i, v) => {
                if let Some(key) = nth_key(object, i) {
                    object.insert(key, v);
                }
            }
            Edit::Remove(i) => {
                if let Some(key) = nth_key(object, i) {
                    object.remove(&key);
                }
            }
            Edit::Add(key, v) => {
                object.insert(key, v);
            }
            Edit::Nested(i, v) => {
                if let Some(Value::Object(inner)) = object.get_mut("lock") {
                    if let Some(key) = nth_key(inner, i) {
                        inner.insert(key, v);
                    }
                }
            }
        }
    }
    value
}

/// Decodes `bytes` as an update with both decoders; they must agree when both accept it.
fn decode(bytes: &[u8]) -> Option<Update> {
    let node: Option<Update> = serde_json::from_slice(bytes).ok();
    let client: Option<Update> = json::from_slice(bytes).ok();
    if let (Some(a), Some(b)) = (&node, &client) {
        assert_eq!(
            a,
            b,
            "the decoders read {:?} differently",
            String::from_utf8_lossy(bytes)
        );
    }
    node.or(client)
}

/// Applies `update` as `proposer` at `now`; if it is accepted, the result must be a valid next state.
fn check_apply(f: &Fixture, state: &ChannelState, update: &Update, proposer: Side, now: u64) {
    let ctx = Context {
        now,
        proposer,
        params: &f.params,
        proposer_key: None,
    };
    if let Ok(next) = apply(state, update, &ctx) {
        assert_eq!(next.nonce, state.nonce + 1);
        if let Err(e) = validate_state(&next, &f.params) {
            panic!(
                "apply accepted {update:?} from {proposer:?} at {now} into an invalid state: {e}"
            );
        }
    }
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::User), Just(Side::Node)]
}

proptest! {
    // 20,000 cases of each take about 3 s in all: decoding and `apply` are pure arithmetic and hashing.
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_updates_never_panic_and_what_apply_accepts_is_valid(
        seed in 0usize..5,
        edits in prop::collection::vec(edit(), 1..4),
        proposer in side(),
        drift in -(8 * 24 * 3600i64)..(8 * 24 * 3600),
    ) {
        let f = Fixture::new();
        let state = channel(&f);
        let text = mutate(seeds()[seed].clone(), &edits).to_string();
        if let Some(update) = decode(text.as_bytes()) {
            check_apply(&f, &state, &update, proposer, NOW.saturating_add_signed(drift));
        }
    }

    #[test]
    fn bytes_flipped_in_valid_messages_never_panic(
        seed in 0usize..5,
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        proposer in side(),
    ) {
        let f = Fixture::new();
        let state = channel(&f);
        let mut bytes = seeds()[seed].to_string().into_bytes();
        for (at, byte) in flips {
            let at = at % bytes.len();
            bytes[at] = byte;
        }
        if let Some(update) = decode(&bytes) {
            check_apply(&f, &state, &update, proposer, NOW);
        }
        // The same bytes as every other message a side reads.
        let _ = json::from_slice::<Proposal>(&bytes);
        let _ = json::from_slice::<ChannelState>(&bytes);
        let _ = json::from_slice::<SignedState>(&bytes);
        let _ = serde_json::from_slice::<Proposal>(&bytes);
        let _ = serde_json::from_slice::<ChannelState>(&bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = json::from_slice::<Proposal>(&bytes);
        let _ = json::from_slice::<ChannelState>(&bytes);
        let _ = json::from_slice::<SignedState>(&bytes);
        let _ = json::parse(&bytes);
    }
}

/// The mutations reach the validator: a fair share of them decode and some are even accepted, so the property
/// above is not vacuously true.
#[test]
fn the_mutations_reach_apply() {
    use proptest::{
        strategy::ValueTree,
        test_runner::{Config, TestRunner},
    };
    let f = Fixture::new();
    let state = channel(&f);
    let mut runner = TestRunner::new(Config::default());
    let strategy = (0usize..5, prop::collection::vec(edit(), 1..4));
    let (mut decoded, mut accepted) = (0, 0);
    for _ in 0..2000 {
        let (seed, edits) = strategy.new_tree(&mut runner).expect("a case").current();
        let text = mutate(seeds()[seed].clone(), &edits).to_string();
        if let Some(update) = decode(text.as_bytes()) {
            decoded += 1;
            for proposer in [Side::User, Side::Node] {
                if apply(&state, &update, &f.ctx(proposer)).is_ok() {
                    accepted += 1;
                }
            }
        }
    }
    println!(
        "of 2,000 mutated updates {decoded} decoded; apply accepted {accepted} of them as one side or the other"
    );
    assert!(
        decoded >= 200,
        "only {decoded} of 2,000 mutated updates decoded"
    );
    assert!(
        accepted >= 20,
        "only {accepted} mutated updates were accepted by apply"
    );
}
