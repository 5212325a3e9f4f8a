//! Dispute transactions in the RPC's mempool, before they are mined, through its pending-transaction filter:
//! `eth_newPendingTransactionFilter` and `eth_getFilterChanges`, then `eth_getTransactionByHash` for each hash.
//! These are the standard `eth_` methods that geth, Nethermind, Erigon, Besu and anvil serve over plain HTTP.
//! `txpool_content` is not used: it returns the whole pool on every call (megabytes on a busy chain), and hosted
//! RPCs rarely serve it.
//!
//! The filter is created with `fullTx` when the RPC takes it (geth since 1.11), which saves the lookups; an RPC
//! that refuses the flag (anvil) gets a filter of hashes. An RPC that refuses the filter altogether is reported
//! as [`PendingScan::Unsupported`] and asked again only every [`RETRY_REFUSED`]: the node then relies on mined
//! events alone.

use std::time::{Duration, Instant};

use alloy::{
    consensus::Transaction as _,
    eips::BlockId,
    primitives::U256,
    providers::Provider,
    rpc::client::BatchRequest,
    rpc::types::{FilterChanges, Transaction, TransactionRequest},
    sol_types::SolInterface,
    transports::TransportError,
};
use spoke_contracts::bindings::ChannelManager::ChannelManagerCalls;
use spoke_protocol::B256;

use super::{DisputeCall, PendingDispute, PendingScan, RpcChain, TxFees};
use crate::{Error, Result};

/// How long an RPC that refused the filter is left alone before it is asked again.
pub(super) const RETRY_REFUSED: Duration = Duration::from_secs(600);
/// Filters lost in a row (each created, then unknown at the next poll) after which the RPC counts as refusing
/// them: a load balancer that sends each call to another backend never keeps one.
const LOST_IN_A_ROW: u32 = 3;
/// Hashes looked up in one JSON-RPC batch.
const LOOKUP_BATCH: usize = 100;

/// The pending-transaction filter of one [`RpcChain`].
#[derive(Debug, Default)]
pub(super) struct Filter {
    id: Option<U256>,
    /// Why the RPC refused the filter, and when: it is not asked again before [`RETRY_REFUSED`].
    refused: Option<(Instant, String)>,
    lost: u32,
}

impl RpcChain {
    pub(super) async fn scan_mempool(&self) -> Result<PendingScan> {
        let mut filter = self.mempool.lock().await;
        if let Some((at, reason)) = &filter.refused {
            if at.elapsed() < RETRY_REFUSED {
                return Ok(PendingScan::Unsupported {
                    reason: reason.clone(),
                });
            }
        }
        let id = match filter.id {
            Some(id) => id,
            None => match self.new_filter().await {
                Ok(id) => id,
                // The RPC answered, and its answer is no: it does not serve the method.
                Err(e) if e.is_error_resp() => {
                    let reason = format!("eth_newPendingTransactionFilter: {e}");
                    filter.refused = Some((Instant::now(), reason.clone()));
                    return Ok(PendingScan::Unsupported { reason });
                }
                Err(e) => return Err(Error::Chain(e.to_string())),
            },
        };
        filter.refused = None;
        filter.id = Some(id);
        let changes = match self.manager.provider().get_filter_changes_dyn(id).await {
            Ok(changes) => changes,
            // Expired (an RPC forgets a filter nobody polled for minutes) or unknown (the RPC restarted): a new one
            // next time. What entered the mempool meanwhile is seen when it is mined.
            Err(e) if e.is_error_resp() => {
                filter.id = None;
                filter.lost += 1;
                if filter.lost >= LOST_IN_A_ROW {
                    let reason = format!(
                        "eth_getFilterChanges lost {LOST_IN_A_ROW} pending-transaction filters in a row: {e}"
                    );
                    filter.refused = Some((Instant::now(), reason.clone()));
                    filter.lost = 0;
                    return Ok(PendingScan::Unsupported { reason });
                }
                tracing::debug!(error = %e, "the pending-transaction filter was lost; making a new one");
                return Ok(PendingScan::Seen(Vec::new()));
            }
            Err(e) => return Err(Error::Chain(e.to_string())),
        };
        filter.lost = 0;
        // The lock is held to the end: a second scan at the same time would only find the same filter empty.
        let transactions = match changes {
            FilterChanges::Transactions(txs) => txs,
            FilterChanges::Hashes(hashes) => self.lookup(&hashes).await?,
            FilterChanges::Empty | FilterChanges::Logs(_) => Vec::new(),
        };
        let mut disputes = Vec::new();
        for tx in &transactions {
            let Some(dispute) = self.decode(tx) else {
                continue;
            };
            if self.would_succeed(tx).await {
                disputes.push(dispute);
            } else {
                tracing::debug!(tx = %dispute.tx_hash, "a pending dispute call would revert; left out");
            }
        }
        Ok(PendingScan::Seen(disputes))
    }

