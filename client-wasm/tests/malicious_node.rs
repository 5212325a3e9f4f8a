//! The client against a node that lies. The node here is a test double: an axum server on 127.0.0.1 that speaks
//! the real API (the routes of `node/src/api`, the JSON of `spoke_protocol::wire`) and signs with a node key it
//! holds, honestly where a case does not need a lie. Each case asserts that the client refuses to sign, with a
//! reason that names the problem, and that its stored copy of the channel (the `FileStore` file and
//! `export_state()`) is what it was before. Each also has an honest control, so a refusal is known to come from
//! the lie and not from the harness.

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
    Address, ChannelParams, ChannelState, Context, EncryptedPreimage, Lock, Login, PreimageContext,
    Proposal, Side, SignedState, Signer, Timing, Update, B256, U256,
};
use tokio::sync::broadcast;

const ETH: Address = Address::ZERO;
/// A token on the deployment's allowlist (off chain; on a chain, the deployed DevDai: [`Harness::dai`]).
const DAI: Address = Address::repeat_byte(0xda);
/// Anvil's chain id, so that a harness on a chain signs states for that chain.
const CHAIN_ID: u64 = 31337;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn wei(n: u64) -> U256 {
    U256::from(n)
}

/// A new 32-byte value each call (ids, preimages, ephemeral keys).
fn fresh() -> B256 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    keccak256(format!("malicious_node/{}/{n}", now()))
}

fn signer(byte: u8) -> Signer {
    Signer::from_bytes(&B256::repeat_byte(byte)).expect("key")
}

// ---- the lying node ----

/// How the node answers the client's own proposals (`/channel/propose`, `/pay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
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
enum LoginLie {
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
enum KeyAnswer {
    Honest,
    /// The payee's address with the node's own key.
    NodeKeyForPayee,
    /// The node's address and key.
    NodeAddressAndKey,
    /// 33 bytes that are no point on the curve.
    NotAKey,
}

#[derive(Debug)]
struct Inner {
    /// The newest state both sides signed, as the node holds it.
    state: ChannelState,
    /// What `/channel/setup` answers as the newest double-signed state.
    setup_latest: Option<SignedState>,
    /// What `/channel/setup` answers as the parameters (normally the channel's).
    setup_params: ChannelParams,
    /// What `GET /channel/pending` answers, and the state the node computed for it (none for a forgery).
    pending: Option<PendingProposal>,
    pending_state: Option<ChannelState>,
    answer: Answer,
    key_answer: KeyAnswer,
    login_lie: Option<LoginLie>,
    /// What `GET /config` answers instead of the node's own configuration.
    config_lie: Option<NodeConfig>,
    /// Keys of the users the node knows, for honest `/users/{address}/key` answers.
    keys: HashMap<Address, Vec<u8>>,
    /// Every request that reached the node, as "METHOD /path".
    calls: Vec<String>,
}

#[derive(Debug)]
struct FakeNode {
    node: Signer,
    params: ChannelParams,
    config: NodeConfig,
    inner: Mutex<Inner>,
}

type Shared = Arc<FakeNode>;

fn api_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
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
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn called(&self, what: &str) {
        self.inner().calls.push(what.to_string());
    }

