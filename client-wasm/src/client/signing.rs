//! Everything that signs a channel state: the node's proposals, judged by the validator and the client's own
//! checks, then countersigned; the client's own proposals; the resolves it owes; catching up with the node.

use super::*;

impl Client {
    /// Checks the node's signature on `digest`: against its kept key once this client knows it, else by recovery
    /// (and the key is then kept).
    fn verify_node(
        &self,
        digest: &B256,
        signature: &Signature,
        node: Address,
    ) -> spoke_protocol::Result<()> {
        let key = self.shared.node_key.get();
        verify_signer(digest, signature, Side::Node, node, key)?;
        if key.is_none() {
            self.learn_node_key(digest, signature);
        }
        Ok(())
    }

    /// Keeps the key behind a signature just checked to be the node's. Costs one recovery, once per client.
    fn learn_node_key(&self, digest: &B256, signature: &Signature) {
        if self.shared.node_key.get().is_some() {
            return;
        }
        if let Ok(key) =
            recover_public_key(digest, signature).and_then(|key| PublicKey::from_sec1(&key))
        {
            let _ = self.shared.node_key.set(key);
        }
    }

    /// Takes the node's pending proposal, if any, and every one that follows it.
    pub async fn sync(&self) -> Result<()> {
        for _ in 0..64 {
            let pending: Option<PendingProposal> = self.shared.api.get("/channel/pending").await?;
            match pending {
                Some(p) => self.take_proposal(p).await?,
                None => return Ok(()),
            }
        }
        Ok(())
    }

    /// Judges a node proposal with the validator and the client's own checks; signs it only if both agree,
    /// saving the state before the signature leaves. A lock paid to this client is then resolved at once.
    pub async fn take_proposal(&self, pending: PendingProposal) -> Result<()> {
        {
            let mut channel = self.shared.channel.lock().await;
            // Checked under the channel's lock, which an exit takes before it reads the state it disputes with.
            self.check_not_exiting()?;
            let nonce = pending.proposal.nonce;
            if nonce <= channel.state.nonce {
                let latest = channel.snapshot.latest.as_ref();
                if let Some(signed) = latest.filter(|s| {
                    s.state.nonce == nonce && s.node_signature == pending.proposal.signature
                }) {
                    // Taken already (it also came the other way), but the node still waits: the countersignature
                    // was lost on its way. The same signature again; the node stores it once.
                    let signature = signed.user_signature;
                    let commitment_signature = self.commitment_signature(
                        channel.params(),
                        &pending.proposal.update,
                        &signed.state,
                    )?;
                    drop(channel);
                    return self
                        .send_countersign(&CountersignRequest {
                            nonce,
                            signature,
                            commitment_signature,
                        })
                        .await;
                }
                if nonce < channel.state.nonce {
                    // An old push arriving late: this client moved past it already.
                    return Ok(());
                }
                return Err(self.refuse(format!(
                    "stale nonce: the node proposes another state at nonce {nonce}, which this client already holds"
                )));
            }
            let ctx = Context {
                now: now(),
                proposer: Side::Node,
                params: channel.params(),
                proposer_key: self.shared.node_key.get(),
            };
            let accepted = match accept_proposal(&channel.state, &pending.proposal, &ctx) {
                Ok(a) => a,
                Err(e) => return Err(self.refuse(e.to_string())),
            };
            self.learn_node_key(&accepted.digest, &pending.proposal.signature);
            let received = match self.judge(&channel, &pending).await {
                Ok(r) => r,
                Err(reason) => return Err(self.refuse(reason)),
            };
            let signature = self.shared.signer.sign_digest(&accepted.digest)?;
            let commitment_signature = self.commitment_signature(
                channel.params(),
                &pending.proposal.update,
                &accepted.state,
            )?;
            let signed = SignedState {
                state: accepted.state.clone(),
                user_signature: signature,
                node_signature: pending.proposal.signature,
            };
            let mut snapshot = channel.snapshot.clone();
            snapshot.latest = Some(signed);
            if let Some(r) = &received {
                snapshot.preimages.push((r.lock.id, r.preimage));
                self.shared
                    .senders
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(r.lock.id, r.from);
            }
            // Preimages are kept while their lock is open: what a dispute would need.
            snapshot
                .preimages
                .retain(|(id, _)| accepted.state.lock(*id).is_some());
            self.shared.store.save(&snapshot)?;
            if let Some((id, completed)) = payment_ended(&channel.state, &pending.proposal.update) {
                // The payment has ended for this client: the state that resolves (or cancels) its lock is
                // double-signed and stored. Recorded under the channel's lock, before the node has the
                // countersignature, so a waiter that hears the node report the end finds it here.
                self.shared
                    .ended_payments
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .record(id, completed);
            }
            channel.snapshot = snapshot;
            channel.state = accepted.state;
            let countersign = CountersignRequest {
                nonce,
                signature,
                commitment_signature,
            };
            if received.is_some() {
                // A lock paid to this client: its resolve follows at once and carries the countersignature.
                channel.owed_countersign = Some(countersign);
            } else {
                self.send_countersign(&countersign).await?;
            }
            self.emit(ClientEvent::StateChanged {
                nonce: pending.proposal.nonce,
            });
            if received.is_none() {
                return Ok(());
            }
            if self.resolve_held(&mut channel).await.is_ok() {
                // Nothing it could resolve (the lock is too near its expiry): the countersignature goes alone.
                if let Some(countersign) = channel.owed_countersign.take() {
                    self.send_countersign(&countersign).await?;
                }
                return Ok(());
            }
        }
        // Refused, or the node was busy: again with the channel let go, catching up first if need be.
        let resolved = self.resolve_received().await;
        let owed = self.shared.channel.lock().await.owed_countersign.take();
        if let Some(countersign) = owed {
            self.send_countersign(&countersign).await?;
        }
        resolved
    }

