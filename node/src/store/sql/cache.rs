//! What the node reads on every request, held in memory in front of the database: sessions, user keys, channel
//! records, each channel's latest update and freeze flag, its collateral in flight, payments and the payments each
//! channel has to drive. Under load these reads were most of the node's work: each query is a round trip to a
//! database worker thread (SQLite) or server (PostgreSQL), about 25 of them per payment.
//!
//! The database stays the record. The cache only ever holds what a committed transaction wrote, so nothing read
//! from it can be newer than what is durable ("persist, then send" is untouched):
//! - a value is loaded from the database on first use, while its slot's mutex is held;
//! - after a commit, the writer changes the value in place or forgets it, under the same mutex, so a load that
//!   raced with the commit is either seen and corrected or starts after it and reads the new rows.
//!
//! Writes to channels change the cached value with rules that hold in any order (a latest update moves one nonce
//! at a time, a signature fills an empty slot), so concurrent writers (PostgreSQL) need no ordering. A payment is
//! replaced whole by each write, so its cached copy is set only by SQLite's one writer thread, which applies its
//! commits in order; elsewhere it is forgotten and read again. Everything else is forgotten after it changes.
//!
//! The cache belongs to one store handle: a second process writing the same database would not be seen by it,
//! which is why one database serves one node process (README, "Running a node").

use std::{
    collections::{hash_map::Entry, BTreeSet, HashMap},
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
};

use spoke_protocol::{Address, B256};

use super::{CollateralDeposit, Payment, PaymentStatus, StoredUpdate, Write};
use crate::Result;

/// The most keys one map holds before the unused ones are dropped (they are read again when needed). Enough for
/// every active channel of a large node; the bound keeps a flood of lookups of unknown keys from growing it.
const CAPACITY: usize = 65_536;

type Slot<V> = Arc<tokio::sync::Mutex<Option<V>>>;

/// One map of lazily loaded values. `None` in a slot means "not loaded".
#[derive(Debug)]
pub(super) struct Slots<K, V> {
    map: Mutex<HashMap<K, Slot<V>>>,
}

