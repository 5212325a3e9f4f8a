//! `spoke-node`: serves the API on the configured address until Ctrl-C or SIGTERM.

use clap::Parser;
use spoke_node::{config::Config, server};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    if let Err(e) = server::run(Config::parse(), server::shutdown_signal()).await {
        tracing::error!(error = %e, "spoke-node stopped");
        std::process::exit(1);
    }
}
