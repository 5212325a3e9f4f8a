//! What the node holds in memory besides its store: one mutex per channel, so the updates of a channel are
//! serialized (read latest, validate, persist, answer — never two at once), and the live connections of its users,
//! so a proposal or an event reaches a user the moment it exists.
//!
//! No code path holds two channel mutexes at once: routing a payment takes the payer's, lets it go, then takes the
//! payee's, so two users paying each other cannot deadlock.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use spoke_protocol::{Address, B256};
use tokio::sync::{mpsc, OwnedMutexGuard};

pub use spoke_protocol::wire::{IncomingPayment, NodeEvent as Event, PendingProposal};

/// How many events may queue for one connection before it counts as too slow and is dropped.
const QUEUE: usize = 256;

/// Channel mutexes and live connections.
#[derive(Debug, Default)]
pub struct Hub {
    channels: Mutex<HashMap<B256, Arc<tokio::sync::Mutex<()>>>>,
    peers: Mutex<HashMap<Address, Vec<mpsc::Sender<Event>>>>,
}

impl Hub {
    /// Waits for the mutex of `channel_id`; updates to the channel happen only while it is held.
    pub async fn lock(&self, channel_id: B256) -> OwnedMutexGuard<()> {
        let mutex = {
            let mut channels = self
                .channels
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            channels.entry(channel_id).or_default().clone()
        };
        mutex.lock_owned().await
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
