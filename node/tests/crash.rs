//! kill -9 in the middle of payments: the node process dies with payments on both legs in flight, starts again
//! on the same database, and every payment ends complete on both legs or not at all, with value conserved. Then
//! the same at each crash point of a payment's path (`spoke_node::failpoint`), one at a time.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use alloy::{node_bindings::Anvil, signers::local::PrivateKeySigner};
use spoke_client::{Client, ClientConfig, EthChain, FileStore, NodeApi};
use spoke_contracts::{deploy, http_provider, mint_dai};
use spoke_node::store::Store as _;
use spoke_protocol::{wire::PaymentStatus, B256, U256};

fn dai(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// The node as a child process, killed when dropped.
struct NodeProcess(Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_healthy(url: &str) {
    let api = NodeApi::new(url);
    for _ in 0..300 {
        if api.get::<serde_json::Value>("/health").await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the node at {url} did not come up");
}

/// A chain with the contracts and Dai for everyone, and the node as a process that can be killed and started
/// again on the same database.
struct Harness {
    anvil: alloy::node_bindings::AnvilInstance,
    deployment: spoke_contracts::Deployment,
    dir: tempfile::TempDir,
    port: u16,
    url: String,
}

impl Harness {
    async fn new(accounts: usize) -> Harness {
        let anvil = Anvil::at(spoke_contracts::anvil_binary())
            .args(["--accounts", &accounts.to_string()])
            .spawn();
        let keys = anvil.keys().to_vec();
        let deployer = http_provider(
            anvil.endpoint().as_str(),
            PrivateKeySigner::from(keys[0].clone()),
        )
        .expect("provider");
        let deployment = deploy(&deployer, 3600).await.expect("deploy");
        mint_dai(&deployer, deployment.dai, anvil.addresses(), dai(1_000))
            .await
            .expect("Dai for everyone");
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("node.key"),
            spoke_protocol::hex::encode(keys[0].to_bytes()),
        )
        .expect("key");
        let port = free_port();
        Harness {
            anvil,
            deployment,
            dir,
            port,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("node.log")
    }

    fn database_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("node.db").display())
    }

    /// Starts the node (armed to abort at `failpoint`, `NAME@N`) and waits until it answers.
    async fn start(&self, failpoint: Option<&str>) -> NodeProcess {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_spoke-node"));
        command
            .arg("serve")
            .arg(format!("--listen=127.0.0.1:{}", self.port))
            .arg(format!("--domain=127.0.0.1:{}", self.port))
            .arg(format!("--chain-id={}", self.anvil.chain_id()))
            .arg(format!("--rpc-url={}", self.anvil.endpoint()))
            .arg(format!(
                "--channel-manager={}",
                self.deployment.channel_manager
            ))
            .arg(format!("--token={}", self.deployment.dai))
            .arg(format!(
                "--node-key-file={}",
                self.dir.path().join("node.key").display()
            ))
            .arg(format!("--database-url={}", self.database_url()))
            .arg("--confirmations=0")
            .arg("--watch-interval-ms=200")
            .arg(format!("--collateral-floor={}", dai(10)))
            .env_remove(spoke_node::failpoint::VARIABLE)
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(point) = failpoint {
            command.env(spoke_node::failpoint::VARIABLE, point);
        }
        let node = NodeProcess(command.spawn().expect("spoke-node starts"));
        wait_healthy(&self.url).await;
        node
    }

    fn secret(&self, i: usize) -> B256 {
        B256::from_slice(&self.anvil.keys()[i].to_bytes())
    }

    async fn connect(&self, i: usize) -> Client {
        let store = Arc::new(FileStore::new(
            self.dir.path().join(format!("client-{i}.json")),
        ));
        let config = ClientConfig {
            eth_url: Some(self.anvil.endpoint()),
            ..ClientConfig::new(self.url.clone())
        };
        Client::connect(config, self.secret(i), store)
            .await
            .expect("client connects")
    }

    /// Deposits `amount` Dai into account `i`'s channel and waits until the node counted it.
    async fn fund(&self, client: &Client, i: usize, amount: U256) {
        EthChain::new(
            self.anvil.endpoint().as_str(),
            &self.secret(i),
            self.deployment.channel_manager,
        )
        .expect("chain")
        .deposit(client.node_config().node, self.deployment.dai, amount)
        .await
        .expect("deposit");
        client
            .count_deposit_when_confirmed(self.deployment.dai, amount, Duration::from_secs(30))
            .await
            .expect("counted");
    }

    /// Asks for the node's collateral in `client`'s channel and waits until it is there.
    async fn collateralize(&self, client: &Client) {
        client
            .request_collateral(self.deployment.dai)
            .await
            .expect("collateral");
        for _ in 0..200 {
            if client
                .channel()
                .await
                .balances
                .iter()
                .any(|b| b.node >= dai(10))
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the node's collateral never arrived");
    }
}

/// Has every client catch up with the node until no lock is left in any channel and every payer's payments have
/// ended; panics, with what each client sees and the node's log, if that takes over 30 s.
async fn settle(everyone: &[&Client], payers: &[&Client], log: &std::path::Path) {
    for _ in 0..300 {
        for c in everyone {
            let _ = c.refresh().await;
        }
        let mut all_final = true;
        for c in everyone {
            if !c.channel().await.locks.is_empty() {
                all_final = false;
            }
        }
        for p in payers {
            match p.history(500).await {
                Ok(h) => all_final &= h.iter().all(|r| r.status.is_final()),
                Err(_) => all_final = false,
            }
        }
        if all_final {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut view = String::new();
    for c in everyone {
        let channel = c.channel().await;
        view += &format!(
            "{}: nonce {} locks {} refresh {:?}\n",
            c.address(),
            channel.nonce,
            channel.locks.len(),
            c.refresh().await.err()
        );
    }
    for p in payers {
        let statuses: Vec<_> = p
            .history(500)
            .await
            .map(|h| h.iter().map(|r| r.status).collect())
            .unwrap_or_default();
        view += &format!("{}: {statuses:?}\n", p.address());
    }
    let log_text = std::fs::read_to_string(log).unwrap_or_default();
    panic!("payments did not settle after the restart:\n{view}node log:\n{log_text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_payments_then_restart_every_payment_is_whole_or_absent() {
    const PAYERS: usize = 3;
    const EACH: usize = 20;
    let h = Harness::new(8).await;
    let deployment = &h.deployment;
    let log = h.log();
    let mut node = h.start(None).await;
    let payee = h.connect(1).await;
    let mut payers = Vec::new();
    for i in 2..2 + PAYERS {
        let payer = h.connect(i).await;
        h.fund(&payer, i, dai(5)).await;
        payers.push(payer);
    }
    h.collateralize(&payee).await;

    let amount = dai(1) / U256::from(10);
    let finished = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for payer in &payers {
        for _ in 0..EACH {
            let payer = payer.clone();
            let to = payee.address();
            let asset = deployment.dai;
            let finished = finished.clone();
            tasks.push(tokio::spawn(async move {
                let id = payer.pay(to, asset, amount).await?;
                let done = payer.wait_payment(id, Duration::from_secs(5)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                done
            }));
        }
    }
    // The kill comes as soon as one payment has ended: each payer's others follow it one at a time through its
    // channel, so most are still in flight, on a slow machine as on a fast one (a fixed delay was once longer than
    // all of them took).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while finished.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no payment ended in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // SIGKILL: no shutdown path runs.
    node.0.kill().expect("kill -9");
    node.0.wait().expect("reaped");
    let mut interrupted = 0;
    for task in tasks {
        if task.await.expect("task").is_err() {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 0,
        "the kill came after every payment had finished"
    );
    drop(node);
    let _node = h.start(None).await;

    // Every client catches up; everything in flight finishes, one way or the other.
    let everyone: Vec<&Client> = std::iter::once(&payee).chain(payers.iter()).collect();
    settle(&everyone, &payers.iter().collect::<Vec<_>>(), &log).await;

    // Whole or absent: the payee has exactly what the payers lost, and exactly the completed payments.
    let mut paid = U256::ZERO;
    let mut completed = 0usize;
    for p in &payers {
        paid += dai(5) - p.balance(deployment.dai).await;
        completed += p
            .history(500)
            .await
            .expect("history")
            .iter()
            .filter(|r| r.status == PaymentStatus::Completed)
            .count();
    }
    assert_eq!(payee.balance(deployment.dai).await, paid, "value conserved");
    assert_eq!(
        paid,
        amount * U256::from(completed),
        "every completed payment, and only those"
    );
    // Both sides hold the same latest state: no client is behind the node after catching up.
    for c in &everyone {
        assert!(
            !c.resync().await.expect("resync"),
            "client {} was behind",
            c.address()
        );
    }
    println!(
        "{interrupted} of {} payments cut off by kill -9: {completed} completed in the end, {} absent",
        PAYERS * EACH,
        PAYERS * EACH - completed
    );
}

/// After one payment cut at `point` and settled: the payer paid for exactly the completed payments and the payee
/// got exactly that, and for both users the state the client holds with the node's signature is a row of the
/// node's database with both signatures, and the node's latest. Returns how many payments have completed.
async fn whole_and_stored(
    h: &Harness,
    point: &str,
    payer: &Client,
    payee: &Client,
    amount: U256,
    completed_before: u64,
) -> u64 {
    let history = payer.history(500).await.expect("history");
    let completed = history
        .iter()
        .filter(|r| r.status == PaymentStatus::Completed)
        .count() as u64;
    let paid = dai(5) - payer.balance(h.deployment.dai).await;
    println!(
        "{point}: the payment {} ({completed} completed so far)",
        if completed > completed_before {
            "completed"
        } else {
            "is absent"
        }
    );
    assert_eq!(
        paid,
        amount * U256::from(completed),
        "{point}: the payer paid for the completed payments, and only them"
    );
    assert_eq!(
        payee.balance(h.deployment.dai).await,
        paid,
        "{point}: value conserved"
    );
    // Read beside the node by a store of the test's own, opened now: a store keeps the latest states it has
    // read, and this one must see the node's.
    let store = spoke_node::store::SqlStore::connect(&h.database_url())
        .await
        .expect("the node's database");
    for client in [&payee, &payer] {
        let view = client.channel().await;
        let row = store
            .update_at(view.channel_id, view.nonce)
            .await
            .expect("read")
            .unwrap_or_else(|| {
                panic!(
                    "{point}: {} holds nonce {}, which the node never stored",
                    client.address(),
                    view.nonce
                )
            });
        assert!(
            row.user_signature.is_some() && row.node_signature.is_some(),
            "{point}: the node's row at nonce {} lacks a signature",
            view.nonce
        );
        assert_eq!(
            row.state.locks, view.locks,
            "{point}: locks at nonce {}",
            view.nonce
        );
        let latest = store
            .latest(view.channel_id)
            .await
            .expect("read")
            .expect("a state");
        assert_eq!(
            latest.nonce,
            view.nonce,
            "{point}: {} is level with the node",
            client.address()
        );
    }
    completed
}

/// Every crash point of a payment's path, one at a time (security test plan, C4): a payment from one user to
/// another, the node armed to abort at the point, started again without it. Each time the payment ends whole on
/// both legs or not at all, and every state a client holds with the node's signature is a row of the node's
/// database with both signatures: no signature left the node before what it signs was stored. Last, a payment
/// made while the node is down (C7: signed by the payer, never received).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_each_crash_point_a_payment_is_whole_or_absent_and_no_signature_outlives_its_row() {
    let h = Harness::new(4).await;
    let mut node = h.start(None).await;
    let mut payee = h.connect(1).await;
    let payer = h.connect(2).await;
    h.fund(&payer, 2, dai(5)).await;
    h.collateralize(&payee).await;
    let amount = dai(1) / U256::from(10);
    // The passes of one payment: the payer's lock (1), then the payee's resolve sent with its countersignature of
    // the node's lock (2); the payer's countersignature of the node's resolve comes on its own.
    let points = [
        "user-update:signed@1",
        "user-update:committed@1",
        "user-update:signed@2",
        "user-update:committed@2",
        "countersign:committed@1",
        "node-update:committed@1",
    ];
    let mut completed = 0u64;
    for point in points {
        drop(node);
        let mut armed = h.start(Some(point)).await;
        // The node's own proposal of the payment to its payee is made only when the payee was away when it came:
        // the payee goes, the payment comes, the payee returns.
        let payee_away = point.starts_with("node-update:");
        let to = payee.address();
        if payee_away {
            payee.close();
        }
        let paying = {
            let payer = payer.clone();
            let asset = h.deployment.dai;
            tokio::spawn(async move {
                let id = payer.pay(to, asset, amount).await?;
                payer.wait_payment(id, Duration::from_secs(10)).await
            })
        };
        if payee_away {
            // The payer's lock is stored before the node reaches the payee (who is away, so it is not reached).
            tokio::time::sleep(Duration::from_secs(1)).await;
            // The node aborts while the payee logs in and listens, so this connection may fail.
            let _ = Client::connect(
                ClientConfig {
                    eth_url: Some(h.anvil.endpoint()),
                    ..ClientConfig::new(h.url.clone())
                },
                h.secret(1),
                Arc::new(FileStore::new(h.dir.path().join("client-1.json"))),
            )
            .await;
        }
        let mut aborted = None;
        for _ in 0..300 {
            if let Some(status) = armed.0.try_wait().expect("node status") {
                aborted = Some(status);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let status = aborted.unwrap_or_else(|| panic!("{point}: the node was never stopped there"));
        assert!(!status.success(), "{point}: the node exited with {status}");
        let _ = paying.await.expect("payment task");
        if payee_away {
            drop(armed);
            armed = h.start(None).await;
            payee = h.connect(1).await;
        }
        drop(armed);
        node = h.start(None).await;
        settle(&[&payee, &payer], &[&payer], &h.log()).await;
        completed = whole_and_stored(&h, point, &payer, &payee, amount, completed).await;
    }
    // C7: the node is down when the payer pays. The payer signs and keeps its lock, which never reaches the node;
    // once the node is back it is neither applied nor lost, and the next payment goes through.
    drop(node);
    let lost = payer.pay(payee.address(), h.deployment.dai, amount).await;
    assert!(lost.is_err(), "a payment to a node that is down: {lost:?}");
    node = h.start(None).await;
    settle(&[&payee, &payer], &[&payer], &h.log()).await;
    completed = whole_and_stored(&h, "node down", &payer, &payee, amount, completed).await;
    // Every crash point was survived by a payment that then went through: the last one, at least.
    assert!(
        completed >= 1,
        "no payment completed across the crash points"
    );
    // And the next payment, with nothing armed, is an ordinary one.
    let id = payer
        .pay(payee.address(), h.deployment.dai, amount)
        .await
        .expect("pay");
    payer
        .wait_payment(id, Duration::from_secs(10))
        .await
        .expect("completed");
    drop(node);
}
