//! Collateral: the node's own deposits into its users' channels, so it can lock to them what others pay them.
//!
//! A deposit is sized from the policy — a floor, a ceiling, and a target from what was paid to the user in the
//! last hour, clamped between them — and is triggered only by a payment backed by the payer's signed lock (or a
//! user's own request, up to the floor). At most one is in flight per channel and asset (the store's primary key),
//! and a failed one is never retried by the node on its own: the next payment asks again.

use std::{collections::HashMap, future::Future, pin::Pin, time::Duration};

use axum::{extract::State, http::StatusCode, Json};
use serde::{Deserialize, Serialize};
use spoke_protocol::{Address, Side, B256, U256};

use super::{auth::User, channel_of, error::ApiJson, now, route, ApiError, ApiQuery, AppState};
use crate::{
    store::{ChannelRecord, CollateralDeposit, CollateralStatus, PaymentStatus, Write},
    Result,
};

/// Floor and ceiling for one asset, in base units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub floor: U256,
    pub ceiling: U256,
}

/// The operator's collateral policy.
#[derive(Debug, Clone)]
pub struct CollateralPolicy {
    /// Per asset; assets not listed use `default`.
    pub assets: HashMap<Address, Bounds>,
    pub default: Bounds,
    /// How long a payment short of collateral waits for it before failing with `INSUFFICIENT_COLLATERAL`.
    pub wait: Duration,
    /// Most collateral deposits in flight across all channels.
    pub max_in_flight: usize,
    /// The most of one asset the node puts into all its channels together: what it deposited and has not taken
    /// back, plus what is in flight.
    pub total_cap: U256,
    /// Blocks a collateral deposit must be buried under before the node counts it.
    pub confirmations: u64,
}

impl CollateralPolicy {
    pub fn bounds(&self, asset: Address) -> Bounds {
        self.assets.get(&asset).copied().unwrap_or(self.default)
    }
}

/// What a request for collateral did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Collateral {
    /// The channel already holds enough.
    Ready,
    /// A deposit was sent.
    Started,
    /// A deposit for this channel and asset is already in flight.
    InFlight,
}

/// The node's balance of `asset` in a channel's latest state.
pub(super) async fn node_balance(
    state: &AppState,
    channel_id: B256,
    asset: Address,
) -> Result<U256> {
    Ok(state
        .store
        .latest(channel_id)
        .await?
        .and_then(|u| u.state.asset(asset).map(|a| a.balance_node))
        .unwrap_or_default())
}

/// What the node has put into its channels in `asset` and not taken back (`counted − withdrawn` on its side of
/// every channel's latest state), plus its deposits in flight. Read whole when a deposit is about to be made,
/// which is rare next to payments.
async fn deployed(state: &AppState, asset: Address) -> Result<U256> {
    let mut total = U256::ZERO;
    for deposit in state.store.collateral(None).await? {
        if deposit.asset == asset {
            total = total.saturating_add(deposit.amount);
        }
    }
    let mut offset = 0;
    loop {
        let page = state.store.channels(offset, 500).await?;
        for channel in &page {
            if let Some(entry) = state
                .store
                .latest(channel.channel_id)
                .await?
                .and_then(|u| u.state.asset(asset).cloned())
            {
                total =
                    total.saturating_add(entry.counted_node.saturating_sub(entry.withdrawn_node));
            }
        }
        if page.len() < 500 {
            return Ok(total);
        }
        offset += 500;
    }
}

