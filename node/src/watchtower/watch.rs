//! The watchtower's loop. Each tick: read the ChannelManager's events from the stored block cursor and record the
//! disputes, responses and conclusions of watched channels; read the chain's record of newly registered channels
//! (a dispute may have begun before the state arrived, behind the cursor); answer every dispute that holds an
//! older state than the watched one. What is seen is stored before anything is sent, and whether a channel needs
//! an answer is computed from the store and the chain each time, so a failed pass or a restart simply repeats it.

use std::{collections::HashSet, time::Duration};

use spoke_protocol::B256;

use super::Watchtower;
use crate::{
    chain::{ChainEvent, ChannelStatus},
    store::WatchedState,
    Error, Result,
};

/// The cursor's name in the store; apart from the node's, so both can share a database.
const CURSOR: &str = "watchtower";
/// Most blocks read in one request.
const SPAN: u64 = 2_000;

/// What the loop remembers between ticks only to keep the log readable.
#[derive(Debug, Default)]
pub struct Memory {
    /// Channels whose consensus window closed before an answer: reported once, not every tick.
    missed: HashSet<B256>,
}

/// Starts the loop; it runs until the process ends or the task is aborted. Errors are logged and the pass is
/// tried again next tick.
pub fn spawn(watchtower: Watchtower) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut memory = Memory::default();
        let mut ticker = tokio::time::interval(watchtower.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            tick(&watchtower, &mut memory).await;
        }
    })
}

/// What one pass did, for the log and for tests: the answers it sent and how many parts of it failed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// (channel id, answer transaction) of each answer sent.
    pub answered: Vec<(B256, B256)>,
    /// Parts that failed and are tried again next pass (each one logged).
    pub failures: usize,
}

/// One pass: events, then new channels' records, then answers. Each part's failure is logged on its own.
pub async fn tick(w: &Watchtower, memory: &mut Memory) -> Pass {
    let mut pass = Pass::default();
    if let Err(e) = read_events(w).await {
        pass.failures += 1;
        tracing::warn!(error = %e, "reading the chain failed; retrying on the next tick");
    }
    let channels = match w.store.watched_needing_work().await {
        Ok(channels) => channels,
        Err(e) => {
            pass.failures += 1;
            tracing::error!(error = %e, "cannot read the watched states; retrying on the next tick");
            return pass;
        }
    };
    for channel in channels {
        let id = channel.channel_id();
        match work_on(w, channel, memory).await {
            Ok(Some(tx)) => pass.answered.push((id, tx)),
            Ok(None) => {}
            Err(e) => {
                pass.failures += 1;
                tracing::error!(channel = %id, error = %e, "watching the channel failed; retrying on the next tick");
            }
        }
    }
    pass
}

/// Reads the events since the cursor, up to the chain's head (a dispute matters the moment it is mined). The
/// first start begins at the head: earlier disputes are found by reading each registered channel's record.
async fn read_events(w: &Watchtower) -> Result<()> {
    let head = w.chain.head().await?;
    let mut from = match w.store.cursor(CURSOR).await? {
        Some(block) => block + 1,
        None => head,
    };
    while from <= head {
        let to = head.min(from + SPAN - 1);
        for event in w.chain.events(from, to).await? {
            record(w, event).await?;
        }
        w.store.set_cursor(CURSOR, to).await?;
        from = to + 1;
    }
    Ok(())
}

async fn record(w: &Watchtower, event: ChainEvent) -> Result<()> {
    match event {
        ChainEvent::Disputed { channel_id, nonce }
        | ChainEvent::Responded { channel_id, nonce } => {
            if w.store.record_dispute(channel_id, nonce).await? {
                tracing::info!(channel = %channel_id, nonce, "a dispute of a watched channel was seen");
            }
        }
        ChainEvent::Concluded { channel_id, nonce } => {
            if w.store.record_concluded(channel_id).await? {
                tracing::info!(channel = %channel_id, nonce, "a watched channel's dispute concluded");
            }
        }
        ChainEvent::Revealed { .. } => {}
    }
    Ok(())
}

/// The answer's hash when one was sent.
async fn work_on(
    w: &Watchtower,
    channel: WatchedState,
    memory: &mut Memory,
) -> Result<Option<B256>> {
    let id = channel.channel_id();
    if channel.needs_check {
        let record = w.chain.dispute_record(id).await?;
        match record.status {
            ChannelStatus::Dispute => {
                w.store.record_dispute(id, record.nonce).await?;
            }
            ChannelStatus::Concluded => {
                w.store.record_concluded(id).await?;
            }
            ChannelStatus::Open => {}
        }
        w.store.record_checked(id).await?;
        // Decide on what is stored now, not on the row read before.
        return match w.store.watched_state(id).await? {
            Some(current) if current.is_stale_dispute() => answer(w, current, memory).await,
            _ => Ok(None),
        };
    }
    if channel.is_stale_dispute() {
        return answer(w, channel, memory).await;
    }
    Ok(None)
}

/// Answers a dispute that holds an older state than the watched one, unless the chain says it is no longer
/// needed or possible. Sent once: an answer already sent is waited for, and sent again only if it reverted.
async fn answer(
    w: &Watchtower,
    channel: WatchedState,
    memory: &mut Memory,
) -> Result<Option<B256>> {
    let id = channel.channel_id();
    if let Some(sent) = channel.answer_in_flight() {
        match w.tx.wait(sent, 1, Duration::ZERO).await {
            // Mined: its `Responded` event raises the recorded dispute nonce.
            Ok(_) => return Ok(None),
            // Not mined yet (or the receipt could not be read): look again next tick rather than pay twice.
            Err(Error::TxTimeout { .. }) => return Ok(None),
            Err(Error::TxReverted { .. }) => {
                tracing::warn!(channel = %id, tx = %sent, "the answer reverted; answering again if still needed");
                w.store.record_answer(id, None).await?;
            }
            Err(e) => return Err(e),
        }
    }
    let record = w.chain.dispute_record(id).await?;
    match record.status {
        ChannelStatus::Concluded => {
            w.store.record_concluded(id).await?;
            return Ok(None);
        }
        // A dispute that is not on chain (a reorganisation took it): nothing to answer.
        ChannelStatus::Open => return Ok(None),
        ChannelStatus::Dispute => {}
    }
    if record.nonce >= channel.nonce() {
        // Someone answered already with a state at least as new.
        w.store.record_dispute(id, record.nonce).await?;
        return Ok(None);
    }
    if record.now >= record.consensus_end {
        if memory.missed.insert(id) {
            tracing::error!(
                channel = %id,
                disputed = record.nonce,
                watched = channel.nonce(),
                consensus_end = record.consensus_end,
                "the consensus window closed before the stale dispute was answered"
            );
        }
        return Ok(None);
    }
    let signed = &channel.signed;
    // A crash between this send and the record below resends once after the restart if the first answer is not
    // mined by then; that second one reverts on chain, costing gas but nothing else.
    let tx =
        w.tx.respond_for(
            channel.params.user,
            channel.params.node,
            &signed.state,
            &signed.user_signature,
            &signed.node_signature,
        )
        .await?;
    w.store
        .record_answer(id, Some((tx, channel.nonce())))
        .await?;
    tracing::warn!(
        channel = %id,
        disputed = record.nonce,
        answered = channel.nonce(),
        %tx,
        "a stale dispute was answered with the watched state"
    );
    Ok(Some(tx))
}
