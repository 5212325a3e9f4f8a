//! The client: its own copy of the channel, the validator before every signature, and the node's API.
//!
//! All channel work goes through one mutex (`Shared::channel`), so the client signs one state per nonce, in order,
//! whether the work came from the app (`pay`, `withdraw`, …) or from the node (a proposal over the WebSocket).

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use spoke_protocol::{
    accept_proposal, check_signed_state, commitment_digest, decrypt_preimage, encrypt_preimage,
    key_belongs_to, link_secrets, login_digest, propose, redemption_digest, sha256, state_digest,
    verify,
    wire::{
        ChallengeRequest, ChallengeResponse, ChannelResponse, CountersignRequest,
        CountersignResponse, CreateLinkRequest, KeyResponse, LoginRequest, LoginResponse,
        NodeConfig, NodeEvent, PayRequest, PaymentRecord, PaymentStatus, PendingProposal,
        ProposeRequest, ProposeResponse, QuoteRequest, QuoteResponse, RedeemLinkRequest,
        RedeemLinkResponse,
    },
    Address, ChannelParams, ChannelState, Context, Lock, Login, PreimageContext, Side,
    SignedCommitment, SignedState, Signer, Update, B256, U256,
};
use tokio::sync::{broadcast, Mutex};

use crate::{
    node::NodeApi,
    store::{Snapshot, StateStore},
    Error, Result,
};

/// Unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_b256() -> Result<B256> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| Error::Config(format!("no randomness: {e}")))?;
    Ok(B256::from(bytes))
}

/// What a client is told to do and whom to trust.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The node's base URL, e.g. `http://127.0.0.1:8080`.
    pub node_url: String,
    /// The chain id the client expects; the node's `/config` must agree.
    pub chain_id: Option<u64>,
    /// The ChannelManager the client expects; the node's `/config` must agree.
    pub channel_manager: Option<Address>,
    /// The node's address the client expects.
    pub node: Option<Address>,
    /// How long the node's lock to a payee runs, in seconds; the payer's lock runs Δ (+ a margin) longer.
    pub payee_lock_seconds: u64,
    /// A JSON-RPC URL of the chain. The client checks every deposit the node counts for itself against it
    /// (a state counting more than the contract holds could never be disputed); without it, it signs none.
    pub eth_url: Option<String>,
}

impl ClientConfig {
    pub fn new(node_url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            node_url: node_url.into(),
            chain_id: None,
            channel_manager: None,
            node: None,
            payee_lock_seconds: 24 * 3600,
            eth_url: None,
        }
    }
}

/// What happened in the client's channel, for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A new double-signed state.
    StateChanged { nonce: u64 },
    /// A payment to this client is resolved: the amount is in its balance.
    PaymentReceived {
        id: B256,
        from: Address,
        asset: Address,
        amount: U256,
    },
    /// A payment this client sent or receives changed status at the node.
    PaymentStatus { id: B256, status: PaymentStatus },
    /// The client refused something the node asked it to sign, and why.
    Refused { reason: String },
    /// A deposit is mined; it is counted once the node sees it confirmed.
    DepositSent {
        asset: Address,
        amount: U256,
        tx: B256,
    },
}

/// The balances of one asset, in base units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub asset: Address,
    pub user: U256,
    pub node: U256,
    /// This client's funds in locks it sent.
    pub locked: U256,
}

/// The client's view of its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    pub channel_id: B256,
    pub nonce: u64,
    pub balances: Vec<Balance>,
    pub locks: Vec<Lock>,
}

/// The channel as this client holds it.
#[derive(Debug)]
struct Channel {
    snapshot: Snapshot,
    /// The state of `snapshot.latest`, or the opening state.
    state: ChannelState,
}

impl Channel {
    fn params(&self) -> &ChannelParams {
        &self.snapshot.params
    }
}

