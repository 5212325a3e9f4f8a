//! Routing: the node's own proposals. After every change that may give the node something to do in a channel —
//! a payer's lock accepted, a payee's resolve, a countersignature, a user coming online — the API calls [`drive`],
//! which makes at most one node proposal per channel at a time and pushes it to the user.
//!
//! The work list is the payments table, so a restart resumes exactly where the channels stand.

use spoke_protocol::{
    check_forward, propose, Address, ChannelState, Context, Error as Protocol, Lock, Side, Update,
    B256,
};
use tokio::sync::OwnedMutexGuard;

use super::{collateral, now, AppState};
use crate::{
    hub::{Event, IncomingPayment, PendingProposal},
    store::{CollateralStatus, Payment, PaymentStatus, StoredUpdate, Write},
    Result,
};

/// Most payments looked at in one pass over a channel.
const BATCH: u32 = 32;

/// Gives the node's next proposal in each channel of `channels` (and in any channel that this makes ready), and
/// pushes it to its user.
pub async fn drive(state: &AppState, channels: Vec<B256>) {
    let mut work = channels;
    let mut rounds = 0;
    while let Some(channel_id) = work.pop() {
        rounds += 1;
        if rounds > 64 {
            tracing::warn!("routing work list did not drain; the rest waits for the next event");
            break;
        }
        match drive_one(state, channel_id, false).await {
            Ok(more) => work.extend(more),
            Err(e) => {
                tracing::error!(error = %e, channel = %channel_id, "could not drive a channel")
            }
        }
    }
}

/// [`drive`] for one channel whose user is known to be listening (it just asked), even without a WebSocket.
pub async fn drive_for(state: &AppState, channel_id: B256, listening: bool) {
    match drive_one(state, channel_id, listening).await {
        Ok(more) => drive(state, more).await,
        Err(e) => tracing::error!(error = %e, channel = %channel_id, "could not drive a channel"),
    }
}

/// The node proposal pending in a channel: the latest state when the node signed it and the user has not.
pub async fn pending(state: &AppState, channel_id: B256) -> Result<Option<PendingProposal>> {
    let Some(latest) = state.store.latest(channel_id).await? else {
        return Ok(None);
    };
    pending_of(state, &latest).await
}

async fn pending_of(state: &AppState, latest: &StoredUpdate) -> Result<Option<PendingProposal>> {
    let (Some(update), None, Some(signature)) = (
        latest.update.clone(),
        latest.user_signature,
        latest.node_signature,
    ) else {
        return Ok(None);
    };
    let payment = match &update {
        Update::CreateLock { lock } if lock.sender == Side::Node => {
            state.store.payment(lock.id).await?.map(|p| incoming(&p))
        }
        _ => None,
    };
    Ok(Some(PendingProposal {
        proposal: spoke_protocol::Proposal {
            nonce: latest.nonce,
            update,
            signature,
        },
        payment,
    }))
}

