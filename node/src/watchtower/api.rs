//! The watchtower's HTTP API: register a state, list what is watched, health. Errors are the node's
//! `{ code, message }`; a refused state is a 4xx that says why, and changes nothing.

use axum::{
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use serde::Serialize;
use spoke_protocol::{Address, B256};

use super::{ExportedState, Watchtower};
use crate::{
    api::{ApiError, ApiJson},
    store::{Registered, WatchStatus},
    Error,
};

/// Larger than the node's 64 KiB: a client's export carries every preimage and withdrawal commitment it kept, so
/// it grows with the channel's history, although only its parameters and latest state are read.
const BODY_LIMIT: usize = 1024 * 1024;

/// The router; tests drive it with `oneshot`, `run` serves it.
pub fn router(watchtower: Watchtower) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/watchtower/states", get(list).post(register))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(watchtower)
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// `GET /health`: the watchtower answers and its database does.
async fn health(State(w): State<Watchtower>) -> Result<Json<Health>, ApiError> {
    w.store.watched_state(B256::ZERO).await?;
    Ok(Json(Health { status: "ok" }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RegisterResponse {
    channel_id: B256,
    epoch: u64,
    nonce: u64,
    /// `added`, `replaced` (an older state of the channel) or `unchanged` (the same state again).
    change: Registered,
}

/// `POST /watchtower/states` with a client's export (or a bare `{ "params", "latest" }`).
async fn register(
    State(w): State<Watchtower>,
    ApiJson(export): ApiJson<ExportedState>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let r = w.register(&export).await.map_err(refusal)?;
    Ok(Json(RegisterResponse {
        channel_id: r.channel_id,
        epoch: r.epoch,
        nonce: r.nonce,
        change: r.change,
    }))
}

/// The caller's mistakes as 4xx with what was wrong; anything else is the node's plain 500.
fn refusal(e: Error) -> ApiError {
    use spoke_protocol::Error as P;
    let (status, code) = match &e {
        Error::InvalidState(P::WrongSigner { .. } | P::MalformedSignature(_)) => {
            (StatusCode::BAD_REQUEST, "BAD_SIGNATURE")
        }
        Error::InvalidState(_) => (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_STATE"),
        Error::WrongDeployment { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "WRONG_DEPLOYMENT"),
        Error::NothingToWatch(_) => (StatusCode::UNPROCESSABLE_ENTITY, "NO_STATE"),
        Error::StaleState { .. } => (StatusCode::CONFLICT, "STALE_NONCE"),
        Error::ConflictingState { .. } => (StatusCode::CONFLICT, "CONFLICTING_STATE"),
        _ => return ApiError::from(e),
    };
    ApiError::new(status, code, e.to_string())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Watched {
    channel_id: B256,
    user: Address,
    node: Address,
    epoch: u64,
    nonce: u64,
    status: WatchStatus,
    /// The nonce the channel's dispute holds on chain, once one was seen.
    disputed_nonce: Option<u64>,
    /// The watchtower's answer to the dispute, once sent.
    answer_tx: Option<B256>,
}

#[derive(Debug, Serialize)]
struct WatchedList {
    states: Vec<Watched>,
}

/// `GET /watchtower/states`: every watched channel and where it stands.
async fn list(State(w): State<Watchtower>) -> Result<Json<WatchedList>, ApiError> {
    let states = w
        .store
        .watched_states()
        .await?
        .into_iter()
        .map(|s| Watched {
            channel_id: s.channel_id(),
            user: s.params.user,
            node: s.params.node,
            epoch: s.params.epoch,
            nonce: s.nonce(),
            status: s.status(),
            disputed_nonce: s.disputed_nonce,
            answer_tx: s.answer.map(|(tx, _)| tx),
        })
        .collect();
    Ok(Json(WatchedList { states }))
}
