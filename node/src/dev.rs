//! `spoke-node dev`: the whole system on one machine for development. It starts anvil on 127.0.0.1, deploys the
//! contracts, funds development accounts with test Dai, and serves the node (and the card, when it is built)
//! with anvil's account 0 as the node's key, until Ctrl-C or SIGTERM, which stop the node and the chain.
//!
//! Everything here is for a throwaway local chain: the printed keys are anvil's public test keys.
//!
//! The admin API is on, with a token made for this run (or `SPOKE_ADMIN_TOKEN`'s, so that a dashboard tab keeps
//! working across restarts); it is printed, as the operator has no other way to learn it.

mod faucet;

use std::{
    future::Future,
    io::{BufRead, BufReader, Write},
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::Duration,
};

use alloy::{
    network::TransactionBuilder,
    node_bindings::{Anvil, AnvilInstance},
    primitives::hex,
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
};
use clap::Parser;
use serde_json::json;
use spoke_contracts::{anvil_binary, bindings::DevDai, deploy, http_provider, Deployment};
use spoke_protocol::{Address, B256, U256};

use crate::{api::admin::AdminToken, config::Config, server, tx::TxSender, Error, Result};

/// What `spoke-node dev` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct DevArgs {
    /// Port of the node (API and card) on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port of the local chain (anvil) on 127.0.0.1.
    #[arg(long, default_value_t = 8545)]
    pub chain_port: u16,
    /// Where the node's database and anvil's log go; the database is started afresh every time.
    #[arg(long, default_value = "target/spoke-dev")]
    pub data_dir: PathBuf,
    /// Development accounts to fund with test Dai (anvil's accounts 1 to N).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub accounts: u16,
    /// The contract's challenge window, in seconds.
    #[arg(long, default_value_t = 600)]
    pub challenge_window: u64,
    /// The built card to serve at `/`, when the folder exists.
    #[arg(long, default_value = "www/dist")]
    pub www_dir: PathBuf,
    /// More origins allowed to call the node from a browser (a dapp served elsewhere, such as the example dapp on
    /// a static server), comma-separated; the node's own origin is always allowed.
    #[arg(long = "cors-origin", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

/// One Dai in base units (18 decimals).
fn dai(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

const NODE_DAI: u64 = 1_000_000;
const ACCOUNT_DAI: u64 = 1_000;
/// How long a setup transaction may take on the local chain.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running environment, up to the point of serving.
struct Ready {
    /// Dropping it stops the chain.
    anvil: AnvilInstance,
    node: server::Node,
    router: axum::Router,
    listener: tokio::net::TcpListener,
}

/// Runs the environment until `shutdown` completes. A shutdown during setup stops what was started.
pub async fn run(args: DevArgs, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    // Polled from now on, so a signal during setup is seen; the default action would kill this process and
    // leave anvil running.
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut setup_stop = stop_rx.clone();
    let ready = tokio::select! {
        ready = setup(&args) => ready?,
        _ = setup_stop.wait_for(|stop| *stop) => {
            eprintln!("spoke-node dev: stopped during setup");
            return Ok(());
        }
    };
    let Ready {
        anvil,
        node,
        router,
        listener,
    } = ready;
    let served = server::serve_with(router, listener, async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    })
    .await;
    // The watcher first: with the chain gone it would only log failed reads.
    node.stop();
    eprintln!("spoke-node dev: stopping the chain");
    drop(anvil);
    served
}

