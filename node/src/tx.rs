//! The node's one on-chain transaction sender. Everything the node sends goes through one [`TxSender`], because
//! it keeps the account's nonce itself: a second sender on the same key would race it for nonces.
//!
//! How a send stays safe to retry: the transaction is signed once, with its nonce, before it is submitted, so
//! every retry after a transport failure submits the very same bytes (the same hash). An RPC that already has
//! them answers "already known" (or "nonce too low" once mined), and the sender returns the hash instead of
//! signing the action again. Gas is estimated before a nonce is taken, so a transaction that would revert is
//! refused without using one.

use std::{
    collections::VecDeque,
    future::{Future, IntoFuture},
    time::{Duration, Instant},
};

use alloy::{
    eips::{eip2718::Encodable2718, BlockNumberOrTag},
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::Bytes,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::{TransactionReceipt, TransactionRequest},
    signers::{local::PrivateKeySigner, Signer as _},
    sol_types::{SolCall, SolInterface},
    transports::{http::reqwest::Url, RpcError, TransportError},
};
use spoke_contracts::bindings::{ChannelManager, DevDai};
use spoke_protocol::{Address, Side, SignedCommitment, B256, U256};
use tokio::sync::Mutex;

use crate::{chain::TxFees, Error, Result};

/// Retries of one RPC request after a transient failure (so at most four tries).
const RETRIES: u32 = 3;
/// The first pause before a retry; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause between two receipt polls.
const MAX_POLL: Duration = Duration::from_secs(2);
/// How long an ERC-20 approval may take to be mined before the deposit that needs it gives up.
const APPROVE_TIMEOUT: Duration = Duration::from_secs(120);
/// How many sent transactions remember their `what` for [`TxSender::wait`]; older ones are reported by hash only.
const REMEMBERED: usize = 1024;
/// The gas limit of an answer sent behind a dispute that is not mined yet, whose gas cannot be estimated (the
/// estimate reverts: the channel is not in dispute before that transaction). A `respond` with 8 assets and a
/// locks root uses well under half of it; only the gas used is paid.
const RESPOND_GAS: u64 = 300_000;

/// The node's transaction sender: signs with the node's key, keeps the nonce, estimates gas, retries transient
/// RPC failures a bounded number of times.
pub struct TxSender {
    provider: DynProvider,
    /// The node's key. Transactions are signed here rather than by a provider filler so that the hash is known,
    /// and fixed, before the first submission.
    wallet: EthereumWallet,
    address: Address,
    chain_id: u64,
    channel_manager: Address,
    /// The nonce of the next transaction; `None` until read from the chain, and again after the chain disagreed.
    /// Held for the whole of a submission so that nonces are handed out in the order transactions reach the RPC.
    nonce: Mutex<Option<u64>>,
    /// Serialises check-then-approve so that concurrent deposits approve a token once.
    approvals: Mutex<()>,
    /// What each recent transaction was, so that [`TxSender::wait`] can name it.
    sent: std::sync::Mutex<VecDeque<(B256, &'static str)>>,
}

impl std::fmt::Debug for TxSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TxSender")
            .field("address", &self.address)
            .field("chain_id", &self.chain_id)
            .field("channel_manager", &self.channel_manager)
            .finish_non_exhaustive()
    }
}

/// How one submission of signed bytes ended.
enum Submit {
    /// The RPC has the transaction.
    Accepted,
    /// The nonce is taken by another transaction: read it again and sign anew.
    NonceTaken,
    /// The RPC refused the transaction itself; its nonce was not used.
    Refused(TransportError),
    /// Transport failures to the end: the RPC may or may not have it.
    Unknown(TransportError),
}

impl TxSender {
    /// A sender for the key `secret` on chain `chain_id` at `rpc_url`. Nothing is requested until the first use.
    pub fn new(
        rpc_url: &str,
        secret: B256,
        chain_id: u64,
        channel_manager: Address,
    ) -> Result<TxSender> {
        let url = Url::parse(rpc_url)
            .map_err(|e| Error::Config(format!("bad chain RPC URL {rpc_url:?}: {e}")))?;
        let signer = PrivateKeySigner::from_bytes(&secret)
            .map_err(|_| Error::Config("the node key is not a valid secp256k1 key".into()))?
            .with_chain_id(Some(chain_id));
        let address = signer.address();
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_http(url)
            .erased();
        Ok(TxSender {
            provider,
            wallet: EthereumWallet::from(signer),
            address,
            chain_id,
            channel_manager,
            nonce: Mutex::new(None),
            approvals: Mutex::new(()),
            sent: std::sync::Mutex::new(VecDeque::new()),
        })
    }

