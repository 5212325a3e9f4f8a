//! Exchange (docs/PROTOCOL.md, "Exchange"): the node quotes from its configured rates — never from the client or
//! an on-chain price — signs the quote, and takes it once, before its expiry, as an `exchange` update.

use std::{collections::HashMap, time::Duration};

use axum::{extract::State, http::StatusCode, Json};
use spoke_protocol::{
    quote_digest,
    wire::{QuoteRequest, QuoteResponse},
    Address, ExchangeQuote, B256, U256,
};

use super::{
    auth::User, channel_of, collateral, error::ApiJson, now, random_bytes, ApiError, AppState,
};
use crate::{Error, Result};

/// A rate: `buy = sell × numerator / denominator`, in base units, before the spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub numerator: U256,
    pub denominator: U256,
}

/// The operator's exchange settings.
#[derive(Debug, Clone, Default)]
pub struct ExchangePolicy {
    /// By (sell asset, buy asset).
    pub rates: HashMap<(Address, Address), Rate>,
    /// How long a quote stands.
    pub quote_ttl: Duration,
    /// The largest amount sold in one quote, in the sold asset's base units.
    pub max_sell: U256,
    /// The node's margin, in basis points, taken from the amount bought.
    pub spread_bps: u16,
}

impl ExchangePolicy {
    /// Parses `SELL:BUY=NUMERATOR/DENOMINATOR` entries.
    pub fn parse_rates(entries: &[String]) -> Result<HashMap<(Address, Address), Rate>> {
        let mut rates = HashMap::new();
        for entry in entries {
            let bad = || {
                Error::Config(format!(
                    "--exchange-rate {entry:?}: expected SELL:BUY=NUMERATOR/DENOMINATOR"
                ))
            };
            let (pair, ratio) = entry.split_once('=').ok_or_else(bad)?;
            let (sell, buy) = pair.split_once(':').ok_or_else(bad)?;
            let (numerator, denominator) = ratio.split_once('/').ok_or_else(bad)?;
            let rate = Rate {
                numerator: numerator.trim().parse().map_err(|_| bad())?,
                denominator: denominator.trim().parse().map_err(|_| bad())?,
            };
            if rate.numerator.is_zero() || rate.denominator.is_zero() {
                return Err(bad());
            }
            let sell: Address = sell.trim().parse().map_err(|_| bad())?;
            let buy: Address = buy.trim().parse().map_err(|_| bad())?;
            if sell == buy {
                return Err(bad());
            }
            rates.insert((sell, buy), rate);
        }
        Ok(rates)
    }

    /// What `sell_amount` buys at the configured rate, less the spread; `None` if there is no rate or it
    /// overflows.
    pub fn buy_amount(&self, sell: Address, buy: Address, sell_amount: U256) -> Option<U256> {
        let rate = self.rates.get(&(sell, buy))?;
        let gross = sell_amount.checked_mul(rate.numerator)? / rate.denominator;
        let kept = U256::from(10_000u64 - u64::from(self.spread_bps.min(10_000)));
        Some(gross.checked_mul(kept)? / U256::from(10_000u64))
    }
}

/// `POST /exchange/quote`: a quote for the user's channel, signed by the node, valid for the policy's TTL.
pub async fn quote(
    State(state): State<AppState>,
    user: User,
    ApiJson(request): ApiJson<QuoteRequest>,
) -> Result<Json<QuoteResponse>, ApiError> {
    let policy = &state.exchange;
    if request.sell_amount.is_zero() {
        return Err(ApiError::bad_request("nothing to sell"));
    }
    if request.sell_amount > policy.max_sell {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "QUOTE_TOO_LARGE",
            format!("the node quotes at most {} at once", policy.max_sell),
        ));
    }
    let buy_amount = policy
        .buy_amount(request.sell_asset, request.buy_asset, request.sell_amount)
        .filter(|b| !b.is_zero())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "NO_RATE",
                format!(
                    "the node does not sell {} for {} in this amount",
                    request.buy_asset, request.sell_asset
                ),
            )
        })?;
    let channel = channel_of(&state, user.0).await?;
    // The node must hold what it sells in this channel; short of it, it collateralizes first.
    let ready = collateral::ensure(&state, &channel, request.buy_asset, buy_amount).await?;
    if ready != collateral::Collateral::Ready
        && !collateral::wait_for(&state, channel.channel_id, request.buy_asset, buy_amount).await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "INSUFFICIENT_COLLATERAL",
            "the node is adding what it sells to your channel; ask for the quote again shortly",
        ));
    }
    let quote = ExchangeQuote {
        channel_id: channel.channel_id,
        id: B256::from(random_bytes::<32>()?),
        sell_asset: request.sell_asset,
        sell_amount: request.sell_amount,
        buy_asset: request.buy_asset,
        buy_amount,
        expiry: now() + policy.quote_ttl.as_secs().max(1),
    };
    let params = state.params(user.0, channel.epoch);
    let node_signature = state
        .signer
        .sign_digest(&quote_digest(&params.domain(), &quote))
        .map_err(|e| ApiError::from(Error::Protocol(e)))?;
    state.store.insert_quote(&quote).await?;
    Ok(Json(QuoteResponse {
        quote,
        node_signature,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_price_with_the_spread_taken_from_the_amount_bought() {
        let dai = Address::repeat_byte(0xda);
        let rates = ExchangePolicy::parse_rates(&[format!(
            "0x0000000000000000000000000000000000000000:{dai}=2000/1"
        )])
        .expect("rates");
        let policy = ExchangePolicy {
            rates,
            quote_ttl: Duration::from_secs(30),
            max_sell: U256::MAX,
            spread_bps: 50,
        };
        assert_eq!(
            policy.buy_amount(Address::ZERO, dai, U256::from(10u64)),
            Some(U256::from(19_900u64))
        );
        assert_eq!(
            policy.buy_amount(dai, Address::ZERO, U256::from(1u64)),
            None
        );
        for bad in [
            "x:y=1/2",
            "0x00:0x01=1",
            &format!("{dai}:{dai}=1/1"),
            &format!("{dai}:0x0000000000000000000000000000000000000000=1/0"),
        ] {
            assert!(
                ExchangePolicy::parse_rates(&[bad.to_string()]).is_err(),
                "{bad}"
            );
        }
    }
}
