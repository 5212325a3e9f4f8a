//! What the node reads from the chain, behind one trait. [`RpcChain`] reads the ChannelManager over JSON-RPC,
//! at a block `confirmations` deep, so a deposit is counted only once it is final enough, and watches the RPC's
//! mempool for dispute transactions before they are mined (`mempool`).

mod mempool;

use alloy::{
    eips::{BlockId, BlockNumberOrTag},
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use async_trait::async_trait;
use spoke_contracts::bindings::ChannelManager;
use spoke_protocol::{Address, Side, B256, U256};

use crate::{Error, Result};

/// A ChannelManager event the node acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEvent {
    /// A preimage entered the registry: every lock under its hashlock can be resolved.
    Revealed { hashlock: B256, preimage: B256 },
    /// A channel entered a dispute.
    Disputed { channel_id: B256, nonce: u64 },
    /// A disputed channel's state was replaced by a newer one.
    Responded { channel_id: B256, nonce: u64 },
    /// A dispute was concluded with the state at `nonce`; the pair moved to its next epoch.
    Concluded { channel_id: B256, nonce: u64 },
}

/// Which dispute call a pending transaction makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeCall {
    /// `dispute` with a double-signed state, or `disputeWithoutState` (the nonce-0 state): opens a dispute.
    Dispute,
    /// `respond`: replaces the state of a dispute already open.
    Respond,
}

/// What a transaction bids per gas (wei). A legacy transaction's gas price is both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxFees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// A ChannelManager dispute call in the RPC's mempool, not mined yet, decoded from its calldata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDispute {
    pub tx_hash: B256,
    /// Its sender (the contract takes a dispute only from the user or the node).
    pub from: Address,
    pub call: DisputeCall,
    pub user: Address,
    pub node: Address,
    /// The nonce of the state it carries (0 for `disputeWithoutState`).
    pub nonce: u64,
    pub fees: TxFees,
}

/// What one look at the mempool found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PendingScan {
    /// The dispute calls that entered the mempool since the previous look.
    Seen(Vec<PendingDispute>),
    /// The RPC does not show its pending transactions (`reason` is its answer): only mined events can be used.
    Unsupported { reason: String },
}

/// A channel's status in the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    Open,
    Dispute,
    Concluded,
}

/// Where a channel's dispute stands on chain, read at the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisputeRecord {
    pub status: ChannelStatus,
    /// The nonce of the state the dispute holds (0 without a dispute).
    pub nonce: u64,
    /// When the consensus window closes, in block time (0 without a dispute).
    pub consensus_end: u64,
    /// The head block's time, which `consensus_end` is measured against (not the local clock).
    pub now: u64,
}

#[async_trait]
pub trait Chain: Send + Sync {
    /// The epoch of the pair's current channel.
    async fn current_epoch(&self, user: Address, node: Address) -> Result<u64>;

    /// `side`'s cumulative deposit of `asset` into the channel, as of the confirmed block.
    async fn confirmed_deposit(&self, channel_id: B256, asset: Address, side: Side)
        -> Result<U256>;

    /// The newest block number.
    async fn head(&self) -> Result<u64>;

    /// What the ChannelManager logged in blocks `from..=to` that the node acts on.
    async fn events(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>>;

    /// When the preimage of `hashlock` was first revealed in the contract's registry (block time), or 0. Read at
    /// the chain's head: a reveal counts for the node as soon as it is seen.
    async fn revealed_at(&self, hashlock: B256) -> Result<u64>;

    /// The contract's dispute record of a channel, with the head block's time.
    async fn dispute_record(&self, channel_id: B256) -> Result<DisputeRecord>;

    /// The struct hash of the state a channel's dispute holds, at the head (zero once concluded).
    async fn disputed_state_hash(&self, channel_id: B256) -> Result<B256>;

    /// Whether the lock with this leaf was settled, at the head.
    async fn lock_settled(&self, leaf: B256) -> Result<bool>;

    /// What `claim` would pay `side` of a concluded channel in `asset` now, at the head: its deposit plus its exit,
    /// capped by what the channel holds (zero when nothing is owed).
    async fn claimable(&self, channel_id: B256, asset: Address, side: Side) -> Result<U256>;

    /// The `dispute`, `disputeWithoutState` and `respond` calls sent straight to the ChannelManager that entered
    /// the RPC's mempool since the previous call: only those that would succeed if mined at the head (simulated
    /// from their sender), and only disputes from a party of the channel, so a stranger's or a malformed call is
    /// left out.
    async fn pending_disputes(&self) -> Result<PendingScan>;

    /// Whether the RPC holds this transaction unmined (false once mined, and for one it does not know).
    async fn is_pending(&self, tx_hash: B256) -> Result<bool>;
}

/// The chain over JSON-RPC.
#[derive(Debug, Clone)]
pub struct RpcChain {
    manager: ChannelManager::ChannelManagerInstance<DynProvider>,
    confirmations: u64,
    /// The RPC's pending-transaction filter, shared by clones: one poller per node.
    mempool: std::sync::Arc<tokio::sync::Mutex<mempool::Filter>>,
}

impl RpcChain {
    pub fn new(provider: DynProvider, channel_manager: Address, confirmations: u64) -> RpcChain {
        RpcChain {
            manager: ChannelManager::new(channel_manager, provider),
            confirmations,
            mempool: Default::default(),
        }
    }

    /// Whether the ChannelManager had code at `block`.
    async fn deployed_at(&self, block: BlockId) -> Result<bool> {
        let code = self
            .manager
            .provider()
            .get_code_at(*self.manager.address())
            .block_id(block)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        Ok(!code.is_empty())
    }

