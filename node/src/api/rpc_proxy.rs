//! `POST /rpc` (`--rpc-proxy`): the node's own chain RPC, for pages served by the node. The card's policy is
//! `default-src 'self'`, so it can only fetch its own origin and never reaches the chain's RPC directly.
//!
//! Only the methods a wallet needs pass: reads, and broadcasting transactions the page signed itself. The RPC
//! behind may hold unlocked keys (anvil does) and answer test methods (`anvil_*`, `evm_*`) that rewrite the
//! chain: none of that may be reachable from a browser, so everything else is answered here and never forwarded.

use std::{sync::Arc, time::Duration};

use alloy::transports::http::reqwest::{self, Url};
use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

use crate::{Error, Result};

/// What `spoke-client` (`client-wasm/src/chain/`, and `eip1193.rs` for what a dapp asks through it) and an
/// ethers.js `BrowserProvider` call. All are reads except `eth_sendRawTransaction`, which only broadcasts what
/// the caller signed with its own key.
pub const ALLOWED_METHODS: &[&str] = &[
    "eth_chainId",
    "net_version",
    "eth_blockNumber",
    "eth_getBalance",
    "eth_call",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "eth_getTransactionCount",
    "eth_getTransactionReceipt",
    "eth_getTransactionByHash",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getCode",
    "eth_getLogs",
    "eth_sendRawTransaction",
];

/// Larger than the API's 64 KiB: a raw transaction carrying contract code or an `eth_call` with a long input is
/// legitimately big.
pub const BODY_LIMIT: usize = 256 * 1024;
/// Requests in one batch; each costs the chain a call, so a batch must not be a way around rate limits upstream.
pub const MAX_BATCH: usize = 50;
/// The largest answer read from the chain (`eth_getLogs` over a wide range can be huge), held in memory whole.
const ANSWER_LIMIT: usize = 16 * 1024 * 1024;
/// Longer than any read should take; a stuck chain must not hold the page's request open forever.
const TIMEOUT: Duration = Duration::from_secs(30);

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INTERNAL_ERROR: i64 = -32603;

/// The forwarding end: one HTTP client for the chain RPC's URL.
#[derive(Clone)]
pub struct RpcProxy {
    client: reqwest::Client,
    url: Url,
}

impl std::fmt::Debug for RpcProxy {
    // The URL may hold an API key (`https://…/v3/KEY`): it is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcProxy").finish_non_exhaustive()
    }
}

impl RpcProxy {
    /// A proxy to the chain RPC at `rpc_url`. Nothing is requested until the first call.
    pub fn new(rpc_url: &str) -> Result<RpcProxy> {
        let url = Url::parse(rpc_url).map_err(|e| {
            Error::Config(format!(
                "--rpc-proxy: the chain RPC URL does not parse: {e}"
            ))
        })?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // A redirect could take the request, and what it carries, to a host the operator never named.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("--rpc-proxy: no HTTP client: {e}")))?;
        Ok(RpcProxy { client, url })
    }

    /// `POST /rpc`, to be merged into the API's router (and so behind its CORS and metrics layers).
    pub fn router(self) -> Router {
        Router::new()
            .route("/rpc", post(proxy))
            .with_state(Arc::new(self))
    }
}

/// A JSON-RPC error answer to the request with `id`.
fn rpc_error(id: Value, code: i64, message: impl Into<String>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message.into() } })
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// `POST /rpc`: one JSON-RPC request or a batch; allowed methods go to the chain, the rest are answered here.
async fn proxy(State(proxy): State<Arc<RpcProxy>>, headers: HeaderMap, body: Body) -> Response {
    // A cross-origin page may send a "simple" text/plain POST without asking first; requiring JSON makes the
    // browser ask (a CORS preflight), so the node's origin allowlist decides who may use the proxy at all.
    if !is_json(&headers) {
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            rpc_error(
                Value::Null,
                INVALID_REQUEST,
                "send the request with Content-Type: application/json",
            ),
        );
    }
    let Ok(bytes) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            rpc_error(
                Value::Null,
                INVALID_REQUEST,
                format!("the request is larger than {} KiB", BODY_LIMIT / 1024),
            ),
        );
    };
    let request: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            return answer(
                StatusCode::OK,
                rpc_error(Value::Null, PARSE_ERROR, format!("parse error: {e}")),
            )
        }
    };
    match request {
        Value::Array(batch) => proxy_batch(&proxy, batch).await,
        single => match check(&single) {
            Err(refusal) => answer(StatusCode::OK, refusal),
            Ok(()) => match proxy.forward(&single).await {
                Ok(upstream) => upstream.into_response(),
                Err(message) => answer(
                    StatusCode::OK,
                    rpc_error(id_of(&single), INTERNAL_ERROR, message),
                ),
            },
        },
    }
}

