//! The operator's API under `/admin/`, and `GET /metrics`.
//!
//! Both answer only to `Authorization: Bearer <admin token>` (`--admin-token`); a user's session token is a
//! different secret and never reaches them. Without an admin token the admin API is off and answers
//! `404 ADMIN_DISABLED`; `/metrics` is served without the token only under `--metrics-public`.

use std::{collections::BTreeMap, str::FromStr};

use axum::{
    extract::{FromRequestParts, State},
    http::{header, request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use spoke_protocol::{wire::PaymentRecord, Address, B256, U256};
use subtle::ConstantTimeEq;

use super::{ApiError, ApiQuery, AppState};
use crate::{
    metrics::{Snapshot, CONTENT_TYPE},
    store::{ChannelRecord, CollateralDeposit, Payment, PaymentStatus},
    Error,
};

/// The shortest admin token the node accepts: anything shorter can be guessed.
const MIN_TOKEN_LEN: usize = 16;

/// Channels read from the store per query when the admin API walks all of them.
const CHANNEL_PAGE: u32 = 500;

/// The operator's admin token. Only its SHA-256 is kept, and `Debug` shows nothing of it.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(redacted)")
    }
}

impl FromStr for AdminToken {
    type Err = Error;

    fn from_str(token: &str) -> Result<AdminToken, Error> {
        if token.chars().count() < MIN_TOKEN_LEN {
            return Err(Error::Config(format!(
                "the admin token must be at least {MIN_TOKEN_LEN} characters (e.g. 32 random bytes as hex)"
            )));
        }
        Ok(AdminToken {
            digest: Sha256::digest(token.as_bytes()).into(),
        })
    }
}

/// Parses `--admin-token` for clap. Its error never repeats the value, as clap's own message for a refused
/// value would: a token one character short is still a secret.
#[derive(Debug, Clone, Copy)]
pub struct AdminTokenParser;

impl clap::builder::TypedValueParser for AdminTokenParser {
    type Value = AdminToken;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<AdminToken, clap::Error> {
        let refused = |reason: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("--admin-token: {reason}\n"),
            )
        };
        value
            .to_str()
            .ok_or_else(|| refused("the token is not UTF-8".into()))?
            .parse()
            .map_err(|e: Error| refused(e.to_string()))
    }
}

impl AdminToken {
    /// Whether `token` is the admin token. Digests of equal length compared in constant time: the time taken
    /// says nothing about how much of a guess was right.
    fn matches(&self, token: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        digest.ct_eq(&self.digest).into()
    }
}

fn disabled() -> ApiError {
    ApiError::not_found(
        "ADMIN_DISABLED",
        "the admin API is off: start the node with --admin-token (SPOKE_ADMIN_TOKEN); /metrics also answers \
         under --metrics-public",
    )
}

/// Checks the request's bearer token against the admin token.
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = state.admin_token.as_ref().ok_or_else(disabled)?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized("send the admin token as Authorization: Bearer <token>")
        })?;
    if expected.matches(token) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("that is not the admin token"))
    }
}

/// A request that carried the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Admin, ApiError> {
        authorize(state, &parts.headers).map(|()| Admin)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[serde(default)]
    offset: Option<u32>,
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    #[serde(default)]
    limit: Option<u32>,
}

/// One asset of a channel's latest state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetBalances {
    asset: Address,
    balance_user: U256,
    balance_node: U256,
    locked_user: U256,
    locked_node: U256,
}

/// A channel as the operator sees it: its latest stored state, signed by both or a node proposal.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminChannel {
    channel_id: B256,
    user: Address,
    epoch: u64,
    latest_nonce: u64,
    balances: Vec<AssetBalances>,
    locks: usize,
    /// The latest state is a node proposal the user has not countersigned.
    awaiting_user: bool,
}

