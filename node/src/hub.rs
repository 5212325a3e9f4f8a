//! What the node holds in memory besides its store: one mutex per channel, so the updates of a channel are
//! serialized (read latest, validate, persist, answer — never two at once), and the live connections of its users,
//! so a proposal or an event reaches a user the moment it exists.
//!
//! No code path holds two channel mutexes at once: routing a payment takes the payer's, lets it go, then takes the
//! payee's, so two users paying each other cannot deadlock.
//!
//! A second mutex per channel serializes what the node does on chain in the channel's dispute (`api::dispute`):
//! the pass over mined disputes and the mempool watch both answer disputes, and must not both send an answer.
//! It may be held while a channel mutex is taken, never the other way round.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use spoke_protocol::{Address, B256};
use tokio::sync::{mpsc, OwnedMutexGuard};

pub use spoke_protocol::wire::{IncomingPayment, NodeEvent as Event, PendingProposal};

/// How many events may queue for one connection before it counts as too slow and is dropped.
const QUEUE: usize = 256;

/// The mutex of `channel_id` in `map`, made on first use.
fn entry(
    map: &Mutex<HashMap<B256, Arc<tokio::sync::Mutex<()>>>>,
    channel_id: B256,
) -> Arc<tokio::sync::Mutex<()>> {
    map.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry(channel_id)
        .or_default()
        .clone()
}

/// Channel mutexes and live connections.
#[derive(Debug, Default)]
pub struct Hub {
    channels: Mutex<HashMap<B256, Arc<tokio::sync::Mutex<()>>>>,
    disputes: Mutex<HashMap<B256, Arc<tokio::sync::Mutex<()>>>>,
    peers: Mutex<HashMap<Address, Vec<mpsc::Sender<Event>>>>,
}

impl Hub {
    /// Waits for the mutex of `channel_id`; updates to the channel happen only while it is held.
    pub async fn lock(&self, channel_id: B256) -> OwnedMutexGuard<()> {
        entry(&self.channels, channel_id).lock_owned().await
    }

    /// The mutex of `channel_id` if nobody holds it: for a second channel taken while one is held, which never
    /// waits, so two requests that each hold one channel and want the other's cannot deadlock.
    pub fn try_lock(&self, channel_id: B256) -> Option<OwnedMutexGuard<()>> {
        entry(&self.channels, channel_id).try_lock_owned().ok()
    }

    /// Waits for the dispute mutex of `channel_id`; the node's dispute transactions in it are decided under it.
    pub async fn lock_dispute(&self, channel_id: B256) -> OwnedMutexGuard<()> {
        entry(&self.disputes, channel_id).lock_owned().await
    }

    /// The dispute mutex of `channel_id` if nobody holds it.
    pub fn try_lock_dispute(&self, channel_id: B256) -> Option<OwnedMutexGuard<()>> {
        entry(&self.disputes, channel_id).try_lock_owned().ok()
    }

    /// A new connection of `user`: the receiver gets every event pushed to the user until it is dropped.
    pub fn subscribe(&self, user: Address) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(QUEUE);
        self.peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(user)
            .or_default()
            .push(tx);
        rx
    }

    /// Whether `user` has a live connection.
    pub fn is_online(&self, user: Address) -> bool {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match peers.get_mut(&user) {
            Some(senders) => {
                senders.retain(|s| !s.is_closed());
                !senders.is_empty()
            }
            None => false,
        }
    }

    /// Sends `event` to every live connection of `user`. A connection whose queue is full is dropped: it will
    /// resync from the HTTP API when it reconnects, which is safer than blocking the node on a slow reader.
    pub fn push(&self, user: Address, event: Event) {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(senders) = peers.get_mut(&user) {
            senders.retain(|s| s.try_send(event.clone()).is_ok());
            if senders.is_empty() {
                peers.remove(&user);
            }
        }
    }

    /// How many users have a live connection.
    pub fn online_users(&self) -> usize {
        let mut peers = self
            .peers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        peers.retain(|_, senders| {
            senders.retain(|s| !s.is_closed());
            !senders.is_empty()
        });
        peers.len()
    }
}
