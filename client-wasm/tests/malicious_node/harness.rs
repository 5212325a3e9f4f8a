//! The lying node (an axum test double speaking the real API) and the harness around it, for
//! `malicious_node.rs`.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::{
    network::TransactionBuilder,
    node_bindings::{Anvil, AnvilInstance},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
};
use axum::{
    extract::{ws::WebSocketUpgrade, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use spoke_client::{Client, ClientConfig, ClientEvent, Error, FileStore, Snapshot, StateStore};
use spoke_contracts::{
    bindings::{ChannelManager, DevDai},
    Deployment,
};
use spoke_protocol::{
    accept_proposal, commitment_digest, encrypt_preimage, encryption_key, keccak256, propose,
    sha256, state_digest, verify, verify_login,
    wire::{
        ApiErrorBody, ChallengeRequest, ChallengeResponse, ChannelResponse, CountersignRequest,
        CountersignResponse, IncomingPayment, KeyResponse, LoginRequest, LoginResponse, NodeConfig,
        PayRequest, PendingProposal, ProposeRequest, ProposeResponse,
    },
    Address, ChannelParams, ChannelState, Context, Lock, Login, PreimageContext, Proposal, Side,
    SignedState, Signer, Timing, Update, B256, U256,
};
use tokio::sync::broadcast;

pub const ETH: Address = Address::ZERO;
/// A token on the deployment's allowlist (off chain; on a chain, the deployed DevDai: [`Harness::dai`]).
pub const DAI: Address = Address::repeat_byte(0xda);
/// Anvil's chain id, so that a harness on a chain signs states for that chain.
pub const CHAIN_ID: u64 = 31337;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

pub fn wei(n: u64) -> U256 {
    U256::from(n)
}

/// A new 32-byte value each call (ids, preimages, ephemeral keys).
pub fn fresh() -> B256 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    keccak256(format!("malicious_node/{}/{n}", now()))
}

pub fn signer(byte: u8) -> Signer {
    Signer::from_bytes(&B256::repeat_byte(byte)).expect("key")
}

// ---- the lying node ----

/// How the node answers the client's own proposals (`/channel/propose`, `/pay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Honest,
    /// Signs the digest of another state (its own current one) instead of the proposed one.
    SignsAnotherState,
    /// Answers with the right signature but another nonce.
    NamesAnotherNonce,
    /// Signs the state, but the withdrawal commitment's signature is over another commitment.
    SignsAnotherCommitment,
    /// Signs nothing: 503, as a node that is down would.
    Unavailable,
}

/// How the node writes the login message it hands the client to sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginLie {
    /// For another site's domain.
    Domain,
    /// For another chain.
    Chain,
    /// For another account.
    Address,
    /// Already expired.
    Expired,
}

/// How the node answers `GET /users/{address}/key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAnswer {
    Honest,
    /// The payee's address with the node's own key.
    NodeKeyForPayee,
    /// The node's address and key.
    NodeAddressAndKey,
    /// 33 bytes that are no point on the curve.
    NotAKey,
}

#[derive(Debug)]
pub struct Inner {
    /// The newest state both sides signed, as the node holds it.
    pub state: ChannelState,
    /// What `/channel/setup` answers as the newest double-signed state.
    pub setup_latest: Option<SignedState>,
    /// What `/channel/setup` answers as the parameters (normally the channel's).
    pub setup_params: ChannelParams,
    /// What `GET /channel/pending` answers, and the state the node computed for it (none for a forgery).
    pub pending: Option<PendingProposal>,
    pub pending_state: Option<ChannelState>,
    pub answer: Answer,
    pub key_answer: KeyAnswer,
    pub login_lie: Option<LoginLie>,
    /// What `GET /config` answers instead of the node's own configuration.
    pub config_lie: Option<NodeConfig>,
    /// Keys of the users the node knows, for honest `/users/{address}/key` answers.
    pub keys: HashMap<Address, Vec<u8>>,
    /// Every request that reached the node, as "METHOD /path".
    pub calls: Vec<String>,
}

#[derive(Debug)]
pub struct FakeNode {
    pub node: Signer,
    pub params: ChannelParams,
    pub config: NodeConfig,
    pub inner: Mutex<Inner>,
}

pub type Shared = Arc<FakeNode>;

pub fn api_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(ApiErrorBody {
            code: code.into(),
            message: message.into(),
        }),
    )
        .into_response()
}

