//! The operator's admin API and `/metrics`, driven in-process with `oneshot` over a real SQLite store and a real
//! anvil chain: only the admin token opens them, and each answers with what the store and the chain hold.

mod common;

use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

use alloy::providers::Provider;
use axum::{
    body::Body,
    http::{header, Request, StatusCode},
    Router,
};
use clap::Parser;
use common::{call, get, login, post_as, Node};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use spoke_contracts::bindings::ChannelManager;
use spoke_node::{
    api::{admin::AdminToken, app, AppState},
    config::Config,
    store::{
        CollateralDeposit, CollateralStatus, Payment, PaymentStatus, Store, StoredUpdate, Write,
    },
};
use spoke_protocol::{
    apply, propose, sha256, state_digest, Address, ChannelParams, Context, Side, Update, B256, U256,
};
use tower::ServiceExt;

const TOKEN: &str = "an-admin-token-of-the-operator-0123456789";

const ENDPOINTS: [&str; 7] = [
    "/admin/channels",
    "/admin/disputes",
    "/admin/collateral",
    "/admin/wallet",
    "/admin/payments",
    "/admin/summary",
    "/metrics",
];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn eth(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

/// The node's router with `change` applied to its state.
fn router_with(n: &Node, change: impl FnOnce(&mut AppState)) -> Router {
    let mut state = n.state.clone();
    change(&mut state);
    app(state).expect("router")
}

fn admin_router(n: &Node) -> Router {
    router_with(n, |s| {
        s.admin_token = Some(TOKEN.parse().expect("a token"));
    })
}

/// A GET's status, content type and body text.
async fn fetch(router: &Router, path: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let response = router
        .clone()
        .oneshot(get(path, token))
        .await
        .expect("response");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8(bytes.to_vec()).expect("utf-8"),
    )
}

async fn admin_get(router: &Router, path: &str) -> Value {
    let (status, body) = call(router, get(path, Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the OpenMetrics text format strictly: every line is a `# HELP`, `# TYPE` or `# UNIT` of a family, a
/// sample of a declared family, or the final `# EOF`.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let valid_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()))
    };
    let mut families: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "the text ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name, rest) = (parts.next(), parts.next(), parts.next());
            let name = name.expect("a family name");
            assert!(valid_name(name), "{line}");
            match kind {
                Some("TYPE") => {
                    let kind = rest.expect("a type");
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "info",
                            "stateset",
                            "unknown"
                        ]
                        .contains(&kind),
                        "{line}"
                    );
                    families.insert(name.to_string(), kind.to_string());
                }
                Some("HELP" | "UNIT") => {}
                _ => panic!("unexpected comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().expect("a numeric value");
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("closed labels");
                let labels = labels
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("key=value");
                        assert!(valid_name(k), "{line}");
                        let v = v
                            .strip_prefix('"')
                            .and_then(|v| v.strip_suffix('"'))
                            .expect("a quoted value");
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                (name, labels)
            }
            None => (series, BTreeMap::new()),
        };
        assert!(valid_name(name), "{line}");
        let family = families
            .iter()
            .filter(|(family, _)| name.starts_with(family.as_str()))
            .max_by_key(|(family, _)| family.len())
            .unwrap_or_else(|| panic!("sample {name} of no declared family"));
        let suffixes: &[&str] = match family.1.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            _ => &[""],
        };
        assert!(
            suffixes.iter().any(|s| name == format!("{}{s}", family.0)),
            "{name} does not fit its family {family:?}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    samples
}

fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_is_off() {
    let n = Node::start(vec![]).await;
    for path in ENDPOINTS {
        let (status, body) = call(&n.router, get(path, Some(TOKEN))).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, Some("ADMIN_DISABLED")),
            "{path}: {body}"
        );
    }

    // `--metrics-public` opens `/metrics` alone.
    let public = router_with(&n, |s| s.metrics_public = true);
    let (status, content_type, text) = fetch(&public, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    parse_metrics(&text);
    let (status, body) = call(&public, get("/admin/summary", None)).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, Some("ADMIN_DISABLED"))
    );
}

