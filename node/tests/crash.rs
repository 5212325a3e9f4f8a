//! kill -9 in the middle of payments: the node process dies with payments on both legs in flight, starts again
//! on the same database, and every payment ends complete on both legs or not at all, with value conserved.

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
use spoke_contracts::{bindings::DevDai, deploy, http_provider};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_payments_then_restart_every_payment_is_whole_or_absent() {
    const PAYERS: usize = 3;
    const EACH: usize = 20;
    let anvil = Anvil::at(spoke_contracts::anvil_binary())
        .args(["--accounts", "8"])
        .spawn();
    let keys = anvil.keys().to_vec();
    let deployer = http_provider(
        anvil.endpoint().as_str(),
        PrivateKeySigner::from(keys[0].clone()),
    )
    .expect("provider");
    let deployment = deploy(&deployer, 3600).await.expect("deploy");
    let token = DevDai::new(deployment.dai, &deployer);
    for address in anvil.addresses() {
        token
            .mint(*address, dai(1_000))
            .send()
            .await
            .expect("mint")
            .get_receipt()
            .await
            .expect("minted");
    }
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("node.key");
    std::fs::write(&key_file, spoke_protocol::hex::encode(keys[0].to_bytes())).expect("key");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("node.log");
    let start = || {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        NodeProcess(
            Command::new(env!("CARGO_BIN_EXE_spoke-node"))
                .arg("serve")
                .arg(format!("--listen=127.0.0.1:{port}"))
                .arg(format!("--domain=127.0.0.1:{port}"))
                .arg(format!("--chain-id={}", anvil.chain_id()))
                .arg(format!("--rpc-url={}", anvil.endpoint()))
                .arg(format!("--channel-manager={}", deployment.channel_manager))
                .arg(format!("--token={}", deployment.dai))
                .arg(format!("--node-key-file={}", key_file.display()))
                .arg(format!(
                    "--database-url=sqlite://{}",
                    dir.path().join("node.db").display()
                ))
                .arg("--confirmations=0")
                .arg("--watch-interval-ms=200")
                .arg(format!("--collateral-floor={}", dai(10)))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spoke-node starts"),
        )
    };
    let mut node = start();
    wait_healthy(&url).await;

    let secret = |i: usize| B256::from_slice(&keys[i].to_bytes());
    let connect = |i: usize| {
        let store = Arc::new(FileStore::new(dir.path().join(format!("client-{i}.json"))));
        let url = url.clone();
        let eth_url = anvil.endpoint();
        async move {
            let config = ClientConfig {
                eth_url: Some(eth_url),
                ..ClientConfig::new(url)
            };
            Client::connect(config, secret(i), store)
                .await
                .expect("client connects")
        }
    };
    let payee = connect(1).await;
    payee
        .request_collateral(deployment.dai)
        .await
        .expect("collateral");
    let mut payers = Vec::new();
    for i in 2..2 + PAYERS {
        let payer = connect(i).await;
        EthChain::new(
            anvil.endpoint().as_str(),
            &secret(i),
            deployment.channel_manager,
        )
        .expect("chain")
        .deposit(payer.node_config().node, deployment.dai, dai(5))
        .await
        .expect("deposit");
        payer
            .count_deposit_when_confirmed(deployment.dai, dai(5), Duration::from_secs(30))
            .await
            .expect("counted");
        payers.push(payer);
    }
    for _ in 0..200 {
        if payee
            .channel()
            .await
            .balances
            .iter()
            .any(|b| b.node >= dai(10))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

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
    let _node = start();
    wait_healthy(&url).await;

    // Every client catches up; everything in flight finishes, one way or the other.
    let everyone: Vec<&Client> = std::iter::once(&payee).chain(payers.iter()).collect();
    let mut settled = false;
    for _ in 0..300 {
        for c in &everyone {
            let _ = c.refresh().await;
        }
        let mut all_final = true;
        for c in &everyone {
            if !c.channel().await.locks.is_empty() {
                all_final = false;
            }
        }
        for p in &payers {
            match p.history(500).await {
                Ok(h) => all_final &= h.iter().all(|r| r.status.is_final()),
                Err(_) => all_final = false,
            }
        }
        if all_final {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let mut view = String::new();
    for c in &everyone {
        let channel = c.channel().await;
        view += &format!(
            "{}: nonce {} locks {} refresh {:?}\n",
            c.address(),
            channel.nonce,
            channel.locks.len(),
            c.refresh().await.err()
        );
    }
    for p in &payers {
        let statuses: Vec<_> = p
            .history(500)
            .await
            .map(|h| h.iter().map(|r| r.status).collect())
            .unwrap_or_default();
        view += &format!("{}: {statuses:?}\n", p.address());
    }
    assert!(
        settled,
        "payments did not settle after the restart:\n{view}node log:\n{log_text}"
    );

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