    /// The node's address, the sender of every transaction.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs and submits `tx` (its `to`, `input` and `value`; gas and fees are filled in when unset) and returns
    /// its hash once the RPC accepted it. `what` names the action in errors.
    pub async fn send(&self, mut tx: TransactionRequest, what: &'static str) -> Result<B256> {
        tx.from = Some(self.address);
        tx.chain_id = Some(self.chain_id);
        tx.nonce = None;
        if tx.gas.is_none() {
            let estimate = retry(|| self.provider.estimate_gas(tx.clone()).into_future())
                .await
                .map_err(|e| refused(what, &e))?;
            tx.gas = Some(estimate.saturating_add(estimate / 5));
        }
        if tx.gas_price.is_none() && tx.max_fee_per_gas.is_none() {
            let fees = retry(|| self.provider.estimate_eip1559_fees())
                .await
                .map_err(|e| chain(what, &e))?;
            tx.max_fee_per_gas = Some(fees.max_fee_per_gas);
            tx.max_priority_fee_per_gas = Some(fees.max_priority_fee_per_gas);
        }

        let mut next = self.nonce.lock().await;
        let mut resigned = 0;
        loop {
            let nonce = match *next {
                Some(n) => n,
                None => retry(|| {
                    self.provider
                        .get_transaction_count(self.address)
                        .pending()
                        .into_future()
                })
                .await
                .map_err(|e| chain(what, &e))?,
            };
            let envelope = tx
                .clone()
                .with_nonce(nonce)
                .build(&self.wallet)
                .await
                .map_err(|e| Error::TxRefused {
                    what,
                    reason: format!("cannot sign: {e}"),
                })?;
            let hash = *envelope.tx_hash();
            let raw = Bytes::from(envelope.encoded_2718());
            match self.submit(&raw, hash).await {
                Submit::Accepted => {
                    *next = Some(nonce + 1);
                    self.remember(hash, what);
                    tracing::debug!(%hash, nonce, what, "transaction sent");
                    return Ok(hash);
                }
                Submit::NonceTaken if resigned < RETRIES => {
                    tracing::warn!(nonce, what, "nonce already used; reading it again");
                    *next = None;
                    resigned += 1;
                }
                Submit::NonceTaken => {
                    *next = None;
                    return Err(Error::TxRefused {
                        what,
                        reason: format!("nonce {nonce} is still taken after {RETRIES} fresh reads"),
                    });
                }
                Submit::Refused(e) => return Err(refused(what, &e)),
                Submit::Unknown(e) => {
                    // The RPC may hold the transaction: read the nonce again rather than guess.
                    *next = None;
                    return Err(chain(what, &e));
                }
            }
        }
    }

