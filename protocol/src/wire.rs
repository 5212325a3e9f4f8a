//! The messages of the node's HTTP and WebSocket API (docs/PROTOCOL.md, "Node API"), shared by the node and the
//! clients so both sides read and write the same JSON. Only types; no I/O.

use alloy_primitives::{Address, Signature, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{
    preimage::EncryptedPreimage,
    proposal::Proposal,
    state::SignedState,
    types::{ChannelParams, Timing},
};

/// `GET /config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeConfig {
    pub chain_id: u64,
    pub channel_manager: Address,
    pub node: Address,
    pub tokens: Vec<Address>,
    pub timing: Timing,
    pub max_locks: usize,
    pub login_domain: String,
    /// Blocks the chain must add on top of a deposit's block before the node counts it: a client waits for
    /// them (and shows them) before asking.
    pub deposit_confirmations: u64,
}

crate::json_struct!(
    NodeConfig,
    lenient {
        chain_id: "chainId",
        channel_manager: "channelManager",
        node: "node",
        tokens: "tokens",
        timing: "timing",
        max_locks: "maxLocks",
        login_domain: "loginDomain",
        deposit_confirmations: "depositConfirmations",
    }
);

/// `POST /auth/challenge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChallengeRequest {
    pub address: Address,
}

/// The answer to [`ChallengeRequest`]: the SIWE text to sign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeResponse {
    pub message: String,
    pub expires_at: u64,
}

crate::json_struct!(
    ChallengeResponse,
    lenient {
        message: "message",
        expires_at: "expiresAt",
    }
);

/// `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    pub message: String,
    #[serde(with = "crate::signing::signature_hex")]
    pub signature: Signature,
}

/// The answer to [`LoginRequest`]: a bearer token for the signer's channel only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub token: String,
    pub address: Address,
    pub expires_at: u64,
}

crate::json_struct!(
    LoginResponse,
    lenient {
        token: "token",
        address: "address",
        expires_at: "expiresAt",
    }
);

/// `POST /channel/setup` and `GET /channel/restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelResponse {
    pub params: ChannelParams,
    /// The newest state both sides signed; absent while only the opening state exists.
    pub latest: Option<SignedState>,
}

crate::json_struct!(
    ChannelResponse,
    lenient {
        params: "params",
        latest: "latest",
    }
);

/// `POST /channel/propose` (and `/payments/resolve`, `/payments/cancel`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProposeRequest {
    pub proposal: Proposal,
    /// For a withdrawal: the user's signature on its commitment.
    #[serde(
        default,
        with = "crate::signing::signature_hex_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub commitment_signature: Option<Signature>,
    /// For a withdrawal: the node sends the co-signed commitment to the chain itself (and pays its gas).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub submit: bool,
    /// The user's countersignature on the node's pending proposal, which `proposal` follows: stored first, exactly
    /// as `POST /channel/countersign` would, so that a payee takes the node's lock and resolves it in one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countersign: Option<CountersignRequest>,
}

/// The node's countersignature on a user's proposal, given once both signatures are durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposeResponse {
    pub nonce: u64,
    #[serde(with = "crate::signing::signature_hex")]
    pub signature: Signature,
    /// For a withdrawal: the node's signature on its commitment, released with the state that deducts it.
    #[serde(
        default,
        with = "crate::signing::signature_hex_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub commitment_signature: Option<Signature>,
    /// For a lock: the id of the payment it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<B256>,
    /// For a withdrawal the node was asked to submit: its transaction, once the chain's RPC accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawal_tx: Option<B256>,
}

crate::json_struct!(
    ProposeResponse,
    lenient {
        nonce: "nonce",
        signature: "signature",
        commitment_signature: "commitmentSignature",
        payment_id: "paymentId",
        withdrawal_tx: "withdrawalTx",
    }
);

/// `POST /pay`: the payer's lock to the node and what the node needs to lock to the payee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PayRequest {
    /// The payer's `createLock`.
    pub proposal: Proposal,
    pub recipient: Address,
    /// The expiry of the node's lock to the recipient; the payer's lock expires at least Δ later.
    pub payee_expiry: u64,
    /// The preimage encrypted to the recipient's key, bound to the node's lock (hashlock, amount, asset,
    /// `payee_expiry`).
    pub encrypted_preimage: EncryptedPreimage,
}

/// `POST /links`: a payment to whoever holds the link's secret. The payer's lock registers the link key's
/// address; no preimage travels, since the redeemer derives it from the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateLinkRequest {
    /// The payer's `createLock`.
    pub proposal: Proposal,
    /// The address of the link key.
    pub link_address: Address,
    /// The expiry of the node's lock to the redeemer.
    pub payee_expiry: u64,
}

/// `POST /links/redeem`: the redeemer's claim, signed by the link key (EIP-712 `LinkRedemption` of the
/// hashlock and the redeemer's channel id). The node locks to the redeemer; only then does the redeemer reveal the
/// preimage, by resolving that lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RedeemLinkRequest {
    pub hashlock: B256,
    #[serde(with = "crate::signing::signature_hex")]
    pub signature: Signature,
}

/// The answer to [`RedeemLinkRequest`]: the payment now locked to the redeemer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemLinkResponse {
    pub payment_id: B256,
    pub asset: Address,
    pub amount: U256,
}

crate::json_struct!(
    RedeemLinkResponse,
    lenient {
        payment_id: "paymentId",
        asset: "asset",
        amount: "amount",
    }
);