impl FakeNode {
    pub fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn called(&self, what: &str) {
        self.inner().calls.push(what.to_string());
    }

    pub fn ctx(&self, proposer: Side) -> Context<'_> {
        Context {
            now: now(),
            proposer,
            params: &self.params,
            proposer_key: None,
        }
    }

    pub fn digest(&self, state: &ChannelState) -> B256 {
        state_digest(&self.params.domain(), state)
    }

    /// Takes a user proposal as the real node would (the validator, then its signature), answering as told.
    pub fn take_user_proposal(&self, request: &ProposeRequest, payment: bool) -> Response {
        let mut inner = self.inner();
        if inner.answer == Answer::Unavailable {
            return api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the node is down",
            );
        }
        let accepted = match accept_proposal(&inner.state, &request.proposal, &self.ctx(Side::User))
        {
            Ok(a) => a,
            Err(e) => return api_error(StatusCode::CONFLICT, "STALE_NONCE", e.to_string()),
        };
        let commitment = request.proposal.update.commitment(&accepted.state);
        let dom = self.params.domain();
        let sign = |digest: &B256| self.node.sign_digest(digest).expect("sign");
        let (signature, nonce, commitment_signature) = match inner.answer {
            Answer::Honest => (
                sign(&accepted.digest),
                accepted.state.nonce,
                commitment
                    .as_ref()
                    .map(|c| sign(&commitment_digest(&dom, c))),
            ),
            Answer::SignsAnotherState => (
                sign(&self.digest(&inner.state)),
                accepted.state.nonce,
                commitment
                    .as_ref()
                    .map(|c| sign(&commitment_digest(&dom, c))),
            ),
            Answer::NamesAnotherNonce => (
                sign(&accepted.digest),
                accepted.state.nonce + 1,
                commitment
                    .as_ref()
                    .map(|c| sign(&commitment_digest(&dom, c))),
            ),
            Answer::Unavailable => unreachable!("answered above"),
            Answer::SignsAnotherCommitment => (
                sign(&accepted.digest),
                accepted.state.nonce,
                commitment.as_ref().map(|c| {
                    let mut other = c.clone();
                    other.cumulative += U256::from(1);
                    sign(&commitment_digest(&dom, &other))
                }),
            ),
        };
        if inner.answer == Answer::Honest {
            inner.setup_latest = Some(SignedState {
                state: accepted.state.clone(),
                user_signature: request.proposal.signature,
                node_signature: signature,
            });
            inner.state = accepted.state;
        }
        let payment_id = match (&request.proposal.update, payment) {
            (Update::CreateLock { lock }, true) => Some(keccak256(lock.id)),
            _ => None,
        };
        Json(ProposeResponse {
            nonce,
            signature,
            commitment_signature,
            payment_id,
            withdrawal_tx: None,
        })
        .into_response()
    }
}

pub async fn node_config(State(f): State<Shared>) -> Json<NodeConfig> {
    f.called("GET /config");
    Json(
        f.inner()
            .config_lie
            .clone()
            .unwrap_or_else(|| f.config.clone()),
    )
}

pub async fn challenge(
    State(f): State<Shared>,
    Json(request): Json<ChallengeRequest>,
) -> Json<ChallengeResponse> {
    f.called("POST /auth/challenge");
    let issued_at = now();
    let mut login = Login {
        domain: f.config.login_domain.clone(),
        uri: format!("http://{}/auth/login", f.config.login_domain),
        address: request.address,
        chain_id: f.config.chain_id,
        nonce: "fakenodenonce0123".into(),
        issued_at,
        expires_at: issued_at + 300,
    };
    match f.inner().login_lie {
        Some(LoginLie::Domain) => {
            login.domain = "evil.example:443".into();
            login.uri = "https://evil.example/auth/login".into();
        }
        Some(LoginLie::Chain) => login.chain_id = 1,
        Some(LoginLie::Address) => login.address = signer(FORGER_KEY).address(),
        Some(LoginLie::Expired) => {
            login.issued_at = issued_at - 600;
            login.expires_at = issued_at - 300;
        }
        None => {}
    }
    Json(ChallengeResponse {
        message: login.to_text().expect("login text"),
        expires_at: issued_at + 300,
    })
}