    /// Submits signed bytes, retrying transport failures with the same bytes.
    async fn submit(&self, raw: &Bytes, hash: B256) -> Submit {
        let mut backoff = FIRST_BACKOFF;
        let mut tries = 0;
        loop {
            let err = match self.provider.send_raw_transaction(raw).await {
                Ok(_) => return Submit::Accepted,
                Err(e) => e,
            };
            let message = err.to_string().to_ascii_lowercase();
            if message.contains("already known") || message.contains("already imported") {
                return Submit::Accepted;
            }
            if message.contains("nonce too low")
                || message.contains("replacement transaction underpriced")
                || message.contains("replacement fee too low")
            {
                // An earlier try of these same bytes may have reached the RPC before its answer was lost, and
                // been mined since: that is an acceptance, not a conflict.
                return match self.provider.get_transaction_by_hash(hash).await {
                    Ok(Some(_)) => Submit::Accepted,
                    _ => Submit::NonceTaken,
                };
            }
            if !is_transient(&err) {
                return Submit::Refused(err);
            }
            if tries == RETRIES {
                return Submit::Unknown(err);
            }
            tries += 1;
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    /// Waits until `hash` is mined `confirmations` blocks deep (at least one) and returns its receipt; a reverted
    /// transaction is an error naming what it was. Failed reads are retried until `timeout`.
    pub async fn wait(
        &self,
        hash: B256,
        confirmations: u64,
        timeout: Duration,
    ) -> Result<TransactionReceipt> {
        let what = self.what(hash);
        let start = Instant::now();
        let mut pause = Duration::from_millis(50);
        let mut last_error = String::new();
        loop {
            match self.confirmed_receipt(hash, confirmations.max(1)).await {
                Ok(Some(receipt)) => {
                    self.forget(hash);
                    if !receipt.status() {
                        return Err(Error::TxReverted { what, hash });
                    }
                    return Ok(receipt);
                }
                Ok(None) => {}
                Err(e) => last_error = format!(" (last error: {e})"),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::TxTimeout {
                    what,
                    hash,
                    waited,
                    last_error,
                });
            }
            tokio::time::sleep(pause.min(timeout - waited)).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    async fn confirmed_receipt(
        &self,
        hash: B256,
        confirmations: u64,
    ) -> Result<Option<TransactionReceipt>, TransportError> {
        let Some(receipt) = self.provider.get_transaction_receipt(hash).await? else {
            return Ok(None);
        };
        let Some(mined_in) = receipt.block_number else {
            return Ok(None);
        };
        let head = self.provider.get_block_number().await?;
        Ok((head.saturating_sub(mined_in) + 1 >= confirmations).then_some(receipt))
    }

    /// The node side's deposit of `amount` of `asset` (`Address::ZERO` for ETH) into its channel with `user`.
    /// For an ERC-20 the contract is first approved for every future deposit, when the allowance is short.
    pub async fn deposit(&self, user: Address, asset: Address, amount: U256) -> Result<B256> {
        let call = ChannelManager::depositCall {
            user,
            node: self.address,
            asset,
            side: Side::Node as u8,
            amount,
        };
        let mut tx = self.call_tx(self.channel_manager, &call);
        if asset == Address::ZERO {
            tx = tx.with_value(amount);
        } else {
            let _one_approval = self.approvals.lock().await;
            let allowance = self
                .read(
                    asset,
                    DevDai::allowanceCall {
                        owner: self.address,
                        spender: self.channel_manager,
                    },
                    "allowance",
                )
                .await?;
            if allowance < amount {
                let approve = DevDai::approveCall {
                    spender: self.channel_manager,
                    value: U256::MAX,
                };
                let hash = self
                    .send(self.call_tx(asset, &approve), "token approval")
                    .await?;
                // The deposit's gas estimate fails until the approval is mined.
                self.wait(hash, 1, APPROVE_TIMEOUT).await?;
            }
        }
        self.send(tx, "node deposit").await
    }

    /// Publishes preimages in the contract's secret registry, so locks they open can be settled on chain.
    pub async fn reveal_many(&self, preimages: &[B256]) -> Result<B256> {
        let call = ChannelManager::revealManyCall {
            preimages: preimages.to_vec(),
        };
        self.send(
            self.call_tx(self.channel_manager, &call),
            "reveal preimages",
        )
        .await
    }

    /// Answers a dispute of the channel with `user` with a newer double-signed state.
    pub async fn respond(
        &self,
        user: Address,
        state: &spoke_protocol::ChannelState,
        user_signature: &spoke_protocol::Signature,
        node_signature: &spoke_protocol::Signature,
    ) -> Result<B256> {
        self.respond_for(user, self.address, state, user_signature, node_signature)
            .await
    }

    /// Answers a dispute of the channel of `user` and `node`, which need not include this sender: the contract
    /// takes a newer double-signed state from anyone (a watchtower).
    pub async fn respond_for(
        &self,
        user: Address,
        node: Address,
        state: &spoke_protocol::ChannelState,
        user_signature: &spoke_protocol::Signature,
        node_signature: &spoke_protocol::Signature,
    ) -> Result<B256> {
        let call = ChannelManager::respondCall {
            user,
            node,
            state: spoke_contracts::sol_state(state),
            userSig: Bytes::from(user_signature.as_bytes().to_vec()),
            nodeSig: Bytes::from(node_signature.as_bytes().to_vec()),
        };
        self.send(
            self.call_tx(self.channel_manager, &call),
            "answer to a dispute",
        )
        .await
    }

    /// Answers a dispute of the node's channel with `user` that is still in the mempool, bidding `ahead`: the
    /// answer goes out at once, so it can be mined in the dispute's own block, right behind it. Miners order a
    /// block by tip, then by arrival, so the answer bids the node's usual tip, no more than the dispute's (it
    /// arrives later), and the higher of both max fees, so it never waits longer than the node's other
    /// transactions queued behind it on the same account. `None`, sending nothing, when the dispute bids less than
    /// the node would pay (it may wait long; the node answers once it is mined). An answer mined ahead of the
    /// dispute anyway (the base fee rose) reverts, and the mined dispute is answered again.
    pub async fn respond_behind(
        &self,
        user: Address,
        state: &spoke_protocol::ChannelState,
        user_signature: &spoke_protocol::Signature,
        node_signature: &spoke_protocol::Signature,
        ahead: TxFees,
    ) -> Result<Option<B256>> {
        const WHAT: &str = "answer to a pending dispute";
        let ours = retry(|| self.provider.estimate_eip1559_fees())
            .await
            .map_err(|e| chain(WHAT, &e))?;
        let head = retry(|| {
            self.provider
                .get_block_by_number(BlockNumberOrTag::Latest)
                .into_future()
        })
        .await
        .map_err(|e| chain(WHAT, &e))?;
        let base_fee = head
            .and_then(|block| block.header.base_fee_per_gas)
            .map_or(0, u128::from);
        let ours = TxFees {
            max_fee_per_gas: ours.max_fee_per_gas,
            max_priority_fee_per_gas: ours.max_priority_fee_per_gas,
        };
        let Some(fees) = fees_behind(ahead, ours, base_fee) else {
            return Ok(None);
        };
        let call = ChannelManager::respondCall {
            user,
            node: self.address,
            state: spoke_contracts::sol_state(state),
            userSig: Bytes::from(user_signature.as_bytes().to_vec()),
            nodeSig: Bytes::from(node_signature.as_bytes().to_vec()),
        };
        let tx = self
            .call_tx(self.channel_manager, &call)
            .with_gas_limit(RESPOND_GAS)
            .with_max_fee_per_gas(fees.max_fee_per_gas)
            .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        self.send(tx, WHAT).await.map(Some)
    }

    /// Concludes the dispute of the node's channel with `user` with the disputed state itself (the contract
    /// compares its hash with the stored one).
    pub async fn conclude(
        &self,
        user: Address,
        state: &spoke_protocol::ChannelState,
    ) -> Result<B256> {
        let call = ChannelManager::concludeCall {
            user,
            node: self.address,
            state: spoke_contracts::sol_state(state),
        };
        self.send(
            self.call_tx(self.channel_manager, &call),
            "conclusion of a dispute",
        )
        .await
    }

    /// Settles one lock of the final state of the node's channel with `user` at `epoch`; `proof` is the lock
    /// leaf's Merkle proof against the state's locks root.
    pub async fn settle_lock(
        &self,
        user: Address,
        epoch: u64,
        lock: &spoke_protocol::Lock,
        proof: Vec<B256>,
    ) -> Result<B256> {
        let call = ChannelManager::settleLockCall {
            user,
            node: self.address,
            epoch,
            lock: spoke_contracts::sol_lock(lock),
            proof,
        };
        self.send(self.call_tx(self.channel_manager, &call), "lock settlement")
            .await
    }

    /// Pays the node what its concluded channel with `user` at `epoch` owes it in `asset`.
    pub async fn claim(&self, user: Address, epoch: u64, asset: Address) -> Result<B256> {
        let call = ChannelManager::claimCall {
            user,
            node: self.address,
            epoch,
            asset,
            side: Side::Node as u8,
        };
        self.send(self.call_tx(self.channel_manager, &call), "payout claim")
            .await
    }

    /// Executes a co-signed withdrawal commitment of the node's channel with `user` at `epoch`.
    pub async fn withdraw(
        &self,
        user: Address,
        epoch: u64,
        commitment: &SignedCommitment,
    ) -> Result<B256> {
        let call = ChannelManager::withdrawCall {
            user,
            node: self.address,
            epoch,
            c: spoke_contracts::sol_commitment(&commitment.commitment),
            userSig: Bytes::from(commitment.user_signature.as_bytes().to_vec()),
            nodeSig: Bytes::from(commitment.node_signature.as_bytes().to_vec()),
        };
        self.send(self.call_tx(self.channel_manager, &call), "withdrawal")
            .await
    }

    /// The node wallet's balance of `asset`: ETH for `Address::ZERO`, else the ERC-20's `balanceOf`.
    pub async fn balance(&self, asset: Address) -> Result<U256> {
        if asset == Address::ZERO {
            return retry(|| self.provider.get_balance(self.address).into_future())
                .await
                .map_err(|e| chain("balance", &e));
        }
        self.read(
            asset,
            DevDai::balanceOfCall {
                account: self.address,
            },
            "balance",
        )
        .await
    }

    fn call_tx<C: SolCall>(&self, to: Address, call: &C) -> TransactionRequest {
        TransactionRequest::default()
            .with_to(to)
            .with_input(call.abi_encode())
    }

    /// A view call with retries.
    async fn read<C: SolCall>(
        &self,
        to: Address,
        call: C,
        what: &'static str,
    ) -> Result<C::Return> {
        let tx = self.call_tx(to, &call).with_from(self.address);
        let bytes = retry(|| self.provider.call(tx.clone()).into_future())
            .await
            .map_err(|e| chain(what, &e))?;
        C::abi_decode_returns(&bytes).map_err(|e| {
            Error::Chain(format!(
                "{what}: {to} answered something that does not decode: {e}"
            ))
        })
    }

    fn remember(&self, hash: B256, what: &'static str) {
        if let Ok(mut sent) = self.sent.lock() {
            if sent.len() == REMEMBERED {
                sent.pop_front();
            }
            sent.push_back((hash, what));
        }
    }

    fn what(&self, hash: B256) -> &'static str {
        self.sent
            .lock()
            .ok()
            .and_then(|sent| sent.iter().find(|(h, _)| *h == hash).map(|(_, w)| *w))
            .unwrap_or("transaction")
    }

    fn forget(&self, hash: B256) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.retain(|(h, _)| *h != hash);
        }
    }
}

