//! Payments: the payer's lock (`POST /pay`), the node's proposals waiting for the user (`GET /channel/pending`)
//! and their countersignatures (`POST /channel/countersign`), the keys payers encrypt to, and payment history.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use spoke_protocol::{
    accept_proposal, check_forward, commitment_digest, state_digest, verify_signer,
    wire::{
        CountersignRequest, CountersignResponse, KeyResponse, PayRequest, PaymentRecord,
        ProposeResponse,
    },
    Address, Context, Lock, Side, Signature, Update, WithdrawCommitment, B256,
};

use super::{
    auth::User,
    channel::{accept_user_proposal, refuse_if_frozen, refused},
    channel_of, collateral,
    error::ApiJson,
    now, route, ApiError, ApiQuery, AppState,
};
use crate::{
    hub::PendingProposal,
    store::{ChannelRecord, CommitmentSignatures, Payment, PaymentStatus, StoredUpdate, Write},
};

/// Sizes of an ECIES box: a compressed point, and a 32-byte preimage with its 16-byte tag.
const EPHEMERAL_KEY_LEN: usize = 33;
const CIPHERTEXT_LEN: usize = 48;

/// `POST /pay`: a hashlocked payment to another user of the node. The answer (the node's signature on the
/// payer's lock) comes once the lock and the payment are durable; the node then locks to the payee.
pub async fn pay(
    State(state): State<AppState>,
    user: User,
    ApiJson(request): ApiJson<PayRequest>,
) -> Result<Json<ProposeResponse>, ApiError> {
    let Update::CreateLock { lock } = &request.proposal.update else {
        return Err(ApiError::bad_request(
            "a payment's proposal is a createLock",
        ));
    };
    if request.encrypted_preimage.ephemeral_key.len() != EPHEMERAL_KEY_LEN
        || request.encrypted_preimage.ciphertext.len() != CIPHERTEXT_LEN
    {
        return Err(ApiError::bad_request(format!(
            "the encrypted preimage must be a {EPHEMERAL_KEY_LEN}-byte key and a {CIPHERTEXT_LEN}-byte ciphertext"
        )));
    }
    if request.recipient == user.0 {
        return Err(ApiError::bad_request(
            "a payment to yourself changes nothing",
        ));
    }
    let payee = state
        .store
        .channel_of_user(request.recipient)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "UNKNOWN_RECIPIENT",
                format!("{} has no channel with this node", request.recipient),
            )
        })?;
    let payer = channel_of(&state, user.0).await?;
    let now = now();
    let mut payment = new_payment(&state, &payer, lock, request.payee_expiry, now)?;
    payment.payee = Some(request.recipient);
    payment.payee_channel = Some(payee.channel_id);
    payment.encrypted_preimage = Some(request.encrypted_preimage);
    if let Some(existing) = state.store.payment(payment.id).await? {
        // A retry: the stored row is the payment, and the pipeline answers with the stored signature (or refuses
        // different content at the stored nonce). Nothing is checked or set in motion again.
        payment = existing;
    } else if collateral::node_balance(&state, payee.channel_id, payment.asset).await?
        < payment.amount
    {
        // Only a proposal the validator accepts may move the node's collateral. When the payee's channel already
        // holds enough, nothing moves before `accept_user_proposal` checks it, so it is not checked twice.
        check_backed(&state, &payer, &request.proposal).await?;
        check_collateral(&state, &payee, &payment).await?;
    }
    let done =
        accept_user_proposal(&state, user.0, request.proposal, None, Some(payment), None).await?;
    Ok(Json(done.finish(&state).await))
}

