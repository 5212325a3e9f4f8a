//! Wiring: from a [`Config`] to a running API. `main.rs` parses flags and calls [`run`]; `spoke-node dev` builds
//! its own configuration and calls the same code.

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
};

use alloy::providers::Provider;
use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use tower::ServiceExt;
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeader,
};

use crate::{
    api::{app_with, rpc_proxy::RpcProxy, AppState},
    chain::RpcChain,
    config::Config,
    store::SqlStore,
    tx::TxSender,
    Error, Result,
};

/// A node at work: the API's state, and the task that watches the chain and follows disputes with it.
pub struct Node {
    pub state: AppState,
    /// Runs until aborted: nothing ends it on its own, so a node taken down in-process (tests, `dev`) must
    /// stop it, or it goes on answering disputes and settling locks as if the node were still up.
    pub watcher: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.state.node)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Stops the chain watcher; the API's routes stop with their server.
    pub fn stop(&self) {
        self.watcher.abort();
    }
}

/// Everything the API needs, connected: the store (migrated), the chain, the node's key; with the chain
/// watcher started.
pub async fn start(config: &Config) -> Result<Node> {
    let node = config.node_signer()?;
    let store = SqlStore::connect(&config.database_url).await?;
    let provider = alloy::providers::ProviderBuilder::new()
        .connect(&config.rpc_url)
        .await
        .map_err(|e| Error::Config(format!("cannot reach the chain at {}: {e}", config.rpc_url)))?
        .erased();
    let chain = RpcChain::new(provider, config.channel_manager, config.confirmations);
    let state = AppState {
        store: Arc::new(store),
        chain: Arc::new(chain),
        domain: config.login_domain(),
        chain_id: config.chain_id,
        channel_manager: config.channel_manager,
        node: node.address(),
        signer: Arc::new(node),
        tokens: config.tokens.clone(),
        timing: config.timing(),
        max_locks: config.max_locks,
        session_seconds: config.session_seconds,
        login_seconds: config.login_seconds,
        cors_origins: config.cors_origins.clone(),
        hub: Default::default(),
        min_lock: config.min_lock,
        tx: Arc::new(TxSender::new(
            &config.rpc_url,
            config.node_secret()?,
            config.chain_id,
            config.channel_manager,
        )?),
        collateral: Arc::new(config.collateral_policy()?),
        reveal_after: std::time::Duration::from_secs(config.reveal_after),
        watch_interval: std::time::Duration::from_millis(config.watch_interval_ms.max(10)),
        exchange: Arc::new(config.exchange_policy()?),
        admin_token: config.admin_token.clone(),
        metrics_public: config.metrics_public,
        metrics: Default::default(),
        limits: Arc::new(crate::api::limit::Limits::new(&config.limits())),
    };
    // Collateral deposits cut off by the last stop are waited for, or judged by the chain.
    crate::api::collateral::resume(&state).await?;
    let watcher = crate::api::watch::spawn(state.clone());
    Ok(Node { state, watcher })
}

/// Serves the API on `config.listen` until `shutdown` completes.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let node = start(&config).await?;
    let address = node.state.node;
    let mut router = router(&config, node.state.clone(), Router::new())?;
    if let Some(www) = &config.www_dir {
        if !www.is_dir() {
            return Err(Error::Config(format!(
                "--www-dir {} is not a directory",
                www.display()
            )));
        }
        router = with_static_files(router, www);
    }
    if let Some(point) = crate::failpoint::describe() {
        tracing::warn!(%point, "{} is set: this node will abort itself there (a test)", crate::failpoint::VARIABLE);
    }
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    tracing::info!(address = %listener.local_addr()?, node = %address, "spoke-node listening");
    let served = serve_with(router, listener, shutdown).await;
    node.stop();
    served
}

/// The API's router for `config`: every route of [`app`](crate::api::app), `POST /rpc` when `--rpc-proxy` is
/// on, and `extra` (`spoke-node dev`'s faucet), all behind the same layers.
pub fn router(config: &Config, state: AppState, extra: Router) -> Result<Router> {
    let extra = if config.rpc_proxy {
        extra.merge(RpcProxy::new(&config.rpc_url)?.router())
    } else {
        extra
    };
    app_with(state, extra)
}

/// The policy of the static pages: scripts and WebAssembly from the node's own origin only, no plugins, no
/// `<base>` rewriting, no framing (the card holds keys, so no other page may embed or script it).
pub const STATIC_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `router` with the files under `www` served for every path no route of `router` takes (`/` is
/// `index.html`), each with [`STATIC_CSP`]. A browser opening one of the card's pages (`/send?to=…`, a redeem
/// link) gets `index.html`, and the card reads the page from the URL: see [`is_page_navigation`].
pub fn with_static_files(router: Router, www: &Path) -> Router {
    let index = www.join("index.html");
    let pages =
        axum::routing::any(move |request: Request| page_or_not_found(index.clone(), request));
    let files = ServeDir::new(www)
        .append_index_html_on_directories(true)
        .fallback(pages);
    router.fallback_service(SetResponseHeader::overriding(
        files,
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(STATIC_CSP),
    ))
}

/// Whether `request` is a browser opening a page rather than fetching a file or calling the API: a GET or HEAD
/// that accepts HTML, for a path whose last segment has no extension. The card owns those paths (an unknown one
/// shows its home page); a missing `.wasm` or a mistyped API call still gets a plain 404, not a page.
pub fn is_page_navigation<B>(request: &axum::http::Request<B>) -> bool {
    let method = request.method();
    let accepts_html = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("text/html"));
    let last = request.uri().path().rsplit('/').next().unwrap_or_default();
    (method == Method::GET || method == Method::HEAD) && accepts_html && !last.contains('.')
}

async fn page_or_not_found(index: PathBuf, request: Request) -> Response {
    if !is_page_navigation(&request) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match ServeFile::new(index).oneshot(request).await {
        Ok(page) => page.map(Body::new),
        Err(never) => match never {},
    }
}

/// Serves `router` on `listener` until `shutdown` completes; requests in flight are finished first.
///
/// Each connection is set `TCP_NODELAY`: with Nagle's algorithm a push on a user's WebSocket that follows another
/// one not yet acknowledged waits for the acknowledgement, which the client may delay by up to 40 ms.
pub async fn serve_with(
    router: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    // The peer's address, for the rate limits (api::limit).
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("spoke-node shutting down");
}