/// The fees of a transaction meant to be mined right behind one bidding `ahead`, from the node's usual `ours`,
/// at the head's `base_fee`; `None` when `ahead` pays a smaller tip than `ours` at that base fee (it cannot be
/// followed without underbidding the node's own queue). Miners rank by the tip a transaction actually pays,
/// `min(tip, max fee − base fee)`: the follower's is `ours`' tip, at most the leader's, and on a tie the one that
/// arrived first goes first.
pub fn fees_behind(ahead: TxFees, ours: TxFees, base_fee: u128) -> Option<TxFees> {
    if ahead.max_fee_per_gas < base_fee {
        return None;
    }
    let paid = ahead
        .max_priority_fee_per_gas
        .min(ahead.max_fee_per_gas - base_fee);
    if paid < ours.max_priority_fee_per_gas {
        return None;
    }
    Some(TxFees {
        max_fee_per_gas: ahead
            .max_fee_per_gas
            .max(ours.max_fee_per_gas)
            .max(base_fee + ours.max_priority_fee_per_gas),
        max_priority_fee_per_gas: ours.max_priority_fee_per_gas,
    })
}

/// Runs `request` again after a transient failure, at most [`RETRIES`] times, with a doubling pause.
async fn retry<T, F, Fut>(mut request: F) -> Result<T, TransportError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TransportError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut tries = 0;
    loop {
        match request().await {
            Err(e) if tries < RETRIES && is_transient(&e) => {
                tracing::debug!(error = %e, "chain request failed; retrying");
                tries += 1;
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            result => return result,
        }
    }
}

