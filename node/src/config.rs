//! The node's configuration, from flags and environment variables (`spoke-node --help`).

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;
use spoke_protocol::{Address, Signer, Timing, B256};

use crate::{Error, Result};

/// Everything an operator sets. The node's key is not a field: it is read from `--node-key-file` or the
/// `SPOKE_NODE_KEY` environment variable by [`Config::node_signer`], and never printed or logged.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "spoke-node",
    version,
    about = "The Spoke node: routes payments between its users' channels.",
    // A flag given twice takes its last value, so a wrapper script's defaults can be overridden after them.
    args_override_self = true
)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "SPOKE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The authority users log in to (the SIWE domain), e.g. `node.example.com`; defaults to the listen address.
    #[arg(long, env = "SPOKE_DOMAIN")]
    pub domain: Option<String>,
    /// Chain id of the chain the contract is on.
    #[arg(long, env = "SPOKE_CHAIN_ID")]
    pub chain_id: u64,
    /// JSON-RPC URL of that chain.
    #[arg(long, env = "SPOKE_RPC_URL", default_value = "http://127.0.0.1:8545")]
    pub rpc_url: String,
    /// Address of the ChannelManager contract.
    #[arg(long, env = "SPOKE_CHANNEL_MANAGER")]
    pub channel_manager: Address,
    /// ERC-20 tokens on the contract's allowlist that this node serves (comma-separated).
    #[arg(long = "token", env = "SPOKE_TOKENS", value_delimiter = ',')]
    pub tokens: Vec<Address>,
    /// File holding the node's 32-byte secret key as hex (else `SPOKE_NODE_KEY`).
    #[arg(long, env = "SPOKE_NODE_KEY_FILE")]
    pub node_key_file: Option<PathBuf>,
    /// `sqlite://PATH` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "SPOKE_DATABASE_URL",
        default_value = "sqlite://spoke-node.db"
    )]
    pub database_url: String,
    /// Origins allowed to call the API from a browser (comma-separated); none means same-origin only.
    #[arg(
        long = "cors-origin",
        env = "SPOKE_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,
    /// How long a login session lasts, in seconds.
    #[arg(long, env = "SPOKE_SESSION_SECONDS", default_value_t = 3600)]
    pub session_seconds: u64,
    /// How long a login challenge may wait for its signature, in seconds.
    #[arg(long, env = "SPOKE_LOGIN_SECONDS", default_value_t = 300)]
    pub login_seconds: u64,
    /// Blocks a deposit must be buried under before it is counted.
    #[arg(long, env = "SPOKE_CONFIRMATIONS", default_value_t = 3)]
    pub confirmations: u64,
    /// The smallest payment the node routes, in base units.
    #[arg(long, env = "SPOKE_MIN_LOCK", default_value_t = spoke_protocol::U256::from(1u64))]
    pub min_lock: spoke_protocol::U256,
    /// Most locks active at once in one channel.
    #[arg(long, env = "SPOKE_MAX_LOCKS", default_value_t = 64)]
    pub max_locks: usize,
    /// Collateral bounds for one asset, `ASSET=FLOOR:CEILING` in base units (repeatable); other assets use
    /// `--collateral-floor` and `--collateral-ceiling`.
    #[arg(long = "collateral", env = "SPOKE_COLLATERAL", value_delimiter = ',')]
    pub collateral: Vec<String>,
    /// The least the node keeps in a channel it collateralizes (default 10 Dai).
    #[arg(
        long,
        env = "SPOKE_COLLATERAL_FLOOR",
        default_value = "10000000000000000000"
    )]
    pub collateral_floor: spoke_protocol::U256,
    /// The most the node puts into one channel (default 170 Dai).
    #[arg(
        long,
        env = "SPOKE_COLLATERAL_CEILING",
        default_value = "170000000000000000000"
    )]
    pub collateral_ceiling: spoke_protocol::U256,
    /// Seconds a payment short of collateral waits for it before failing with INSUFFICIENT_COLLATERAL.
    #[arg(long, env = "SPOKE_COLLATERAL_WAIT", default_value_t = 30)]
    pub collateral_wait: u64,
    /// The most of one asset the node puts into all its channels together (default 10,000 Dai).
    #[arg(
        long,
        env = "SPOKE_COLLATERAL_TOTAL_CAP",
        default_value = "10000000000000000000000"
    )]
    pub collateral_total_cap: spoke_protocol::U256,
    /// Most collateral deposits in flight at once, across all channels.
    #[arg(long, env = "SPOKE_COLLATERAL_MAX_IN_FLIGHT", default_value_t = 32)]
    pub collateral_max_in_flight: usize,
    /// An exchange rate, `SELL:BUY=NUMERATOR/DENOMINATOR` in base units (repeatable): selling `x` of SELL buys
    /// `x × NUMERATOR / DENOMINATOR` of BUY, less the spread.
    #[arg(
        long = "exchange-rate",
        env = "SPOKE_EXCHANGE_RATES",
        value_delimiter = ','
    )]
    pub exchange_rates: Vec<String>,
    /// The node's exchange margin in basis points.
    #[arg(long, env = "SPOKE_EXCHANGE_SPREAD_BPS", default_value_t = 30)]
    pub exchange_spread_bps: u16,
    /// Seconds an exchange quote stands.
    #[arg(long, env = "SPOKE_QUOTE_SECONDS", default_value_t = 30)]
    pub quote_seconds: u64,
    /// The most one quote sells, in the sold asset's base units (default 1,000 units of an 18-decimal token).
    #[arg(
        long,
        env = "SPOKE_QUOTE_MAX_SELL",
        default_value = "1000000000000000000000"
    )]
    pub quote_max_sell: spoke_protocol::U256,
    /// Seconds the node waits for a payer to countersign the resolve of its lock before it reveals the preimage
    /// in the contract's registry.
    #[arg(long, env = "SPOKE_REVEAL_AFTER", default_value_t = 60)]
    pub reveal_after: u64,
    /// Milliseconds between two passes of the background work (chain events, disputes, reveals, timeouts).
    #[arg(long, env = "SPOKE_WATCH_INTERVAL_MS", default_value_t = 1000)]
    pub watch_interval_ms: u64,
    /// The operator's bearer token for the admin API (`/admin/…`) and `/metrics`, at least 16 characters; without
    /// it the admin API is off. Prefer the environment variable: a flag shows in the process list.
    #[arg(
        long,
        env = "SPOKE_ADMIN_TOKEN",
        hide_env_values = true,
        value_parser = crate::api::admin::AdminTokenParser
    )]
    pub admin_token: Option<crate::api::admin::AdminToken>,
    /// Serve `/metrics` without the admin token (for a scraper on a private network).
    #[arg(long, env = "SPOKE_METRICS_PUBLIC")]
    pub metrics_public: bool,
    /// A folder of static files (the card) to serve at `/`, behind the API's routes.
    #[arg(long, env = "SPOKE_WWW_DIR")]
    pub www_dir: Option<PathBuf>,
    /// Serve `POST /rpc`: the chain's JSON-RPC (`--rpc-url`) for pages that may only fetch the node's origin,
    /// limited to the read methods a wallet needs and `eth_sendRawTransaction`.
    #[arg(long, env = "SPOKE_RPC_PROXY")]
    pub rpc_proxy: bool,
    /// Requests per second from one client address, `RATE/BURST` or `off` (an IPv6 client counts by its /64).
    #[arg(long, env = "SPOKE_RATE_LIMIT_ADDRESS", default_value = "200/400")]
    pub rate_limit_address: crate::api::limit::Limit,
    /// Logins (`/auth/challenge`, `/auth/login`) per second from one client address, `RATE/BURST` or `off`.
    #[arg(long, env = "SPOKE_RATE_LIMIT_LOGIN", default_value = "10/30")]
    pub rate_limit_login: crate::api::limit::Limit,
    /// Requests per second with one session token, `RATE/BURST` or `off`.
    #[arg(long, env = "SPOKE_RATE_LIMIT_SESSION", default_value = "200/400")]
    pub rate_limit_session: crate::api::limit::Limit,
    /// Reverse proxies in front of the node (comma-separated IP addresses): from them, and only from them, the
    /// client's address is read from `X-Forwarded-For`. Behind a proxy not named here, every user shares the
    /// proxy's address limit.
    #[arg(long, env = "SPOKE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Config {
    /// The SIWE domain users log in to.
    pub fn login_domain(&self) -> String {
        self.domain
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }

    /// The rate limits from the flags.
    pub fn limits(&self) -> crate::api::limit::LimitConfig {
        crate::api::limit::LimitConfig {
            per_address: self.rate_limit_address.0,
            login: self.rate_limit_login.0,
            per_session: self.rate_limit_session.0,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// The collateral policy from the flags.
    pub fn collateral_policy(&self) -> Result<crate::api::collateral::CollateralPolicy> {
        use crate::api::collateral::{Bounds, CollateralPolicy};
        let bounds = |floor: spoke_protocol::U256, ceiling: spoke_protocol::U256, what: &str| {
            if floor > ceiling {
                return Err(Error::Config(format!(
                    "collateral for {what}: the floor {floor} is above the ceiling {ceiling}"
                )));
            }
            Ok(Bounds { floor, ceiling })
        };
        let mut assets = std::collections::HashMap::new();
        for entry in &self.collateral {
            let bad = || {
                Error::Config(format!(
                    "--collateral {entry:?}: expected ASSET=FLOOR:CEILING"
                ))
            };
            let (asset, range) = entry.split_once('=').ok_or_else(bad)?;
            let (floor, ceiling) = range.split_once(':').ok_or_else(bad)?;
            let asset: Address = asset.trim().parse().map_err(|_| bad())?;
            let floor = floor.trim().parse().map_err(|_| bad())?;
            let ceiling = ceiling.trim().parse().map_err(|_| bad())?;
            assets.insert(asset, bounds(floor, ceiling, entry)?);
        }
        Ok(CollateralPolicy {
            assets,
            default: bounds(
                self.collateral_floor,
                self.collateral_ceiling,
                "every asset",
            )?,
            wait: std::time::Duration::from_secs(self.collateral_wait),
            max_in_flight: self.collateral_max_in_flight,
            total_cap: self.collateral_total_cap,
            confirmations: self.confirmations,
        })
    }

    /// The exchange policy from the flags.
    pub fn exchange_policy(&self) -> Result<crate::api::exchange::ExchangePolicy> {
        Ok(crate::api::exchange::ExchangePolicy {
            rates: crate::api::exchange::ExchangePolicy::parse_rates(&self.exchange_rates)?,
            quote_ttl: std::time::Duration::from_secs(self.quote_seconds),
            max_sell: self.quote_max_sell,
            spread_bps: self.exchange_spread_bps.min(10_000),
        })
    }

    /// Lock timing: the protocol's defaults.
    pub fn timing(&self) -> Timing {
        Timing::default()
    }

    /// The node's signing key, from [`Config::node_secret`].
    pub fn node_signer(&self) -> Result<Signer> {
        let secret = self.node_secret()?;
        Signer::from_bytes(&secret)
            .map_err(|_| Error::Config("the node key is not a valid secp256k1 key".into()))
    }

    /// The node's 32-byte secret key, from the key file or `SPOKE_NODE_KEY`. Errors never contain the key.
    pub fn node_secret(&self) -> Result<B256> {
        read_secret(
            self.node_key_file.as_deref(),
            "--node-key-file",
            "SPOKE_NODE_KEY",
            "node key",
        )
    }
}

/// A 32-byte secret key as hex, from `file` when given, else from the environment variable `env`. `flag` and
/// `what` only name things in errors, which never contain the key.
pub(crate) fn read_secret(
    file: Option<&std::path::Path>,
    flag: &str,
    env: &str,
    what: &str,
) -> Result<B256> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the {what} file {}: {e}",
                path.display()
            ))
        })?,
        None => std::env::var(env)
            .map_err(|_| Error::Config(format!("no {what}: set {flag} or {env}")))?,
    };
    text.trim()
        .parse()
        .map_err(|_| Error::Config(format!("the {what} is not 32 bytes of hex")))
}
