//! A forced exit, without the node: dispute the channel with the client's own latest double-signed state (or the
//! nonce-0 state when it has none), reveal the preimages it holds, wait out the consensus window, settle the locks,
//! conclude, claim, and execute the withdrawal commitments the chain has not paid. Each step is announced as a
//! [`ClientEvent::Exit`]. [`Client::exit`] reads where the channel stands on chain each time and does what is left,
//! so it may be called again — after a crash, or once a lock that could only go back after its expiry has
//! expired.

use super::*;
use spoke_protocol::{lock_leaf, merkle_proof, reveal_deadline};

use crate::{chain::At, ChannelStatus, OnChainChannel};

/// A step of a forced exit, as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStep {
    /// The client signs nothing more in this channel.
    Frozen,
    /// The channel is under dispute at `nonce` until `consensus_end` (by this client when `tx` is set).
    Disputed {
        nonce: u64,
        consensus_end: u64,
        tx: Option<B256>,
    },
    /// A dispute at an older nonce was answered with this client's newer state.
    Answered {
        nonce: u64,
        tx: B256,
    },
    /// Preimages of locks paid to this client were published in the contract's registry.
    Revealed {
        count: usize,
        tx: B256,
    },
    /// Waiting for the consensus window to close at `until` (chain time, Unix seconds).
    Waiting {
        until: u64,
    },
    LockSettled {
        lock_id: B256,
        tx: B256,
    },
    /// The dispute concluded at `nonce`; the pair moved to its next epoch.
    Concluded {
        nonce: u64,
        tx: B256,
    },
    /// The contract paid this client its share of `asset`.
    Claimed {
        asset: Address,
        amount: U256,
        tx: B256,
    },
    /// A withdrawal commitment the chain had not executed was.
    Withdrawn {
        asset: Address,
        tx: B256,
    },
}

/// Where an exit stands after [`Client::exit`] did what it could.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitReport {
    /// The nonce of the state the channel concluded with (`None` while the dispute is not concluded).
    pub final_nonce: Option<u64>,
    /// Locks of the final state that can be settled only at their expiry (this client's own payments whose
    /// preimage was not revealed in time): call [`Client::exit`] again after it.
    pub waiting_locks: Vec<Lock>,
}

impl ExitReport {
    /// Nothing is left to do.
    pub fn is_done(&self) -> bool {
        self.final_nonce.is_some() && self.waiting_locks.is_empty()
    }
}

/// How long to sleep between looks at the chain's clock while the consensus window runs.
const WINDOW_POLL: Duration = Duration::from_secs(2);

impl Client {
    /// Exits the channel on chain without the node (see the module's documentation). Needs `eth_url` and some
    /// ETH for gas. From the first call on, the client signs nothing more in this channel.
    pub async fn exit(&self) -> Result<ExitReport> {
        let chain = self
            .chain()
            .ok_or_else(|| Error::Config("an exit needs the chain: set eth_url".into()))?;
        if !self.shared.exiting.swap(true, Ordering::SeqCst) {
            self.emit(ClientEvent::Exit(ExitStep::Frozen));
        }
        // Taking the channel's lock waits for any signature in progress; none starts after the flag.
        let snapshot = self.shared.channel.lock().await.snapshot.clone();
        self.exit_channel(chain, snapshot).await
    }

    /// Finishes the exit of an earlier channel of this user and node (epoch `epoch`), from the snapshot the store
    /// archived when the pair moved on: settles its remaining locks, claims, executes unpaid withdrawals.
    pub async fn exit_archived(&self, epoch: u64) -> Result<ExitReport> {
        let chain = self
            .chain()
            .ok_or_else(|| Error::Config("an exit needs the chain: set eth_url".into()))?;
        let snapshot = self.shared.store.archived(epoch)?.ok_or_else(|| {
            Error::Store(format!(
                "no archived channel of epoch {epoch} in this store"
            ))
        })?;
        self.exit_channel(chain, snapshot).await
    }

