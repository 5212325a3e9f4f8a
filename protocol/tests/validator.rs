//! One test per rule of `apply` and of the signed-state checks: each rejection names its values and leaves the
//! input untouched.

mod common;

use common::*;
use spoke_protocol::{
    accept_proposal, apply, check_signed_state, commitment_digest, domain, propose, quote_digest,
    validate_state, Address, ChannelParams, ChannelState, Error, ExchangeQuote, Side,
    SignedCommitment, Update, B256, MAX_AMOUNT, MAX_ASSETS, U256,
};

fn create(f: &Fixture, state: &ChannelState, n: u8, sender: Side, amount: u64) -> ChannelState {
    apply(
        state,
        &Update::CreateLock {
            lock: lock(n, sender, amount),
        },
        &f.ctx(sender),
    )
    .expect("lock created")
}

// ---- count deposit ----

#[test]
fn count_deposit_credits_the_side_and_keeps_assets_sorted() {
    let f = Fixture::new();
    let s = f.funded();
    assert_eq!(s.nonce, 4);
    assert_eq!(
        s.assets.iter().map(|a| a.asset).collect::<Vec<_>>(),
        vec![ETH, DAI]
    );
    let dai = s.asset(DAI).expect("dai");
    assert_eq!(
        (dai.balance_user, dai.counted_user, dai.balance_node),
        (u(1000), u(1000), u(1000))
    );
    validate_state(&s, &f.params).expect("valid");
}

#[test]
fn count_deposit_refuses_an_asset_off_the_allowlist() {
    let f = Fixture::new();
    let bad = Address::repeat_byte(0x77);
    let update = Update::CountDeposit {
        asset: bad,
        side: Side::User,
        amount: u(1),
    };
    assert_eq!(
        apply(&f.initial(), &update, &f.ctx(Side::User)),
        Err(Error::AssetNotAllowed(bad))
    );
}

#[test]
fn count_deposit_refuses_zero() {
    let f = Fixture::new();
    let update = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: U256::ZERO,
    };
    assert_eq!(
        apply(&f.initial(), &update, &f.ctx(Side::User)),
        Err(Error::ZeroAmount("a counted deposit"))
    );
}

#[test]
fn amounts_above_2_pow_128_are_refused() {
    let f = Fixture::new();
    let update = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: MAX_AMOUNT + u(1),
    };
    assert!(matches!(
        apply(&f.initial(), &update, &f.ctx(Side::User)),
        Err(Error::AmountOutOfRange { value, .. }) if value == MAX_AMOUNT + u(1)
    ));
    let at_max = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: MAX_AMOUNT,
    };
    let s = apply(&f.initial(), &at_max, &f.ctx(Side::User)).expect("exactly the maximum is fine");
    let one_more = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: u(1),
    };
    assert!(matches!(
        apply(&s, &one_more, &f.ctx(Side::User)),
        Err(Error::AmountOutOfRange { .. })
    ));
}

#[test]
fn amounts_near_2_pow_256_overflow_cleanly() {
    let f = Fixture::new();
    let at_max = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: MAX_AMOUNT,
    };
    let s = apply(&f.initial(), &at_max, &f.ctx(Side::User)).expect("max");
    let huge = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: U256::MAX,
    };
    assert_eq!(
        apply(&s, &huge, &f.ctx(Side::User)),
        Err(Error::Overflow {
            asset: ETH,
            what: "a counted deposit"
        })
    );
    let lock = spoke_protocol::Lock {
        amount: U256::MAX,
        asset: ETH,
        ..lock(1, Side::User, 0)
    };
    assert!(matches!(
        apply(&s, &Update::CreateLock { lock }, &f.ctx(Side::User)),
        Err(Error::InsufficientBalance { .. })
    ));
}

#[test]
fn too_many_assets_are_refused() {
    let mut f = Fixture::new();
    f.params.allowed_assets = (1..=MAX_ASSETS as u8 + 1)
        .map(Address::repeat_byte)
        .collect();
    let mut s = f.initial();
    for asset in f.params.allowed_assets.clone().into_iter().take(MAX_ASSETS) {
        s = apply(
            &s,
            &Update::CountDeposit {
                asset,
                side: Side::User,
                amount: u(1),
            },
            &f.ctx(Side::User),
        )
        .expect("room");
    }
    let last = Address::repeat_byte(MAX_ASSETS as u8 + 1);
    let update = Update::CountDeposit {
        asset: last,
        side: Side::User,
        amount: u(1),
    };
    assert_eq!(
        apply(&s, &update, &f.ctx(Side::User)),
        Err(Error::TooManyAssets {
            count: MAX_ASSETS + 1,
            max: MAX_ASSETS
        })
    );
}

