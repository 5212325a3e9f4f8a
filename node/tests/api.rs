//! The HTTP API driven in-process with `oneshot`, over a real SQLite store: bad input gets a clear 4xx and
//! changes nothing.

mod common;

use axum::{
    body::Body,
    http::{header, Request, StatusCode},
};
use common::{call, challenge, get, login, post, sign, Node};
use serde_json::json;
use spoke_node::store::{ChannelRecord, Store};
use spoke_protocol::{Address, Signer, B256};
use tower::ServiceExt;

async fn harness(cors_origins: Vec<String>) -> Node {
    Node::start(cors_origins).await
}

fn user() -> Signer {
    Signer::from_bytes(&B256::repeat_byte(0x11)).expect("key")
}

#[tokio::test]
async fn health_and_config_answer() {
    let h = harness(vec![]).await;
    let (status, body) = call(&h.router, get("/health", None)).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = call(&h.router, get("/config", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["chainId"], 31337);
    assert_eq!(body["loginDomain"], "127.0.0.1:8080");
    assert_eq!(
        body["depositConfirmations"],
        json!(h.state.collateral.confirmations)
    );
    assert_eq!(body["node"], json!(h.state.node));
    assert_eq!(body["channelManager"], json!(h.deployment.channel_manager));
}

#[tokio::test]
async fn a_signed_challenge_yields_a_session_for_that_user_only() {
    let h = harness(vec![]).await;
    let signer = user();
    let token = login(&h.router, &signer).await;
    let (status, body) = call(&h.router, get("/channel", Some(&token))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("NO_CHANNEL"))
    );

    let params = h.state.params(signer.address(), 0);
    let record = ChannelRecord {
        channel_id: params.channel_id(),
        user: signer.address(),
        epoch: 0,
    };
    h.store
        .open_channel(
            &record,
            &spoke_protocol::ChannelState::initial(params.channel_id()),
        )
        .await
        .expect("open");
    let (status, body) = call(&h.router, get("/channel", Some(&token))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["channelId"], json!(params.channel_id()));

    // Another user's session does not reach this channel.
    let other = Signer::from_bytes(&B256::repeat_byte(0x22)).expect("key");
    let other_token = login(&h.router, &other).await;
    let (status, _) = call(&h.router, get("/channel", Some(&other_token))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_login_nonce_works_once() {
    let h = harness(vec![]).await;
    let signer = user();
    let message = challenge(&h.router, signer.address()).await;
    let body = json!({ "message": message, "signature": sign(&signer, &message) });
    assert_eq!(
        call(&h.router, post("/auth/login", body.clone())).await.0,
        StatusCode::OK
    );
    let (status, reply) = call(&h.router, post("/auth/login", body)).await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED"))
    );
}

#[tokio::test]
async fn logins_signed_by_someone_else_or_for_another_node_are_refused() {
    let h = harness(vec![]).await;
    let signer = user();
    let message = challenge(&h.router, signer.address()).await;
    let stranger = Signer::from_bytes(&B256::repeat_byte(0x33)).expect("key");
    let (status, body) = call(
        &h.router,
        post(
            "/auth/login",
            json!({ "message": message, "signature": sign(&stranger, &message) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let elsewhere = message.replacen("127.0.0.1:8080 wants", "evil.example wants", 1);
    let (status, body) = call(
        &h.router,
        post(
            "/auth/login",
            json!({ "message": elsewhere, "signature": sign(&signer, &elsewhere) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("evil.example"),
        "{body}"
    );
    // The refused attempts did not use the nonce up.
    let (status, _) = call(
        &h.router,
        post(
            "/auth/login",
            json!({ "message": message, "signature": sign(&signer, &message) }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn requests_without_a_valid_session_are_refused() {
    let h = harness(vec![]).await;
    assert_eq!(
        call(&h.router, get("/channel", None)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&h.router, get("/channel", Some("not-a-token")))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn malformed_bodies_get_a_400_that_says_why_and_huge_ones_a_413() {
    let h = harness(vec![]).await;
    let bad_json = Request::post("/auth/challenge")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"address\":"))
        .expect("request");
    let (status, body) = call(&h.router, bad_json).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("BAD_REQUEST"))
    );
    let (status, body) = call(
        &h.router,
        post("/auth/challenge", json!({ "address": "0xabc" })),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = call(
        &h.router,
        post(
            "/auth/challenge",
            json!({ "address": Address::ZERO, "extra": 1 }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().expect("message").contains("extra"),
        "{body}"
    );
    let (status, body) = call(
        &h.router,
        post(
            "/auth/login",
            json!({ "message": "x", "signature": "0x1234" }),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let huge = json!({ "address": "0x".to_string() + &"0".repeat(100_000) });
    let (status, body) = call(&h.router, post("/auth/challenge", huge)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("BODY_TOO_LARGE"))
    );
}

#[tokio::test]
async fn cors_answers_only_the_allowlisted_origin() {
    let h = harness(vec!["http://card.example".into()]).await;
    let preflight = |origin: &str| {
        Request::options("/config")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .expect("request")
    };
    let allowed = h
        .router
        .clone()
        .oneshot(preflight("http://card.example"))
        .await
        .expect("response");
    assert_eq!(
        allowed
            .headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.to_str().expect("ascii")),
        Some("http://card.example")
    );
    // Sessions are bearer tokens the page sends itself, never cookies: no credentials mode for any origin.
    assert!(allowed
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        .is_none());
    let refused = h
        .router
        .clone()
        .oneshot(preflight("http://evil.example"))
        .await
        .expect("response");
    assert!(refused
        .headers()
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .is_none());
}
