//! `POST /dev/faucet`, mounted by `spoke-node dev` only: a wallet made in the card starts with nothing, and
//! without ETH for gas it cannot even deposit the test Dai it does not have. The funder is an anvil account of its
//! own, neither the node's (whose ETH pays for collateral) nor a printed development account (whose nonces a
//! user's wallet would race).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{network::TransactionBuilder, rpc::types::TransactionRequest};
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use spoke_protocol::{Address, B256, U256};

use super::{dai, mint_dai, SETUP_TIMEOUT};
use crate::{
    api::{ApiError, ApiJson},
    tx::TxSender,
};

/// ETH per call, in wei: enough gas for hundreds of deposits and payouts on anvil.
pub const FAUCET_ETH: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);
/// Test Dai per call, in whole Dai.
pub const FAUCET_DAI: u64 = 100;
/// How long one address waits between two calls, so that a script looping on one address cannot drain the
/// funder.
pub const COOL_DOWN: Duration = Duration::from_secs(10);

/// The funder's sender (it keeps the funder's nonce, so calls in parallel do not collide) and the token.
pub struct Faucet {
    sender: TxSender,
    dai: Address,
    recent: Mutex<CoolDown>,
}

impl Faucet {
    pub fn new(sender: TxSender, dai: Address) -> Faucet {
        Faucet {
            sender,
            dai,
            recent: Mutex::new(CoolDown::default()),
        }
    }

    /// The account the faucet pays from.
    pub fn funder(&self) -> Address {
        self.sender.address()
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/dev/faucet", get(describe).post(give))
            .with_state(Arc::new(self))
    }
}

/// When each address was last served. Entries older than [`COOL_DOWN`] are dropped as new ones come, so the map
/// holds at most the addresses of the last ten seconds.
#[derive(Default)]
struct CoolDown {
    last: HashMap<Address, Instant>,
}

impl CoolDown {
    /// Takes `address`'s turn at `now`, or says how long until it has one.
    fn take(&mut self, address: Address, now: Instant) -> Result<(), Duration> {
        self.last
            .retain(|_, at| now.saturating_duration_since(*at) < COOL_DOWN);
        if let Some(at) = self.last.get(&address) {
            return Err(COOL_DOWN.saturating_sub(now.saturating_duration_since(*at)));
        }
        self.last.insert(address, now);
        Ok(())
    }

    /// Gives a failed call's turn back, so that the caller may retry at once.
    fn give_back(&mut self, address: Address) {
        self.last.remove(&address);
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaucetRequest {
    address: String,
}

#[derive(Serialize)]
struct FaucetResponse {
    address: String,
    eth: String,
    dai: String,
    txs: Vec<B256>,
}

/// `0x` and 40 hex digits, with its EIP-55 checksum when mixed case (`spoke_protocol::parse_address`), and not
/// the zero address.
fn parse_address(text: &str) -> Result<Address, ApiError> {
    let address =
        spoke_protocol::parse_address(text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if address == Address::ZERO {
        return Err(ApiError::bad_request(
            "the zero address cannot spend what it gets",
        ));
    }
    Ok(address)
}

/// What the faucet gives, to whom it is open: `GET /dev/faucet`. A page uses it to learn it is on a
/// development node (any other node has no such route) without asking for anything.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FaucetInfo {
    funder: String,
    eth: String,
    dai: String,
    cool_down_seconds: u64,
}

async fn describe(State(faucet): State<Arc<Faucet>>) -> Json<FaucetInfo> {
    Json(FaucetInfo {
        funder: faucet.funder().to_checksum(None),
        eth: FAUCET_ETH.to_string(),
        dai: dai(FAUCET_DAI).to_string(),
        cool_down_seconds: COOL_DOWN.as_secs(),
    })
}

/// `POST /dev/faucet {address}`: sends [`FAUCET_ETH`] and mints [`FAUCET_DAI`] to `address`, and answers once
/// both are mined.
async fn give(
    State(faucet): State<Arc<Faucet>>,
    ApiJson(request): ApiJson<FaucetRequest>,
) -> Result<Json<FaucetResponse>, Response> {
    let address = parse_address(&request.address).map_err(IntoResponse::into_response)?;
    let taken = faucet
        .recent
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .take(address, Instant::now());
    if let Err(wait) = taken {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err((
            [(header::RETRY_AFTER, seconds.to_string())],
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "TOO_MANY_REQUESTS",
                format!(
                    "{address} was funded less than {} s ago; try again in {seconds} s",
                    COOL_DOWN.as_secs()
                ),
            ),
        )
            .into_response());
    }
    match fund(&faucet, address).await {
        Ok(txs) => Ok(Json(FaucetResponse {
            address: address.to_checksum(None),
            eth: FAUCET_ETH.to_string(),
            dai: dai(FAUCET_DAI).to_string(),
            txs,
        })),
        Err(e) => {
            faucet
                .recent
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .give_back(address);
            Err(ApiError::from(e).into_response())
        }
    }
}

/// Both transactions are sent before either is awaited, so the call takes one block, not two.
async fn fund(faucet: &Faucet, address: Address) -> crate::Result<Vec<B256>> {
    let eth = TransactionRequest::default()
        .with_to(address)
        .with_value(FAUCET_ETH);
    let eth = faucet.sender.send(eth, "faucet ETH").await?;
    let mut txs = vec![eth];
    txs.extend(mint_dai(&faucet.sender, faucet.dai, [(address, dai(FAUCET_DAI))]).await?);
    faucet.sender.wait(eth, 1, SETUP_TIMEOUT).await?;
    Ok(txs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_turn_per_address_per_cool_down() {
        let mut recent = CoolDown::default();
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let start = Instant::now();
        assert_eq!(recent.take(a, start), Ok(()));
        assert_eq!(
            recent.take(b, start),
            Ok(()),
            "another address is not held up"
        );
        let later = start + Duration::from_secs(4);
        assert_eq!(recent.take(a, later), Err(Duration::from_secs(6)));
        assert_eq!(
            recent.take(a, start + COOL_DOWN),
            Ok(()),
            "the turn comes back"
        );
        recent.give_back(b);
        assert_eq!(
            recent.take(b, later),
            Ok(()),
            "a failed call's turn is given back"
        );
        assert!(recent.last.len() <= 2);
    }

    #[test]
    fn addresses_are_checked() {
        let good = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
        assert_eq!(
            parse_address(good).ok().map(|a| a.to_checksum(None)),
            Some(good.to_string())
        );
        assert!(parse_address(&good.to_lowercase()).is_ok());
        for bad in [
            "",
            "0x",
            "0x1234",
            "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226G",
            "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "0x0000000000000000000000000000000000000000",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb922660",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
    }
}