// ---- locks ----

#[test]
fn create_lock_moves_the_amount_from_balance_to_locked() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    let dai = s.asset(DAI).expect("dai");
    assert_eq!((dai.balance_user, dai.locked_user), (u(970), u(30)));
    assert_eq!(s.locks.len(), 1);
    validate_state(&s, &f.params).expect("valid");
}

#[test]
fn only_the_sender_may_create_its_lock() {
    let f = Fixture::new();
    let update = Update::CreateLock {
        lock: lock(1, Side::User, 30),
    };
    assert_eq!(
        apply(&f.funded(), &update, &f.ctx(Side::Node)),
        Err(Error::NotYourFunds {
            proposer: Side::Node,
            side: Side::User,
            what: "a lock"
        })
    );
}

#[test]
fn lock_expiry_beyond_the_maximum_lifetime_is_refused() {
    let f = Fixture::new();
    let latest = NOW + f.params.timing.max_lock_lifetime;
    let mut l = lock(1, Side::User, 30);
    l.expiry = latest + 1;
    assert_eq!(
        apply(
            &f.funded(),
            &Update::CreateLock { lock: l.clone() },
            &f.ctx(Side::User)
        ),
        Err(Error::LockExpiryTooFar {
            expiry: latest + 1,
            latest
        })
    );
    l.expiry = latest;
    apply(
        &f.funded(),
        &Update::CreateLock { lock: l },
        &f.ctx(Side::User),
    )
    .expect("at the limit");
}

#[test]
fn lock_expiry_closer_than_the_safety_margin_is_refused() {
    let f = Fixture::new();
    let earliest = NOW + f.params.timing.safety_margin;
    let mut l = lock(1, Side::User, 30);
    l.expiry = earliest - 1;
    assert_eq!(
        apply(
            &f.funded(),
            &Update::CreateLock { lock: l },
            &f.ctx(Side::User)
        ),
        Err(Error::LockExpiryTooClose {
            expiry: earliest - 1,
            earliest
        })
    );
}

#[test]
fn a_lock_id_is_used_once() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    assert_eq!(
        apply(
            &s,
            &Update::CreateLock {
                lock: lock(1, Side::User, 5)
            },
            &f.ctx(Side::User)
        ),
        Err(Error::DuplicateLock(B256::repeat_byte(1)))
    );
}

#[test]
fn a_lock_larger_than_the_balance_is_refused() {
    let f = Fixture::new();
    assert_eq!(
        apply(
            &f.funded(),
            &Update::CreateLock {
                lock: lock(1, Side::User, 1001)
            },
            &f.ctx(Side::User)
        ),
        Err(Error::InsufficientBalance {
            asset: DAI,
            side: Side::User,
            balance: u(1000),
            needed: u(1001)
        })
    );
}

#[test]
fn the_lock_count_is_capped() {
    let f = Fixture::new();
    let mut s = f.funded();
    for n in 1..=f.params.max_locks as u8 {
        s = create(&f, &s, n, Side::User, 1);
    }
    assert_eq!(
        apply(
            &s,
            &Update::CreateLock {
                lock: lock(99, Side::User, 1)
            },
            &f.ctx(Side::User)
        ),
        Err(Error::TooManyLocks {
            max: f.params.max_locks
        })
    );
}

#[test]
fn resolve_pays_the_receiver() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    let update = Update::ResolveLock {
        id: B256::repeat_byte(1),
        preimage: preimage(1),
    };
    let s = apply(&s, &update, &f.ctx(Side::Node)).expect("resolves");
    let dai = s.asset(DAI).expect("dai");
    assert_eq!(
        (dai.balance_user, dai.balance_node, dai.locked_user),
        (u(970), u(1030), U256::ZERO)
    );
    assert!(s.locks.is_empty());
    validate_state(&s, &f.params).expect("valid");
}

#[test]
fn a_wrong_preimage_is_refused() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    let update = Update::ResolveLock {
        id: B256::repeat_byte(1),
        preimage: preimage(2),
    };
    assert_eq!(
        apply(&s, &update, &f.ctx(Side::Node)),
        Err(Error::WrongPreimage {
            lock: B256::repeat_byte(1),
            hashlock: hashlock(preimage(1))
        })
    );
}

