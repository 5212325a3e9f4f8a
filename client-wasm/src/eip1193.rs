//! The core of an EIP-1193 provider backed by the user's key: what a dapp may ask the user's Spoke wallet for.
//!
//! It answers the account and chain questions itself, signs EIP-191 messages and EIP-712 typed data, and signs and
//! sends transactions; every other method goes to the chain's RPC as it is. It refuses what could move channel
//! funds behind the validator's back: typed data for the ChannelManager (channel states, commitments and quotes
//! are signed only through the client's validator), raw-hash signing (`eth_sign`), and sign-in messages for any
//! site but the one it was set up for.

use alloy_primitives::{eip191_hash_message, hex, Bytes};
use serde_json::{json, Map, Value};
use spoke_protocol::{Address, Login, Signer, B256, U256};

use crate::{
    chain::{self, Fail},
    typed_data::TypedData,
    Error, EthChain, TxRequest,
};

/// An EIP-1193 error: `code` is 4001 (the user rejected), 4100 (unauthorized), 4200 (unsupported method), 4902
/// (unknown chain), -32602 (invalid params), -32603 (internal), or the RPC's own code for a forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    pub code: i64,
    pub message: String,
    /// The RPC's `data` (e.g. revert data) when it gave some.
    pub data: Option<Value>,
}

impl ProviderError {
    pub const USER_REJECTED: i64 = 4001;
    pub const UNAUTHORIZED: i64 = 4100;
    pub const UNSUPPORTED_METHOD: i64 = 4200;
    pub const UNRECOGNIZED_CHAIN: i64 = 4902;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL: i64 = -32603;

    pub fn new(code: i64, message: impl Into<String>) -> ProviderError {
        ProviderError {
            code,
            message: message.into(),
            data: None,
        }
    }

    fn unauthorized(message: impl Into<String>) -> ProviderError {
        ProviderError::new(Self::UNAUTHORIZED, message)
    }