async fn setup(args: &DevArgs) -> Result<Ready> {
    // The node's port first: a busy one is found before anything starts.
    let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        Error::Config(format!(
            "cannot listen on {listen}: {e} (another spoke-node dev? choose a port with --port)"
        ))
    })?;
    let listen = listener.local_addr()?;
    if args.chain_port != 0 {
        std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.chain_port)).map_err(|e| {
            Error::Config(format!(
                "the chain port 127.0.0.1:{} is busy: {e} (another anvil or ./scripts/dev? choose one with --chain-port)",
                args.chain_port
            ))
        })?;
    }

    // A bad SPOKE_ADMIN_TOKEN is found before anything starts.
    let (admin_text, admin_token) = admin_token()?;

    std::fs::create_dir_all(&args.data_dir)?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    for file in ["node.db", "node.db-wal", "node.db-shm"] {
        match std::fs::remove_file(data_dir.join(file)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }

    let anvil = start_anvil(args, &data_dir)?;
    let rpc_url = anvil.endpoint();
    let chain_id = anvil.chain_id();
    let keys = anvil.keys();
    // The node's, the development accounts, the faucet's.
    let wanted = usize::from(args.accounts) + 2;
    if keys.len() < wanted {
        return Err(Error::Config(format!(
            "anvil made {} accounts, {wanted} were asked for",
            keys.len(),
        )));
    }
    let node_secret = B256::from_slice(&keys[0].to_bytes());
    let funder_secret = B256::from_slice(&keys[wanted - 1].to_bytes());

    let deployer = http_provider(&rpc_url, PrivateKeySigner::from(keys[0].clone()))
        .map_err(|e| Error::Chain(e.to_string()))?;
    let deployment = deploy(&deployer, args.challenge_window)
        .await
        .map_err(|e| Error::Chain(format!("deploying the contracts failed: {e}")))?;

    let sender = TxSender::new(&rpc_url, node_secret, chain_id, deployment.channel_manager)?;
    let accounts: Vec<(Address, String)> = keys
        .iter()
        .zip(anvil.addresses())
        .skip(1)
        .take(usize::from(args.accounts))
        .map(|(key, address)| (*address, hex::encode_prefixed(key.to_bytes())))
        .collect();
    let receivers = std::iter::once((sender.address(), dai(NODE_DAI)))
        .chain(accounts.iter().map(|(a, _)| (*a, dai(ACCOUNT_DAI))));
    mint_dai(&sender, deployment.dai, receivers).await?;
    let faucet = faucet::Faucet::new(
        TxSender::new(
            &rpc_url,
            funder_secret,
            chain_id,
            deployment.channel_manager,
        )?,
        deployment.dai,
    );
    let funder = faucet.funder();

    let mut config = node_config(
        &node_secret,
        listen,
        &rpc_url,
        chain_id,
        &deployment,
        &data_dir,
        &args.cors_origins,
    )?;
    config.admin_token = Some(admin_token);
    let node = server::start(&config).await?;
    let mut router = server::router(&config, node.state.clone(), faucet.router())?;
    let card = args.www_dir.is_dir().then(|| format!("http://{listen}/"));
    let dashboard = args
        .www_dir
        .join("admin")
        .is_dir()
        .then(|| format!("http://{listen}/admin/"));
    if card.is_some() {
        router = server::with_static_files(router, &args.www_dir);
    }

    print_ready(&Printed {
        node_url: format!("http://{listen}"),
        rpc_url: &rpc_url,
        chain_id,
        deployment: &deployment,
        node: sender.address(),
        challenge_window: args.challenge_window,
        card,
        dashboard,
        admin_token: &admin_text,
        www_dir: &args.www_dir,
        data_dir: &data_dir,
        accounts: &accounts,
        funder,
    });
    Ok(Ready {
        anvil,
        node,
        router,
        listener,
    })
}

fn start_anvil(args: &DevArgs, data_dir: &Path) -> Result<AnvilInstance> {
    let binary = anvil_binary();
    let mut anvil = Anvil::at(&binary)
        .host("127.0.0.1")
        .port(args.chain_port)
        // Mined at once when a transaction arrives, and a block every second besides, so deposits reach the
        // node's confirmation depth without more transactions.
        .args(["--block-time", "1", "--mixed-mining"])
        .args(["--accounts", &(u32::from(args.accounts) + 2).to_string()])
        .keep_stdout()
        .try_spawn()
        .map_err(|e| {
            Error::Config(format!(
                "could not start anvil ({}): {e}; ./scripts/setup installs it, or set SPOKE_ANVIL",
                binary.display()
            ))
        })?;
    // Anvil logs every request; its output goes to a file, and must be read so that anvil never blocks on it.
    if let Some(stdout) = anvil.child_mut().stdout.take() {
        let mut log = std::fs::File::create(data_dir.join("anvil.log"))?;
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if writeln!(log, "{line}").is_err() {
                    break;
                }
            }
        });
    }
    Ok(anvil)
}

