//! `spoke-node`: serves the API on the configured address until Ctrl-C or SIGTERM.

use std::sync::Arc;

use alloy::providers::Provider;
use clap::Parser;
use spoke_node::{
    api::{app, AppState},
    chain::RpcChain,
    config::Config,
    store::SqlStore,
    Error,
};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    if let Err(e) = run(Config::parse()).await {
        tracing::error!(error = %e, "spoke-node stopped");
        std::process::exit(1);
    }
}

async fn run(config: Config) -> Result<(), Error> {
    let node = config.node_signer()?;
    let store = SqlStore::connect(&config.database_url).await?;
    let provider = alloy::providers::ProviderBuilder::new()
        .connect(&config.rpc_url)
        .await
        .map_err(|e| Error::Config(format!("cannot reach the chain at {}: {e}", config.rpc_url)))?
        .erased();
    let chain = RpcChain::new(provider, config.channel_manager, config.confirmations);
    let state = AppState {
        store: Arc::new(store),
        chain: Arc::new(chain),
        domain: config.login_domain(),
        chain_id: config.chain_id,
        channel_manager: config.channel_manager,
        node: node.address(),
        signer: Arc::new(node.clone()),
        tokens: config.tokens.clone(),
        timing: config.timing(),
        max_locks: config.max_locks,
        session_seconds: config.session_seconds,
        login_seconds: config.login_seconds,
        cors_origins: config.cors_origins.clone(),
    };
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, node = %node.address(), "spoke-node listening");
    axum::serve(listener, app(state)?)
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
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