pub async fn login(State(f): State<Shared>, Json(request): Json<LoginRequest>) -> Response {
    f.called("POST /auth/login");
    match verify_login(
        &request.message,
        &request.signature,
        &f.config.login_domain,
        f.config.chain_id,
        now(),
    ) {
        Ok(login) => Json(LoginResponse {
            token: "fake-session".into(),
            address: login.address,
            expires_at: now() + 3600,
        })
        .into_response(),
        Err(e) => api_error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", e.to_string()),
    }
}

/// `POST /channel/setup` and `GET /channel/restore`: the same answer.
pub async fn setup(State(f): State<Shared>) -> Json<ChannelResponse> {
    f.called("setup or restore");
    let inner = f.inner();
    Json(ChannelResponse {
        params: inner.setup_params.clone(),
        latest: inner.setup_latest.clone(),
    })
}

pub async fn pending(State(f): State<Shared>) -> Json<Option<PendingProposal>> {
    f.called("GET /channel/pending");
    Json(f.inner().pending.clone())
}

pub async fn countersign(
    State(f): State<Shared>,
    Json(request): Json<CountersignRequest>,
) -> Response {
    f.called("POST /channel/countersign");
    match f.take_countersign(&request) {
        None => Json(CountersignResponse {
            nonce: request.nonce,
        })
        .into_response(),
        Some(refusal) => refusal,
    }
}

impl FakeNode {
    /// Takes the user's signature on the pending proposal, as the honest node does; returns the refusal if not.
    fn take_countersign(&self, request: &CountersignRequest) -> Option<Response> {
        let mut inner = self.inner();
        let (Some(p), Some(state)) = (inner.pending.clone(), inner.pending_state.clone()) else {
            return Some(api_error(
                StatusCode::CONFLICT,
                "STALE_NONCE",
                "nothing waits",
            ));
        };
        if p.proposal.nonce != request.nonce
            || verify(
                &self.digest(&state),
                &request.signature,
                Side::User,
                self.params.user,
            )
            .is_err()
        {
            return Some(api_error(
                StatusCode::BAD_REQUEST,
                "BAD_SIGNATURE",
                "not the state",
            ));
        }
        inner.setup_latest = Some(SignedState {
            state: state.clone(),
            user_signature: request.signature,
            node_signature: p.proposal.signature,
        });
        inner.state = state;
        inner.pending = None;
        inner.pending_state = None;
        None
    }
}

pub async fn propose_route(
    State(f): State<Shared>,
    Json(request): Json<ProposeRequest>,
) -> Response {
    f.called("POST /channel/propose");
    if let Some(countersign) = &request.countersign {
        if let Some(refusal) = f.take_countersign(countersign) {
            return refusal;
        }
    }
    f.take_user_proposal(&request, false)
}

pub async fn pay(State(f): State<Shared>, Json(request): Json<PayRequest>) -> Response {
    f.called("POST /pay");
    f.take_user_proposal(
        &ProposeRequest {
            proposal: request.proposal,
            commitment_signature: None,
            submit: false,
            countersign: None,
        },
        true,
    )
}

pub async fn user_key(State(f): State<Shared>, Path(address): Path<Address>) -> Response {
    f.called("GET /users/key");
    let inner = f.inner();
    let node_key = encryption_key(&B256::repeat_byte(NODE_KEY)).expect("key");
    let (address, key) = match inner.key_answer {
        KeyAnswer::Honest => match inner.keys.get(&address) {
            Some(k) => (address, k.clone()),
            None => return api_error(StatusCode::NOT_FOUND, "UNKNOWN_RECIPIENT", "unknown"),
        },
        KeyAnswer::NodeKeyForPayee => (address, node_key.to_vec()),
        KeyAnswer::NodeAddressAndKey => (f.node.address(), node_key.to_vec()),
        KeyAnswer::NotAKey => (address, vec![0x02; 33]),
    };
    Json(KeyResponse {
        address,
        public_key: key.into(),
    })
    .into_response()
}

/// The client listens here; this node pushes nothing, so proposals reach the client only through
/// `GET /channel/pending`, when the test says so.
pub async fn ws(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move { while let Some(Ok(_)) = socket.recv().await {} })
}

// ---- the harness ----

pub const USER_KEY: u8 = 0x11;
pub const PAYEE_KEY: u8 = 0x22;
pub const FORGER_KEY: u8 = 0x33;
pub const NODE_KEY: u8 = 0xee;
/// What each side has counted in the channel the client starts from.
pub const FUNDED: u64 = 1000;