/// Makes sure the node's side of `channel` will hold at least `need` of `asset`, depositing when it does not.
pub async fn ensure(
    state: &AppState,
    channel: &ChannelRecord,
    asset: Address,
    need: U256,
) -> Result<Collateral, ApiError> {
    let balance = node_balance(state, channel.channel_id, asset).await?;
    if balance >= need {
        return Ok(Collateral::Ready);
    }
    let policy = &state.collateral;
    let bounds = policy.bounds(asset);
    if need > bounds.ceiling {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "INSUFFICIENT_COLLATERAL",
            format!(
                "the node collateralizes a channel up to {} of {asset}; {need} is more — pay in parts",
                bounds.ceiling
            ),
        ));
    }
    let since = now().saturating_sub(3600);
    let recent = state
        .store
        .payments_of(channel.user, 500)
        .await?
        .into_iter()
        .filter(|p| {
            p.payee == Some(channel.user)
                && p.asset == asset
                && p.created_at >= since
                && p.status != PaymentStatus::Failed
        })
        .fold(U256::ZERO, |sum, p| sum.saturating_add(p.amount));
    let target = need.max(recent).clamp(bounds.floor, bounds.ceiling);
    let amount = target.saturating_sub(balance);
    if amount.is_zero() {
        return Ok(Collateral::Ready);
    }
    let deployed = deployed(state, asset).await?;
    if deployed.saturating_add(amount) > policy.total_cap {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "INSUFFICIENT_COLLATERAL",
            format!(
                "the node has {deployed} of {asset} in its channels and deposits at most {} in all; retry later",
                policy.total_cap
            ),
        ));
    }
    if state.store.collateral(None).await?.len() >= policy.max_in_flight {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "INSUFFICIENT_COLLATERAL",
            "the node has as many collateral deposits in flight as it allows; retry in a minute",
        ));
    }
    let deposit = CollateralDeposit {
        channel_id: channel.channel_id,
        asset,
        amount,
        tx_hash: None,
        status: CollateralStatus::Sending,
        created_at: now(),
    };
    if !state.store.begin_collateral(&deposit).await? {
        return Ok(Collateral::InFlight);
    }
    let state = state.clone();
    let channel = channel.clone();
    tokio::spawn(async move { deposit_and_wait(&state, &channel, deposit).await });
    Ok(Collateral::Started)
}

async fn deposit_and_wait(state: &AppState, channel: &ChannelRecord, deposit: CollateralDeposit) {
    let done = async {
        let hash = state
            .tx
            .deposit(channel.user, deposit.asset, deposit.amount)
            .await?;
        tracing::info!(user = %channel.user, asset = %deposit.asset, amount = %deposit.amount, tx = %hash, "collateral deposit sent");
        state
            .store
            .update_collateral(
                channel.channel_id,
                deposit.asset,
                Some(hash),
                CollateralStatus::Sent,
            )
            .await?;
        confirm(state, channel.channel_id, deposit.asset, hash).await
    };
    if let Err(e) = done.await {
        fail(state, channel.channel_id, deposit.asset, &e).await;
    }
}

async fn confirm(state: &AppState, channel_id: B256, asset: Address, hash: B256) -> Result<()> {
    state
        .tx
        .wait(
            hash,
            state.collateral.confirmations,
            Duration::from_secs(15 * 60),
        )
        .await?;
    state
        .store
        .update_collateral(channel_id, asset, None, CollateralStatus::Confirmed)
        .await?;
    drive_after_deposit(state, channel_id).await;
    Ok(())
}

/// `route::drive` of the channel a deposit was counted in, as a boxed `dyn Send` future from a plain function.
/// Driving may start another deposit (`route::drive_one` calls [`ensure`], which spawns the wait that ends here), and
/// the compiler proves a cycle of futures `Send` only with a break in it whose type is written out.
fn drive_after_deposit(
    state: &AppState,
    channel_id: B256,
) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
    Box::pin(route::drive(state, vec![channel_id]))
}

/// A failed deposit ends; nothing retries it on its own (the next payment that needs it asks again).
async fn fail(state: &AppState, channel_id: B256, asset: Address, e: &crate::Error) {
    tracing::error!(error = %e, channel = %channel_id, %asset, "collateral deposit failed");
    if let Err(e) = state
        .store
        .write(&[Write::CollateralDone { channel_id, asset }])
        .await
    {
        tracing::error!(error = %e, "could not record the failed collateral deposit");
    }
}

