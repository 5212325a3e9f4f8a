//! Test support for the node's tests: a throwaway PostgreSQL server and channel fixtures.
#![allow(dead_code)]

pub mod postgres;

use std::sync::Arc;

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    signers::local::PrivateKeySigner,
};
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use spoke_contracts::{deploy, http_provider, Deployment};
use spoke_node::{
    api::{
        app,
        collateral::{Bounds, CollateralPolicy},
        AppState,
    },
    chain::RpcChain,
    store::SqlStore,
    tx::TxSender,
};
use tower::ServiceExt;

use spoke_protocol::{
    apply, hex, login_digest, state_digest, Address, ChannelParams, ChannelState, Context, Side,
    Signature, Signer, Timing, Update, B256, U256,
};

pub const NOW: u64 = 1_700_000_000;

/// A node in-process (its router, for `oneshot`) over a real SQLite store (or PostgreSQL, [`Node::start_on`]) and
/// a real anvil chain with the contracts deployed. The node's key is anvil's account 0; users are the others.
/// Everything stops on drop.
pub struct Node {
    pub anvil: AnvilInstance,
    pub deployment: Deployment,
    pub store: Arc<SqlStore>,
    pub router: Router,
    pub state: AppState,
    _dir: tempfile::TempDir,
    /// With [`Db::Postgres`]: its server, which a test may stop and restart.
    pub postgres: Option<postgres::Postgres>,
}

/// The database a test node stores in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    /// A PostgreSQL server of the test's own.
    Postgres,
}

impl Node {
    pub async fn start(cors_origins: Vec<String>) -> Node {
        Node::start_on(Db::Sqlite, cors_origins).await
    }

    pub async fn start_on(db: Db, cors_origins: Vec<String>) -> Node {
        Node::launch(db, cors_origins, 0).await
    }

    /// A node that counts a deposit only once `confirmations` blocks are on top of it (the others count at once).
    pub async fn start_with_confirmations(confirmations: u64) -> Node {
        Node::launch(Db::Sqlite, vec![], confirmations).await
    }

    async fn launch(db: Db, cors_origins: Vec<String>, confirmations: u64) -> Node {
        let anvil = Anvil::at(spoke_contracts::anvil_binary()).spawn();
        let key = anvil.keys()[0].clone();
        let provider = http_provider(
            anvil.endpoint().as_str(),
            PrivateKeySigner::from(key.clone()),
        )
        .expect("provider");
        let deployment = deploy(&provider, 3600).await.expect("deploy");
        let dir = tempfile::tempdir().expect("temp dir");
        let postgres = (db == Db::Postgres).then(postgres::Postgres::start);
        let url = match &postgres {
            Some(server) => server.url.clone(),
            None => format!("sqlite://{}", dir.path().join("node.db").display()),
        };
        let store = Arc::new(SqlStore::connect(&url).await.expect("store"));
        let signer = Signer::from_bytes(&B256::from_slice(&key.to_bytes())).expect("node key");
        let state = AppState {
            store: store.clone(),
            chain: Arc::new(RpcChain::new(
                provider,
                deployment.channel_manager,
                confirmations,
            )),
            node: signer.address(),
            signer: Arc::new(signer),
            domain: "127.0.0.1:8080".into(),
            chain_id: anvil.chain_id(),
            channel_manager: deployment.channel_manager,
            tokens: vec![deployment.dai],
            timing: Timing::default(),
            max_locks: 64,
            session_seconds: 3600,
            login_seconds: 300,
            cors_origins,
            hub: Default::default(),
            min_lock: U256::from(1),
            tx: Arc::new(
                TxSender::new(
                    anvil.endpoint().as_str(),
                    B256::from_slice(&key.to_bytes()),
                    anvil.chain_id(),
                    deployment.channel_manager,
                )
                .expect("tx sender"),
            ),
            collateral: Arc::new(CollateralPolicy {
                assets: Default::default(),
                default: Bounds {
                    floor: U256::from(10),
                    ceiling: U256::from(1_000_000),
                },
                wait: std::time::Duration::from_secs(5),
                max_in_flight: 8,
                total_cap: U256::MAX,
                confirmations: 1,
            }),
            reveal_after: std::time::Duration::from_secs(60),
            watch_interval: std::time::Duration::from_secs(1),
            exchange: Default::default(),
            admin_token: None,
            metrics_public: false,
            metrics: Default::default(),
            limits: Default::default(),
        };
        let router = app(state.clone()).expect("router");
        Node {
            anvil,
            deployment,
            store,
            router,
            state,
            _dir: dir,
            postgres,
        }
    }