#[test]
fn resolve_after_expiry_is_refused() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    let expiry = NOW + 3600;
    let update = Update::ResolveLock {
        id: B256::repeat_byte(1),
        preimage: preimage(1),
    };
    assert!(matches!(
        apply(&s, &update, &f.ctx_at(Side::Node, expiry + 1)),
        Err(Error::ResolveTooLate { now, .. }) if now == expiry + 1
    ));
}

#[test]
fn resolve_inside_the_safety_margin_is_refused_but_just_before_it_is_fine() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    let expiry = NOW + 3600;
    let margin = f.params.timing.safety_margin;
    let update = Update::ResolveLock {
        id: B256::repeat_byte(1),
        preimage: preimage(1),
    };
    assert_eq!(
        apply(&s, &update, &f.ctx_at(Side::Node, expiry - margin + 1)),
        Err(Error::ResolveTooLate {
            lock: B256::repeat_byte(1),
            expiry,
            now: expiry - margin + 1,
            margin
        })
    );
    apply(&s, &update, &f.ctx_at(Side::Node, expiry - margin)).expect("exactly G before expiry");
}

#[test]
fn the_receiver_may_cancel_before_expiry() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    let s = apply(
        &s,
        &Update::CancelLock {
            id: B256::repeat_byte(1),
        },
        &f.ctx(Side::Node),
    )
    .expect("cancel");
    assert_eq!(s.asset(DAI).expect("dai").balance_user, u(1000));
    assert!(s.locks.is_empty());
}

#[test]
fn the_sender_may_not_cancel_early() {
    let f = Fixture::new();
    let s = create(&f, &f.funded(), 1, Side::User, 30);
    let expiry = NOW + 3600;
    let update = Update::CancelLock {
        id: B256::repeat_byte(1),
    };
    assert_eq!(
        apply(&s, &update, &f.ctx_at(Side::User, expiry - 1)),
        Err(Error::EarlyCancel {
            lock: B256::repeat_byte(1),
            expiry,
            now: expiry - 1
        })
    );
    apply(&s, &update, &f.ctx_at(Side::User, expiry)).expect("from expiry on");
}

#[test]
fn unknown_locks_are_refused() {
    let f = Fixture::new();
    let id = B256::repeat_byte(9);
    assert_eq!(
        apply(&f.funded(), &Update::CancelLock { id }, &f.ctx(Side::Node)),
        Err(Error::UnknownLock(id))
    );
    let update = Update::ResolveLock {
        id,
        preimage: preimage(9),
    };
    assert_eq!(
        apply(&f.funded(), &update, &f.ctx(Side::Node)),
        Err(Error::UnknownLock(id))
    );
}

// ---- withdrawals ----

#[test]
fn withdraw_moves_balance_into_withdrawn_and_yields_the_commitment() {
    let f = Fixture::new();
    let recipient = Address::repeat_byte(0x55);
    let update = Update::Withdraw {
        asset: DAI,
        side: Side::User,
        amount: u(40),
        recipient,
    };
    let s = apply(&f.funded(), &update, &f.ctx(Side::User)).expect("withdraw");
    let dai = s.asset(DAI).expect("dai");
    assert_eq!((dai.balance_user, dai.withdrawn_user), (u(960), u(40)));
    let c = update
        .commitment(&s)
        .expect("a withdrawal has a commitment");
    assert_eq!(
        (c.state_nonce, c.cumulative, c.recipient, c.side),
        (s.nonce, u(40), recipient, Side::User)
    );
    let again = apply(&s, &update, &f.ctx(Side::User)).expect("again");
    assert_eq!(
        update.commitment(&again).expect("commitment").cumulative,
        u(80)
    );
}

#[test]
fn nobody_withdraws_the_other_sides_funds() {
    let f = Fixture::new();
    let update = Update::Withdraw {
        asset: DAI,
        side: Side::User,
        amount: u(1),
        recipient: f.node.address(),
    };
    assert_eq!(
        apply(&f.funded(), &update, &f.ctx(Side::Node)),
        Err(Error::NotYourFunds {
            proposer: Side::Node,
            side: Side::User,
            what: "a withdrawal"
        })
    );
}