/// Failures that say nothing about the request itself: the connection, rate limits, an unavailable server.
fn is_transient(err: &TransportError) -> bool {
    use alloy::transports::TransportErrorKind as Kind;
    match err {
        RpcError::Transport(kind) => match kind {
            Kind::HttpError(_) | Kind::HttpErrorWithRetryAfter { .. } => kind.is_retry_err(),
            Kind::NonRetryable(_) | Kind::PubsubUnavailable => false,
            // Connection refused or reset, timeouts, a lost batch answer.
            _ => true,
        },
        RpcError::ErrorResp(payload) => payload.is_retry_err(),
        _ => false,
    }
}

/// The chain refused `what`: with the contract's custom error by name when the revert carries one.
fn refused(what: &'static str, err: &TransportError) -> Error {
    let reason = match err.as_error_resp() {
        Some(payload) => {
            if let Some(e) =
                payload.as_decoded_interface_error::<ChannelManager::ChannelManagerErrors>()
            {
                format!("reverted with ChannelManager.{}", error_text(&e))
            } else if let Some(e) = payload.as_decoded_interface_error::<DevDai::DevDaiErrors>() {
                format!("reverted with the token's {}", error_text(&e))
            } else {
                err.to_string()
            }
        }
        None => err.to_string(),
    };
    Error::TxRefused { what, reason }
}