    /// Anvil's account `index` as a protocol signer and a chain provider.
    pub fn account(&self, index: usize) -> (Signer, alloy::providers::DynProvider) {
        let key = self.anvil.keys()[index].clone();
        let signer = Signer::from_bytes(&B256::from_slice(&key.to_bytes())).expect("key");
        let provider = http_provider(self.anvil.endpoint().as_str(), PrivateKeySigner::from(key))
            .expect("provider");
        (signer, provider)
    }

    /// The ChannelManager, sending from anvil's account `index`.
    pub fn manager(
        &self,
        index: usize,
    ) -> spoke_contracts::bindings::ChannelManager::ChannelManagerInstance<
        alloy::providers::DynProvider,
    > {
        spoke_contracts::bindings::ChannelManager::new(
            self.deployment.channel_manager,
            self.account(index).1,
        )
    }

    /// A JSON-RPC call straight to anvil (`evm_mine`, `evm_setAutomine`, `anvil_*`, …) and its answer.
    pub async fn chain_rpc(&self, method: &'static str, params: Value) -> Value {
        use alloy::providers::Provider as _;
        // Anvil's last account: a party to no channel in any test.
        let last = self.anvil.keys().len() - 1;
        self.account(last)
            .1
            .raw_request(method.into(), params)
            .await
            .expect(method)
    }
}

pub struct Channel {
    pub user: Signer,
    pub node: Signer,
    pub params: ChannelParams,
}

impl Channel {
    /// A channel of user key `user_byte` (repeated into 32 bytes) at `epoch`.
    pub fn new(user_byte: u8, epoch: u64) -> Channel {
        let user = Signer::from_bytes(&B256::repeat_byte(user_byte)).expect("user key");
        let node = Signer::from_bytes(&B256::repeat_byte(0xee)).expect("node key");
        let params = ChannelParams {
            chain_id: 31337,
            contract: Address::repeat_byte(0xcc),
            user: user.address(),
            node: node.address(),
            epoch,
            allowed_assets: vec![],
            timing: Timing::default(),
            max_locks: 8,
        };
        Channel { user, node, params }
    }

    /// The channel of anvil account `user` with the node (account 0) at epoch 0, on `n`'s deployment.
    pub fn on_node(n: &Node, user: usize) -> Channel {
        let (user, _) = n.account(user);
        let (node, _) = n.account(0);
        Channel {
            params: n.state.params(user.address(), 0),
            user,
            node,
        }
    }

    pub fn id(&self) -> B256 {
        self.params.channel_id()
    }

    /// The store's record of this channel.
    pub fn record(&self) -> spoke_node::store::ChannelRecord {
        spoke_node::store::ChannelRecord {
            channel_id: self.id(),
            user: self.params.user,
            epoch: self.params.epoch,
        }
    }

    /// The update counting `amount` on top of `stored`, signed by the node only: what the node persists before it
    /// sends its signature.
    pub fn next(
        &self,
        stored: &spoke_node::store::StoredUpdate,
        amount: u64,
    ) -> spoke_node::store::StoredUpdate {
        let (update, state) = self.deposit(&stored.state, amount);
        spoke_node::store::StoredUpdate {
            channel_id: state.channel_id,
            nonce: state.nonce,
            update: Some(update),
            node_signature: Some(self.sign(Side::Node, &state)),
            user_signature: None,
            commitment_signatures: None,
            state,
        }
    }