impl<K, V> Default for Slots<K, V> {
    fn default() -> Self {
        Slots {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Copy, V: Clone> Slots<K, V> {
    fn slot(&self, key: K) -> Slot<V> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= CAPACITY && !map.contains_key(&key) {
            // A slot nobody holds can go: the next use loads it again. One that is held is being loaded or
            // changed, and must stay the one both sides see.
            map.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        map.entry(key).or_default().clone()
    }

    /// The cached value, or what `load` reads (then cached).
    pub(super) async fn get<F, Fut>(&self, key: K, load: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let slot = self.slot(key);
        let mut held = slot.lock().await;
        if let Some(value) = held.as_ref() {
            return Ok(value.clone());
        }
        let value = load().await?;
        *held = Some(value.clone());
        Ok(value)
    }

    /// After a commit: changes the value in place (`None`: not loaded).
    pub(super) async fn update(&self, key: K, change: impl FnOnce(&mut Option<V>)) {
        let slot = self.slot(key);
        let mut held = slot.lock().await;
        change(&mut held);
    }

    /// After a commit: forgets the value, so the next use reads the database.
    pub(super) async fn forget(&self, key: K) {
        let slot = self
            .map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .cloned();
        if let Some(slot) = slot {
            *slot.lock().await = None;
        }
    }
}

/// Payments a channel has to drive, in the order the node takes them: oldest first, by the second they were created
/// in (all the database keeps) and within it by the order this process first wrote them ([`Arrivals`]); payments
/// written before a restart go first in their second, by id. By (second, id) alone a payment was passed by later
/// ones with lower ids until its second ended: with fifty payers paying one payee, for close to a second.
#[derive(Debug, Clone, Default)]
pub(super) struct DriveList {
    order: BTreeSet<(u64, u64, B256)>,
    keys: HashMap<B256, (u64, u64)>,
}

impl DriveList {
    /// Adds a payment in its place, unless it is on the list already.
    pub fn insert(&mut self, created_at: u64, arrival: u64, id: B256) {
        if let Entry::Vacant(slot) = self.keys.entry(id) {
            slot.insert((created_at, arrival));
            self.order.insert((created_at, arrival, id));
        }
    }

    pub fn remove(&mut self, id: &B256) {
        if let Some((created_at, arrival)) = self.keys.remove(id) {
            self.order.remove(&(created_at, arrival, *id));
        }
    }

    /// The payments, first to drive first.
    pub fn ids(&self) -> impl Iterator<Item = B256> + '_ {
        self.order.iter().map(|(_, _, id)| *id)
    }
}

/// The order in which this process first wrote each payment in flight, counted from 1 (0: not seen since the
/// start): a payment's place within its second on a drive list. A payment is forgotten once it is final.
#[derive(Debug, Default)]
pub(super) struct Arrivals {
    /// Payment id → arrival, and the last arrival counted.
    seen: Mutex<(HashMap<B256, u64>, u64)>,
}

impl Arrivals {
    pub fn of(&self, id: &B256) -> u64 {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.0.get(id).copied().unwrap_or(0)
    }

    /// Payment `id` was written (`is_final`: it has reached its end): its arrival, counted now if it is new.
    fn written(&self, id: B256, is_final: bool) -> u64 {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let (arrivals, last) = &mut *seen;
        let arrival = *arrivals.entry(id).or_insert_with(|| {
            *last += 1;
            *last
        });
        if is_final {
            arrivals.remove(&id);
        }
        arrival
    }
}

/// Everything the store caches.
#[derive(Debug, Default)]
pub(super) struct Cache {
    /// Token hash → (user, expires at). Sessions are never changed once created.
    pub sessions: Slots<B256, Option<(Address, u64)>>,
    pub user_keys: Slots<Address, Option<spoke_protocol::PublicKey>>,
    pub channels: Slots<B256, Option<super::ChannelRecord>>,
    pub channel_of_user: Slots<Address, Option<super::ChannelRecord>>,
    pub latest: Slots<B256, Option<StoredUpdate>>,
    pub frozen: Slots<B256, bool>,
    pub collateral: Slots<B256, Vec<CollateralDeposit>>,
    pub payments: Slots<B256, Option<Payment>>,
    /// Channel → ids of the payments it may have to drive. A superset: each is checked against its payment.
    pub drive: Slots<B256, DriveList>,
    pub arrivals: Arrivals,
}

/// Whether `channel_id` has to act on `p`: lock to its payee, or resolve or cancel its payer's lock.
pub(super) fn to_drive(p: &Payment, channel_id: B256) -> bool {
    (p.payer_channel == channel_id
        && matches!(p.status, PaymentStatus::Resolved | PaymentStatus::Refunding))
        || (p.payee_channel == Some(channel_id) && p.status == PaymentStatus::Accepted)
}

impl Cache {
    /// Brings the cache up to a batch of writes that committed. `ordered`: this is the only writer, and batches
    /// are applied in the order they committed, so a payment's new row may replace the cached one.
    pub(super) async fn committed(&self, writes: &[Write<'_>], ordered: bool) {
        for write in writes {
            match write {
                Write::Append(update) => {
                    let update = (*update).clone();
                    self.latest
                        .update(update.channel_id, |held| {
                            // Loaded as "no update yet": the first one is read from the database.
                            if matches!(held, Some(None)) {
                                *held = None;
                            }
                            if let Some(Some(latest)) = held.as_ref() {
                                if update.nonce == latest.nonce + 1 {
                                    *held = Some(Some(update));
                                } else if update.nonce > latest.nonce
                                    || (update.nonce == latest.nonce
                                        && (update.update != latest.update
                                            || update.state != latest.state))
                                {
                                    // A gap, or the cached update was discarded meanwhile: read it again.
                                    *held = None;
                                }
                            }
                        })
                        .await;
                }
                Write::Signature {
                    channel_id,
                    nonce,
                    side,
                    signature,
                } => {
                    self.change_latest_at(*channel_id, *nonce, |latest| {
                        let slot = match side {
                            spoke_protocol::Side::User => &mut latest.user_signature,
                            spoke_protocol::Side::Node => &mut latest.node_signature,
                        };
                        slot.get_or_insert(**signature);
                    })
                    .await;
                }
                Write::Commitment {
                    channel_id,
                    nonce,
                    signatures,
                } => {
                    self.change_latest_at(*channel_id, *nonce, |latest| {
                        latest.commitment_signatures.get_or_insert(*signatures);
                    })
                    .await;
                }
                Write::Payment(payment) => self.payment_written(payment, ordered).await,
                Write::CollateralDone { channel_id, .. } => {
                    self.collateral.forget(*channel_id).await
                }
                Write::QuoteUsed(_) => {}
            }
        }
    }

    /// After a write to a channel's update at `nonce`: applies `change` to the cached latest when it is that
    /// update; forgets it when the write went to a newer nonce than the cached one (it is read again).
    async fn change_latest_at(
        &self,
        channel_id: B256,
        nonce: u64,
        change: impl FnOnce(&mut StoredUpdate),
    ) {
        self.latest
            .update(channel_id, |held| {
                if let Some(Some(latest)) = held.as_mut() {
                    if latest.nonce == nonce {
                        change(latest);
                    } else if nonce > latest.nonce {
                        *held = None;
                    }
                }
            })
            .await;
    }

    /// A channel's drive list from the database's (created at, id) pairs.
    pub fn drive_list(&self, rows: Vec<(u64, B256)>) -> DriveList {
        let mut list = DriveList::default();
        for (created_at, id) in rows {
            list.insert(created_at, self.arrivals.of(&id), id);
        }
        list
    }

    async fn payment_written(&self, payment: &Payment, ordered: bool) {
        let arrival = self.arrivals.written(payment.id, payment.status.is_final());
        let channels = std::iter::once(payment.payer_channel).chain(payment.payee_channel);
        if !ordered {
            self.payments.forget(payment.id).await;
            for channel_id in channels {
                self.drive.forget(channel_id).await;
            }
            return;
        }
        for channel_id in channels {
            let wanted = to_drive(payment, channel_id);
            self.drive
                .update(channel_id, |held| {
                    if let Some(list) = held.as_mut() {
                        if wanted {
                            list.insert(payment.created_at, arrival, payment.id);
                        } else {
                            list.remove(&payment.id);
                        }
                    }
                })
                .await;
        }
        let payment = payment.clone();
        self.payments
            .update(payment.id, |held| *held = Some(Some(payment)))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn loads_once_then_answers_from_memory_until_forgotten() {
        let slots: Slots<u8, u32> = Slots::default();
        let loads = std::sync::atomic::AtomicU32::new(0);
        let load = || async { Ok(loads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 10) };
        assert_eq!(slots.get(1, load).await.ok(), Some(10));
        assert_eq!(slots.get(1, load).await.ok(), Some(10));
        slots.update(1, |v| *v = v.map(|n| n + 1)).await;
        assert_eq!(slots.get(1, load).await.ok(), Some(11));
        slots.forget(1).await;
        assert_eq!(
            slots.get(1, load).await.ok(),
            Some(11),
            "read again: the second load"
        );
        assert_eq!(loads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_load_caches_nothing() {
        let slots: Slots<u8, u32> = Slots::default();
        let failed = slots
            .get(1, || async {
                Err(crate::Error::UnknownChannel(B256::ZERO))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(slots.get(1, || async { Ok(7) }).await.ok(), Some(7));
    }

    #[tokio::test]
    async fn a_first_update_for_a_channel_cached_as_empty_is_read_from_the_database() {
        let cache = Cache::default();
        let channel_id = B256::repeat_byte(1);
        let none = cache.latest.get(channel_id, || async { Ok(None) }).await;
        assert_eq!(none.ok(), Some(None));
        let opening = StoredUpdate {
            channel_id,
            nonce: 0,
            update: None,
            state: spoke_protocol::ChannelState::initial(channel_id),
            user_signature: None,
            node_signature: None,
            commitment_signatures: None,
        };
        cache.committed(&[Write::Append(&opening)], true).await;
        let read = cache
            .latest
            .get(channel_id, || async { Ok(Some(opening.clone())) })
            .await;
        assert_eq!(read.ok().flatten().map(|u| u.nonce), Some(0));
    }

    #[tokio::test]
    async fn an_update_of_a_value_not_loaded_leaves_it_to_the_database() {
        let slots: Slots<u8, u32> = Slots::default();
        slots.update(1, |v| *v = v.map(|n| n + 1)).await;
        assert_eq!(slots.get(1, || async { Ok(3) }).await.ok(), Some(3));
    }

    #[test]
    fn a_drive_list_is_in_order_of_creation_and_first_write_and_forgets_nothing_it_did_not_remove()
    {
        let id = |byte| B256::repeat_byte(byte);
        let cache = Cache::default();
        let written =
            |byte: u8, status: PaymentStatus| cache.arrivals.written(id(byte), status.is_final());
        // Written in this order within second 5, whatever their ids; 9 was written before a restart.
        assert_eq!(written(4, PaymentStatus::Accepted), 1);
        assert_eq!(written(1, PaymentStatus::Accepted), 2);
        assert_eq!(
            written(4, PaymentStatus::Forwarded),
            1,
            "an arrival is counted once"
        );
        assert_eq!(written(3, PaymentStatus::Accepted), 3);
        let mut list = cache.drive_list(vec![(5, id(1)), (5, id(9)), (4, id(3)), (5, id(4))]);
        assert_eq!(list.ids().collect::<Vec<_>>(), [id(3), id(9), id(4), id(1)]);
        assert_eq!(written(2, PaymentStatus::Accepted), 4);
        list.insert(5, cache.arrivals.of(&id(2)), id(2));
        list.insert(5, 0, id(1));
        list.remove(&id(9));
        list.remove(&id(7));
        assert_eq!(list.ids().collect::<Vec<_>>(), [id(3), id(4), id(1), id(2)]);
        // A final payment is forgotten: the memory holds payments in flight only.
        written(4, PaymentStatus::Completed);
        assert_eq!(cache.arrivals.of(&id(4)), 0);
    }
}
