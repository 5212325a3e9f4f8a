//! The chain, on both targets: the client's own deposits and withdrawals, and the reads it checks the node
//! against. A small JSON-RPC 2.0 client over [`Http`] (reqwest natively, `fetch` in the browser) with the
//! contract's ABI from its committed artifact and EIP-1559 transactions signed with the user's key — alloy's
//! provider stack would cost the browser build ≈470 KB gzip.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use alloy_consensus::{SignableTransaction, TxEip1559};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{hex, Bytes, TxKind};
use alloy_sol_types::{SolCall, SolError, SolType, SolValue};
use serde_json::{json, Value};
use spoke_protocol::json::{FromJson, JsonError, Object};
use spoke_protocol::{
    sol_types, Address, ChannelParams, Side, SignedCommitment, Signer, B256, U256,
};

use crate::{http::Http, platform, Error, Result};

mod abi {
    alloy_sol_types::sol!(
        #[allow(missing_docs, clippy::too_many_arguments)]
        #[derive(Debug)]
        ChannelManager,
        "../contracts/artifacts/ChannelManager.json"
    );

    alloy_sol_types::sol!(
        #[allow(missing_docs)]
        #[derive(Debug)]
        DevDai,
        "../contracts/artifacts/DevDai.json"
    );
}

use abi::{ChannelManager, DevDai};

mod dispute;
pub(crate) use dispute::At;
pub use dispute::{state_hash, Book, ChannelStatus, OnChainChannel};

/// How long [`EthChain::wait_receipt`] waits for a transaction to be mined.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How often it asks.
const RECEIPT_POLL: Duration = Duration::from_millis(200);
/// The tip when the RPC cannot suggest one (`eth_maxPriorityFeePerGas` is not in every node): 1 gwei.
const DEFAULT_TIP: u128 = 1_000_000_000;

/// An error object of a JSON-RPC answer.
#[derive(Debug, Clone)]
pub(crate) struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

spoke_protocol::json_struct!(
    RpcError,
    lenient {
        code: "code",
        message: "message",
        data: "data",
    }
);

/// What went wrong inside this module: the RPC's own error (its code kept for the EIP-1193 provider, which passes
/// it on to the dapp), or anything else.
#[derive(Debug)]
pub(crate) enum Fail {
    Rpc { method: String, error: RpcError },
    Client(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail::Client(e)
    }
}

impl From<Fail> for Error {
    fn from(f: Fail) -> Error {
        match f {
            Fail::Client(e) => e,
            Fail::Rpc { method, error } => Error::Chain(format!(
                "{method}: {}{}",
                error.message,
                error
                    .data
                    .as_ref()
                    .and_then(Value::as_str)
                    .map(|data| format!(" ({})", describe_revert(data)))
                    .unwrap_or_default()
            )),
        }
    }
}

type Res<T> = core::result::Result<T, Fail>;

fn bad(what: impl std::fmt::Display) -> Fail {
    Fail::Client(Error::Chain(what.to_string()))
}

/// Puts `what` in front of a chain error's message ("the deposit: eth_estimateGas: execution reverted …").
fn context(what: &str, e: impl Into<Error>) -> Error {
    match e.into() {
        Error::Chain(message) => Error::Chain(format!("{what}: {message}")),
        other => other,
    }
}

/// A transaction for [`EthChain::send_transaction`]: what is not given is filled in from the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxRequest {
    /// `None` deploys a contract.
    pub to: Option<Address>,
    pub value: U256,
    pub data: Bytes,
    /// Default: `eth_estimateGas` plus 20%.
    pub gas: Option<u64>,
    /// Default: the account's pending transaction count.
    pub nonce: Option<u64>,
    /// Default: twice the latest base fee plus the tip.
    pub max_fee_per_gas: Option<u128>,
    /// Default: `eth_maxPriorityFeePerGas` (at most the max fee when that is given).
    pub max_priority_fee_per_gas: Option<u128>,
}

/// A mined transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub transaction_hash: B256,
    pub block_number: u64,
    /// `false` when the transaction reverted.
    pub status: bool,
    pub gas_used: u64,
    /// The contract a deployment created.
    pub contract_address: Option<Address>,
}

