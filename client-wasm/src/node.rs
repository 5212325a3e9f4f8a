//! The node's HTTP API, typed. Every error body becomes [`Error::Node`] with the node's stable code.

use serde::Serialize;
use spoke_protocol::{
    json::{from_slice, FromJson},
    wire::ApiErrorBody,
};

use crate::{
    http::{Http, Reply},
    Error, Result,
};

/// A request the node's rate limit refused is sent this many times in all, at most...
const RATE_LIMIT_TRIES: u32 = 3;
/// ...each time after waiting what the node says, unless that is longer than this: then the caller gets the 429
/// (`Error::Node`, code `TOO_MANY_REQUESTS`) at once rather than a call that hangs.
const RATE_LIMIT_MAX_WAIT_SECONDS: u64 = 5;

/// A connection to one node: its base URL and, once logged in, the session token.
#[derive(Debug, Clone)]
pub struct NodeApi {
    http: Http,
    base: String,
    token: Option<String>,
}

impl NodeApi {
    pub fn new(base: &str) -> NodeApi {
        NodeApi {
            http: Http::default(),
            base: base.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    // `get` and `post` are thin generic shells over `exchange`, which is not generic: each answer type adds only
    // its decoding to the .wasm, not another copy of the request's state machine.
    pub async fn get<T: FromJson>(&self, path: &str) -> Result<T> {
        decode(&self.exchange(path, None).await?)
    }

    pub async fn post<B: Serialize + ?Sized, T: FromJson>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let body = serde_json::to_vec(body).map_err(|e| Error::Config(e.to_string()))?;
        decode(&self.exchange(path, Some(body)).await?)
    }

    /// One request; the body of a successful answer, or the node's error. A 429 is sent again after the wait
    /// its `Retry-After` names, when that is short: the node refused it before reading it, so nothing was done,
    /// whatever the request.
    async fn exchange(&self, path: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let url = format!("{}{path}", self.base);
        let mut tries = 0;
        loop {
            let reply = self
                .http
                .send(&url, self.token.as_deref(), body.as_deref())
                .await?;
            if reply.is_success() {
                return Ok(reply.body);
            }
            tries += 1;
            match reply.retry_after {
                Some(seconds)
                    if reply.status == 429
                        && seconds <= RATE_LIMIT_MAX_WAIT_SECONDS
                        && tries < RATE_LIMIT_TRIES =>
                {
                    crate::platform::sleep(std::time::Duration::from_secs(seconds)).await;
                }
                _ => return Err(refusal(reply)),
            }
        }
    }
}

fn decode<T: FromJson>(body: &[u8]) -> Result<T> {
    from_slice(body).map_err(|e| Error::BadAnswer(e.to_string()))
}

fn refusal(reply: Reply) -> Error {
    let status = reply.status;
    match from_slice::<ApiErrorBody>(&reply.body) {
        Ok(body) => Error::Node {
            status,
            code: body.code,
            message: body.message,
        },
        Err(_) => Error::Node {
            status,
            code: "HTTP".into(),
            message: String::from_utf8_lossy(&reply.body)
                .chars()
                .take(200)
                .collect(),
        },
    }
}
