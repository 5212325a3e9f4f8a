//! The node follows each dispute of its own channels through to its money: it freezes the channel as soon as it
//! sees the dispute (mined, or still in the mempool: `api::mempool`), answers a stale dispute (at once, and again
//! on later ticks if an answer failed), reveals the preimages it knows of locks paid to it, concludes once the chain's
//! clock passes the consensus window and R more (left to whoever disputed), settles the locks whose outcome is its own, and claims what it is owed.
//!
//! What to do is computed each tick from the chain (the dispute record, `lockSettled`, `revealedAt`, the ledger)
//! and the node's stored states, never kept beside them; the store only remembers the transactions in flight, so a
//! failed pass or a restart repeats the decision instead of paying twice. One transaction per channel is in flight
//! at a time: every step depends on the one before it having been mined.

use std::{collections::HashSet, time::Duration};

use spoke_protocol::{
    lock_leaf, merkle_proof, sha256, state_struct_hash, Address, Lock, Side, B256,
};

use super::{now, AppState};
use crate::{
    chain::{ChannelStatus, DisputeRecord, TxFees},
    store::{
        ChannelRecord, DisputeAction, DisputeTx, DisputeTxStatus, PaymentStatus, PendingDisputeTx,
        StoredUpdate, Write,
    },
    Error, Result,
};

/// How long one step waits for its transaction to be mined before the pass moves on to the next channel (the
/// transaction stays recorded as in flight, and the next tick looks again).
const MINE_WAIT: Duration = Duration::from_secs(30);
/// A transaction with no receipt this long after it was sent is taken as dropped, and its step decided again.
const LOST_AFTER: u64 = 30 * 60;

/// What the loop remembers between ticks only to keep the log readable.
#[derive(Debug, Default)]
pub struct Memory {
    /// Channels whose disputed state the node does not hold: reported once.
    unknown_state: HashSet<B256>,
    /// Channels whose consensus window closed before a stale dispute was answered: reported once.
    missed: HashSet<B256>,
}

/// Where the node saw a dispute of one of its channels.
#[derive(Debug, Clone, Copy)]
pub(super) enum Seen {
    /// A mined `Disputed` event, holding the state at `nonce`.
    Mined { nonce: u64 },
    /// A transaction in the mempool (a dispute, or an answer to one) carrying the state at `nonce`.
    Pending { tx_hash: B256, nonce: u64 },
}

/// Freezes a channel of the node on a dispute: from now on it takes no update (409 `CHANNEL_FROZEN`). The one
/// freeze of both paths. It waits for the channel's mutex, so an update being accepted at this moment is stored
/// before the freeze and is among the states a stale dispute is answered with.
///
/// A freeze from the mempool is recorded with its transaction, so it can be lifted if that transaction never
/// gets mined (`api::mempool`); a mined dispute makes the freeze final.
pub(super) async fn freeze(state: &AppState, channel: &ChannelRecord, seen: Seen) -> Result<()> {
    let id = channel.channel_id;
    let _guard = state.hub.lock(id).await;
    let was_frozen = state.store.is_frozen(id).await?;
    match seen {
        Seen::Mined { nonce } => {
            // Forgotten before the freeze, so a release deciding at the same time finds nothing to release.
            state.store.confirm_freeze(id).await?;
            state.store.freeze(id).await?;
            if was_frozen {
                tracing::info!(channel = %id, nonce, "the dispute is mined: the channel stays frozen");
            } else {
                tracing::warn!(channel = %id, nonce, "dispute seen on chain: the channel is frozen");
            }
        }
        Seen::Pending { tx_hash, nonce } => {
            // Recorded before the freeze: a crash between the two leaves a record to clear, never a freeze
            // nobody would ever lift.
            state
                .store
                .record_pending_dispute(&PendingDisputeTx {
                    channel_id: id,
                    tx_hash,
                    nonce,
                    seen_at: now(),
                })
                .await?;
            state.store.freeze(id).await?;
            if was_frozen {
                tracing::info!(channel = %id, tx = %tx_hash, nonce, "another dispute transaction in the mempool");
            } else {
                tracing::warn!(channel = %id, tx = %tx_hash, nonce, "dispute transaction seen in the mempool, not mined yet: the channel is frozen");
            }
        }
    }
    Ok(())
}

