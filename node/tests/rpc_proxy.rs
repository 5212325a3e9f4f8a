//! `POST /rpc` (`--rpc-proxy`) against a real anvil: allowed methods answer exactly as the chain does, everything
//! else is refused without reaching the chain, and the route exists only when asked for.

mod common;

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall,
    transports::http::reqwest,
};
use axum::{
    body::Body,
    http::{header, HeaderMap, Request, StatusCode},
    Router,
};
use clap::Parser;
use common::Node;
use serde_json::{json, Value};
use spoke_contracts::bindings::DevDai;
use spoke_node::config::Config;
use spoke_protocol::{hex, Address, U256};

/// The node's router as `spoke-node serve` builds it, from these flags over `n`'s chain and contracts.
fn router(n: &Node, flags: &[&str]) -> Router {
    let mut args = vec![
        "spoke-node".to_string(),
        format!("--chain-id={}", n.anvil.chain_id()),
        format!("--channel-manager={}", n.deployment.channel_manager),
        format!("--rpc-url={}", n.anvil.endpoint()),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let config = Config::try_parse_from(args).expect("flags");
    spoke_node::server::router(&config, n.state.clone(), Router::new()).expect("router")
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    common::call_with_headers(router, request).await
}

fn rpc_request(body: impl Into<Body>) -> Request<Body> {
    Request::post("/rpc")
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.into())
        .expect("request")
}

/// A JSON-RPC request through the proxy; every answer but a too-large body's is HTTP 200.
async fn proxied(router: &Router, request: &Value) -> Value {
    let (status, _, answer) = send(router, rpc_request(request.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// The same request straight to anvil.
async fn direct(n: &Node, request: &Value) -> Value {
    let text = reqwest::Client::new()
        .post(n.anvil.endpoint())
        .header(header::CONTENT_TYPE, "application/json")
        .body(request.to_string())
        .send()
        .await
        .expect("anvil answers")
        .text()
        .await
        .expect("body");
    serde_json::from_str(&text).expect("anvil answers JSON")
}

fn call(id: impl Into<Value>, method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id.into(), "method": method, "params": params })
}

fn refusal(id: impl Into<Value>, method: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id.into(),
        "error": { "code": -32601, "message": format!("method {method} is not served by this node") },
    })
}

/// A chain reader that does not go through the node.
fn independent(n: &Node) -> impl Provider {
    ProviderBuilder::new().connect_http(n.anvil.endpoint().parse().expect("url"))
}

fn fresh_address() -> Address {
    PrivateKeySigner::random().address()
}

#[tokio::test]
async fn reads_through_the_proxy_equal_the_chains() {
    let n = Node::start(vec![]).await;
    let r = router(&n, &["--rpc-proxy"]);
    let chain = independent(&n);
    let user = n.anvil.addresses()[1];
    let balance_of = DevDai::balanceOfCall { account: user }.abi_encode();
    let requests = [
        call(1, "eth_chainId", json!([])),
        call("two", "net_version", json!([])),
        call(3, "eth_blockNumber", json!([])),
        call(4, "eth_getBalance", json!([user, "latest"])),
        call(
            5,
            "eth_call",
            json!([{ "to": n.deployment.dai, "data": hex::encode_prefixed(&balance_of) }, "latest"]),
        ),
        call(
            6,
            "eth_getCode",
            json!([n.deployment.channel_manager, "latest"]),
        ),
        call(7, "eth_getTransactionCount", json!([user, "pending"])),
        call(8, "eth_getBlockByNumber", json!(["latest", false])),
    ];
    for request in &requests {
        let through = proxied(&r, request).await;
        assert!(through.get("result").is_some(), "{request} → {through}");
        assert_eq!(through, direct(&n, request).await, "{request}");
    }

    let chain_id = proxied(&r, &requests[0]).await;
    assert_eq!(chain_id["result"], format!("{:#x}", n.anvil.chain_id()));
    let balance = proxied(&r, &requests[3]).await;
    let expected = chain.get_balance(user).await.expect("balance");
    assert!(!expected.is_zero());
    assert_eq!(balance["result"], format!("{expected:#x}"));
    let code = proxied(&r, &requests[5]).await;
    assert!(code["result"].as_str().expect("code").len() > 2, "{code}");
}

