//! Starts a local anvil chain on 127.0.0.1, deploys `DevDai` and `ChannelManager` (a short development
//! challenge window), prints where everything is as JSON, and runs until interrupted. `./scripts/dev` runs it
//! until `spoke-node dev` takes over the whole system.

use alloy::{node_bindings::Anvil, primitives::hex, signers::local::PrivateKeySigner};
use spoke_contracts::{anvil_binary, deploy, http_provider};

const USAGE: &str = "usage: spoke-devchain [--port N] [--challenge-window SECONDS]";

fn arg_value(args: &[String], flag: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}\n{USAGE}")),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("spoke-devchain: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let port = arg_value(&args, "--port", 8545)?;
    let window = arg_value(&args, "--challenge-window", 600)?;
    let port = u16::try_from(port).map_err(|_| format!("--port {port} is not a port"))?;

    let anvil = Anvil::at(anvil_binary())
        .port(port)
        .try_spawn()
        .map_err(|e| format!("could not start anvil ({}): {e}", anvil_binary().display()))?;
    let deployer = PrivateKeySigner::from(anvil.keys()[0].clone());
    let provider = http_provider(anvil.endpoint().as_str(), deployer).map_err(|e| e.to_string())?;
    let deployment = deploy(&provider, window)
        .await
        .map_err(|e| format!("deploying the contracts failed: {e}"))?;

    // Development keys only: anvil's well-known test accounts, never funded anywhere real.
    let accounts: Vec<String> = anvil
        .keys()
        .iter()
        .zip(anvil.addresses())
        .take(4)
        .map(|(key, address)| {
            format!(
                r#"{{"address":"{address}","privateKey":"{}"}}"#,
                hex::encode_prefixed(key.to_bytes())
            )
        })
        .collect();
    println!(
        r#"{{"rpcUrl":"{}","chainId":{},"channelManager":"{}","dai":"{}","challengeWindow":{window},"accounts":[{}]}}"#,
        anvil.endpoint(),
        anvil.chain_id(),
        deployment.channel_manager,
        deployment.dai,
        accounts.join(",")
    );
    eprintln!(
        "spoke-devchain: chain up at {}; Ctrl-C stops it",
        anvil.endpoint()
    );
    stop_signal().await?;
    eprintln!("spoke-devchain: stopping");
    // Dropping `anvil` stops the chain.
    Ok(())
}

/// Ctrl-C or SIGTERM, so that anvil is stopped either way.
async fn stop_signal() -> Result<(), String> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("listening for SIGTERM: {e}"))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| format!("waiting for Ctrl-C: {e}")),
        _ = term.recv() => Ok(()),
    }
}