#[derive(Debug)]
struct Shared {
    api: NodeApi,
    signer: Signer,
    secret: B256,
    config: ClientConfig,
    node_config: NodeConfig,
    store: Arc<dyn StateStore>,
    /// Reads the chain, when the app gave a URL.
    #[cfg(not(target_arch = "wasm32"))]
    chain: Option<crate::EthChain>,
    channel: Mutex<Channel>,
    events: broadcast::Sender<ClientEvent>,
    /// Who paid the locks this client is about to resolve, for its events.
    senders: std::sync::Mutex<std::collections::HashMap<B256, Address>>,
    /// Whether a task is proposing resolves; one at a time keeps them in order.
    resolving: AtomicBool,
}

/// A connected client. Cheap to clone; every clone is the same client.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// Logs in to the node with `secret` (the user's channel key), sets the channel up, reconciles it with the
    /// local store and takes any proposal waiting at the node. Natively it also listens on the node's WebSocket.
    pub async fn connect(
        config: ClientConfig,
        secret: B256,
        store: Arc<dyn StateStore>,
    ) -> Result<Client> {
        let signer = Signer::from_bytes(&secret)
            .map_err(|_| Error::Config("the secret is not a valid secp256k1 key".into()))?;
        let mut api = NodeApi::new(&config.node_url);
        let node_config: NodeConfig = api.get("/config").await?;
        check_node_config(&config, &node_config)?;
        let token = login(&api, &signer, &node_config).await?;
        api.set_token(token);
        let setup: ChannelResponse = api.post("/channel/setup", &serde_json::json!({})).await?;
        let channel = reconcile(&signer, &node_config, setup, store.as_ref())?;
        #[cfg(not(target_arch = "wasm32"))]
        let chain = config
            .eth_url
            .as_deref()
            .map(|url| crate::EthChain::new(url, &secret, node_config.channel_manager))
            .transpose()?;
        let (events, _) = broadcast::channel(1024);
        let client = Client {
            shared: Arc::new(Shared {
                api,
                signer,
                secret,
                config,
                node_config,
                store,
                #[cfg(not(target_arch = "wasm32"))]
                chain,
                channel: Mutex::new(channel),
                events,
                senders: Default::default(),
                resolving: AtomicBool::new(false),
            }),
        };
        client.resend_unanswered().await?;
        match client.sync().await {
            // A proposal this client will not sign does not keep it from connecting: the refusal went out as an
            // event, and the app decides (a link it has yet to redeem, say, or a dispute).
            Err(Error::Refused(_)) | Ok(()) => {}
            Err(e) => return Err(e),
        }
        client.resolve_received().await?;
        #[cfg(not(target_arch = "wasm32"))]
        crate::listen::spawn(client.clone());
        Ok(client)
    }

    pub fn address(&self) -> Address {
        self.shared.signer.address()
    }

    pub fn node_config(&self) -> &NodeConfig {
        &self.shared.node_config
    }

    pub(crate) fn api(&self) -> &NodeApi {
        &self.shared.api
    }

    /// Events from now on.
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        self.shared.events.subscribe()
    }

    pub(crate) fn emit(&self, event: ClientEvent) {
        // No receiver is fine: events are for whoever listens.
        let _ = self.shared.events.send(event);
    }

    pub(crate) fn is_alive(&self) -> bool {
        Arc::strong_count(&self.shared) > 1
    }

    /// The channel's parameters.
    pub async fn params(&self) -> ChannelParams {
        self.shared.channel.lock().await.params().clone()
    }

    /// Balances and locks of the latest double-signed state.
    pub async fn channel(&self) -> ChannelView {
        let channel = self.shared.channel.lock().await;
        ChannelView {
            channel_id: channel.state.channel_id,
            nonce: channel.state.nonce,
            balances: channel
                .state
                .assets
                .iter()
                .map(|a| Balance {
                    asset: a.asset,
                    user: a.balance_user,
                    node: a.balance_node,
                    locked: a.locked_user,
                })
                .collect(),
            locks: channel.state.locks.clone(),
        }
    }

    /// The user's balance of `asset`.
    pub async fn balance(&self, asset: Address) -> U256 {
        let channel = self.shared.channel.lock().await;
        channel
            .state
            .asset(asset)
            .map(|a| a.balance_user)
            .unwrap_or_default()
    }

    /// The latest double-signed state, to keep a second copy or to dispute with.
    pub async fn export_state(&self) -> Option<SignedState> {
        self.shared.channel.lock().await.snapshot.latest.clone()
    }

    /// Co-signed withdrawal commitments, for the chain.
    pub async fn commitments(&self) -> Vec<SignedCommitment> {
        self.shared
            .channel
            .lock()
            .await
            .snapshot
            .commitments
            .clone()
    }

    /// The user's payments as the node reports them, newest first, at most `limit` (the node caps it at 500).
    pub async fn history(&self, limit: u32) -> Result<Vec<PaymentRecord>> {
        self.shared
            .api
            .get(&format!("/payments?limit={limit}"))
            .await
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
        let received = {
            let mut channel = self.shared.channel.lock().await;
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
                        .countersign(nonce, signature, commitment_signature)
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
            };
            let accepted = match accept_proposal(&channel.state, &pending.proposal, &ctx) {
                Ok(a) => a,
                Err(e) => return Err(self.refuse(e.to_string())),
            };
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
            channel.snapshot = snapshot;
            channel.state = accepted.state;
            self.countersign(nonce, signature, commitment_signature)
                .await?;
            received
        };
        self.emit(ClientEvent::StateChanged {
            nonce: pending.proposal.nonce,
        });
        if received.is_some() {
            self.resolve_received().await?;
        }
        Ok(())
    }

    /// The first lock paid to this client that it can resolve: in its state, with a preimage it saved, and not
    /// too close to expiry for an off-chain resolve.
    async fn next_resolvable(&self) -> Option<(Lock, B256)> {
        let channel = self.shared.channel.lock().await;
        let margin = channel.params().timing.safety_margin;
        let now = now();
        channel
            .state
            .locks
            .iter()
            .filter(|l| l.sender == Side::Node && now + margin <= l.expiry)
            .find_map(|l| {
                let by_id = channel
                    .snapshot
                    .preimages
                    .iter()
                    .find(|(id, _)| *id == l.id);
                let by_hashlock = channel
                    .snapshot
                    .link_preimages
                    .iter()
                    .find(|(hashlock, _)| *hashlock == l.hashlock);
                by_id
                    .or(by_hashlock)
                    .map(|(_, preimage)| (l.clone(), *preimage))
            })
    }

    /// Proposes the resolve of every lock paid to this client whose preimage it holds. The work list is the
    /// saved channel itself, so nothing owed is forgotten across a lost answer or a restart. One caller does the
    /// work at a time; the others return at once. The first refusal ends the pass; the next call tries again.
    async fn resolve_received(&self) -> Result<()> {
        loop {
            if self.shared.resolving.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            let outcome = async {
                while let Some((lock, preimage)) = self.next_resolvable().await {
                    self.propose(Update::ResolveLock {
                        id: lock.id,
                        preimage,
                    })
                    .await
                    .inspect_err(
                        |e| tracing::warn!(error = %e, lock = %lock.id, "resolve not accepted yet"),
                    )?;
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
                Ok::<(), Error>(())
            }
            .await;
            self.shared.resolving.store(false, Ordering::Release);
            outcome?;
            // A lock taken between the last look and the release would otherwise wait for the next call.
            if self.next_resolvable().await.is_none() {
                return Ok(());
            }
        }
    }

    /// What the chain shows the node deposited into this channel.
    #[cfg(not(target_arch = "wasm32"))]
    async fn node_deposit(&self, channel: &Channel, asset: Address) -> Result<U256, String> {
        let chain = self.shared.chain.as_ref().ok_or(
            "the node counts a deposit of its own, and this client has no chain to check it against (set eth_url)",
        )?;
        chain
            .deposited(channel.state.channel_id, asset, Side::Node, 0)
            .await
            .map_err(|e| format!("cannot check the node's deposit on chain: {e}"))
    }

    #[cfg(target_arch = "wasm32")]
    async fn node_deposit(&self, _channel: &Channel, _asset: Address) -> Result<U256, String> {
        Err("the node counts a deposit of its own, and this client has no chain to check it against".into())
    }

    /// Sends this client's signature on the node's proposal at `nonce` (sent again, it is stored once).
    async fn countersign(
        &self,
        nonce: u64,
        signature: spoke_protocol::Signature,
        commitment_signature: Option<spoke_protocol::Signature>,
    ) -> Result<()> {
        let _: CountersignResponse = self
            .shared
            .api
            .post(
                "/channel/countersign",
                &CountersignRequest {
                    nonce,
                    signature,
                    commitment_signature,
                },
            )
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

    fn refuse(&self, reason: String) -> Error {
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

    async fn propose_with(&self, update: Update, route: Option<Route>) -> Result<ProposeResponse> {
        for _ in 0..64 {
            match self.propose_once(&update, route.clone()).await {
                Err(e) if e.is_node("STALE_NONCE") => {
                    // The node is ahead: an answer to this client was lost (the node stored and countersigned
                    // a state this client signed). Its double-signed copy carries this client's own signature.
                    self.resync().await?;
                    Box::pin(self.sync()).await?;
                }
                Err(e) if e.is_node("PENDING_PROPOSAL") => {
                    // Taking the node's proposal may itself propose (a resolve), hence the box.
                    Box::pin(self.sync()).await?;
                }
                other => return other,
            }
        }
        Err(Error::Timeout("a free nonce in a busy channel"))
    }

    async fn propose_once(&self, update: &Update, route: Option<Route>) -> Result<ProposeResponse> {
        let mut channel = self.shared.channel.lock().await;
        let ctx = Context {
            now: now(),
            proposer: Side::User,
            params: channel.params(),
        };
        let (next, proposal) = propose(&channel.state, update.clone(), &ctx, &self.shared.signer)?;
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
                }
                return Err(e);
            }
        };
        let dom = channel.params().domain();
        let digest = state_digest(&dom, &next);
        if response.nonce != next.nonce {
            return Err(Error::BadAnswer(format!(
                "the node answered nonce {} for nonce {}",
                response.nonce, next.nonce
            )));
        }
        verify(
            &digest,
            &response.signature,
            Side::Node,
            channel.params().node,
        )
        .map_err(|e| Error::BadAnswer(format!("the node's countersignature: {e}")))?;
        let mut snapshot = channel.snapshot.clone();
        if let (Some(c), Some(user), Some(node)) = (
            commitment,
            commitment_signature,
            response.commitment_signature,
        ) {
            verify(
                &commitment_digest(&dom, &c),
                &node,
                Side::Node,
                channel.params().node,
            )
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
        drop(channel);
        self.emit(ClientEvent::StateChanged {
            nonce: response.nonce,
        });
        Ok(response)
    }

    /// A state the client signed and sent before a crash or a lost answer: the node either stored it (and its
    /// answer is the same signature again) or never saw it. Either way the client learns which, before it signs
    /// anything else.
    async fn resend_unanswered(&self) -> Result<()> {
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

    /// Deposits `amount` of `asset` on chain from the user's account (ETH is the zero address; a token is approved
    /// first) and counts it into the channel once the node sees it confirmed, waiting at most `timeout`. Needs
    /// `eth_url`. Emits [`ClientEvent::DepositSent`] when the transaction is mined, so an app can show the wait.
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn deposit(
        &self,
        asset: Address,
        amount: U256,
        timeout: Duration,
    ) -> Result<ProposeResponse> {
        let chain = self
            .shared
            .chain
            .as_ref()
            .ok_or_else(|| Error::Config("a deposit needs the chain: set eth_url".into()))?;
        let tx = chain
            .deposit(self.shared.node_config.node, asset, amount)
            .await?;
        self.emit(ClientEvent::DepositSent { asset, amount, tx });
        self.count_deposit_when_confirmed(asset, amount, timeout)
            .await
    }

    /// Counts `amount` more of the user's confirmed on-chain deposit into the balance. The node refuses with
    /// `DEPOSIT_NOT_CONFIRMED` until the chain shows it final.
    pub async fn count_deposit(&self, asset: Address, amount: U256) -> Result<ProposeResponse> {
        self.propose(Update::CountDeposit {
            asset,
            side: Side::User,
            amount,
        })
        .await
    }

    /// Counts a deposit, retrying while the node waits for confirmations, for at most `timeout`.
    pub async fn count_deposit_when_confirmed(
        &self,
        asset: Address,
        amount: U256,
        timeout: Duration,
    ) -> Result<ProposeResponse> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.count_deposit(asset, amount).await {
                Err(e) if e.is_node("DEPOSIT_NOT_CONFIRMED") => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Error::Timeout("the deposit's confirmations"));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    /// Pays `amount` of `asset` to `recipient` through the node. Returns the payment id once the payer's lock is
    /// double-signed; [`Client::wait_payment`] waits for the end.
    pub async fn pay(&self, recipient: Address, asset: Address, amount: U256) -> Result<B256> {
        let key: KeyResponse = self
            .shared
            .api
            .get(&format!("/users/{recipient:#x}/key"))
            .await?;
        if key.address != recipient || !key_belongs_to(&key.public_key, recipient)? {
            return Err(self.refuse(format!(
                "the node handed a key that is not {recipient}'s: the preimage would not reach the payee"
            )));
        }
        let timing = self.shared.node_config.timing;
        let preimage = random_b256()?;
        let hashlock = sha256(preimage);
        let now = now();
        let payee_expiry = now + self.shared.config.payee_lock_seconds;
        let payer_expiry = payee_expiry + timing.expiry_delta + timing.safety_margin;
        let lock = Lock {
            id: random_b256()?,
            asset,
            amount,
            sender: Side::User,
            hashlock,
            expiry: payer_expiry,
        };
        let context = PreimageContext {
            hashlock,
            asset,
            amount,
            expiry: payee_expiry,
        };
        let encrypted = encrypt_preimage(&key.public_key, preimage, &context, &random_b256()?)?;
        let response = self
            .propose_with(
                Update::CreateLock { lock },
                Some(Route::Pay {
                    recipient,
                    payee_expiry,
                    encrypted_preimage: encrypted,
                }),
            )
            .await?;
        response
            .payment_id
            .ok_or_else(|| Error::BadAnswer("the node did not name the payment".into()))
    }

    /// Asks the node to collateralize this client's channel in `asset` (up to the node's floor), so payments
    /// to it need not wait. Returns the node's balance in the channel now.
    pub async fn request_collateral(&self, asset: Address) -> Result<U256> {
        #[derive(serde::Deserialize)]
        struct Answer {
            available: U256,
        }
        let answer: Answer = self
            .shared
            .api
            .post(
                "/collateral/request",
                &serde_json::json!({ "asset": asset }),
            )
            .await?;
        Ok(answer.available)
    }

    /// Whether a payment of `amount` to `recipient` would wait for the node to collateralize.
    pub async fn recipient_needs_collateral(
        &self,
        recipient: Address,
        asset: Address,
        amount: U256,
    ) -> Result<bool> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            needs_collateral: bool,
        }
        let answer: Answer = self
            .shared
            .api
            .get(&format!(
                "/collateral/needs?recipient={recipient:#x}&asset={asset:#x}&amount={amount}"
            ))
            .await?;
        Ok(answer.needs_collateral)
    }

    /// Pays `amount` of `asset` into a link: whoever holds the returned secret can redeem it
    /// ([`Client::redeem_link`]) until it expires back to this client. Returns the secret and the payment id.
    pub async fn create_link(&self, asset: Address, amount: U256) -> Result<(B256, B256)> {
        let secret = random_b256()?;
        let secrets = link_secrets(&secret)?;
        let link_address = Signer::from_bytes(&secrets.link_key)?.address();
        let timing = self.shared.node_config.timing;
        let now = now();
        let payee_expiry = now + self.shared.config.payee_lock_seconds;
        let lock = Lock {
            id: random_b256()?,
            asset,
            amount,
            sender: Side::User,
            hashlock: sha256(secrets.preimage),
            expiry: payee_expiry + timing.expiry_delta + timing.safety_margin,
        };
        let response = self
            .propose_with(
                Update::CreateLock { lock },
                Some(Route::Link {
                    link_address,
                    payee_expiry,
                }),
            )
            .await?;
        let id = response
            .payment_id
            .ok_or_else(|| Error::BadAnswer("the node did not name the payment".into()))?;
        Ok((secret, id))
    }

    /// Redeems a link into this client's channel: proves the link key to the node, takes the node's lock, then
    /// reveals the preimage by resolving it. Returns once the amount is in this client's balance.
    pub async fn redeem_link(&self, secret: B256, timeout: Duration) -> Result<RedeemLinkResponse> {
        let secrets = link_secrets(&secret)?;
        let hashlock = sha256(secrets.preimage);
        let (domain, channel_id) = {
            let mut channel = self.shared.channel.lock().await;
            let mut snapshot = channel.snapshot.clone();
            if !snapshot.link_preimages.iter().any(|(h, _)| *h == hashlock) {
                snapshot.link_preimages.push((hashlock, secrets.preimage));
                self.shared.store.save(&snapshot)?;
                channel.snapshot = snapshot;
            }
            (channel.params().domain(), channel.state.channel_id)
        };
        let link_key = Signer::from_bytes(&secrets.link_key)?;
        let signature = link_key.sign_digest(&redemption_digest(&domain, hashlock, channel_id))?;
        let answer: RedeemLinkResponse = self
            .shared
            .api
            .post(
                "/links/redeem",
                &RedeemLinkRequest {
                    hashlock,
                    signature,
                },
            )
            .await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            self.sync().await?;
            self.resolve_received().await?;
            let record: PaymentRecord = self
                .shared
                .api
                .get(&format!("/payments/{:#x}", answer.payment_id))
                .await?;
            if matches!(
                record.status,
                PaymentStatus::Resolved | PaymentStatus::Completed
            ) {
                return Ok(answer);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout("the link's payment"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the node for a quote: `sell_amount` of `sell_asset` for some `buy_asset`.
    pub async fn quote(
        &self,
        sell_asset: Address,
        sell_amount: U256,
        buy_asset: Address,
    ) -> Result<QuoteResponse> {
        self.shared
            .api
            .post(
                "/exchange/quote",
                &QuoteRequest {
                    sell_asset,
                    sell_amount,
                    buy_asset,
                },
            )
            .await
    }

    /// Trades at `quote` if it is what was asked for and buys at least `min_buy`; the validator checks the
    /// node's signature, the expiry and the balances.
    pub async fn execute_quote(
        &self,
        quote: QuoteResponse,
        asked: (Address, U256, Address),
        min_buy: U256,
    ) -> Result<ProposeResponse> {
        let q = &quote.quote;
        let (sell_asset, sell_amount, buy_asset) = asked;
        if (q.sell_asset, q.sell_amount, q.buy_asset) != (sell_asset, sell_amount, buy_asset) {
            return Err(self.refuse(format!(
                "the node quoted selling {} of {} for {}, not {sell_amount} of {sell_asset} for {buy_asset}",
                q.sell_amount, q.sell_asset, q.buy_asset
            )));
        }
        if q.buy_amount < min_buy {
            return Err(self.refuse(format!(
                "the quote buys {} of {buy_asset}, less than the {min_buy} asked for",
                q.buy_amount
            )));
        }
        self.propose(Update::Exchange {
            quote: quote.quote,
            node_signature: quote.node_signature,
        })
        .await
    }

    /// Sells `sell_amount` of `sell_asset` for at least `min_buy` of `buy_asset` at the node's quote. Returns the
    /// amount bought.
    pub async fn exchange(
        &self,
        sell_asset: Address,
        sell_amount: U256,
        buy_asset: Address,
        min_buy: U256,
    ) -> Result<U256> {
        let quote = self.quote(sell_asset, sell_amount, buy_asset).await?;
        let bought = quote.quote.buy_amount;
        self.execute_quote(quote, (sell_asset, sell_amount, buy_asset), min_buy)
            .await?;
        Ok(bought)
    }

    /// Waits until the payment ends; a failed payment (its lock went back) is [`Error::PaymentFailed`]. Listens
    /// for the node's payment events, and asks the node now and then in case an event was missed.
    pub async fn wait_payment(&self, id: B256, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.events();
        loop {
            let record: PaymentRecord = self.shared.api.get(&format!("/payments/{id:#x}")).await?;
            match record.status {
                PaymentStatus::Completed => {
                    // The node's resolve may still be on its way to this client.
                    self.sync().await?;
                    return Ok(());
                }
                PaymentStatus::Failed => {
                    self.sync().await?;
                    return Err(Error::PaymentFailed(id));
                }
                _ => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::Timeout("the payment to complete"));
            }
            let until = deadline.min(now + Duration::from_secs(2));
            // Until an event says this payment ended, or it is time to ask again.
            let _ = tokio::time::timeout_at(until, async {
                loop {
                    match events.recv().await {
                        Ok(ClientEvent::PaymentStatus { id: got, status })
                            if got == id && status.is_final() =>
                        {
                            return;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                        _ => {}
                    }
                }
            })
            .await;
        }
    }

    /// Moves `amount` of `asset` out of the channel for `recipient`: the withdrawal state and its commitment,
    /// both co-signed. With `node_submits`, the node sends the commitment to the chain and pays the gas (the
    /// answer carries its transaction); else the caller sends it ([`crate::EthChain::withdraw`]). Either way the
    /// commitment is kept, so it can be sent again.
    pub async fn withdraw(
        &self,
        asset: Address,
        amount: U256,
        recipient: Address,
        node_submits: bool,
    ) -> Result<Withdrawal> {
        let response = self
            .propose_with(
                Update::Withdraw {
                    asset,
                    side: Side::User,
                    amount,
                    recipient,
                },
                node_submits.then_some(Route::SubmitWithdrawal),
            )
            .await?;
        let commitment = self
            .shared
            .channel
            .lock()
            .await
            .snapshot
            .commitments
            .last()
            .cloned()
            .ok_or_else(|| Error::BadAnswer("the node did not co-sign the commitment".into()))?;
        Ok(Withdrawal {
            commitment,
            tx: response.withdrawal_tx,
        })
    }

    pub(crate) fn handle_event(&self, event: NodeEvent) {
        match event {
            NodeEvent::Proposal(p) => {
                let client = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = client.take_proposal(*p).await {
                        tracing::warn!(error = %e, "a pushed proposal was not taken");
                    }
                });
            }
            NodeEvent::Payment { id, status, .. } => {
                self.emit(ClientEvent::PaymentStatus { id, status });
            }
        }
    }
}