/// The payment a payer's lock starts, before it knows its payee: its size and its timing checked.
pub(super) fn new_payment(
    state: &AppState,
    payer: &ChannelRecord,
    lock: &Lock,
    payee_expiry: u64,
    now: u64,
) -> Result<Payment, ApiError> {
    if lock.amount < state.min_lock {
        return Err(ApiError::bad_request(format!(
            "the smallest payment this node routes is {}",
            state.min_lock
        )));
    }
    let payment = Payment {
        id: Payment::id_for(payer.channel_id, lock.id),
        payer: payer.user,
        payee: None,
        link_address: None,
        asset: lock.asset,
        amount: lock.amount,
        hashlock: lock.hashlock,
        payer_channel: payer.channel_id,
        payer_lock_id: lock.id,
        payer_expiry: lock.expiry,
        payee_channel: None,
        payee_expiry,
        encrypted_preimage: None,
        preimage: None,
        revealed: false,
        status: PaymentStatus::Accepted,
        created_at: now,
        updated_at: now,
    };
    check_forward(lock, &route::payee_lock(&payment), now, &state.timing)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "EXPIRY_MARGIN", e.to_string()))?;
    Ok(payment)
}

/// The payer's signed lock must pass the validator before it may set anything in motion (collateral above all).
pub(super) async fn check_backed(
    state: &AppState,
    payer: &ChannelRecord,
    proposal: &spoke_protocol::Proposal,
) -> Result<(), ApiError> {
    let latest = state
        .store
        .latest(payer.channel_id)
        .await?
        .ok_or_else(|| ApiError::not_found("NO_CHANNEL", "the channel has no state"))?;
    if !latest.awaits_user() {
        let params = state.params(payer.user, payer.epoch);
        let user_key = state.store.user_key(payer.user).await?;
        let ctx = Context {
            now: now(),
            proposer: Side::User,
            params: &params,
            proposer_key: user_key.as_ref(),
        };
        accept_proposal(&latest.state, proposal, &ctx).map_err(refused)?;
    }
    Ok(())
}

/// The node locks to the payee only what its side of the payee's channel holds. A payment short of it triggers
/// a collateral deposit and waits for it, a bounded time; if it does not arrive, the payment is refused before
/// the payer's funds are locked.
pub(super) async fn check_collateral(
    state: &AppState,
    payee: &ChannelRecord,
    payment: &Payment,
) -> Result<(), ApiError> {
    let outcome = collateral::ensure(state, payee, payment.asset, payment.amount).await?;
    if outcome == collateral::Collateral::Ready
        || collateral::wait_for(state, payee.channel_id, payment.asset, payment.amount).await?
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "INSUFFICIENT_COLLATERAL",
        format!(
            "the node is adding collateral to the recipient's channel (it needs the recipient online to count \
             it); retry in {} seconds",
            state.collateral.wait.as_secs().max(5)
        ),
    ))
}