    async fn exit_channel(
        &self,
        chain: &crate::EthChain,
        snapshot: Snapshot,
    ) -> Result<ExitReport> {
        let params = snapshot.params.clone();
        let id = params.channel_id();
        let mut on = chain.channel_status(id).await?;
        let mine = snapshot.latest.as_ref();
        let my_nonce = mine.map_or(0, |s| s.state.nonce);
        if on.status == ChannelStatus::Open {
            let tx = match mine {
                Some(latest) => chain.dispute(&params, latest).await?,
                None => chain.dispute_without_state(&params).await?,
            };
            on = chain.channel_status(id).await?;
            self.emit(ClientEvent::Exit(ExitStep::Disputed {
                nonce: on.dispute_nonce,
                consensus_end: on.consensus_end,
                tx: Some(tx),
            }));
        } else if on.status == ChannelStatus::Disputed {
            self.emit(ClientEvent::Exit(ExitStep::Disputed {
                nonce: on.dispute_nonce,
                consensus_end: on.consensus_end,
                tx: None,
            }));
            if let Some(latest) = mine.filter(|_| my_nonce > on.dispute_nonce) {
                if chain.timestamp().await? < on.consensus_end {
                    let tx = chain.respond(&params, latest).await?;
                    on = chain.channel_status(id).await?;
                    self.emit(ClientEvent::Exit(ExitStep::Answered {
                        nonce: my_nonce,
                        tx,
                    }));
                }
            }
        }
        let candidates = candidates(&snapshot, id);
        let final_state = if on.status == ChannelStatus::Disputed {
            let disputed = chain.disputed_state_hash(id).await?;
            candidates
                .iter()
                .find(|s| crate::chain::state_hash(s) == disputed)
                .cloned()
        } else {
            candidates
                .iter()
                .find(|s| s.nonce == on.dispute_nonce)
                .cloned()
        }
        .ok_or_else(|| {
            Error::Chain(format!(
                "the channel is disputed at nonce {}, a state this client does not hold",
                on.dispute_nonce
            ))
        })?;

        self.reveal_owed(chain, &snapshot, &final_state).await?;
        if on.status == ChannelStatus::Disputed {
            self.wait_for_window(chain, &on).await?;
        }
        let waiting_locks = self.settle_locks(chain, &params, &final_state).await?;
        if on.status == ChannelStatus::Disputed {
            let sent = chain.conclude(&params, &final_state).await;
            if let Some(tx) = unless_done_meanwhile(chain, sent, Step::Conclude { id }).await? {
                self.emit(ClientEvent::Exit(ExitStep::Concluded {
                    nonce: final_state.nonce,
                    tx,
                }));
            }
        }
        // Uncounted deposits are paid back too, so every asset the channel may hold is looked at, not only the
        // final state's (the nonce-0 state has none).
        let mut assets: Vec<Address> = final_state.assets.iter().map(|a| a.asset).collect();
        for asset in std::iter::once(Address::ZERO).chain(params.allowed_assets.iter().copied()) {
            if !assets.contains(&asset) {
                assets.push(asset);
            }
        }
        for asset in assets {
            let owed = chain.book(id, asset).await?.owed(Side::User);
            if owed > U256::ZERO {
                let sent = chain.claim(&params, asset, Side::User).await;
                if let Some(tx) =
                    unless_done_meanwhile(chain, sent, Step::Claim { id, asset }).await?
                {
                    self.emit(ClientEvent::Exit(ExitStep::Claimed {
                        asset,
                        amount: owed,
                        tx,
                    }));
                }
            }
        }
        self.execute_commitments(chain, &params, &snapshot, final_state.nonce)
            .await?;
        Ok(ExitReport {
            final_nonce: Some(final_state.nonce),
            waiting_locks,
        })
    }

