//! `spoke-client`: a user's end of a Spoke channel.
//!
//! The client logs in to a node (SIWE), keeps its own copy of the latest double-signed state in a
//! [`StateStore`], and signs nothing that spoke-protocol's validator and its own checks do not accept: more than
//! it asked for, a changed expiry, a stale nonce, a key that is not the payee's. Natively it listens on the node's
//! WebSocket for proposals and reaches the chain through [`EthChain`]; the browser build adds bindings on top.

mod caps;
mod client;
mod error;
mod http;
mod kv;
mod listen;
mod node;
mod platform;
mod store;
mod typed_data;
mod wallet;
#[cfg(target_arch = "wasm32")]
mod wasm;

mod chain;
mod eip1193;

pub use caps::{SpendingCaps, Spent};
pub use chain::{Book, ChannelStatus, EthChain, OnChainChannel, Receipt, TxRequest};
pub use client::{
    Balance, ChannelView, Client, ClientConfig, ClientEvent, ExitReport, ExitStep, Withdrawal,
};
pub use eip1193::{Eip1193, ProviderError};
pub use error::{Error, Result};
pub use kv::{KeyValue, MemoryKv};
pub use node::NodeApi;
pub use store::{FileStore, KvStore, Snapshot, StateStore};
pub use wallet::Wallet;
#[cfg(target_arch = "wasm32")]
pub use wasm::JsStorage as BrowserStorage;
