//! What a benchmark runs against: anvil with the contracts, `spoke-node serve` as its own process (so its CPU
//! time, memory and fsyncs are its own) with durable storage, and funded native clients. The node's and anvil's
//! processes are stopped by their PIDs when [`System`] drops.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    node_bindings::{Anvil, AnvilInstance},
    signers::local::PrivateKeySigner,
};
use futures_util::{stream, StreamExt, TryStreamExt};
use spoke_client::{Client, ClientConfig, KvStore, MemoryKv};
use spoke_contracts::{bindings::DevDai, deploy, http_provider, Deployment};
use spoke_protocol::{Address, B256, U256};

use crate::{Error, Result};

/// One Dai in base units.
pub fn dai(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// How the node stores its state.
#[derive(Debug, Clone)]
pub enum Db {
    /// A SQLite file in the run's temporary directory (WAL, `synchronous = FULL`).
    Sqlite,
    /// A PostgreSQL database the operator provides.
    Postgres(String),
}

/// What to start.
#[derive(Debug, Clone)]
pub struct Setup {
    pub node_bin: PathBuf,
    pub users: usize,
    pub db: Db,
}

/// Each user's deposit, and the node's collateral floor in each channel: far more than a run moves.
const USER_DAI: u64 = 1_000;
const FLOOR_DAI: u64 = 1_000;
/// Concurrent setup requests (logins, deposits, collateral).
const SETUP_CONCURRENCY: usize = 16;

pub struct System {
    _anvil: AnvilInstance,
    pub deployment: Deployment,
    pub node: NodeProcess,
    pub clients: Vec<Client>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("System")
            .field("node_pid", &self.node.pid())
            .field("users", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl System {
    pub async fn start(setup: &Setup) -> Result<System> {
        let dir = tempfile::tempdir()?;
        let anvil = Anvil::at(spoke_contracts::anvil_binary())
            .args(["--accounts", &(setup.users + 1).to_string()])
            .try_spawn()
            .map_err(|e| Error::Setup(format!("anvil: {e}")))?;
        let keys = anvil.keys();
        let deployer = http_provider(
            anvil.endpoint().as_str(),
            PrivateKeySigner::from(keys[0].clone()),
        )?;
        let deployment = deploy(&deployer, 3600).await?;
        let token = DevDai::new(deployment.dai, &deployer);
        let floor_total = dai(FLOOR_DAI) * U256::from(setup.users as u64 + 1);
        for (index, address) in anvil.addresses().iter().enumerate() {
            let amount = if index == 0 {
                floor_total
            } else {
                dai(USER_DAI)
            };
            token
                .mint(*address, amount)
                .send()
                .await
                .map_err(|e| Error::Setup(format!("mint: {e}")))?
                .get_receipt()
                .await
                .map_err(|e| Error::Setup(format!("mint: {e}")))?;
        }

        let node = NodeProcess::start(setup, &anvil, &deployment, dir.path())?;
        let node_url = format!("http://{}", node.address);
        let secrets: Vec<B256> = keys[1..]
            .iter()
            .map(|k| B256::from_slice(&k.to_bytes()))
            .collect();
        let eth_url = anvil.endpoint();
        let clients: Vec<Client> = stream::iter(secrets)
            .map(|secret| {
                let config = ClientConfig {
                    eth_url: Some(eth_url.clone()),
                    ..ClientConfig::new(&node_url)
                };
                // The clients stand for users on other machines: their own storage is kept in memory, so the disk
                // measured is the node's alone.
                let store = Arc::new(KvStore::new(Arc::new(MemoryKv::new()), "bench"));
                async move { Client::connect(config, secret, store).await }
            })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await?;

        let asset = deployment.dai;
        stream::iter(clients.iter())
            .map(|c| async move {
                c.deposit(asset, dai(USER_DAI), Duration::from_secs(120))
                    .await?;
                c.request_collateral(asset).await?;
                wait_for_collateral(c, asset).await
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(System {
            _anvil: anvil,
            deployment,
            node,
            clients,
            _dir: dir,
        })
    }
}

async fn wait_for_collateral(client: &Client, asset: Address) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        client.sync().await?;
        let view = client.channel().await;
        if view
            .balances
            .iter()
            .any(|b| b.asset == asset && b.node >= dai(FLOOR_DAI))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::Setup(format!(
                "the node's collateral for {} was not counted within 120 s",
                client.address()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `spoke-node serve` as a child process on 127.0.0.1, killed by its PID on drop.
#[derive(Debug)]
pub struct NodeProcess {
    child: Child,
    pub address: SocketAddr,
}

impl NodeProcess {
    fn start(
        setup: &Setup,
        anvil: &AnvilInstance,
        deployment: &Deployment,
        dir: &Path,
    ) -> Result<NodeProcess> {
        let key_file = dir.join("node.key");
        std::fs::write(
            &key_file,
            spoke_protocol::hex::encode(anvil.keys()[0].to_bytes()),
        )?;
        let database_url = match &setup.db {
            Db::Sqlite => format!("sqlite://{}", dir.join("node.db").display()),
            Db::Postgres(url) => url.clone(),
        };
        let address = free_address()?;
        let log = std::fs::File::create(dir.join("node.log"))?;
        let child = Command::new(&setup.node_bin)
            .arg("serve")
            .arg(format!("--listen={address}"))
            .arg(format!("--domain={address}"))
            .arg(format!("--chain-id={}", anvil.chain_id()))
            .arg(format!("--rpc-url={}", anvil.endpoint()))
            .arg(format!("--channel-manager={}", deployment.channel_manager))
            .arg(format!("--token={}", deployment.dai))
            .arg(format!("--node-key-file={}", key_file.display()))
            .arg(format!("--database-url={database_url}"))
            .arg("--confirmations=0")
            .arg("--metrics-public")
            .arg(format!("--collateral-floor={}", dai(FLOOR_DAI)))
            .arg(format!("--collateral-ceiling={}", dai(FLOOR_DAI * 10)))
            .arg(format!(
                "--collateral-total-cap={}",
                dai(FLOOR_DAI) * U256::from(setup.users as u64 + 1)
            ))
            // Every simulated user shares the loopback address and logs in within the first seconds: limits far
            // above the load keep the limiter's cost in the measurement but never refuse a request.
            .args(
                ["address", "login", "session"]
                    .map(|limit| format!("--rate-limit-{limit}=1000000/1000000")),
            )
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| {
                Error::Setup(format!(
                    "cannot start {}: {e} (build it with `cargo build --release -p spoke-node`)",
                    setup.node_bin.display()
                ))
            })?;
        let mut node = NodeProcess { child, address };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(address).is_err() {
            if let Some(status) = node.child.try_wait()? {
                let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
                return Err(Error::Setup(format!(
                    "spoke-node exited with {status}: {}",
                    log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Setup("spoke-node did not listen within 30 s".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(node)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_address() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}