/// The client's account on the chain, and the ChannelManager. Cheap to clone; clones share the cached chain id
/// and take turns sending (one nonce at a time).
#[derive(Debug, Clone)]
pub struct EthChain {
    http: Http,
    url: String,
    signer: Signer,
    manager: Address,
    /// 0 until `eth_chainId` answered.
    chain_id: Arc<AtomicU64>,
    next_id: Arc<AtomicU64>,
    /// Held from choosing a nonce to handing the transaction to the RPC, so two sends never pick the same nonce.
    sending: Arc<tokio::sync::Mutex<()>>,
}

impl EthChain {
    /// Talks to the JSON-RPC at `rpc_url` with the client's key (the same key that signs its channel).
    pub fn new(rpc_url: &str, secret: &B256, manager: Address) -> Result<EthChain> {
        let signer = Signer::from_bytes(secret)?;
        Ok(EthChain {
            http: Http::default(),
            url: rpc_url.to_string(),
            signer,
            manager,
            chain_id: Arc::new(AtomicU64::new(0)),
            next_id: Arc::new(AtomicU64::new(1)),
            sending: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn account(&self) -> Address {
        self.signer.address()
    }

    /// The ChannelManager.
    pub fn manager(&self) -> Address {
        self.manager
    }

    pub(crate) fn signer(&self) -> &Signer {
        &self.signer
    }

    /// One JSON-RPC call, its result as the RPC gave it. The RPC's errors become [`Error::Chain`].
    pub async fn rpc(&self, method: &str, params: Value) -> Result<Value> {
        Ok(self.call(method, params).await?)
    }

    /// [`EthChain::rpc`], keeping the RPC's error object.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Res<Value> {
        struct Answer {
            result: Value,
            error: Option<RpcError>,
        }
        impl FromJson for Answer {
            fn from_json(value: &Value) -> Result<Self, JsonError> {
                let o = Object::new(value)?;
                Ok(Answer {
                    result: o.field_or_default("result")?,
                    error: o.field("error")?,
                })
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let body = serde_json::to_vec(&body).map_err(bad)?;
        let reply = self
            .http
            .send(&self.url, None, Some(&body))
            .await
            .map_err(|e| match e {
                Error::Transport(e) => bad(format!("{method}: cannot reach the chain's RPC: {e}")),
                other => Fail::Client(other),
            })?;
        match spoke_protocol::json::from_slice::<Answer>(&reply.body) {
            Ok(Answer {
                error: Some(error), ..
            }) => Err(Fail::Rpc {
                method: method.to_string(),
                error,
            }),
            _ if !reply.is_success() => Err(bad(format!(
                "{method}: the chain's RPC answered HTTP {}",
                reply.status
            ))),
            Ok(Answer { result, .. }) => Ok(result),
            Err(e) => Err(bad(format!("{method}: the answer is not JSON-RPC: {e}"))),
        }
    }

    /// The chain's id, asked once.
    pub async fn chain_id(&self) -> Result<u64> {
        Ok(self.cached_chain_id().await?)
    }

    async fn cached_chain_id(&self) -> Res<u64> {
        let known = self.chain_id.load(Ordering::Relaxed);
        if known != 0 {
            return Ok(known);
        }
        let id = quantity_u64(&self.call("eth_chainId", json!([])).await?)
            .map_err(|e| bad(format!("eth_chainId: {e}")))?;
        self.chain_id.store(id, Ordering::Relaxed);
        Ok(id)
    }

    /// The latest block's number.
    pub async fn block_number(&self) -> Result<u64> {
        Ok(self.head().await?)
    }

    async fn head(&self) -> Res<u64> {
        quantity_u64(&self.call("eth_blockNumber", json!([])).await?)
            .map_err(|e| bad(format!("eth_blockNumber: {e}")))
    }

    /// Calls a view function of `to` at `block` (a tag or a quantity). Generic only in encoding the call and
    /// decoding the result: each of the eight view functions called would otherwise add its own copy of the
    /// request's state machine to the browser's .wasm.
    async fn view<C: SolCall>(&self, to: Address, call: &C, block: Value) -> Res<C::Return> {
        let bytes = self
            .eth_call(to, call.abi_encode(), block, C::SIGNATURE)
            .await?;
        C::abi_decode_returns(&bytes).map_err(|e| undecodable(C::SIGNATURE, e))
    }

    /// `eth_call` of `data` on `to`; `signature` names the function in errors.
    async fn eth_call(
        &self,
        to: Address,
        data: Vec<u8>,
        block: Value,
        signature: &str,
    ) -> Res<Bytes> {
        let request = json!({ "to": to, "data": hex::encode_prefixed(data) });
        let answer = self.call("eth_call", json!([request, block])).await?;
        bytes(&answer).map_err(|e| bad(format!("eth_call {signature}: {e}")))
    }

    /// Signs and sends a transaction from the client's account, filling in what `tx` leaves out, and returns its
    /// hash as soon as the RPC took it (see [`EthChain::wait_receipt`]).
    pub async fn send_transaction(&self, tx: TxRequest) -> Result<B256> {
        Ok(self.send_tx(tx).await?)
    }

    pub(crate) async fn send_tx(&self, request: TxRequest) -> Res<B256> {
        let _turn = self.sending.lock().await;
        let chain_id = self.cached_chain_id().await?;
        let account = self.account();
        let nonce = match request.nonce {
            Some(nonce) => nonce,
            None => quantity_u64(
                &self
                    .call("eth_getTransactionCount", json!([account, "pending"]))
                    .await?,
            )
            .map_err(|e| bad(format!("eth_getTransactionCount: {e}")))?,
        };
        let gas_limit = match request.gas {
            Some(gas) => gas,
            None => {
                let mut estimate = json!({
                    "from": account,
                    "value": quantity(request.value),
                    "data": hex::encode_prefixed(&request.data),
                });
                if let Some(to) = request.to {
                    estimate["to"] = json!(to);
                }
                let gas = quantity_u64(&self.call("eth_estimateGas", json!([estimate])).await?)
                    .map_err(|e| bad(format!("eth_estimateGas: {e}")))?;
                gas.saturating_add(gas / 5)
            }
        };
        let (max_fee_per_gas, max_priority_fee_per_gas) = self
            .fees(request.max_fee_per_gas, request.max_priority_fee_per_gas)
            .await?;
        let tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas,
            max_priority_fee_per_gas,
            to: request.to.map_or(TxKind::Create, TxKind::Call),
            value: request.value,
            access_list: Default::default(),
            input: request.data,
        };
        let signature = self
            .signer
            .sign_digest(&tx.signature_hash())
            .map_err(Error::from)?;
        let signed = tx.into_signed(signature);
        let hash = *signed.hash();
        let raw = hex::encode_prefixed(signed.encoded_2718());
        let answer = self.call("eth_sendRawTransaction", json!([raw])).await?;
        if answer.as_str().and_then(|h| h.parse::<B256>().ok()) != Some(hash) {
            tracing::warn!(%hash, %answer, "the RPC names another hash for the transaction it took");
        }
        Ok(hash)
    }

    /// The max fee and the tip: what is given, the rest from the chain.
    async fn fees(&self, max_fee: Option<u128>, tip: Option<u128>) -> Res<(u128, u128)> {
        if let (Some(max_fee), Some(tip)) = (max_fee, tip) {
            if tip > max_fee {
                return Err(bad(format!(
                    "the priority fee {tip} is above the max fee {max_fee}"
                )));
            }
            return Ok((max_fee, tip));
        }
        let tip = match tip {
            Some(tip) => tip,
            None => match self.call("eth_maxPriorityFeePerGas", json!([])).await {
                Ok(tip) => quantity_u128(&tip)
                    .map_err(|e| bad(format!("eth_maxPriorityFeePerGas: {e}")))?,
                Err(Fail::Rpc { .. }) => DEFAULT_TIP,
                Err(e) => return Err(e),
            },
        };
        match max_fee {
            Some(max_fee) => Ok((max_fee, tip.min(max_fee))),
            None => {
                let block = self
                    .call("eth_getBlockByNumber", json!(["latest", false]))
                    .await?;
                let base = block
                    .get("baseFeePerGas")
                    .ok_or_else(|| bad("the chain has no EIP-1559 base fee"))
                    .and_then(|b| {
                        quantity_u128(b).map_err(|e| bad(format!("baseFeePerGas: {e}")))
                    })?;
                Ok((base.saturating_mul(2).saturating_add(tip), tip))
            }
        }
    }

    /// Waits (up to 120 s) until the transaction `hash` is mined. A reverted transaction is a receipt with
    /// `status: false`, not an error.
    pub async fn wait_receipt(&self, hash: B256) -> Result<Receipt> {
        let deadline = platform::deadline(RECEIPT_TIMEOUT);
        loop {
            let answer = self
                .call("eth_getTransactionReceipt", json!([hash]))
                .await?;
            if !answer.is_null() {
                return receipt(&answer)
                    .map_err(|e| Error::Chain(format!("eth_getTransactionReceipt: {e}")));
            }
            if platform::passed(deadline) {
                return Err(Error::Timeout("the transaction to be mined"));
            }
            platform::sleep(RECEIPT_POLL).await;
        }
    }

    /// Sends `tx`, waits for it, and fails if it reverted.
    async fn send_and_wait(&self, tx: TxRequest, what: &str) -> Result<B256> {
        let hash = self.send_tx(tx).await.map_err(|e| context(what, e))?;
        let receipt = self
            .wait_receipt(hash)
            .await
            .map_err(|e| context(what, e))?;
        if !receipt.status {
            return Err(Error::Chain(format!("{what}: the transaction reverted")));
        }
        Ok(hash)
    }

    fn manager_tx(&self, call: &impl SolCall) -> TxRequest {
        TxRequest {
            to: Some(self.manager),
            data: call.abi_encode().into(),
            ..TxRequest::default()
        }
    }

    /// Deposits `amount` of `asset` (ETH is the zero address) on the user's side of the channel with `node`;
    /// for a token, first approves the contract for the amount when the allowance is short.
    pub async fn deposit(&self, node: Address, asset: Address, amount: U256) -> Result<B256> {
        let account = self.account();
        let mut tx = self.manager_tx(&ChannelManager::depositCall {
            user: account,
            node,
            asset,
            side: Side::User as u8,
            amount,
        });
        if asset == Address::ZERO {
            tx.value = amount;
        } else {
            let allowance = self
                .view(
                    asset,
                    &DevDai::allowanceCall {
                        owner: account,
                        spender: self.manager,
                    },
                    json!("latest"),
                )
                .await
                .map_err(|e| context("reading the allowance", e))?;
            if allowance < amount {
                let approve = DevDai::approveCall {
                    spender: self.manager,
                    value: amount,
                };
                let approve = TxRequest {
                    to: Some(asset),
                    data: approve.abi_encode().into(),
                    ..TxRequest::default()
                };
                self.send_and_wait(approve, "approving the deposit").await?;
            }
        }
        self.send_and_wait(tx, "the deposit").await
    }

    /// The cumulative deposit of `side` into the channel, at the chain's head less `confirmations` blocks.
    pub async fn deposited(
        &self,
        channel_id: B256,
        asset: Address,
        side: Side,
        confirmations: u64,
    ) -> Result<U256> {
        let head = self.head().await?;
        let ledger = self
            .view(
                self.manager,
                &ChannelManager::ledgerCall {
                    id: channel_id,
                    asset,
                },
                json!(quantity(U256::from(head.saturating_sub(confirmations)))),
            )
            .await?;
        Ok(U256::from(match side {
            Side::User => ledger.depositUser,
            Side::Node => ledger.depositNode,
        }))
    }

    /// Executes a co-signed withdrawal commitment.
    pub async fn withdraw(
        &self,
        params: &ChannelParams,
        signed: &SignedCommitment,
    ) -> Result<B256> {
        // The protocol's `sol!` struct and the artifact's are two Rust types of one ABI type: re-typed through
        // the encoding, as spoke-contracts does.
        let commitment = sol_types::WithdrawCommitment::from(&signed.commitment).abi_encode();
        let c = <ChannelManager::WithdrawCommitment as SolType>::abi_decode(&commitment)
            .map_err(|e| Error::Chain(format!("the withdrawal commitment: {e}")))?;
        let sig = |s: &spoke_protocol::Signature| Bytes::from(s.as_bytes().to_vec());
        let tx = self.manager_tx(&ChannelManager::withdrawCall {
            user: params.user,
            node: params.node,
            epoch: params.epoch,
            c,
            userSig: sig(&signed.user_signature),
            nodeSig: sig(&signed.node_signature),
        });
        self.send_and_wait(tx, "the withdrawal").await
    }

    /// Publishes a preimage in the contract's registry (what settles a lock on chain in a dispute).
    pub async fn reveal(&self, preimage: B256) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::revealCall { preimage });
        self.send_and_wait(tx, "revealing the preimage").await
    }

    /// The balance of `owner` in `asset` (ETH is the zero address).
    pub async fn balance(&self, owner: Address, asset: Address) -> Result<U256> {
        if asset == Address::ZERO {
            let answer = self
                .call("eth_getBalance", json!([owner, "latest"]))
                .await?;
            return quantity_u256(&answer)
                .map_err(|e| Error::Chain(format!("eth_getBalance: {e}")));
        }
        Ok(self
            .view(
                asset,
                &DevDai::balanceOfCall { account: owner },
                json!("latest"),
            )
            .await?)
    }
}

fn undecodable(signature: &str, e: alloy_sol_types::Error) -> Fail {
    bad(format!(
        "eth_call {signature}: the result does not decode: {e}"
    ))
}

/// A receipt from `eth_getTransactionReceipt`'s JSON.
fn receipt(json: &Value) -> core::result::Result<Receipt, String> {
    let field = |name: &str| json.get(name).ok_or_else(|| format!("no {name}"));
    let hash = field("transactionHash")?;
    let contract_address = match json.get("contractAddress") {
        None | Some(Value::Null) => None,
        Some(a) => Some(address(a).map_err(|e| format!("contractAddress: {e}"))?),
    };
    Ok(Receipt {
        transaction_hash: hash
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or("transactionHash is not a hash")?,
        block_number: quantity_u64(field("blockNumber")?)
            .map_err(|e| format!("blockNumber: {e}"))?,
        status: quantity_u64(field("status")?).map_err(|e| format!("status: {e}"))? == 1,
        gas_used: quantity_u64(field("gasUsed")?).map_err(|e| format!("gasUsed: {e}"))?,
        contract_address,
    })
}

/// What revert data says, briefly: the contract's error by name when it is one of ours or `Error(string)`, else
/// its first bytes.
fn describe_revert(data: &str) -> String {
    let Ok(bytes) = hex::decode(data) else {
        return shorten(data);
    };
    if let Ok(reason) = alloy_sol_types::Revert::abi_decode(&bytes) {
        return format!("reverted: {}", reason.reason);
    }
    if let Some(selector) = bytes.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) {
        let name = ChannelManager::ChannelManagerErrors::name_by_selector(selector)
            .or_else(|| DevDai::DevDaiErrors::name_by_selector(selector));
        if let Some(name) = name {
            return format!("reverted with {name}");
        }
    }
    format!("revert data {}", shorten(data))
}