/// One step in one channel. Returns the channels this step made ready.
async fn drive_one(state: &AppState, channel_id: B256, listening: bool) -> Result<Vec<B256>> {
    let Some(record) = state.store.channel(channel_id).await? else {
        return Ok(Vec::new());
    };
    let params = state.params(record.user, record.epoch);
    let mut ready = Vec::new();
    let proposed = {
        let _guard = state.hub.lock(channel_id).await;
        let Some(latest) = state.store.latest(channel_id).await? else {
            return Ok(ready);
        };
        if state.store.is_frozen(channel_id).await? {
            return Ok(ready);
        }
        if latest.awaits_user() {
            // One proposal at a time: the next waits for the user's countersignature.
            return Ok(ready);
        }
        let now = now();
        let ctx = Context {
            now,
            proposer: Side::Node,
            params: &params,
            proposer_key: None,
        };
        let mut proposed = count_collateral(state, channel_id, &latest.state, &ctx).await?;
        let payments = if proposed.is_some() {
            Vec::new()
        } else {
            state.store.payments_to_drive(channel_id, BATCH).await?
        };
        // At most one collateral request per asset and pass: after the first, a deposit of that asset is in flight
        // or was refused, and asking again for the next waiting payment would only read the same again.
        let mut collateral_asked: Vec<Address> = Vec::new();
        for mut payment in payments {
            let payee_leg = payment.payee_channel == Some(channel_id)
                && payment.status == PaymentStatus::Accepted;
            let update = if payee_leg {
                if !listening && !state.hub.is_online(record.user) {
                    continue;
                }
                let lock = payee_lock(&payment);
                if let Err(e) = check_forward(&payer_lock(&payment), &lock, now, &state.timing) {
                    tracing::info!(payment = %payment.id, reason = %e, "too late to forward; refunding the payer");
                    payment.status = PaymentStatus::Refunding;
                    payment.updated_at = now;
                    state.store.write(&[Write::Payment(&payment)]).await?;
                    ready.push(payment.payer_channel);
                    continue;
                }
                Update::CreateLock { lock }
            } else {
                match payer_leg_update(&payment) {
                    Some(update) => update,
                    None => continue,
                }
            };
            match propose(&latest.state, update, &ctx, &state.signer) {
                Ok((next, proposal)) => {
                    if payee_leg {
                        payment.status = PaymentStatus::Forwarded;
                        payment.updated_at = now;
                    }
                    let stored = node_signed(channel_id, &next, &proposal);
                    let mut writes = vec![Write::Append(&stored)];
                    if payee_leg {
                        writes.push(Write::Payment(&payment));
                    }
                    state.store.write(&writes).await?;
                    crate::failpoint::hit("node-update:committed");
                    proposed = Some((
                        PendingProposal {
                            proposal,
                            payment: payee_leg.then(|| incoming(&payment)),
                        },
                        payee_leg.then_some(payment),
                    ));
                    break;
                }
                // Short of collateral or of lock slots: the payment waits for the next event in this channel.
                // When it is short of collateral, that event is a deposit the node now makes (unless one is in
                // flight already, which drives the channel when it is counted): payments that passed the collateral
                // check together, each seeing enough, may need more together than any one of them did.
                Err(
                    e @ (Protocol::InsufficientBalance { .. }
                    | Protocol::TooManyLocks { .. }
                    | Protocol::UnknownAsset(_)),
                ) => {
                    tracing::debug!(payment = %payment.id, reason = %e, "payment waits");
                    if payee_leg
                        && !collateral_asked.contains(&payment.asset)
                        && matches!(e, Protocol::InsufficientBalance { .. })
                    {
                        collateral_asked.push(payment.asset);
                        match collateral::ensure(state, &record, payment.asset, payment.amount)
                            .await
                        {
                            Ok(outcome) => {
                                tracing::info!(payment = %payment.id, ?outcome, "collateral for a waiting payment")
                            }
                            Err(refused) => {
                                tracing::warn!(payment = %payment.id, reason = ?refused, "no collateral for a waiting payment")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(payment = %payment.id, reason = %e, "the node cannot make this update");
                }
            }
        }
        if proposed.is_none() {
            proposed =
                cancel_expired_lock(state, channel_id, &latest.state, &ctx, &mut ready).await?;
        }
        if proposed.is_none() {
            proposed = reclaim_excess(state, channel_id, &latest.state, &ctx).await?;
        }
        proposed
    };
    if let Some((pending, forwarded)) = proposed {
        state
            .hub
            .push(record.user, Event::Proposal(Box::new(pending)));
        if let Some(p) = forwarded {
            notify(state, &p);
        }
    }
    Ok(ready)
}

/// The node's update of the payer's lock once the payment has ended at the payee: resolved with the preimage, or
/// cancelled for a refund.
fn payer_leg_update(payment: &Payment) -> Option<Update> {
    match (payment.status, payment.preimage) {
        (PaymentStatus::Resolved, Some(preimage)) => Some(Update::ResolveLock {
            id: payment.payer_lock_id,
            preimage,
        }),
        (PaymentStatus::Refunding, _) => Some(Update::CancelLock {
            id: payment.payer_lock_id,
        }),
        _ => None,
    }
}

/// The node's proposal in a payment's other channel, made while the user's update that moves the payment (the
/// payer's lock, the payee's resolve or cancel) is still to be committed, so that both are durable in one commit:
/// a payment has two durable steps in a row fewer. Holds that channel's mutex until [`Onward::committed`].
#[derive(Debug)]
pub(super) struct Onward {
    _guard: OwnedMutexGuard<()>,
    pub stored: StoredUpdate,
    proposed: Proposed,
}

/// A node proposal that is durable, to push to its user.
#[derive(Debug)]
pub(super) struct Proposed {
    pub channel_id: B256,
    user: Address,
    pending: PendingProposal,
}

impl Onward {
    /// The batch holding [`Onward::stored`] committed: the channel is free again, its proposal may go out.
    pub fn committed(self) -> Proposed {
        self.proposed
    }
}

impl Proposed {
    pub fn push(self, state: &AppState) {
        state
            .hub
            .push(self.user, Event::Proposal(Box::new(self.pending)));
    }
}

/// What [`drive_one`] would propose for `payment` in its other channel now, decided ahead of the commit that makes
/// the payment ready there. `None` whenever `drive_one` could choose something else or might wait: that channel
/// is busy (its mutex is taken, and is not waited for, since the caller holds another channel's), awaits the
/// user, is frozen, has other payments or collateral to see to first, or its user is offline for a new lock.
/// [`drive`] then takes the payment as before, after the commit. The payment's status moves with the lock
/// (`Forwarded`); the caller writes it in the same batch.
pub(super) async fn onward(
    state: &AppState,
    payment: &mut Payment,
    now: u64,
) -> Result<Option<Onward>> {
    let payee_leg = payment.status == PaymentStatus::Accepted;
    let (channel_id, update) = if payee_leg {
        let Some(channel_id) = payment.payee_channel else {
            return Ok(None);
        };
        let lock = payee_lock(payment);
        if check_forward(&payer_lock(payment), &lock, now, &state.timing).is_err() {
            return Ok(None);
        }
        (channel_id, Update::CreateLock { lock })
    } else {
        match payer_leg_update(payment) {
            Some(update) => (payment.payer_channel, update),
            None => return Ok(None),
        }
    };
    let Some(guard) = state.hub.try_lock(channel_id) else {
        return Ok(None);
    };
    let Some(record) = state.store.channel(channel_id).await? else {
        return Ok(None);
    };
    if payee_leg && !state.hub.is_online(record.user) {
        return Ok(None);
    }
    let Some(latest) = state.store.latest(channel_id).await? else {
        return Ok(None);
    };
    if latest.awaits_user()
        || state.store.is_frozen(channel_id).await?
        || !state
            .store
            .payments_to_drive(channel_id, 1)
            .await?
            .is_empty()
        || state
            .store
            .collateral(Some(channel_id))
            .await?
            .iter()
            .any(|d| d.status == CollateralStatus::Confirmed)
    {
        return Ok(None);
    }
    let params = state.params(record.user, record.epoch);
    let ctx = Context {
        now,
        proposer: Side::Node,
        params: &params,
        proposer_key: None,
    };
    // A refusal (short of collateral or lock slots) is drive_one's to log and wait on.
    let Ok((next, proposal)) = propose(&latest.state, update, &ctx, &state.signer) else {
        return Ok(None);
    };
    if payee_leg {
        payment.status = PaymentStatus::Forwarded;
        payment.updated_at = now;
    }
    Ok(Some(Onward {
        _guard: guard,
        stored: node_signed(channel_id, &next, &proposal),
        proposed: Proposed {
            channel_id,
            user: record.user,
            pending: PendingProposal {
                proposal,
                payment: payee_leg.then(|| incoming(payment)),
            },
        },
    }))
}

/// Collateral above the ceiling goes back to the node's own address: a withdrawal of the node's side, which the
/// user's client countersigns (with its commitment) the next time it is here; the node then sends it to the chain.
async fn reclaim_excess(
    state: &AppState,
    channel_id: B256,
    current: &ChannelState,
    ctx: &Context<'_>,
) -> Result<Option<(PendingProposal, Option<Payment>)>> {
    for entry in &current.assets {
        let ceiling = state.collateral.bounds(entry.asset).ceiling;
        if entry.balance_node <= ceiling {
            continue;
        }
        let update = Update::Withdraw {
            asset: entry.asset,
            side: Side::Node,
            amount: entry.balance_node - ceiling,
            recipient: state.node,
        };
        match propose(current, update, ctx, &state.signer) {
            Ok((next, proposal)) => {
                let stored = node_signed(channel_id, &next, &proposal);
                state.store.write(&[Write::Append(&stored)]).await?;
                tracing::info!(channel = %channel_id, asset = %entry.asset, "reclaiming collateral above the ceiling");
                return Ok(Some((
                    PendingProposal {
                        proposal,
                        payment: None,
                    },
                    None,
                )));
            }
            Err(e) => tracing::error!(error = %e, "the node cannot reclaim its excess collateral"),
        }
    }
    Ok(None)
}

/// The node's collateral deposit, once confirmed, is counted into its side of the channel.
async fn count_collateral(
    state: &AppState,
    channel_id: B256,
    current: &ChannelState,
    ctx: &Context<'_>,
) -> Result<Option<(PendingProposal, Option<Payment>)>> {
    for deposit in state.store.collateral(Some(channel_id)).await? {
        if deposit.status != CollateralStatus::Confirmed {
            continue;
        }
        let update = Update::CountDeposit {
            asset: deposit.asset,
            side: Side::Node,
            amount: deposit.amount,
        };
        match propose(current, update, ctx, &state.signer) {
            Ok((next, proposal)) => {
                let stored = node_signed(channel_id, &next, &proposal);
                state
                    .store
                    .write(&[
                        Write::Append(&stored),
                        Write::CollateralDone {
                            channel_id,
                            asset: deposit.asset,
                        },
                    ])
                    .await?;
                return Ok(Some((
                    PendingProposal {
                        proposal,
                        payment: None,
                    },
                    None,
                )));
            }
            Err(e) => tracing::error!(error = %e, "the node cannot count its own deposit"),
        }
    }
    Ok(None)
}

/// A lock the node sent that expired without its preimage being revealed on chain is cancelled back to the node,
/// so the collateral it holds returns to work, and the payment behind it is refunded to its payer.
async fn cancel_expired_lock(
    state: &AppState,
    channel_id: B256,
    current: &ChannelState,
    ctx: &Context<'_>,
    ready: &mut Vec<B256>,
) -> Result<Option<(PendingProposal, Option<Payment>)>> {
    for lock in current
        .locks
        .iter()
        .filter(|l| l.sender == Side::Node && l.expiry <= ctx.now)
    {
        let revealed = state.chain.revealed_at(lock.hashlock).await?;
        if revealed != 0 && revealed < lock.expiry {
            // The payee proved it in time: the lock is the payee's, and the payer's lock is the node's.
            continue;
        }
        let update = Update::CancelLock { id: lock.id };
        let (next, proposal) = propose(current, update, ctx, &state.signer)?;
        let stored = node_signed(channel_id, &next, &proposal);
        let mut payment = state
            .store
            .payment(lock.id)
            .await?
            .filter(|p| p.status == PaymentStatus::Forwarded);
        if let Some(p) = payment.as_mut() {
            p.status = PaymentStatus::Refunding;
            p.updated_at = ctx.now;
            ready.push(p.payer_channel);
        }
        let mut writes = vec![Write::Append(&stored)];
        if let Some(p) = payment.as_ref() {
            writes.push(Write::Payment(p));
        }
        state.store.write(&writes).await?;
        return Ok(Some((
            PendingProposal {
                proposal,
                payment: None,
            },
            payment,
        )));
    }
    Ok(None)
}

fn node_signed(
    channel_id: B256,
    next: &ChannelState,
    proposal: &spoke_protocol::Proposal,
) -> StoredUpdate {
    StoredUpdate {
        channel_id,
        nonce: next.nonce,
        update: Some(proposal.update.clone()),
        state: next.clone(),
        user_signature: None,
        node_signature: Some(proposal.signature),
        commitment_signatures: None,
    }
}

/// What the payee's client learns of a payment with the node's lock to it.
fn incoming(p: &Payment) -> IncomingPayment {
    IncomingPayment {
        id: p.id,
        payer: p.payer,
        encrypted_preimage: p.encrypted_preimage.clone(),
    }
}

/// The payer's lock of a payment, as it stands in the payer's channel.
pub fn payer_lock(p: &Payment) -> Lock {
    Lock {
        id: p.payer_lock_id,
        asset: p.asset,
        amount: p.amount,
        sender: Side::User,
        hashlock: p.hashlock,
        expiry: p.payer_expiry,
    }
}

/// The node's lock to the payee of a payment.
pub fn payee_lock(p: &Payment) -> Lock {
    Lock {
        id: p.id,
        asset: p.asset,
        amount: p.amount,
        sender: Side::Node,
        hashlock: p.hashlock,
        expiry: p.payee_expiry,
    }
}

/// Tells the payer and the payee where a payment stands.
pub fn notify(state: &AppState, p: &Payment) {
    let event = Event::Payment {
        id: p.id,
        status: p.status,
        payer: p.payer,
        payee: p.payee,
        asset: p.asset,
        amount: p.amount,
    };
    if let Some(payee) = p.payee {
        state.hub.push(payee, event.clone());
    }
    state.hub.push(p.payer, event);
}