/// Test Dai for each receiver (the node's collateral, the development accounts, a faucet's caller), all sent
/// before any is awaited; the hashes once all are mined.
async fn mint_dai(
    sender: &TxSender,
    token: Address,
    receivers: impl IntoIterator<Item = (Address, U256)>,
) -> Result<Vec<B256>> {
    let mut hashes = Vec::new();
    for (to, amount) in receivers {
        let call = DevDai::mintCall { to, amount };
        let tx = TransactionRequest::default()
            .with_to(token)
            .with_input(call.abi_encode());
        hashes.push(sender.send(tx, "mint test Dai").await?);
    }
    for hash in &hashes {
        sender.wait(*hash, 1, SETUP_TIMEOUT).await?;
    }
    Ok(hashes)
}

/// The admin token: `SPOKE_ADMIN_TOKEN`'s when it is set (held to the same rules as `serve`'s), else 32 random bytes
/// as hex. The text is for printing; the parsed token, which keeps only a digest, is for the node.
fn admin_token() -> Result<(String, AdminToken)> {
    let text = match std::env::var("SPOKE_ADMIN_TOKEN") {
        Ok(token) if !token.is_empty() => token,
        _ => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| Error::Config(format!("no randomness for the admin token: {e}")))?;
            hex::encode(bytes)
        }
    };
    let token = text.parse().map_err(|e| match e {
        Error::Config(reason) => Error::Config(format!("SPOKE_ADMIN_TOKEN: {reason}")),
        e => e,
    })?;
    Ok((text, token))
}

/// The development node's exchange rate: Dai per ETH, both tokens having 18 decimals.
pub const DEV_DAI_PER_ETH: u64 = 2000;

/// The node's configuration. It goes through the same flag parser as `spoke-node serve`, so every option this
/// environment does not set keeps the default an operator would get.
fn node_config(
    secret: &B256,
    listen: SocketAddr,
    rpc_url: &str,
    chain_id: u64,
    deployment: &Deployment,
    data_dir: &Path,
    cors_origins: &[String],
) -> Result<Config> {
    let db = data_dir.join("node.db");
    // `Config` reads the key from a file; anvil's account 0 is public, but the file is private anyway.
    let key_file = data_dir.join("node.key");
    write_private(&key_file, &format!("{secret}\n"))?;
    let args = [
        "spoke-node".to_string(),
        format!("--listen={listen}"),
        format!("--chain-id={chain_id}"),
        format!("--rpc-url={rpc_url}"),
        format!("--channel-manager={}", deployment.channel_manager),
        format!("--token={}", deployment.dai),
        format!("--node-key-file={}", key_file.display()),
        format!("--database-url=sqlite://{}", db.display()),
        format!(
            "--cors-origin=http://{listen},http://localhost:{}{}",
            listen.port(),
            cors_origins
                .iter()
                .map(|origin| format!(",{origin}"))
                .collect::<String>()
        ),
        "--confirmations=1".to_string(),
        // A fixed rate both ways, so that selling Dai for ETH (the card's Cash out in ETH) works here as it would
        // on a node whose operator set rates: 2,000 Dai per ETH, less the default spread.
        format!(
            "--exchange-rate={}:{}=1/{DEV_DAI_PER_ETH}",
            deployment.dai,
            Address::ZERO
        ),
        format!(
            "--exchange-rate={}:{}={DEV_DAI_PER_ETH}/1",
            Address::ZERO,
            deployment.dai
        ),
        // The card's policy lets it fetch only the node's origin: its chain reads go through the node.
        "--rpc-proxy".to_string(),
    ];
    Config::try_parse_from(args).map_err(|e| Error::Config(format!("dev configuration: {e}")))
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only to a new file; one left by an earlier run keeps whatever it had.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

struct Printed<'a> {
    node_url: String,
    rpc_url: &'a str,
    chain_id: u64,
    deployment: &'a Deployment,
    node: Address,
    challenge_window: u64,
    card: Option<String>,
    /// The admin dashboard's page, when the www folder has one.
    dashboard: Option<String>,
    admin_token: &'a str,
    www_dir: &'a Path,
    data_dir: &'a Path,
    accounts: &'a [(Address, String)],
    funder: Address,
}