fn shorten(text: &str) -> String {
    const KEEP: usize = 74; // 0x, a selector and one word
    match text.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}… ({} chars)", &text[..cut], text.len()),
        None => text.to_string(),
    }
}

/// A JSON-RPC quantity: `0x` and hex digits without leading zeros (leading zeros and a JSON number are taken too).
pub(crate) fn quantity_u256(value: &Value) -> core::result::Result<U256, String> {
    match value {
        Value::String(text) => {
            let digits = text
                .strip_prefix("0x")
                .or_else(|| text.strip_prefix("0X"))
                .ok_or_else(|| format!("{text:?} is not a hex quantity"))?;
            if digits.is_empty() {
                return Ok(U256::ZERO);
            }
            if digits.len() > 64 {
                return Err(format!("{text:?} is more than 256 bits"));
            }
            U256::from_str_radix(digits, 16).map_err(|_| format!("{text:?} is not a hex quantity"))
        }
        Value::Number(n) => n
            .as_u64()
            .map(U256::from)
            .ok_or_else(|| format!("{n} is not a non-negative integer")),
        other => Err(format!("{other} is not a quantity")),
    }
}

pub(crate) fn quantity_u64(value: &Value) -> core::result::Result<u64, String> {
    let n = quantity_u256(value)?;
    u64::try_from(n).map_err(|_| format!("{n} does not fit in 64 bits"))
}