    /// `update` proposed by `proposer` on `state`, at the wall clock's time.
    pub fn apply_now(&self, state: &ChannelState, update: &Update, proposer: Side) -> ChannelState {
        let ctx = Context {
            now: unix_now(),
            proposer,
            params: &self.params,
            proposer_key: None,
        };
        apply(state, update, &ctx).expect("a valid update")
    }

    pub fn initial(&self) -> ChannelState {
        ChannelState::initial(self.params.channel_id())
    }

    /// The state after counting `amount` more of the user's ETH deposit.
    pub fn deposit(&self, state: &ChannelState, amount: u64) -> (Update, ChannelState) {
        let update = Update::CountDeposit {
            asset: Address::ZERO,
            side: Side::User,
            amount: U256::from(amount),
        };
        let ctx = Context {
            now: NOW,
            proposer: Side::User,
            params: &self.params,
            proposer_key: None,
        };
        let next = apply(state, &update, &ctx).expect("valid deposit");
        (update, next)
    }

    pub fn sign(&self, side: Side, state: &ChannelState) -> Signature {
        let digest = state_digest(&self.params.domain(), state);
        match side {
            Side::User => self.user.sign_digest(&digest),
            Side::Node => self.node.sign_digest(&digest),
        }
        .expect("sign")
    }
}

// ---- HTTP helpers ----

pub async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let (status, _, body) = call_with_headers(router, request).await;
    (status, body)
}

/// [`call`], with the answer's headers.
pub async fn call_with_headers(
    router: &Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.expect("response");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

pub fn post(path: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::empty()).expect("request")
}

pub fn sign(signer: &Signer, message: &str) -> String {
    hex::encode_prefixed(
        signer
            .sign_digest(&login_digest(message))
            .expect("sign")
            .as_bytes(),
    )
}