    /// Proposes the resolve of every lock paid to this client whose preimage it holds. The work list is the
    /// saved channel itself, so nothing owed is forgotten across a lost answer or a restart. Each resolve picks
    /// its lock and proposes under one hold of the channel, so callers at the same time never resolve one lock
    /// twice. The first refusal ends the pass; the next call tries again.
    pub(super) async fn resolve_received(&self) -> Result<()> {
        for _ in 0..64 {
            let mut channel = self.shared.channel.lock().await;
            match self.resolve_held(&mut channel).await {
                Err(e) => {
                    drop(channel);
                    self.catch_up(e)
                        .await
                        .inspect_err(|e| tracing::warn!(error = %e, "resolve not accepted yet"))?;
                }
                done => return done,
            }
        }
        Err(Error::Timeout("a free nonce in a busy channel"))
    }

    /// Resolves every lock paid to this client that it can (oldest first, see [`oldest_resolvable`]) under the
    /// hold of the channel the caller has. A lock just taken is resolved before the channel is let go: letting
    /// go first put the resolve behind whatever waited for the channel, this client's own payments among them,
    /// one node round trip each. In a closed-loop run of 10,000 payments, the slowest 1% had waited a median
    /// 313 ms between taking their lock and proposing its resolve.
    async fn resolve_held(&self, channel: &mut tokio::sync::MutexGuard<'_, Channel>) -> Result<()> {
        loop {
            let margin = channel.params().timing.safety_margin;
            let Some((lock, preimage)) =
                oldest_resolvable(&channel.state, &channel.snapshot, now() + margin)
            else {
                return Ok(());
            };
            let resolve = Update::ResolveLock {
                id: lock.id,
                preimage,
            };
            self.propose_locked(channel, &resolve, None).await?;
            self.received_paid(&lock);
        }
    }

