//! Channel setup and the update pipeline: validate with spoke-protocol, check what only the node can check (the
//! chain), persist the state with both signatures, and only then answer with the node's signature.

use axum::{extract::State, http::StatusCode, Json};
use spoke_protocol::{
    accept_proposal, commitment_digest, verify_signer,
    wire::{ChannelResponse, CountersignRequest, ProposeRequest, ProposeResponse},
    Address, ChannelState, Context, Error as Protocol, Proposal, Side, Signature, SignedCommitment,
    SignedState, Update, B256,
};

use super::{
    auth::User,
    channel_of,
    error::ApiJson,
    now,
    payments::{judge_countersignature, nothing_waits, Countersigned, JudgedCountersignature},
    route, ApiError, AppState,
};
use crate::store::{
    ChannelRecord, CommitmentSignatures, Payment, PaymentStatus, StoredUpdate, Write,
};

/// `POST /channel/setup`: opens (or finds) the user's channel of the pair's current on-chain epoch.
pub async fn setup(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<ChannelResponse>, ApiError> {
    let epoch = state.chain.current_epoch(user.0, state.node).await?;
    let params = state.params(user.0, epoch);
    let record = ChannelRecord {
        channel_id: params.channel_id(),
        user: user.0,
        epoch,
    };
    state
        .store
        .open_channel(&record, &ChannelState::initial(record.channel_id))
        .await?;
    let latest = state.store.latest_double_signed(record.channel_id).await?;
    Ok(Json(ChannelResponse {
        params,
        latest: latest.and_then(signed),
    }))
}

fn signed(u: StoredUpdate) -> Option<SignedState> {
    Some(SignedState {
        state: u.state,
        user_signature: u.user_signature?,
        node_signature: u.node_signature?,
    })
}

pub(super) fn refused(e: Protocol) -> ApiError {
    match e {
        Protocol::StaleNonce { .. } | Protocol::NonceGap { .. } => {
            ApiError::new(StatusCode::CONFLICT, "STALE_NONCE", e.to_string())
        }
        Protocol::WrongSigner { .. } | Protocol::MalformedSignature(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "BAD_SIGNATURE", e.to_string())
        }
        _ => ApiError::new(StatusCode::BAD_REQUEST, "INVALID_UPDATE", e.to_string()),
    }
}

/// `POST /channel/propose`: the user's signed update. Answered with the node's signature on the new state, after
/// both signatures are durable. A retry of a stored proposal gets the same answer.
pub async fn propose(
    State(state): State<AppState>,
    user: User,
    ApiJson(request): ApiJson<ProposeRequest>,
) -> Result<Json<ProposeResponse>, ApiError> {
    if matches!(request.proposal.update, Update::CreateLock { .. }) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "USE_PAY",
            "a lock is a payment: send it to POST /pay with its recipient",
        ));
    }
    let submit = request.submit;
    let done = accept_user_proposal(
        &state,
        user.0,
        request.proposal,
        request.commitment_signature,
        None,
        request.countersign.as_ref(),
    )
    .await?;
    let withdrawal = done.withdrawal.clone();
    let mut response = done.finish(&state).await;
    if let (true, Some((epoch, signed))) = (submit, withdrawal) {
        // The state and both commitment signatures are durable; the chain is asked only now. If it refuses, the
        // user still has the commitment and may send it.
        match state.tx.withdraw(user.0, epoch, &signed).await {
            Ok(hash) => response.withdrawal_tx = Some(hash),
            Err(e) => tracing::warn!(error = %e, "submitting a user's withdrawal failed"),
        }
    }
    Ok(Json(response))
}

/// `POST /payments/resolve`: the payee's `resolveLock` of the node's lock, with the preimage. The same pipeline as
/// `/channel/propose`, refusing any other kind.
pub async fn resolve(
    state: State<AppState>,
    user: User,
    ApiJson(request): ApiJson<ProposeRequest>,
) -> Result<Json<ProposeResponse>, ApiError> {
    if !matches!(request.proposal.update, Update::ResolveLock { .. }) {
        return Err(ApiError::bad_request("this endpoint takes a resolveLock"));
    }
    propose(state, user, ApiJson(request)).await
}