pub struct Harness {
    /// The chain the client checks the node's deposits against, when the test has one.
    pub eth_url: Option<String>,
    /// The anvil behind `eth_url` when the harness started it ([`Harness::on_chain`]); killed with the harness.
    pub anvil: Option<AnvilInstance>,
    /// The token on the channel's allowlist: [`DAI`], or the deployed DevDai on a chain.
    pub dai: Address,
    pub fake: Shared,
    pub user: Signer,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub server: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Harness {
    /// The lying node on a free port of 127.0.0.1, holding a channel at nonce 2 where each side counted
    /// [`FUNDED`] wei of ETH, signed by both.
    pub async fn start() -> Harness {
        Harness::start_at(Address::repeat_byte(0xcc), DAI).await
    }

    /// [`Harness::start`] on a chain of its own: an anvil with the contracts deployed, where the user deposited
    /// the [`FUNDED`] wei of ETH the channel counts for it, and the node deposited `node_eth` wei of ETH and
    /// `node_dai` of the deployed DevDai ([`Harness::dai`]) on its side (nothing where 0). The client checks every
    /// deposit the node counts for itself against it (`eth_url`).
    pub async fn on_chain(node_eth: u64, node_dai: u64) -> Harness {
        let anvil = Anvil::at(spoke_contracts::anvil_binary()).spawn();
        assert_eq!(anvil.chain_id(), CHAIN_ID, "the states are signed for it");
        let deployer = spoke_contracts::http_provider(
            anvil.endpoint().as_str(),
            PrivateKeySigner::from(anvil.keys()[0].clone()),
        )
        .expect("provider");
        let deployment = spoke_contracts::deploy(&deployer, 3600)
            .await
            .expect("deploy");
        let mut h = Harness::start_at(deployment.channel_manager, deployment.dai).await;
        let params = &h.fake.params;
        let manager = ChannelManager::new(deployment.channel_manager, &deployer);
        assert_eq!(
            manager
                .channelId(params.user, params.node, params.epoch)
                .call()
                .await
                .expect("channelId"),
            params.channel_id(),
            "the contract's channel is the harness's"
        );
        let chain = OnChain {
            url: anvil.endpoint(),
            deployer: &deployer,
            deployment,
            params,
        };
        chain.deposit(USER_KEY, Side::User, ETH, FUNDED).await;
        chain.deposit(NODE_KEY, Side::Node, ETH, node_eth).await;
        chain
            .deposit(NODE_KEY, Side::Node, deployment.dai, node_dai)
            .await;
        for (asset, amount) in [(ETH, node_eth), (deployment.dai, node_dai)] {
            let ledger = manager
                .ledger(params.channel_id(), asset)
                .call()
                .await
                .expect("ledger");
            assert_eq!(
                U256::from(ledger.depositNode),
                wei(amount),
                "the node's {asset}"
            );
        }
        h.eth_url = Some(anvil.endpoint());
        h.anvil = Some(anvil);
        h
    }

    /// [`Harness::start`] for the ChannelManager at `contract`, with `dai` on the channel's allowlist.
    pub async fn start_at(contract: Address, dai: Address) -> Harness {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address: SocketAddr = listener.local_addr().expect("address");
        let user = signer(USER_KEY);
        let node = signer(NODE_KEY);
        let params = ChannelParams {
            chain_id: CHAIN_ID,
            contract,
            user: user.address(),
            node: node.address(),
            epoch: 0,
            allowed_assets: vec![dai],
            timing: Timing::default(),
            max_locks: 8,
        };
        let config = NodeConfig {
            chain_id: CHAIN_ID,
            channel_manager: params.contract,
            node: node.address(),
            tokens: vec![dai],
            timing: Timing::default(),
            max_locks: 8,
            login_domain: address.to_string(),
            deposit_confirmations: 0,
        };
        let funded = funded_state(&params, &user, &node);
        let mut keys = HashMap::new();
        keys.insert(
            signer(PAYEE_KEY).address(),
            encryption_key(&B256::repeat_byte(PAYEE_KEY))
                .expect("key")
                .to_vec(),
        );
        let fake = Arc::new(FakeNode {
            node,
            config,
            inner: Mutex::new(Inner {
                state: funded.state.clone(),
                setup_latest: Some(funded),
                setup_params: params.clone(),
                pending: None,
                pending_state: None,
                answer: Answer::Honest,
                key_answer: KeyAnswer::Honest,
                login_lie: None,
                config_lie: None,
                keys,
                calls: Vec::new(),
            }),
            params,
        });
        let router = Router::new()
            .route("/config", get(node_config))
            .route("/auth/challenge", post(challenge))
            .route("/auth/login", post(login))
            .route("/channel/setup", post(setup))
            .route("/channel/restore", get(setup))
            .route("/channel/pending", get(pending))
            .route("/channel/countersign", post(countersign))
            .route("/channel/propose", post(propose_route))
            .route("/payments/resolve", post(propose_route))
            .route("/payments/cancel", post(propose_route))
            .route("/pay", post(pay))
            .route("/users/{address}/key", get(user_key))
            .route("/ws", get(ws))
            .with_state(fake.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Harness {
            eth_url: None,
            anvil: None,
            dai,
            fake,
            user,
            url: format!("http://{address}"),
            dir: tempfile::tempdir().expect("dir"),
            server,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("channel.json")
    }

    pub fn store(&self) -> Arc<FileStore> {
        Arc::new(FileStore::new(self.path()))
    }

    pub fn client_config(&self) -> ClientConfig {
        ClientConfig {
            chain_id: Some(CHAIN_ID),
            channel_manager: Some(self.fake.params.contract),
            node: Some(self.fake.node.address()),
            eth_url: self.eth_url.clone(),
            // The chain is looked at often, so tests that move its clock see the client act at once.
            watch_chain_every: Some(std::time::Duration::from_millis(200)),
            ..ClientConfig::new(&self.url)
        }
    }

    pub async fn try_connect(&self) -> Result<Client, Error> {
        Client::connect(
            self.client_config(),
            B256::repeat_byte(USER_KEY),
            self.store(),
        )
        .await
    }

    pub async fn connect(&self) -> Client {
        self.try_connect().await.expect("the client connects")
    }

    /// The bytes of the client's channel file (empty when there is none).
    pub fn file(&self) -> Vec<u8> {
        std::fs::read(self.path()).unwrap_or_default()
    }

    pub fn snapshot(&self) -> Snapshot {
        self.store()
            .load()
            .expect("load")
            .expect("the client stored its channel")
    }

    pub fn state(&self) -> ChannelState {
        self.fake.inner().state.clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.fake.inner().calls.clone()
    }

    pub fn forget_calls(&self) {
        self.fake.inner().calls.clear();
    }

    pub fn called(&self, what: &str) -> bool {
        self.calls().iter().any(|c| c == what)
    }

    /// The node's honest proposal of `update` on its current state.
    pub fn node_proposes(&self, update: Update) -> (ChannelState, Proposal) {
        propose(
            &self.state(),
            update,
            &self.fake.ctx(Side::Node),
            &self.fake.node,
        )
        .expect("the node's proposal")
    }

    /// Offers the client the node's lock of `amount` wei of ETH until `expiry`, paid by [`PAYEE_KEY`]'s user, with
    /// its preimage sealed to the client as a payer would seal it. Returns the lock.
    pub fn offer_sealed_lock(&self, amount: U256, expiry: u64) -> Lock {
        let preimage = fresh();
        let hashlock = sha256(preimage);
        let sealed = encrypt_preimage(
            &encryption_key(&B256::repeat_byte(USER_KEY)).expect("key"),
            preimage,
            &PreimageContext {
                hashlock,
                asset: ETH,
                amount,
                expiry,
            },
            &fresh(),
        )
        .expect("encrypt");
        let lock = Lock {
            id: fresh(),
            asset: ETH,
            amount,
            sender: Side::Node,
            hashlock,
            expiry,
        };
        let (state, proposal) = self.node_proposes(Update::CreateLock { lock: lock.clone() });
        self.offer(
            proposal,
            Some(state),
            Some(IncomingPayment {
                id: lock.id,
                payer: signer(PAYEE_KEY).address(),
                encrypted_preimage: Some(sealed),
            }),
        );
        lock
    }

    /// What `GET /channel/pending` answers from now on.
    pub fn offer(
        &self,
        proposal: Proposal,
        state: Option<ChannelState>,
        payment: Option<IncomingPayment>,
    ) {
        let mut inner = self.fake.inner();
        inner.pending = Some(PendingProposal { proposal, payment });
        inner.pending_state = state;
    }
}

/// Deposits on the chain of [`Harness::on_chain`].
pub struct OnChain<'a> {
    pub url: String,
    /// Anvil's account 0, which deployed the contracts.
    pub deployer: &'a DynProvider,
    pub deployment: Deployment,
    pub params: &'a ChannelParams,
}

impl OnChain<'_> {
    /// `amount` of `asset` deposited on `side` of the channel by the holder of `key`, which is given the ETH
    /// (and mints the DevDai) it needs first. Nothing for 0.
    pub async fn deposit(&self, key: u8, side: Side, asset: Address, amount: u64) {
        if amount == 0 {
            return;
        }
        let account = signer(key).address();
        let _: serde_json::Value = self
            .deployer
            .raw_request(
                "anvil_setBalance".into(),
                (account, U256::from(10).pow(U256::from(18)) + wei(amount)),
            )
            .await
            .expect("anvil_setBalance");
        let provider = spoke_contracts::http_provider(
            &self.url,
            PrivateKeySigner::from_bytes(&B256::repeat_byte(key)).expect("key"),
        )
        .expect("provider");
        let send = |tx: TransactionRequest, what: &'static str| {
            let provider = provider.clone();
            async move {
                let receipt = provider
                    .send_transaction(tx.with_from(account))
                    .await
                    .expect(what)
                    .get_receipt()
                    .await
                    .expect(what);
                assert!(receipt.status(), "{what} reverted");
            }
        };
        let manager = ChannelManager::new(self.deployment.channel_manager, &provider);
        let deposit = manager
            .deposit(
                self.params.user,
                self.params.node,
                asset,
                side as u8,
                wei(amount),
            )
            .into_transaction_request();
        if asset == ETH {
            send(deposit.with_value(wei(amount)), "the ETH deposit").await;
        } else {
            let token = DevDai::new(asset, &provider);
            send(
                token.mint(account, wei(amount)).into_transaction_request(),
                "the mint",
            )
            .await;
            send(
                token
                    .approve(self.deployment.channel_manager, wei(amount))
                    .into_transaction_request(),
                "the approval",
            )
            .await;
            send(deposit, "the token deposit").await;
        }
    }
}