/// One pass over every channel of the node in dispute. Each channel's failure is logged on its own and the
/// channel is looked at again next tick.
pub async fn follow_disputes(state: &AppState, memory: &mut Memory) -> Result<()> {
    for channel in state.store.channels_in_dispute().await? {
        if let Err(e) = follow(state, &channel, memory).await {
            tracing::warn!(channel = %channel.channel_id, error = %e, "following the dispute failed; retrying on the next tick");
        }
    }
    Ok(())
}

async fn follow(state: &AppState, channel: &ChannelRecord, memory: &mut Memory) -> Result<()> {
    let id = channel.channel_id;
    let _guard = state.hub.lock_dispute(id).await;
    if in_flight(state, id).await? {
        return Ok(());
    }
    let record = state.chain.dispute_record(id).await?;
    let disputed = match record.status {
        // Not (or no longer, after a reorganisation) disputed on chain: nothing to follow.
        ChannelStatus::Open => return Ok(()),
        // The node keeps every state it signed, so the disputed one is the one at its nonce, unless the user
        // disputed with a proposal of the node's that was later discarded and replaced: the hash tells.
        ChannelStatus::Dispute => {
            let on_chain = state.chain.disputed_state_hash(id).await?;
            state
                .store
                .update_at(id, record.nonce)
                .await?
                .filter(|u| state_struct_hash(&u.state) == on_chain)
        }
        // The hash is gone once concluded; the locks root, which settlement checks, is what matters now.
        ChannelStatus::Concluded => state.store.update_at(id, record.nonce).await?,
    };
    if record.status == ChannelStatus::Dispute {
        let window_open = record.now < record.consensus_end;
        // Revealed early, while the window runs: a lock's outcome is fixed by when its preimage was revealed.
        if window_open {
            if let Some(disputed) = &disputed {
                if !reveal(state, channel, &disputed.state.locks, &record).await? {
                    return Ok(());
                }
            }
        }
        // In the window this answers a stale dispute; after it, it is too late, and this only reports it if the
        // node held a newer state.
        answer(
            state,
            channel,
            record.nonce,
            Via::Mined {
                record: &record,
                memory,
            },
        )
        .await?;
        if window_open {
            return Ok(());
        }
    }
    let Some(disputed) = disputed else {
        if memory.unknown_state.insert(id) {
            tracing::error!(
                channel = %id,
                nonce = record.nonce,
                "the dispute holds a state the node does not have: it cannot conclude, settle or claim; \
                 someone holding that state must conclude"
            );
        }
        return Ok(());
    };
    if record.status == ChannelStatus::Dispute {
        // Whoever disputed usually concludes it (a user's exit settles, concludes and claims in one go), and
        // settlement has no deadline: the node leaves them R to do it, rather than race them and pay for it.
        if record.now
            < record
                .consensus_end
                .saturating_add(state.timing.reveal_time)
        {
            return Ok(());
        }
        if !send(
            state,
            id,
            DisputeAction::Conclude,
            state.tx.conclude(channel.user, &disputed.state),
        )
        .await?
        {
            return Ok(());
        }
        tracing::info!(channel = %id, nonce = record.nonce, "the dispute was concluded");
    }
    // The chain's clock as of now, not as of the record (the conclusion above took blocks).
    let record = state.chain.dispute_record(id).await?;
    if !reveal(state, channel, &disputed.state.locks, &record).await? {
        return Ok(());
    }
    let Some(pending) = settle(state, channel, &disputed, &record).await? else {
        return Ok(());
    };
    if !claim(state, channel, &disputed).await? {
        return Ok(());
    }
    if pending == 0 {
        settle_payments(state, channel, &disputed).await?;
        state.store.finish_dispute(id).await?;
        tracing::info!(channel = %id, "the dispute is settled: nothing more is owed to the node");
    }
    Ok(())
}

