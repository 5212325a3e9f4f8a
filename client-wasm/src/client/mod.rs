//! The client: its own copy of the channel, the validator before every signature, and the node's API.
//!
//! `mod.rs` holds the client's state and its connection; `signing.rs` everything that signs a channel state (the
//! node's proposals judged and countersigned, the client's own proposals, resyncing); `operations.rs` what an app
//! calls (deposit, pay, links, exchange, withdraw, collateral).
//!
//! All channel work goes through one mutex (`Shared::channel`), so the client signs one state per nonce, in order,
//! whether the work came from the app (`pay`, `withdraw`, …) or from the node (a proposal over the WebSocket).

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use spoke_protocol::{
    accept_proposal, check_signed_state, commitment_digest, decrypt_preimage, encrypt_preimage,
    key_belongs_to, link_secrets, login_digest, propose, recover_public_key, redemption_digest,
    sha256, state_digest, verify, verify_signer,
    wire::{
        ChallengeRequest, ChallengeResponse, ChannelResponse, CountersignRequest,
        CountersignResponse, CreateLinkRequest, KeyResponse, LoginRequest, LoginResponse,
        NodeConfig, NodeEvent, PayRequest, PaymentRecord, PaymentStatus, PendingProposal,
        ProposeRequest, ProposeResponse, QuoteRequest, QuoteResponse, RedeemLinkRequest,
        RedeemLinkResponse,
    },
    Address, ChannelParams, ChannelState, Context, Lock, Login, PreimageContext, PublicKey, Side,
    Signature, SignedCommitment, SignedState, Signer, Update, B256, U256,
};
use tokio::sync::{broadcast, Mutex};

mod dispute;
mod operations;
mod signing;

pub use dispute::{ExitReport, ExitStep};

pub(crate) use crate::platform::now;
use crate::{
    node::NodeApi,
    platform,
    store::{Snapshot, StateStore},
    Error, Result,
};

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
    /// What the client signs away on its own: payments, links, exchanges and withdrawals above these are refused.
    pub caps: crate::SpendingCaps,
    /// How often to look for a dispute of the channel on chain (with `eth_url`); `None` never looks.
    pub watch_chain_every: Option<Duration>,
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
            caps: crate::SpendingCaps::default(),
            watch_chain_every: Some(Duration::from_secs(10)),
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
    /// A step of a forced exit ([`Client::exit`]).
    Exit(ExitStep),
    /// A deposit is mined; it is counted once the node sees it confirmed.
    DepositSent {
        asset: Address,
        amount: U256,
        tx: B256,
    },
    /// A mined deposit has `confirmations` of the `needed` blocks on top of it that the node waits for before
    /// counting it; sent at each new one, the last with `confirmations == needed`.
    DepositConfirming {
        tx: B256,
        confirmations: u64,
        needed: u64,
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
    /// The countersignature on the node's lock to this client, held back to go with the resolve that follows it
    /// (one request instead of two); sent alone if no resolve takes it. Not saved: after a restart the node's
    /// proposal is pending again and is countersigned as taken already.
    owed_countersign: Option<CountersignRequest>,
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
    chain: Option<crate::EthChain>,
    channel: Mutex<Channel>,
    events: broadcast::Sender<ClientEvent>,
    /// Who paid the locks this client is about to resolve, for its events.
    senders: std::sync::Mutex<std::collections::HashMap<B256, Address>>,
    /// Set by [`Client::exit`]: nothing more is signed in this channel.
    exiting: AtomicBool,
    /// Set by [`Client::close`]; background tasks also stop when it drops with the client.
    stop: tokio::sync::watch::Sender<bool>,
    /// The node's public key, recovered once from its first proposal this client accepted: later proposals are
    /// checked against it without recovering it again.
    node_key: std::sync::OnceLock<spoke_protocol::PublicKey>,
    /// Recipients' encryption keys, checked against their addresses when first asked of the node. An address has
    /// one key, so a checked key stays right; a payer asks the node once per recipient, not once per payment.
    recipient_keys: std::sync::Mutex<std::collections::HashMap<Address, Vec<u8>>>,
    /// How this client's own recent payments ended, as its channel took the node's resolve or cancel of the
    /// payer's lock: [`Client::wait_payment`] reads it instead of asking the node.
    ended_payments: std::sync::Mutex<EndedPayments>,
}