/// `GET /channel/pending`: the node's proposal waiting for the user's countersignature, if any. Asking counts as
/// being online: payments waiting for this user are forwarded now.
pub async fn pending(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<Option<PendingProposal>>, ApiError> {
    let record = channel_of(&state, user.0).await?;
    if let Some(p) = route::pending(&state, record.channel_id).await? {
        return Ok(Json(Some(p)));
    }
    route::drive_for(&state, record.channel_id, true).await;
    Ok(Json(route::pending(&state, record.channel_id).await?))
}

/// `POST /channel/countersign`: the user's signature on the node's pending proposal.
pub async fn countersign(
    State(state): State<AppState>,
    user: User,
    ApiJson(request): ApiJson<CountersignRequest>,
) -> Result<Json<CountersignResponse>, ApiError> {
    store_countersignature(&state, user.0, &request)
        .await?
        .finish(&state)
        .await;
    Ok(Json(CountersignResponse {
        nonce: request.nonce,
    }))
}

/// A user's countersignature the node stored, and what it made ready.
#[derive(Debug, Default)]
#[must_use = "what the countersignature made ready is set in motion by finish"]
pub(super) struct Countersigned {
    payment: Option<Payment>,
    drive: Vec<B256>,
}

impl Countersigned {
    /// Sets in motion what the countersignature made ready (outside every channel mutex).
    pub async fn finish(self, state: &AppState) {
        if let Some(p) = &self.payment {
            route::notify(state, p);
        }
        route::drive(state, self.drive).await;
    }

    /// The payment it changed and the channels it made ready, for a caller that sets them in motion with its own.
    pub fn into_parts(self) -> (Option<Payment>, Vec<B256>) {
        (self.payment, self.drive)
    }
}

/// A countersignature judged good under the channel's mutex, not yet stored: what to write, and what to do once
/// it is durable.
#[derive(Debug)]
pub(super) struct JudgedCountersignature {
    channel_id: B256,
    epoch: u64,
    user: Address,
    nonce: u64,
    signature: Signature,
    commitment: Option<(WithdrawCommitment, CommitmentSignatures)>,
    payment: Option<Payment>,
    drive: Vec<B256>,
}

impl JudgedCountersignature {
    pub fn signature(&self) -> Signature {
        self.signature
    }

    /// What storing it writes, in the caller's batch.
    pub fn writes(&self) -> Vec<Write<'_>> {
        let mut writes = vec![Write::Signature {
            channel_id: self.channel_id,
            nonce: self.nonce,
            side: Side::User,
            signature: &self.signature,
        }];
        if let Some((_, signatures)) = &self.commitment {
            writes.push(Write::Commitment {
                channel_id: self.channel_id,
                nonce: self.nonce,
                signatures: *signatures,
            });
        }
        if let Some(p) = &self.payment {
            writes.push(Write::Payment(p));
        }
        writes
    }

    /// Once [`writes`](Self::writes) are durable: the node's own withdrawal goes to the chain, and the rest waits
    /// for [`Countersigned::finish`].
    pub fn stored(self, state: &AppState) -> Countersigned {
        if let Some((commitment, signatures)) = self.commitment {
            // Durable first; now the chain. A failure leaves the commitment stored, to be sent again.
            let signed = spoke_protocol::SignedCommitment {
                commitment,
                user_signature: signatures.user,
                node_signature: signatures.node,
            };
            let sender = state.tx.clone();
            let (user, epoch) = (self.user, self.epoch);
            tokio::spawn(async move {
                match sender.withdraw(user, epoch, &signed).await {
                    Ok(hash) => tracing::info!(tx = %hash, "the node's withdrawal sent"),
                    Err(e) => tracing::error!(error = %e, "sending the node's withdrawal failed"),
                }
            });
        }
        Countersigned {
            payment: self.payment,
            drive: self.drive,
        }
    }
}

/// Checks and stores `user`'s signature on the node's proposal at `request.nonce`: the body of
/// `POST /channel/countersign`. The same signature again is answered as stored; nothing is set in motion until
/// [`Countersigned::finish`].
pub(super) async fn store_countersignature(
    state: &AppState,
    user: Address,
    request: &CountersignRequest,
) -> Result<Countersigned, ApiError> {
    let record = channel_of(state, user).await?;
    let _guard = state.hub.lock(record.channel_id).await;
    refuse_if_frozen(state, record.channel_id).await?;
    let stored = state
        .store
        .update_at(record.channel_id, request.nonce)
        .await?
        .ok_or_else(|| nothing_waits(request.nonce))?;
    let Some(judged) = judge_countersignature(state, &record, &stored, request).await? else {
        return Ok(Countersigned::default());
    };
    state.store.write(&judged.writes()).await?;
    crate::failpoint::hit("countersign:committed");
    Ok(judged.stored(state))
}

pub(super) fn nothing_waits(nonce: u64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "STALE_NONCE",
        format!("nothing waits for a signature at nonce {nonce}"),
    )
}

