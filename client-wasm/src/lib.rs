//! `spoke-client`: a user's end of a Spoke channel.
//!
//! The client logs in to a node (SIWE), keeps its own copy of the latest double-signed state in a
//! [`StateStore`], and signs nothing that spoke-protocol's validator and its own checks do not accept: more than
//! it asked for, a changed expiry, a stale nonce, a key that is not the payee's. Natively it listens on the node's
//! WebSocket for proposals and reaches the chain through [`EthChain`]; the browser build adds bindings on top.

mod client;
mod error;
#[cfg(not(target_arch = "wasm32"))]
mod listen;
mod node;
mod store;

#[cfg(not(target_arch = "wasm32"))]
mod chain;

#[cfg(not(target_arch = "wasm32"))]
pub use chain::EthChain;
pub use client::{Balance, ChannelView, Client, ClientConfig, ClientEvent, Withdrawal};
pub use error::{Error, Result};
pub use node::NodeApi;
pub use store::{FileStore, Snapshot, StateStore};
