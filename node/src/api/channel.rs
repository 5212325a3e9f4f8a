//! Channel setup and the update pipeline: validate with spoke-protocol, check what only the node can check (the
//! chain), persist the state with both signatures, and only then answer with the node's signature.

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use spoke_protocol::{
    accept_proposal, commitment_digest, signature_hex, signature_hex_option, verify, ChannelParams,
    ChannelState, Context, Error as Protocol, Proposal, Side, Signature, SignedState, Update,
};

use super::{auth::User, error::ApiJson, now, ApiError, AppState};
use crate::store::{ChannelRecord, CommitmentSignatures, StoredUpdate, Written};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupResponse {
    params: ChannelParams,
    /// The newest state both sides signed; absent while only the opening state exists.
    latest: Option<SignedState>,
    nonce: u64,
}

/// `POST /channel/setup`: opens (or finds) the user's channel of the pair's current on-chain epoch.
pub async fn setup(
    State(state): State<AppState>,
    user: User,
) -> Result<Json<SetupResponse>, ApiError> {
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
    let nonce = state
        .store
        .latest(record.channel_id)
        .await?
        .map(|u| u.nonce)
        .unwrap_or(0);
    Ok(Json(SetupResponse {
        params,
        latest: latest.and_then(signed),
        nonce,
    }))
}

fn signed(u: StoredUpdate) -> Option<SignedState> {
    Some(SignedState {
        state: u.state,
        user_signature: u.user_signature?,
        node_signature: u.node_signature?,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProposeRequest {
    proposal: Proposal,
    /// For a withdrawal: the user's signature on its commitment.
    #[serde(default, with = "signature_hex_option")]
    commitment_signature: Option<Signature>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposeResponse {
    nonce: u64,
    #[serde(with = "signature_hex")]
    signature: Signature,
    /// For a withdrawal: the node's signature on its commitment, released together with the state that deducts it.
    #[serde(with = "signature_hex_option", skip_serializing_if = "Option::is_none")]
    commitment_signature: Option<Signature>,
}

fn refused(e: Protocol) -> ApiError {
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
    let proposal = request.proposal;
    let record = state.store.channel_of_user(user.0).await?.ok_or_else(|| {
        ApiError::not_found(
            "NO_CHANNEL",
            "set the channel up first: POST /channel/setup",
        )
    })?;
    let params = state.params(user.0, record.epoch);

    let latest = state
        .store
        .latest(record.channel_id)
        .await?
        .ok_or_else(|| ApiError::not_found("NO_CHANNEL", "the channel has no state"))?;
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
        if let Some(answer) = stored.and_then(|stored| stored_answer(stored, &proposal)) {
            return Ok(Json(answer));
        }
    }
    let ctx = Context {
        now: now(),
        proposer: Side::User,
        params: &params,
    };
    let accepted = accept_proposal(&latest.state, &proposal, &ctx).map_err(refused)?;
    let next = accepted.state;
    check_with_chain(&state, &latest.state, &proposal.update).await?;

    let dom = params.domain();
    let commitment_signatures = match (
        proposal.update.commitment(&next),
        request.commitment_signature,
    ) {
        (Some(commitment), Some(user)) => {
            let digest = commitment_digest(&dom, &commitment);
            verify(&digest, &user, Side::User, params.user).map_err(refused)?;
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
    match state.store.append(&stored).await {
        Ok(Written::Stored | Written::AlreadyStored) => {}
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
    Ok(Json(ProposeResponse {
        nonce: stored.nonce,
        signature,
        commitment_signature,
    }))
}

/// The answer already given to `proposal`, if `stored` is that very proposal with the node's signature.
fn stored_answer(stored: StoredUpdate, proposal: &Proposal) -> Option<ProposeResponse> {
    if stored.update.as_ref() != Some(&proposal.update)
        || stored.user_signature != Some(proposal.signature)
    {
        return None;
    }
    Some(ProposeResponse {
        nonce: stored.nonce,
        signature: stored.node_signature?,
        commitment_signature: stored.commitment_signatures.map(|c| c.node),
    })
}

/// What the validator cannot know: a deposit is counted only up to what the chain shows, confirmed. A user's
/// withdrawal needs nothing more (the validator checked the balance). Updates that need the node's routing
/// (locks, exchange) are refused until that lands.
async fn check_with_chain(
    state: &AppState,
    current: &ChannelState,
    update: &Update,
) -> Result<(), ApiError> {
    match update {
        Update::CountDeposit {
            asset,
            side,
            amount,
        } => {
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
            Ok(())
        }
        Update::Withdraw { .. } => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNSUPPORTED_UPDATE",
            "this node does not take this kind of update from a user yet",
        )),
    }
}