/// After a restart: deposits that were sent are waited for again; one whose sending was cut off is judged by
/// the chain (counted if it landed, forgotten if not).
pub async fn resume(state: &AppState) -> Result<()> {
    for deposit in state.store.collateral(None).await? {
        match (deposit.status, deposit.tx_hash) {
            (CollateralStatus::Sent, Some(hash)) => {
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = confirm(&state, deposit.channel_id, deposit.asset, hash).await {
                        fail(&state, deposit.channel_id, deposit.asset, &e).await;
                    }
                });
            }
            (CollateralStatus::Confirmed, _) => route::drive(state, vec![deposit.channel_id]).await,
            _ => {
                let counted = state
                    .store
                    .latest(deposit.channel_id)
                    .await?
                    .and_then(|u| u.state.asset(deposit.asset).map(|a| a.counted_node))
                    .unwrap_or_default();
                let on_chain = state
                    .chain
                    .confirmed_deposit(deposit.channel_id, deposit.asset, Side::Node)
                    .await?;
                if on_chain > counted {
                    state
                        .store
                        .update_collateral(
                            deposit.channel_id,
                            deposit.asset,
                            None,
                            CollateralStatus::Confirmed,
                        )
                        .await?;
                    route::drive(state, vec![deposit.channel_id]).await;
                } else {
                    state
                        .store
                        .write(&[Write::CollateralDone {
                            channel_id: deposit.channel_id,
                            asset: deposit.asset,
                        }])
                        .await?;
                }
            }
        }
    }
    Ok(())
}

/// Waits up to the policy's wait for the node's side of `channel_id` to hold `need` of `asset`.
pub async fn wait_for(
    state: &AppState,
    channel_id: B256,
    asset: Address,
    need: U256,
) -> Result<bool> {
    let deadline = tokio::time::Instant::now() + state.collateral.wait;
    loop {
        if node_balance(state, channel_id, asset).await? >= need {
            return Ok(true);
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestCollateral {
    asset: Address,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CollateralResponse {
    collateral: Collateral,
    /// The node's balance in the channel now.
    available: U256,
}

/// `POST /collateral/request`: the user asks the node to collateralize its channel, up to the floor, so that
/// payments to it need not wait.
pub async fn request(
    State(state): State<AppState>,
    user: User,
    ApiJson(request): ApiJson<RequestCollateral>,
) -> Result<Json<CollateralResponse>, ApiError> {
    if !state.params(user.0, 0).is_allowed(request.asset) {
        return Err(ApiError::bad_request(format!(
            "this node does not serve {}",
            request.asset
        )));
    }
    let record = channel_of(&state, user.0).await?;
    let floor = state.collateral.bounds(request.asset).floor;
    let collateral = ensure(&state, &record, request.asset, floor).await?;
    Ok(Json(CollateralResponse {
        collateral,
        available: node_balance(&state, record.channel_id, request.asset).await?,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NeedsQuery {
    recipient: Address,
    asset: Address,
    amount: U256,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NeedsResponse {
    needs_collateral: bool,
    available: U256,
}

/// `GET /collateral/needs?recipient=&asset=&amount=`: whether a payment of `amount` to `recipient` would wait for
/// collateral.
pub async fn needs(
    State(state): State<AppState>,
    _user: User,
    ApiQuery(query): ApiQuery<NeedsQuery>,
) -> Result<Json<NeedsResponse>, ApiError> {
    let record = state
        .store
        .channel_of_user(query.recipient)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "UNKNOWN_RECIPIENT",
                format!("{} has no channel with this node", query.recipient),
            )
        })?;
    let available = node_balance(&state, record.channel_id, query.asset).await?;
    Ok(Json(NeedsResponse {
        needs_collateral: available < query.amount,
        available,
    }))
}
