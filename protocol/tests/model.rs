//! Property tests: random update sequences against a small reference model. Whatever the sequence, `apply`
//! agrees with the model on which updates are valid and on every balance, value is conserved, the nonce rises
//! by exactly one per accepted update, and a refused update changes nothing. Any flipped byte breaks a signature.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use spoke_protocol::{
    apply, domain, recover, state_digest, validate_state, Address, ChannelState, Side, Signature,
    Update, B256, U256,
};

#[derive(Debug, Clone)]
enum Op {
    Deposit {
        side: Side,
        dai: bool,
        amount: u64,
    },
    Lock {
        side: Side,
        dai: bool,
        amount: u64,
        ttl: u64,
    },
    Resolve {
        pick: usize,
        right_preimage: bool,
    },
    Cancel {
        pick: usize,
        by: Side,
    },
    Withdraw {
        side: Side,
        dai: bool,
        amount: u64,
    },
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::User), Just(Side::Node)]
}

fn op() -> impl Strategy<Value = (u64, Op)> {
    let day = 24 * 3600;
    let op = prop_oneof![
        (side(), any::<bool>(), 0u64..500).prop_map(|(side, dai, amount)| Op::Deposit {
            side,
            dai,
            amount
        }),
        (side(), any::<bool>(), 0u64..300, 0u64..8 * day).prop_map(|(side, dai, amount, ttl)| {
            Op::Lock {
                side,
                dai,
                amount,
                ttl,
            }
        }),
        (any::<usize>(), prop::bool::weighted(0.8)).prop_map(|(pick, right_preimage)| {
            Op::Resolve {
                pick,
                right_preimage,
            }
        }),
        (any::<usize>(), side()).prop_map(|(pick, by)| Op::Cancel { pick, by }),
        (side(), any::<bool>(), 0u64..300).prop_map(|(side, dai, amount)| Op::Withdraw {
            side,
            dai,
            amount
        }),
    ];
    (0u64..7200, op)
}

/// The reference: per asset and side, plain integers.
#[derive(Debug, Default, Clone, PartialEq)]
struct Book {
    balance: [u128; 2],
    counted: [u128; 2],
    withdrawn: [u128; 2],
    locked: [u128; 2],
}

#[derive(Debug, Clone)]
struct ModelLock {
    asset: Address,
    amount: u128,
    sender: Side,
    expiry: u64,
}

#[derive(Debug, Default, Clone)]
struct Model {
    books: BTreeMap<Address, Book>,
    locks: BTreeMap<B256, ModelLock>,
}

impl Model {
    /// Applies `op` if the rules allow it and returns the update `apply` should be given, with its proposer and
    /// whether the model accepted it.
    fn step(
        &mut self,
        f: &Fixture,
        now: u64,
        op: &Op,
        next_id: &mut u8,
    ) -> Option<(Update, Side, bool)> {
        let asset_of = |dai: bool| if dai { DAI } else { ETH };
        let timing = f.params.timing;
        Some(match op {
            Op::Deposit { side, dai, amount } => {
                let asset = asset_of(*dai);
                let ok = *amount > 0;
                if ok {
                    let b = self.books.entry(asset).or_default();
                    b.counted[*side as usize] += *amount as u128;
                    b.balance[*side as usize] += *amount as u128;
                }
                (
                    Update::CountDeposit {
                        asset,
                        side: *side,
                        amount: U256::from(*amount),
                    },
                    *side,
                    ok,
                )
            }
            Op::Lock {
                side,
                dai,
                amount,
                ttl,
            } => {
                let asset = asset_of(*dai);
                *next_id += 1;
                let id = B256::repeat_byte(*next_id);
                let expiry = now + ttl;
                let s = *side as usize;
                let ok = *amount > 0
                    && *ttl >= timing.safety_margin
                    && *ttl <= timing.max_lock_lifetime
                    && self.locks.len() < f.params.max_locks
                    && self
                        .books
                        .get(&asset)
                        .is_some_and(|b| b.balance[s] >= *amount as u128);
                if ok {
                    let b = self.books.get_mut(&asset).expect("checked");
                    b.balance[s] -= *amount as u128;
                    b.locked[s] += *amount as u128;
                    self.locks.insert(
                        id,
                        ModelLock {
                            asset,
                            amount: *amount as u128,
                            sender: *side,
                            expiry,
                        },
                    );
                }
                let lock = spoke_protocol::Lock {
                    id,
                    asset,
                    amount: U256::from(*amount),
                    sender: *side,
                    hashlock: hashlock(preimage(*next_id)),
                    expiry,
                };
                (Update::CreateLock { lock }, *side, ok)
            }
            Op::Resolve {
                pick,
                right_preimage,
            } => {
                let (id, lock) = self.pick(*pick)?;
                let ok = *right_preimage && now + timing.safety_margin <= lock.expiry;
                if ok {
                    self.settle(id, lock.sender.other());
                }
                let p = if *right_preimage {
                    preimage(id[0])
                } else {
                    B256::repeat_byte(0xee)
                };
                (
                    Update::ResolveLock { id, preimage: p },
                    lock.sender.other(),
                    ok,
                )
            }
            Op::Cancel { pick, by } => {
                let (id, lock) = self.pick(*pick)?;
                let ok = *by != lock.sender || now >= lock.expiry;
                if ok {
                    self.settle(id, lock.sender);
                }
                (Update::CancelLock { id }, *by, ok)
            }
            Op::Withdraw { side, dai, amount } => {
                let asset = asset_of(*dai);
                let s = *side as usize;
                let ok = *amount > 0
                    && self
                        .books
                        .get(&asset)
                        .is_some_and(|b| b.balance[s] >= *amount as u128);
                if ok {
                    let b = self.books.get_mut(&asset).expect("checked");
                    b.balance[s] -= *amount as u128;
                    b.withdrawn[s] += *amount as u128;
                }
                let recipient = f.params.signer(*side);
                (
                    Update::Withdraw {
                        asset,
                        side: *side,
                        amount: U256::from(*amount),
                        recipient,
                    },
                    *side,
                    ok,
                )
            }
        })
    }