/// The outcomes of the latest [`EndedPayments::KEPT`] payments this client made: completed or failed, by id. A
/// ring searched end to end: a few microseconds, and less code in the browser's .wasm than a map.
#[derive(Debug, Default)]
struct EndedPayments {
    entries: Vec<(B256, bool)>,
    next: usize,
}

impl EndedPayments {
    const KEPT: usize = 1024;

    fn record(&mut self, id: B256, completed: bool) {
        if self.entries.len() < Self::KEPT {
            self.entries.push((id, completed));
        } else {
            self.entries[self.next] = (id, completed);
            self.next = (self.next + 1) % Self::KEPT;
        }
    }

    fn get(&self, id: B256) -> Option<bool> {
        self.entries
            .iter()
            .find(|(ended, _)| *ended == id)
            .map(|&(_, completed)| completed)
    }
}

#[cfg(test)]
mod ended_payments_tests {
    use super::*;

    #[test]
    fn keeps_the_latest_outcomes() {
        let mut ended = EndedPayments::default();
        let id = |n: usize| B256::from(U256::from(n));
        for n in 0..EndedPayments::KEPT + 10 {
            ended.record(id(n), n % 2 == 0);
        }
        assert_eq!(ended.entries.len(), EndedPayments::KEPT);
        assert_eq!(ended.get(id(9)), None, "among the oldest, overwritten");
        assert_eq!(ended.get(id(10)), Some(true));
        assert_eq!(ended.get(id(EndedPayments::KEPT + 9)), Some(false));
    }
}