    /// A lock paid to this client is resolved: the payment is the user's.
    fn received_paid(&self, lock: &Lock) {
        let from = self
            .shared
            .senders
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&lock.id)
            .unwrap_or(Address::ZERO);
        self.emit(ClientEvent::PaymentReceived {
            id: lock.id,
            from,
            asset: lock.asset,
            amount: lock.amount,
        });
    }

    /// What the chain shows the node deposited into this channel.
    async fn node_deposit(&self, channel: &Channel, asset: Address) -> Result<U256, String> {
        let chain = self.shared.chain.as_ref().ok_or(
            "the node counts a deposit of its own, and this client has no chain to check it against (set eth_url)",
        )?;
        chain
            .deposited(channel.state.channel_id, asset, Side::Node, 0)
            .await
            .map_err(|e| format!("cannot check the node's deposit on chain: {e}"))
    }

    /// Sends this client's signature on the node's proposal (sent again, it is stored once).
    async fn send_countersign(&self, countersign: &CountersignRequest) -> Result<()> {
        let _: CountersignResponse = self
            .shared
            .api
            .post("/channel/countersign", countersign)
            .await?;
        Ok(())
    }

    /// The node's withdrawal of its own funds (excess collateral) carries a commitment, signed with the state.
    fn commitment_signature(
        &self,
        params: &ChannelParams,
        update: &Update,
        state: &ChannelState,
    ) -> Result<Option<spoke_protocol::Signature>> {
        update
            .commitment(state)
            .map(|c| {
                self.shared
                    .signer
                    .sign_digest(&commitment_digest(&params.domain(), &c))
            })
            .transpose()
            .map_err(Error::from)
    }

    pub(super) fn refuse(&self, reason: String) -> Error {
        tracing::warn!(%reason, "refused to sign the node's proposal");
        self.emit(ClientEvent::Refused {
            reason: reason.clone(),
        });
        Error::Refused(reason)
    }

    /// The client's own checks beyond the validator. For the node's lock to this client: enough time to reveal
    /// on chain, and a preimage that opens it.
    async fn judge(
        &self,
        channel: &Channel,
        pending: &PendingProposal,
    ) -> Result<Option<Received>, String> {
        match &pending.proposal.update {
            Update::CreateLock { lock } => {
                let timing = channel.params().timing;
                let earliest = now() + timing.reveal_time + timing.safety_margin;
                if lock.expiry < earliest {
                    return Err(format!(
                        "the node's lock expires at {}, too soon to reveal on chain (needs {earliest})",
                        lock.expiry
                    ));
                }
                let payment = pending
                    .payment
                    .as_ref()
                    .ok_or("the node's lock comes without its payment")?;
                let preimage = match &payment.encrypted_preimage {
                    Some(encrypted) => {
                        let context = PreimageContext {
                            hashlock: lock.hashlock,
                            asset: lock.asset,
                            amount: lock.amount,
                            expiry: lock.expiry,
                        };
                        decrypt_preimage(&self.shared.secret, encrypted, &context).map_err(|e| {
                            format!("the preimage does not open this lock ({e}): its amount, asset or expiry differ from what the payer sent")
                        })?
                    }
                    // A link this client is redeeming: it derived the preimage from the link's secret.
                    None => channel
                        .snapshot
                        .link_preimages
                        .iter()
                        .find(|(hashlock, _)| *hashlock == lock.hashlock)
                        .map(|(_, preimage)| *preimage)
                        .ok_or("the node's lock comes with no preimage and matches no link this client redeems")?,
                };
                Ok(Some(Received {
                    lock: lock.clone(),
                    preimage,
                    from: payment.payer,
                }))
            }
            Update::CountDeposit { side, .. } if *side == Side::User => {
                Err("only this client counts its own deposits".into())
            }
            Update::CountDeposit { asset, amount, .. } => {
                let counted = channel
                    .state
                    .asset(*asset)
                    .map(|a| a.counted_node)
                    .unwrap_or_default()
                    .saturating_add(*amount);
                let on_chain = self.node_deposit(channel, *asset).await?;
                if counted > on_chain {
                    return Err(format!(
                        "the node counts {counted} of {asset} deposited on its side, but the chain shows {on_chain}"
                    ));
                }
                Ok(None)
            }
            Update::Withdraw { side, .. } if *side == Side::User => {
                Err("only this client withdraws its own funds".into())
            }
            _ => Ok(None),
        }
    }

    /// Proposes `update` as the user: signs the state it produces, saves it, sends it, checks the node's
    /// countersignature, saves the double-signed state. A node proposal in the way is taken first.
    pub async fn propose(&self, update: Update) -> Result<ProposeResponse> {
        self.propose_with(update, None).await
    }

    pub(super) async fn propose_with(
        &self,
        update: Update,
        route: Option<Route>,
    ) -> Result<ProposeResponse> {
        for _ in 0..64 {
            match self.propose_once(&update, route.clone()).await {
                Err(e) => self.catch_up(e).await?,
                done => return done,
            }
        }
        Err(Error::Timeout("a free nonce in a busy channel"))
    }

    /// After the node refused a proposal because the channel had moved on without this client, catches up so the
    /// proposal can be made again (`Ok`); any other refusal is given back.
    async fn catch_up(&self, refusal: Error) -> Result<()> {
        if refusal.is_node("STALE_NONCE") {
            // The node is ahead: an answer to this client was lost (the node stored and countersigned a state this
            // client signed). Its double-signed copy carries this client's own signature.
            self.resync().await?;
            Box::pin(self.sync()).await
        } else if refusal.is_node("PENDING_PROPOSAL") {
            // Taking the node's proposal may itself propose (a resolve), hence the box.
            Box::pin(self.sync()).await
        } else {
            Err(refusal)
        }
    }

    async fn propose_once(&self, update: &Update, route: Option<Route>) -> Result<ProposeResponse> {
        let mut channel = self.shared.channel.lock().await;
        self.propose_locked(&mut channel, update, route).await
    }

    /// One proposal, its answer and the state it double-signs, all under the channel's lock, which the caller
    /// holds.
    async fn propose_locked(
        &self,
        channel: &mut tokio::sync::MutexGuard<'_, Channel>,
        update: &Update,
        route: Option<Route>,
    ) -> Result<ProposeResponse> {
        self.check_not_exiting()?;
        let ctx = Context {
            now: now(),
            proposer: Side::User,
            params: channel.params(),
            proposer_key: None,
        };
        let (next, proposal) = propose(&channel.state, update.clone(), &ctx, &self.shared.signer)?;
        // A countersignature held back goes with the next `/channel/propose`, if it is on the state that follows;
        // before a payment or a link, which do not carry one, it goes alone, or the node would answer
        // `PENDING_PROPOSAL`.
        let owed = channel
            .owed_countersign
            .clone()
            .filter(|c| c.nonce == channel.state.nonce);
        let countersign = match route {
            None | Some(Route::SubmitWithdrawal) => owed,
            Some(Route::Pay { .. } | Route::Link { .. }) => {
                if let Some(owed) = owed {
                    self.send_countersign(&owed).await?;
                    channel.owed_countersign = None;
                }
                None
            }
        };
        let mut snapshot = channel.snapshot.clone();
        snapshot.unanswered = Some(next.clone());
        self.shared.store.save(&snapshot)?;
        channel.snapshot = snapshot;
        let commitment = update.commitment(&next);
        let commitment_signature = commitment
            .as_ref()
            .map(|c| {
                self.shared
                    .signer
                    .sign_digest(&commitment_digest(&channel.params().domain(), c))
            })
            .transpose()?;
        let sent = match route.clone() {
            Some(Route::Pay {
                recipient,
                payee_expiry,
                encrypted_preimage,
            }) => {
                self.shared
                    .api
                    .post(
                        "/pay",
                        &PayRequest {
                            proposal: proposal.clone(),
                            recipient,
                            payee_expiry,
                            encrypted_preimage,
                        },
                    )
                    .await
            }
            Some(Route::Link {
                link_address,
                payee_expiry,
            }) => {
                self.shared
                    .api
                    .post(
                        "/links",
                        &CreateLinkRequest {
                            proposal: proposal.clone(),
                            link_address,
                            payee_expiry,
                        },
                    )
                    .await
            }
            None | Some(Route::SubmitWithdrawal) => {
                self.shared
                    .api
                    .post(
                        "/channel/propose",
                        &ProposeRequest {
                            proposal: proposal.clone(),
                            commitment_signature,
                            submit: matches!(route, Some(Route::SubmitWithdrawal)),
                            countersign: countersign.clone(),
                        },
                    )
                    .await
            }
        };
        let response: ProposeResponse = match sent {
            Ok(r) => r,
            Err(e) => {
                if matches!(e, Error::Node { .. }) {
                    // The node refused: it did not sign, so the state can never be double-signed.
                    let mut snapshot = channel.snapshot.clone();
                    snapshot.unanswered = None;
                    self.shared.store.save(&snapshot)?;
                    channel.snapshot = snapshot;
                    if countersign.is_some() {
                        // Judged too: stored before the proposal was refused, or refused itself, which it would be
                        // again alone.
                        channel.owed_countersign = None;
                    }
                }
                return Err(e);
            }
        };
        if countersign.is_some() {
            channel.owed_countersign = None;
        }
        let dom = channel.params().domain();
        let digest = state_digest(&dom, &next);
        if response.nonce != next.nonce {
            return Err(Error::BadAnswer(format!(
                "the node answered nonce {} for nonce {}",
                response.nonce, next.nonce
            )));
        }
        self.verify_node(&digest, &response.signature, channel.params().node)
            .map_err(|e| Error::BadAnswer(format!("the node's countersignature: {e}")))?;
        let mut snapshot = channel.snapshot.clone();
        if let (Some(c), Some(user), Some(node)) = (
            commitment,
            commitment_signature,
            response.commitment_signature,
        ) {
            self.verify_node(&commitment_digest(&dom, &c), &node, channel.params().node)
                .map_err(|e| Error::BadAnswer(format!("the node's commitment signature: {e}")))?;
            snapshot.commitments.push(SignedCommitment {
                commitment: c,
                user_signature: user,
                node_signature: node,
            });
        }
        snapshot.latest = Some(SignedState {
            state: next.clone(),
            user_signature: proposal.signature,
            node_signature: response.signature,
        });
        snapshot.unanswered = None;
        self.shared.store.save(&snapshot)?;
        channel.snapshot = snapshot;
        channel.state = next;
        self.emit(ClientEvent::StateChanged {
            nonce: response.nonce,
        });
        Ok(response)
    }

    /// A state the client signed and sent before a crash or a lost answer: the node either stored it (and its
    /// answer is the same signature again) or never saw it. Either way the client learns which, before it signs
    /// anything else.
    pub(super) async fn resend_unanswered(&self) -> Result<()> {
        let mut channel = self.shared.channel.lock().await;
        let Some(unanswered) = channel.snapshot.unanswered.clone() else {
            return Ok(());
        };
        let mut snapshot = channel.snapshot.clone();
        snapshot.unanswered = None;
        if unanswered.nonce == channel.state.nonce + 1 {
            // The restore from the node did not include it, so the node never countersigned it: forget it.
            tracing::info!(
                nonce = unanswered.nonce,
                "dropping a state the node never countersigned"
            );
        }
        self.shared.store.save(&snapshot)?;
        channel.snapshot = snapshot;
        Ok(())
    }

    /// Brings the client level with the node after a gap (a lost connection, a restart of either side): adopts the
    /// node's newer double-signed state, takes its pending proposals, and proposes the resolves still owed.
    pub async fn refresh(&self) -> Result<()> {
        self.resync().await?;
        self.sync().await?;
        self.resolve_received().await
    }

    /// Adopts the node's newest double-signed state when it is newer than this client's copy and both signatures
    /// on it check out (this client's own among them). Returns whether it moved.
    pub async fn resync(&self) -> Result<bool> {
        let remote: ChannelResponse = self.shared.api.get("/channel/restore").await?;
        let mut channel = self.shared.channel.lock().await;
        if remote.params != *channel.params() {
            return Err(Error::Refused(
                "the node restores a channel with other parameters".into(),
            ));
        }
        let Some(latest) = remote.latest else {
            return Ok(false);
        };
        if latest.state.nonce <= channel.state.nonce {
            return Ok(false);
        }
        check_signed_state(&latest, channel.params()).map_err(|e| {
            Error::Refused(format!(
                "the node's copy of the channel does not check out: {e}"
            ))
        })?;
        let mut snapshot = channel.snapshot.clone();
        snapshot.latest = Some(latest.clone());
        snapshot.unanswered = None;
        self.shared.store.save(&snapshot)?;
        channel.snapshot = snapshot;
        channel.state = latest.state;
        let nonce = channel.state.nonce;
        drop(channel);
        self.emit(ClientEvent::StateChanged { nonce });
        Ok(true)
    }
}