#[test]
fn withdrawing_more_than_the_balance_is_refused() {
    let f = Fixture::new();
    let update = Update::Withdraw {
        asset: ETH,
        side: Side::Node,
        amount: u(101),
        recipient: f.node.address(),
    };
    assert_eq!(
        apply(&f.funded(), &update, &f.ctx(Side::Node)),
        Err(Error::InsufficientBalance {
            asset: ETH,
            side: Side::Node,
            balance: u(100),
            needed: u(101)
        })
    );
}

#[test]
fn signed_commitments_check_both_signers_and_the_channel() {
    let f = Fixture::new();
    let update = Update::Withdraw {
        asset: DAI,
        side: Side::User,
        amount: u(40),
        recipient: f.user.address(),
    };
    let s = apply(&f.funded(), &update, &f.ctx(Side::User)).expect("withdraw");
    let commitment = update.commitment(&s).expect("commitment");
    let digest = commitment_digest(&domain(CHAIN_ID, f.params.contract), &commitment);
    let mut signed = SignedCommitment {
        commitment,
        user_signature: f.user.sign_digest(&digest).expect("sign"),
        node_signature: f.node.sign_digest(&digest).expect("sign"),
    };
    signed.check(&f.params).expect("valid");
    signed.commitment.cumulative = u(41);
    assert!(matches!(
        signed.check(&f.params),
        Err(Error::WrongSigner {
            side: Side::User,
            ..
        })
    ));
}

// ---- exchange ----

fn quote(f: &Fixture, expiry: u64) -> ExchangeQuote {
    ExchangeQuote {
        channel_id: f.params.channel_id(),
        id: B256::repeat_byte(0x42),
        sell_asset: DAI,
        sell_amount: u(200),
        buy_asset: ETH,
        buy_amount: u(10),
        expiry,
    }
}

fn signed_by(f: &Fixture, q: &ExchangeQuote, side: Side) -> Update {
    let digest = quote_digest(&domain(CHAIN_ID, f.params.contract), q);
    Update::Exchange {
        quote: q.clone(),
        node_signature: f.signer(side).sign_digest(&digest).expect("sign"),
    }
}

#[test]
fn exchange_at_a_node_quote_swaps_both_assets() {
    let f = Fixture::new();
    let q = quote(&f, NOW + 60);
    let s = apply(
        &f.funded(),
        &signed_by(&f, &q, Side::Node),
        &f.ctx(Side::User),
    )
    .expect("exchange");
    let (eth, dai) = (s.asset(ETH).expect("eth"), s.asset(DAI).expect("dai"));
    assert_eq!((dai.balance_user, dai.balance_node), (u(800), u(1200)));
    assert_eq!((eth.balance_user, eth.balance_node), (u(110), u(90)));
    validate_state(&s, &f.params).expect("valid");
}

#[test]
fn only_the_user_takes_a_quote() {
    let f = Fixture::new();
    let q = quote(&f, NOW + 60);
    assert_eq!(
        apply(
            &f.funded(),
            &signed_by(&f, &q, Side::Node),
            &f.ctx(Side::Node)
        ),
        Err(Error::NotYourFunds {
            proposer: Side::Node,
            side: Side::User,
            what: "an exchange"
        })
    );
}

#[test]
fn a_bad_value_in_an_update_is_named_by_its_field() {
    let text = r#"{"kind":"countDeposit","asset":"0x00","side":"user","amount":"0x1"}"#;
    let err = serde_json::from_str::<Update>(text).expect_err("a 1-byte asset");
    assert!(err.to_string().contains("invalid"), "{err}");
    let text = r#"{"kind":"countDeposit","asset":"0x0000000000000000000000000000000000000000","side":"both","amount":"0x1"}"#;
    let err = serde_json::from_str::<Update>(text).expect_err("a bad side");
    assert!(err.to_string().contains("both"), "{err}");
    let text = r#"{"kind":"cancelLock","id":"0x0000000000000000000000000000000000000000000000000000000000000001","amount":"0x1"}"#;
    let err = serde_json::from_str::<Update>(text).expect_err("a field of another kind");
    assert!(
        err.to_string()
            .contains("unknown field `amount` in a cancelLock update"),
        "{err}"
    );
    let text = r#"{"kind":"withdraw","asset":"0x0000000000000000000000000000000000000000","side":"user","amount":"0x1"}"#;
    let err = serde_json::from_str::<Update>(text).expect_err("no recipient");
    assert!(
        err.to_string().contains("missing field `recipient`"),
        "{err}"
    );
}