    /// Looks at the chain every `every` while the client lives: a dispute of this channel freezes it (nothing more
    /// is signed in it), and a dispute with an older state than this client's newest is answered with the newer
    /// one while the window is open. The node would be the one to dispute an old state; the user's own exit is
    /// [`Client::exit`].
    pub(super) fn watch_chain(&self, every: Duration) {
        let mut background = self.downgrade();
        platform::spawn(async move {
            let mut answered = None;
            loop {
                let Some(client) = background.client() else {
                    return;
                };
                if let Err(e) = client.answer_dispute(&mut answered).await {
                    tracing::warn!(error = %e, "watching the chain for disputes failed");
                }
                if let Err(e) = client.reveal_due().await {
                    tracing::warn!(error = %e, "revealing preimages on chain failed");
                }
                drop(client);
                if background
                    .unless_stopped(platform::sleep(every))
                    .await
                    .is_none()
                {
                    return;
                }
            }
        });
    }

    async fn answer_dispute(&self, answered: &mut Option<u64>) -> Result<()> {
        let Some(chain) = self.chain() else {
            return Ok(());
        };
        let (params, latest) = {
            let channel = self.shared.channel.lock().await;
            (channel.params().clone(), channel.snapshot.latest.clone())
        };
        let on = chain.channel_status(params.channel_id()).await?;
        if on.status != ChannelStatus::Disputed || *answered == Some(on.dispute_nonce) {
            return Ok(());
        }
        if !self.shared.exiting.swap(true, Ordering::SeqCst) {
            self.emit(ClientEvent::Exit(ExitStep::Frozen));
            self.emit(ClientEvent::Exit(ExitStep::Disputed {
                nonce: on.dispute_nonce,
                consensus_end: on.consensus_end,
                tx: None,
            }));
        }
        match latest {
            Some(latest)
                if latest.state.nonce > on.dispute_nonce
                    && chain.timestamp().await? < on.consensus_end =>
            {
                let tx = chain.respond(&params, &latest).await?;
                tracing::warn!(
                    disputed = on.dispute_nonce,
                    answered = latest.state.nonce,
                    "a stale dispute was answered"
                );
                *answered = Some(latest.state.nonce);
                self.emit(ClientEvent::Exit(ExitStep::Answered {
                    nonce: latest.state.nonce,
                    tx,
                }));
            }
            _ => *answered = Some(on.dispute_nonce),
        }
        Ok(())
    }

    /// A lock paid to this client that is still in its channel — the node has not countersigned its resolve —
    /// and whose expiry is near: its preimage goes to the registry before the reveal deadline (`expiry − R`, with
    /// the safety margin G to spare), so the lock is this client's on chain whatever the node does.
    async fn reveal_due(&self) -> Result<()> {
        let Some(chain) = self.chain() else {
            return Ok(());
        };
        let (locks, known) = {
            let channel = self.shared.channel.lock().await;
            let known: Vec<B256> = channel
                .snapshot
                .preimages
                .iter()
                .chain(&channel.snapshot.link_preimages)
                .map(|(_, p)| *p)
                .collect();
            (channel.state.locks.clone(), known)
        };
        let timing = self.shared.node_config.timing;
        let mut due = Vec::new();
        let mut now = None;
        for lock in locks.iter().filter(|l| l.sender == Side::Node) {
            let Some(preimage) = known.iter().copied().find(|p| sha256(*p) == lock.hashlock) else {
                continue;
            };
            let now = match now {
                Some(now) => now,
                None => *now.insert(chain.timestamp().await?),
            };
            let start = reveal_deadline(lock, &timing).saturating_sub(timing.safety_margin);
            if now >= start
                && now < lock.expiry
                && !due.contains(&preimage)
                && chain.revealed_at(lock.hashlock).await? == 0
            {
                due.push(preimage);
            }
        }
        if !due.is_empty() {
            let count = due.len();
            let tx = chain.reveal_many(due).await?;
            tracing::warn!(count, %tx, "the node did not take this client's resolves: preimages revealed on chain");
            self.emit(ClientEvent::Exit(ExitStep::Revealed { count, tx }));
        }
        Ok(())
    }