fn print_ready(p: &Printed<'_>) {
    let mut out = String::new();
    out.push_str("\nSpoke development environment ready\n\n");
    out.push_str(&format!("  node            {}\n", p.node_url));
    match &p.card {
        Some(url) => out.push_str(&format!("  card            {url}\n")),
        None => out.push_str(&format!(
            "  card            not built ({} is missing)\n",
            p.www_dir.display()
        )),
    }
    out.push_str(&format!(
        "  chain           {} (chain id {}, anvil, a block every second)\n",
        p.rpc_url, p.chain_id
    ));
    out.push_str(&format!(
        "  chain proxy     {}/rpc (the chain's JSON-RPC for the card: reads and eth_sendRawTransaction)\n",
        p.node_url
    ));
    out.push_str(&format!(
        "  faucet          POST {}/dev/faucet {{\"address\":\"0x…\"}}: 1 ETH and {} DAI from {},\n\
         \x20                 once per address every {} s\n",
        p.node_url,
        faucet::FAUCET_DAI,
        p.funder,
        faucet::COOL_DOWN.as_secs()
    ));
    out.push_str(&format!(
        "  admin token     {} (Authorization: Bearer, for {}/admin/… and /metrics)\n",
        p.admin_token, p.node_url
    ));
    if let Some(url) = &p.dashboard {
        out.push_str(&format!("  dashboard       {url}\n"));
    }
    out.push_str(&format!(
        "  ChannelManager  {} (challenge window {} s)\n",
        p.deployment.channel_manager, p.challenge_window
    ));
    out.push_str(&format!(
        "  Dai             {} (test token, 18 decimals, anyone can mint)\n",
        p.deployment.dai
    ));
    out.push_str(&format!(
        "  node address    {} (anvil account 0, {NODE_DAI} DAI)\n",
        p.node
    ));
    out.push_str(&format!("  data            {}\n\n", p.data_dir.display()));
    out.push_str(&format!(
        "Development accounts, 10000 ETH and {ACCOUNT_DAI} DAI each (anvil's public test keys: never use them on a real network):\n"
    ));
    for (address, key) in p.accounts {
        out.push_str(&format!("  {address}  {key}\n"));
    }
    out.push_str(&format!(
        "\nTo pay: open the card, or use the client crate `spoke-client` (see its README) with the node URL\n\
         {} and one of the keys above. It logs in, opens a channel by depositing into the ChannelManager, and\n\
         pays any other user of this node. Ctrl-C stops the node and the chain.\n\n",
        p.node_url
    ));
    // Addresses in their checksummed form, as printed above (serde would write them in lower case).
    let accounts: Vec<_> = p
        .accounts
        .iter()
        .map(|(address, key)| json!({ "address": address.to_string(), "privateKey": key }))
        .collect();
    let line = json!({
        "nodeUrl": p.node_url,
        "cardUrl": p.card,
        "rpcUrl": p.rpc_url,
        "chainId": p.chain_id,
        "channelManager": p.deployment.channel_manager.to_string(),
        "dai": p.deployment.dai.to_string(),
        "node": p.node.to_string(),
        "challengeWindow": p.challenge_window,
        "accounts": accounts,
        "rpcProxyUrl": format!("{}/rpc", p.node_url),
        "faucetUrl": format!("{}/dev/faucet", p.node_url),
        "faucetFunder": p.funder.to_string(),
        "adminToken": p.admin_token,
        "dashboardUrl": p.dashboard,
    });
    out.push_str(&format!("SPOKE_DEV {line}\n"));
    let mut stdout = std::io::stdout().lock();
    // A closed stdout must not stop the environment: it keeps serving.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}
