//! The dispute path on chain, for a forced exit: the contract's record of a channel, disputing with a
//! double-signed state (or the nonce-0 state), answering with a newer one, revealing preimages, settling locks,
//! concluding and claiming. See the dispute timeline in docs/PROTOCOL.md.

use alloy_sol_types::SolStruct;
use spoke_protocol::{ChannelState, Lock, SignedState};

use super::*;

/// Where a channel is in its life on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    Open,
    Disputed,
    Concluded,
}

/// The contract's record of one channel (one epoch of a pair).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnChainChannel {
    /// No state older than this may be disputed: an executed withdrawal raised it.
    pub min_dispute_nonce: u64,
    /// The nonce of the disputed (or concluded) state.
    pub dispute_nonce: u64,
    /// Unix seconds when the consensus window closes.
    pub consensus_end: u64,
    pub status: ChannelStatus,
}

/// A channel's book for one asset, as `ledger(id, asset)` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Book {
    pub deposit_user: U256,
    pub deposit_node: U256,
    pub withdrawn_user: U256,
    pub withdrawn_node: U256,
    /// What a side is owed on top of its deposit after a conclusion (negative: it was paid less than it put in).
    pub exit_user: i128,
    pub exit_node: i128,
}

impl Book {
    /// What `claim` would pay `side` before the contract's cap by what the channel holds.
    pub fn owed(&self, side: Side) -> U256 {
        let (deposit, exit) = match side {
            Side::User => (self.deposit_user, self.exit_user),
            Side::Node => (self.deposit_node, self.exit_node),
        };
        if exit >= 0 {
            deposit.saturating_add(U256::from(exit as u128))
        } else {
            deposit.saturating_sub(U256::from(exit.unsigned_abs()))
        }
    }
}

/// The hash the contract keeps of a disputed state (its EIP-712 struct hash).
pub fn state_hash(state: &ChannelState) -> B256 {
    sol_types::ChannelState::from(state).eip712_hash_struct()
}

fn sol_state(state: &ChannelState) -> Result<ChannelManager::ChannelState> {
    let encoded = sol_types::ChannelState::from(state).abi_encode();
    <ChannelManager::ChannelState as SolType>::abi_decode(&encoded)
        .map_err(|e| Error::Chain(format!("the channel state: {e}")))
}

fn sig(s: &spoke_protocol::Signature) -> Bytes {
    Bytes::from(s.as_bytes().to_vec())
}

/// Which chain state a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// The latest block.
    Latest,
    /// The latest block and the transactions waiting in the RPC's mempool: what the chain will say once they are
    /// mined.
    Pending,
}

impl At {
    fn tag(self) -> serde_json::Value {
        json!(match self {
            At::Latest => "latest",
            At::Pending => "pending",
        })
    }
}

impl EthChain {
    /// The contract's record of the channel `id`.
    pub async fn channel_status(&self, id: B256) -> Result<OnChainChannel> {
        self.channel_status_at(id, At::Latest).await
    }

    pub(crate) async fn channel_status_at(&self, id: B256, at: At) -> Result<OnChainChannel> {
        let record = self
            .view(self.manager, &ChannelManager::channelCall { id }, at.tag())
            .await?;
        let status = match record.status {
            0 => ChannelStatus::Open,
            1 => ChannelStatus::Disputed,
            2 => ChannelStatus::Concluded,
            other => {
                return Err(Error::Chain(format!(
                    "the contract reports channel status {other}"
                )))
            }
        };
        Ok(OnChainChannel {
            min_dispute_nonce: record.minDisputeNonce,
            dispute_nonce: record.disputeNonce,
            consensus_end: record.consensusEnd.to::<u64>(),
            status,
        })
    }

    /// The hash of the state under dispute (zero when none is).
    pub async fn disputed_state_hash(&self, id: B256) -> Result<B256> {
        Ok(self
            .view(
                self.manager,
                &ChannelManager::stateHashCall { channelId: id },
                json!("latest"),
            )
            .await?)
    }

    /// When `hashlock`'s preimage was first revealed (0: never).
    pub async fn revealed_at(&self, hashlock: B256) -> Result<u64> {
        let at: U256 = self
            .view(
                self.manager,
                &ChannelManager::revealedAtCall { hashlock },
                json!("latest"),
            )
            .await?;
        Ok(at.saturating_to())
    }