    /// A filter of full transactions if the RPC takes the flag, else of hashes.
    async fn new_filter(&self) -> Result<U256, TransportError> {
        let provider = self.manager.provider();
        match provider.new_pending_transactions_filter(true).await {
            Ok(id) => Ok(id),
            Err(e) if e.is_error_resp() => provider.new_pending_transactions_filter(false).await,
            Err(e) => Err(e),
        }
    }

    /// The transactions behind `hashes`, in JSON-RPC batches; those the RPC no longer knows are skipped.
    async fn lookup(&self, hashes: &[B256]) -> Result<Vec<Transaction>> {
        let client = self.manager.provider().client();
        let mut found = Vec::new();
        for chunk in hashes.chunks(LOOKUP_BATCH) {
            let mut batch = BatchRequest::new(client);
            let mut waiters = Vec::with_capacity(chunk.len());
            for hash in chunk {
                let waiter = batch
                    .add_call::<_, Option<Transaction>>("eth_getTransactionByHash", &(hash,))
                    .map_err(|e| Error::Chain(e.to_string()))?;
                waiters.push(waiter);
            }
            batch
                .send()
                .await
                .map_err(|e| Error::Chain(e.to_string()))?;
            for waiter in waiters {
                match waiter.await {
                    Ok(Some(tx)) => found.push(tx),
                    Ok(None) => {}
                    // One bad answer in a batch loses that transaction only.
                    Err(e) => {
                        tracing::debug!(error = %e, "a pending transaction lookup failed")
                    }
                }
            }
        }
        Ok(found)
    }

    /// The dispute call `tx` makes to this ChannelManager, if it makes one and is not mined yet.
    fn decode(&self, tx: &Transaction) -> Option<PendingDispute> {
        if tx.block_number.is_some() || tx.to() != Some(*self.manager.address()) {
            return None;
        }
        let (call, user, node, nonce) = match ChannelManagerCalls::abi_decode(tx.input()).ok()? {
            ChannelManagerCalls::dispute(c) => {
                (DisputeCall::Dispute, c.user, c.node, c.state.nonce)
            }
            ChannelManagerCalls::disputeWithoutState(c) => {
                (DisputeCall::Dispute, c.user, c.node, 0)
            }
            ChannelManagerCalls::respond(c) => {
                (DisputeCall::Respond, c.user, c.node, c.state.nonce)
            }
            _ => return None,
        };
        let from = tx.inner.signer();
        // The contract takes a dispute only from a party; anyone may respond.
        if call == DisputeCall::Dispute && from != user && from != node {
            return None;
        }
        let fees = match tx.max_priority_fee_per_gas() {
            Some(tip) => TxFees {
                max_fee_per_gas: tx.max_fee_per_gas(),
                max_priority_fee_per_gas: tip,
            },
            None => {
                let price = tx.gas_price().unwrap_or_else(|| tx.max_fee_per_gas());
                TxFees {
                    max_fee_per_gas: price,
                    max_priority_fee_per_gas: price,
                }
            }
        };
        Some(PendingDispute {
            tx_hash: *tx.inner.tx_hash(),
            from,
            call,
            user,
            node,
            nonce,
            fees,
        })
    }

    /// Whether `tx` would succeed if it were mined at the head, from its own sender: bad signatures, a channel
    /// already in dispute, a nonce below the minimum all revert here. A failed request (not a revert) counts as
    /// success: the sender is a party, and a freeze that was not needed is lifted once the transaction is gone.
    async fn would_succeed(&self, tx: &Transaction) -> bool {
        let call = TransactionRequest::default()
            .from(tx.inner.signer())
            .to(*self.manager.address())
            .input(tx.input().clone().into());
        // At the head: the RPC's pending block (alloy's default) may already hold this very transaction.
        match self
            .manager
            .provider()
            .call(call)
            .block(BlockId::latest())
            .await
        {
            Ok(_) => true,
            Err(e) if e.is_error_resp() => false,
            Err(e) => {
                tracing::debug!(error = %e, "simulating a pending dispute failed; taking it as valid");
                true
            }
        }
    }
}