/// The lock paid to this client that came first among those it can resolve: in `state`, with a preimage it saved,
/// and not expiring before `safe_until` (an off-chain resolve needs that margin). First come, first resolved: the
/// preimages are saved in the order the locks came, while the state keeps its locks by id. Taking them by id let a
/// stream of new locks with lower ids hold back one with a high id for seconds (a shop paid by many at once).
fn oldest_resolvable(
    state: &ChannelState,
    snapshot: &Snapshot,
    safe_until: u64,
) -> Option<(Lock, B256)> {
    let resolvable = |l: &&Lock| l.sender == Side::Node && safe_until <= l.expiry;
    let by_id = snapshot.preimages.iter().find_map(|(id, preimage)| {
        state
            .lock(*id)
            .filter(resolvable)
            .map(|l| (l.clone(), *preimage))
    });
    by_id.or_else(|| {
        snapshot
            .link_preimages
            .iter()
            .find_map(|(hashlock, preimage)| {
                state
                    .locks
                    .iter()
                    .filter(resolvable)
                    .find(|l| l.hashlock == *hashlock)
                    .map(|l| (l.clone(), *preimage))
            })
    })
}

/// The payment `update` ends, when it resolves (completed) or cancels (failed) one of this client's own locks in
/// `state`.
fn payment_ended(state: &ChannelState, update: &Update) -> Option<(B256, bool)> {
    let (lock_id, completed) = match update {
        Update::ResolveLock { id, .. } => (*id, true),
        Update::CancelLock { id } => (*id, false),
        _ => return None,
    };
    Some((own_payment(state, state.lock(lock_id)?)?, completed))
}