    /// Whether the lock with this leaf was settled.
    pub async fn lock_settled(&self, leaf: B256) -> Result<bool> {
        self.lock_settled_at(leaf, At::Latest).await
    }

    pub(crate) async fn lock_settled_at(&self, leaf: B256, at: At) -> Result<bool> {
        Ok(self
            .view(
                self.manager,
                &ChannelManager::lockSettledCall { leaf },
                at.tag(),
            )
            .await?)
    }

    /// The channel's book for `asset`.
    pub async fn book(&self, id: B256, asset: Address) -> Result<Book> {
        self.book_at(id, asset, At::Latest).await
    }

    pub(crate) async fn book_at(&self, id: B256, asset: Address, at: At) -> Result<Book> {
        let l = self
            .view(
                self.manager,
                &ChannelManager::ledgerCall { id, asset },
                at.tag(),
            )
            .await?;
        Ok(Book {
            deposit_user: U256::from(l.depositUser),
            deposit_node: U256::from(l.depositNode),
            withdrawn_user: U256::from(l.withdrawnUser),
            withdrawn_node: U256::from(l.withdrawnNode),
            exit_user: l.exitUser,
            exit_node: l.exitNode,
        })
    }

    /// The latest block's timestamp: the contract's clock.
    pub async fn timestamp(&self) -> Result<u64> {
        let block = self
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        block
            .get("timestamp")
            .ok_or_else(|| Error::Chain("eth_getBlockByNumber: no timestamp".into()))
            .and_then(|t| quantity_u64(t).map_err(|e| Error::Chain(format!("timestamp: {e}"))))
    }

    /// Disputes the channel with a double-signed state.
    pub async fn dispute(&self, params: &ChannelParams, signed: &SignedState) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::disputeCall {
            user: params.user,
            node: params.node,
            state: sol_state(&signed.state)?,
            userSig: sig(&signed.user_signature),
            nodeSig: sig(&signed.node_signature),
        });
        self.send_and_wait(tx, "the dispute").await
    }

    /// Disputes the channel with the implicit nonce-0 state (nothing counted, nothing locked).
    pub async fn dispute_without_state(&self, params: &ChannelParams) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::disputeWithoutStateCall {
            user: params.user,
            node: params.node,
        });
        self.send_and_wait(tx, "the dispute").await
    }

    /// Answers a dispute with a newer double-signed state.
    pub async fn respond(&self, params: &ChannelParams, signed: &SignedState) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::respondCall {
            user: params.user,
            node: params.node,
            state: sol_state(&signed.state)?,
            userSig: sig(&signed.user_signature),
            nodeSig: sig(&signed.node_signature),
        });
        self.send_and_wait(tx, "the answer to the dispute").await
    }

    /// Publishes several preimages in one transaction.
    pub async fn reveal_many(&self, preimages: Vec<B256>) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::revealManyCall { preimages });
        self.send_and_wait(tx, "revealing the preimages").await
    }

    /// Settles one lock of the disputed state, proved against its locks root.
    pub async fn settle_lock(
        &self,
        params: &ChannelParams,
        lock: &Lock,
        proof: Vec<B256>,
    ) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::settleLockCall {
            user: params.user,
            node: params.node,
            epoch: params.epoch,
            lock: ChannelManager::Lock {
                id: lock.id,
                asset: lock.asset,
                amount: lock.amount,
                sender: lock.sender as u8,
                hashlock: lock.hashlock,
                expiry: lock.expiry,
            },
            proof,
        });
        self.send_and_wait(tx, "settling the lock").await
    }

    /// Concludes the dispute with the disputed state itself: the pair moves to its next epoch.
    pub async fn conclude(&self, params: &ChannelParams, state: &ChannelState) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::concludeCall {
            user: params.user,
            node: params.node,
            state: sol_state(state)?,
        });
        self.send_and_wait(tx, "concluding the dispute").await
    }

    /// Pays `side` what a concluded channel owes it in `asset`.
    pub async fn claim(&self, params: &ChannelParams, asset: Address, side: Side) -> Result<B256> {
        let tx = self.manager_tx(&ChannelManager::claimCall {
            user: params.user,
            node: params.node,
            epoch: params.epoch,
            asset,
            side: side as u8,
        });
        self.send_and_wait(tx, "claiming the payout").await
    }
}