#[tokio::test]
async fn only_the_admin_token_opens_the_admin_api() {
    let n = Node::start(vec![]).await;
    let router = admin_router(&n);
    let (user, _) = n.account(1);
    let session = login(&router, &user).await;
    let basic = Request::get("/admin/summary")
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let (status, body) = call(&router, basic).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
    for path in ENDPOINTS {
        for token in [
            None,
            Some("not-the-admin-token-at-all-0123456789"),
            Some(&TOKEN[..TOKEN.len() - 1]),
            Some(session.as_str()),
        ] {
            let (status, body) = call(&router, get(path, token)).await;
            assert_eq!(
                (status, code(&body)),
                (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED")),
                "{path} with {token:?}: {body}"
            );
            assert!(!body.to_string().contains(TOKEN), "{body}");
        }
    }
    // The same user session still reaches the user's API; the admin token does not.
    let (status, body) = call(&router, get("/payments", Some(&session))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(&router, get("/payments", Some(TOKEN))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(&router, get("/admin/summary", Some(TOKEN))).await.0,
        StatusCode::OK
    );
}

#[test]
fn the_admin_token_is_a_flag_that_never_prints() {
    let args = |token: &str| {
        Config::try_parse_from([
            "spoke-node",
            "--chain-id",
            "31337",
            "--channel-manager",
            "0x00000000000000000000000000000000000000cc",
            "--admin-token",
            token,
            "--metrics-public",
        ])
    };
    let config = args(TOKEN).expect("a valid configuration");
    assert!(config.metrics_public);
    assert!(config.admin_token.is_some());
    assert!(!format!("{config:?}").contains(TOKEN));
    let short = args("short-token-123").expect_err("a short token is refused");
    assert!(short.to_string().contains("at least 16"), "{short}");
    assert!(!short.to_string().contains("short-token"), "{short}");
    assert!("0123456789abcdef".parse::<AdminToken>().is_ok());
}

/// A user (anvil account `index`) who deposited `amount` ETH, set the channel up and had the deposit counted.
async fn open_with_counted_deposit(n: &Node, index: usize, amount: U256) -> ChannelParams {
    let (user, provider) = n.account(index);
    let manager = ChannelManager::new(n.deployment.channel_manager, provider);
    assert!(manager
        .deposit(user.address(), n.state.node, Address::ZERO, 0, amount)
        .value(amount)
        .send()
        .await
        .expect("sent")
        .get_receipt()
        .await
        .expect("receipt")
        .status());
    let token = login(&n.router, &user).await;
    let (status, body) = call(&n.router, post_as("/channel/setup", json!({}), &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let params: ChannelParams = serde_json::from_value(body["params"].clone()).expect("params");
    let ctx = Context {
        now: now(),
        proposer: Side::User,
        params: &params,
        proposer_key: None,
    };
    let count = Update::CountDeposit {
        asset: Address::ZERO,
        side: Side::User,
        amount,
    };
    let (_, proposal) = propose(
        &spoke_protocol::ChannelState::initial(params.channel_id()),
        count,
        &ctx,
        &user,
    )
    .expect("propose");
    let (status, body) = call(
        &n.router,
        post_as("/channel/propose", json!({ "proposal": proposal }), &token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    params
}

/// A node proposal the user has not countersigned: the node counts `amount` of its own ETH.
async fn node_proposal(n: &Node, params: &ChannelParams, amount: U256) {
    let id = params.channel_id();
    let latest = n.store.latest(id).await.expect("latest").expect("a state");
    let update = Update::CountDeposit {
        asset: Address::ZERO,
        side: Side::Node,
        amount,
    };
    let ctx = Context {
        now: now(),
        proposer: Side::Node,
        params,
        proposer_key: None,
    };
    let state = apply(&latest.state, &update, &ctx).expect("a valid update");
    let signature = n
        .state
        .signer
        .sign_digest(&state_digest(&params.domain(), &state))
        .expect("sign");
    n.store
        .append(&StoredUpdate {
            channel_id: id,
            nonce: state.nonce,
            update: Some(update),
            state,
            user_signature: None,
            node_signature: Some(signature),
            commitment_signatures: None,
        })
        .await
        .expect("append");
}

fn payment(params: &ChannelParams, seed: u8, status: PaymentStatus, created_at: u64) -> Payment {
    let lock_id = B256::repeat_byte(seed);
    Payment {
        id: Payment::id_for(params.channel_id(), lock_id),
        payer: params.user,
        payee: Some(Address::repeat_byte(0x7e)),
        link_address: None,
        asset: Address::ZERO,
        amount: U256::from(1_000 * u64::from(seed)),
        hashlock: sha256(B256::repeat_byte(!seed)),
        payer_channel: params.channel_id(),
        payer_lock_id: lock_id,
        payer_expiry: created_at + 7_200,
        payee_channel: Some(B256::repeat_byte(0x7e)),
        payee_expiry: created_at + 3_600,
        encrypted_preimage: None,
        preimage: None,
        revealed: false,
        status,
        created_at,
        updated_at: created_at,
    }
}

#[tokio::test]
async fn each_endpoint_reports_what_the_store_and_the_chain_hold() {
    let n = Node::start(vec![]).await;
    let router = admin_router(&n);
    let params = open_with_counted_deposit(&n, 1, eth(1)).await;
    let id = params.channel_id();
    let user = params.user;

    // Channels: the counted deposit, then a node proposal waiting for the user.
    let channels = admin_get(&router, "/admin/channels").await;
    assert_eq!(
        channels,
        json!([{
            "channelId": id,
            "user": user,
            "epoch": 0,
            "latestNonce": 1,
            "balances": [{
                "asset": Address::ZERO,
                "balanceUser": eth(1),
                "balanceNode": U256::ZERO,
                "lockedUser": U256::ZERO,
                "lockedNode": U256::ZERO,
            }],
            "locks": 0,
            "awaitingUser": false,
        }])
    );
    node_proposal(&n, &params, U256::from(500)).await;
    let channels = admin_get(&router, "/admin/channels?offset=0&limit=10").await;
    assert_eq!(channels[0]["latestNonce"], 2);
    assert_eq!(channels[0]["awaitingUser"], true);
    assert_eq!(
        channels[0]["balances"][0]["balanceNode"],
        json!(U256::from(500))
    );
    assert_eq!(
        admin_get(&router, "/admin/channels?offset=1").await,
        json!([])
    );
    for bad in ["/admin/channels?limit=many", "/admin/channels?user=1"] {
        let (status, body) = call(&router, get(bad, Some(TOKEN))).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, Some("BAD_REQUEST")),
            "{bad}: {body}"
        );
    }

    // Collateral: one deposit in flight, and what the node holds in the channel.
    let deposit = CollateralDeposit {
        channel_id: id,
        asset: n.deployment.dai,
        amount: U256::from(10),
        tx_hash: Some(B256::repeat_byte(0x0d)),
        status: CollateralStatus::Sent,
        created_at: now(),
    };
    assert!(n.store.begin_collateral(&deposit).await.expect("begin"));
    assert_eq!(
        admin_get(&router, "/admin/collateral").await,
        json!({
            "inFlight": [{
                "channelId": id,
                "asset": n.deployment.dai,
                "amount": U256::from(10),
                "txHash": B256::repeat_byte(0x0d),
                "status": "sent",
                "createdAt": deposit.created_at,
            }],
            "held": [{
                "asset": Address::ZERO,
                "balance": U256::from(500),
                "locked": U256::ZERO,
                "channels": 1,
            }],
        })
    );

    // Wallet: the node's address and its balances as the chain reports them.
    let (_, provider) = n.account(0);
    let wallet = admin_get(&router, "/admin/wallet").await;
    assert_eq!(wallet["address"], json!(n.state.node));
    let balances = wallet["balances"].as_array().expect("balances");
    assert_eq!(balances.len(), 2, "{wallet}");
    assert_eq!(balances[0]["asset"], json!(Address::ZERO));
    assert_eq!(
        balances[0]["balance"],
        json!(provider
            .get_balance(n.state.node)
            .await
            .expect("the chain answers"))
    );
    assert_eq!(balances[1]["asset"], json!(n.deployment.dai));
    assert!(balances[1]["balance"].is_string(), "{wallet}");

    // Payments: newest first, limited, as users see their records.
    let older = payment(&params, 1, PaymentStatus::Completed, now() - 10);
    let newer = payment(&params, 2, PaymentStatus::Accepted, now());
    n.store
        .write(&[Write::Payment(&older), Write::Payment(&newer)])
        .await
        .expect("payments");
    let payments = admin_get(&router, "/admin/payments").await;
    assert_eq!(
        payments,
        json!([
            serde_json::to_value(newer.record()).expect("json"),
            serde_json::to_value(older.record()).expect("json"),
        ])
    );
    let mut keys: Vec<_> = payments[0]
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "amount",
            "asset",
            "createdAt",
            "hashlock",
            "id",
            "payee",
            "payer",
            "status",
            "updatedAt"
        ]
    );
    let one = admin_get(&router, "/admin/payments?limit=1").await;
    assert_eq!(one.as_array().map(Vec::len), Some(1));
    assert_eq!(one[0]["id"], json!(newer.id));

    // Summary: counts, with the user online.
    let _connection = n.state.hub.subscribe(user);
    assert_eq!(
        admin_get(&router, "/admin/summary").await,
        json!({
            "channels": 1,
            "payments": {
                "accepted": 1,
                "completed": 1,
                "failed": 0,
                "forwarded": 0,
                "refunding": 0,
                "resolved": 0,
            },
            "onlineUsers": 1,
            "collateralInFlight": 1,
        })
    );

    // Metrics: the same counts, and the requests above by route template.
    let (status, _, _) = fetch(&router, "/nowhere/0xabc", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, content_type, text) = fetch(&router, "/metrics", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let samples = parse_metrics(&text);
    let metric = |name: &str, labels: &[(&str, &str)]| {
        value_of(&samples, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} in\n{text}"))
    };
    assert_eq!(metric("spoke_channels", &[]), 1.0);
    assert_eq!(metric("spoke_online_users", &[]), 1.0);
    assert_eq!(metric("spoke_collateral_in_flight", &[]), 1.0);
    assert_eq!(metric("spoke_payments", &[("status", "accepted")]), 1.0);
    assert_eq!(metric("spoke_payments", &[("status", "completed")]), 1.0);
    assert_eq!(metric("spoke_payments", &[("status", "failed")]), 0.0);
    // The store's commits as the store counts them; the two payments above were one batch of one transaction.
    let counts = n.store.write_counts();
    assert!(
        counts.batches >= 1 && counts.transactions >= 1,
        "{counts:?}"
    );
    assert_eq!(
        metric("spoke_store_batches_total", &[]),
        counts.batches as f64
    );
    assert_eq!(
        metric("spoke_store_transactions_total", &[]),
        counts.transactions as f64
    );
    assert_eq!(
        metric(
            "spoke_http_requests_total",
            &[("route", "/admin/summary"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            "spoke_http_requests_total",
            &[("route", "/admin/channels"), ("status", "400")]
        ),
        2.0
    );
    assert_eq!(
        metric(
            "spoke_http_requests_total",
            &[("route", "/channel/propose"), ("status", "200")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            "spoke_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    assert!(
        metric(
            "spoke_http_request_duration_seconds_count",
            &[("route", "/admin/channels")]
        ) >= 5.0
    );
    assert!(
        metric(
            "spoke_http_request_duration_seconds_bucket",
            &[("route", "/admin/summary"), ("le", "+Inf")]
        ) >= 1.0
    );
    // No address, id or token is a label.
    let lower = text.to_lowercase();
    for secret in [
        format!("{user:#x}"),
        format!("{id:#x}"),
        "0xabc".to_string(),
        TOKEN.to_string(),
    ] {
        assert!(!lower.contains(&secret), "{secret} in\n{text}");
    }

    // A scrape is counted too.
    let (_, _, text) = fetch(&router, "/metrics", Some(TOKEN)).await;
    let samples = parse_metrics(&text);
    assert_eq!(
        value_of(
            &samples,
            "spoke_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        Some(1.0)
    );
}
