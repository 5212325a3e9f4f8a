//! Deploying the contracts, and finding the anvil the project's scripts install.

use std::path::PathBuf;

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};

use crate::{
    bindings::{ChannelManager, DevDai},
    Error, Result,
};

/// Where the contracts of one deployment live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    pub channel_manager: Address,
    /// The development token, the deployment's one allowlisted ERC-20.
    pub dai: Address,
}

/// The anvil binary: `$SPOKE_ANVIL` if set (the scripts set it), else the one `./scripts/setup` installs under
/// `node_modules/`, else `anvil` on the `PATH`.
pub fn anvil_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SPOKE_ANVIL") {
        return PathBuf::from(path);
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if installed.exists() {
        return installed;
    }
    PathBuf::from("anvil")
}

/// An HTTP provider that signs with `signer`.
///
/// It asks the chain for the nonce of every transaction instead of alloy's default cached nonce: with the cache,
/// a transaction whose gas estimate fails (a revert) still consumes a nonce, and every later transaction from
/// that account then waits forever behind the gap.
pub fn http_provider(url: &str, signer: PrivateKeySigner) -> Result<DynProvider> {
    let parsed = Url::parse(url).map_err(|e| Error::BadUrl {
        url: url.into(),
        reason: e.to_string(),
    })?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(parsed)
        .erased())
}

/// Mints `amount` of the development token at `dai` to each of `to`, each mint mined before the next is sent.
pub async fn mint_dai(
    provider: &DynProvider,
    dai: Address,
    to: &[Address],
    amount: U256,
) -> Result<()> {
    let token = DevDai::new(dai, provider);
    for address in to {
        let receipt = token
            .mint(*address, amount)
            .send()
            .await?
            .get_receipt()
            .await?;
        if !receipt.status() {
            return Err(Error::Reverted(receipt.transaction_hash));
        }
    }
    Ok(())
}

/// Deploys `DevDai` and a `ChannelManager` that allows it, with a challenge window of `challenge_window` seconds.
pub async fn deploy(provider: &DynProvider, challenge_window: u64) -> Result<Deployment> {
    let dai = DevDai::deploy(provider.clone()).await?;
    let manager = ChannelManager::deploy(
        provider.clone(),
        U256::from(challenge_window),
        vec![*dai.address()],
    )
    .await?;
    Ok(Deployment {
        channel_manager: *manager.address(),
        dai: *dai.address(),
    })
}