    async fn confirmed_block(&self) -> Result<BlockId> {
        let head = self
            .manager
            .provider()
            .get_block_number()
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        Ok(BlockId::number(head.saturating_sub(self.confirmations)))
    }
}

#[async_trait]
impl Chain for RpcChain {
    async fn current_epoch(&self, user: Address, node: Address) -> Result<u64> {
        self.manager
            .currentEpoch(user, node)
            .call()
            .await
            .map_err(|e| Error::Chain(e.to_string()))
    }

    async fn confirmed_deposit(
        &self,
        channel_id: B256,
        asset: Address,
        side: Side,
    ) -> Result<U256> {
        let block = self.confirmed_block().await?;
        let ledger = match self
            .manager
            .ledger(channel_id, asset)
            .block(block)
            .call()
            .await
        {
            Ok(ledger) => ledger,
            // Within `confirmations` blocks of the ChannelManager's deployment the confirmed block is older than
            // the contract, whose call then answers nothing: no deposit can be confirmed yet.
            Err(e) if !self.deployed_at(block).await? => {
                tracing::debug!(error = %e, "the ChannelManager is younger than the confirmed block");
                return Ok(U256::ZERO);
            }
            Err(e) => return Err(Error::Chain(e.to_string())),
        };
        Ok(U256::from(match side {
            Side::User => ledger.depositUser,
            Side::Node => ledger.depositNode,
        }))
    }

    async fn head(&self) -> Result<u64> {
        self.manager
            .provider()
            .get_block_number()
            .await
            .map_err(|e| Error::Chain(e.to_string()))
    }

    async fn events(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>> {
        let filter = Filter::new()
            .address(*self.manager.address())
            .from_block(from)
            .to_block(to)
            .event_signature(vec![
                ChannelManager::Revealed::SIGNATURE_HASH,
                ChannelManager::Disputed::SIGNATURE_HASH,
                ChannelManager::Responded::SIGNATURE_HASH,
                ChannelManager::Concluded::SIGNATURE_HASH,
            ]);
        let logs = self
            .manager
            .provider()
            .get_logs(&filter)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        let mut events = Vec::with_capacity(logs.len());
        for log in logs {
            if let Ok(e) = log.log_decode::<ChannelManager::Revealed>() {
                events.push(ChainEvent::Revealed {
                    hashlock: e.inner.hashlock,
                    preimage: e.inner.preimage,
                });
            } else if let Ok(e) = log.log_decode::<ChannelManager::Disputed>() {
                events.push(ChainEvent::Disputed {
                    channel_id: e.inner.channelId,
                    nonce: e.inner.nonce,
                });
            } else if let Ok(e) = log.log_decode::<ChannelManager::Responded>() {
                events.push(ChainEvent::Responded {
                    channel_id: e.inner.channelId,
                    nonce: e.inner.nonce,
                });
            } else if let Ok(e) = log.log_decode::<ChannelManager::Concluded>() {
                events.push(ChainEvent::Concluded {
                    channel_id: e.inner.channelId,
                    nonce: e.inner.nonce,
                });
            }
        }
        Ok(events)
    }

    async fn revealed_at(&self, hashlock: B256) -> Result<u64> {
        let at = self
            .manager
            .revealedAt(hashlock)
            .call()
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        Ok(u64::try_from(at).unwrap_or(u64::MAX))
    }

    async fn dispute_record(&self, channel_id: B256) -> Result<DisputeRecord> {
        let record = self
            .manager
            .channel(channel_id)
            .call()
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        let status = match record.status {
            0 => ChannelStatus::Open,
            1 => ChannelStatus::Dispute,
            2 => ChannelStatus::Concluded,
            other => {
                return Err(Error::Chain(format!(
                    "channel {channel_id} has status {other}, which the contract does not define"
                )))
            }
        };
        let head = self
            .manager
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?
            .ok_or_else(|| Error::Chain("the chain has no latest block".into()))?;
        Ok(DisputeRecord {
            status,
            nonce: record.disputeNonce,
            consensus_end: record.consensusEnd.to::<u64>(),
            now: head.header.timestamp,
        })
    }

    async fn disputed_state_hash(&self, channel_id: B256) -> Result<B256> {
        self.manager
            .stateHash(channel_id)
            .call()
            .await
            .map_err(|e| Error::Chain(e.to_string()))
    }

    async fn lock_settled(&self, leaf: B256) -> Result<bool> {
        self.manager
            .lockSettled(leaf)
            .call()
            .await
            .map_err(|e| Error::Chain(e.to_string()))
    }

    async fn claimable(&self, channel_id: B256, asset: Address, side: Side) -> Result<U256> {
        let ledger = self
            .manager
            .ledger(channel_id, asset)
            .call()
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        let held = self
            .manager
            .held(channel_id, asset)
            .call()
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        let (deposit, exit) = match side {
            Side::User => (ledger.depositUser, ledger.exitUser),
            Side::Node => (ledger.depositNode, ledger.exitNode),
        };
        // deposit < 2^128 and |exit| < 2^127, so the sum is exact in i256 terms; done in U256 with the sign apart.
        let deposit = U256::from(deposit);
        let magnitude = U256::from(exit.unsigned_abs());
        let owed = if exit < 0 {
            deposit.saturating_sub(magnitude)
        } else {
            deposit + magnitude
        };
        Ok(owed.min(held))
    }

    async fn pending_disputes(&self) -> Result<PendingScan> {
        self.scan_mempool().await
    }

    async fn is_pending(&self, tx_hash: B256) -> Result<bool> {
        let tx = self
            .manager
            .provider()
            .get_transaction_by_hash(tx_hash)
            .await
            .map_err(|e| Error::Chain(e.to_string()))?;
        Ok(tx.is_some_and(|tx| tx.block_number.is_none()))
    }
}