#[test]
fn an_expired_quote_is_refused() {
    let f = Fixture::new();
    let q = quote(&f, NOW);
    assert_eq!(
        apply(
            &f.funded(),
            &signed_by(&f, &q, Side::Node),
            &f.ctx(Side::User)
        ),
        Err(Error::QuoteExpired {
            expiry: NOW,
            now: NOW
        })
    );
}

#[test]
fn a_forged_quote_is_refused() {
    let f = Fixture::new();
    let q = quote(&f, NOW + 60);
    assert_eq!(
        apply(
            &f.funded(),
            &signed_by(&f, &q, Side::User),
            &f.ctx(Side::User)
        ),
        Err(Error::WrongSigner {
            side: Side::Node,
            expected: f.node.address(),
            recovered: f.user.address()
        })
    );
    let mut tampered = signed_by(&f, &q, Side::Node);
    if let Update::Exchange { quote, .. } = &mut tampered {
        quote.buy_amount = u(11);
    }
    assert!(matches!(
        apply(&f.funded(), &tampered, &f.ctx(Side::User)),
        Err(Error::WrongSigner {
            side: Side::Node,
            ..
        })
    ));
}

#[test]
fn a_quote_for_another_channel_is_refused() {
    let f = Fixture::new();
    let mut q = quote(&f, NOW + 60);
    q.channel_id = B256::repeat_byte(7);
    assert_eq!(
        apply(
            &f.funded(),
            &signed_by(&f, &q, Side::Node),
            &f.ctx(Side::User)
        ),
        Err(Error::WrongChannel {
            expected: f.params.channel_id(),
            got: B256::repeat_byte(7)
        })
    );
}

#[test]
fn a_quote_larger_than_the_node_balance_is_refused() {
    let f = Fixture::new();
    let mut q = quote(&f, NOW + 60);
    q.buy_amount = u(101);
    assert_eq!(
        apply(
            &f.funded(),
            &signed_by(&f, &q, Side::Node),
            &f.ctx(Side::User)
        ),
        Err(Error::InsufficientBalance {
            asset: ETH,
            side: Side::Node,
            balance: u(100),
            needed: u(101)
        })
    );
}

#[test]
fn a_quote_must_trade_two_assets() {
    let f = Fixture::new();
    let mut q = quote(&f, NOW + 60);
    q.buy_asset = DAI;
    assert_eq!(
        apply(
            &f.funded(),
            &signed_by(&f, &q, Side::Node),
            &f.ctx(Side::User)
        ),
        Err(Error::QuoteSameAsset(DAI))
    );
}

// ---- channel binding and proposals ----

#[test]
fn a_state_of_another_epoch_is_refused() {
    let f = Fixture::new();
    let mut next_epoch = f.params.clone();
    next_epoch.epoch = 1;
    let ctx = spoke_protocol::Context {
        now: NOW,
        proposer: Side::User,
        params: &next_epoch,
        proposer_key: None,
    };
    let update = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: u(1),
    };
    assert_eq!(
        apply(&f.initial(), &update, &ctx),
        Err(Error::WrongChannel {
            expected: next_epoch.channel_id(),
            got: f.params.channel_id()
        })
    );
}

#[test]
fn proposals_are_accepted_at_exactly_the_next_nonce() {
    let f = Fixture::new();
    let s = f.funded();
    let update = Update::CreateLock {
        lock: lock(1, Side::User, 30),
    };
    let (mine, proposal) = propose(&s, update, &f.ctx(Side::User), &f.user).expect("propose");
    let accepted = accept_proposal(&s, &proposal, &f.ctx(Side::User)).expect("accept");
    assert_eq!(accepted.state, mine);
    assert_eq!(
        accepted.digest,
        spoke_protocol::state_digest(&f.params.domain(), &mine)
    );
}

#[test]
fn a_stale_nonce_is_refused() {
    let f = Fixture::new();
    let s = f.funded();
    let update = Update::CreateLock {
        lock: lock(1, Side::User, 30),
    };
    let (next, proposal) = propose(&s, update, &f.ctx(Side::User), &f.user).expect("propose");
    assert_eq!(
        accept_proposal(&next, &proposal, &f.ctx(Side::User)),
        Err(Error::StaleNonce {
            current: next.nonce,
            got: proposal.nonce
        })
    );
}

