//! `spoke-node`: `serve` runs the node from flags and environment variables (also the default, so plain
//! `spoke-node --chain-id …` keeps working); `dev` runs a whole local environment; `watchtower` only watches
//! users' exported states and answers stale disputes of them. All stop on Ctrl-C or SIGTERM.

use std::ffi::OsString;

use clap::{Parser, Subcommand};
use spoke_node::{config::Config, dev, server, watchtower};

#[derive(Debug, Parser)]
#[command(
    name = "spoke-node",
    version,
    about = "The Spoke node: routes payments between its users' channels."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the node (the default when no command is given).
    #[command(name = "serve")]
    Serve(Box<Config>),
    /// Start a local chain with the contracts, fund development accounts and serve the node and the card on it.
    #[command(name = "dev")]
    Dev(dev::DevArgs),
    /// Watch users' exported channel states and answer disputes that hold an older one; no routing.
    #[command(name = "watchtower")]
    Watchtower(Box<watchtower::WatchtowerArgs>),
}

/// `argv` with `serve` put in front of the flags when no command was named.
fn with_default_command(mut args: Vec<OsString>) -> Vec<OsString> {
    let named = args.get(1).and_then(|a| a.to_str()).is_some_and(|first| {
        matches!(
            first,
            "serve" | "dev" | "watchtower" | "help" | "-h" | "--help" | "-V" | "--version"
        )
    });
    if !named {
        args.insert(1.min(args.len()), OsString::from("serve"));
    }
    args
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse_from(with_default_command(std::env::args_os().collect()));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(config) => server::run(*config, server::shutdown_signal()).await,
        Command::Dev(args) => dev::run(args, server::shutdown_signal()).await,
        Command::Watchtower(args) => watchtower::run(*args, server::shutdown_signal()).await,
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "spoke-node stopped");
        std::process::exit(1);
    }
}