async fn proxy_batch(proxy: &RpcProxy, batch: Vec<Value>) -> Response {
    if batch.is_empty() {
        return answer(
            StatusCode::OK,
            rpc_error(Value::Null, INVALID_REQUEST, "an empty batch"),
        );
    }
    if batch.len() > MAX_BATCH {
        return answer(
            StatusCode::OK,
            rpc_error(
                Value::Null,
                INVALID_REQUEST,
                format!("a batch of {} requests: at most {MAX_BATCH}", batch.len()),
            ),
        );
    }
    let (mut forward, mut refused) = (Vec::new(), Vec::new());
    for request in batch {
        match check(&request) {
            Ok(()) => forward.push(request),
            Err(refusal) => refused.push(refusal),
        }
    }
    if forward.is_empty() {
        return answer(StatusCode::OK, Value::Array(refused));
    }
    let ids: Vec<Value> = forward.iter().map(id_of).collect();
    let failed = |message: String| -> Vec<Value> {
        ids.iter()
            .map(|id| rpc_error(id.clone(), INTERNAL_ERROR, message.clone()))
            .collect()
    };
    let upstream = match proxy.forward(&Value::Array(forward)).await {
        // Nothing to add: the chain's answer goes back byte for byte.
        Ok(upstream) if refused.is_empty() => return upstream.into_response(),
        Ok(upstream) => upstream,
        Err(message) => {
            let mut answers = failed(message);
            answers.append(&mut refused);
            return answer(StatusCode::OK, Value::Array(answers));
        }
    };
    // Batch answers are matched by id, not by position, so the refusals can simply follow the chain's answers.
    let mut answers = match serde_json::from_slice::<Value>(&upstream.body) {
        Ok(Value::Array(answers)) => answers,
        _ => failed("the chain did not answer the batch with a batch".into()),
    };
    answers.append(&mut refused);
    answer(StatusCode::OK, Value::Array(answers))
}

/// `Ok` for a request to forward, else the error object that answers it.
fn check(request: &Value) -> Result<(), Value> {
    let Value::Object(fields) = request else {
        return Err(rpc_error(
            Value::Null,
            INVALID_REQUEST,
            "a JSON-RPC request is an object (or a batch: an array of them)",
        ));
    };
    let id = id_of(request);
    let Some(method) = fields.get("method").and_then(Value::as_str) else {
        return Err(rpc_error(id, INVALID_REQUEST, "the request has no method"));
    };
    if !ALLOWED_METHODS.contains(&method) {
        return Err(rpc_error(
            id,
            METHOD_NOT_FOUND,
            format!("method {method} is not served by this node"),
        ));
    }
    Ok(())
}

fn id_of(request: &Value) -> Value {
    request.get("id").cloned().unwrap_or(Value::Null)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The chain's answer, passed on as it came.
struct Upstream {
    body: Bytes,
}

impl IntoResponse for Upstream {
    fn into_response(self) -> Response {
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body,
        )
            .into_response()
    }
}

impl RpcProxy {
    /// Sends `request` to the chain. Errors are messages for the caller: they never hold the URL, which may
    /// carry an API key.
    async fn forward(&self, request: &Value) -> Result<Upstream, String> {
        // The checked value is sent, not the bytes received: a body with the method twice could otherwise be
        // read one way here and another way by the chain's parser. Only the content type goes along; the
        // caller's headers (its bearer token to this node, its cookies) are not the chain's business.
        let sent = self
            .client
            .post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(request.to_string())
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(error = %e.without_url(), "the RPC proxy cannot reach the chain");
                return Err("the chain is unreachable".into());
            }
        };
        let status = response.status();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > ANSWER_LIMIT {
                        return Err(format!(
                            "the chain's answer is larger than {} MiB",
                            ANSWER_LIMIT / (1024 * 1024)
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e.without_url(), "the RPC proxy lost the chain's answer");
                    return Err("the chain is unreachable".into());
                }
            }
        }
        // A provider may answer a JSON-RPC error (a rate limit, say) with a 4xx status: that JSON is still the
        // answer. Anything else (a gateway's HTML page) means no answer.
        if !status.is_success() && serde_json::from_slice::<Value>(&body).is_err() {
            tracing::warn!(%status, "the chain's RPC answered without JSON");
            return Err(format!("the chain's RPC answered HTTP {}", status.as_u16()));
        }
        Ok(Upstream {
            body: Bytes::from(body),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowlisted_methods_pass() {
        let request =
            |method: &str| json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": [] });
        for method in ALLOWED_METHODS {
            assert!(check(&request(method)).is_ok(), "{method}");
        }
        for method in [
            "eth_accounts",
            "eth_sendTransaction",
            "eth_sign",
            "eth_signTypedData_v4",
            "personal_sign",
            "anvil_setBalance",
            "evm_mine",
            "debug_traceTransaction",
            "admin_peers",
            "txpool_content",
            "ETH_CHAINID",
            "eth_chainId ",
        ] {
            let refusal = check(&request(method)).expect_err(method);
            assert_eq!(
                refusal,
                json!({
                    "jsonrpc": "2.0",
                    "id": 7,
                    "error": {
                        "code": METHOD_NOT_FOUND,
                        "message": format!("method {method} is not served by this node"),
                    },
                })
            );
        }
    }

    #[test]
    fn requests_without_a_method_are_invalid() {
        for request in [
            json!(1),
            json!("eth_chainId"),
            json!({ "id": 1 }),
            json!({ "id": 1, "method": 5 }),
        ] {
            let refusal = check(&request).expect_err("invalid");
            assert_eq!(refusal["error"]["code"], INVALID_REQUEST, "{request}");
        }
    }

    #[test]
    fn the_url_is_never_printed() {
        let proxy = RpcProxy::new("https://rpc.example/v3/SECRET").expect("proxy");
        assert!(!format!("{proxy:?}").contains("SECRET"));
    }
}
