//! `spoke-node watchtower` on a real anvil chain with a real SQLite store: a user's exported state answers the
//! node's stale dispute while the user is away and the channel concludes at it; bad states are refused and change
//! nothing; `--state` files load at start (the binary, on a free port); disputes at the newest state are left alone.

mod common;

use std::{
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use alloy::{
    primitives::Bytes,
    providers::{DynProvider, Provider},
};
use axum::{http::StatusCode, Router};
use common::{call, get, post, unix_now, Node};
use serde_json::{json, Value};
use spoke_contracts::{bindings::ChannelManager, sol_state};
use spoke_node::{
    chain::RpcChain,
    store::{SqlStore, WatchtowerStore},
    tx::TxSender,
    watchtower::{self, Watchtower},
};
use spoke_protocol::{
    sha256, state_digest, Address, ChannelParams, ChannelState, Lock, Side, SignedState, Signer,
    Update, B256, U256,
};

/// Anvil's account that pays the watchtower's gas: not a party to any channel here.
const TOWER_KEY: usize = 5;
/// Anvil's account that concludes and claims: anyone may.
const BYSTANDER: usize = 7;
const WAIT: Duration = Duration::from_secs(30);

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn secret(n: &Node, index: usize) -> B256 {
    B256::from_slice(&n.anvil.keys()[index].to_bytes())
}

/// The channel of anvil account `user` with the node (account 0), whose states are built and signed here.
use common::Channel as Pair;

impl Pair {
    fn signed(&self, state: &ChannelState) -> SignedState {
        let digest = state_digest(&self.params.domain(), state);
        SignedState {
            state: state.clone(),
            user_signature: self.user.sign_digest(&digest).expect("sign"),
            node_signature: self.node.sign_digest(&digest).expect("sign"),
        }
    }

    /// Nonce 1: the node's 10 ETH counted. Nonce 2: the node locks 4 ETH to the user. Nonce 3: the user resolves
    /// it (user 4, node 6). The node gains by disputing with nonce 1 or 2.
    fn states(&self) -> [SignedState; 3] {
        let counted = self.apply_now(
            &ChannelState::initial(self.id()),
            &Update::CountDeposit {
                asset: Address::ZERO,
                side: Side::Node,
                amount: eth(10),
            },
            Side::Node,
        );
        let preimage = B256::repeat_byte(0x42);
        let lock = Lock {
            id: B256::repeat_byte(0x01),
            asset: Address::ZERO,
            amount: eth(4),
            sender: Side::Node,
            hashlock: sha256(preimage),
            expiry: unix_now() + 3 * 3600,
        };
        let locked = self.apply_now(&counted, &Update::CreateLock { lock }, Side::Node);
        let resolved = self.apply_now(
            &locked,
            &Update::ResolveLock {
                id: B256::repeat_byte(0x01),
                preimage,
            },
            Side::User,
        );
        [
            self.signed(&counted),
            self.signed(&locked),
            self.signed(&resolved),
        ]
    }

    /// What the user's client exports (`Client::export_snapshot`): spoke-client's own type, read from its parts
    /// and written back the way the client writes it, so a change of the export format breaks this test.
    fn export(&self, latest: Option<&SignedState>) -> Value {
        let snapshot: spoke_client::Snapshot = serde_json::from_value(json!({
            "params": self.params,
            "latest": latest,
            "preimages": [[B256::repeat_byte(0x01), B256::repeat_byte(0x42)]],
        }))
        .expect("a client snapshot");
        serde_json::to_value(snapshot).expect("export")
    }
}

/// The node's side deposits `amount` of ETH into the channel with `user`.
async fn node_deposit(n: &Node, user: Address, amount: U256) {
    let hash = n
        .state
        .tx
        .deposit(user, Address::ZERO, amount)
        .await
        .expect("deposit");
    n.state.tx.wait(hash, 1, WAIT).await.expect("mined");
}

fn manager(n: &Node, account: usize) -> ChannelManager::ChannelManagerInstance<DynProvider> {
    ChannelManager::new(n.deployment.channel_manager, n.account(account).1)
}

/// The node (account 0) disputes the channel with `signed`.
async fn node_disputes(n: &Node, pair: &Pair, signed: &SignedState) {
    let sig = |s: &spoke_protocol::Signature| Bytes::from(s.as_bytes().to_vec());
    let receipt = manager(n, 0)
        .dispute(
            pair.params.user,
            pair.params.node,
            sol_state(&signed.state),
            sig(&signed.user_signature),
            sig(&signed.node_signature),
        )
        .send()
        .await
        .expect("dispute sent")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(receipt.status(), "the dispute went through");
}

/// The nonce the channel's dispute holds on chain.
async fn disputed_nonce(n: &Node, pair: &Pair) -> u64 {
    manager(n, BYSTANDER)
        .channel(pair.id())
        .call()
        .await
        .expect("channel")
        .disputeNonce
}

/// Moves the chain's clock `seconds` forward and mines a block at the new time.
async fn advance(n: &Node, seconds: u64) {
    let provider = n.account(BYSTANDER).1;
    let _: Value = provider
        .raw_request("evm_increaseTime".into(), (seconds,))
        .await
        .expect("evm_increaseTime");
    let _: Value = provider
        .raw_request("evm_mine".into(), ())
        .await
        .expect("evm_mine");
}

/// A watchtower in-process: its router (for `oneshot`) and, unless paused, its loop, over its own SQLite file.
/// The loop stops on drop.
struct Tower {
    watchtower: Watchtower,
    router: Router,
    store: Arc<SqlStore>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Tower {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Tower {
    async fn start(n: &Node) -> Tower {
        let mut tower = Tower::paused(n).await;
        tower.task = Some(watchtower::spawn(tower.watchtower.clone()));
        tower
    }

    /// Without its loop: the test runs each pass with [`watchtower::tick`].
    async fn paused(n: &Node) -> Tower {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("watchtower.db").display());
        let store = Arc::new(SqlStore::connect(&url).await.expect("store"));
        let manager = n.deployment.channel_manager;
        let watchtower = Watchtower {
            store: store.clone(),
            chain: Arc::new(RpcChain::new(n.account(TOWER_KEY).1, manager, 0)),
            tx: Arc::new(
                TxSender::new(
                    n.anvil.endpoint().as_str(),
                    secret(n, TOWER_KEY),
                    n.anvil.chain_id(),
                    manager,
                )
                .expect("sender"),
            ),
            chain_id: n.anvil.chain_id(),
            channel_manager: manager,
            poll_interval: Duration::from_millis(100),
        };
        Tower {
            router: watchtower::router(watchtower.clone()),
            watchtower,
            store,
            task: None,
            _dir: dir,
        }
    }

    async fn register(&self, export: Value) -> (StatusCode, Value) {
        call(&self.router, post("/watchtower/states", export)).await
    }

    /// `GET /watchtower/states`.
    async fn list(&self) -> Vec<Value> {
        let (status, body) = call(&self.router, get("/watchtower/states", None)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["states"].as_array().expect("a list").clone()
    }

    /// The listing of one channel, once `done` holds for it.
    async fn wait_for(&self, channel_id: B256, done: impl Fn(&Value) -> bool) -> Value {
        let id = format!("{channel_id:#x}");
        let start = std::time::Instant::now();
        loop {
            let listed = self.list().await;
            if let Some(entry) = listed.iter().find(|s| s["channelId"] == json!(id)) {
                if done(entry) {
                    return entry.clone();
                }
            }
            assert!(start.elapsed() < WAIT, "never reached: {listed:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn sent_transactions(&self, n: &Node) -> u64 {
        n.account(BYSTANDER)
            .1
            .get_transaction_count(self.watchtower.tx.address())
            .await
            .expect("nonce")
    }
}

#[tokio::test]
async fn the_nodes_stale_dispute_is_answered_and_the_channel_concludes_at_the_users_state() {
    let n = Node::start(vec![]).await;
    let pair = Pair::on_node(&n, 1);
    node_deposit(&n, pair.params.user, eth(10)).await;
    let [counted, _, latest] = pair.states();
    let tower = Tower::start(&n).await;

    let (status, body) = tower.register(pair.export(Some(&latest))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["channelId"], &body["nonce"], &body["change"]),
        (
            &json!(format!("{:#x}", pair.id())),
            &json!(3),
            &json!("added")
        )
    );

    // The user is away; the node disputes with the nonce-1 state, which gives it all 10 ETH.
    node_disputes(&n, &pair, &counted).await;
    let answered = tower
        .wait_for(pair.id(), |s| {
            s["status"] == "answered" && s["disputedNonce"] == json!(3)
        })
        .await;
    assert_eq!(answered["nonce"], json!(3));
    let answer: B256 =
        serde_json::from_value(answered["answerTx"].clone()).expect("the answer's hash");
    let receipt = n
        .account(BYSTANDER)
        .1
        .get_transaction_receipt(answer)
        .await
        .expect("receipt read")
        .expect("mined");
    assert!(receipt.status());
    assert_eq!(receipt.from, tower.watchtower.tx.address());
    assert_eq!(disputed_nonce(&n, &pair).await, 3);
    // Once: however many ticks see the answered dispute.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(tower.sent_transactions(&n).await, 1);

    // After the challenge window (3600 s in these tests) anyone concludes with the state the dispute holds.
    advance(&n, 3601).await;
    let bystander = manager(&n, BYSTANDER);
    let receipt = bystander
        .conclude(pair.params.user, pair.params.node, sol_state(&latest.state))
        .send()
        .await
        .expect("conclude sent")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(receipt.status(), "concluded with the nonce-3 state");
    tower
        .wait_for(pair.id(), |s| s["status"] == "concluded")
        .await;

    // Each side gets what nonce 3 gives it: the user 4 ETH, the node 6.
    let reader = n.account(BYSTANDER).1;
    for (side, address, owed) in [
        (Side::User, pair.params.user, eth(4)),
        (Side::Node, pair.params.node, eth(6)),
    ] {
        let before = reader.get_balance(address).await.expect("balance");
        let receipt = bystander
            .claim(
                pair.params.user,
                pair.params.node,
                0,
                Address::ZERO,
                side as u8,
            )
            .send()
            .await
            .expect("claim sent")
            .get_receipt()
            .await
            .expect("receipt");
        assert!(receipt.status(), "the {side} claims");
        let after = reader.get_balance(address).await.expect("balance");
        assert_eq!(
            after - before,
            owed,
            "the {side} is paid its nonce-3 balance"
        );
    }
}

#[tokio::test]
async fn a_dispute_that_began_before_the_state_was_registered_is_answered() {
    let n = Node::start(vec![]).await;
    let pair = Pair::on_node(&n, 2);
    node_deposit(&n, pair.params.user, eth(10)).await;
    let [_, locked, latest] = pair.states();
    node_disputes(&n, &pair, &locked).await;
    advance(&n, 60).await;

    // The watchtower's cursor starts at the head, after the dispute; reading the channel's record finds it.
    let tower = Tower::start(&n).await;
    let (status, body) = tower.register(pair.export(Some(&latest))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Answered, and then the answer's own `Responded` event is read back.
    tower
        .wait_for(pair.id(), |s| {
            s["status"] == "answered" && s["disputedNonce"] == json!(3)
        })
        .await;
    assert_eq!(disputed_nonce(&n, &pair).await, 3);
    assert_eq!(tower.sent_transactions(&n).await, 1);
}

#[tokio::test]
async fn bad_states_are_refused_and_leave_the_watched_state_unchanged() {
    let n = Node::start(vec![]).await;
    let pair = Pair::on_node(&n, 3);
    let [counted, locked, latest] = pair.states();
    let tower = Tower::start(&n).await;
    let (status, body) = tower.register(pair.export(Some(&locked))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let refused = |status: StatusCode, code: &str, body: &Value, needle: &str| {
        let expected = match code {
            "BAD_REQUEST" | "BAD_SIGNATURE" => StatusCode::BAD_REQUEST,
            "STALE_NONCE" | "CONFLICTING_STATE" => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        assert_eq!(
            (status, body["code"].as_str()),
            (expected, Some(code)),
            "{body}"
        );
        let message = body["message"].as_str().expect("a message");
        assert!(message.contains(needle), "{message:?} names {needle:?}");
    };

    // A state changed after both signed it: the user's signature no longer recovers to the user.
    let mut tampered = latest.clone();
    tampered.state.assets[0].balance_user = eth(10);
    tampered.state.assets[0].balance_node = U256::ZERO;
    let (status, body) = tower.register(pair.export(Some(&tampered))).await;
    refused(status, "BAD_SIGNATURE", &body, "user signature");

    // Signed by a stranger in the node's slot.
    let mut forged = latest.clone();
    let stranger = Signer::from_bytes(&B256::repeat_byte(0x77)).expect("key");
    forged.node_signature = stranger
        .sign_digest(&state_digest(&pair.params.domain(), &latest.state))
        .expect("sign");
    let (status, body) = tower.register(pair.export(Some(&forged))).await;
    refused(status, "BAD_SIGNATURE", &body, "node signature");

    // Properly signed, but for another contract or another chain.
    for (what, params) in [
        (
            "ChannelManager",
            ChannelParams {
                contract: Address::repeat_byte(0xcc),
                ..pair.params.clone()
            },
        ),
        (
            "chain",
            ChannelParams {
                chain_id: 1,
                ..pair.params.clone()
            },
        ),
    ] {
        let other = Pair {
            params,
            user: pair.user.clone(),
            node: pair.node.clone(),
        };
        let [_, _, elsewhere] = other.states();
        let (status, body) = tower.register(other.export(Some(&elsewhere))).await;
        refused(status, "WRONG_DEPLOYMENT", &body, what);
    }

    // Older than the watched state, and a different state at the same nonce.
    let (status, body) = tower.register(pair.export(Some(&counted))).await;
    refused(status, "STALE_NONCE", &body, "nonce 1 is not newer");
    let other_lock = pair.apply_now(
        &counted.state,
        &Update::CreateLock {
            lock: Lock {
                id: B256::repeat_byte(0x09),
                asset: Address::ZERO,
                amount: eth(1),
                sender: Side::Node,
                hashlock: sha256(B256::repeat_byte(0x10)),
                expiry: unix_now() + 3 * 3600,
            },
        },
        Side::Node,
    );
    let (status, body) = tower
        .register(pair.export(Some(&pair.signed(&other_lock))))
        .await;
    refused(status, "CONFLICTING_STATE", &body, "nonce 2");

    // Nothing to watch, and not an export at all.
    let (status, body) = tower.register(pair.export(None)).await;
    refused(status, "NO_STATE", &body, "no double-signed state");
    let (status, body) = tower.register(json!({ "params": 5 })).await;
    refused(status, "BAD_REQUEST", &body, "params");
    let (status, body) = tower.register(json!({ "latest": null })).await;
    refused(status, "BAD_REQUEST", &body, "params");

    // The watched state is still nonce 2, exactly as registered.
    let listed = tower.list().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (&listed[0]["nonce"], &listed[0]["status"]),
        (&json!(2), &json!("watching"))
    );
    let stored = tower
        .store
        .watched_state(pair.id())
        .await
        .expect("read")
        .expect("watched");
    assert_eq!(stored.signed, locked);

    // A newer one replaces it; the bare `{ params, latest }` form is read the same.
    let (status, body) = tower
        .register(json!({ "params": pair.params, "latest": latest }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["nonce"], &body["change"]),
        (&json!(3), &json!("replaced"))
    );
}

#[tokio::test]
async fn disputes_at_or_above_the_watched_nonce_are_left_alone() {
    let n = Node::start(vec![]).await;
    let at = Pair::on_node(&n, 4);
    let above = Pair::on_node(&n, 6);
    let tower = Tower::paused(&n).await;
    let mut memory = watchtower::Memory::default();
    let mut disputed = Vec::new();
    for (pair, watched) in [(&at, 2), (&above, 1)] {
        node_deposit(&n, pair.params.user, eth(10)).await;
        let states = pair.states();
        let (status, body) = tower.register(pair.export(Some(&states[watched]))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        disputed.push((pair, states[2].clone()));
    }
    // The first pass starts the cursor and reads both channels' records: no dispute yet.
    let pass = watchtower::tick(&tower.watchtower, &mut memory).await;
    assert_eq!(pass, watchtower::Pass::default());

    // `at` is disputed with the state the watchtower holds (nonce 3), `above` with a newer one than it holds.
    for (pair, state) in &disputed {
        node_disputes(&n, pair, state).await;
    }
    // Every pass sees the disputes and neither sends nor tries to send anything (a try would fail on chain and
    // count as a failure).
    for _ in 0..3 {
        let pass = watchtower::tick(&tower.watchtower, &mut memory).await;
        assert_eq!(pass, watchtower::Pass::default());
    }
    for pair in [&at, &above] {
        let id = format!("{:#x}", pair.id());
        let listed = tower.list().await;
        let seen = listed
            .iter()
            .find(|s| s["channelId"] == json!(id))
            .expect("listed");
        assert_eq!(
            (&seen["disputedNonce"], &seen["status"], &seen["answerTx"]),
            (&json!(3), &json!("watching"), &Value::Null),
            "{seen}"
        );
    }
    assert_eq!(tower.sent_transactions(&n).await, 0);
    assert_eq!(disputed_nonce(&n, &at).await, 3);
    assert_eq!(disputed_nonce(&n, &above).await, 3);
}

/// The watchtower binary, killed by its PID on drop.
struct Binary {
    child: Child,
    url: String,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port()
}

async fn http(method: &str, url: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    use alloy::transports::http::reqwest;
    let client = reqwest::Client::new();
    let request = match body {
        Some(b) => client
            .request(method.parse().expect("method"), url)
            .header("content-type", "application/json")
            .body(b.to_string()),
        None => client.request(method.parse().expect("method"), url),
    };
    let response = request.send().await.ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// Starts `spoke-node watchtower` with these `--state` files and waits until it answers `/health`.
async fn start_binary(n: &Node, dir: &std::path::Path, states: &[&std::path::Path]) -> Binary {
    let key_file = dir.join("watchtower.key");
    std::fs::write(&key_file, format!("{:#x}", secret(n, TOWER_KEY))).expect("key file");
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_spoke-node"));
    command
        .arg("watchtower")
        .args(["--rpc-url", n.anvil.endpoint().as_str()])
        .args([
            "--channel-manager",
            &n.deployment.channel_manager.to_string(),
        ])
        .args(["--chain-id", &n.anvil.chain_id().to_string()])
        .arg("--key-file")
        .arg(&key_file)
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("watchtower.db").display()))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--poll-interval-ms", "100"]);
    for state in states {
        command.arg("--state").arg(state);
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("watchtower.log"))
        .expect("log file");
    let child = command
        .env_remove("SPOKE_WATCHTOWER_KEY")
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the binary starts");
    let binary = Binary {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let start = std::time::Instant::now();
    loop {
        if let Some((200, _)) = http("GET", &format!("{}/health", binary.url), None).await {
            return binary;
        }
        let log = std::fs::read_to_string(dir.join("watchtower.log")).unwrap_or_default();
        assert!(
            start.elapsed() < WAIT,
            "the watchtower never answered:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_binary_loads_state_files_at_start_and_the_same_state_twice_is_harmless() {
    let n = Node::start(vec![]).await;
    let pair = Pair::on_node(&n, 8);
    let [counted, _, latest] = pair.states();
    let dir = tempfile::tempdir().expect("temp dir");
    let newest = dir.path().join("alice-export.json");
    std::fs::write(&newest, pair.export(Some(&latest)).to_string()).expect("export file");

    // The same file twice: the second is the same state again.
    let tower = start_binary(&n, dir.path(), &[&newest, &newest]).await;
    let list_url = format!("{}/watchtower/states", tower.url);
    let (status, body) = http("GET", &list_url, None).await.expect("listed");
    assert_eq!(status, 200, "{body}");
    let listed = body["states"].as_array().expect("a list");
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(
        (
            &listed[0]["nonce"],
            &listed[0]["status"],
            &listed[0]["epoch"]
        ),
        (&json!(3), &json!("watching"), &json!(0))
    );
    let (status, body) = http("POST", &list_url, Some(&pair.export(Some(&latest))))
        .await
        .expect("registered");
    assert_eq!(
        (status, &body["change"]),
        (200, &json!("unchanged")),
        "{body}"
    );
    drop(tower);

    // A restart with an older file keeps the newer state it holds, and starts.
    let older = dir.path().join("old-export.json");
    std::fs::write(&older, pair.export(Some(&counted)).to_string()).expect("export file");
    let tower = start_binary(&n, dir.path(), &[&older]).await;
    let (_, body) = http("GET", &format!("{}/watchtower/states", tower.url), None)
        .await
        .expect("listed");
    assert_eq!(body["states"][0]["nonce"], json!(3), "{body}");
    drop(tower);

    // A bad file stops the start with an error that names it.
    let bad = dir.path().join("bad-export.json");
    std::fs::write(&bad, "{\"params\": 1}").expect("bad file");
    let mut refused = Binary {
        child: start_binary_expecting_exit(&n, dir.path(), &bad),
        url: String::new(),
    };
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = refused.child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(
            start.elapsed() < WAIT,
            "the watchtower started with a bad file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());

    let log = std::fs::read_to_string(dir.path().join("watchtower.log")).expect("log");
    assert!(log.contains("bad-export.json"), "{log}");
    let key = format!("{:x}", secret(&n, TOWER_KEY));
    assert!(!log.contains(&key), "the log shows the key");
}

/// Starts the binary with one `--state` file it is expected to refuse.
fn start_binary_expecting_exit(n: &Node, dir: &std::path::Path, state: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("watchtower.log"))
        .expect("log file");
    Command::new(env!("CARGO_BIN_EXE_spoke-node"))
        .arg("watchtower")
        .args(["--rpc-url", n.anvil.endpoint().as_str()])
        .args([
            "--channel-manager",
            &n.deployment.channel_manager.to_string(),
        ])
        .arg("--key-file")
        .arg(dir.join("watchtower.key"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("watchtower.db").display()))
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--state")
        .arg(state)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the binary starts")
}