/// `POST /payments/cancel`: a `cancelLock` — the payee turning a payment down, or the payer taking back its own
/// expired lock.
pub async fn cancel(
    state: State<AppState>,
    user: User,
    ApiJson(request): ApiJson<ProposeRequest>,
) -> Result<Json<ProposeResponse>, ApiError> {
    if !matches!(request.proposal.update, Update::CancelLock { .. }) {
        return Err(ApiError::bad_request("this endpoint takes a cancelLock"));
    }
    propose(state, user, ApiJson(request)).await
}

/// `GET /channel/restore`: what a client that lost its store needs to resume.
pub async fn restore(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<ChannelResponse>, ApiError> {
    let record = channel_of(&state, user.0).await?;
    let latest = state.store.latest_double_signed(record.channel_id).await?;
    Ok(Json(ChannelResponse {
        params: state.params(user.0, record.epoch),
        latest: latest.and_then(signed),
    }))
}

/// A user proposal the node accepted and countersigned, and what it set in motion.
#[derive(Debug)]
pub(super) struct AcceptedUpdate {
    pub response: ProposeResponse,
    /// Channels where the node may now have something to propose.
    drive: Vec<B256>,
    /// A payment whose status changed.
    payment: Option<Payment>,
    /// For a withdrawal: the channel's epoch and the co-signed commitment.
    withdrawal: Option<(u64, SignedCommitment)>,
    /// What the countersignature that came with the proposal made ready.
    countersigned: Countersigned,
    /// The node's proposal in the payment's other channel, committed with this update.
    onward: Option<route::Proposed>,
}

impl AcceptedUpdate {
    /// Sets in motion what the update and the countersignature that came with it made ready (outside every channel
    /// mutex) and returns the answer. Both usually name the user's channel, which is driven once.
    pub async fn finish(self, state: &AppState) -> ProposeResponse {
        let (payment, mut drive) = self.countersigned.into_parts();
        // The onward channel awaits its user's countersignature now: driving it would find nothing to do.
        let onward_channel = self.onward.as_ref().map(|o| o.channel_id);
        if let Some(onward) = self.onward {
            onward.push(state);
        }
        for p in payment.iter().chain(&self.payment) {
            route::notify(state, p);
        }
        for channel in self.drive {
            if !drive.contains(&channel) {
                drive.push(channel);
            }
        }
        drive.retain(|c| Some(*c) != onward_channel);
        route::drive(state, drive).await;
        self.response
    }
}

/// The pipeline every user update goes through, under the channel's mutex: the validator, the checks only the
/// node can make (chain, payments), persist with both signatures (and any payment change, in the same
/// transaction), then answer. A countersignature on the node's proposal that `proposal` follows (`countersign`)
/// is judged first and stored in the same transaction; if the proposal is refused, it is stored alone, as
/// `POST /channel/countersign` would.
pub(super) async fn accept_user_proposal(
    state: &AppState,
    user: Address,
    proposal: Proposal,
    commitment_signature: Option<Signature>,
    new_payment: Option<Payment>,
    countersign: Option<&CountersignRequest>,
) -> Result<AcceptedUpdate, ApiError> {
    let record = channel_of(state, user).await?;
    let (accepted, countersigned_alone) = {
        let _guard = state.hub.lock(record.channel_id).await;
        refuse_if_frozen(state, record.channel_id).await?;
        let mut latest = state
            .store
            .latest(record.channel_id)
            .await?
            .ok_or_else(|| ApiError::not_found("NO_CHANNEL", "the channel has no state"))?;
        let judged = match countersign {
            Some(c) => judge_countersign(state, &record, &latest, c).await?,
            None => None,
        };
        if let Some(j) = &judged {
            latest.user_signature = Some(j.signature());
        }
        let accepted = accept_locked(
            state,
            &record,
            latest,
            proposal,
            commitment_signature,
            new_payment,
            judged.as_ref(),
        )
        .await;
        match (accepted, judged) {
            (Ok(mut done), Some(j)) => {
                done.countersigned = j.stored(state);
                (Ok(done), None)
            }
            (Err(refusal), Some(j)) => {
                state.store.write(&j.writes()).await?;
                (Err(refusal), Some(j.stored(state)))
            }
            (accepted, None) => (accepted, None),
        }
    };
    if let Some(c) = countersigned_alone {
        c.finish(state).await;
    }
    accepted
}

/// [`judge_countersignature`] for a countersignature sent with a proposal: of the state awaiting the user, or
/// one stored already (`None`).
async fn judge_countersign(
    state: &AppState,
    record: &ChannelRecord,
    latest: &StoredUpdate,
    countersign: &CountersignRequest,
) -> Result<Option<JudgedCountersignature>, ApiError> {
    if countersign.nonce == latest.nonce {
        return judge_countersignature(state, record, latest, countersign).await;
    }
    let Some(stored) = state
        .store
        .update_at(record.channel_id, countersign.nonce)
        .await?
    else {
        return Err(nothing_waits(countersign.nonce));
    };
    match judge_countersignature(state, record, &stored, countersign).await? {
        None => Ok(None),
        // Only the latest state can wait for the user's signature.
        Some(_) => Err(nothing_waits(countersign.nonce)),
    }
}

/// [`accept_user_proposal`] under the channel's mutex, on `latest` (countersigned already if `countersigned`,
/// whose writes go into the same batch).
async fn accept_locked(
    state: &AppState,
    record: &ChannelRecord,
    latest: StoredUpdate,
    proposal: Proposal,
    commitment_signature: Option<Signature>,
    new_payment: Option<Payment>,
    countersigned: Option<&JudgedCountersignature>,
) -> Result<AcceptedUpdate, ApiError> {
    let user = record.user;
    let params = state.params(user, record.epoch);
    // A proposal at a stored nonce may be a retry of what is stored: answer with the stored signature and sign
    // nothing new. Only then is the older update read; the usual proposal, at the next nonce, costs one read.
    if proposal.nonce <= latest.nonce {
        let stored = if proposal.nonce == latest.nonce {
            Some(latest.clone())
        } else {
            state
                .store
                .update_at(record.channel_id, proposal.nonce)
                .await?
        };
        if let Some(response) = stored.and_then(|stored| stored_answer(stored, &proposal)) {
            let withdrawal = stored_withdrawal(state, record.channel_id, proposal.nonce).await?;
            return Ok(AcceptedUpdate {
                response,
                drive: Vec::new(),
                payment: None,
                withdrawal: withdrawal.map(|w| (record.epoch, w)),
                countersigned: Countersigned::default(),
                onward: None,
            });
        }
    }
    if latest.awaits_user() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "PENDING_PROPOSAL",
            format!(
                "the node's proposal at nonce {} waits for your countersignature: GET /channel/pending",
                latest.nonce
            ),
        ));
    }
    let now = now();
    let user_key = state.store.user_key(user).await?;
    let ctx = Context {
        now,
        proposer: Side::User,
        params: &params,
        proposer_key: user_key.as_ref(),
    };
    let accepted = accept_proposal(&latest.state, &proposal, &ctx).map_err(refused)?;
    let next = accepted.state;
    let mut effects = check_user_update(
        state,
        record,
        &latest.state,
        &proposal.update,
        new_payment,
        now,
    )
    .await?;

    let dom = params.domain();
    let commitment_signatures = match (proposal.update.commitment(&next), commitment_signature) {
        (Some(commitment), Some(user)) => {
            let digest = commitment_digest(&dom, &commitment);
            verify_signer(&digest, &user, Side::User, params.user, user_key.as_ref())
                .map_err(refused)?;
            Some(CommitmentSignatures {
                user,
                node: state.signer.sign_digest(&digest).map_err(refused)?,
            })
        }
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "a withdrawal needs the user's signature on its commitment",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "only a withdrawal carries a commitment signature",
            ))
        }
        (None, None) => None,
    };
    let signature = state
        .signer
        .sign_digest(&accepted.digest)
        .map_err(refused)?;
    let stored = StoredUpdate {
        channel_id: record.channel_id,
        nonce: next.nonce,
        update: Some(proposal.update),
        state: next,
        user_signature: Some(proposal.signature),
        node_signature: Some(signature),
        commitment_signatures,
    };
    // The payment's next step in its other channel, when it can be taken now, commits with this update.
    let onward = match effects.payment.as_mut() {
        Some(p) => route::onward(state, p, now).await?,
        None => None,
    };
    // The countersignature on the state this one follows, if it came with it, commits with it.
    let mut writes = countersigned.map(|c| c.writes()).unwrap_or_default();
    writes.push(Write::Append(&stored));
    if let Some(p) = &effects.payment {
        writes.push(Write::Payment(p));
    }
    if let Some(o) = &onward {
        writes.push(Write::Append(&o.stored));
    }
    if let Some(id) = effects.quote {
        writes.push(Write::QuoteUsed(id));
    }
    crate::failpoint::hit("user-update:signed");
    match state.store.write(&writes).await {
        Ok(_) => crate::failpoint::hit("user-update:committed"),
        Err(crate::Error::QuoteTaken(id)) => {
            return Err(conflict(
                "QUOTE_USED",
                format!("quote {id} was already taken"),
            ));
        }
        Err(
            crate::Error::Equivocation { .. }
            | crate::Error::Conflict(_)
            | crate::Error::NonceGap { .. },
        ) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "STALE_NONCE",
                "another update took this nonce; resync",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let commitment_signature = stored.commitment_signatures.map(|c| c.node);
    let withdrawal = signed_commitment(&stored).map(|w| (record.epoch, w));
    // A resolve or a cancel frees a lock slot in this channel, which may let a payment waiting for one go on. No
    // other user update can, so the usual payment pays for no second look at the channel.
    let mut drive = effects.drive;
    if matches!(
        stored.update,
        Some(Update::ResolveLock { .. } | Update::CancelLock { .. })
    ) {
        drive.push(record.channel_id);
    }
    Ok(AcceptedUpdate {
        response: ProposeResponse {
            nonce: stored.nonce,
            signature,
            commitment_signature,
            payment_id: effects.payment.as_ref().map(|p| p.id),
            withdrawal_tx: None,
        },
        drive,
        payment: effects.payment,
        withdrawal,
        countersigned: Countersigned::default(),
        onward: onward.map(route::Onward::committed),
    })
}