/// The id of the payment `lock` is in `state`, when it is this client's own (it pays the node).
pub(super) fn own_payment(state: &ChannelState, lock: &Lock) -> Option<B256> {
    (lock.sender == Side::User).then(|| spoke_protocol::payment_id(state.channel_id, lock.id))
}

#[cfg(test)]
mod tests {
    use spoke_protocol::Address;

    use super::*;

    fn lock(id: u8, sender: Side, expiry: u64) -> Lock {
        Lock {
            id: B256::repeat_byte(id),
            asset: Address::ZERO,
            amount: U256::from(1),
            sender,
            hashlock: B256::repeat_byte(id ^ 0x80),
            expiry,
        }
    }

    #[test]
    fn locks_paid_to_the_client_are_resolved_in_the_order_they_came_not_by_id() {
        let mut state = ChannelState::initial(B256::repeat_byte(9));
        // Kept by id, as the state keeps them.
        state.locks = vec![
            lock(0x01, Side::Node, 1_000),
            lock(0x02, Side::User, 1_000),
            lock(0x03, Side::Node, 100),
            lock(0x7f, Side::Node, 1_000),
            lock(0xf0, Side::Node, 1_000),
        ];
        let preimage = |id: u8| (B256::repeat_byte(id), B256::repeat_byte(id ^ 0x40));
        let mut snapshot = Snapshot {
            params: crate::store::tests::params(vec![]),
            latest: None,
            unanswered: None,
            commitments: vec![],
            // 0x03 came first but expires too soon; 0x02 is the client's own lock; then 0xf0, then 0x01.
            preimages: vec![
                preimage(0x03),
                preimage(0x02),
                preimage(0xf0),
                preimage(0x01),
            ],
            link_preimages: vec![(B256::repeat_byte(0x7f ^ 0x80), B256::repeat_byte(7))],
            spent: vec![],
        };
        let next = |s: &Snapshot| oldest_resolvable(&state, s, 500).map(|(l, p)| (l.id[0], p));
        assert_eq!(
            next(&snapshot),
            Some((0xf0, B256::repeat_byte(0xf0 ^ 0x40)))
        );
        snapshot.preimages.retain(|(id, _)| id[0] != 0xf0);
        assert_eq!(
            next(&snapshot),
            Some((0x01, B256::repeat_byte(0x01 ^ 0x40)))
        );
        // A link's lock carries no preimage of its own: it is found by its hashlock.
        snapshot.preimages.clear();
        assert_eq!(next(&snapshot), Some((0x7f, B256::repeat_byte(7))));
        snapshot.link_preimages.clear();
        assert_eq!(next(&snapshot), None);
    }
}
