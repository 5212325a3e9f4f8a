//! Wiring: from a [`Config`] to a running API. `main.rs` parses flags and calls [`run`]; `spoke-node dev` builds
//! its own configuration and calls the same code.

use std::{future::Future, sync::Arc};

use alloy::providers::Provider;

use crate::{
    api::{app, AppState},
    chain::RpcChain,
    config::Config,
    store::SqlStore,
    Error, Result,
};

/// Everything the API needs, connected: the store (migrated), the chain, the node's key.
pub async fn build_state(config: &Config) -> Result<AppState> {
    let node = config.node_signer()?;
    let store = SqlStore::connect(&config.database_url).await?;
    let provider = alloy::providers::ProviderBuilder::new()
        .connect(&config.rpc_url)
        .await
        .map_err(|e| Error::Config(format!("cannot reach the chain at {}: {e}", config.rpc_url)))?
        .erased();
    let chain = RpcChain::new(provider, config.channel_manager, config.confirmations);
    Ok(AppState {
        store: Arc::new(store),
        chain: Arc::new(chain),
        domain: config.login_domain(),
        chain_id: config.chain_id,
        channel_manager: config.channel_manager,
        node: node.address(),
        signer: Arc::new(node),
        tokens: config.tokens.clone(),
        timing: config.timing(),
        max_locks: config.max_locks,
        session_seconds: config.session_seconds,
        login_seconds: config.login_seconds,
        cors_origins: config.cors_origins.clone(),
    })
}

/// Serves the API on `config.listen` until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let state = build_state(&config).await?;
    let node = state.node;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, node = %node, "spoke-node listening");
    axum::serve(listener, app(state)?)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("spoke-node shutting down");
}