async fn describe(state: &AppState, channel: &ChannelRecord) -> Result<AdminChannel, ApiError> {
    let latest = state
        .store
        .latest(channel.channel_id)
        .await?
        .ok_or_else(|| Error::Corrupt {
            what: "a channel",
            reason: format!("channel {} has no opening state", channel.channel_id),
        })?;
    Ok(AdminChannel {
        channel_id: channel.channel_id,
        user: channel.user,
        epoch: channel.epoch,
        latest_nonce: latest.nonce,
        balances: latest
            .state
            .assets
            .iter()
            .map(|a| AssetBalances {
                asset: a.asset,
                balance_user: a.balance_user,
                balance_node: a.balance_node,
                locked_user: a.locked_user,
                locked_node: a.locked_node,
            })
            .collect(),
        locks: latest.state.locks.len(),
        awaiting_user: latest.awaits_user(),
    })
}

/// `GET /admin/channels?offset=&limit=`: the node's channels (the newest epoch of each user), by user address.
pub async fn channels(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Vec<AdminChannel>>, ApiError> {
    let limit = page.limit.unwrap_or(100).clamp(1, 500);
    let records = state
        .store
        .channels(page.offset.unwrap_or(0), limit)
        .await?;
    let mut channels = Vec::with_capacity(records.len());
    for record in &records {
        channels.push(describe(&state, record).await?);
    }
    Ok(Json(channels))
}

/// Every channel, a page at a time.
async fn all_channels(state: &AppState) -> Result<Vec<ChannelRecord>, ApiError> {
    let mut all = Vec::new();
    loop {
        let offset = u32::try_from(all.len()).unwrap_or(u32::MAX);
        let page = state.store.channels(offset, CHANNEL_PAGE).await?;
        let done = page.len() < CHANNEL_PAGE as usize;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InFlight {
    channel_id: B256,
    asset: Address,
    amount: U256,
    tx_hash: Option<B256>,
    status: &'static str,
    created_at: u64,
}

impl From<CollateralDeposit> for InFlight {
    fn from(d: CollateralDeposit) -> InFlight {
        InFlight {
            channel_id: d.channel_id,
            asset: d.asset,
            amount: d.amount,
            tx_hash: d.tx_hash,
            status: d.status.as_str(),
            created_at: d.created_at,
        }
    }
}

/// What the node holds of one asset across its channels' latest states.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Held {
    asset: Address,
    /// The node's spendable balance.
    balance: U256,
    /// The node's funds in its locks to users.
    locked: U256,
    /// Channels in which the node holds any of it.
    channels: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CollateralResponse {
    in_flight: Vec<InFlight>,
    held: Vec<Held>,
}

/// `GET /admin/collateral`: the node's deposits in flight, and per asset what it holds across its channels.
pub async fn collateral(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<CollateralResponse>, ApiError> {
    let in_flight = state
        .store
        .collateral(None)
        .await?
        .into_iter()
        .map(InFlight::from)
        .collect();
    let mut held: BTreeMap<Address, Held> = BTreeMap::new();
    for record in all_channels(&state).await? {
        let Some(latest) = state.store.latest(record.channel_id).await? else {
            continue;
        };
        for a in &latest.state.assets {
            if a.balance_node.is_zero() && a.locked_node.is_zero() {
                continue;
            }
            let entry = held.entry(a.asset).or_insert_with(|| Held {
                asset: a.asset,
                ..Held::default()
            });
            entry.balance = entry.balance.saturating_add(a.balance_node);
            entry.locked = entry.locked.saturating_add(a.locked_node);
            entry.channels += 1;
        }
    }
    Ok(Json(CollateralResponse {
        in_flight,
        held: held.into_values().collect(),
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletBalance {
    asset: Address,
    balance: U256,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletResponse {
    address: Address,
    balances: Vec<WalletBalance>,
}

/// `GET /admin/wallet`: the node's address and its on-chain balances: ETH (the zero address) and every token.
pub async fn wallet(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<WalletResponse>, ApiError> {
    let mut balances = Vec::with_capacity(state.tokens.len() + 1);
    for asset in std::iter::once(Address::ZERO).chain(state.tokens.iter().copied()) {
        let balance = state.tx.balance(asset).await.map_err(|e| {
            tracing::error!(error = %e, %asset, "reading the node's balance failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "CHAIN_UNAVAILABLE",
                format!("the chain did not answer for the balance of {asset}; retry"),
            )
        })?;
        balances.push(WalletBalance { asset, balance });
    }
    Ok(Json(WalletResponse {
        address: state.tx.address(),
        balances,
    }))
}

/// `GET /admin/payments?limit=`: the newest payments through the node.
pub async fn payments(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(limit): ApiQuery<LimitQuery>,
) -> Result<Json<Vec<PaymentRecord>>, ApiError> {
    let limit = limit.limit.unwrap_or(50).clamp(1, 500);
    let payments = state.store.recent_payments(limit).await?;
    Ok(Json(payments.iter().map(Payment::record).collect()))
}

/// One transaction the node sent in a dispute of its own channel.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisputeStep {
    /// `answer:NONCE`, `reveal`, `conclude`, `settle:LOCK_ID` or `claim:ASSET`.
    action: String,
    tx_hash: B256,
    status: &'static str,
    sent_at: u64,
}

/// A channel whose dispute the node is following to its payouts.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminDispute {
    channel_id: B256,
    user: Address,
    epoch: u64,
    transactions: Vec<DisputeStep>,
}

/// `GET /admin/disputes`: the node's channels in dispute that still have something to settle or claim, with the
/// transactions sent for each so far. A finished dispute leaves the list (its steps are in the log).
pub async fn disputes(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<AdminDispute>>, ApiError> {
    let mut disputes = Vec::new();
    for channel in state.store.channels_in_dispute().await? {
        let transactions = state
            .store
            .dispute_txs(channel.channel_id)
            .await?
            .into_iter()
            .map(|t| DisputeStep {
                action: t.action.to_string(),
                tx_hash: t.tx_hash,
                status: t.status.as_str(),
                sent_at: t.sent_at,
            })
            .collect();
        disputes.push(AdminDispute {
            channel_id: channel.channel_id,
            user: channel.user,
            epoch: channel.epoch,
            transactions,
        });
    }
    Ok(Json(disputes))
}

/// The counts `/admin/summary` and `/metrics` report.
async fn snapshot(state: &AppState) -> Result<Snapshot, ApiError> {
    let counted = state.store.payment_counts().await?;
    let payments = PaymentStatus::ALL
        .into_iter()
        .map(|status| {
            let count = counted
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            (status, count)
        })
        .collect();
    Ok(Snapshot {
        channels: state.store.channel_count().await?,
        payments,
        online_users: state.hub.online_users() as u64,
        collateral_in_flight: state.store.collateral(None).await?.len() as u64,
        store_writes: state.store.write_counts(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    channels: u64,
    /// By status: `accepted`, `forwarded`, `resolved`, `completed`, `refunding`, `failed`.
    payments: BTreeMap<&'static str, u64>,
    online_users: u64,
    collateral_in_flight: u64,
}

/// `GET /admin/summary`: how many channels, payments by status, users online, collateral deposits in flight.
pub async fn summary(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Summary>, ApiError> {
    let s = snapshot(&state).await?;
    Ok(Json(Summary {
        channels: s.channels,
        payments: s.payments.iter().map(|(k, n)| (k.as_str(), *n)).collect(),
        online_users: s.online_users,
        collateral_in_flight: s.collateral_in_flight,
    }))
}

/// `GET /metrics`: Prometheus metrics, in the OpenMetrics text format.
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.metrics_public {
        authorize(&state, &headers)?;
    }
    let snapshot = snapshot(&state).await?;
    let body = state.metrics.render(&snapshot);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}