/// Looks at the channel's transactions in flight and records how they ended; true while one is still pending.
pub(super) async fn in_flight(state: &AppState, id: B256) -> Result<bool> {
    for mut sent in state.store.dispute_txs(id).await? {
        if sent.status != DisputeTxStatus::Sent {
            continue;
        }
        match state.tx.wait(sent.tx_hash, 1, Duration::ZERO).await {
            Ok(_) => sent.status = DisputeTxStatus::Mined,
            Err(Error::TxReverted { .. }) => {
                tracing::warn!(channel = %id, tx = %sent.tx_hash, action = %sent.action, "a dispute transaction reverted; deciding again");
                sent.status = DisputeTxStatus::Reverted;
            }
            Err(Error::TxTimeout { .. }) if now().saturating_sub(sent.sent_at) >= LOST_AFTER => {
                tracing::warn!(channel = %id, tx = %sent.tx_hash, action = %sent.action, "a dispute transaction was never mined; deciding again");
                sent.status = DisputeTxStatus::Lost;
            }
            Err(Error::TxTimeout { .. }) => return Ok(true),
            Err(e) => return Err(e),
        }
        state.store.record_dispute_tx(&sent).await?;
    }
    Ok(false)
}

/// Records a sent transaction and waits for it; true once it is mined. A crash between the RPC's acceptance and
/// the record makes the next tick decide again from the chain: a duplicate then fails its gas estimate (the step
/// is done) or, if the first is still pending, reverts, costing gas but nothing else.
async fn send(
    state: &AppState,
    channel_id: B256,
    action: DisputeAction,
    sending: impl std::future::Future<Output = Result<B256>>,
) -> Result<bool> {
    let tx_hash = sending.await?;
    let mut sent = record_sent(state, channel_id, action, tx_hash).await?;
    sent.status = match state.tx.wait(tx_hash, 1, MINE_WAIT).await {
        Ok(_) => DisputeTxStatus::Mined,
        Err(Error::TxTimeout { .. }) => return Ok(false),
        Err(e @ Error::TxReverted { .. }) => {
            sent.status = DisputeTxStatus::Reverted;
            state.store.record_dispute_tx(&sent).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    state.store.record_dispute_tx(&sent).await?;
    Ok(true)
}

/// Records a transaction the RPC accepted as in flight: nothing else is sent for the channel until it ends.
async fn record_sent(
    state: &AppState,
    channel_id: B256,
    action: DisputeAction,
    tx_hash: B256,
) -> Result<DisputeTx> {
    let sent = DisputeTx {
        channel_id,
        tx_hash,
        action,
        status: DisputeTxStatus::Sent,
        sent_at: now(),
    };
    state.store.record_dispute_tx(&sent).await?;
    tracing::info!(channel = %channel_id, tx = %tx_hash, %action, "dispute transaction sent");
    Ok(sent)
}

/// Where the dispute being answered is, which decides how the answer is sent.
pub(super) enum Via<'a> {
    /// Mined, as `record` shows: answered while its window is open, waiting for the answer to be mined.
    Mined {
        record: &'a DisputeRecord,
        memory: &'a mut Memory,
    },
    /// In the mempool, bidding `fees`: answered at once, right behind it (`TxSender::respond_behind`). The answer
    /// cannot be mined before the dispute, so it is left in flight for the passes over mined disputes.
    Pending { fees: TxFees },
}

/// A dispute with an older state than the newest both sides signed is answered with the newer one, as soon as
/// it is seen and on every tick until it is, while the window is open: the window is fixed, and an answer that
/// comes too late cannot be made up for. The one decision of both paths, mined and mempool.
pub(super) async fn answer(
    state: &AppState,
    channel: &ChannelRecord,
    disputed: u64,
    via: Via<'_>,
) -> Result<()> {
    let id = channel.channel_id;
    let Some(latest) = state.store.latest_double_signed(id).await? else {
        return Ok(());
    };
    let (Some(user_signature), Some(node_signature)) =
        (latest.user_signature, latest.node_signature)
    else {
        return Ok(());
    };
    if latest.nonce <= disputed {
        return Ok(());
    }
    let action = DisputeAction::Answer {
        nonce: latest.nonce,
    };
    match via {
        Via::Mined { record, memory } => {
            if record.now >= record.consensus_end {
                if memory.missed.insert(id) {
                    tracing::error!(channel = %id, disputed, latest = latest.nonce, "the consensus window closed before the stale dispute was answered");
                }
                return Ok(());
            }
            let sending = state.tx.respond(
                channel.user,
                &latest.state,
                &user_signature,
                &node_signature,
            );
            if send(state, id, action, sending).await? {
                tracing::warn!(channel = %id, disputed, answered = latest.nonce, "a stale dispute was answered with the newer state");
            }
        }
        Via::Pending { fees } => {
            let sent = state
                .tx
                .respond_behind(
                    channel.user,
                    &latest.state,
                    &user_signature,
                    &node_signature,
                    fees,
                )
                .await?;
            let Some(tx_hash) = sent else {
                tracing::info!(channel = %id, disputed, latest = latest.nonce, "the stale dispute in the mempool bids less than the node's own fees: it is answered once mined");
                return Ok(());
            };
            record_sent(state, id, action, tx_hash).await?;
            tracing::warn!(channel = %id, disputed, answered = latest.nonce, tx = %tx_hash, "a stale dispute in the mempool was answered with the newer state, without waiting for it to be mined");
        }
    }
    Ok(())
}

/// [`answer`] to a dispute still in the mempool, unless the node is already acting on chain in that channel (a
/// transaction in flight, or the pass over mined disputes at work in it right now): then that pass answers.
pub(super) async fn answer_pending(
    state: &AppState,
    channel: &ChannelRecord,
    disputed: u64,
    fees: TxFees,
) -> Result<()> {
    let Some(_guard) = state.hub.try_lock_dispute(channel.channel_id) else {
        return Ok(());
    };
    let txs = state.store.dispute_txs(channel.channel_id).await?;
    if txs.iter().any(|t| t.status == DisputeTxStatus::Sent) {
        return Ok(());
    }
    answer(state, channel, disputed, Via::Pending { fees }).await
}

/// Reveals the preimages the node knows of locks paid to it that the registry does not have yet, while a reveal
/// can still beat the lock's expiry by the safety margin; false while that reveal is not mined.
async fn reveal(
    state: &AppState,
    channel: &ChannelRecord,
    locks: &[Lock],
    record: &DisputeRecord,
) -> Result<bool> {
    let mut preimages = Vec::new();
    let mut hashlocks = Vec::new();
    for lock in locks {
        if lock.receiver() != Side::Node
            || record.now.saturating_add(state.timing.safety_margin) >= lock.expiry
        {
            continue;
        }
        let Some(preimage) = known_preimage(state, lock.hashlock).await? else {
            continue;
        };
        if state.chain.revealed_at(lock.hashlock).await? == 0 {
            preimages.push(preimage);
            hashlocks.push(lock.hashlock);
        }
    }
    if preimages.is_empty() {
        return Ok(true);
    }
    let sending = state.tx.reveal_many(&preimages);
    if !send(state, channel.channel_id, DisputeAction::Reveal, sending).await? {
        return Ok(false);
    }
    for hashlock in hashlocks {
        for mut p in state.store.payments_by_hashlock(hashlock).await? {
            if !p.revealed {
                p.revealed = true;
                state.store.write(&[Write::Payment(&p)]).await?;
            }
        }
    }
    tracing::info!(channel = %channel.channel_id, count = preimages.len(), "revealed the preimages of locks paid to the node");
    Ok(true)
}

/// A preimage of `hashlock` the node learned (from a payee, off chain or from the registry).
async fn known_preimage(state: &AppState, hashlock: B256) -> Result<Option<B256>> {
    Ok(state
        .store
        .payments_by_hashlock(hashlock)
        .await?
        .into_iter()
        .filter_map(|p| p.preimage)
        .find(|preimage| sha256(*preimage) == hashlock))
}

/// How a lock of the final state settles on chain, as of the chain's clock `now`.
fn outcome(lock: &Lock, revealed_at: u64, now: u64) -> Option<Side> {
    if revealed_at != 0 && revealed_at < lock.expiry {
        Some(lock.receiver())
    } else if now >= lock.expiry {
        Some(lock.sender)
    } else {
        None
    }
}

/// Settles each lock of the final state whose outcome is the node's. The number of locks that may still go to
/// the node later (not expired, not revealed), or `None` while a settlement is not mined.
async fn settle(
    state: &AppState,
    channel: &ChannelRecord,
    disputed: &StoredUpdate,
    record: &DisputeRecord,
) -> Result<Option<usize>> {
    let id = channel.channel_id;
    let leaves: Vec<B256> = disputed
        .state
        .locks
        .iter()
        .map(|l| lock_leaf(id, l))
        .collect();
    let mut pending = 0;
    for (lock, leaf) in disputed.state.locks.iter().zip(&leaves) {
        if state.chain.lock_settled(*leaf).await? {
            continue;
        }
        let revealed_at = state.chain.revealed_at(lock.hashlock).await?;
        match outcome(lock, revealed_at, record.now) {
            Some(Side::Node) => {}
            // The user's to settle.
            Some(Side::User) => continue,
            None => {
                pending += 1;
                continue;
            }
        }
        let proof = merkle_proof(&leaves, *leaf).ok_or_else(|| Error::Corrupt {
            what: "a lock of the disputed state",
            reason: format!("lock {} is missing from its own tree", lock.id),
        })?;
        let sending = state
            .tx
            .settle_lock(channel.user, channel.epoch, lock, proof);
        if !send(
            state,
            id,
            DisputeAction::Settle { lock_id: lock.id },
            sending,
        )
        .await?
        {
            return Ok(None);
        }
        tracing::info!(channel = %id, lock = %lock.id, amount = %lock.amount, "a lock was settled to the node");
    }
    Ok(Some(pending))
}

/// Claims every asset the concluded channel owes the node; claims repeat as later settlements credit more.
/// False while a claim is not mined.
async fn claim(state: &AppState, channel: &ChannelRecord, disputed: &StoredUpdate) -> Result<bool> {
    let id = channel.channel_id;
    // Uncounted deposits are owed too, so every asset the deployment allows, not only the state's.
    let mut assets: Vec<Address> = std::iter::once(Address::ZERO)
        .chain(state.tokens.iter().copied())
        .chain(disputed.state.assets.iter().map(|a| a.asset))
        .collect();
    assets.sort();
    assets.dedup();
    for asset in assets {
        let amount = state.chain.claimable(id, asset, Side::Node).await?;
        if amount.is_zero() {
            continue;
        }
        let sending = state.tx.claim(channel.user, channel.epoch, asset);
        if !send(state, id, DisputeAction::Claim { asset }, sending).await? {
            return Ok(false);
        }
        tracing::info!(channel = %id, %asset, %amount, "claimed the node's payout");
    }
    Ok(true)
}

/// Payments with a lock in the final state end as the chain settled it. A payer's lock: completed when the
/// preimage reached the registry in time, failed (back to the payer) otherwise. The node's lock to a payee that
/// came back to the node: the payee can no longer be paid, so the payer's lock in its own channel is released
/// (refunding); one the payee took was already resolved by the preimage in the registry.
async fn settle_payments(
    state: &AppState,
    channel: &ChannelRecord,
    disputed: &StoredUpdate,
) -> Result<()> {
    let id = channel.channel_id;
    let mut payer_channels = Vec::new();
    for lock in &disputed.state.locks {
        let revealed_at = state.chain.revealed_at(lock.hashlock).await?;
        let in_time = revealed_at != 0 && revealed_at < lock.expiry;
        for mut p in state.store.payments_by_hashlock(lock.hashlock).await? {
            let status = match lock.sender {
                Side::User if p.payer_channel == id && p.payer_lock_id == lock.id => {
                    if matches!(p.status, PaymentStatus::Completed | PaymentStatus::Failed) {
                        continue;
                    }
                    if in_time {
                        PaymentStatus::Completed
                    } else {
                        PaymentStatus::Failed
                    }
                }
                Side::Node
                    if p.payee_channel == Some(id)
                        && p.id == lock.id
                        && !in_time
                        && p.status == PaymentStatus::Forwarded =>
                {
                    payer_channels.push(p.payer_channel);
                    PaymentStatus::Refunding
                }
                _ => continue,
            };
            p.status = status;
            p.updated_at = now();
            state.store.write(&[Write::Payment(&p)]).await?;
            super::route::notify(state, &p);
        }
    }
    if !payer_channels.is_empty() {
        super::route::drive(state, payer_channels).await;
    }
    Ok(())
}
