#![doc = include_str!("../README.md")]

mod convert;
mod deploy;

pub use convert::{sol_commitment, sol_lock, sol_state};
pub use deploy::{anvil_binary, deploy, http_provider, mint_dai, Deployment};

/// Contract bindings generated from the committed artifacts.
pub mod bindings {
    alloy::sol!(
        #[allow(missing_docs, clippy::too_many_arguments)]
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        ChannelManager,
        "../artifacts/ChannelManager.json"
    );

    alloy::sol!(
        #[allow(missing_docs)]
        #[sol(rpc)]
        #[derive(Debug, PartialEq, Eq)]
        DevDai,
        "../artifacts/DevDai.json"
    );
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What can go wrong talking to the chain or the contracts.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("contract call failed: {0}")]
    Contract(#[from] alloy::contract::Error),
    #[error("chain request failed: {0}")]
    Transport(#[from] alloy::transports::TransportError),
    #[error("waiting for a transaction failed: {0}")]
    PendingTransaction(#[from] alloy::providers::PendingTransactionError),
    #[error("bad chain URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("transaction {0} reverted")]
    Reverted(alloy::primitives::B256),
    #[error("the deployment receipt has no contract address")]
    NoContractAddress,
    #[error("state conversion: {0}")]
    Protocol(#[from] spoke_protocol::Error),
}