    fn pick(&self, pick: usize) -> Option<(B256, ModelLock)> {
        if self.locks.is_empty() {
            return None;
        }
        self.locks
            .iter()
            .nth(pick % self.locks.len())
            .map(|(id, l)| (*id, l.clone()))
    }

    fn settle(&mut self, id: B256, to: Side) {
        let lock = self.locks.remove(&id).expect("picked");
        let b = self.books.get_mut(&lock.asset).expect("lock's asset");
        b.locked[lock.sender as usize] -= lock.amount;
        b.balance[to as usize] += lock.amount;
    }

    fn agrees_with(&self, state: &ChannelState) -> bool {
        let books: BTreeMap<Address, Book> = state
            .assets
            .iter()
            .map(|a| {
                let n = |x: U256| x.to::<u128>();
                (
                    a.asset,
                    Book {
                        balance: [n(a.balance_user), n(a.balance_node)],
                        counted: [n(a.counted_user), n(a.counted_node)],
                        withdrawn: [n(a.withdrawn_user), n(a.withdrawn_node)],
                        locked: [n(a.locked_user), n(a.locked_node)],
                    },
                )
            })
            .collect();
        books == self.books
            && state
                .locks
                .iter()
                .map(|l| l.id)
                .eq(self.locks.keys().copied())
    }
}

fn run(ops: &[(u64, Op)]) -> (Fixture, ChannelState) {
    let f = Fixture::new();
    let mut state = f.initial();
    let mut model = Model::default();
    let mut now = NOW;
    let mut next_id = 0u8;
    for (dt, op) in ops {
        now += dt;
        let Some((update, proposer, model_ok)) = model.step(&f, now, op, &mut next_id) else {
            continue;
        };
        let ctx = f.ctx_at(proposer, now);
        match apply(&state, &update, &ctx) {
            Ok(next) => {
                assert!(model_ok, "apply accepted what the model refuses: {op:?}");
                assert_eq!(
                    next.nonce,
                    state.nonce + 1,
                    "the nonce rises by exactly one"
                );
                validate_state(&next, &f.params)
                    .expect("every accepted state is valid and conserves value");
                state = next;
            }
            Err(e) => assert!(
                !model_ok,
                "apply refused what the model accepts: {op:?}: {e}"
            ),
        }
        assert!(
            model.agrees_with(&state),
            "model and state diverged after {op:?}"
        );
    }
    (f, state)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn apply_agrees_with_the_reference_model(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops);
    }

    #[test]
    fn any_flipped_signature_byte_breaks_the_signature(
        ops in prop::collection::vec(op(), 1..20),
        index in 0usize..65,
        bit in 0u8..8,
    ) {
        let (f, state) = run(&ops);
        let digest = state_digest(&domain(CHAIN_ID, f.params.contract), &state);
        let sig = f.user.sign_digest(&digest).expect("sign");
        let mut bytes = sig.as_bytes();
        bytes[index] ^= 1 << bit;
        // A flipped v is no longer 27 or 28, so it does not parse; a flipped r or s recovers someone else or
        // no one.
        let broken = match Signature::from_raw(&bytes) {
            Ok(flipped) if matches!(bytes[64], 27 | 28) => recover(&digest, &flipped).ok() != Some(f.user.address()),
            _ => true,
        };
        prop_assert!(broken);
    }

    #[test]
    fn any_changed_field_changes_the_digest(
        ops in prop::collection::vec(op(), 1..20),
        which in 0usize..4,
        delta in 1u64..1000,
    ) {
        let (f, state) = run(&ops);
        let dom = domain(CHAIN_ID, f.params.contract);
        let digest = state_digest(&dom, &state);
        let mut changed = state.clone();
        match (which, changed.assets.first_mut(), changed.locks.first_mut()) {
            (0, Some(a), _) => a.balance_user += U256::from(delta),
            (1, Some(a), _) => a.locked_node += U256::from(delta),
            (2, _, Some(l)) => l.expiry += delta,
            _ => changed.nonce += delta,
        }
        prop_assert_ne!(state_digest(&dom, &changed), digest);
    }
}
