//! The node's durable record. One trait, [`Store`]; one implementation, [`SqlStore`], over SQLite or PostgreSQL.
//!
//! "Persist, then send" lives here: the node stores a state (with its own signature) before that signature is
//! sent, and stores the peer's signature before it acts on it. The store keeps every update of a channel at
//! consecutive nonces, answers a retried write with what it already holds, and refuses different content at a
//! stored nonce, so a retry can never sign twice and a crash can never lose a signed state.

mod sql;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use spoke_protocol::{Address, ChannelState, Side, Signature, Update, B256};

pub use sql::SqlStore;

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

/// The node's storage. Every method is one transaction: it completes durably or changes nothing.
#[async_trait]
pub trait Store: Send + Sync {
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

    /// Stores the next update of a channel, at exactly the stored nonce + 1.
    async fn append(&self, update: &StoredUpdate) -> Result<Written>;

    /// Adds `side`'s signature to the state stored at `nonce`.
    async fn add_signature(
        &self,
        channel_id: B256,
        nonce: u64,
        side: Side,
        signature: &Signature,
    ) -> Result<Written>;

    /// The update stored at `nonce`.
    async fn update_at(&self, channel_id: B256, nonce: u64) -> Result<Option<StoredUpdate>>;

    /// The update with the highest nonce, signed by both or not.
    async fn latest(&self, channel_id: B256) -> Result<Option<StoredUpdate>>;

    /// The newest state both parties signed.
    async fn latest_double_signed(&self, channel_id: B256) -> Result<Option<StoredUpdate>>;

    /// Records a login nonce the node handed out, valid until `expires_at`.
    async fn issue_login_nonce(&self, nonce: &str, expires_at: u64) -> Result<()>;

    /// Uses a login nonce: true exactly once, while it has not expired at `now`.
    async fn use_login_nonce(&self, nonce: &str, now: u64) -> Result<bool>;

    /// Records a session for `user`, known by the SHA-256 of its token.
    async fn create_session(&self, token_hash: B256, user: Address, expires_at: u64) -> Result<()>;

    /// The user of a session that has not expired at `now`.
    async fn session_user(&self, token_hash: B256, now: u64) -> Result<Option<Address>>;
}