/// Judges the user's signature `request` on `stored`, the update at its nonce, under the channel's mutex; `None`
/// when that same signature is stored already. Also works out what it ends: the payment whose payer's lock the
/// node's resolve or cancel closes, the node's own withdrawal commitment.
pub(super) async fn judge_countersignature(
    state: &AppState,
    record: &ChannelRecord,
    stored: &StoredUpdate,
    request: &CountersignRequest,
) -> Result<Option<JudgedCountersignature>, ApiError> {
    let user = record.user;
    let params = state.params(user, record.epoch);
    if stored.nonce == 0 || stored.node_signature.is_none() {
        return Err(nothing_waits(request.nonce));
    }
    match stored.user_signature {
        Some(existing) if existing == request.signature => {
            return Ok(None);
        }
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "STALE_NONCE",
                format!("the state at nonce {} is already signed", request.nonce),
            ))
        }
        None => {}
    }
    let digest = state_digest(&params.domain(), &stored.state);
    let user_key = state.store.user_key(user).await?;
    verify_signer(
        &digest,
        &request.signature,
        Side::User,
        user,
        user_key.as_ref(),
    )
    .map_err(refused)?;
    let now = now();
    let mut payment = None;
    let mut drive = vec![record.channel_id];
    match &stored.update {
        Some(Update::ResolveLock { id, .. }) | Some(Update::CancelLock { id })
            if stored.state.lock(*id).is_none() =>
        {
            let resolved = matches!(stored.update, Some(Update::ResolveLock { .. }));
            // The node's resolve or cancel of the payer's lock ends the payment.
            if let Some(mut p) = state
                .store
                .payment(Payment::id_for(record.channel_id, *id))
                .await?
            {
                p.status = if resolved {
                    PaymentStatus::Completed
                } else {
                    PaymentStatus::Failed
                };
                p.updated_at = now;
                payment = Some(p);
            } else if let Some(p) = state.store.payment(*id).await? {
                // The node's own expired lock to a payee went back: its payment may now be refunded.
                if p.status == PaymentStatus::Refunding {
                    drive.push(p.payer_channel);
                }
            }
        }
        _ => {}
    }
    // The node's withdrawal needs the user's signature on its commitment too, given with the state's.
    let commitment = stored
        .update
        .as_ref()
        .and_then(|u| u.commitment(&stored.state));
    let commitment_signatures = match (&commitment, request.commitment_signature) {
        (Some(c), Some(user_signature)) => {
            let digest = commitment_digest(&params.domain(), c);
            verify_signer(
                &digest,
                &user_signature,
                Side::User,
                user,
                user_key.as_ref(),
            )
            .map_err(refused)?;
            Some(CommitmentSignatures {
                user: user_signature,
                node: state.signer.sign_digest(&digest).map_err(refused)?,
            })
        }
        (Some(_), None) => {
            return Err(ApiError::bad_request(
                "the node's withdrawal needs your signature on its commitment too",
            ))
        }
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "only a withdrawal carries a commitment signature",
            ))
        }
        (None, None) => None,
    };
    Ok(Some(JudgedCountersignature {
        channel_id: record.channel_id,
        epoch: record.epoch,
        user,
        nonce: request.nonce,
        signature: request.signature,
        commitment: commitment.zip(commitment_signatures),
        payment,
        drive,
    }))
}

/// `GET /users/{address}/key`: the public key a user signs with, as the node recovered it from the user's login.
pub async fn user_key(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> Result<Json<KeyResponse>, ApiError> {
    let address: Address = address
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{address:?} is not an address")))?;
    let key = state.store.user_key(address).await?.ok_or_else(|| {
        ApiError::not_found(
            "UNKNOWN_RECIPIENT",
            format!("{address} has not logged in to this node"),
        )
    })?;
    Ok(Json(KeyResponse {
        address,
        public_key: key.to_compressed().to_vec().into(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /payments`: the user's payments, sent and received, newest first.
pub async fn history(
    State(state): State<AppState>,
    user: User,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<Vec<PaymentRecord>>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let payments = state.store.payments_of(user.0, limit).await?;
    Ok(Json(payments.iter().map(Payment::record).collect()))
}

/// `GET /payments/{id}`: one of the user's payments.
pub async fn payment(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Json<PaymentRecord>, ApiError> {
    let id: B256 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{id:?} is not a payment id")))?;
    match state.store.payment(id).await? {
        Some(p) if p.payer == user.0 || p.payee == Some(user.0) => Ok(Json(p.record())),
        _ => Err(ApiError::not_found(
            "UNKNOWN_PAYMENT",
            format!("you have no payment {id}"),
        )),
    }
}