/// A co-signed withdrawal, and the node's transaction when it sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal {
    pub commitment: SignedCommitment,
    pub tx: Option<B256>,
}

/// Where an update goes besides `/channel/propose`: a payment to a user, a link, a withdrawal the node submits.
#[derive(Debug, Clone)]
enum Route {
    Pay {
        recipient: Address,
        payee_expiry: u64,
        encrypted_preimage: spoke_protocol::EncryptedPreimage,
    },
    Link {
        link_address: Address,
        payee_expiry: u64,
    },
    /// A withdrawal the node sends to the chain itself.
    SubmitWithdrawal,
}

/// A lock paid to this client, with the preimage that claims it.
#[derive(Debug)]
struct Received {
    lock: Lock,
    preimage: B256,
    from: Address,
}

fn check_node_config(config: &ClientConfig, node: &NodeConfig) -> Result<()> {
    let mismatch = |what: &str, want: String, got: String| {
        Err(Error::Config(format!(
            "the node serves {what} {got}, but this client expects {want}"
        )))
    };
    if let Some(id) = config.chain_id.filter(|id| *id != node.chain_id) {
        return mismatch("chain", id.to_string(), node.chain_id.to_string());
    }
    if let Some(m) = config
        .channel_manager
        .filter(|m| *m != node.channel_manager)
    {
        return mismatch("contract", m.to_string(), node.channel_manager.to_string());
    }
    if let Some(n) = config.node.filter(|n| *n != node.node) {
        return mismatch("node key", n.to_string(), node.node.to_string());
    }
    Ok(())
}