    fn ctx(&self, proposer: Side) -> Context<'_> {
        Context {
            now: now(),
            proposer,
            params: &self.params,
        }
    }

    fn digest(&self, state: &ChannelState) -> B256 {
        state_digest(&self.params.domain(), state)
    }

    /// Takes a user proposal as the real node would (the validator, then its signature), answering as told.
    fn take_user_proposal(&self, request: &ProposeRequest, payment: bool) -> Response {
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

async fn node_config(State(f): State<Shared>) -> Json<NodeConfig> {
    f.called("GET /config");
    Json(
        f.inner()
            .config_lie
            .clone()
            .unwrap_or_else(|| f.config.clone()),
    )
}

async fn challenge(
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

async fn login(State(f): State<Shared>, Json(request): Json<LoginRequest>) -> Response {
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
async fn setup(State(f): State<Shared>) -> Json<ChannelResponse> {
    f.called("setup or restore");
    let inner = f.inner();
    Json(ChannelResponse {
        params: inner.setup_params.clone(),
        latest: inner.setup_latest.clone(),
    })
}

async fn pending(State(f): State<Shared>) -> Json<Option<PendingProposal>> {
    f.called("GET /channel/pending");
    Json(f.inner().pending.clone())
}

async fn countersign(State(f): State<Shared>, Json(request): Json<CountersignRequest>) -> Response {
    f.called("POST /channel/countersign");
    let mut inner = f.inner();
    let (Some(p), Some(state)) = (inner.pending.clone(), inner.pending_state.clone()) else {
        return api_error(StatusCode::CONFLICT, "STALE_NONCE", "nothing waits");
    };
    if p.proposal.nonce != request.nonce
        || verify(
            &f.digest(&state),
            &request.signature,
            Side::User,
            f.params.user,
        )
        .is_err()
    {
        return api_error(StatusCode::BAD_REQUEST, "BAD_SIGNATURE", "not the state");
    }
    inner.setup_latest = Some(SignedState {
        state: state.clone(),
        user_signature: request.signature,
        node_signature: p.proposal.signature,
    });
    inner.state = state;
    inner.pending = None;
    inner.pending_state = None;
    Json(CountersignResponse {
        nonce: request.nonce,
    })
    .into_response()
}

async fn propose_route(State(f): State<Shared>, Json(request): Json<ProposeRequest>) -> Response {
    f.called("POST /channel/propose");
    f.take_user_proposal(&request, false)
}

async fn pay(State(f): State<Shared>, Json(request): Json<PayRequest>) -> Response {
    f.called("POST /pay");
    f.take_user_proposal(
        &ProposeRequest {
            proposal: request.proposal,
            commitment_signature: None,
            submit: false,
        },
        true,
    )
}

async fn user_key(State(f): State<Shared>, Path(address): Path<Address>) -> Response {
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
async fn ws(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move { while let Some(Ok(_)) = socket.recv().await {} })
}

// ---- the harness ----

const USER_KEY: u8 = 0x11;
const PAYEE_KEY: u8 = 0x22;
const FORGER_KEY: u8 = 0x33;
const NODE_KEY: u8 = 0xee;
/// What each side has counted in the channel the client starts from.
const FUNDED: u64 = 1000;

struct Harness {
    /// The chain the client checks the node's deposits against, when the test has one.
    eth_url: Option<String>,
    /// The anvil behind `eth_url` when the harness started it ([`Harness::on_chain`]); killed with the harness.
    anvil: Option<AnvilInstance>,
    /// The token on the channel's allowlist: [`DAI`], or the deployed DevDai on a chain.
    dai: Address,
    fake: Shared,
    user: Signer,
    url: String,
    dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Harness {
    /// The lying node on a free port of 127.0.0.1, holding a channel at nonce 2 where each side counted
    /// [`FUNDED`] wei of ETH, signed by both.
    async fn start() -> Harness {
        Harness::start_at(Address::repeat_byte(0xcc), DAI).await
    }

    /// [`Harness::start`] on a chain of its own: an anvil with the contracts deployed, where the user deposited
    /// the [`FUNDED`] wei of ETH the channel counts for it, and the node deposited `node_eth` wei of ETH and
    /// `node_dai` of the deployed DevDai ([`Harness::dai`]) on its side (nothing where 0). The client checks every
    /// deposit the node counts for itself against it (`eth_url`).
    async fn on_chain(node_eth: u64, node_dai: u64) -> Harness {
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
    async fn start_at(contract: Address, dai: Address) -> Harness {
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

    fn path(&self) -> PathBuf {
        self.dir.path().join("channel.json")
    }

    fn store(&self) -> Arc<FileStore> {
        Arc::new(FileStore::new(self.path()))
    }

    fn client_config(&self) -> ClientConfig {
        ClientConfig {
            chain_id: Some(CHAIN_ID),
            channel_manager: Some(self.fake.params.contract),
            node: Some(self.fake.node.address()),
            eth_url: self.eth_url.clone(),
            ..ClientConfig::new(&self.url)
        }
    }

    async fn try_connect(&self) -> Result<Client, Error> {
        Client::connect(
            self.client_config(),
            B256::repeat_byte(USER_KEY),
            self.store(),
        )
        .await
    }

    async fn connect(&self) -> Client {
        self.try_connect().await.expect("the client connects")
    }

    /// The bytes of the client's channel file (empty when there is none).
    fn file(&self) -> Vec<u8> {
        std::fs::read(self.path()).unwrap_or_default()
    }

    fn snapshot(&self) -> Snapshot {
        self.store()
            .load()
            .expect("load")
            .expect("the client stored its channel")
    }

    fn state(&self) -> ChannelState {
        self.fake.inner().state.clone()
    }

    fn calls(&self) -> Vec<String> {
        self.fake.inner().calls.clone()
    }

    fn forget_calls(&self) {
        self.fake.inner().calls.clear();
    }

    fn called(&self, what: &str) -> bool {
        self.calls().iter().any(|c| c == what)
    }

    /// The node's honest proposal of `update` on its current state.
    fn node_proposes(&self, update: Update) -> (ChannelState, Proposal) {
        propose(
            &self.state(),
            update,
            &self.fake.ctx(Side::Node),
            &self.fake.node,
        )
        .expect("the node's proposal")
    }

    /// What `GET /channel/pending` answers from now on.
    fn offer(
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
struct OnChain<'a> {
    url: String,
    /// Anvil's account 0, which deployed the contracts.
    deployer: &'a DynProvider,
    deployment: Deployment,
    params: &'a ChannelParams,
}

impl OnChain<'_> {
    /// `amount` of `asset` deposited on `side` of the channel by the holder of `key`, which is given the ETH
    /// (and mints the DevDai) it needs first. Nothing for 0.
    async fn deposit(&self, key: u8, side: Side, asset: Address, amount: u64) {
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
fn funded_state(params: &ChannelParams, user: &Signer, node: &Signer) -> SignedState {
    let ctx = |proposer| Context {
        now: now(),
        proposer,
        params,
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
fn assert_refused(
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
struct Held {
    file: Vec<u8>,
    exported: Option<SignedState>,
    nonce: u64,
}

async fn held(h: &Harness, client: &Client) -> Held {
    Held {
        file: h.file(),
        exported: client.export_state().await,
        nonce: client.channel().await.nonce,
    }
}

// ---- what the node pushes ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_whose_preimage_was_sealed_for_another_amount_or_expiry_is_refused() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    assert_eq!(before.nonce, 2);

    // The payer sealed the preimage to this client for 100 wei until `expiry`.
    let amount = wei(100);
    let expiry = now() + 24 * 3600;
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
    let payer = signer(PAYEE_KEY).address();
    let lock = |amount, expiry, hashlock| Lock {
        id: fresh(),
        asset: ETH,
        amount,
        sender: Side::Node,
        hashlock,
        expiry,
    };
    let incoming = |lock: &Lock, sealed: Option<EncryptedPreimage>| IncomingPayment {
        id: lock.id,
        payer,
        encrypted_preimage: sealed,
    };

    let lies = [
        ("one wei less", lock(amount - wei(1), expiry, hashlock)),
        ("a minute later", lock(amount, expiry + 60, hashlock)),
        ("a minute sooner", lock(amount, expiry - 60, hashlock)),
        ("another hashlock", lock(amount, expiry, sha256(fresh()))),
    ];
    for (what, lie) in lies {
        let (state, proposal) = h.node_proposes(Update::CreateLock { lock: lie.clone() });
        h.offer(
            proposal,
            Some(state),
            Some(incoming(&lie, Some(sealed.clone()))),
        );
        let reason = assert_refused(
            client.sync().await,
            "the preimage does not open this lock",
            &mut events,
        );
        assert!(!reason.is_empty(), "{what}");
        assert_eq!(held(&h, &client).await, before, "{what}: nothing changed");
        assert!(
            !h.called("POST /channel/countersign"),
            "{what}: nothing was signed"
        );
    }

    // A lock that expires too soon to reveal its preimage on chain (R + G), sealed for that very expiry.
    let t = Timing::default();
    let soon = now() + t.reveal_time + t.safety_margin - 60;
    let sealed_soon = encrypt_preimage(
        &encryption_key(&B256::repeat_byte(USER_KEY)).expect("key"),
        preimage,
        &PreimageContext {
            hashlock,
            asset: ETH,
            amount,
            expiry: soon,
        },
        &fresh(),
    )
    .expect("encrypt");
    let hasty = lock(amount, soon, hashlock);
    let (state, proposal) = h.node_proposes(Update::CreateLock {
        lock: hasty.clone(),
    });
    h.offer(
        proposal,
        Some(state),
        Some(incoming(&hasty, Some(sealed_soon))),
    );
    assert_refused(client.sync().await, "too soon to reveal", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"));

    // A lock without its payment, or without a preimage: the client could never claim it.
    let honest = lock(amount, expiry, hashlock);
    let (state, proposal) = h.node_proposes(Update::CreateLock {
        lock: honest.clone(),
    });
    for (payment, names) in [
        (None, "without its payment"),
        (Some(incoming(&honest, None)), "no preimage"),
    ] {
        h.offer(proposal.clone(), Some(state.clone()), payment);
        assert_refused(client.sync().await, names, &mut events);
        assert_eq!(held(&h, &client).await, before, "nothing changed");
        assert!(!h.called("POST /channel/countersign"));
    }

    // The honest lock is signed, and the client claims it with the preimage at once.
    h.offer(proposal, Some(state), Some(incoming(&honest, Some(sealed))));
    client.sync().await.expect("the honest lock is taken");
    assert!(h.called("POST /channel/countersign"));
    assert_eq!(client.balance(ETH).await, wei(FUNDED) + amount);
    assert_eq!(client.channel().await.nonce, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_proposals_past_a_nonce_gap_are_refused_and_stale_ones_never_signed() {
    // The chain shows the node's 5 more wei, so only the nonces are wrong.
    let h = Harness::on_chain(FUNDED + 5, 0).await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let collateral = |amount| Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(amount),
    };

    // Nonces 4 and u64::MAX, where 3 is next; each correctly signed by the node over the state it names.
    for nonce in [4, u64::MAX] {
        let mut base = h.state();
        base.nonce = nonce - 1;
        let (state, proposal) =
            propose(&base, collateral(5), &h.fake.ctx(Side::Node), &h.fake.node).expect("propose");
        h.offer(proposal, Some(state), None);
        assert_refused(client.sync().await, "skips ahead", &mut events);
        assert_eq!(held(&h, &client).await, before, "nothing changed");
    }

    // Another update at nonce 2, which the client already holds double-signed: never signed.
    let mut base = h.state();
    base.nonce = 1;
    let (state, proposal) =
        propose(&base, collateral(5), &h.fake.ctx(Side::Node), &h.fake.node).expect("propose");
    h.offer(proposal, Some(state), None);
    let _ = client.sync().await;
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");

    // The next nonce is taken.
    let (state, proposal) = h.node_proposes(collateral(5));
    h.offer(proposal, Some(state), None);
    client.sync().await.expect("the honest proposal is taken");
    assert_eq!(client.channel().await.nonce, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_proposal_at_a_stale_nonce_is_refused_with_a_reason() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let mut base = h.state();
    base.nonce = 1;
    let (state, proposal) = propose(
        &base,
        Update::CountDeposit {
            asset: ETH,
            side: Side::Node,
            amount: wei(5),
        },
        &h.fake.ctx(Side::Node),
        &h.fake.node,
    )
    .expect("propose");
    h.offer(proposal, Some(state), None);
    assert_refused(client.sync().await, "stale|nonce", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_proposal_signed_by_another_key_or_over_another_state_is_refused() {
    // The chain shows the node's 6 more wei: even the state that counts 6 is one it could count, so only the
    // signatures are wrong.
    let h = Harness::on_chain(FUNDED + 6, 0).await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let update = Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(5),
    };
    let (state, honest) = h.node_proposes(update.clone());

    // Signed by a stranger, over the very state.
    let forger = signer(FORGER_KEY);
    let forged = Proposal {
        signature: forger.sign_digest(&h.fake.digest(&state)).expect("sign"),
        ..honest.clone()
    };
    h.offer(forged, None, None);
    let reason = assert_refused(client.sync().await, "signature", &mut events);
    assert!(reason.contains(&forger.address().to_string()), "{reason}");

    // Signed by the user's own key: the client's signature is no node's.
    let mirrored = Proposal {
        signature: h.user.sign_digest(&h.fake.digest(&state)).expect("sign"),
        ..honest.clone()
    };
    h.offer(mirrored, None, None);
    assert_refused(client.sync().await, "signature", &mut events);

    // Signed by the node, but over a state with more for the node than the update gives.
    let (more, _) = h.node_proposes(Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(6),
    });
    let elsewhere = Proposal {
        signature: h
            .fake
            .node
            .sign_digest(&h.fake.digest(&more))
            .expect("sign"),
        ..honest.clone()
    };
    h.offer(elsewhere, None, None);
    assert_refused(client.sync().await, "signature", &mut events);

    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");

    h.offer(honest, Some(state), None);
    client.sync().await.expect("the honest proposal is taken");
    assert_eq!(client.channel().await.nonce, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_proposals_that_move_the_users_funds_are_refused() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;
    let forged = |update| {
        let mut base = h.state();
        // `apply` is the validator: a proposal it refuses is built by hand, signed by the node over a state
        // that keeps every sum (the user's amount moved to the node).
        let mut state = base.clone();
        state.nonce += 1;
        state.assets[0].balance_user -= wei(10);
        state.assets[0].balance_node += wei(10);
        base.nonce += 1;
        Proposal {
            nonce: base.nonce,
            update,
            signature: h
                .fake
                .node
                .sign_digest(&h.fake.digest(&state))
                .expect("sign"),
        }
    };
    let to = Address::repeat_byte(0x7e);
    let cases = [
        (
            "the node counts a deposit for the user",
            h.node_proposes(Update::CountDeposit {
                asset: ETH,
                side: Side::User,
                amount: wei(10),
            })
            .1,
            "counts its own deposits",
        ),
        (
            "the node withdraws the user's funds",
            forged(Update::Withdraw {
                asset: ETH,
                side: Side::User,
                amount: wei(10),
                recipient: to,
            }),
            "may not propose a withdrawal for the user",
        ),
        (
            "the node locks the user's funds",
            forged(Update::CreateLock {
                lock: Lock {
                    id: fresh(),
                    asset: ETH,
                    amount: wei(10),
                    sender: Side::User,
                    hashlock: sha256(fresh()),
                    expiry: now() + 24 * 3600,
                },
            }),
            "may not propose a lock for the user",
        ),
    ];
    for (what, proposal, names) in cases {
        h.offer(proposal, None, None);
        let reason = assert_refused(client.sync().await, names, &mut events);
        assert!(!reason.is_empty(), "{what}");
        assert_eq!(held(&h, &client).await, before, "{what}: nothing changed");
        assert!(
            !h.called("POST /channel/countersign"),
            "{what}: nothing was signed"
        );
    }

    // The node's own withdrawal of its own funds is fine.
    let (state, proposal) = h.node_proposes(Update::Withdraw {
        asset: ETH,
        side: Side::Node,
        amount: wei(10),
        recipient: to,
    });
    h.offer(proposal, Some(state), None);
    client.sync().await.expect("the node's own withdrawal");
    assert_eq!(client.channel().await.nonce, 3);
    assert_eq!(client.balance(ETH).await, wei(FUNDED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trade_of_the_users_funds_proposed_by_the_node_is_refused() {
    let h = Harness::on_chain(FUNDED, FUNDED).await;
    let client = h.connect().await;
    let mut events = client.events();
    // The node counts the Dai it deposited into the channel: fine.
    let (state, proposal) = h.node_proposes(Update::CountDeposit {
        asset: h.dai,
        side: Side::Node,
        amount: wei(FUNDED),
    });
    h.offer(proposal, Some(state), None);
    client.sync().await.expect("the node's own deposit");
    let before = held(&h, &client).await;
    assert_eq!(before.nonce, 3);

    // Then it trades all of the user's ETH for 1 wei of its Dai, on a quote it signs itself.
    let quote = spoke_protocol::ExchangeQuote {
        channel_id: h.fake.params.channel_id(),
        id: fresh(),
        sell_asset: ETH,
        sell_amount: wei(FUNDED),
        buy_asset: h.dai,
        buy_amount: wei(1),
        expiry: now() + 60,
    };
    let node_signature = h
        .fake
        .node
        .sign_digest(&spoke_protocol::quote_digest(
            &h.fake.params.domain(),
            &quote,
        ))
        .expect("sign");
    // The validator lets only the user take a quote, so the node's proposal is built by hand: the state taking
    // the quote yields (as the user would propose it), signed by the node.
    let (state, taken) = propose(
        &h.state(),
        Update::Exchange {
            quote,
            node_signature,
        },
        &h.fake.ctx(Side::User),
        &h.user,
    )
    .expect("the trade's state");
    let proposal = Proposal {
        signature: h
            .fake
            .node
            .sign_digest(&h.fake.digest(&state))
            .expect("sign"),
        ..taken
    };
    h.forget_calls();
    h.offer(proposal, Some(state), None);
    assert_refused(client.sync().await, "exchange|trade|quote", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");
    assert_eq!(client.balance(ETH).await, wei(FUNDED));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_deposit_the_chain_does_not_show_is_refused() {
    // A real chain with the contracts, where the node never deposits.
    let h = Harness::on_chain(0, 0).await;
    let client = h.connect().await;
    let mut events = client.events();
    let before = held(&h, &client).await;

    let (state, proposal) = h.node_proposes(Update::CountDeposit {
        asset: ETH,
        side: Side::Node,
        amount: wei(500),
    });
    h.offer(proposal, Some(state), None);
    assert_refused(client.sync().await, "deposit|chain", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");
}

// ---- what the node answers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pay_refuses_a_key_that_is_not_the_payees_before_sending_anything() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let payee = signer(PAYEE_KEY).address();
    let before = held(&h, &client).await;

    for (lie, names) in [
        (KeyAnswer::NodeKeyForPayee, "not"),
        (KeyAnswer::NodeAddressAndKey, "not"),
    ] {
        h.fake.inner().key_answer = lie;
        h.forget_calls();
        let result = client.pay(payee, ETH, wei(10)).await.map(|_| ());
        let reason = assert_refused(result, names, &mut events);
        assert!(reason.contains(&payee.to_string()), "{lie:?}: {reason}");
        assert_eq!(
            h.calls(),
            vec!["GET /users/key".to_string()],
            "{lie:?}: nothing but the key was asked"
        );
        assert_eq!(held(&h, &client).await, before, "{lie:?}: nothing changed");
    }

    // 33 bytes that are no key at all: an error, and nothing sent.
    h.fake.inner().key_answer = KeyAnswer::NotAKey;
    h.forget_calls();
    let result = client.pay(payee, ETH, wei(10)).await;
    assert!(
        matches!(result, Err(Error::Protocol(_) | Error::Refused(_))),
        "{result:?}"
    );
    assert_eq!(h.calls(), vec!["GET /users/key".to_string()]);
    assert_eq!(held(&h, &client).await, before, "nothing changed");

    // The payee's own key: the payment goes out.
    h.fake.inner().key_answer = KeyAnswer::Honest;
    client
        .pay(payee, ETH, wei(10))
        .await
        .expect("the honest payment");
    assert!(h.called("POST /pay"));
    assert_eq!(client.balance(ETH).await, wei(FUNDED - 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_countersignature_for_another_state_is_a_bad_answer_and_nothing_is_stored_as_signed() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let before = h.snapshot();
    let exported = client.export_state().await;
    assert_eq!(exported.as_ref().map(|s| s.state.nonce), Some(2));

    for (lie, names) in [
        (Answer::SignsAnotherState, "countersignature"),
        (Answer::NamesAnotherNonce, "nonce"),
    ] {
        h.fake.inner().answer = lie;
        let result = client.count_deposit(ETH, wei(1)).await;
        match &result {
            Err(Error::BadAnswer(message)) => {
                assert!(message.contains(names), "{lie:?}: {message}")
            }
            other => panic!("{lie:?}: expected a bad answer, got {other:?}"),
        }
        let after = h.snapshot();
        assert_eq!(
            (&after.latest, &after.commitments, &after.preimages),
            (&before.latest, &before.commitments, &before.preimages),
            "{lie:?}: the stored double-signed state did not change"
        );
        assert_eq!(client.export_state().await, exported, "{lie:?}");
        assert_eq!(client.channel().await.nonce, 2, "{lie:?}");
    }

    // A withdrawal whose state is countersigned but whose commitment signature is for another commitment.
    h.fake.inner().answer = Answer::SignsAnotherCommitment;
    let result = client
        .withdraw(ETH, wei(10), Address::repeat_byte(0x7e), false)
        .await;
    match &result {
        Err(Error::BadAnswer(message)) => assert!(message.contains("commitment"), "{message}"),
        other => panic!("expected a bad answer, got {other:?}"),
    }
    assert!(client.commitments().await.is_empty(), "no commitment kept");
    assert_eq!(h.snapshot().commitments, before.commitments);

    // An honest answer is stored.
    h.fake.inner().answer = Answer::Honest;
    client.count_deposit(ETH, wei(1)).await.expect("honest");
    assert_eq!(client.channel().await.nonce, 3);
    assert_eq!(
        h.snapshot().latest.map(|s| s.state.nonce),
        Some(3),
        "the double-signed state is stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_refuses_a_restored_state_the_user_never_signed() {
    let h = Harness::start().await;
    // A first, honest connection stores the channel at nonce 2.
    let client = h.connect().await;
    let genesis = client.export_state().await.expect("a state");
    drop(client);
    let file = h.file();
    assert!(!file.is_empty());

    // Nonce 3: the user's whole balance moved to the node, every sum kept.
    let mut robbed = genesis.state.clone();
    robbed.nonce = 3;
    robbed.assets[0].balance_user = U256::ZERO;
    robbed.assets[0].balance_node = wei(2 * FUNDED);
    let digest = h.fake.digest(&robbed);
    let node_signature = h.fake.node.sign_digest(&digest).expect("sign");
    let forgeries = [
        (
            "signed twice by the node",
            SignedState {
                state: robbed.clone(),
                user_signature: node_signature,
                node_signature,
            },
        ),
        (
            "with the user's signature of nonce 2",
            SignedState {
                state: robbed.clone(),
                user_signature: genesis.user_signature,
                node_signature,
            },
        ),
        (
            "with a stranger's signature",
            SignedState {
                state: robbed.clone(),
                user_signature: signer(FORGER_KEY).sign_digest(&digest).expect("sign"),
                node_signature,
            },
        ),
        (
            "with the user's signature but not the node's",
            SignedState {
                state: robbed.clone(),
                user_signature: h.user.sign_digest(&digest).expect("sign"),
                node_signature: signer(FORGER_KEY).sign_digest(&digest).expect("sign"),
            },
        ),
    ];
    for (what, forged) in forgeries {
        h.fake.inner().setup_latest = Some(forged.clone());
        match h.try_connect().await {
            Err(Error::Refused(reason)) => {
                assert!(reason.contains("does not check out"), "{what}: {reason}")
            }
            Err(e) => panic!("{what}: expected a refusal, got {e:?}"),
            Ok(_) => panic!("{what}: the client connected"),
        }
        assert_eq!(h.file(), file, "{what}: the stored channel did not change");
    }

    // The node's parameters name another user: refused as well.
    {
        let mut inner = h.fake.inner();
        inner.setup_latest = Some(genesis.clone());
        inner.setup_params.user = signer(FORGER_KEY).address();
    }
    match h.try_connect().await {
        Err(Error::Config(message)) => assert!(message.contains("another user"), "{message}"),
        Err(e) => panic!("expected a configuration error, got {e:?}"),
        Ok(_) => panic!("the client connected to another user's channel"),
    }
    assert_eq!(h.file(), file, "the stored channel did not change");

    // A client with no store at all stores nothing it refused.
    let fresh_dir = tempfile::tempdir().expect("dir");
    let fresh_path = fresh_dir.path().join("channel.json");
    {
        let mut inner = h.fake.inner();
        inner.setup_params.user = h.user.address();
        inner.setup_latest = Some(SignedState {
            state: robbed.clone(),
            user_signature: node_signature,
            node_signature,
        });
    }
    let result = Client::connect(
        h.client_config(),
        B256::repeat_byte(USER_KEY),
        Arc::new(FileStore::new(&fresh_path)),
    )
    .await;
    assert!(matches!(result, Err(Error::Refused(_))), "{result:?}");
    assert!(!fresh_path.exists(), "nothing stored");

    // The honest state still connects.
    h.fake.inner().setup_latest = Some(genesis.clone());
    let client = h.connect().await;
    assert_eq!(client.export_state().await, Some(genesis.clone()));

    // Once connected, a resync (GET /channel/restore) with the forgery, or with other parameters, is refused too.
    h.fake.inner().setup_latest = Some(SignedState {
        state: robbed.clone(),
        user_signature: node_signature,
        node_signature,
    });
    match client.resync().await {
        Err(Error::Refused(reason)) => assert!(reason.contains("does not check out"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    {
        let mut inner = h.fake.inner();
        inner.setup_latest = Some(genesis.clone());
        inner.setup_params.epoch = 1;
    }
    match client.resync().await {
        Err(Error::Refused(reason)) => assert!(reason.contains("other parameters"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(h.file(), file, "the stored channel did not change");
    assert_eq!(client.export_state().await, Some(genesis));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_or_a_configuration_for_another_node_chain_or_account_is_never_signed() {
    let h = Harness::start().await;
    let lies = [
        (LoginLie::Domain, "evil.example"),
        (LoginLie::Chain, "chain"),
        (LoginLie::Address, "0x"),
        (LoginLie::Expired, "expired"),
    ];
    for (lie, names) in lies {
        h.fake.inner().login_lie = Some(lie);
        h.forget_calls();
        match h.try_connect().await {
            Err(Error::Protocol(e)) => assert!(e.to_string().contains(names), "{lie:?}: {e}"),
            Err(e) => panic!("{lie:?}: expected the login to be refused, got {e:?}"),
            Ok(_) => panic!("{lie:?}: the client signed the login"),
        }
        assert!(
            !h.called("POST /auth/login"),
            "{lie:?}: no signature was sent"
        );
        assert!(h.file().is_empty(), "{lie:?}: nothing stored");
    }
    h.fake.inner().login_lie = None;

    // The node says it is another node, on another chain or contract, than the client was told to trust.
    let honest = h.fake.config.clone();
    let configs = [
        (
            "node key",
            NodeConfig {
                node: signer(FORGER_KEY).address(),
                ..honest.clone()
            },
        ),
        (
            "chain",
            NodeConfig {
                chain_id: 1,
                ..honest.clone()
            },
        ),
        (
            "contract",
            NodeConfig {
                channel_manager: Address::repeat_byte(0xdd),
                ..honest.clone()
            },
        ),
    ];
    for (what, lie) in configs {
        h.fake.inner().config_lie = Some(lie);
        h.forget_calls();
        match h.try_connect().await {
            Err(Error::Config(message)) => assert!(message.contains(what), "{what}: {message}"),
            Err(e) => panic!("{what}: expected a configuration error, got {e:?}"),
            Ok(_) => panic!("{what}: the client connected"),
        }
        assert_eq!(h.calls(), vec!["GET /config".to_string()], "{what}");
        assert!(h.file().is_empty(), "{what}: nothing stored");
    }
    h.fake.inner().config_lie = None;
    h.connect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_cannot_cancel_its_lock_to_the_client_before_it_expires() {
    let h = Harness::start().await;
    let client = h.connect().await;
    let mut events = client.events();
    let amount = wei(100);
    let expiry = now() + 24 * 3600;
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
    // The client takes the lock; the node then does not answer its resolve.
    h.fake.inner().answer = Answer::Unavailable;
    let (state, proposal) = h.node_proposes(Update::CreateLock { lock: lock.clone() });
    h.offer(
        proposal,
        Some(state),
        Some(IncomingPayment {
            id: lock.id,
            payer: signer(PAYEE_KEY).address(),
            encrypted_preimage: Some(sealed),
        }),
    );
    let taken = client.sync().await;
    assert!(
        matches!(&taken, Err(Error::Node { code, .. }) if code == "UNAVAILABLE"),
        "{taken:?}"
    );
    assert_eq!(client.channel().await.locks, vec![lock.clone()]);
    let before = held(&h, &client).await;
    assert_eq!(before.nonce, 3);
    while events.try_recv().is_ok() {}

    // Instead the node proposes to take its lock back, long before it expires.
    // The validator would not let the node make it, so it is built by hand: the lock gone back to the node.
    let mut cancelled = h.state();
    cancelled.nonce += 1;
    cancelled.locks.retain(|l| l.id != lock.id);
    cancelled.assets[0].locked_node -= amount;
    cancelled.assets[0].balance_node += amount;
    let cancel = Proposal {
        nonce: cancelled.nonce,
        update: Update::CancelLock { id: lock.id },
        signature: h
            .fake
            .node
            .sign_digest(&h.fake.digest(&cancelled))
            .expect("sign"),
    };
    h.forget_calls();
    h.offer(cancel, None, None);
    assert_refused(client.sync().await, "only from its expiry", &mut events);
    assert_eq!(held(&h, &client).await, before, "nothing changed");
    assert!(!h.called("POST /channel/countersign"), "nothing was signed");

    // Once the node answers again, the client claims the lock with its preimage.
    {
        let mut inner = h.fake.inner();
        inner.pending = None;
        inner.pending_state = None;
        inner.answer = Answer::Honest;
    }
    client.refresh().await.expect("the resolve goes through");
    assert_eq!(client.balance(ETH).await, wei(FUNDED) + amount);
    assert!(client.channel().await.locks.is_empty());
}
