//! Link payments (docs/PROTOCOL.md, "Link payments"): a payment to whoever holds a link's secret. The node locks
//! to the redeemer on the strength of the link key's signature, before it can know the preimage; the redeemer
//! then reveals the preimage by resolving that lock, and the node resolves the payer's.

use axum::{extract::State, http::StatusCode, Json};
use spoke_protocol::{
    recover, redemption_digest,
    wire::{CreateLinkRequest, ProposeResponse, RedeemLinkRequest, RedeemLinkResponse},
    Update,
};

use super::{
    auth::User,
    channel::accept_user_proposal,
    channel_of,
    error::ApiJson,
    now,
    payments::{check_collateral, new_payment},
    route, ApiError, AppState,
};
use crate::store::{PaymentStatus, Write};

/// `POST /links`: the payer's lock for a link payment. Nobody is locked to until the link is redeemed.
pub async fn create(
    State(state): State<AppState>,
    user: User,
    ApiJson(request): ApiJson<CreateLinkRequest>,
) -> Result<Json<ProposeResponse>, ApiError> {
    let Update::CreateLock { lock } = &request.proposal.update else {
        return Err(ApiError::bad_request("a link's proposal is a createLock"));
    };
    let payer = channel_of(&state, user.0).await?;
    let mut payment = new_payment(&state, &payer, lock, request.payee_expiry, now())?;
    payment.link_address = Some(request.link_address);
    // Nothing is set in motion before `accept_user_proposal` checks the payer's lock: a link's collateral is
    // found when it is redeemed. So the lock is checked once, there.
    if let Some(existing) = state.store.payment(payment.id).await? {
        payment = existing;
    }
    let done =
        accept_user_proposal(&state, user.0, request.proposal, None, Some(payment), None).await?;
    Ok(Json(done.finish(&state).await))
}

fn gone(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::GONE, code, message)
}

/// `POST /links/redeem`: locks a link's payment to the caller, who proved it holds the link key. The first valid
/// redemption wins; the same redeemer asking again gets the same answer.
pub async fn redeem(
    State(state): State<AppState>,
    user: User,
    ApiJson(request): ApiJson<RedeemLinkRequest>,
) -> Result<Json<RedeemLinkResponse>, ApiError> {
    let redeemer = channel_of(&state, user.0).await?;
    let params = state.params(user.0, redeemer.epoch);
    let digest = redemption_digest(&params.domain(), request.hashlock, redeemer.channel_id);
    let signer = recover(&digest, &request.signature)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "BAD_SIGNATURE", e.to_string()))?;
    let links: Vec<_> = state
        .store
        .payments_by_hashlock(request.hashlock)
        .await?
        .into_iter()
        .filter(|p| p.link_address.is_some())
        .collect();
    let Some(link) = links.into_iter().find(|p| p.link_address == Some(signer)) else {
        return Err(ApiError::not_found(
            "UNKNOWN_LINK",
            "no link payment answers to this secret: it may be mistyped",
        ));
    };
    // One redemption at a time per link: the first valid one wins.
    let _guard = state.hub.lock(link.id).await;
    let mut payment = state.store.payment(link.id).await?.unwrap_or(link);
    let answer = RedeemLinkResponse {
        payment_id: payment.id,
        asset: payment.asset,
        amount: payment.amount,
    };
    match (payment.payee, payment.status) {
        (Some(payee), _) if payee == user.0 => {
            drop(_guard);
            route::drive_for(&state, redeemer.channel_id, true).await;
            return Ok(Json(answer));
        }
        (Some(_), _) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "LINK_REDEEMED",
                "this link was already redeemed",
            ))
        }
        (None, PaymentStatus::Accepted) => {}
        (None, PaymentStatus::Refunding | PaymentStatus::Failed) => {
            return Err(gone(
                "LINK_EXPIRED",
                "this link expired: its payment went back to the payer",
            ))
        }
        (None, status) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "LINK_REDEEMED",
                format!("this link's payment is {}", status.as_str()),
            ))
        }
    }
    if user.0 == payment.payer {
        return Err(ApiError::bad_request(
            "the payer cannot redeem its own link; it expires back to the payer",
        ));
    }
    let lock = route::payee_lock(&payment);
    if spoke_protocol::check_forward(&route::payer_lock(&payment), &lock, now(), &state.timing)
        .is_err()
    {
        return Err(gone(
            "LINK_EXPIRED",
            "this link is too close to its expiry to be redeemed safely",
        ));
    }
    payment.payee = Some(user.0);
    payment.payee_channel = Some(redeemer.channel_id);
    check_collateral(&state, &redeemer, &payment).await?;
    payment.updated_at = now();
    state.store.write(&[Write::Payment(&payment)]).await?;
    drop(_guard);
    route::notify(&state, &payment);
    route::drive_for(&state, redeemer.channel_id, true).await;
    Ok(Json(answer))
}