#[test]
fn a_skipped_nonce_is_refused() {
    let f = Fixture::new();
    let s = f.funded();
    let update = Update::CreateLock {
        lock: lock(1, Side::User, 30),
    };
    let (_, mut proposal) = propose(&s, update, &f.ctx(Side::User), &f.user).expect("propose");
    proposal.nonce += 1;
    assert_eq!(
        accept_proposal(&s, &proposal, &f.ctx(Side::User)),
        Err(Error::NonceGap {
            expected: s.nonce + 1,
            got: s.nonce + 2
        })
    );
}

#[test]
fn a_proposal_signed_by_the_wrong_key_is_refused() {
    let f = Fixture::new();
    let s = f.funded();
    let update = Update::CreateLock {
        lock: lock(1, Side::User, 30),
    };
    let (_, proposal) = propose(&s, update, &f.ctx(Side::User), &f.user).expect("propose");
    assert_eq!(
        accept_proposal(&s, &proposal, &f.ctx(Side::Node)),
        Err(Error::NotYourFunds {
            proposer: Side::Node,
            side: Side::User,
            what: "a lock"
        })
    );
    let stranger = spoke_protocol::Signer::from_bytes(&B256::repeat_byte(0x33)).expect("key");
    let update = Update::CreateLock {
        lock: lock(1, Side::User, 30),
    };
    assert!(matches!(
        propose(&s, update.clone(), &f.ctx(Side::User), &stranger),
        Err(Error::WrongSigner { .. })
    ));
    let (_, honest) = propose(&s, update, &f.ctx(Side::User), &f.user).expect("propose");
    let forged = spoke_protocol::Proposal {
        signature: stranger_sig(&stranger, &f, &s),
        ..honest
    };
    assert!(matches!(
        accept_proposal(&s, &forged, &f.ctx(Side::User)),
        Err(Error::WrongSigner { side: Side::User, recovered, .. }) if recovered == stranger.address()
    ));
}

fn stranger_sig(
    stranger: &spoke_protocol::Signer,
    f: &Fixture,
    s: &ChannelState,
) -> spoke_protocol::Signature {
    let next = apply(
        s,
        &Update::CreateLock {
            lock: lock(1, Side::User, 30),
        },
        &f.ctx(Side::User),
    )
    .expect("next");
    let digest = spoke_protocol::state_digest(&domain(CHAIN_ID, f.params.contract), &next);
    stranger.sign_digest(&digest).expect("sign")
}

#[test]
fn a_proposal_whose_signature_covers_another_update_is_refused() {
    let f = Fixture::new();
    let s = f.funded();
    let (_, mut proposal) = propose(
        &s,
        Update::CreateLock {
            lock: lock(1, Side::User, 30),
        },
        &f.ctx(Side::User),
        &f.user,
    )
    .expect("propose");
    proposal.update = Update::CreateLock {
        lock: lock(1, Side::User, 31),
    };
    assert!(matches!(
        accept_proposal(&s, &proposal, &f.ctx(Side::User)),
        Err(Error::WrongSigner {
            side: Side::User,
            ..
        })
    ));
}

// ---- whole signed states ----

#[test]
fn a_double_signed_state_checks_out() {
    let f = Fixture::new();
    let signed = f.sign_state(&create(&f, &f.funded(), 1, Side::User, 30));
    check_signed_state(&signed, &f.params).expect("valid");
}

#[test]
fn swapped_signatures_are_refused() {
    let f = Fixture::new();
    let mut signed = f.sign_state(&f.funded());
    std::mem::swap(&mut signed.user_signature, &mut signed.node_signature);
    assert_eq!(
        check_signed_state(&signed, &f.params),
        Err(Error::WrongSigner {
            side: Side::User,
            expected: f.user.address(),
            recovered: f.node.address()
        })
    );
}

fn other_domain(f: &Fixture, change: impl FnOnce(&mut ChannelParams)) -> Result<B256, Error> {
    let mut params = f.params.clone();
    change(&mut params);
    // Same channel id field, so only the domain differs: what a replay on another chain or contract looks like.
    let mut state = f.funded();
    state.channel_id = params.channel_id();
    let mut signed = f.sign_state(&state);
    signed.state.channel_id = params.channel_id();
    check_signed_state(&signed, &params)
}

#[test]
fn a_state_signed_for_another_chain_is_refused() {
    let f = Fixture::new();
    assert!(matches!(
        other_domain(&f, |p| p.chain_id = 1),
        Err(Error::WrongSigner { .. })
    ));
}

