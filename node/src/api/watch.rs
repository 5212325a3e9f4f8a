//! The node's background work: it reads the ChannelManager's events from a stored block cursor (a preimage in
//! the registry settles every lock under its hashlock; a dispute freezes the channel), reveals preimages for
//! payers who do not come back to countersign, follows its channels' disputes to their payouts (`dispute`), and
//! moves payments along whose time ran out. Beside that loop, a second one watches the mempool (`mempool`), so a
//! dispute freezes its channel when it is broadcast, not only once mined, and a third deletes expired logins.

use std::time::Duration;

use spoke_protocol::{check_forward, sha256};

use super::{
    dispute::{self, Seen},
    mempool, now, route, AppState,
};
use crate::{
    chain::ChainEvent,
    store::{PaymentStatus, Write},
    Result,
};

/// The cursor's name in the store.
const CURSOR: &str = "channel_manager";
/// Most blocks read in one request.
const SPAN: u64 = 2_000;
/// Most payments looked at per pass and status.
const BATCH: u32 = 200;

/// Starts the background loops; they run until the process ends or the task is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    // One task, so aborting it stops both; two loops, because a pass of the first can wait half a minute for a
    // transaction to be mined, and a dispute broadcast meanwhile must still freeze its channel at once.
    tokio::spawn(async move {
        tokio::join!(
            chain_loop(state.clone()),
            mempool_loop(state.clone()),
            prune_loop(state)
        );
    })
}

/// How often expired login nonces and sessions are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

async fn prune_loop(state: AppState) {
    let mut ticker = tokio::time::interval(PRUNE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match state.store.prune_logins(now()).await {
            Ok(0) => {}
            Ok(gone) => tracing::debug!(gone, "deleted expired login nonces and sessions"),
            Err(e) => tracing::warn!(error = %e, "deleting expired logins failed; retrying later"),
        }
    }
}

async fn chain_loop(state: AppState) {
    let mut disputes = dispute::Memory::default();
    let mut ticker = tokio::time::interval(state.watch_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = watch_chain(&state).await {
            tracing::warn!(error = %e, "reading the chain failed; retrying on the next tick");
        }
        if let Err(e) = dispute::follow_disputes(&state, &mut disputes).await {
            tracing::warn!(error = %e, "following disputes failed; retrying on the next tick");
        }
        if let Err(e) = reveal_for_absent_payers(&state).await {
            tracing::warn!(error = %e, "revealing preimages failed; retrying on the next tick");
        }
        if let Err(e) = move_timed_out(&state).await {
            tracing::warn!(error = %e, "moving timed-out payments failed");
        }
    }
}

async fn mempool_loop(state: AppState) {
    let mut memory = mempool::Mempool::default();
    let mut ticker = tokio::time::interval(state.watch_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = mempool::watch_mempool(&state, &mut memory).await {
            tracing::warn!(error = %e, "watching the mempool failed; retrying on the next tick");
        }
    }
}

/// Reads the events since the cursor, up to the chain's head: a reveal counts the moment it is mined, and so
/// does a dispute (it freezes the channel before it is final, if the mempool watch has not already).
pub async fn watch_chain(state: &AppState) -> Result<()> {
    let head = state.chain.head().await?;
    let mut from = match state.store.cursor(CURSOR).await? {
        Some(block) => block + 1,
        None => 0,
    };
    while from <= head {
        let to = head.min(from + SPAN - 1);
        for event in state.chain.events(from, to).await? {
            handle(state, event).await?;
        }
        state.store.set_cursor(CURSOR, to).await?;
        from = to + 1;
    }
    Ok(())
}