#[tokio::test]
async fn a_transaction_signed_by_the_caller_is_broadcast() {
    let n = Node::start(vec![]).await;
    let r = router(&n, &["--rpc-proxy"]);
    let chain = independent(&n);
    let key = PrivateKeySigner::from(n.anvil.keys()[1].clone());
    let from = key.address();
    let to = fresh_address();
    let fees = chain.estimate_eip1559_fees().await.expect("fees");
    let envelope = TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_value(U256::from(12_345u64))
        .with_nonce(chain.get_transaction_count(from).await.expect("nonce"))
        .with_chain_id(n.anvil.chain_id())
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(fees.max_fee_per_gas)
        .with_max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
        .build(&EthereumWallet::from(key))
        .await
        .expect("signed");
    let raw = hex::encode_prefixed(envelope.encoded_2718());
    let answer = proxied(&r, &call(1, "eth_sendRawTransaction", json!([raw]))).await;
    assert_eq!(answer["result"], envelope.tx_hash().to_string(), "{answer}");
    // Anvil mines a pooled transaction at once, but not before answering: the receipt may lag a little.
    let deadline = Instant::now() + Duration::from_secs(20);
    let receipt = loop {
        let receipt = proxied(
            &r,
            &call(2, "eth_getTransactionReceipt", json!([envelope.tx_hash()])),
        )
        .await;
        if !receipt["result"].is_null() || Instant::now() > deadline {
            break receipt;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(receipt["result"]["status"], "0x1", "{receipt}");
    assert_eq!(
        chain.get_balance(to).await.expect("balance"),
        U256::from(12_345u64)
    );
}

#[tokio::test]
async fn a_batch_is_answered_request_by_request() {
    let n = Node::start(vec![]).await;
    let r = router(&n, &["--rpc-proxy"]);
    let chain = independent(&n);
    let user = n.anvil.addresses()[1];

    let allowed = json!([
        call(1, "eth_chainId", json!([])),
        call(2, "eth_blockNumber", json!([])),
        call(3, "eth_getBalance", json!([user, "latest"])),
    ]);
    let answer = proxied(&r, &allowed).await;
    assert_eq!(answer.as_array().map(Vec::len), Some(3), "{answer}");
    assert_eq!(answer, direct(&n, &allowed).await);

    let target = fresh_address();
    let mixed = json!([
        call("a", "eth_chainId", json!([])),
        call(
            "b",
            "anvil_setBalance",
            json!([target, "0xde0b6b3a7640000"])
        ),
        42,
        call("c", "eth_accounts", json!([])),
    ]);
    let answer = proxied(&r, &mixed).await;
    let answers = answer.as_array().expect("a batch answer");
    assert_eq!(answers.len(), 4, "{answer}");
    let by_id = |id: Value| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer for {id} in {answer}"))
    };
    assert_eq!(
        by_id(json!("a"))["result"],
        format!("{:#x}", n.anvil.chain_id())
    );
    assert_eq!(by_id(json!("b")), &refusal("b", "anvil_setBalance"));
    assert_eq!(by_id(json!("c")), &refusal("c", "eth_accounts"));
    assert_eq!(by_id(Value::Null)["error"]["code"], -32600);
    assert!(chain.get_balance(target).await.expect("balance").is_zero());

    // Refused alone: nothing is forwarded at all.
    let answer = proxied(
        &r,
        &json!([
            call(1, "evm_mine", json!([])),
            call(2, "debug_traceTransaction", json!([]))
        ]),
    )
    .await;
    assert_eq!(
        answer,
        json!([refusal(1, "evm_mine"), refusal(2, "debug_traceTransaction")])
    );

    let too_many: Vec<Value> = (0..51).map(|i| call(i, "eth_chainId", json!([]))).collect();
    let answer = proxied(&r, &Value::Array(too_many)).await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    let fifty: Vec<Value> = (0..50).map(|i| call(i, "eth_chainId", json!([]))).collect();
    let answer = proxied(&r, &Value::Array(fifty)).await;
    assert_eq!(answer.as_array().map(Vec::len), Some(50), "{answer}");
    let answer = proxied(&r, &json!([])).await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
}

#[tokio::test]
async fn methods_off_the_list_are_refused_and_change_nothing() {
    let n = Node::start(vec![]).await;
    let r = router(&n, &["--rpc-proxy"]);
    let chain = independent(&n);
    let user = n.anvil.addresses()[1];
    let target = fresh_address();
    let block = chain.get_block_number().await.expect("block");
    let nonce = chain.get_transaction_count(user).await.expect("nonce");

    let refused = [
        call("accounts", "eth_accounts", json!([])),
        call(1, "eth_requestAccounts", json!([])),
        call(
            2,
            "eth_sendTransaction",
            json!([{ "from": user, "to": target, "value": "0x1" }]),
        ),
        call(3, "eth_sign", json!([user, "0x00"])),
        call(4, "personal_sign", json!(["0x00", user])),
        call(5, "personal_unlockAccount", json!([user, "", 0])),
        call(6, "anvil_setBalance", json!([target, "0xde0b6b3a7640000"])),
        call(7, "anvil_impersonateAccount", json!([target])),
        call(8, "evm_mine", json!([])),
        call(9, "evm_setNextBlockTimestamp", json!([4_000_000_000u64])),
        call(10, "debug_traceCall", json!([{ "to": target }, "latest"])),
        call(11, "admin_nodeInfo", json!([])),
        call(12, "txpool_content", json!([])),
        call(13, "eth_chainid", json!([])),
        json!({ "jsonrpc": "2.0", "method": "anvil_mine", "params": [] }),
    ];
    for request in &refused {
        let method = request["method"].as_str().expect("method");
        let answer = proxied(&r, request).await;
        assert_eq!(answer, refusal(request["id"].clone(), method), "{request}");
    }
    assert!(chain.get_balance(target).await.expect("balance").is_zero());
    assert_eq!(chain.get_block_number().await.expect("block"), block);
    assert_eq!(
        chain.get_transaction_count(user).await.expect("nonce"),
        nonce
    );

    // The same call straight to the chain does take effect: what the proxy refused was real.
    let answer = direct(&n, &refused[6]).await;
    assert!(answer.get("error").is_none(), "{answer}");
    assert!(!chain.get_balance(target).await.expect("balance").is_zero());
}

#[tokio::test]
async fn malformed_requests_get_json_rpc_errors() {
    let n = Node::start(vec![]).await;
    let r = router(&n, &["--rpc-proxy"]);

    let (status, _, answer) = send(&r, rpc_request("{\"jsonrpc\":\"2.0\",\"method\":")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(answer["id"], Value::Null);
    assert_eq!(answer["error"]["code"], -32700, "{answer}");

    for body in [
        "42",
        "\"eth_chainId\"",
        "null",
        "{\"id\":9}",
        "{\"id\":9,\"method\":1}",
    ] {
        let (status, _, answer) = send(&r, rpc_request(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(answer["error"]["code"], -32600, "{body} → {answer}");
    }
    let (_, _, answer) = send(&r, rpc_request("{\"id\":9}")).await;
    assert_eq!(answer["id"], 9, "the id is kept: {answer}");

    let padding = "x".repeat(300 * 1024);
    let big =
        json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [{ "data": padding }] });
    let (status, _, answer) = send(&r, rpc_request(big.to_string())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    // Above the API's 64 KiB, below the proxy's 256 KiB: a long eth_call input is fine.
    let padding = format!("0x{}", "00".repeat(100 * 1024));
    let long = call(
        1,
        "eth_call",
        json!([{ "to": n.deployment.dai, "data": padding }, "latest"]),
    );
    let answer = proxied(&r, &long).await;
    assert_eq!(answer, direct(&n, &long).await);

    let plain = Request::post("/rpc")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(call(1, "eth_chainId", json!([])).to_string()))
        .expect("request");
    let (status, _, answer) = send(&r, plain).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
}

#[tokio::test]
async fn without_the_flag_there_is_no_route_and_with_it_cors_still_holds() {
    let n = Node::start(vec!["http://card.example".into()]).await;
    let request = || rpc_request(call(1, "eth_chainId", json!([])).to_string());

    let off = router(&n, &[]);
    let (status, _, _) = send(&off, request()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let on = router(&n, &["--rpc-proxy"]);
    let (status, _, answer) = send(&on, request()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["result"], format!("{:#x}", n.anvil.chain_id()));

    let preflight = |origin: &str| {
        Request::options("/rpc")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type")
            .body(Body::empty())
            .expect("request")
    };
    let (_, headers, _) = send(&on, preflight("http://card.example")).await;
    assert_eq!(
        headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.as_bytes()),
        Some(&b"http://card.example"[..])
    );
    let (_, headers, _) = send(&on, preflight("http://evil.example")).await;
    assert!(
        headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
        "{headers:?}"
    );
}

#[tokio::test]
async fn an_unreachable_chain_is_an_error_that_hides_the_url() {
    let n = Node::start(vec![]).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let r = router(
        &n,
        &[
            "--rpc-proxy",
            &format!("--rpc-url=http://127.0.0.1:{port}/v3/SECRETKEY"),
        ],
    );
    let answer = proxied(&r, &call(5, "eth_chainId", json!([]))).await;
    assert_eq!(
        answer,
        json!({ "jsonrpc": "2.0", "id": 5, "error": { "code": -32603, "message": "the chain is unreachable" } })
    );
    let answer = proxied(
        &r,
        &json!([
            call(1, "eth_chainId", json!([])),
            call(2, "eth_accounts", json!([]))
        ]),
    )
    .await;
    assert_eq!(
        answer,
        json!([
            { "jsonrpc": "2.0", "id": 1, "error": { "code": -32603, "message": "the chain is unreachable" } },
            refusal(2, "eth_accounts"),
        ])
    );
    assert!(!answer.to_string().contains("SECRETKEY"));
    assert!(!answer.to_string().contains(&port.to_string()));
}

/// A `spoke-node serve` child, killed by its PID when the test ends, however it ends.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `spoke-node serve` as an operator runs it, over `n`'s chain, with `SPOKE_RPC_PROXY` set to `proxy` (or unset).
async fn serve(n: &Node, dir: &std::path::Path, proxy: Option<&str>) -> (Served, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_spoke-node"));
    command
        .arg("serve")
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--chain-id={}", n.anvil.chain_id()))
        .arg(format!("--rpc-url={}", n.anvil.endpoint()))
        .arg(format!(
            "--channel-manager={}",
            n.deployment.channel_manager
        ))
        .arg(format!("--token={}", n.deployment.dai))
        .arg(format!(
            "--database-url=sqlite://{}",
            dir.join(format!("node-{port}.db")).display()
        ))
        .env_remove("SPOKE_RPC_PROXY")
        .env(
            "SPOKE_NODE_KEY",
            hex::encode_prefixed(n.anvil.keys()[0].to_bytes()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(value) = proxy {
        command.env("SPOKE_RPC_PROXY", value);
    }
    let served = Served(command.spawn().expect("spoke-node serve starts"));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await;
        if health.is_ok_and(|h| h.status().is_success()) {
            return (served, port);
        }
        assert!(
            Instant::now() < deadline,
            "spoke-node serve did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn serve_mounts_the_proxy_only_when_asked() {
    let n = Node::start(vec![]).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let ask = |port: u16| {
        client
            .post(format!("http://127.0.0.1:{port}/rpc"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(call(1, "eth_chainId", json!([])).to_string())
            .send()
    };

    let (on, port) = serve(&n, dir.path(), Some("true")).await;
    let response = ask(port).await.expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    assert_eq!(answer["result"], format!("{:#x}", n.anvil.chain_id()));
    drop(on);

    let (_off, port) = serve(&n, dir.path(), None).await;
    assert_eq!(ask(port).await.expect("answer").status().as_u16(), 404);

    let help = Command::new(env!("CARGO_BIN_EXE_spoke-node"))
        .args(["serve", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--rpc-proxy"), "{help}");
    assert!(help.contains("SPOKE_RPC_PROXY"), "{help}");
}