/// `POST /exchange/quote`: what the user wants to sell and buy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuoteRequest {
    pub sell_asset: Address,
    pub sell_amount: U256,
    pub buy_asset: Address,
}

/// The node's signed quote; the user executes it with an `exchange` update before its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteResponse {
    pub quote: crate::state::ExchangeQuote,
    #[serde(with = "crate::signing::signature_hex")]
    pub node_signature: Signature,
}

crate::json_struct!(
    QuoteResponse,
    lenient {
        quote: "quote",
        node_signature: "nodeSignature",
    }
);

/// `POST /channel/countersign`: the user's signature on the node's pending proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CountersignRequest {
    pub nonce: u64,
    #[serde(with = "crate::signing::signature_hex")]
    pub signature: Signature,
    /// For the node's withdrawal (its excess collateral): the user's signature on its commitment.
    #[serde(
        default,
        with = "crate::signing::signature_hex_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub commitment_signature: Option<Signature>,
}

/// The answer to [`CountersignRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CountersignResponse {
    pub nonce: u64,
}

crate::json_struct!(CountersignResponse, lenient { nonce: "nonce" });

/// `GET /users/{address}/key`: the key a payer encrypts to, which it checks derives `address`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyResponse {
    pub address: Address,
    /// 33 bytes, compressed SEC1.
    pub public_key: alloy_primitives::Bytes,
}

crate::json_struct!(
    KeyResponse,
    lenient {
        address: "address",
        public_key: "publicKey",
    }
);

/// Where a payment routed through the node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PaymentStatus {
    /// The payer's lock to the node is double-signed; the node has not locked to the payee yet.
    Accepted,
    /// The node has signed its lock to the payee.
    Forwarded,
    /// The node knows the preimage; the payer's lock is to be resolved.
    Resolved,
    /// The payer's lock is resolved to the node: the payment is done.
    Completed,
    /// The payee's lock can no longer be enforced; the payer's lock goes back.
    Refunding,
    /// The payer's lock went back to the payer.
    Failed,
}

crate::json_enum!(PaymentStatus {
    Accepted: "accepted",
    Forwarded: "forwarded",
    Resolved: "resolved",
    Completed: "completed",
    Refunding: "refunding",
    Failed: "failed",
});

impl PaymentStatus {
    /// Every status, in the order a payment goes through them.
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Accepted,
        PaymentStatus::Forwarded,
        PaymentStatus::Resolved,
        PaymentStatus::Completed,
        PaymentStatus::Refunding,
        PaymentStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Accepted => "accepted",
            PaymentStatus::Forwarded => "forwarded",
            PaymentStatus::Resolved => "resolved",
            PaymentStatus::Completed => "completed",
            PaymentStatus::Refunding => "refunding",
            PaymentStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the payment has reached an end.
    pub fn is_final(self) -> bool {
        matches!(self, PaymentStatus::Completed | PaymentStatus::Failed)
    }
}

/// A payment as the node reports it (`GET /payments`, `GET /payments/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRecord {
    pub id: B256,
    pub payer: Address,
    pub payee: Option<Address>,
    pub asset: Address,
    pub amount: U256,
    pub hashlock: B256,
    pub status: PaymentStatus,
    pub created_at: u64,
    pub updated_at: u64,
}

crate::json_struct!(
    PaymentRecord,
    lenient {
        id: "id",
        payer: "payer",
        payee: "payee",
        asset: "asset",
        amount: "amount",
        hashlock: "hashlock",
        status: "status",
        created_at: "createdAt",
        updated_at: "updatedAt",
    }
);

/// A node proposal with what the user needs to judge it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingProposal {
    pub proposal: Proposal,
    /// For the node's lock to the user: the payment it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<IncomingPayment>,
}

crate::json_struct!(
    PendingProposal,
    lenient {
        proposal: "proposal",
        payment: "payment",
    }
);

/// The payment behind the node's lock to a payee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingPayment {
    pub id: B256,
    pub payer: Address,
    /// The preimage as the payer encrypted it to the payee; absent for a link (the redeemer holds the secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted_preimage: Option<EncryptedPreimage>,
}

crate::json_struct!(
    IncomingPayment,
    lenient {
        id: "id",
        payer: "payer",
        encrypted_preimage: "encryptedPreimage",
    }
);

/// What the node pushes over the WebSocket, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum NodeEvent {
    /// The node signed an update of the user's channel and waits for the countersignature.
    Proposal(Box<PendingProposal>),
    /// A payment the user sent or receives changed status.
    Payment {
        id: B256,
        status: PaymentStatus,
        payer: Address,
        payee: Option<Address>,
        asset: Address,
        amount: U256,
    },
}

impl crate::json::FromJson for NodeEvent {
    fn from_json(value: &crate::json::Value) -> Result<Self, crate::json::JsonError> {
        let o = crate::json::Object::new(value)?;
        match o.field::<String>("type")?.as_str() {
            "proposal" => crate::json::FromJson::from_json(value).map(NodeEvent::Proposal),
            "payment" => Ok(NodeEvent::Payment {
                id: o.field("id")?,
                status: o.field("status")?,
                payer: o.field("payer")?,
                payee: o.field("payee")?,
                asset: o.field("asset")?,
                amount: o.field("amount")?,
            }),
            other => Err(crate::json::JsonError::new(format!(
                "unknown variant `{other}`, expected `proposal` or `payment`"
            ))),
        }
    }
}

/// Every API error: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiErrorBody {
    pub code: String,
    pub message: String,
}

crate::json_struct!(
    ApiErrorBody,
    lenient {
        code: "code",
        message: "message",
    }
);
