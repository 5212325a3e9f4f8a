//! Rate limits (api::limit) on the node's real router and store: per client address, per login address and per
//! session, a spoofed `X-Forwarded-For` that must not reset them, a trusted proxy whose header must, and a real
//! socket, through which the peer's address must reach the limiter.

mod common;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{header, Request, StatusCode},
    Router,
};
use common::{call_with_headers, get, login, post, Channel, Node};
use serde_json::{json, Value};
use spoke_node::api::{
    app,
    limit::{LimitConfig, Limits, Rate},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn rate(per_second: u32, burst: u32) -> Option<Rate> {
    Some(Rate { per_second, burst })
}

fn limited(node: &Node, config: LimitConfig) -> Router {
    let mut state = node.state.clone();
    state.limits = Arc::new(Limits::new(&config));
    app(state).expect("router")
}

/// `request` as if it came over a connection from `peer`, with `forwarded_for` as its `X-Forwarded-For`.
fn from(peer: &str, forwarded_for: Option<&str>, mut request: Request<Body>) -> Request<Body> {
    let peer: SocketAddr = format!("{peer}:40000").parse().expect("peer");
    request.extensions_mut().insert(ConnectInfo(peer));
    if let Some(value) = forwarded_for {
        request
            .headers_mut()
            .insert("x-forwarded-for", value.parse().expect("header"));
    }
    request
}

fn challenge_request() -> Request<Body> {
    post(
        "/auth/challenge",
        json!({ "address": Channel::new(0x11, 0).user.address() }),
    )
}

async fn status(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let (status, headers, body) = call_with_headers(router, request).await;
    if status == StatusCode::TOO_MANY_REQUESTS {
        assert_eq!(body["code"], "TOO_MANY_REQUESTS", "{body}");
        let seconds: u64 = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("a Retry-After in seconds");
        assert!((1..=60).contains(&seconds), "Retry-After {seconds}");
    }
    (status, body)
}

#[tokio::test]
async fn logins_from_one_address_are_limited_and_a_spoofed_forwarded_for_does_not_reset_the_limit()
{
    let node = Node::start(vec![]).await;
    let router = limited(
        &node,
        LimitConfig {
            login: rate(1, 3),
            ..LimitConfig::default()
        },
    );
    for _ in 0..3 {
        let (status, body) = status(&router, from("198.51.100.7", None, challenge_request())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["message"].is_string());
    }
    for spoof in ["203.0.113.1", "203.0.113.2", "10.0.0.1, 203.0.113.3"] {
        let (status, body) = status(
            &router,
            from("198.51.100.7", Some(spoof), challenge_request()),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    }
    // Another address has its own bucket; the login limit is not the API's: /config still answers.
    let (status_other, _) = status(&router, from("198.51.100.8", None, challenge_request())).await;
    assert_eq!(status_other, StatusCode::OK);
    let (status_config, _) =
        status(&router, from("198.51.100.7", None, get("/config", None))).await;
    assert_eq!(status_config, StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let node = Node::start(vec![]).await;
    let router = limited(
        &node,
        LimitConfig {
            per_address: rate(1, 2),
            trusted_proxies: vec!["10.0.0.2".parse().expect("ip")],
            ..LimitConfig::default()
        },
    );
    let proxy = "10.0.0.2";
    for _ in 0..2 {
        let (s, _) = status(
            &router,
            from(proxy, Some("203.0.113.5"), get("/config", None)),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, _) = status(
        &router,
        from(proxy, Some("203.0.113.5"), get("/config", None)),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // What the client wrote to the left of what the proxy saw changes nothing.
    let (s, _) = status(
        &router,
        from(proxy, Some("1.2.3.4, 203.0.113.5"), get("/health", None)),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not held up.
    let (s, _) = status(
        &router,
        from(proxy, Some("203.0.113.6"), get("/config", None)),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_session_is_limited_wherever_its_requests_come_from_and_others_are_not() {
    let node = Node::start(vec![]).await;
    let open = node.router.clone();
    let first = login(&open, &Channel::new(0x21, 0).user).await;
    let second = login(&open, &Channel::new(0x22, 0).user).await;
    let router = limited(
        &node,
        LimitConfig {
            per_session: rate(1, 5),
            ..LimitConfig::default()
        },
    );
    let mut answered = 0u64;
    let mut refused = 0u64;
    let started = std::time::Instant::now();
    // A hundred requests at once, from a hundred addresses.
    for i in 0..100 {
        let peer = format!("198.51.100.{}", i + 1);
        match status(&router, from(&peer, None, get("/channel", Some(&first))))
            .await
            .0
        {
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            _ => answered += 1,
        }
    }
    // The burst, and one more for each whole second the loop took.
    let refills = started.elapsed().as_secs();
    assert!(
        (5..=5 + refills).contains(&answered) && answered + refused == 100,
        "{answered} answered in {refills} s"
    );
    let (s, body) = status(
        &router,
        from("198.51.100.1", None, get("/channel", Some(&second))),
    )
    .await;
    assert_ne!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn waiting_what_retry_after_says_is_enough() {
    let node = Node::start(vec![]).await;
    let router = limited(
        &node,
        LimitConfig {
            per_address: rate(1, 1),
            ..LimitConfig::default()
        },
    );
    let peer = "198.51.100.9";
    assert_eq!(
        status(&router, from(peer, None, get("/config", None)))
            .await
            .0,
        StatusCode::OK
    );
    let (s, headers, _) = call_with_headers(&router, from(peer, None, get("/config", None))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    assert_eq!(
        status(&router, from(peer, None, get("/config", None)))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_page_on_an_allowed_origin_can_read_the_429() {
    let node = Node::start(vec!["https://card.example".into()]).await;
    let router = limited(
        &node,
        LimitConfig {
            per_address: rate(1, 1),
            ..LimitConfig::default()
        },
    );
    let page = || {
        let mut request = from("198.51.100.10", None, get("/config", None));
        request.headers_mut().insert(
            header::ORIGIN,
            "https://card.example".parse().expect("origin"),
        );
        request
    };
    assert_eq!(call_with_headers(&router, page()).await.0, StatusCode::OK);
    let (s, headers, _) = call_with_headers(&router, page()).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://card.example"
    );
    assert_eq!(
        headers[header::ACCESS_CONTROL_EXPOSE_HEADERS],
        "retry-after"
    );
}

/// One HTTP/1.1 request over a fresh connection; the status code of the answer.
async fn status_over_socket(address: SocketAddr, path: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"))
}

#[tokio::test]
async fn the_server_gives_the_limiter_each_connection_s_address() {
    let node = Node::start(vec![]).await;
    let router = limited(
        &node,
        LimitConfig {
            per_address: rate(1, 2),
            ..LimitConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("port");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spoke_node::server::serve_with(
        router,
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let codes = [
        status_over_socket(address, "/config").await,
        status_over_socket(address, "/config").await,
        status_over_socket(address, "/config").await,
    ];
    let _ = stop.send(());
    server.await.expect("server task").expect("served");
    // Three connections from one address: had the server not passed the peer's address on, none would be limited.
    assert_eq!(codes, [200, 200, 429]);
}