/// A channel in dispute takes no more updates: the chain decides it now.
pub(super) async fn refuse_if_frozen(state: &AppState, channel_id: B256) -> Result<(), ApiError> {
    if state.store.is_frozen(channel_id).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "CHANNEL_FROZEN",
            "the channel is in a dispute on chain: it takes no more updates",
        ));
    }
    Ok(())
}

/// The answer already given to `proposal`, if `stored` is that very proposal with the node's signature.
fn stored_answer(stored: StoredUpdate, proposal: &Proposal) -> Option<ProposeResponse> {
    if stored.update.as_ref() != Some(&proposal.update)
        || stored.user_signature != Some(proposal.signature)
    {
        return None;
    }
    let payment_id = match &proposal.update {
        Update::CreateLock { lock } => Some(Payment::id_for(stored.channel_id, lock.id)),
        _ => None,
    };
    Some(ProposeResponse {
        nonce: stored.nonce,
        signature: stored.node_signature?,
        commitment_signature: stored.commitment_signatures.map(|c| c.node),
        payment_id,
        withdrawal_tx: None,
    })
}

/// The co-signed commitment of a stored withdrawal.
fn signed_commitment(stored: &StoredUpdate) -> Option<SignedCommitment> {
    let signatures = stored.commitment_signatures?;
    Some(SignedCommitment {
        commitment: stored.update.as_ref()?.commitment(&stored.state)?,
        user_signature: signatures.user,
        node_signature: signatures.node,
    })
}

