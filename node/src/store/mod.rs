//! The node's durable record. One trait, [`Store`]; one implementation, [`SqlStore`], over SQLite or PostgreSQL.
//!
//! "Persist, then send" lives here: the node stores a state (with its own signature) before that signature is
//! sent, and stores the peer's signature before it acts on it. The store keeps every update of a channel at
//! consecutive nonces, answers a retried write with what it already holds, and refuses different content at a
//! stored nonce, so a retry can never sign twice and a crash can never lose a signed state.

pub mod disputes;
pub(crate) mod sql;
pub mod watched;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use spoke_protocol::{
    Address, ChannelState, EncryptedPreimage, PublicKey, Side, Signature, Update, B256, U256,
};

pub use disputes::{DisputeAction, DisputeTx, DisputeTxStatus, PendingDisputeTx};
pub use sql::SqlStore;
pub use watched::{Registered, WatchStatus, WatchedState, WatchtowerStore};

fn first(mut written: Vec<Written>) -> Result<Written> {
    written.pop().ok_or(crate::Error::Corrupt {
        what: "a write",
        reason: "the store answered nothing".into(),
    })
}

use crate::Result;

/// A channel the node has set up: one user at one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelRecord {
    pub channel_id: B256,
    pub user: Address,
    pub epoch: u64,
}

/// One state of a channel, the update that produced it, and the signatures collected on it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpdate {
    pub channel_id: B256,
    pub nonce: u64,
    /// `None` only for the opening state at nonce 0.
    pub update: Option<Update>,
    pub state: ChannelState,
    pub user_signature: Option<Signature>,
    pub node_signature: Option<Signature>,
    /// For a withdrawal: both signatures on its commitment (`Update::commitment` of this state).
    pub commitment_signatures: Option<CommitmentSignatures>,
}

/// The two signatures on a withdrawal commitment; the node releases its own only with the state that deducts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitmentSignatures {
    pub user: Signature,
    pub node: Signature,
}

impl StoredUpdate {
    /// Whether both parties have signed: a state either may take to the contract.
    pub fn is_double_signed(&self) -> bool {
        self.user_signature.is_some() && self.node_signature.is_some()
    }

    /// Whether this is a node proposal the user has not countersigned (the opening state waits for no one).
    pub fn awaits_user(&self) -> bool {
        self.nonce > 0 && self.user_signature.is_none()
    }

    /// The signature of `side`, if stored.
    pub fn signature(&self, side: Side) -> Option<&Signature> {
        match side {
            Side::User => self.user_signature.as_ref(),
            Side::Node => self.node_signature.as_ref(),
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The write is new and durable.
    Stored,
    /// The same content was already stored; nothing changed.
    AlreadyStored,
}

pub use spoke_protocol::wire::PaymentStatus;

/// A payment routed through the node: two locks under one hashlock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// `keccak256(payer channel id ‖ payer lock id)`; also the id of the node's lock to the payee.
    pub id: B256,
    pub payer: Address,
    /// `None` for a link payment until it is redeemed.
    pub payee: Option<Address>,
    /// For a link payment: the address of the link key that may redeem it.
    pub link_address: Option<Address>,
    pub asset: Address,
    pub amount: U256,
    pub hashlock: B256,
    pub payer_channel: B256,
    pub payer_lock_id: B256,
    pub payer_expiry: u64,
    pub payee_channel: Option<B256>,
    pub payee_expiry: u64,
    pub encrypted_preimage: Option<EncryptedPreimage>,
    #[serde(skip)]
    pub preimage: Option<B256>,
    /// The node revealed the preimage in the contract's secret registry.
    pub revealed: bool,
    pub status: PaymentStatus,
    pub created_at: u64,
    pub updated_at: u64,
}

impl Payment {
    /// What the payer and the payee are told of the payment.
    pub fn record(&self) -> spoke_protocol::wire::PaymentRecord {
        spoke_protocol::wire::PaymentRecord {
            id: self.id,
            payer: self.payer,
            payee: self.payee,
            asset: self.asset,
            amount: self.amount,
            hashlock: self.hashlock,
            status: self.status,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The id of the payment whose payer lock is `lock_id` in `payer_channel`.
    pub fn id_for(payer_channel: B256, lock_id: B256) -> B256 {
        spoke_protocol::payment_id(payer_channel, lock_id)
    }
}

/// The node's collateral deposit into one channel and asset, while it is in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollateralDeposit {
    pub channel_id: B256,
    pub asset: Address,
    pub amount: U256,
    pub tx_hash: Option<B256>,
    pub status: CollateralStatus,
    pub created_at: u64,
}

/// Where a collateral deposit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollateralStatus {
    /// Recorded; the transaction is being sent.
    Sending,
    /// The chain's RPC accepted the transaction.
    Sent,
    /// Confirmed deep enough: the node may count it in the channel.
    Confirmed,
}

impl CollateralStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CollateralStatus::Sending => "sending",
            CollateralStatus::Sent => "sent",
            CollateralStatus::Confirmed => "confirmed",
        }
    }

    pub fn parse(text: &str) -> Option<CollateralStatus> {
        Some(match text {
            "sending" => CollateralStatus::Sending,
            "sent" => CollateralStatus::Sent,
            "confirmed" => CollateralStatus::Confirmed,
            _ => return None,
        })
    }
}