pub(crate) fn quantity_u128(value: &Value) -> core::result::Result<u128, String> {
    let n = quantity_u256(value)?;
    u128::try_from(n).map_err(|_| format!("{n} does not fit in 128 bits"))
}

/// A JSON-RPC quantity: `0x` and hex digits without leading zeros.
pub(crate) fn quantity(n: U256) -> String {
    format!("0x{n:x}")
}

/// `0x`-prefixed hex data.
pub(crate) fn bytes(value: &Value) -> core::result::Result<Bytes, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{value} is not hex data"))?;
    if !text.starts_with("0x") {
        return Err(format!("{text:?} does not start with 0x"));
    }
    hex::decode(text)
        .map(Bytes::from)
        .map_err(|e| format!("not hex data: {e}"))
}

/// A 20-byte address in hex (any case; a checksum is not required).
pub(crate) fn address(value: &Value) -> core::result::Result<Address, String> {
    let text = value
        .as_str()
        .ok_or_else(|| format!("{value} is not an address"))?;
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| format!("{text:?} is not a 0x address"))?;
    let raw = hex::decode(digits).map_err(|_| format!("{text:?} is not hex"))?;
    <[u8; 20]>::try_from(raw.as_slice())
        .map(Address::from)
        .map_err(|_| format!("{text:?} is not 20 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_and_print() {
        assert_eq!(quantity_u64(&json!("0x0")), Ok(0));
        assert_eq!(quantity_u64(&json!("0x")), Ok(0));
        assert_eq!(quantity_u64(&json!("0x1a")), Ok(26));
        assert_eq!(quantity_u64(&json!("0x001A")), Ok(26));
        assert_eq!(quantity_u64(&json!(7)), Ok(7));
        assert!(quantity_u64(&json!("1a")).is_err());
        assert!(quantity_u64(&json!("0xzz")).is_err());
        assert!(quantity_u64(&json!(-1)).is_err());
        assert!(quantity_u64(&json!(null)).is_err());
        assert!(quantity_u64(&json!("0x10000000000000000")).is_err());
        assert_eq!(
            quantity_u128(&json!("0x10000000000000000")),
            Ok(1u128 << 64)
        );
        assert_eq!(
            quantity_u256(&json!(format!("0x{}", "f".repeat(64)))),
            Ok(U256::MAX)
        );
        assert!(quantity_u256(&json!(format!("0x1{}", "0".repeat(64)))).is_err());
        assert_eq!(quantity(U256::ZERO), "0x0");
        assert_eq!(quantity(U256::from(255)), "0xff");
        assert_eq!(
            quantity(U256::from(1u128 << 100)),
            "0x10000000000000000000000000"
        );
    }

    #[test]
    fn data_and_addresses_parse() {
        assert_eq!(bytes(&json!("0x")), Ok(Bytes::new()));
        assert_eq!(bytes(&json!("0x0aff")), Ok(Bytes::from(vec![10, 255])));
        assert!(bytes(&json!("0aff")).is_err());
        assert!(bytes(&json!("0x0af")).is_err());
        let a = Address::repeat_byte(0xab);
        assert_eq!(address(&json!(format!("{a:#x}"))), Ok(a));
        assert_eq!(address(&json!(a.to_string())), Ok(a));
        assert!(address(&json!("0xabab")).is_err());
        assert!(address(&json!(1)).is_err());
    }

    #[test]
    fn receipts_decode() {
        let r = receipt(&json!({
            "transactionHash": B256::repeat_byte(1),
            "blockNumber": "0x10",
            "status": "0x0",
            "gasUsed": "0x5208",
            "contractAddress": null,
        }))
        .expect("receipt");
        assert_eq!(
            r,
            Receipt {
                transaction_hash: B256::repeat_byte(1),
                block_number: 16,
                status: false,
                gas_used: 21000,
                contract_address: None,
            }
        );
        assert!(receipt(&json!({ "transactionHash": B256::ZERO })).is_err());
    }

    #[test]
    fn revert_data_is_named_and_shortened() {
        let zero = hex::encode_prefixed(ChannelManager::ZeroAmount {}.abi_encode());
        assert_eq!(describe_revert(&zero), "reverted with ZeroAmount");
        let reason = hex::encode_prefixed(alloy_sol_types::Revert::from("no").abi_encode());
        assert_eq!(describe_revert(&reason), "reverted: no");
        let long = format!("0xdeadbeef{}", "00".repeat(64));
        let described = describe_revert(&long);
        assert!(
            described.starts_with("revert data 0xdeadbeef"),
            "{described}"
        );
        assert!(described.ends_with("(138 chars)"), "{described}");
        let error: Error = Fail::Rpc {
            method: "eth_estimateGas".into(),
            error: RpcError {
                code: 3,
                message: "execution reverted".into(),
                data: Some(json!(zero)),
            },
        }
        .into();
        assert_eq!(
            error.to_string(),
            "chain: eth_estimateGas: execution reverted (reverted with ZeroAmount)"
        );
    }
}
