#![doc = include_str!("../README.md")]

mod apply;
mod eip712;
mod error;
pub mod json;
mod login;
mod merkle;
mod preimage;
mod proposal;
mod routing;
mod signing;
mod state;
mod types;
pub mod wire;

pub use apply::{apply, validate, Context};
pub use eip712::{
    channel_id, commitment_digest, domain, lock_leaf, quote_digest, redemption_digest, sol_types,
    state_digest, state_struct_hash,
};
pub use error::{Error, Result};
pub use login::{login_digest, verify_login, Login};
pub use merkle::{locks_root, merkle_proof, merkle_root, verify_merkle_proof};
pub use preimage::{
    decrypt_preimage, encrypt_preimage, encryption_key, key_belongs_to, link_secrets, sha256,
    EncryptedPreimage, LinkSecrets, PreimageContext,
};
pub use proposal::{
    accept_proposal, check_signed_state, propose, validate_state, Accepted, Proposal,
};
pub use routing::{check_forward, payment_id, reveal_deadline};
pub use signing::{
    recover, recover_public_key, signature_hex, signature_hex_option, verify, verify_signer,
    verify_with_key, PublicKey, Signer,
};
pub use state::{
    AssetState, ChannelState, ExchangeQuote, Lock, SignedCommitment, SignedState, Update,
    WithdrawCommitment,
};
pub use types::{parse_address, ChannelParams, Side, Timing};

pub use alloy_primitives::{hex, keccak256, Address, Signature, B256, U256};

/// The largest amount any field of a state may hold: the contract stores cumulative amounts as `uint128`, so
/// the validator never lets an honest party sign a state the chain could not take.
pub const MAX_AMOUNT: U256 = U256::from_limbs([u64::MAX, u64::MAX, 0, 0]);

/// Most assets one channel may hold; bounds the gas of a dispute (Vector's audit 4.1).
pub const MAX_ASSETS: usize = 8;

/// EIP-712 domain name and version of the ChannelManager.
pub const DOMAIN_NAME: &str = "Spoke";
/// See [`DOMAIN_NAME`].
pub const DOMAIN_VERSION: &str = "1";