async fn stored_withdrawal(
    state: &AppState,
    channel_id: B256,
    nonce: u64,
) -> Result<Option<SignedCommitment>, ApiError> {
    Ok(state
        .store
        .update_at(channel_id, nonce)
        .await?
        .as_ref()
        .and_then(signed_commitment))
}

#[derive(Debug, Default)]
struct Effects {
    payment: Option<Payment>,
    drive: Vec<B256>,
    /// An exchange: the quote it takes.
    quote: Option<B256>,
}

fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// What the validator cannot know: a deposit is counted only up to what the chain shows, confirmed; a lock is a
/// payment the node routes; a resolve or a cancel moves the payment behind the lock.
async fn check_user_update(
    state: &AppState,
    record: &ChannelRecord,
    current: &ChannelState,
    update: &Update,
    new_payment: Option<Payment>,
    now: u64,
) -> Result<Effects, ApiError> {
    match update {
        Update::CountDeposit {
            asset,
            side,
            amount,
        } => {
            if *side != Side::User {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_UPDATE",
                    "the node counts its own deposits",
                ));
            }
            let counted = current
                .asset(*asset)
                .map(|a| a.counted(*side))
                .unwrap_or_default();
            let on_chain = state
                .chain
                .confirmed_deposit(current.channel_id, *asset, *side)
                .await?;
            let wanted = counted.saturating_add(*amount);
            if wanted > on_chain {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "DEPOSIT_NOT_CONFIRMED",
                    format!(
                        "counting {amount} more would make {wanted} counted, but the chain shows {on_chain} \
                         confirmed for the {side}"
                    ),
                ));
            }
            Ok(Effects::default())
        }
        Update::Withdraw { .. } => Ok(Effects::default()),
        Update::CreateLock { lock } => {
            let payment = new_payment.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "USE_PAY",
                    "a lock is a payment: send it to POST /pay",
                )
            })?;
            if payment.payer_lock_id != lock.id
                || payment.amount != lock.amount
                || payment.asset != lock.asset
                || payment.hashlock != lock.hashlock
                || payment.payer_expiry != lock.expiry
            {
                return Err(ApiError::bad_request(
                    "the payment does not describe the lock it carries",
                ));
            }
            let drive = payment.payee_channel.into_iter().collect();
            Ok(Effects {
                payment: Some(payment),
                drive,
                quote: None,
            })
        }
        Update::ResolveLock { id, preimage } => {
            let Some(lock) = current.lock(*id) else {
                return Ok(Effects::default());
            };
            if lock.sender == Side::User {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "INVALID_UPDATE",
                    "the node resolves the locks paid to it",
                ));
            }
            let mut payment = state.store.payment(*id).await?;
            if let Some(p) = payment.as_mut() {
                p.preimage = Some(*preimage);
                if matches!(
                    p.status,
                    PaymentStatus::Forwarded | PaymentStatus::Refunding
                ) {
                    // Refunding: the payer's cancel has not been signed yet; the preimage wins.
                    p.status = PaymentStatus::Resolved;
                }
                p.updated_at = now;
            }
            let drive = payment.iter().map(|p| p.payer_channel).collect();
            Ok(Effects {
                payment,
                drive,
                quote: None,
            })
        }
        Update::CancelLock { id } => {
            let Some(lock) = current.lock(*id) else {
                return Ok(Effects::default());
            };
            if lock.sender == Side::Node {
                // The payee turns the payment down: the payer gets its lock back.
                let mut payment = state.store.payment(*id).await?;
                if let Some(p) = payment.as_mut() {
                    if p.status == PaymentStatus::Forwarded {
                        p.status = PaymentStatus::Refunding;
                        p.updated_at = now;
                    }
                }
                let drive = payment.iter().map(|p| p.payer_channel).collect();
                return Ok(Effects {
                    payment,
                    drive,
                    quote: None,
                });
            }
            // The payer takes back its own expired lock (the validator checked the expiry) — unless the node
            // already knows the preimage, from the payee or from the registry.
            let mut payment = state
                .store
                .payment(Payment::id_for(record.channel_id, *id))
                .await?;
            if payment
                .as_ref()
                .is_some_and(|p| p.preimage.is_some() || p.status == PaymentStatus::Completed)
            {
                return Err(conflict(
                    "PREIMAGE_KNOWN",
                    "the payee was paid: this lock resolves to the node, it cannot be cancelled",
                ));
            }
            let revealed = state.chain.revealed_at(lock.hashlock).await?;
            if revealed != 0 && revealed < lock.expiry {
                return Err(conflict(
                    "PREIMAGE_KNOWN",
                    "the preimage was revealed on chain before the lock expired",
                ));
            }
            if let Some(p) = payment.as_mut() {
                p.status = PaymentStatus::Failed;
                p.updated_at = now;
            }
            Ok(Effects {
                payment,
                drive: Vec::new(),
                quote: None,
            })
        }
        Update::Exchange { quote, .. } => {
            // The validator checked the node's signature and the expiry; the node checks it is its own live quote,
            // for this channel, taken once.
            match state.store.quote(quote.id).await? {
                Some((stored, _)) if stored != *quote || stored.channel_id != record.channel_id => {
                    Err(ApiError::bad_request("this is not the quote the node gave"))
                }
                Some((_, true)) => Err(conflict(
                    "QUOTE_USED",
                    format!("quote {} was already taken", quote.id),
                )),
                Some((_, false)) => Ok(Effects {
                    quote: Some(quote.id),
                    ..Effects::default()
                }),
                None => Err(ApiError::not_found(
                    "UNKNOWN_QUOTE",
                    format!("the node never gave quote {}", quote.id),
                )),
            }
        }
    }
}