pub async fn challenge(router: &Router, address: Address) -> String {
    let (status, body) = call(
        router,
        post("/auth/challenge", json!({ "address": address })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["message"].as_str().expect("a message").to_string()
}

pub async fn login(router: &Router, signer: &Signer) -> String {
    let message = challenge(router, signer.address()).await;
    let (status, body) = call(
        router,
        post(
            "/auth/login",
            json!({ "message": message, "signature": sign(signer, &message) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().expect("a token").to_string()
}

pub fn post_as(path: &str, body: Value, token: &str) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(body.to_string()))
        .expect("request")
}

// ---- Helpers for the adversarial tests (bad_input.rs) ----

/// Unix seconds from the system clock, as the node reads it.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A user (anvil account `index`) who deposited ETH on chain, logged in and set the channel up.
pub struct Opened {
    pub user: Signer,
    pub token: String,
    pub params: ChannelParams,
}

/// Logs anvil account `index` in and sets its channel up, after depositing `deposit` wei of ETH on chain (none
/// when zero).
pub async fn open_with_deposit(n: &Node, index: usize, deposit: U256) -> Opened {
    let (user, provider) = n.account(index);
    if !deposit.is_zero() {
        let manager = spoke_contracts::bindings::ChannelManager::new(
            n.deployment.channel_manager,
            provider.clone(),
        );
        let receipt = manager
            .deposit(user.address(), n.state.node, Address::ZERO, 0, deposit)
            .value(deposit)
            .send()
            .await
            .expect("sent")
            .get_receipt()
            .await
            .expect("receipt");
        assert!(receipt.status(), "the deposit went through");
    }
    let token = login(&n.router, &user).await;
    let (status, body) = call(&n.router, post_as("/channel/setup", json!({}), &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let params: ChannelParams = serde_json::from_value(body["params"].clone()).expect("params");
    Opened {
        user,
        token,
        params,
    }
}

/// The context in which `side` proposes in a channel of `params`, now.
pub fn ctx_now(params: &ChannelParams, side: Side) -> Context<'_> {
    Context {
        now: unix_now(),
        proposer: side,
        params,
        proposer_key: None,
    }
}

/// The user's count of `amount` wei of its own ETH deposit.
pub fn count_user_eth(amount: U256) -> Update {
    Update::CountDeposit {
        asset: Address::ZERO,
        side: Side::User,
        amount,
    }
}

/// `POST /channel/propose` of `update` over `current`, proposed and signed by the user now: the state proposed
/// and the node's answer.
pub async fn propose_as_user(
    n: &Node,
    o: &Opened,
    current: &ChannelState,
    update: Update,
) -> (ChannelState, (StatusCode, Value)) {
    let (next, proposal) =
        spoke_protocol::propose(current, update, &ctx_now(&o.params, Side::User), &o.user)
            .expect("propose");
    let answer = call(
        &n.router,
        post_as(
            "/channel/propose",
            json!({ "proposal": proposal }),
            &o.token,
        ),
    )
    .await;
    (next, answer)
}

/// Counts `amount` wei of the user's ETH deposit into `current` through `/channel/propose`, asserting the node
/// co-signs. Returns the new state.
pub async fn count_eth(n: &Node, o: &Opened, current: &ChannelState, amount: U256) -> ChannelState {
    let (next, (status, body)) = propose_as_user(n, o, current, count_user_eth(amount)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    next
}

pub async fn stored_latest(n: &Node, channel_id: B256) -> spoke_node::store::StoredUpdate {
    use spoke_node::store::Store as _;
    n.store
        .latest(channel_id)
        .await
        .expect("latest")
        .expect("the channel has a state")
}

/// `GET /channel/restore` as the holder of `token`: the newest double-signed state the node hands out.
pub async fn restore(n: &Node, token: &str) -> Value {
    let (status, body) = call(&n.router, get("/channel/restore", Some(token))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The router served over real TCP on 127.0.0.1 (a free port); the server stops when this drops.
pub struct Served {
    pub address: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn serve(router: Router) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let address = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    Served { address, task }
}

/// What the node holds of a channel: the newest stored state with its signatures, and the restore answer.
#[derive(Debug, PartialEq)]
pub struct AtNode {
    pub latest: spoke_node::store::StoredUpdate,
    pub restore: Value,
}

pub async fn at_node(n: &Node, o: &Opened) -> AtNode {
    AtNode {
        latest: stored_latest(n, o.params.channel_id()).await,
        restore: restore(n, &o.token).await,
    }
}

/// Asserts the status and the error code of an answer, and returns its message.
#[track_caller]
pub fn refused(answer: (StatusCode, Value), status: StatusCode, code: &str) -> String {
    let (got, body) = answer;
    assert_eq!(
        (got, body["code"].as_str()),
        (status, Some(code)),
        "expected {status} {code}, got {got}: {body}"
    );
    let message = body["message"].as_str().expect("a message").to_string();
    assert!(!message.is_empty(), "the message says why: {body}");
    message
}

#[track_caller]
pub fn assert_names(message: &str, what: &str) {
    assert!(
        message.contains(what),
        "the message should name {what:?}: {message}"
    );
}

/// Asks the node to collateralize `o`'s channel in ETH and waits for its `countDeposit`, which it proposes and
/// leaves waiting for the user's countersignature. Returns that proposal.
pub async fn node_proposal(n: &Node, o: &Opened) -> spoke_protocol::Proposal {
    let (status, body) = call(
        &n.router,
        post_as(
            "/collateral/request",
            json!({ "asset": Address::ZERO }),
            &o.token,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, body) = call(&n.router, get("/channel/pending", Some(&o.token))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if !body.is_null() {
            return serde_json::from_value(body["proposal"].clone()).expect("a proposal");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node's collateral was not proposed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