/// SIWE login: the client checks the message names the node's domain, its chain and this client before it signs.
async fn login(api: &NodeApi, signer: &Signer, node: &NodeConfig) -> Result<String> {
    let challenge: ChallengeResponse = api
        .post(
            "/auth/challenge",
            &ChallengeRequest {
                address: signer.address(),
            },
        )
        .await?;
    let login = Login::parse(&challenge.message)?;
    login.check_before_signing(&node.login_domain, node.chain_id, signer.address(), now())?;
    let signature = signer.sign_digest(&login_digest(&challenge.message))?;
    let response: LoginResponse = api
        .post(
            "/auth/login",
            &LoginRequest {
                message: challenge.message,
                signature,
            },
        )
        .await?;
    Ok(response.token)
}

/// The channel the client resumes from: its own store, or the node's newest double-signed state when that is
/// newer and carries this client's own signature.
fn reconcile(
    signer: &Signer,
    node: &NodeConfig,
    setup: ChannelResponse,
    store: &dyn StateStore,
) -> Result<Channel> {
    let params = setup.params;
    let expected = ChannelParams {
        user: signer.address(),
        node: node.node,
        chain_id: node.chain_id,
        contract: node.channel_manager,
        ..params.clone()
    };
    if params != expected {
        return Err(Error::Config(
            "the node's channel parameters name another user, node, chain or contract".into(),
        ));
    }
    params.check()?;
    let local = store.load()?.filter(|s| s.params == params);
    let mut snapshot = local.unwrap_or(Snapshot {
        params: params.clone(),
        latest: None,
        unanswered: None,
        commitments: Vec::new(),
        preimages: Vec::new(),
        link_preimages: Vec::new(),
    });
    let local_nonce = snapshot.latest.as_ref().map_or(0, |s| s.state.nonce);
    if let Some(remote) = setup.latest {
        if remote.state.nonce > local_nonce {
            check_signed_state(&remote, &params).map_err(|e| {
                Error::Refused(format!(
                    "the node's copy of the channel does not check out: {e}"
                ))
            })?;
            snapshot.latest = Some(remote);
            store.save(&snapshot)?;
        } else if remote.state.nonce < local_nonce {
            tracing::warn!(
                node = remote.state.nonce,
                local = local_nonce,
                "the node is behind this client's copy of the channel"
            );
        }
    }
    let state = snapshot
        .latest
        .as_ref()
        .map(|s| s.state.clone())
        .unwrap_or_else(|| ChannelState::initial(params.channel_id()));
    Ok(Channel { snapshot, state })
}
