//! The HTTP API (JSON). `app` builds the router; tests drive it with `oneshot`, the binary serves it.

pub mod admin;
mod auth;
mod channel;
pub mod collateral;
pub mod dispute;
mod error;
pub mod exchange;
pub mod limit;
mod links;
pub mod mempool;
mod payments;
mod route;
pub mod rpc_proxy;
pub mod watch;
mod ws;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::{DefaultBodyLimit, State},
    http::{HeaderValue, Method},
    routing::{get, post},
    Json, Router,
};
use serde::Serialize;
use spoke_protocol::{Address, ChannelParams, Signer, Timing, U256};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::{ApiError, ApiJson, ApiQuery};

use crate::{
    chain::Chain,
    hub::Hub,
    store::{ChannelRecord, Store},
    tx::TxSender,
    Result,
};

/// Requests are small JSON; anything larger is refused before it is read.
const BODY_LIMIT: usize = 64 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub chain: Arc<dyn Chain>,
    /// The node's key; its address is `node`.
    pub signer: Arc<Signer>,
    pub domain: String,
    pub chain_id: u64,
    pub channel_manager: Address,
    pub node: Address,
    pub tokens: Vec<Address>,
    pub timing: Timing,
    pub max_locks: usize,
    pub session_seconds: u64,
    pub login_seconds: u64,
    pub cors_origins: Vec<String>,
    /// Channel mutexes and live connections.
    pub hub: Arc<Hub>,
    /// The smallest lock the node routes, in base units of any asset.
    pub min_lock: U256,
    /// The node's one transaction sender.
    pub tx: Arc<TxSender>,
    pub collateral: Arc<collateral::CollateralPolicy>,
    /// How long the node waits for a payer to countersign the resolve of its lock before it reveals the preimage
    /// in the registry.
    pub reveal_after: std::time::Duration,
    /// How often the background work runs (chain events, reveals, timeouts).
    pub watch_interval: std::time::Duration,
    pub exchange: Arc<exchange::ExchangePolicy>,
    /// The operator's admin token (`/admin/…`, `/metrics`); without one the admin API is off.
    pub admin_token: Option<admin::AdminToken>,
    /// `/metrics` answers without the admin token.
    pub metrics_public: bool,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The request rate limits; the default enforces none.
    pub limits: Arc<limit::Limits>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("domain", &self.domain)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The parameters of `user`'s channel at `epoch`, as both sides must hold them.
    pub fn params(&self, user: Address, epoch: u64) -> ChannelParams {
        ChannelParams {
            chain_id: self.chain_id,
            contract: self.channel_manager,
            user,
            node: self.node,
            epoch,
            allowed_assets: self.tokens.clone(),
            timing: self.timing,
            max_locks: self.max_locks,
        }
    }
}

/// Unix seconds from the system clock: the I/O layer's clock, handed to the protocol as an argument.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "the system's random source failed");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "no randomness available",
        )
    })?;
    Ok(bytes)
}

/// The user's channel, or `NO_CHANNEL`.
pub(crate) async fn channel_of(state: &AppState, user: Address) -> Result<ChannelRecord, ApiError> {
    state.store.channel_of_user(user).await?.ok_or_else(|| {
        ApiError::not_found(
            "NO_CHANNEL",
            "set the channel up first: POST /channel/setup",
        )
    })
}

/// The router with every route and layer.
pub fn app(state: AppState) -> Result<Router> {
    app_with(state, Router::new())
}

/// [`app`] with `extra` routes (the RPC proxy, `dev`'s faucet) merged in before the layers, so that they are
/// held to the same CORS allowlist and counted in the same metrics as every other route.
pub fn app_with(state: AppState, extra: Router) -> Result<Router> {
    let cors = cors(&state.cors_origins)?;
    let metrics = state.metrics.clone();
    let limits = state.limits.clone();
    let router = Router::new()
        .route("/health", get(health))
        .route("/config", get(config))
        .route("/auth/challenge", post(auth::challenge))
        .route("/auth/login", post(auth::login))
        .route("/channel", get(channel))
        .route("/channel/setup", post(channel::setup))
        .route("/channel/propose", post(channel::propose))
        .route("/channel/pending", get(payments::pending))
        .route("/channel/countersign", post(payments::countersign))
        .route("/channel/restore", get(channel::restore))
        .route("/pay", post(payments::pay))
        .route("/links", post(links::create))
        .route("/exchange/quote", post(exchange::quote))
        .route("/links/redeem", post(links::redeem))
        .route("/payments/resolve", post(channel::resolve))
        .route("/payments/cancel", post(channel::cancel))
        .route("/payments", get(payments::history))
        .route("/payments/{id}", get(payments::payment))
        .route("/users/{address}/key", get(payments::user_key))
        .route("/ws", get(ws::connect))
        .route("/collateral/request", post(collateral::request))
        .route("/collateral/needs", get(collateral::needs))
        .route("/admin/channels", get(admin::channels))
        .route("/admin/collateral", get(admin::collateral))
        .route("/admin/wallet", get(admin::wallet))
        .route("/admin/payments", get(admin::payments))
        .route("/admin/disputes", get(admin::disputes))
        .route("/admin/summary", get(admin::summary))
        .route("/metrics", get(admin::metrics))
        .with_state(state)
        .merge(extra)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Inside the metrics, which count the 429s, and inside CORS, so that a page can read them.
        .layer(axum::middleware::from_fn_with_state(limits, limit::enforce))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            crate::metrics::track,
        ));
    Ok(match cors {
        Some(layer) => router.layer(layer),
        None => router,
    })
}

/// An explicit allowlist, never `*`.
fn cors(origins: &[String]) -> Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let origins = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o)
                .map_err(|_| crate::Error::Config(format!("bad CORS origin {o:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                axum::http::header::CONTENT_TYPE,
                axum::http::header::AUTHORIZATION,
            ])
            // Not a CORS-safelisted response header: without this a page's fetch cannot read a 429's wait.
            .expose_headers([axum::http::header::RETRY_AFTER]),
    ))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// `GET /health`: the node answers and its database does.
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.store.channel_of_user(Address::ZERO).await?;
    Ok(Json(Health { status: "ok" }))
}

/// `GET /config`: what a client needs to check every state it signs against the right chain and contract.
async fn config(State(state): State<AppState>) -> Json<spoke_protocol::wire::NodeConfig> {
    Json(spoke_protocol::wire::NodeConfig {
        chain_id: state.chain_id,
        channel_manager: state.channel_manager,
        node: state.node,
        tokens: state.tokens.clone(),
        timing: state.timing,
        max_locks: state.max_locks,
        login_domain: state.domain.clone(),
        deposit_confirmations: state.collateral.confirmations,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChannelResponse {
    channel_id: spoke_protocol::B256,
    user: Address,
    epoch: u64,
}

/// `GET /channel`: the logged-in user's channel.
async fn channel(
    State(state): State<AppState>,
    user: auth::User,
) -> Result<Json<ChannelResponse>, ApiError> {
    match state.store.channel_of_user(user.0).await? {
        Some(c) => Ok(Json(ChannelResponse {
            channel_id: c.channel_id,
            user: c.user,
            epoch: c.epoch,
        })),
        None => Err(ApiError::not_found(
            "NO_CHANNEL",
            format!("{} has no channel with this node yet", user.0),
        )),
    }
}