    pub(super) fn check_not_exiting(&self) -> Result<()> {
        if self.shared.exiting.load(Ordering::SeqCst) {
            return Err(Error::Refused(
                "the channel is being exited on chain: nothing more is signed in it".into(),
            ));
        }
        Ok(())
    }

    /// Whether the app may move `amount` of `asset` out of the channel now: not during an exit, and within the
    /// spending caps. Under an hourly cap the amount is counted in the stored snapshot before anything is signed,
    /// and stays counted if the operation then fails: a cap errs on the side of the user's money.
    pub(super) async fn may_spend(&self, asset: Address, amount: U256) -> Result<()> {
        self.check_not_exiting()?;
        let caps = &self.shared.config.caps;
        if !caps.has_hourly() {
            return caps.spend(&mut Vec::new(), asset, amount, 0);
        }
        let mut channel = self.shared.channel.lock().await;
        let mut snapshot = channel.snapshot.clone();
        caps.spend(
            &mut snapshot.spent,
            asset,
            amount,
            crate::platform::now_ms(),
        )?;
        self.shared.store.save(&snapshot)?;
        channel.snapshot = snapshot;
        Ok(())
    }

    /// Publishes the preimages this client holds for locks the final state pays to it, unless already public.
    async fn reveal_owed(
        &self,
        chain: &crate::EthChain,
        snapshot: &Snapshot,
        state: &ChannelState,
    ) -> Result<()> {
        let mut preimages = Vec::new();
        for lock in state.locks.iter().filter(|l| l.sender == Side::Node) {
            let known = snapshot
                .preimages
                .iter()
                .chain(snapshot.link_preimages.iter())
                .map(|(_, p)| *p)
                .find(|p| sha256(*p) == lock.hashlock);
            if let Some(preimage) = known {
                if chain.revealed_at(lock.hashlock).await? == 0 && !preimages.contains(&preimage) {
                    preimages.push(preimage);
                }
            }
        }
        if !preimages.is_empty() {
            let count = preimages.len();
            let tx = chain.reveal_many(preimages).await?;
            self.emit(ClientEvent::Exit(ExitStep::Revealed { count, tx }));
        }
        Ok(())
    }

    async fn wait_for_window(&self, chain: &crate::EthChain, on: &OnChainChannel) -> Result<()> {
        self.emit(ClientEvent::Exit(ExitStep::Waiting {
            until: on.consensus_end,
        }));
        loop {
            let now = chain.timestamp().await?;
            if now >= on.consensus_end {
                return Ok(());
            }
            platform::sleep(WINDOW_POLL.min(Duration::from_secs(on.consensus_end - now))).await;
        }
    }

    /// Settles every lock of the final state that can be settled now; returns those that must wait for their
    /// expiry.
    async fn settle_locks(
        &self,
        chain: &crate::EthChain,
        params: &ChannelParams,
        state: &ChannelState,
    ) -> Result<Vec<Lock>> {
        let id = params.channel_id();
        let leaves: Vec<B256> = state.locks.iter().map(|l| lock_leaf(id, l)).collect();
        let now = chain.timestamp().await?;
        let mut waiting = Vec::new();
        for (lock, leaf) in state.locks.iter().zip(&leaves) {
            if chain.lock_settled(*leaf).await? {
                continue;
            }
            let revealed = chain.revealed_at(lock.hashlock).await?;
            let settles_now = (revealed != 0 && revealed < lock.expiry) || now >= lock.expiry;
            if !settles_now {
                waiting.push(lock.clone());
                continue;
            }
            let proof = merkle_proof(&leaves, *leaf)
                .ok_or_else(|| Error::Chain("a lock is missing from its own tree".into()))?;
            let sent = chain.settle_lock(params, lock, proof).await;
            if let Some(tx) =
                unless_done_meanwhile(chain, sent, Step::Settle { leaf: *leaf }).await?
            {
                self.emit(ClientEvent::Exit(ExitStep::LockSettled {
                    lock_id: lock.id,
                    tx,
                }));
            }
        }
        Ok(waiting)
    }

