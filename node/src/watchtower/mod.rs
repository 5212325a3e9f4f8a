//! `spoke-node watchtower`: watches channels for their users, without routing anything. It takes a user's exported
//! double-signed state (at start with `--state FILE`, or at `POST /watchtower/states`), checks it with
//! spoke-protocol's own checks, stores it, and answers any dispute of that channel that holds an older state with
//! it, paying the gas with its own key: the contract takes a newer double-signed state from anyone.
//!
//! It is not a channel party and holds no channel key; its key only pays for answers.

mod api;
mod watch;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy::providers::Provider;
use serde::Deserialize;
use spoke_protocol::{check_signed_state, Address, ChannelParams, SignedState, Signer, B256};

pub use api::router;
pub use watch::{spawn, tick, Memory, Pass};

use crate::{
    chain::{Chain, RpcChain},
    config::read_secret,
    store::{Registered, SqlStore, WatchtowerStore},
    tx::TxSender,
    Error, Result,
};

/// What `spoke-node watchtower` takes. The key is read from `--key-file` or `SPOKE_WATCHTOWER_KEY`, never from a
/// flag's value, and is never printed or logged.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchtowerArgs {
    /// Address and port of the watchtower's HTTP API. Anyone who reaches it can register states (each one
    /// checked) and list what is watched: keep it on a private address.
    #[arg(
        long,
        env = "SPOKE_WATCHTOWER_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    pub listen: SocketAddr,
    /// JSON-RPC URL of the chain.
    #[arg(long, env = "SPOKE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Address of the ChannelManager contract.
    #[arg(long, env = "SPOKE_CHANNEL_MANAGER")]
    pub channel_manager: Address,
    /// The chain id the RPC must report; when unset, the RPC's is used.
    #[arg(long, env = "SPOKE_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// File holding the 32-byte secret key (hex) that pays the gas of answers (else `SPOKE_WATCHTOWER_KEY`).
    #[arg(long, env = "SPOKE_WATCHTOWER_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "SPOKE_WATCHTOWER_DATABASE_URL",
        default_value = "sqlite://spoke-watchtower.db"
    )]
    pub database_url: String,
    /// A client export to watch from the start (repeatable): `exportState()` in JS, `export_snapshot` in Rust.
    #[arg(long = "state")]
    pub states: Vec<PathBuf>,
    /// Milliseconds between two reads of the chain.
    #[arg(long, env = "SPOKE_WATCHTOWER_POLL_MS", default_value_t = 5000)]
    pub poll_interval_ms: u64,
}

/// What the client exports (`spoke_client::Client::export_snapshot`, the JSON of its `Snapshot`; `exportState()`
/// in JS), as far as a watchtower needs it: the channel's parameters and its newest double-signed state. The
/// client's other fields (preimages, commitments, …) are ignored, so the bare `{ "params", "latest" }` reads the
/// same. Defined here rather than taken from spoke-client, which depends on this crate for its tests.
#[derive(Debug, Clone, Deserialize)]
pub struct ExportedState {
    pub params: ChannelParams,
    /// `None` while the channel has only its opening state.
    pub latest: Option<SignedState>,
}

impl ExportedState {
    /// An export read from JSON text; `source_name` names it (a file) in errors.
    pub fn from_json(text: &str, source_name: &str) -> Result<ExportedState> {
        serde_json::from_str(text).map_err(|e| Error::BadExport {
            source_name: source_name.to_string(),
            reason: e.to_string(),
        })
    }
}

/// Everything the watchtower's API and its loop share.
#[derive(Clone)]
pub struct Watchtower {
    pub store: Arc<dyn WatchtowerStore>,
    pub chain: Arc<dyn Chain>,
    /// Sends the answers, from the watchtower's own key.
    pub tx: Arc<TxSender>,
    pub chain_id: u64,
    pub channel_manager: Address,
    pub poll_interval: Duration,
}

impl std::fmt::Debug for Watchtower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watchtower")
            .field("chain_id", &self.chain_id)
            .field("channel_manager", &self.channel_manager)
            .field("sender", &self.tx.address())
            .finish_non_exhaustive()
    }
}

/// A state the watchtower took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    pub channel_id: B256,
    pub epoch: u64,
    pub nonce: u64,
    pub change: Registered,
}

