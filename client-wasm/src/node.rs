//! The node's HTTP API, typed. Every error body becomes [`Error::Node`] with the node's stable code.

use serde::{de::DeserializeOwned, Serialize};
use spoke_protocol::wire::ApiErrorBody;

use crate::{Error, Result};

/// A connection to one node: its base URL and, once logged in, the session token.
#[derive(Debug, Clone)]
pub struct NodeApi {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl NodeApi {
    pub fn new(base: &str) -> NodeApi {
        NodeApi {
            http: reqwest::Client::new(),
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
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await).await
    }

    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await).await
    }
}

async fn answer<T: DeserializeOwned>(sent: reqwest::Result<reqwest::Response>) -> Result<T> {
    let response = sent.map_err(|e| Error::Transport(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Error::Transport(e.to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| Error::BadAnswer(e.to_string()));
    }
    match serde_json::from_slice::<ApiErrorBody>(&bytes) {
        Ok(body) => Err(Error::Node {
            status: status.as_u16(),
            code: body.code,
            message: body.message,
        }),
        Err(_) => Err(Error::Node {
            status: status.as_u16(),
            code: "HTTP".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        }),
    }
}
