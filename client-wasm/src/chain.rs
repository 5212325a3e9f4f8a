//! The chain, natively: the client's own deposits and withdrawals, and the reads it checks the node against.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::Bytes,
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use spoke_contracts::bindings::{ChannelManager, DevDai};
use spoke_protocol::{Address, ChannelParams, Side, SignedCommitment, B256, U256};

use crate::{Error, Result};

fn chain(e: impl std::fmt::Display) -> Error {
    Error::Chain(e.to_string())
}

/// The client's account on the chain, and the ChannelManager.
#[derive(Debug, Clone)]
pub struct EthChain {
    provider: DynProvider,
    manager: Address,
    account: Address,
}

impl EthChain {
    /// Connects to `rpc_url` with the client's key (the same key that signs its channel).
    pub fn new(rpc_url: &str, secret: &B256, manager: Address) -> Result<EthChain> {
        let signer = PrivateKeySigner::from_bytes(secret).map_err(chain)?;
        let account = signer.address();
        let provider = spoke_contracts::http_provider(rpc_url, signer).map_err(chain)?;
        Ok(EthChain {
            provider,
            manager,
            account,
        })
    }

    pub fn account(&self) -> Address {
        self.account
    }

    async fn send(&self, tx: TransactionRequest, what: &'static str) -> Result<B256> {
        let pending = self
            .provider
            .send_transaction(tx.with_from(self.account))
            .await
            .map_err(|e| Error::Chain(format!("{what}: {e}")))?;
        let receipt = pending
            .with_timeout(Some(Duration::from_secs(120)))
            .get_receipt()
            .await
            .map_err(|e| Error::Chain(format!("{what}: {e}")))?;
        if !receipt.status() {
            return Err(Error::Chain(format!("{what}: the transaction reverted")));
        }
        Ok(receipt.transaction_hash)
    }

    /// Deposits `amount` of `asset` (ETH is the zero address) on the user's side of the channel with `node`;
    /// for a token, first approves the contract for exactly what is missing.
    pub async fn deposit(&self, node: Address, asset: Address, amount: U256) -> Result<B256> {
        let manager = ChannelManager::new(self.manager, &self.provider);
        let call = manager.deposit(self.account, node, asset, Side::User as u8, amount);
        let mut tx = call.into_transaction_request();
        if asset == Address::ZERO {
            tx = tx.with_value(amount);
        } else {
            let token = DevDai::new(asset, &self.provider);
            let allowance = token
                .allowance(self.account, self.manager)
                .call()
                .await
                .map_err(chain)?;
            if allowance < amount {
                let approve = token
                    .approve(self.manager, amount)
                    .into_transaction_request();
                self.send(approve, "approving the deposit").await?;
            }
        }
        self.send(tx, "the deposit").await
    }

    /// The cumulative deposit of `side` into the channel, at the chain's head less `confirmations` blocks.
    pub async fn deposited(
        &self,
        channel_id: B256,
        asset: Address,
        side: Side,
        confirmations: u64,
    ) -> Result<U256> {
        let head = self.provider.get_block_number().await.map_err(chain)?;
        let manager = ChannelManager::new(self.manager, &self.provider);
        let ledger = manager
            .ledger(channel_id, asset)
            .block(head.saturating_sub(confirmations).into())
            .call()
            .await
            .map_err(chain)?;
        Ok(U256::from(match side {
            Side::User => ledger.depositUser,
            Side::Node => ledger.depositNode,
        }))
    }

    /// Executes a co-signed withdrawal commitment.
    pub async fn withdraw(
        &self,
        params: &ChannelParams,
        signed: &SignedCommitment,
    ) -> Result<B256> {
        let manager = ChannelManager::new(self.manager, &self.provider);
        let sig = |s: &spoke_protocol::Signature| Bytes::from(s.as_bytes().to_vec());
        let tx = manager
            .withdraw(
                params.user,
                params.node,
                params.epoch,
                spoke_contracts::sol_commitment(&signed.commitment),
                sig(&signed.user_signature),
                sig(&signed.node_signature),
            )
            .into_transaction_request();
        self.send(tx, "the withdrawal").await
    }

    /// The balance of `owner` in `asset` (ETH is the zero address).
    pub async fn balance(&self, owner: Address, asset: Address) -> Result<U256> {
        if asset == Address::ZERO {
            return self.provider.get_balance(owner).await.map_err(chain);
        }
        DevDai::new(asset, &self.provider)
            .balanceOf(owner)
            .call()
            .await
            .map_err(chain)
    }
}
