use alloy_primitives::{Address, B256, U256};

use crate::types::Side;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Every reason the protocol refuses a state, an update or a signature. Messages name the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the {side} signature was made by {recovered}, not by the {side} {expected}")]
    WrongSigner {
        side: Side,
        expected: Address,
        recovered: Address,
    },
    #[error("malformed signature: {0}")]
    MalformedSignature(&'static str),
    #[error("{text:?} is not an address: {why}")]
    BadAddress { text: String, why: &'static str },
    #[error("nonce {got} is stale: the channel is already at nonce {current}")]
    StaleNonce { current: u64, got: u64 },
    #[error("nonce {got} skips ahead: the next nonce is {expected}")]
    NonceGap { expected: u64, got: u64 },
    #[error("the nonce cannot go past {}", u64::MAX)]
    NonceExhausted,
    #[error(
        "asset {asset}: value not conserved: counted {counted} but balances, locks and withdrawals add up to {accounted}"
    )]
    NotConserved {
        asset: Address,
        counted: U256,
        accounted: U256,
    },
    #[error("{what} of asset {asset} would be {value}, above the maximum amount {max}", max = crate::MAX_AMOUNT)]
    AmountOutOfRange {
        asset: Address,
        what: &'static str,
        value: U256,
    },
    #[error("{what} of asset {asset} would overflow 256 bits")]
    Overflow { asset: Address, what: &'static str },
    #[error("channel id {got} is not this channel's {expected}: wrong chain, contract, parties or epoch")]
    WrongChannel { expected: B256, got: B256 },
    #[error("assets must be strictly ascending by address: {prev} is followed by {next}")]
    AssetsNotSorted { prev: Address, next: Address },
    #[error("{count} assets in one channel; the maximum is {max}")]
    TooManyAssets { count: usize, max: usize },
    #[error("asset {0} is not on this deployment's allowlist")]
    AssetNotAllowed(Address),
    #[error("asset {0} is not in the channel")]
    UnknownAsset(Address),
    #[error("{0} must be greater than zero")]
    ZeroAmount(&'static str),
    #[error("the {side} has {balance} of asset {asset}, fewer than the {needed} required")]
    InsufficientBalance {
        asset: Address,
        side: Side,
        balance: U256,
        needed: U256,
    },
    #[error("the {proposer} may not propose {what} for the {side}")]
    NotYourFunds {
        proposer: Side,
        side: Side,
        what: &'static str,
    },
    #[error("lock expiry {expiry} is after the latest allowed {latest} (maximum lock lifetime)")]
    LockExpiryTooFar { expiry: u64, latest: u64 },
    #[error("lock expiry {expiry} is before the earliest allowed {earliest} (safety margin)")]
    LockExpiryTooClose { expiry: u64, earliest: u64 },
    #[error("lock {0} already exists")]
    DuplicateLock(B256),
    #[error("lock {0} is not in the channel")]
    UnknownLock(B256),
    #[error("the channel already holds {max} locks, the maximum")]
    TooManyLocks { max: usize },
    #[error("the preimage does not hash to lock {lock}'s hashlock {hashlock}")]
    WrongPreimage { lock: B256, hashlock: B256 },
    #[error("lock {lock} expires at {expiry}: too late to resolve at {now} with a safety margin of {margin} s")]
    ResolveTooLate {
        lock: B256,
        expiry: u64,
        now: u64,
        margin: u64,
    },
    #[error(
        "lock {lock} may be cancelled by its sender only from its expiry {expiry} on (now {now})"
    )]
    EarlyCancel { lock: B256, expiry: u64, now: u64 },
    #[error(
        "the {side}'s locked amount of asset {asset} is {locked}, but its locks add up to {sum}"
    )]
    LockedMismatch {
        asset: Address,
        side: Side,
        locked: U256,
        sum: U256,
    },
    #[error("locks must be strictly ascending by id: {prev} is followed by {next}")]
    LocksNotSorted { prev: B256, next: B256 },
    #[error("the quote expired at {expiry} (now {now})")]
    QuoteExpired { expiry: u64, now: u64 },
    #[error("the quote sells and buys the same asset {0}")]
    QuoteSameAsset(Address),
    #[error("the proposed state {got} differs from the state {expected} the update produces")]
    StateMismatch { expected: B256, got: B256 },
    #[error("invalid channel parameters: {0}")]
    InvalidParams(&'static str),
    #[error("the two legs of a payment do not match: {0}")]
    RouteMismatch(&'static str),
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    #[error("the preimage does not hash to the hashlock {hashlock}")]
    PreimageMismatch { hashlock: B256 },
    #[error("malformed login message: {0}")]
    LoginMalformed(String),
    #[error("the login is for {got}, not for {expected}")]
    LoginWrongDomain { expected: String, got: String },
    #[error("the login is for chain {got}, not chain {expected}")]
    LoginWrongChain { expected: u64, got: u64 },
    #[error("the login expired at {expires_at} (now {now})")]
    LoginExpired { expires_at: u64, now: u64 },
    #[error("the login names {expected} but was signed by or for {got}")]
    LoginWrongAddress { expected: Address, got: Address },
    #[error("the encrypted preimage does not open with this key for this lock")]
    DecryptionFailed,
}