impl Watchtower {
    /// Checks an export and watches its state: it must be for this chain and contract, and pass spoke-protocol's
    /// checks of a double-signed state (channel id, assets, amounts, conservation, locks, both signatures). Stored
    /// only then; a refused state changes nothing.
    pub async fn register(&self, export: &ExportedState) -> Result<Registration> {
        let params = &export.params;
        if params.chain_id != self.chain_id {
            return Err(Error::WrongDeployment {
                what: "chain",
                expected: self.chain_id.to_string(),
                got: params.chain_id.to_string(),
            });
        }
        if params.contract != self.channel_manager {
            return Err(Error::WrongDeployment {
                what: "ChannelManager",
                expected: self.channel_manager.to_string(),
                got: params.contract.to_string(),
            });
        }
        let signed = export
            .latest
            .as_ref()
            .ok_or_else(|| Error::NothingToWatch(params.channel_id()))?;
        check_signed_state(signed, params).map_err(Error::InvalidState)?;
        let change = self.store.watch(params, signed).await?;
        let registration = Registration {
            channel_id: signed.state.channel_id,
            epoch: params.epoch,
            nonce: signed.state.nonce,
            change,
        };
        tracing::info!(
            channel = %registration.channel_id,
            epoch = registration.epoch,
            nonce = registration.nonce,
            change = ?change,
            "state registered"
        );
        Ok(registration)
    }

    /// Watches the export in `path`. A state older than the one already watched is kept out with a warning
    /// rather than stopping the start: a restart with the same files after newer registrations is normal.
    pub async fn register_file(&self, path: &std::path::Path) -> Result<()> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read --state {name}: {e}")))?;
        let export = ExportedState::from_json(&text, &name)?;
        match self.register(&export).await {
            Ok(_) => Ok(()),
            Err(e @ Error::StaleState { .. }) => {
                tracing::warn!(file = %name, error = %e, "a newer state is already watched");
                Ok(())
            }
            Err(
                e @ (Error::InvalidState(_)
                | Error::WrongDeployment { .. }
                | Error::NothingToWatch(_)
                | Error::ConflictingState { .. }),
            ) => Err(Error::Config(format!("--state {name}: {e}"))),
            Err(e) => Err(e),
        }
    }
}

/// Connects the store (migrated), the chain and the sender. The chain id is the RPC's, checked against
/// `--chain-id` when given.
pub async fn build(args: &WatchtowerArgs) -> Result<Watchtower> {
    let secret = read_secret(
        args.key_file.as_deref(),
        "--key-file",
        "SPOKE_WATCHTOWER_KEY",
        "watchtower key",
    )?;
    let sender = Signer::from_bytes(&secret)
        .map_err(|_| Error::Config("the watchtower key is not a valid secp256k1 key".into()))?;
    let provider = alloy::providers::ProviderBuilder::new()
        .connect(&args.rpc_url)
        .await
        .map_err(|e| Error::Config(format!("cannot reach the chain at {}: {e}", args.rpc_url)))?
        .erased();
    let rpc_chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| Error::Chain(format!("reading the chain id: {e}")))?;
    if let Some(expected) = args.chain_id {
        if expected != rpc_chain_id {
            return Err(Error::Config(format!(
                "--chain-id is {expected}, but the RPC at {} serves chain {rpc_chain_id}",
                args.rpc_url
            )));
        }
    }
    let store = SqlStore::connect(&args.database_url).await?;
    let tx = TxSender::new(&args.rpc_url, secret, rpc_chain_id, args.channel_manager)?;
    tracing::info!(sender = %sender.address(), chain_id = rpc_chain_id, "watchtower connected");
    Ok(Watchtower {
        store: Arc::new(store),
        chain: Arc::new(RpcChain::new(provider, args.channel_manager, 0)),
        tx: Arc::new(tx),
        chain_id: rpc_chain_id,
        channel_manager: args.channel_manager,
        poll_interval: Duration::from_millis(args.poll_interval_ms.max(10)),
    })
}

/// Loads the `--state` files, starts watching and serves the API on `args.listen` until `shutdown` completes.
pub async fn run(
    args: WatchtowerArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let watchtower = build(&args).await?;
    for path in &args.states {
        watchtower.register_file(path).await?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let watching = spawn(watchtower.clone());
    tracing::info!(address = %listener.local_addr()?, "spoke-node watchtower listening");
    let served = crate::server::serve_with(router(watchtower), listener, shutdown).await;
    watching.abort();
    served
}