    /// Executes this client's commitments of states up to the final one that the chain has not paid in full.
    async fn execute_commitments(
        &self,
        chain: &crate::EthChain,
        params: &ChannelParams,
        snapshot: &Snapshot,
        final_nonce: u64,
    ) -> Result<()> {
        let id = params.channel_id();
        for signed in &snapshot.commitments {
            let c = &signed.commitment;
            if c.side != Side::User || c.state_nonce > final_nonce || c.channel_id != id {
                continue;
            }
            let step = Step::Withdraw {
                id,
                asset: c.asset,
                cumulative: c.cumulative,
            };
            if step.done(chain, At::Latest).await? {
                continue;
            }
            let sent = chain.withdraw(params, signed).await;
            if let Some(tx) = unless_done_meanwhile(chain, sent, step).await? {
                self.emit(ClientEvent::Exit(ExitStep::Withdrawn {
                    asset: c.asset,
                    tx,
                }));
            }
        }
        Ok(())
    }
}

/// An exit step that anyone may take on chain, the node included.
#[derive(Debug, Clone, Copy)]
enum Step {
    Settle {
        leaf: B256,
    },
    Conclude {
        id: B256,
    },
    Claim {
        id: B256,
        asset: Address,
    },
    Withdraw {
        id: B256,
        asset: Address,
        cumulative: U256,
    },
}

impl Step {
    /// Whether the chain, at `at`, shows the step taken.
    async fn done(self, chain: &crate::EthChain, at: At) -> Result<bool> {
        Ok(match self {
            Step::Settle { leaf } => chain.lock_settled_at(leaf, at).await?,
            Step::Conclude { id } => {
                chain.channel_status_at(id, at).await?.status != ChannelStatus::Disputed
            }
            Step::Claim { id, asset } => chain
                .book_at(id, asset, at)
                .await?
                .owed(Side::User)
                .is_zero(),
            Step::Withdraw {
                id,
                asset,
                cumulative,
            } => chain.book_at(id, asset, at).await?.withdrawn_user >= cumulative,
        })
    }
}

/// The transaction of an exit `step`, or `None` if it failed because someone else takes the step: the node
/// settles, concludes, claims and executes withdrawals too, and may do so between this client's look at the chain
/// and its own transaction. That transaction then reverts, or its gas estimate fails on the other one still in
/// the mempool; in that case this waits (as long as for its own transaction) until the other is mined. The chain
/// is read again only after a failure; any other failure is the step's error.
async fn unless_done_meanwhile(
    chain: &crate::EthChain,
    sent: Result<B256>,
    step: Step,
) -> Result<Option<B256>> {
    let Err(e) = sent else {
        return Ok(sent.ok());
    };
    let done = |at| step.done(chain, at);
    if !done(At::Latest).await.unwrap_or(false) {
        if !done(At::Pending).await.unwrap_or(false) {
            return Err(e);
        }
        let deadline = platform::deadline(OTHERS_TRANSACTION);
        while !done(At::Latest).await.unwrap_or(false) {
            if platform::passed(deadline) {
                return Err(e);
            }
            platform::sleep(Duration::from_secs(1)).await;
        }
    }
    tracing::info!(error = %e, "an exit step was done by someone else meanwhile");
    Ok(None)
}

/// How long an exit waits for someone else's transaction that does one of its steps, as for its own.
const OTHERS_TRANSACTION: Duration = Duration::from_secs(120);

/// The states the chain may hold for this channel: the latest double-signed one, one this client signed and sent
/// whose countersignature it never saw (the node may have disputed with it), and the opening state.
fn candidates(snapshot: &Snapshot, id: B256) -> Vec<ChannelState> {
    let mut states: Vec<ChannelState> = snapshot.latest.iter().map(|s| s.state.clone()).collect();
    states.extend(snapshot.unanswered.iter().cloned());
    states.push(ChannelState::initial(id));
    states
}
