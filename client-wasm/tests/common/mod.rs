//! A whole system for the client's tests: anvil with the contracts, a real `spoke-node` serving HTTP and its
//! WebSocket on 127.0.0.1 (SQLite in a temp dir, or a PostgreSQL server of its own), and funded users. Everything
//! stops when [`System`] drops.
#![allow(dead_code)]

/// The node's tests' PostgreSQL server, one copy for both crates' tests.
#[path = "../../../node/tests/common/postgres.rs"]
pub mod postgres;

use std::{sync::Arc, time::Duration};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use clap::Parser;
use spoke_client::{Client, ClientConfig, EthChain, FileStore};
use spoke_contracts::{deploy, http_provider, mint_dai, Deployment};
use spoke_node::{api::app, config::Config, server};
use spoke_protocol::{Address, B256, U256};

pub fn dai(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

pub struct System {
    pub anvil: AnvilInstance,
    pub deployment: Deployment,
    pub node_url: String,
    pub dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
    node: server::Node,
    /// Last: dropped after the node stopped.
    _postgres: Option<postgres::Postgres>,
}

/// The database the node stores in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    /// A PostgreSQL server of the test's own.
    Postgres,
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop_node();
    }
}

impl System {
    /// Starts the chain and the node. `collateral_wait` bounds how long a payment waits for collateral.
    pub async fn start(collateral_wait: u64) -> System {
        System::start_with(collateral_wait, 10).await
    }

    /// [`System::start`] with `accounts` funded anvil accounts (account 0 is the node).
    pub async fn start_with(collateral_wait: u64, accounts: usize) -> System {
        System::start_with_args(accounts, |_| {
            vec![format!("--collateral-wait={collateral_wait}")]
        })
        .await
    }

    /// The system with `accounts` funded anvil accounts and extra `spoke-node` flags.
    pub async fn start_with_args(
        accounts: usize,
        extra: impl FnOnce(&Deployment) -> Vec<String>,
    ) -> System {
        System::start_on(Db::Sqlite, accounts, extra).await
    }

