//! Disputes seen in the mempool, before they are mined. Between a dispute transaction's broadcast and its mining
//! the user could dispute with state n and, at the same time, get the node to co-sign n + 1: the freeze closes
//! that race only if it comes with the broadcast. So on every pass the node reads the dispute calls of its
//! channels that entered the chain RPC's mempool (`Chain::pending_disputes`), freezes each channel at once (the
//! same freeze as a mined `Disputed` event), and answers a stale one with its newer state right away, right
//! behind the dispute (`dispute::answer`, the same decision the mined path makes).
//!
//! A dispute that is never mined (dropped, or replaced by another transaction of its sender) must not leave the
//! channel frozen with nothing on chain to settle it: the node's own locks in it could neither be resolved off
//! chain nor settled on chain. A channel frozen from the mempool is released when every dispute transaction that
//! froze it has been missing — neither in the mempool nor mined — at every look over [`RELEASE_BLOCKS`] blocks and
//! [`RELEASE_SECONDS`] of the chain's time, while the chain shows no dispute of it, and nothing the node sent in it
//! is in flight. While one of them is still in the mempool the channel stays frozen, however long. A dispute seen
//! again (the same transaction broadcast again, or a new one) freezes it again. Both a missing look and a
//! transaction seen pending again reset that count; a restart starts it afresh.
//!
//! An RPC that does not show its pending transactions is reported once, and the node then freezes on mined
//! events alone, as it did before.

use std::collections::{BTreeMap, HashMap};

use spoke_protocol::B256;

use super::{
    dispute::{self, Seen},
    AppState,
};
use crate::{
    chain::{ChannelStatus, DisputeCall, PendingDispute, PendingScan},
    store::PendingDisputeTx,
    Result,
};

/// Blocks over which a provisionally frozen channel's dispute transactions must be missing before it is
/// released: a transaction evicted from one RPC's pool may still be in others' and be mined.
pub const RELEASE_BLOCKS: u64 = 12;
/// The chain time over which they must be missing too, so a chain with fast blocks does not release in seconds.
pub const RELEASE_SECONDS: u64 = 120;

/// What the mempool watch remembers between passes.
#[derive(Debug, Default)]
pub struct Mempool {
    /// The RPC's refusal to show pending transactions, once warned about.
    unsupported: Option<String>,
    /// Dispute transactions found missing, with the head (block, time) at which they were first missed.
    missing: HashMap<B256, (u64, u64)>,
}

impl Mempool {
    /// False while the RPC says it does not show pending transactions.
    pub fn watching(&self) -> bool {
        self.unsupported.is_none()
    }
}

/// One pass: acts on the dispute calls that entered the mempool since the last pass, then releases the channels
/// whose freeze came from a transaction that was never mined.
pub async fn watch_mempool(state: &AppState, mempool: &mut Mempool) -> Result<()> {
    match state.chain.pending_disputes().await? {
        PendingScan::Unsupported { reason } => {
            if mempool.unsupported.is_none() {
                tracing::warn!(
                    %reason,
                    "the chain RPC does not show pending transactions: a dispute freezes its channel only once it \
                     is mined, and the node keeps signing in it until then; use an RPC that serves \
                     eth_newPendingTransactionFilter to close that gap"
                );
            }
            mempool.unsupported = Some(reason);
        }
        PendingScan::Seen(disputes) => {
            if mempool.unsupported.take().is_some() {
                tracing::info!("the chain RPC shows pending transactions: disputes freeze as soon as they are broadcast");
            }
            for pending in &disputes {
                // What is lost here is not lost for good: the mined event freezes and answers it too.
                if let Err(e) = seen(state, pending).await {
                    tracing::warn!(tx = %pending.tx_hash, error = %e, "acting on a dispute transaction in the mempool failed");
                }
            }
        }
    }
    release_dropped(state, mempool).await
}