async fn handle(state: &AppState, event: ChainEvent) -> Result<()> {
    match event {
        ChainEvent::Revealed { hashlock, preimage } => {
            if sha256(preimage) != hashlock {
                return Ok(());
            }
            for mut p in state.store.payments_by_hashlock(hashlock).await? {
                if p.preimage.is_some()
                    || !matches!(
                        p.status,
                        PaymentStatus::Forwarded | PaymentStatus::Refunding
                    )
                {
                    continue;
                }
                // The payee proved it holds the preimage: the payer's lock is the node's.
                tracing::info!(payment = %p.id, "preimage seen in the registry");
                p.preimage = Some(preimage);
                p.status = PaymentStatus::Resolved;
                p.revealed = true;
                p.updated_at = now();
                state.store.write(&[Write::Payment(&p)]).await?;
                route::notify(state, &p);
                route::drive(state, vec![p.payer_channel]).await;
            }
        }
        ChainEvent::Disputed { channel_id, nonce } => {
            if let Some(channel) = state.store.channel(channel_id).await? {
                // The dispute pass that follows in the same tick answers it if it is stale.
                dispute::freeze(state, &channel, Seen::Mined { nonce }).await?;
            }
        }
        // The dispute pass reads where a frozen channel stands from the chain itself.
        ChainEvent::Responded { .. } | ChainEvent::Concluded { .. } => {}
    }
    Ok(())
}

/// A payment whose payee was paid but whose payer has not countersigned the node's resolve: after
/// `reveal_after` — or sooner when the payer's lock nears its expiry — the node puts the preimage in the
/// registry, so the lock is the node's on chain whatever the payer does, and resolves off chain when the payer
/// returns.
pub async fn reveal_for_absent_payers(state: &AppState) -> Result<()> {
    let now = now();
    let timing = state.timing;
    let due: Vec<_> = state
        .store
        .payments_with_status(PaymentStatus::Resolved, BATCH)
        .await?
        .into_iter()
        .filter(|p| !p.revealed && p.preimage.is_some())
        .filter(|p| {
            now.saturating_sub(p.updated_at) >= state.reveal_after.as_secs()
                || p.payer_expiry.saturating_sub(now)
                    <= timing.reveal_time + 2 * timing.safety_margin
        })
        .collect();
    if due.is_empty() {
        return Ok(());
    }
    let preimages: Vec<_> = due.iter().filter_map(|p| p.preimage).collect();
    let hash = state.tx.reveal_many(&preimages).await?;
    state
        .tx
        .wait(hash, 1, Duration::from_secs(timing.reveal_time))
        .await?;
    tracing::info!(count = due.len(), tx = %hash, "revealed preimages for payers who are away");
    for mut p in due {
        // Re-read: the payer may have countersigned meanwhile.
        if let Some(current) = state.store.payment(p.id).await? {
            p = current;
        }
        p.revealed = true;
        state.store.write(&[Write::Payment(&p)]).await?;
    }
    Ok(())
}

/// Payments whose time ran out move on: one that can no longer be forwarded with the margins is refunded, and a
/// node lock past its expiry is cancelled (both by driving the payee's channel).
pub async fn move_timed_out(state: &AppState) -> Result<()> {
    let now = now();
    let mut channels = Vec::new();
    for p in state
        .store
        .payments_with_status(PaymentStatus::Accepted, BATCH)
        .await?
    {
        if check_forward(
            &route::payer_lock(&p),
            &route::payee_lock(&p),
            now,
            &state.timing,
        )
        .is_err()
        {
            match p.payee_channel {
                Some(channel) => channels.push(channel),
                None => {
                    // An unredeemed link: nobody was locked to, so the payer's lock goes straight back.
                    let mut p = p;
                    p.status = PaymentStatus::Refunding;
                    p.updated_at = now;
                    state.store.write(&[Write::Payment(&p)]).await?;
                    route::notify(state, &p);
                    channels.push(p.payer_channel);
                }
            }
        }
    }
    for p in state
        .store
        .payments_with_status(PaymentStatus::Forwarded, BATCH)
        .await?
    {
        if p.payee_expiry <= now {
            channels.extend(p.payee_channel);
        }
    }
    channels.sort();
    channels.dedup();
    if !channels.is_empty() {
        route::drive(state, channels).await;
    }
    Ok(())
}