/// The state both sides signed after the user and the node each counted [`FUNDED`] wei.
pub fn funded_state(params: &ChannelParams, user: &Signer, node: &Signer) -> SignedState {
    let ctx = |proposer| Context {
        now: now(),
        proposer,
        params,
        proposer_key: None,
    };
    let initial = ChannelState::initial(params.channel_id());
    let (s1, _) = propose(
        &initial,
        Update::CountDeposit {
            asset: ETH,
            side: Side::User,
            amount: wei(FUNDED),
        },
        &ctx(Side::User),
        user,
    )
    .expect("count");
    let (s2, p2) = propose(
        &s1,
        Update::CountDeposit {
            asset: ETH,
            side: Side::Node,
            amount: wei(FUNDED),
        },
        &ctx(Side::Node),
        node,
    )
    .expect("count");
    let digest = state_digest(&params.domain(), &s2);
    SignedState {
        state: s2,
        user_signature: user.sign_digest(&digest).expect("sign"),
        node_signature: p2.signature,
    }
}

/// The client's refusal: `Error::Refused` whose reason contains `names` (or one of its `|`-separated
/// alternatives), also announced as a `Refused` event.
#[track_caller]
pub fn assert_refused(
    result: Result<(), Error>,
    names: &str,
    events: &mut broadcast::Receiver<ClientEvent>,
) -> String {
    let reason = match result {
        Err(Error::Refused(reason)) => reason,
        other => panic!("expected a refusal naming {names:?}, got {other:?}"),
    };
    assert!(
        names.split('|').any(|name| reason.contains(name)),
        "the reason should name {names:?}: {reason}"
    );
    let mut announced = Vec::new();
    while let Ok(event) = events.try_recv() {
        announced.push(event);
    }
    assert!(
        announced.contains(&ClientEvent::Refused {
            reason: reason.clone()
        }),
        "the refusal is announced: {announced:?}"
    );
    reason
}

/// What the client holds: its channel file, its exported state, its view.
#[derive(Debug, PartialEq)]
pub struct Held {
    pub file: Vec<u8>,
    pub exported: Option<SignedState>,
    pub nonce: u64,
}

pub async fn held(h: &Harness, client: &Client) -> Held {
    Held {
        file: h.file(),
        exported: client.export_state().await,
        nonce: client.channel().await.nonce,
    }
}
