//! What `spoke-node watchtower` keeps: per channel it watches for someone else, the newest double-signed state it
//! was given and where that channel's dispute stands. Whether the channel needs an answer, and its status, are
//! computed from these fields, never stored beside them.

use async_trait::async_trait;
use serde::Serialize;
use spoke_protocol::{ChannelParams, SignedState, B256};

use super::Store;
use crate::Result;

/// A channel the watchtower watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedState {
    pub params: ChannelParams,
    /// The newest double-signed state it was given; checked against `params` before it was stored.
    pub signed: SignedState,
    /// The nonce the channel's dispute holds on chain, once a dispute was seen.
    pub disputed_nonce: Option<u64>,
    /// The watchtower's last answer, once the chain's RPC accepted it, and the nonce it carried.
    pub answer: Option<(B256, u64)>,
    /// The dispute was concluded: nothing is left to answer.
    pub concluded: bool,
    /// The chain's record of the channel has not been read since the state was registered.
    pub needs_check: bool,
}

impl WatchedState {
    pub fn channel_id(&self) -> B256 {
        self.signed.state.channel_id
    }

    pub fn nonce(&self) -> u64 {
        self.signed.state.nonce
    }

    /// A dispute holds an older state than the one watched, and the channel is not concluded.
    pub fn is_stale_dispute(&self) -> bool {
        !self.concluded && self.disputed_nonce.is_some_and(|d| d < self.nonce())
    }

    /// The answer sent with the watched state, if there is one.
    pub fn answer_in_flight(&self) -> Option<B256> {
        self.answer
            .and_then(|(tx, nonce)| (nonce >= self.nonce()).then_some(tx))
    }

    pub fn status(&self) -> WatchStatus {
        if self.concluded {
            WatchStatus::Concluded
        } else if self.answer_in_flight().is_some() {
            WatchStatus::Answered
        } else {
            WatchStatus::Watching
        }
    }
}

/// Where a watched channel stands, as `GET /watchtower/states` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum WatchStatus {
    /// Waiting for a dispute, or for a stale one to be answered.
    Watching,
    /// The watchtower answered a stale dispute with the watched state.
    Answered,
    /// The channel's dispute is concluded.
    Concluded,
}

/// What registering a state did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Registered {
    /// The channel was not watched before.
    Added,
    /// The state replaced an older one of the same channel.
    Replaced,
    /// The same state was already watched; nothing changed.
    Unchanged,
}

/// The watchtower's storage, beside the node's (the block cursor is [`Store::cursor`]). Every method is one
/// statement or one transaction.
#[async_trait]
pub trait WatchtowerStore: Store {
    /// Watches `signed`, already checked against `params`. A channel already watched takes it only at a higher
    /// nonce ([`crate::Error::StaleState`] otherwise, and [`crate::Error::ConflictingState`] for a different state
    /// at the same nonce); the same state again is [`Registered::Unchanged`].
    async fn watch(&self, params: &ChannelParams, signed: &SignedState) -> Result<Registered>;

    /// The watched channel with this id.
    async fn watched_state(&self, channel_id: B256) -> Result<Option<WatchedState>>;

    /// Every watched channel, by channel id.
    async fn watched_states(&self) -> Result<Vec<WatchedState>>;

    /// Channels with something to do: a record to read, or a stale dispute.
    async fn watched_needing_work(&self) -> Result<Vec<WatchedState>>;

    /// Records that the channel's dispute holds `nonce` (only ever raised). False when the channel is not
    /// watched or the nonce is not higher than the one recorded.
    async fn record_dispute(&self, channel_id: B256, nonce: u64) -> Result<bool>;

    /// Records the watchtower's answer at `nonce` (or forgets it, with `None`: it reverted).
    async fn record_answer(&self, channel_id: B256, answer: Option<(B256, u64)>) -> Result<()>;

    /// Records that the channel's dispute was concluded. False when the channel is not watched or was already.
    async fn record_concluded(&self, channel_id: B256) -> Result<bool>;

    /// Records that the chain's record of the channel was read.
    async fn record_checked(&self, channel_id: B256) -> Result<()>;
}
