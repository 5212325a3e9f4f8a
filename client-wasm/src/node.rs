//! The node's HTTP API, typed. Every error body becomes [`Error::Node`] with the node's stable code.

use serde::{de::DeserializeOwned, Serialize};
use spoke_protocol::wire::ApiErrorBody;

use crate::{
    http::{Http, Reply},
    Error, Result,
};

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

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("{}{path}", self.base);
        answer(self.http.send(&url, self.token.as_deref(), None).await?)
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let body = serde_json::to_vec(body).map_err(|e| Error::Config(e.to_string()))?;
        answer(
            self.http
                .send(&url, self.token.as_deref(), Some(body))
                .await?,
        )
    }
}

fn answer<T: DeserializeOwned>(reply: Reply) -> Result<T> {
    if reply.is_success() {
        return serde_json::from_slice(&reply.body).map_err(|e| Error::BadAnswer(e.to_string()));
    }
    let status = reply.status;
    match serde_json::from_slice::<ApiErrorBody>(&reply.body) {
        Ok(body) => Err(Error::Node {
            status,
            code: body.code,
            message: body.message,
        }),
        Err(_) => Err(Error::Node {
            status,
            code: "HTTP".into(),
            message: String::from_utf8_lossy(&reply.body)
                .chars()
                .take(200)
                .collect(),
        }),
    }
}