/// `Name(fields)` of a decoded custom error.
fn error_text<E: SolInterface + std::fmt::Debug>(e: &E) -> String {
    // The generated enums print as `Variant(Variant { .. })`; the inner part is the useful one.
    let debug = format!("{e:?}");
    match debug.split_once('(') {
        Some((_, inner)) => inner.strip_suffix(')').unwrap_or(inner).to_string(),
        None => debug,
    }
}

fn chain(what: &'static str, err: &TransportError) -> Error {
    Error::Chain(format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GWEI: u128 = 1_000_000_000;

    fn fees(max: u128, tip: u128) -> TxFees {
        TxFees {
            max_fee_per_gas: max,
            max_priority_fee_per_gas: tip,
        }
    }

    #[test]
    fn an_answer_behind_a_dispute_bids_the_nodes_tip_and_the_higher_max_fee() {
        let base = 10 * GWEI;
        // The dispute pays a 3 gwei tip; the node would pay 2: it follows at 2, with the larger max fee.
        let behind = fees_behind(fees(40 * GWEI, 3 * GWEI), fees(22 * GWEI, 2 * GWEI), base);
        assert_eq!(behind, Some(fees(40 * GWEI, 2 * GWEI)));
        // The same tip: a tie, broken by arrival.
        let behind = fees_behind(fees(15 * GWEI, 2 * GWEI), fees(22 * GWEI, 2 * GWEI), base);
        assert_eq!(behind, Some(fees(22 * GWEI, 2 * GWEI)));
    }

    #[test]
    fn a_dispute_that_bids_less_than_the_node_is_not_followed() {
        let base = 10 * GWEI;
        // A smaller tip.
        assert_eq!(
            fees_behind(fees(40 * GWEI, GWEI), fees(22 * GWEI, 2 * GWEI), base),
            None
        );
        // A large tip it cannot pay: max fee − base fee is what it pays.
        assert_eq!(
            fees_behind(fees(11 * GWEI, 5 * GWEI), fees(22 * GWEI, 2 * GWEI), base),
            None
        );
        // Below the base fee: not minable now.
        assert_eq!(
            fees_behind(fees(9 * GWEI, 5 * GWEI), fees(22 * GWEI, 2 * GWEI), base),
            None
        );
    }

    #[test]
    fn a_legacy_dispute_is_followed_at_its_effective_tip() {
        // A gas price of 13 gwei at a base fee of 10 pays a 3 gwei tip.
        let legacy = fees(13 * GWEI, 13 * GWEI);
        let behind = fees_behind(legacy, fees(22 * GWEI, 3 * GWEI), 10 * GWEI);
        assert_eq!(behind, Some(fees(22 * GWEI, 3 * GWEI)));
        assert_eq!(
            fees_behind(legacy, fees(22 * GWEI, 4 * GWEI), 10 * GWEI),
            None
        );
    }
}