    fn invalid(message: impl Into<String>) -> ProviderError {
        ProviderError::new(Self::INVALID_PARAMS, message)
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ProviderError {}

impl From<Error> for ProviderError {
    fn from(e: Error) -> ProviderError {
        ProviderError::new(ProviderError::INTERNAL, e.to_string())
    }
}

impl From<Fail> for ProviderError {
    fn from(f: Fail) -> ProviderError {
        match f {
            Fail::Rpc { error, .. } => ProviderError {
                code: error.code,
                message: error.message,
                data: error.data,
            },
            Fail::Client(e) => e.into(),
        }
    }
}

type Answer = Result<Value, ProviderError>;

/// The first line of an EIP-4361 (Sign-In with Ethereum) message ends so.
const SIWE_HEADER: &str = " wants you to sign in with your Ethereum account:";

/// An EIP-1193 provider's requests, answered with the user's key.
#[derive(Debug, Clone)]
pub struct Eip1193 {
    chain: EthChain,
    signer: Signer,
    chain_id: u64,
    channel_manager: Address,
    login_domain: String,
}

impl Eip1193 {
    /// A provider for the account of `chain` (its key signs) on chain `chain_id`. It refuses typed data for
    /// `chain`'s ChannelManager and signs sign-in messages only for `login_domain` (`host[:port]`).
    pub fn new(chain: EthChain, chain_id: u64, login_domain: impl Into<String>) -> Eip1193 {
        Eip1193 {
            signer: chain.signer().clone(),
            channel_manager: chain.manager(),
            chain,
            chain_id,
            login_domain: login_domain.into(),
        }
    }

    pub fn address(&self) -> Address {
        self.signer.address()
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Answers one EIP-1193 request (`params` is the request's array, or null when it has none).
    pub async fn request(&self, method: &str, params: Value) -> Answer {
        match method {
            "eth_accounts" | "eth_requestAccounts" => Ok(json!([self.address().to_checksum(None)])),
            "eth_chainId" => Ok(json!(format!("{:#x}", self.chain_id))),
            "net_version" => Ok(json!(self.chain_id.to_string())),
            "personal_sign" => self.personal_sign(&params),
            "eth_signTypedData_v4" => self.sign_typed_data(&params),
            "eth_sendTransaction" => self.send_transaction(&params).await,
            "wallet_switchEthereumChain" => self.switch_chain(&params),
            "eth_sign" => Err(ProviderError::new(
                ProviderError::UNSUPPORTED_METHOD,
                "eth_sign is not supported: it signs a raw hash, which could be a transaction or a channel \
                 state; use personal_sign or eth_signTypedData_v4",
            )),
            // The RPC may hold keys of its own (a development node does): nothing that signs or unlocks reaches it.
            _ if method.starts_with("eth_sign")
                || method.starts_with("personal_")
                || method.starts_with("wallet_")
                || (method.starts_with("eth_send") && method != "eth_sendRawTransaction") =>
            {
                Err(ProviderError::new(
                    ProviderError::UNSUPPORTED_METHOD,
                    format!("{method} is not supported by this wallet"),
                ))
            }
            _ => Ok(self.chain.call(method, params).await?),
        }
    }

    /// Checks that `value` names this wallet's account.
    fn ours(&self, value: Option<&Value>, what: &str) -> Result<(), ProviderError> {
        let value = value.ok_or_else(|| ProviderError::invalid(format!("{what}: no address")))?;
        let address =
            chain::address(value).map_err(|e| ProviderError::invalid(format!("{what}: {e}")))?;
        if address != self.address() {
            return Err(ProviderError::unauthorized(format!(
                "{what}: {address} is not this wallet's account ({})",
                self.address()
            )));
        }
        Ok(())
    }

    fn sign(&self, digest: &B256) -> Answer {
        let signature = self.signer.sign_digest(digest).map_err(Error::from)?;
        Ok(json!(hex::encode_prefixed(signature.as_bytes())))
    }

    /// `personal_sign([message, address])`: EIP-191 over the message's bytes (`0x` hex, else its UTF-8 text).
    fn personal_sign(&self, params: &Value) -> Answer {
        let (mut message, mut address) = (param(params, 0), param(params, 1));
        // Some dapps still send the pre-standard order [address, message].
        if address.is_some_and(|a| chain::address(a).is_err())
            && message.is_some_and(|m| chain::address(m).is_ok())
        {
            std::mem::swap(&mut message, &mut address);
        }
        self.ours(address, "personal_sign")?;
        let text = message
            .and_then(Value::as_str)
            .ok_or_else(|| ProviderError::invalid("personal_sign: the message is not a string"))?;
        let bytes = match text.strip_prefix("0x").map(hex::decode) {
            Some(Ok(bytes)) => bytes,
            _ => text.as_bytes().to_vec(),
        };
        if let Ok(text) = std::str::from_utf8(&bytes) {
            self.check_sign_in(text)?;
        }
        self.sign(&eip191_hash_message(&bytes))
    }

    /// A sign-in message (EIP-4361) is signed only for the domain this wallet logs in to, for its own account and
    /// chain: a site that got a signature on another site's sign-in message could log in there as the user.
    fn check_sign_in(&self, text: &str) -> Result<(), ProviderError> {
        let Some(domain) = text
            .lines()
            .next()
            .and_then(|line| line.trim().strip_suffix(SIWE_HEADER))
        else {
            return Ok(());
        };
        let domain = domain.split_once("://").map_or(domain, |(_, rest)| rest);
        if domain != self.login_domain {
            return Err(ProviderError::unauthorized(format!(
                "this is a sign-in message for {domain}; this wallet signs sign-in messages only for {}",
                self.login_domain
            )));
        }
        if let Ok(login) = Login::parse(text) {
            if login.domain != self.login_domain {
                return Err(ProviderError::unauthorized(format!(
                    "this is a sign-in message for {}; this wallet signs sign-in messages only for {}",
                    login.domain, self.login_domain
                )));
            }
            if login.address != self.address() || login.chain_id != self.chain_id {
                return Err(ProviderError::unauthorized(format!(
                    "the sign-in message is for {} on chain {}, not this wallet's {} on chain {}",
                    login.address,
                    login.chain_id,
                    self.address(),
                    self.chain_id
                )));
            }
        }
        Ok(())
    }

    /// `eth_signTypedData_v4([address, typedData])`, the typed data as a JSON string or object.
    fn sign_typed_data(&self, params: &Value) -> Answer {
        self.ours(param(params, 0), "eth_signTypedData_v4")?;
        let invalid = |e: String| ProviderError::invalid(format!("eth_signTypedData_v4: {e}"));
        let parsed;
        let document = match param(params, 1) {
            Some(Value::String(text)) => {
                let mut value = spoke_protocol::json::parse(text.as_bytes())
                    .map_err(|e| invalid(e.to_string()))?;
                // JSON of JSON, as some dapps send it (alloy-dyn-abi took it too).
                if let Value::String(inner) = &value {
                    value = spoke_protocol::json::parse(inner.as_bytes())
                        .map_err(|e| invalid(e.to_string()))?;
                }
                parsed = value;
                &parsed
            }
            Some(value @ Value::Object(_)) => value,
            _ => {
                return Err(ProviderError::invalid(
                    "eth_signTypedData_v4: no typed data",
                ))
            }
        };
        let typed = TypedData::parse(document).map_err(invalid)?;
        if typed.domain.verifying_contract == Some(self.channel_manager) {
            return Err(ProviderError::unauthorized(
                "typed data for the Spoke ChannelManager is signed only by the Spoke client, after its checks",
            ));
        }
        if let Some(id) = typed.domain.chain_id {
            if id != U256::from(self.chain_id) {
                return Err(ProviderError::invalid(format!(
                    "eth_signTypedData_v4: the typed data is for chain {id}, this wallet is on chain {}",
                    self.chain_id
                )));
            }
        }
        let digest = typed.signing_hash().map_err(invalid)?;
        self.sign(&digest)
    }

    /// `eth_sendTransaction([{from, to, value, data, gas, nonce, maxFeePerGas, maxPriorityFeePerGas}])`.
    async fn send_transaction(&self, params: &Value) -> Answer {
        let tx = param(params, 0)
            .and_then(Value::as_object)
            .ok_or_else(|| ProviderError::invalid("eth_sendTransaction: no transaction object"))?;
        self.ours(tx.get("from"), "eth_sendTransaction: from")?;
        let request = transaction(tx, self.chain_id)
            .map_err(|e| ProviderError::invalid(format!("eth_sendTransaction: {e}")))?;
        let hash = self.chain.send_tx(request).await?;
        Ok(json!(hash))
    }

    /// `wallet_switchEthereumChain([{chainId}])`: this wallet stays on its one chain.
    fn switch_chain(&self, params: &Value) -> Answer {
        let wanted = param(params, 0)
            .and_then(|p| p.get("chainId"))
            .ok_or_else(|| ProviderError::invalid("wallet_switchEthereumChain: no chainId"))
            .and_then(|id| {
                chain::quantity_u64(id)
                    .map_err(|e| ProviderError::invalid(format!("wallet_switchEthereumChain: {e}")))
            })?;
        if wanted == self.chain_id {
            return Ok(Value::Null);
        }
        Err(ProviderError::new(
            ProviderError::UNRECOGNIZED_CHAIN,
            format!(
                "this wallet is bound to chain {}; it cannot switch to chain {wanted}",
                self.chain_id
            ),
        ))
    }
}

fn param(params: &Value, index: usize) -> Option<&Value> {
    params.as_array().and_then(|p| p.get(index))
}

/// A dapp's transaction object as a [`TxRequest`]; absent fields are left to the chain.
fn transaction(tx: &Map<String, Value>, chain_id: u64) -> Result<TxRequest, String> {
    let given = |name: &str| tx.get(name).filter(|v| !v.is_null());
    let field = |name: &str| -> Result<Option<U256>, String> {
        given(name)
            .map(|v| chain::quantity_u256(v).map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    let narrow = |name: &str, v: Option<U256>| -> Result<Option<u128>, String> {
        v.map(|v| u128::try_from(v).map_err(|_| format!("{name} is too large")))
            .transpose()
    };
    if let Some(id) = field("chainId")? {
        if id != U256::from(chain_id) {
            return Err(format!(
                "chainId {id} is not this wallet's chain {chain_id}"
            ));
        }
    }
    let to = match given("to") {
        None => None,
        Some(Value::String(s)) if s.is_empty() || s == "0x" => None,
        Some(v) => Some(chain::address(v).map_err(|e| format!("to: {e}"))?),
    };
    let data = |name: &str| -> Result<Option<Bytes>, String> {
        given(name)
            .map(|v| chain::bytes(v).map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    let data = match (data("data")?, data("input")?) {
        (Some(a), Some(b)) if a != b => return Err("data and input differ".into()),
        (a, b) => a.or(b).unwrap_or_default(),
    };
    let gas = match field("gas")? {
        Some(gas) => Some(gas),
        None => field("gasLimit")?,
    };
    let gas = gas
        .map(|g| u64::try_from(g).map_err(|_| "gas is too large".to_string()))
        .transpose()?;
    let nonce = field("nonce")?
        .map(|n| u64::try_from(n).map_err(|_| "nonce is too large".to_string()))
        .transpose()?;
    let mut max_fee = narrow("maxFeePerGas", field("maxFeePerGas")?)?;
    let mut tip = narrow("maxPriorityFeePerGas", field("maxPriorityFeePerGas")?)?;
    // A legacy gas price pays the same as a max fee and a tip of that price.
    if let Some(price) = narrow("gasPrice", field("gasPrice")?)? {
        max_fee.get_or_insert(price);
        tip.get_or_insert(price);
    }
    Ok(TxRequest {
        to,
        value: field("value")?.unwrap_or_default(),
        data,
        gas,
        nonce,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: tip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn transaction_objects_parse() {
        let to = Address::repeat_byte(7);
        let tx = transaction(
            &object(json!({
                "from": Address::repeat_byte(1), "to": to, "value": "0xde0b6b3a7640000", "input": "0x1234",
                "gas": "0x5208", "nonce": "0x3", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x1",
                "chainId": "0x7a69", "type": "0x2",
            })),
            31337,
        )
        .expect("parses");
        assert_eq!(
            tx,
            TxRequest {
                to: Some(to),
                value: U256::from(10u64).pow(U256::from(18)),
                data: Bytes::from(vec![0x12, 0x34]),
                gas: Some(21000),
                nonce: Some(3),
                max_fee_per_gas: Some(2_000_000_000),
                max_priority_fee_per_gas: Some(1),
            }
        );
        let minimal = transaction(&object(json!({ "from": to, "to": null })), 1).expect("parses");
        assert_eq!(minimal, TxRequest::default());
        let legacy =
            transaction(&object(json!({ "to": to, "gasPrice": "0x10" })), 1).expect("parses");
        assert_eq!(
            (legacy.max_fee_per_gas, legacy.max_priority_fee_per_gas),
            (Some(16), Some(16))
        );
        assert!(transaction(&object(json!({ "chainId": "0x1" })), 2).is_err());
        assert!(transaction(&object(json!({ "data": "0x12", "input": "0x34" })), 1).is_err());
        assert!(transaction(&object(json!({ "value": "ten" })), 1).is_err());
        assert!(transaction(&object(json!({ "to": "0x1234" })), 1).is_err());
        assert!(transaction(&object(json!({ "gas": "0x10000000000000000" })), 1).is_err());
    }

    #[test]
    fn errors_print_their_code() {
        let e = ProviderError::unauthorized("no");
        assert_eq!(e.to_string(), "no (4100)");
    }
}