    /// [`System::start_with_args`] with the node storing in `db`.
    pub async fn start_on(
        db: Db,
        accounts: usize,
        extra: impl FnOnce(&Deployment) -> Vec<String>,
    ) -> System {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "warn,sqlx=warn".into()),
            )
            .with_test_writer()
            .try_init();
        let anvil = Anvil::at(spoke_contracts::anvil_binary())
            .args(["--accounts", &accounts.to_string()])
            .spawn();
        let keys = anvil.keys();
        let deployer = http_provider(
            anvil.endpoint().as_str(),
            PrivateKeySigner::from(keys[0].clone()),
        )
        .expect("provider");
        let deployment = deploy(&deployer, 3600).await.expect("deploy");
        // Test Dai for the node (collateral) and the users.
        mint_dai(&deployer, deployment.dai, anvil.addresses(), dai(10_000))
            .await
            .expect("Dai for everyone");
        let dir = tempfile::tempdir().expect("dir");
        let postgres = (db == Db::Postgres).then(postgres::Postgres::start);
        let database_url = match &postgres {
            Some(server) => server.url.clone(),
            None => format!("sqlite://{}", dir.path().join("node.db").display()),
        };
        let key_file = dir.path().join("node.key");
        std::fs::write(&key_file, spoke_protocol::hex::encode(keys[0].to_bytes())).expect("key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("port");
        let address = listener.local_addr().expect("address");
        let config = Config::try_parse_from(
            [
                "spoke-node".to_string(),
                format!("--listen={address}"),
                format!("--domain={address}"),
                format!("--chain-id={}", anvil.chain_id()),
                format!("--rpc-url={}", anvil.endpoint()),
                format!("--channel-manager={}", deployment.channel_manager),
                format!("--token={}", deployment.dai),
                format!("--node-key-file={}", key_file.display()),
                format!("--database-url={database_url}"),
                "--confirmations=0".into(),
                format!("--collateral-floor={}", dai(10)),
                format!("--collateral-ceiling={}", dai(170)),
                "--watch-interval-ms=200".into(),
            ]
            .into_iter()
            .chain(extra(&deployment)),
        )
        .expect("config");
        let node = server::start(&config).await.expect("node");
        let router = app(node.state.clone()).expect("router");
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        System {
            anvil,
            deployment,
            node_url: format!("http://{address}"),
            dir,
            server,
            node,
            _postgres: postgres,
        }
    }

    pub fn secret(&self, index: usize) -> B256 {
        B256::from_slice(&self.anvil.keys()[index].to_bytes())
    }

    pub fn secret_address(&self, index: usize) -> Address {
        self.anvil.addresses()[index]
    }

    /// The node's domain as its login messages name it (`127.0.0.1:port`).
    pub fn node_domain(&self) -> String {
        self.node_url.trim_start_matches("http://").to_string()
    }

    /// Takes the node offline: its HTTP server, WebSocket and chain watcher stop answering.
    pub fn stop_node(&self) {
        self.server.abort();
        self.node.stop();
    }

    /// Moves the chain's clock `seconds` forward and mines a block at the new time.
    pub async fn advance(&self, seconds: u64) {
        self.anvil_call("evm_increaseTime", (seconds,)).await;
        self.mine().await;
    }

    /// Mines a block of whatever waits in the mempool.
    pub async fn mine(&self) {
        self.anvil_call("evm_mine", ()).await;
    }

    /// Turns anvil's mining of each transaction as it arrives on or off.
    pub async fn set_automine(&self, on: bool) {
        self.anvil_call("evm_setAutomine", (on,)).await;
    }

    /// Waits until `count` transactions wait in the mempool (with automine off).
    pub async fn pending_transactions(&self, count: u64) {
        eventually(
            &format!("{count} transactions in the mempool"),
            Duration::from_secs(30),
            || async {
                let status = self.anvil_call("txpool_status", ()).await;
                status["pending"].as_str() == Some(&format!("{count:#x}"))
            },
        )
        .await;
    }

    async fn anvil_call<P: serde::Serialize + Clone + Send + Sync + Unpin + std::fmt::Debug>(
        &self,
        method: &'static str,
        params: P,
    ) -> serde_json::Value {
        self.provider()
            .raw_request(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// An alloy provider on the chain, sending as anvil's account 0: the tests' independent view of the chain.
    pub fn provider(&self) -> alloy::providers::DynProvider {
        http_provider(
            self.anvil.endpoint().as_str(),
            PrivateKeySigner::from(self.anvil.keys()[0].clone()),
        )
        .expect("provider")
    }

    pub fn chain(&self, index: usize) -> EthChain {
        EthChain::new(
            self.anvil.endpoint().as_str(),
            &self.secret(index),
            self.deployment.channel_manager,
        )
        .expect("chain")
    }

    /// Anvil's account `index` as a connected client, its channel stored in `client-{index}.json`.
    pub async fn client(&self, index: usize) -> Client {
        self.client_with(index, |_| {}).await
    }

    /// [`System::client`] with its configuration changed by `change`.
    pub async fn client_with(
        &self,
        index: usize,
        change: impl FnOnce(&mut ClientConfig),
    ) -> Client {
        let store = Arc::new(FileStore::new(
            self.dir.path().join(format!("client-{index}.json")),
        ));
        let mut config = ClientConfig {
            eth_url: Some(self.anvil.endpoint()),
            ..ClientConfig::new(&self.node_url)
        };
        change(&mut config);
        Client::connect(config, self.secret(index), store)
            .await
            .expect("client connects")
    }

    /// Has the node put its floor of Dai (10) into `client`'s channel, counted.
    pub async fn collateralize(&self, client: &Client) {
        client
            .request_collateral(self.deployment.dai)
            .await
            .expect("collateral requested");
        eventually(
            "the node's collateral counted",
            Duration::from_secs(30),
            || async {
                // Sync too, in case the push came before the client listened.
                client.sync().await.is_ok()
                    && client
                        .channel()
                        .await
                        .balances
                        .iter()
                        .any(|b| b.asset == self.deployment.dai && b.node >= dai(10))
            },
        )
        .await;
    }

    /// Deposits `amount` Dai on chain and counts it.
    pub async fn fund(&self, client: &Client, amount: U256) {
        client
            .deposit(self.deployment.dai, amount, Duration::from_secs(30))
            .await
            .expect("deposit sent and counted");
    }

    /// The batches of writes the node's store has committed so far.
    pub fn store_batches(&self) -> u64 {
        self.node.state.store.write_counts().batches
    }

    /// The status of a payment as the node stored it.
    pub async fn payment_status(&self, id: B256) -> Option<spoke_protocol::wire::PaymentStatus> {
        self.node
            .state
            .store
            .payment(id)
            .await
            .expect("the store answers")
            .map(|p| p.status)
    }

    pub async fn chain_balance(&self, owner: Address) -> U256 {
        self.chain(0)
            .balance(owner, self.deployment.dai)
            .await
            .expect("balance")
    }

    /// When the registry first saw the preimage of `hashlock` (0: never).
    pub async fn revealed_at(&self, hashlock: B256) -> U256 {
        let provider = http_provider(
            self.anvil.endpoint().as_str(),
            PrivateKeySigner::from(self.anvil.keys()[0].clone()),
        )
        .expect("provider");
        spoke_contracts::bindings::ChannelManager::new(self.deployment.channel_manager, provider)
            .revealedAt(hashlock)
            .call()
            .await
            .expect("revealedAt")
    }

    /// The node's executed withdrawals from a channel, as the contract counts them.
    pub async fn node_withdrawn(&self, channel_id: B256, asset: Address) -> U256 {
        let provider = http_provider(
            self.anvil.endpoint().as_str(),
            PrivateKeySigner::from(self.anvil.keys()[0].clone()),
        )
        .expect("provider");
        let ledger = spoke_contracts::bindings::ChannelManager::new(
            self.deployment.channel_manager,
            provider,
        )
        .ledger(channel_id, asset)
        .call()
        .await
        .expect("ledger");
        U256::from(ledger.withdrawnNode)
    }

    pub async fn block_number(&self) -> u64 {
        http_provider(
            self.anvil.endpoint().as_str(),
            PrivateKeySigner::from(self.anvil.keys()[0].clone()),
        )
        .expect("provider")
        .get_block_number()
        .await
        .expect("block")
    }
}

/// `payer` pays `amount` of `asset` to `recipient` and waits until the payment has completed. Returns its id.
pub async fn pay_and_wait(
    payer: &Client,
    recipient: Address,
    asset: Address,
    amount: U256,
) -> B256 {
    let id = payer
        .pay(recipient, asset, amount)
        .await
        .expect("the payment is accepted");
    payer
        .wait_payment(id, Duration::from_secs(30))
        .await
        .expect("the payment completes");
    id
}

/// Waits until `check` holds, up to `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests the node answered on `route` (with `status`, or any), by its `/metrics` (`--metrics-public`).
pub async fn answered(sys: &System, route: &str, status: Option<u16>) -> u64 {
    let text = reqwest::get(format!("{}/metrics", sys.node_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let route = format!("route=\"{route}\"");
    let status = status.map(|code| format!("status=\"{code}\""));
    text.lines()
        .filter(|l| l.starts_with("spoke_http_requests_total{") && l.contains(&route))
        .filter(|l| status.as_ref().is_none_or(|status| l.contains(status)))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("a count")
        })
        .sum()
}