/// A connected client. Cheap to clone; every clone is the same client.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// Logs in to the node with `secret` (the user's channel key), sets the channel up, reconciles it with the
    /// local store and takes any proposal waiting at the node. Natively it also listens on the node's WebSocket.
    // In the browser the client lives on the page's one thread; its `Arc` is shared with its own tasks only.
    #[cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
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
                chain,
                channel: Mutex::new(channel),
                events,
                senders: Default::default(),
                exiting: AtomicBool::new(false),
                stop: tokio::sync::watch::channel(false).0,
                node_key: std::sync::OnceLock::new(),
                recipient_keys: Default::default(),
                ended_payments: Default::default(),
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
        crate::listen::spawn(&client);
        if let Some(every) = client.shared.config.watch_chain_every {
            client.watch_chain(every);
        }
        Ok(client)
    }

    pub fn address(&self) -> Address {
        self.shared.signer.address()
    }

    /// The chain, when the app gave `eth_url`.
    pub fn chain(&self) -> Option<&crate::EthChain> {
        self.shared.chain.as_ref()
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

    /// Stops the client's background work — the node's WebSocket, the chain watch — at once, rather than when
    /// the last handle on it drops. Calls in progress finish; the client can still be used for calls.
    pub fn close(&self) {
        self.shared.stop.send_replace(true);
    }

    /// A handle for background tasks, which must not keep the client alive: it upgrades while some app holds the
    /// client and it is not closed.
    pub(crate) fn downgrade(&self) -> Background {
        Background {
            shared: Arc::downgrade(&self.shared),
            stop: self.shared.stop.subscribe(),
        }
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

    /// Everything this client keeps about its channel: a backup to import elsewhere, or to hand a watchtower.
    pub async fn export_snapshot(&self) -> Snapshot {
        self.shared.channel.lock().await.snapshot.clone()
    }

    /// Takes a backup made by [`Client::export_snapshot`] (here or on another device): its latest state is
    /// adopted only when it is this channel's, newer than this client's, and signed by both sides; its
    /// commitments and preimages are added to this client's. Nothing changes when any check fails.
    pub async fn import_snapshot(&self, backup: Snapshot) -> Result<u64> {
        let mut channel = self.shared.channel.lock().await;
        if backup.params != *channel.params() {
            return Err(Error::Refused(
                "the backup is of another channel (user, node, chain, contract or epoch differ)"
                    .into(),
            ));
        }
        let params = channel.params().clone();
        let mut snapshot = channel.snapshot.clone();
        let mut state = None;
        if let Some(latest) = backup.latest {
            check_signed_state(&latest, &params).map_err(|e| {
                Error::Refused(format!("the backup's state does not check out: {e}"))
            })?;
            if latest.state.nonce > channel.state.nonce {
                state = Some(latest.state.clone());
                snapshot.latest = Some(latest);
                // A state signed and sent at the old nonce is history now.
                snapshot.unanswered = None;
            }
        }
        for commitment in backup.commitments {
            if commitment.commitment.channel_id != params.channel_id() {
                return Err(Error::Refused(
                    "a commitment in the backup is of another channel".into(),
                ));
            }
            let digest = commitment_digest(&params.domain(), &commitment.commitment);
            verify(&digest, &commitment.user_signature, Side::User, params.user)
                .and_then(|()| verify(&digest, &commitment.node_signature, Side::Node, params.node))
                .map_err(|e| {
                    Error::Refused(format!(
                        "a commitment in the backup does not check out: {e}"
                    ))
                })?;
            if !snapshot.commitments.contains(&commitment) {
                snapshot.commitments.push(commitment);
            }
        }
        for (mine, theirs) in [
            (&mut snapshot.preimages, backup.preimages),
            (&mut snapshot.link_preimages, backup.link_preimages),
        ] {
            for (key, preimage) in theirs {
                if !mine.iter().any(|(k, _)| *k == key) {
                    mine.push((key, preimage));
                }
            }
        }
        self.shared.store.save(&snapshot)?;
        channel.snapshot = snapshot;
        if let Some(state) = state {
            channel.state = state;
        }
        let nonce = channel.state.nonce;
        drop(channel);
        self.emit(ClientEvent::StateChanged { nonce });
        Ok(nonce)
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

    pub(crate) fn handle_event(&self, event: NodeEvent) {
        match event {
            NodeEvent::Proposal(p) => {
                let client = self.clone();
                platform::spawn(async move {
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

/// What a background task holds of the client: a weak reference, and the signal to stop.
#[derive(Debug, Clone)]
pub(crate) struct Background {
    shared: std::sync::Weak<Shared>,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Background {
    /// The client, while an app holds it and it is not closed.
    pub fn client(&self) -> Option<Client> {
        if *self.stop.borrow() {
            return None;
        }
        self.shared.upgrade().map(|shared| Client { shared })
    }

    /// Runs `work` until it ends, or until the client is closed or dropped (`None`).
    pub async fn unless_stopped<F: std::future::Future>(&mut self, work: F) -> Option<F::Output> {
        use futures_util::future::{select, Either};
        // Closing sets the flag; dropping the last client drops the sender, which ends the wait too.
        let stopped = self.stop.wait_for(|closed| *closed);
        match select(std::pin::pin!(work), std::pin::pin!(stopped)).await {
            Either::Left((output, _)) => Some(output),
            Either::Right(_) => None,
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
    // The hour's spending under the app's caps belongs to the user, not to one channel: it carries over.
    let mut spent = Vec::new();
    let local = match store.load()? {
        Some(kept) if kept.params == params => Some(kept),
        Some(other) => {
            // Another channel of this store — an earlier epoch, after an exit — is kept aside, not overwritten:
            // its locks or withdrawals may still have to be settled on chain.
            store.archive(&other)?;
            spent = other.spent;
            None
        }
        None => None,
    };
    let mut snapshot = local.unwrap_or(Snapshot {
        params: params.clone(),
        latest: None,
        unanswered: None,
        commitments: Vec::new(),
        preimages: Vec::new(),
        link_preimages: Vec::new(),
        spent,
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
    Ok(Channel {
        snapshot,
        state,
        owed_countersign: None,
    })
}