/// A dispute call in the mempool: if it is in a channel of this node, the channel freezes, and a stale dispute
/// is answered.
async fn seen(state: &AppState, pending: &PendingDispute) -> Result<()> {
    if pending.node != state.node {
        return Ok(());
    }
    // The contract disputes the pair's current channel; the node's record of it has the same id.
    let epoch = state
        .chain
        .current_epoch(pending.user, pending.node)
        .await?;
    let id = state.params(pending.user, epoch).channel_id();
    let Some(channel) = state.store.channel(id).await? else {
        return Ok(());
    };
    let seen = Seen::Pending {
        tx_hash: pending.tx_hash,
        nonce: pending.nonce,
    };
    dispute::freeze(state, &channel, seen).await?;
    // A `respond` only passes its simulation in a channel already disputed on chain: the mined path answers it.
    if pending.call == DisputeCall::Dispute {
        dispute::answer_pending(state, &channel, pending.nonce, pending.fees).await?;
    }
    Ok(())
}

/// Releases each channel frozen from the mempool whose dispute transactions all stayed missing long enough
/// (module docs), and makes final the freeze of each whose dispute got mined.
async fn release_dropped(state: &AppState, mempool: &mut Mempool) -> Result<()> {
    let recorded = state.store.pending_disputes().await?;
    mempool
        .missing
        .retain(|hash, _| recorded.iter().any(|r| r.tx_hash == *hash));
    if recorded.is_empty() {
        return Ok(());
    }
    let head = state.chain.head().await?;
    let mut by_channel: BTreeMap<B256, Vec<&PendingDisputeTx>> = BTreeMap::new();
    for tx in &recorded {
        by_channel.entry(tx.channel_id).or_default().push(tx);
    }
    for (channel_id, txs) in by_channel {
        if let Err(e) = release(state, mempool, channel_id, &txs, head).await {
            tracing::warn!(channel = %channel_id, error = %e, "checking a dispute seen in the mempool failed; retrying on the next pass");
        }
    }
    Ok(())
}

async fn release(
    state: &AppState,
    mempool: &mut Mempool,
    channel_id: B256,
    txs: &[&PendingDisputeTx],
    head: u64,
) -> Result<()> {
    // The transactions first, then the chain's record: one mined in between shows in the record.
    let mut absent = Vec::new();
    for tx in txs {
        if state.chain.is_pending(tx.tx_hash).await? {
            mempool.missing.remove(&tx.tx_hash);
        } else {
            absent.push(tx.tx_hash);
        }
    }
    let record = state.chain.dispute_record(channel_id).await?;
    if record.status != ChannelStatus::Open {
        // Mined (the pass over events may not have reached it yet): the freeze is final.
        state.store.confirm_freeze(channel_id).await?;
        for tx in txs {
            mempool.missing.remove(&tx.tx_hash);
        }
        return Ok(());
    }
    let mut gone = Vec::new();
    for hash in absent {
        let (block, time) = *mempool.missing.entry(hash).or_insert((head, record.now));
        if head.saturating_sub(block) >= RELEASE_BLOCKS
            && record.now.saturating_sub(time) >= RELEASE_SECONDS
        {
            gone.push(hash);
        }
    }
    if gone.is_empty() {
        return Ok(());
    }
    // An answer the node sent behind the dispute is waited for (it reverts once mined, the channel being open),
    // so the channel is not released with a transaction of the node's still in flight in it. If the pass over
    // mined disputes is at work in the channel right now, the next pass decides: this loop never waits on it.
    let Some(_guard) = state.hub.try_lock_dispute(channel_id) else {
        return Ok(());
    };
    if dispute::in_flight(state, channel_id).await? {
        return Ok(());
    }
    for hash in &gone {
        mempool.missing.remove(hash);
    }
    if state.store.release_freeze(channel_id, &gone).await? {
        tracing::warn!(
            channel = %channel_id,
            txs = ?gone,
            blocks = RELEASE_BLOCKS,
            "the dispute transactions that froze the channel left the mempool without being mined, and the chain \
             shows no dispute: the channel is unfrozen"
        );
    }
    Ok(())
}