#[test]
fn a_state_signed_for_another_contract_is_refused() {
    let f = Fixture::new();
    assert!(matches!(
        other_domain(&f, |p| p.contract = Address::repeat_byte(0xdd)),
        Err(Error::WrongSigner { .. })
    ));
}

#[test]
fn a_state_signed_for_an_earlier_epoch_is_refused() {
    let f = Fixture::new();
    let signed = f.sign_state(&f.funded());
    let mut later = f.params.clone();
    later.epoch = 1;
    assert_eq!(
        check_signed_state(&signed, &later),
        Err(Error::WrongChannel {
            expected: later.channel_id(),
            got: f.params.channel_id()
        })
    );
}

#[test]
fn value_that_is_not_conserved_is_refused() {
    let f = Fixture::new();
    let mut s = f.funded();
    s.assets[1].balance_user += u(1);
    assert_eq!(
        validate_state(&s, &f.params),
        Err(Error::NotConserved {
            asset: DAI,
            counted: u(2000),
            accounted: u(2001)
        })
    );
}

#[test]
fn duplicate_or_unsorted_assets_are_refused() {
    let f = Fixture::new();
    let mut s = f.funded();
    s.assets.swap(0, 1);
    assert_eq!(
        validate_state(&s, &f.params),
        Err(Error::AssetsNotSorted {
            prev: DAI,
            next: ETH
        })
    );
    let mut s = f.funded();
    s.assets[0] = s.assets[1].clone();
    assert_eq!(
        validate_state(&s, &f.params),
        Err(Error::AssetsNotSorted {
            prev: DAI,
            next: DAI
        })
    );
}

#[test]
fn locked_amounts_must_match_the_locks() {
    let f = Fixture::new();
    let mut s = create(&f, &f.funded(), 1, Side::User, 30);
    s.locks[0].amount = u(29);
    assert_eq!(
        validate_state(&s, &f.params),
        Err(Error::LockedMismatch {
            asset: DAI,
            side: Side::User,
            locked: u(30),
            sum: u(29)
        })
    );
}

#[test]
fn states_round_trip_through_json_and_unknown_fields_are_refused() {
    let f = Fixture::new();
    let signed = f.sign_state(&create(&f, &f.funded(), 1, Side::User, 30));
    let json = serde_json::to_string(&signed).expect("serialize");
    let back: spoke_protocol::SignedState = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, signed);
    let mut value: serde_json::Value = serde_json::from_str(&json).expect("value");
    value["state"]["extra"] = serde_json::json!(1);
    assert!(serde_json::from_value::<spoke_protocol::SignedState>(value).is_err());
}

#[test]
fn the_nonce_cannot_wrap() {
    let f = Fixture::new();
    let mut s = f.funded();
    s.nonce = u64::MAX;
    let update = Update::CountDeposit {
        asset: ETH,
        side: Side::User,
        amount: u(1),
    };
    assert_eq!(
        apply(&s, &update, &f.ctx(Side::User)),
        Err(Error::NonceExhausted)
    );
}

#[test]
fn a_failed_update_leaves_the_state_untouched() {
    let f = Fixture::new();
    let s = f.funded();
    let before = s.clone();
    let _ = apply(
        &s,
        &Update::CreateLock {
            lock: lock(1, Side::User, 5000),
        },
        &f.ctx(Side::User),
    );
    assert_eq!(s, before);
}

#[test]
fn the_wire_form_is_camel_case_with_hex_amounts_and_65_byte_signatures() {
    let f = Fixture::new();
    let update = Update::CreateLock {
        lock: lock(1, Side::User, 30),
    };
    let (_, proposal) = propose(&f.funded(), update, &f.ctx(Side::User), &f.user).expect("propose");
    let json = serde_json::to_value(&proposal).expect("serialize");
    assert_eq!(json["update"]["kind"], "createLock");
    assert_eq!(json["update"]["lock"]["amount"], "0x1e");
    assert_eq!(json["update"]["lock"]["sender"], "user");
    let sig = json["signature"].as_str().expect("a string");
    assert!(sig.starts_with("0x") && sig.len() == 132, "{sig}");
    let mut bad = json.clone();
    bad["signature"] = serde_json::json!(format!("{}00", &sig[..130]));
    let err =
        serde_json::from_value::<spoke_protocol::Proposal>(bad).expect_err("v = 0 is refused");
    assert!(err.to_string().contains("v is 27 or 28"), "{err}");
}