/// What [`Store::write`] has committed since the store was opened: batches (a user's update with everything it sets
/// in motion is one) and the database transactions that made them durable (a group commit takes several batches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub batches: u64,
    pub transactions: u64,
}

/// One write of a [`Store::write`] batch.
#[derive(Debug, Clone, Copy)]
pub enum Write<'a> {
    /// [`Store::append`].
    Append(&'a StoredUpdate),
    /// [`Store::add_signature`].
    Signature {
        channel_id: B256,
        nonce: u64,
        side: Side,
        signature: &'a Signature,
    },
    /// Inserts the payment or replaces the stored row with this one.
    Payment(&'a Payment),
    /// Ends a collateral deposit: it is counted in the channel (or it failed).
    CollateralDone { channel_id: B256, asset: Address },
    /// Marks a quote taken; the batch fails if it was taken already.
    QuoteUsed(B256),
    /// Stores both signatures on the commitment of the withdrawal at `nonce`, when none are stored yet.
    Commitment {
        channel_id: B256,
        nonce: u64,
        signatures: CommitmentSignatures,
    },
}

/// The node's storage. Every method is one transaction: it completes durably or changes nothing.
#[async_trait]
pub trait Store: Send + Sync {
    /// How many batches and transactions [`Store::write`] has committed, for the metrics.
    fn write_counts(&self) -> WriteCounts;

    /// Records a channel with its opening state at nonce 0. Repeating the same call is answered with
    /// [`Written::AlreadyStored`].
    async fn open_channel(
        &self,
        channel: &ChannelRecord,
        initial: &ChannelState,
    ) -> Result<Written>;

    /// The channel with this id.
    async fn channel(&self, channel_id: B256) -> Result<Option<ChannelRecord>>;

    /// The user's channel of the highest epoch.
    async fn channel_of_user(&self, user: Address) -> Result<Option<ChannelRecord>>;

    /// Performs `writes` in order in one transaction: all of them, durably, or none. One result per write; a
    /// payment write always answers [`Written::Stored`]. Batching many writes shares one commit (one fsync).
    async fn write(&self, writes: &[Write<'_>]) -> Result<Vec<Written>>;

    /// Stores the next update of a channel, at exactly the stored nonce + 1.
    async fn append(&self, update: &StoredUpdate) -> Result<Written> {
        first(self.write(&[Write::Append(update)]).await?)
    }

    /// Adds `side`'s signature to the state stored at `nonce`.
    async fn add_signature(
        &self,
        channel_id: B256,
        nonce: u64,
        side: Side,
        signature: &Signature,
    ) -> Result<Written> {
        first(
            self.write(&[Write::Signature {
                channel_id,
                nonce,
                side,
                signature,
            }])
            .await?,
        )
    }

    /// Removes the latest update of a channel if it still lacks the user's signature: the node withdraws a
    /// proposal the user never countersigned, once that state can no longer hurt the node.
    async fn discard_unsigned(&self, channel_id: B256, nonce: u64) -> Result<bool>;

    /// The payment with this id.
    async fn payment(&self, id: B256) -> Result<Option<Payment>>;

    /// Payments that wait for the node to act in `channel_id`: to lock to the payee, or to resolve or cancel the
    /// payer's lock. Oldest first, at most `limit`.
    async fn payments_to_drive(&self, channel_id: B256, limit: u32) -> Result<Vec<Payment>>;

    /// Payments with `status`, least recently changed first, at most `limit`.
    async fn payments_with_status(&self, status: PaymentStatus, limit: u32)
        -> Result<Vec<Payment>>;

    /// How many payments are in each status; a status with none is left out. Counted by the database, for
    /// `/metrics` and the admin summary, which a monitor asks for every few seconds.
    async fn payment_counts(&self) -> Result<Vec<(PaymentStatus, u64)>>;

    /// Payments `user` sent or received, newest first, at most `limit`.
    async fn payments_of(&self, user: Address, limit: u32) -> Result<Vec<Payment>>;

    /// The newest payments through the node, at most `limit`.
    async fn recent_payments(&self, limit: u32) -> Result<Vec<Payment>>;

    /// Every channel the node has set up (the newest epoch of each user), at most `limit`, from `offset`.
    async fn channels(&self, offset: u32, limit: u32) -> Result<Vec<ChannelRecord>>;

    /// How many channels [`Store::channels`] lists: the users with a channel. Counted by the database.
    async fn channel_count(&self) -> Result<u64>;

    /// Records a new collateral deposit in flight; false, changing nothing, if one is already in flight for the
    /// same channel and asset.
    async fn begin_collateral(&self, deposit: &CollateralDeposit) -> Result<bool>;

    /// Moves a collateral deposit on: its transaction hash once sent, its status.
    async fn update_collateral(
        &self,
        channel_id: B256,
        asset: Address,
        tx_hash: Option<B256>,
        status: CollateralStatus,
    ) -> Result<()>;

    /// Collateral deposits in flight: for one channel, or all of them.
    async fn collateral(&self, channel_id: Option<B256>) -> Result<Vec<CollateralDeposit>>;

    /// Records a quote the node signed.
    async fn insert_quote(&self, quote: &spoke_protocol::ExchangeQuote) -> Result<()>;

    /// A quote the node signed, and whether it was taken.
    async fn quote(&self, id: B256) -> Result<Option<(spoke_protocol::ExchangeQuote, bool)>>;

    /// Payments under `hashlock` (a preimage seen on chain settles all of them).
    async fn payments_by_hashlock(&self, hashlock: B256) -> Result<Vec<Payment>>;

    /// Freezes a channel: a dispute was seen. Idempotent.
    async fn freeze(&self, channel_id: B256) -> Result<()>;

    /// Whether a channel is frozen.
    async fn is_frozen(&self, channel_id: B256) -> Result<bool>;

    /// The block the chain watcher has read up to under `name`.
    async fn cursor(&self, name: &str) -> Result<Option<u64>>;

    /// Moves the chain watcher's cursor.
    async fn set_cursor(&self, name: &str, block: u64) -> Result<()>;

    /// Records the public key `user` signs with; it must be `user`'s. The same key again changes nothing.
    async fn set_user_key(&self, user: Address, key: &PublicKey) -> Result<()>;

    /// The public key `user` signs with, if the node has seen one: what payers encrypt preimages to, and what the
    /// node checks the user's signatures against.
    async fn user_key(&self, user: Address) -> Result<Option<PublicKey>>;

    /// The update stored at `nonce`.
    async fn update_at(&self, channel_id: B256, nonce: u64) -> Result<Option<StoredUpdate>>;

    /// The update with the highest nonce, signed by both or not.
    async fn latest(&self, channel_id: B256) -> Result<Option<StoredUpdate>>;

    /// The newest state both parties signed.
    async fn latest_double_signed(&self, channel_id: B256) -> Result<Option<StoredUpdate>>;

    /// Records a transaction sent in a dispute of one of the node's channels, or its new status (by hash).
    async fn record_dispute_tx(&self, tx: &DisputeTx) -> Result<()>;

    /// The transactions sent in a channel's dispute, oldest first.
    async fn dispute_txs(&self, channel_id: B256) -> Result<Vec<DisputeTx>>;

    /// Channels frozen by a dispute that the node has not finished following to its payouts.
    async fn channels_in_dispute(&self) -> Result<Vec<ChannelRecord>>;

    /// Marks a channel's dispute finished: nothing more to settle or claim for the node.
    async fn finish_dispute(&self, channel_id: B256) -> Result<()>;

    /// Records a dispute transaction seen in the mempool, which freezes its channel (the caller then calls
    /// [`Store::freeze`]). The same transaction again changes nothing.
    async fn record_pending_dispute(&self, tx: &PendingDisputeTx) -> Result<()>;

    /// Every dispute transaction recorded from the mempool that is not settled either way yet.
    async fn pending_disputes(&self) -> Result<Vec<PendingDisputeTx>>;

    /// A dispute of the channel is on chain: its freeze is final, and what the mempool showed is forgotten.
    async fn confirm_freeze(&self, channel_id: B256) -> Result<()>;

    /// Forgets the channel's pending dispute transactions in `gone` (they left the mempool unmined) and, if that
    /// leaves none, lifts its freeze; true when it did. A channel whose freeze was confirmed meanwhile has no such
    /// rows, so it stays frozen.
    async fn release_freeze(&self, channel_id: B256, gone: &[B256]) -> Result<bool>;

    /// Records a login nonce the node handed out, valid until `expires_at`.
    async fn issue_login_nonce(&self, nonce: &str, expires_at: u64) -> Result<()>;

    /// Uses a login nonce: true exactly once, while it has not expired at `now`.
    async fn use_login_nonce(&self, nonce: &str, now: u64) -> Result<bool>;

    /// Records a session for `user`, known by the SHA-256 of its token.
    async fn create_session(&self, token_hash: B256, user: Address, expires_at: u64) -> Result<()>;

    /// The user of a session that has not expired at `now`.
    async fn session_user(&self, token_hash: B256, now: u64) -> Result<Option<Address>>;

    /// Deletes the login nonces and sessions that have expired at `now`, used or not: none of them can be used
    /// again, and every challenge (asked for by anyone) and every login leaves a row. Returns how many went.
    async fn prune_logins(&self, now: u64) -> Result<u64>;
}
